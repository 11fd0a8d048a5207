//! `recours verify RUN_FOLDER`: checks that a run folder is what its manifest says and that
//! its configuration and inputs give it again. Three checks, each file named:
//! the inputs still hash as recorded; the outputs in the folder hash as recorded; a replay
//! of the run from the manifest's configuration into a scratch folder gives the same hashes.

use std::path::{Path, PathBuf};

use crate::error::{RecoursError, Result};
use crate::tables::manifest::{self, Hasher, Manifest};

#[derive(Debug, Default)]
pub struct Verification {
    pub lines: Vec<String>,
    pub mismatches: usize,
}

impl Verification {
    fn check(&mut self, what: &str, path: &str, expected: &str, found: Option<&str>) {
        match found {
            Some(f) if f == expected => self.lines.push(format!("match     {what} {path}")),
            Some(_) => {
                self.mismatches += 1;
                self.lines.push(format!("MISMATCH  {what} {path}"));
            }
            None => {
                self.mismatches += 1;
                self.lines.push(format!("MISSING   {what} {path}"));
            }
        }
    }
}

/// The outputs as they are in the run folder, each hashed afresh against the manifest (also
/// what the portal checks before it serves a run).
pub fn check_outputs(run_dir: &Path, m: &Manifest, v: &mut Verification) {
    let mut fresh = Hasher::new(None);
    for o in m.outputs() {
        let found = fresh
            .record(&run_dir.join(&o.path), String::new())
            .ok()
            .map(|r| r.blake3);
        v.check("output", &o.path, &o.blake3, found.as_deref());
    }
}

pub fn verify(run_dir: &Path, scratch: Option<PathBuf>) -> Result<Verification> {
    let m = Manifest::read(run_dir)?;
    let cfg = m.config()?;
    let mut v = Verification::default();
    let mut fresh = Hasher::new(None);
    let hash = |h: &mut Hasher, p: &Path| h.record(p, String::new()).ok().map(|r| r.blake3);

    // The configuration as recorded.
    let recomputed = manifest::config_hash(&m.config);
    v.check("config", &m.config_file, &m.config_hash, Some(&recomputed));
    // Files added to an input since the run (a new partition) are changes too.
    for input in &cfg.inputs {
        let recorded: std::collections::BTreeSet<&str> = m
            .inputs
            .iter()
            .filter(|i| i.table == input.table)
            .flat_map(|i| i.files.iter().map(|f| f.path.as_str()))
            .collect();
        let base = Path::new(&m.config_file)
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        for f in crate::stages::ingest::source_files(input).unwrap_or_default() {
            let rel = manifest::relative(&f, &base);
            if !recorded.contains(rel.as_str()) {
                v.mismatches += 1;
                v.lines.push(format!(
                    "EXTRA     input {} {rel} (not in the manifest)",
                    input.table
                ));
            }
        }
    }
    // Inputs and reference data, hashed afresh.
    let base = Path::new(&m.config_file)
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    for r in &m.reference {
        let found = hash(&mut fresh, &cfg.resolve(&r.path));
        v.check("reference", &r.path, &r.blake3, found.as_deref());
    }
    for input in &m.inputs {
        for f in &input.files {
            let found = hash(&mut fresh, &base.join(&f.path));
            v.check(
                &format!("input {}", input.table),
                &f.path,
                &f.blake3,
                found.as_deref(),
            );
        }
    }
    check_outputs(run_dir, &m, &mut v);
    // A replay into a scratch folder.
    let scratch = scratch.unwrap_or_else(|| run_dir.join(".verify"));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .map_err(RecoursError::io(format!("clearing {}", scratch.display())))?;
    }
    let mut replay_cfg = cfg;
    replay_cfg.output = scratch.clone();
    match crate::run::run(replay_cfg, &crate::run::RunOptions::default()) {
        Ok(()) => {
            for o in m.outputs() {
                let found = hash(&mut fresh, &scratch.join(&o.path));
                v.check("replay", &o.path, &o.blake3, found.as_deref());
            }
            let recorded: std::collections::BTreeSet<&str> =
                m.outputs().iter().map(|o| o.path.as_str()).collect();
            for f in manifest::files_under(&scratch) {
                let rel = manifest::relative(&f, &scratch);
                if !recorded.contains(rel.as_str()) {
                    v.mismatches += 1;
                    v.lines
                        .push(format!("EXTRA     replay {rel} (not in the manifest)"));
                }
            }
        }
        Err(e) => {
            v.mismatches += 1;
            v.lines.push(format!("FAILED    replay: {e}"));
        }
    }
    Ok(v)
}
