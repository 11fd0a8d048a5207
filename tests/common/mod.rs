//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const RUN_MONTH: &str = "2025-09";

/// The pipeline's stages, in the order they run (`recours run --help`, the layer rule).
pub const STAGES: [&str; 8] = [
    "ingest",
    "eligibility",
    "features",
    "train",
    "score",
    "lists",
    "evaluate",
    "report",
];

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A fresh temporary folder under the target directory (kept on failure for inspection).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn recours(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recours"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("recours runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

pub fn generate(out: &Path, people: usize, seed: u64, format: &str) -> Output {
    generate_with(out, people, seed, format, &[])
}

pub fn generate_with(out: &Path, people: usize, seed: u64, format: &str, extra: &[&str]) -> Output {
    let (people, seed) = (people.to_string(), seed.to_string());
    let mut args = vec![
        "generate",
        "--people",
        &people,
        "--month",
        RUN_MONTH,
        "--seed",
        &seed,
        "--out",
        out.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    let o = recours(&args);
    assert_eq!(code(&o), 0, "generate failed: {}", stderr(&o));
    o
}

pub const TABLES: [&str; 8] = [
    "personnes",
    "foyers",
    "logements",
    "droits",
    "ressources",
    "contacts",
    "apprentissage",
    "retours",
];

/// A run config for a folder of generated tables (`csv` or `parquet` files named after the
/// table; `ressources` may be a hive folder), with a generous rejection tolerance unless
/// `max_rejected` says otherwise.
pub fn write_config(dir: &Path, data: &Path, ext: &str, max_rejected: f64) -> PathBuf {
    write_config_with(dir, data, ext, max_rejected, "")
}

/// As [`write_config`], with extra TOML sections appended.
pub fn write_config_with(
    dir: &Path,
    data: &Path,
    ext: &str,
    max_rejected: f64,
    extra: &str,
) -> PathBuf {
    let cfg_dir = repo().join("config");
    let mut s = format!(
        "month = \"{RUN_MONTH}\"\noutput = \"{}\"\n\n[reference]\ndepartements = \"{}\"\ncaisses = \"{}\"\nbaremes = \"{}\"\n\n",
        dir.join("run").display(),
        cfg_dir.join("departements.csv").display(),
        cfg_dir.join("caisses.csv").display(),
        cfg_dir.join("baremes.toml").display(),
    );
    for t in TABLES {
        let file = data.join(format!("{t}.{ext}"));
        let path = if file.exists() { file } else { data.join(t) };
        s.push_str(&format!("[inputs.{t}]\npath = \"{}\"\n\n", path.display()));
    }
    s.push_str(&format!(
        "[validation]\nmax_rejected_share = {max_rejected}\n\n{extra}\n"
    ));
    let path = dir.join("config.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// Edits a generated CSV table (`,` separator, no quoted commas) row by row.
/// `rows[0]` is the header.
pub fn edit_csv(path: &Path, edit: impl FnOnce(&mut Vec<Vec<String>>)) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    edit(&mut rows);
    let out: String = rows.iter().map(|r| r.join(",") + "\n").collect();
    std::fs::write(path, out).unwrap();
}

pub fn col(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

pub fn quality(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("quality.json")).unwrap()).unwrap()
}

/// Rewrites a Parquet table with one column replaced by `values`.
pub fn replace_parquet_column(path: &Path, column: polars::prelude::Column) {
    use polars::prelude::*;
    let mut df = read_parquet(path);
    df.with_column(column).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    ParquetWriter::new(&mut f).finish(&mut df).unwrap();
}

pub fn read_parquet(path: &Path) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    let f = std::fs::File::open(path).unwrap();
    ParquetReader::new(f).finish().unwrap()
}

/// Every column name and value of a Parquet file as text (list columns value by value),
/// for the checks that no NIR-like value was written.
pub fn parquet_texts(path: &Path) -> Vec<String> {
    use polars::prelude::*;
    let mut texts = Vec::new();
    for c in read_parquet(path).columns() {
        texts.push(c.name().to_string());
        let c = match c.dtype() {
            DataType::List(_) => c
                .explode(ExplodeOptions {
                    empty_as_null: true,
                    keep_nulls: true,
                })
                .unwrap(),
            _ => c.clone(),
        };
        let c = c.cast(&DataType::String).unwrap();
        texts.extend(c.str().unwrap().iter().flatten().map(str::to_string));
    }
    texts
}

pub fn hash_tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            // Hidden files (hash cache, verify scratch), the manifest (stage timings) and
            // the run log (times) are not outputs.
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "manifest.json" || name == "run.log" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((
                    rel,
                    blake3::hash(&std::fs::read(&p).unwrap())
                        .to_hex()
                        .to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Writes `config` to `DIR/config.toml` and runs `recours --config DIR/config.toml --output
/// DIR/run ARGS`: the run folder and what the process returned.
pub fn run_with_config(dir: &Path, config: &str, args: &[&str]) -> (PathBuf, Output) {
    let file = dir.join("config.toml");
    std::fs::write(&file, config).unwrap();
    let run = dir.join("run");
    let mut all = vec![
        "--config",
        file.to_str().unwrap(),
        "--output",
        run.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let o = recours(&all);
    (run, o)
}

/// A copy of the folder `from` (recursively) at `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// The bundled sample run once per test binary (several tests read it).
pub fn sample_run() -> &'static Path {
    static RUN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("sample_run");
        let run = dir.join("run");
        let o = recours(&["--output", run.to_str().unwrap(), "run"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        run
    })
}

/// Column readers for the tests' checks on output tables.
pub fn texts<'a>(df: &'a polars::prelude::DataFrame, name: &str) -> Vec<&'a str> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(""))
        .collect()
}

pub fn opt_texts(df: &polars::prelude::DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

pub fn bools(df: &polars::prelude::DataFrame, name: &str) -> Vec<bool> {
    df.column(name)
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect()
}

pub fn floats(df: &polars::prelude::DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(0.0))
        .collect()
}

/// The bundled sample's configuration with absolute paths, to be written in another folder;
/// `baremes` names the barèmes file (default: the repository's).
pub fn sample_config_absolute(baremes: Option<&Path>) -> String {
    let repo = repo();
    let config = repo.join("config");
    let baremes = baremes.map_or(config.join("baremes.toml"), Path::to_path_buf);
    std::fs::read_to_string(config.join("sample.toml"))
        .unwrap()
        .replace("\"../", &format!("\"{}/", repo.display()))
        .replace(
            "departements = \"",
            &format!("departements = \"{}/", config.display()),
        )
        .replace(
            "caisses = \"",
            &format!("caisses = \"{}/", config.display()),
        )
        .replace(
            "baremes = \"baremes.toml\"",
            &format!("baremes = \"{}\"", baremes.display()),
        )
}

/// A program the print and screenshot tests need (a headless browser, `pdftotext`,
/// LibreOffice's `soffice`), found on `PATH` under one of `names` (or at `$RECOURS_BROWSER`
/// for the browser). Missing, it is said loudly on stderr and the test returns early; with
/// `RECOURS_REQUIRE_BROWSER=1` (CI, `.ci/run`) a missing program fails the test instead.
pub fn print_tool(test: &str, names: &[&str], package: &str) -> Option<PathBuf> {
    let from_env = names
        .contains(&"chromium")
        .then(|| std::env::var_os("RECOURS_BROWSER"))
        .flatten()
        .map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = from_env.or_else(|| {
        names.iter().find_map(|n| {
            std::env::split_paths(&path)
                .map(|d| d.join(n))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        let message = format!(
            "{test}: none of {names:?} on this machine (Debian package `{package}`): the \
             printed and screenshotted outputs are NOT checked"
        );
        if std::env::var("RECOURS_REQUIRE_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0") {
            panic!("{message}, and RECOURS_REQUIRE_BROWSER is set");
        }
        eprintln!(
            "\n*** SKIPPED — {message}. Set RECOURS_REQUIRE_BROWSER=1 to fail instead. ***\n"
        );
    }
    found
}

/// The print tests' programs: a headless browser (none for a test that prints with
/// LibreOffice, `browser` false) and poppler's `pdftotext` and `pdfinfo`; `None` when one is
/// missing (see [`print_tool`]).
pub struct PrintTools {
    pub browser: PathBuf,
    pub pdftotext: PathBuf,
    pub pdfinfo: PathBuf,
}

pub fn print_tools(test: &str, browser: bool) -> Option<PrintTools> {
    let browser = if browser {
        print_tool(
            test,
            &["chromium", "chromium-browser", "google-chrome"],
            "chromium",
        )?
    } else {
        PathBuf::new()
    };
    Some(PrintTools {
        browser,
        pdftotext: print_tool(test, &["pdftotext"], "poppler-utils")?,
        pdfinfo: print_tool(test, &["pdfinfo"], "poppler-utils")?,
    })
}

/// Runs `cmd` to its end within `seconds`; panics with its output when it fails or hangs.
/// Its output is read while it runs (a full pipe would block it).
pub fn run_tool(cmd: &mut Command, seconds: u64) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(o) = rx.recv_timeout(std::time::Duration::from_secs(seconds)) else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("{cmd:?} still running after {seconds} s");
    };
    let o = o.unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    o
}

/// A headless Chromium with a profile of its own under `dir` (tests run side by side);
/// `--no-sandbox` because CI runs as root in a container.
pub fn chromium(browser: &Path, dir: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-pdf-header-footer",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", dir.join("profile").display()));
    c
}

/// `file://` URL of a local file.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// Each page's size in points (width, height), read by poppler's `pdfinfo`.
pub fn pdf_pages(pdfinfo: &Path, pdf: &Path) -> Vec<(f64, f64)> {
    let o = run_tool(
        Command::new(pdfinfo)
            .args(["-f", "1", "-l", "100000"])
            .arg(pdf),
        60,
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("Page ") && l.contains(" size: "))
        .map(|l| {
            let dims: Vec<f64> = l
                .split(" size: ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (dims[0], dims[1])
        })
        .collect()
}

/// The text of each page, read by poppler's `pdftotext` (pages end with a form feed).
pub fn pdf_text(pdftotext: &Path, pdf: &Path) -> Vec<String> {
    let o = run_tool(Command::new(pdftotext).arg(pdf).arg("-"), 60);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// Whether a page size is A4, portrait or landscape, within a point.
pub fn is_a4(size: (f64, f64), landscape: bool) -> bool {
    let (w, h) = if landscape {
        (841.9, 595.3)
    } else {
        (595.3, 841.9)
    };
    (size.0 - w).abs() < 1.5 && (size.1 - h).abs() < 1.5
}

/// Text without any whitespace (to find words a narrow column wrapped).
pub fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}
