//! Build facts the run records: a hash of the sources (part of every stage fingerprint, so
//! a binary built from changed code reruns every stage) and the git commit (the manifest's
//! `git_commit`, `-dirty` when the sources had uncommitted changes).

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "toml") {
            out.push(p);
        }
    }
}

fn main() {
    // Read when the script runs, not when it is compiled: a build script compiled for a
    // worktree that no longer exists (a target folder shared between worktrees) would
    // otherwise hash that worktree's files.
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
    let root = here.join("..");
    let mut all = Vec::new();
    for d in ["pipeline/src", "models/src"] {
        files(&root.join(d), &mut all);
        println!("cargo:rerun-if-changed=../{d}");
    }
    for f in [
        "Cargo.toml",
        "pipeline/Cargo.toml",
        "pipeline/build.rs",
        "models/Cargo.toml",
        "Cargo.lock",
        // The cross-world summary the model cards embed (`include_str!`).
        "bench/results/cross-world.json",
    ] {
        all.push(root.join(f));
        println!("cargo:rerun-if-changed=../{f}");
    }
    all.sort();
    // BLAKE3 (stable across Rust releases, unlike std's hasher); a file that cannot be read
    // fails the build rather than hashing as empty.
    let mut h = blake3::Hasher::new();
    for f in &all {
        let name = f
            .strip_prefix(&root)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        h.update(name.as_bytes());
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    println!(
        "cargo:rustc-env=RECOURS_SOURCE_HASH={}",
        &h.finalize().to_hex()[..16]
    );

    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        // A build from uncommitted sources says so: the commit alone would not rebuild it.
        let dirty = git(&[
            "status",
            "--porcelain",
            "--",
            "pipeline",
            "models",
            "Cargo.toml",
            "Cargo.lock",
            "bench/results/cross-world.json",
        ])
        .is_some_and(|s| !s.is_empty());
        let suffix = if dirty { "-dirty" } else { "" };
        println!("cargo:rustc-env=RECOURS_GIT_COMMIT={commit}{suffix}");
    }
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/refs/heads");
        println!("cargo:rerun-if-changed={git_dir}/index");
    }
}
