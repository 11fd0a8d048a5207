//! Resuming and partial reruns: a run stopped in any stage (a failpoint set by environment
//! variable) leaves no output of that stage under a final name and resumes to the same
//! hashes; a changed barème reruns eligibility and what follows, never ingest.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Stages in order, with the outputs each writes in the run folder (ARCHITECTURE.md).
const STAGES: [(&str, &[&str]); 8] = [
    ("ingest", &["quality.json", "rejects", "ingest"]),
    ("eligibility", &["eligibility.parquet"]),
    ("features", &["features.parquet", "features-selection.json"]),
    ("train", &["models"]),
    ("score", &["scores.parquet"]),
    ("lists", &["lists"]),
    ("evaluate", &["evaluation.json", "fairness.json"]),
    ("report", &["report", "notebooks-export"]),
];

fn run_with_failpoint(run: &Path, stage: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recours"))
        .args(["--output", run.to_str().unwrap(), "run"])
        .env("RECOURS_FAILPOINT", stage)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap()
}

fn stage_status(run: &Path, stage: &str) -> String {
    manifest(run)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stage)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap()
}

/// Plan lines printed by `recours run`: stage → "run", "keep" or "skip".
fn plan(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .skip_while(|l| *l != "plan:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_string(), w.next().unwrap().to_string())
        })
        .collect()
}

fn visible_files(dir: &Path) -> Vec<String> {
    hash_tree(dir).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn a_run_stopped_in_any_stage_leaves_no_partial_output_and_resumes_to_the_same_hashes() {
    let run = scratch("resume").join("run");
    for (i, (stage, outputs)) in STAGES.iter().enumerate() {
        let o = run_with_failpoint(&run, stage);
        assert!(
            !o.status.success(),
            "the failpoint in {stage} stops the run"
        );
        for out in *outputs {
            assert!(
                !run.join(out).exists(),
                "{out} exists under its final name after a stop in {stage}"
            );
        }
        for (earlier, outs) in &STAGES[..i] {
            assert_eq!(
                stage_status(&run, earlier),
                "done",
                "{earlier} after a stop in {stage}"
            );
            assert!(outs.iter().all(|o| run.join(o).exists()));
        }
        assert_ne!(stage_status(&run, stage), "done");
        assert!(
            visible_files(&run).iter().all(|f| !f.ends_with(".tmp")),
            "a temporary file is visible after a stop in {stage}"
        );
        // Each run resumes where the previous one stopped: the stages it finished are
        // kept, the one it stopped in runs again.
        let p = plan(&stderr(&o));
        for (j, (name, action)) in p.iter().enumerate() {
            let expected = if j + 1 < i { "keep" } else { "run" };
            assert_eq!(action, expected, "{name} in the run stopped in {stage}");
        }
    }
    let o = recours(&["--output", run.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let p = plan(&stderr(&o));
    assert!(
        p[..7].iter().all(|(_, a)| a == "keep") && p[7].1 == "run",
        "{p:?}"
    );
    assert!(!run.join(".partial").exists());
    assert_eq!(
        hash_tree(&run),
        hash_tree(sample_run()),
        "a resumed run gives the same outputs as an uninterrupted one"
    );
    // Nothing changed: nothing runs, nothing is rewritten.
    let o = recours(&["--output", run.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(plan(&stderr(&o)).iter().all(|(_, a)| a == "keep"));
    let m = manifest(&run);
    assert!(
        m["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["reused"] == true && s["status"] == "done")
    );
    assert_eq!(hash_tree(&run), hash_tree(sample_run()));
}

#[test]
fn a_changed_bareme_reruns_eligibility_and_what_follows_and_nothing_upstream() {
    let dir = scratch("bareme_change");
    let run = dir.join("run");
    copy_dir(sample_run(), &run);
    // The sample configuration, from another folder, with its own copy of the barèmes.
    let repo = repo();
    let cfg_dir = dir.join("config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let baremes = std::fs::read_to_string(repo.join("config/baremes.toml")).unwrap();
    std::fs::write(cfg_dir.join("baremes.toml"), &baremes).unwrap();
    let sample = sample_config_absolute(Some(&cfg_dir.join("baremes.toml")));
    let cfg = cfg_dir.join("sample.toml");
    std::fs::write(&cfg, &sample).unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            cfg.to_str().unwrap(),
            "--output",
            run.to_str().unwrap(),
            "run",
        ];
        a.extend_from_slice(extra);
        recours(&a)
    };

    // Same inputs from another folder: everything is up to date.
    let o = args(&["--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        plan(&stderr(&o)).iter().all(|(_, a)| a == "keep"),
        "{}",
        stderr(&o)
    );
    // Run with everything kept: the end summary names the lists folder, how many caisses
    // have someone to contact, and the report.
    let o = args(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = read_parquet(&run.join("lists/decisions.parquet"));
    let (caisses, decisions) = (texts(&d, "caisse"), texts(&d, "decision"));
    let all: std::collections::BTreeSet<&str> = caisses.iter().copied().collect();
    let listed: Vec<usize> = (0..d.height())
        .filter(|&i| decisions[i] == "liste")
        .collect();
    let non_empty: std::collections::BTreeSet<&str> = listed.iter().map(|&i| caisses[i]).collect();
    assert!(non_empty.len() < all.len(), "the sample has empty lists");
    let expected = format!(
        "  lists: {} people in {} non-empty lists out of {} caisses, in {}",
        listed.len(),
        non_empty.len(),
        all.len(),
        run.join("lists").display()
    );
    let err = stderr(&o);
    assert!(
        err.lines().any(|l| l == expected),
        "«{expected}» not in:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l == format!("  report: {}", run.join("report/index.html").display())),
        "{err}"
    );
    // The run log has the events with their time, and is not among the manifest's outputs.
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("run finished"))
        .unwrap();
    assert!(
        last.len() > 20 && last.as_bytes()[10] == b'T' && last.contains("  run "),
        "{log}"
    );
    assert!(log.contains("lists: "), "{log}");
    assert!(
        !std::fs::read_to_string(run.join("manifest.json"))
            .unwrap()
            .contains("run.log")
    );
    let o = args(&["--dry-run", "--from", "score"]);
    let p = plan(&stderr(&o));
    assert_eq!(
        p.iter()
            .filter(|(_, a)| a == "run")
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>(),
        ["score", "lists", "evaluate", "report"]
    );
    assert_eq!(code(&args(&["--dry-run", "--from", "nowhere"])), 2);

    // One barème value changed: the RSA montant forfaitaire in force in the run month.
    let changed = baremes.replacen(
        "montant_forfaitaire = 646.52",
        "montant_forfaitaire = 650.00",
        1,
    );
    assert_ne!(changed, baremes);
    std::fs::write(cfg_dir.join("baremes.toml"), changed).unwrap();
    let before = hash_tree(&run);
    let o = args(&["--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let p = plan(&stderr(&o));
    assert_eq!(p[0], ("ingest".to_string(), "keep".to_string()));
    assert!(p[1..].iter().all(|(_, a)| a == "run"), "{}", stderr(&o));
    // The plan names what changed.
    assert!(
        stderr(&o).contains("eligibility  run   (reference file baremes changed)"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("features     run   (reads eligibility, which changed)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(hash_tree(&run), before, "--dry-run changes nothing");

    // Run up to eligibility: ingest's outputs untouched, eligibility rewritten, later
    // outputs (now out of date) removed rather than left looking current.
    let o = args(&["--to", "eligibility"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = hash_tree(&run);
    let of = |t: &[(String, String)], prefix: &str| -> Vec<(String, String)> {
        t.iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .cloned()
            .collect()
    };
    for out in ["ingest/", "rejects/", "quality.json"] {
        assert_eq!(of(&after, out), of(&before, out), "{out} is not rewritten");
    }
    assert_ne!(
        of(&after, "eligibility.parquet"),
        of(&before, "eligibility.parquet")
    );
    for out in [
        "features.parquet",
        "models",
        "scores.parquet",
        "lists",
        "report",
    ] {
        assert!(!run.join(out).exists(), "{out} is out of date and removed");
    }
    assert_eq!(stage_status(&run, "report"), "not run");
}

/// Files of the run folder (hidden ones, the manifest and the run log aside) that neither
/// the manifest nor recours' record of what it wrote (`.recours-written.json`) lists.
fn unlisted_files(run: &Path) -> Vec<String> {
    let m = manifest(run);
    let mut listed: std::collections::BTreeSet<String> = m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["outputs"].as_array().unwrap().iter())
        .map(|o| o["path"].as_str().unwrap().to_string())
        .collect();
    if let Ok(text) = std::fs::read_to_string(run.join(".recours-written.json")) {
        let written: Vec<String> = serde_json::from_str(&text).unwrap();
        listed.extend(written);
    }
    visible_files(run)
        .into_iter()
        .filter(|f| !listed.contains(f))
        .collect()
}

#[test]
fn a_run_killed_after_moving_outputs_before_the_manifest_lists_them_resumes_identical() {
    let run = scratch("resume_moved").join("run");
    for stage in ["ingest", "lists"] {
        let point = format!("{stage}:moved");
        let o = run_with_failpoint(&run, &point);
        assert!(!o.status.success(), "the failpoint {point} stops the run");
        assert!(stderr(&o).contains(&point), "{}", stderr(&o));
        // The stage's files are in place, its record not done: recours knows them all.
        assert!(
            run.join(if stage == "ingest" { "ingest" } else { "lists" })
                .exists()
        );
        assert_ne!(stage_status(&run, stage), "done");
        assert_eq!(
            unlisted_files(&run),
            Vec::<String>::new(),
            "files recours moved in that nothing lists after a stop at {point}"
        );
    }
    // verify names the stopped run as such.
    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("UNFINISHED stage lists (pending)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // A file someone put beside the lists while the run was stopped stays.
    std::fs::write(run.join("lists/notes.txt"), "à voir").unwrap();
    let o = recours(&["--output", run.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(run.join("lists/notes.txt")).unwrap(),
        "à voir"
    );
    std::fs::remove_file(run.join("lists/notes.txt")).unwrap();
    assert!(!run.join(".recours-written.json").exists());
    assert_eq!(
        hash_tree(&run),
        hash_tree(sample_run()),
        "a run resumed after a stop between the move and the manifest differs"
    );
    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
}
