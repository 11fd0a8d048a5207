//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const RUN_MONTH: &str = "2025-09";

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
