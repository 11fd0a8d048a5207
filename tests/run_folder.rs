//! The run folder is recours' and one process's at a time: a run refuses a folder it did
//! not make and touches nothing in it, a second run or validate exits at once, an input
//! edited in place is seen whatever its size and times, a required table cut short stops
//! the run, a failed validation leaves no earlier result, and `verify` works on a run
//! folder moved elsewhere, names a file added to it and writes nothing into it.

use std::path::{Path, PathBuf};

use crate::common::*;

const USAGE: i32 = 2;
const DATA_REJECTED: i32 = 3;
const VERIFY_MISMATCH: i32 = 6;
const BUSY: i32 = 75;

/// Every file under `dir`, hidden ones included, with its BLAKE3.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let hash = blake3::hash(&std::fs::read(&p).unwrap())
                    .to_hex()
                    .to_string();
                out.push((rel, hash));
            }
        }
    }
    out.sort();
    out
}

/// A copy of the bundled sample's extracts in `dir/data`, and its configuration reading
/// them (absolute paths), the run folder `dir/run`.
fn sample_copy(dir: &Path) -> (PathBuf, String) {
    let data = dir.join("data");
    copy_dir(&repo().join("data-samples"), &data);
    let samples = format!("{}/", repo().join("data-samples").display());
    let config = sample_config_absolute(None).replace(&samples, &format!("{}/", data.display()));
    (data, config)
}

fn with_output(config: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    let file = dir.join("config.toml");
    std::fs::write(&file, config).unwrap();
    let mut all = vec!["--config", file.to_str().unwrap()];
    all.extend_from_slice(args);
    recours(&all)
}

#[test]
fn a_run_refuses_a_folder_it_did_not_make_and_removes_nothing_there() {
    let dir = scratch("run_folder_foreign");
    // A folder with the names a run writes, as a copy of the repository has them.
    let foreign = dir.join("repo-copy");
    for (file, text) in [
        ("models/README.md", "modèles"),
        ("notebooks-export/README.md", "carnets"),
        ("lists/notes.csv", "a;b"),
        ("README.md", "projet"),
    ] {
        std::fs::create_dir_all(foreign.join(file).parent().unwrap()).unwrap();
        std::fs::write(foreign.join(file), text).unwrap();
    }
    let before = all_files(&foreign);
    for args in [vec!["run", "--to", "ingest"], vec!["run"], vec!["validate"]] {
        let mut all = vec!["--output", foreign.to_str().unwrap()];
        all.extend_from_slice(&args);
        let o = recours(&all);
        assert_eq!(code(&o), USAGE, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("not made by recours")
                && stderr(&o).contains("Nothing was written"),
            "{}",
            stderr(&o)
        );
        assert_eq!(all_files(&foreign), before, "{args:?} touched the folder");
    }
    // `--output .` in a copy of the repository: refused the same way.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recours"))
        .args([
            "--config",
            repo().join("config/sample.toml").to_str().unwrap(),
        ])
        .args(["--output", ".", "run", "--to", "ingest"])
        .current_dir(&foreign)
        .output()
        .unwrap();
    assert_eq!(code(&o), USAGE, "{}", stderr(&o));
    assert_eq!(all_files(&foreign), before);

    // An empty folder is taken and marked; a place that cannot be a folder is a clear
    // error, not an internal one.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = recours(&["--output", empty.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(empty.join(".recours-run").is_file());
    let under_file = foreign.join("README.md").join("run");
    let o = recours(&["--output", under_file.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), USAGE, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be written"), "{}", stderr(&o));
    assert_eq!(all_files(&foreign), before);
}

#[test]
fn a_second_run_validate_or_verify_on_a_locked_folder_exits_at_once() {
    let dir = scratch("run_folder_lock");
    let run = dir.join("run");
    let o = recours(&["--output", run.to_str().unwrap(), "run", "--to", "ingest"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = all_files(&run);
    // The lock a running `recours run` holds.
    let held = std::fs::File::open(run.join(".recours-run")).unwrap();
    held.try_lock().unwrap();
    for args in [vec!["run"], vec!["validate"], vec!["run", "--to", "ingest"]] {
        let mut all = vec!["--output", run.to_str().unwrap()];
        all.extend_from_slice(&args);
        let t = std::time::Instant::now();
        let o = recours(&all);
        assert_eq!(code(&o), BUSY, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("in use by another recours"),
            "{}",
            stderr(&o)
        );
        assert!(t.elapsed().as_secs() < 20, "{args:?} waited for the lock");
    }
    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(code(&o), BUSY, "{}", stderr(&o));
    assert_eq!(
        all_files(&run),
        before,
        "a refused command changed the run folder"
    );
    held.unlock().unwrap();
    let o = recours(&["--output", run.to_str().unwrap(), "run", "--to", "ingest"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The plan line of `stage` in a run's stderr: "run" or "keep".
fn planned(stderr: &str, stage: &str) -> String {
    stderr
        .lines()
        .skip_while(|l| *l != "plan:")
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(stage)).then(|| w.next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| panic!("no plan line for {stage}: {stderr}"))
}

#[test]
fn an_input_edited_in_place_with_the_same_size_and_mtime_reruns_the_ingest() {
    let dir = scratch("run_folder_edit");
    let (data, config) = sample_copy(&dir);
    // Old enough for its hash to be cached.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let out = dir.join("run");
    let args = ["--output", out.to_str().unwrap(), "run", "--to", "ingest"];
    let o = with_output(&config, &dir, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dry = [
        "--output",
        out.to_str().unwrap(),
        "run",
        "--to",
        "ingest",
        "--dry-run",
    ];
    let o = with_output(&config, &dir, &dry);
    assert_eq!(planned(&stderr(&o), "ingest"), "keep", "{}", stderr(&o));

    // Two rows swapped: same bytes counted, same modification time put back.
    let contacts = data.join("csv/contacts.csv");
    let mtime = std::fs::metadata(&contacts).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&contacts).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let (a, b) = (1, lines.len() - 1);
    assert_ne!(lines[a], lines[b]);
    lines.swap(a, b);
    let edited = lines.join("\n") + "\n";
    assert_eq!(edited.len(), text.len());
    std::fs::write(&contacts, &edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&contacts)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&contacts).unwrap().modified().unwrap(),
        mtime
    );
    let o = with_output(&config, &dir, &dry);
    assert_eq!(planned(&stderr(&o), "ingest"), "run", "{}", stderr(&o));
}

#[test]
fn a_required_table_cut_short_stops_the_run_and_a_failed_validate_leaves_no_earlier_result() {
    use polars::prelude::*;
    let dir = scratch("run_folder_drop");
    let (data, config) = sample_copy(&dir);
    let out = dir.join("run");
    let o = with_output(
        &config,
        &dir,
        &["--output", out.to_str().unwrap(), "run", "--to", "ingest"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let kept_before = quality(&out)["tables"]["droits"]["rows_kept"]
        .as_u64()
        .unwrap();

    // A delivery with 30 % of the rights missing.
    let droits = data.join("droits.parquet");
    let df = read_parquet(&droits);
    let mut part = df.head(Some(df.height() * 7 / 10));
    ParquetWriter::new(&mut std::fs::File::create(&droits).unwrap())
        .finish(&mut part)
        .unwrap();
    for args in [
        ["run", "--to", "ingest"].as_slice(),
        &["validate"],
        &["run"],
    ] {
        let mut all = vec!["--output", out.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = with_output(&config, &dir, &all);
        assert_eq!(code(&o), DATA_REJECTED, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("table droits") && stderr(&o).contains("max_row_drop_share"),
            "{}",
            stderr(&o)
        );
        let q = quality(&out);
        assert_eq!(q["passed"], false);
        assert_eq!(q["row_drops"][0]["table"], "droits");
        assert_eq!(q["row_drops"][0]["previous_rows_kept"], kept_before);
        // Neither an earlier `ingest/` nor any later output is left beside the report.
        assert!(!out.join("ingest").exists(), "{args:?} left ingest/");
    }
    // A drop within the setting passes, and becomes the next run's reference.
    let allowed = config.replace("max_row_drop_share = 0.2", "max_row_drop_share = 0.5");
    assert_ne!(allowed, config);
    let o = with_output(
        &allowed,
        &dir,
        &["--output", out.to_str().unwrap(), "run", "--to", "ingest"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = with_output(
        &config,
        &dir,
        &["--output", out.to_str().unwrap(), "validate"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The setting is range-checked.
    let bad = config.replace("max_row_drop_share = 0.2", "max_row_drop_share = 1.5");
    assert_ne!(bad, config);
    let o = with_output(&bad, &dir, &["--output", out.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), USAGE, "{}", stderr(&o));
    assert!(stderr(&o).contains("max_row_drop_share"), "{}", stderr(&o));
}

#[test]
fn verify_works_on_a_run_folder_moved_elsewhere_names_an_added_file_and_writes_nothing_there() {
    let dir = scratch("run_folder_moved");
    // The repository's layout: config/ beside data-samples/, the run in runs/sample.
    let made = dir.join("made");
    for f in [
        "sample.toml",
        "departements.csv",
        "caisses.csv",
        "baremes.toml",
    ] {
        std::fs::create_dir_all(made.join("config")).unwrap();
        std::fs::copy(repo().join("config").join(f), made.join("config").join(f)).unwrap();
    }
    copy_dir(&repo().join("data-samples"), &made.join("data-samples"));
    let config = made.join("config/sample.toml");
    let o = recours(&["--config", config.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(made.join("runs/sample/manifest.json")).unwrap(),
    )
    .unwrap();
    // Inputs and reference files named relative to the configuration's folder.
    for input in manifest["inputs"].as_array().unwrap() {
        for f in input["files"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            assert!(path.starts_with("../data-samples/"), "{path}");
        }
    }
    assert_eq!(manifest["reference"][0]["path"], "departements.csv");

    // Everything moved to another place, as an auditor receives it.
    let moved = dir.join("received");
    std::fs::rename(&made, &moved).unwrap();
    let run = moved.join("runs/sample");
    let before = all_files(&run);
    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(code(&o), USAGE, "{}", stderr(&o));
    assert!(stderr(&o).contains("--config"), "{}", stderr(&o));
    let config = moved.join("config/sample.toml");
    let o = recours(&[
        "--config",
        config.to_str().unwrap(),
        "verify",
        run.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 0, "{stdout}\n{}", stderr(&o));
    assert!(!stdout.contains("match "), "every match printed: {stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("replay")), "{stdout}");

    // The extracts handed over in a folder of their own.
    let extracts = dir.join("extraits");
    std::fs::rename(moved.join("data-samples"), &extracts).unwrap();
    let verify_received = || {
        recours(&[
            "--config",
            config.to_str().unwrap(),
            "verify",
            run.to_str().unwrap(),
            "--inputs",
            extracts.to_str().unwrap(),
        ])
    };
    let o = verify_received();
    assert_eq!(
        code(&o),
        0,
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert_eq!(all_files(&run), before, "verify wrote into the run folder");

    // A file added to a caisse's list folder is a difference.
    let added = run.join("lists/CAF33/contacts-corrige.csv");
    std::fs::create_dir_all(added.parent().unwrap()).unwrap();
    std::fs::write(&added, "pseudo_id;canal\n").unwrap();
    let o = verify_received();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), VERIFY_MISMATCH, "{stdout}\n{}", stderr(&o));
    assert!(
        stdout.contains("EXTRA     file lists/CAF33/contacts-corrige.csv"),
        "{stdout}"
    );
    assert!(!run.join(".verify").exists());
}

#[test]
fn a_rerun_removes_only_the_files_its_manifest_lists() {
    let dir = scratch("run_folder_user_files");
    let run = dir.join("run");
    copy_dir(sample_run(), &run);
    // Files a caisse or an analyst put into the run folder, beside recours' outputs.
    let theirs = [
        ("lists/CAF33/notes.txt", "à rappeler lundi"),
        ("lists/mes-notes.csv", "a;b"),
        ("report/commentaire.md", "vu"),
    ];
    for (file, text) in theirs {
        std::fs::write(run.join(file), text).unwrap();
    }
    // The lists, evaluation and report rerun with another minimum score.
    let config = sample_config_absolute(None).replace("min_score = 0.2", "min_score = 0.25");
    let o = with_output(&config, &dir, &["--output", run.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(planned(&stderr(&o), "lists"), "run", "{}", stderr(&o));
    for (file, text) in theirs {
        assert_eq!(
            std::fs::read_to_string(run.join(file)).ok().as_deref(),
            Some(text),
            "{file} was removed or changed"
        );
    }
    // Everything else under lists/ is this run's, as its manifest lists it.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let mut recorded: Vec<String> = manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["outputs"].as_array().unwrap().iter())
        .map(|o| o["path"].as_str().unwrap().to_string())
        .filter(|p| p.starts_with("lists/"))
        .collect();
    recorded.extend(["lists/CAF33/notes.txt".into(), "lists/mes-notes.csv".into()]);
    recorded.sort();
    let mut present: Vec<String> = all_files(&run.join("lists"))
        .into_iter()
        .map(|(p, _)| format!("lists/{p}"))
        .collect();
    present.sort();
    assert_eq!(
        present, recorded,
        "a file of the earlier lists was left behind"
    );
}

#[test]
fn a_validated_folder_loses_only_the_files_validate_wrote() {
    let dir = scratch("run_folder_validated");
    let run = dir.join("run");
    let o = recours(&["--output", run.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!run.join("manifest.json").exists());
    let theirs = [
        ("ingest/mes-notes.txt", "à revoir"),
        ("rejects/a-corriger.csv", "a;b"),
    ];
    for (file, text) in theirs {
        std::fs::write(run.join(file), text).unwrap();
    }
    let validated = all_files(&run.join("ingest"));
    // A second validation, then a run: each replaces validate's files, and only those.
    for args in [vec!["validate"], vec!["run", "--to", "ingest"]] {
        let mut all = vec!["--output", run.to_str().unwrap()];
        all.extend(args.iter().copied());
        let o = recours(&all);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        for (file, text) in theirs {
            assert_eq!(
                std::fs::read_to_string(run.join(file)).ok().as_deref(),
                Some(text),
                "{args:?} removed {file}"
            );
        }
        assert_eq!(all_files(&run.join("ingest")), validated, "{args:?}");
    }
    // The run's manifest lists the ingest's files; recours' record of what it wrote
    // beyond the manifest is empty again.
    assert!(!run.join(".recours-written.json").exists());
}

/// A folder outside the target directory, whose parents may be closed to other users (CI
/// builds under `/root/.cache`): a copy of the binary, the sample's configuration and data.
/// The configuration's paths are relative, so they hold in the copy.
fn reader_world(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recours-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    copy_dir(&repo().join("config"), &dir.join("config"));
    copy_dir(&repo().join("data-samples"), &dir.join("data-samples"));
    std::fs::copy(env!("CARGO_BIN_EXE_recours"), dir.join("recours")).unwrap();
    dir
}

/// `recours` (the copy in `dir`, run from `dir`) as a user who may not write `dir`: the
/// current user when it is not root (`dir` made read-only), `nobody` through `setpriv`
/// otherwise (root writes anywhere).
fn as_reader(dir: &Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt;
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let binary = dir.join("recours");
    // Folders readable by all, writable by their owner only when root runs the test.
    let set_modes = |folder_mode: u32| {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(folder_mode)).unwrap();
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else if root {
                    let mode = if e.path() == binary { 0o755 } else { 0o644 };
                    std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode))
                        .unwrap();
                }
            }
        }
    };
    set_modes(if root { 0o755 } else { 0o555 });
    let command = |args: &[&str]| {
        let mut c = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&binary);
            c
        } else {
            std::process::Command::new(&binary)
        };
        c.args(args)
            .current_dir(dir)
            .output()
            .expect("recours runs")
    };
    // The test's premise: the other user reaches the folder (every parent of the temporary
    // folder must let it through).
    let reach = command(&["--version"]);
    let o = command(args);
    // Writable again, for the next run of the tests to clear it.
    set_modes(0o755);
    assert!(
        reach.status.success(),
        "{} cannot be reached by the reading user: {}",
        dir.display(),
        stderr(&reach)
    );
    o
}

#[test]
fn a_read_only_run_folder_is_a_clear_error_and_verify_reads_it() {
    let dir = reader_world("read-only");
    let run = dir.join("run");
    copy_dir(sample_run(), &run);
    let before = all_files(&run);
    // Up to date, stale (another minimum score) or validated: refused before anything.
    std::fs::write(
        dir.join("config/stale.toml"),
        std::fs::read_to_string(dir.join("config/sample.toml"))
            .unwrap()
            .replace("min_score = 0.2", "min_score = 0.3"),
    )
    .unwrap();
    for args in [
        vec!["--output", "run", "run"],
        vec!["--config", "config/stale.toml", "--output", "run", "run"],
        vec!["--output", "run", "validate"],
    ] {
        let o = as_reader(&dir, &args);
        assert_eq!(code(&o), USAGE, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("cannot be written"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = as_reader(&dir, &["verify", "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(all_files(&run), before, "the read-only folder changed");
    std::fs::remove_dir_all(&dir).unwrap();
}
