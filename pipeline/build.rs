//! Build facts the run records: a hash of the sources (part of every stage fingerprint, so
//! a binary built from changed code reruns every stage) and the git commit (the manifest's
//! `git_commit`, when built from a git checkout).

use std::hash::{DefaultHasher, Hasher};
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
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..");
    let mut all = Vec::new();
    for d in ["pipeline/src", "models/src"] {
        files(&root.join(d), &mut all);
        println!("cargo:rerun-if-changed=../{d}");
    }
    for f in ["pipeline/Cargo.toml", "models/Cargo.toml", "Cargo.lock"] {
        all.push(root.join(f));
        println!("cargo:rerun-if-changed=../{f}");
    }
    all.sort();
    let mut h = DefaultHasher::new();
    for f in &all {
        h.write(
            f.strip_prefix(&root)
                .unwrap_or(f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.write(&std::fs::read(f).unwrap_or_default());
    }
    println!("cargo:rustc-env=RECOURS_SOURCE_HASH={:016x}", h.finish());

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
        println!("cargo:rustc-env=RECOURS_GIT_COMMIT={commit}");
    }
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/refs/heads");
    }
}
