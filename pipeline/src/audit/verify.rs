//! `recours verify RUN_FOLDER`: checks that a run folder is what its manifest says and that
//! its configuration and inputs give it again, wherever the folder, the configuration and
//! the inputs now are. The checks, each file that fails named:
//! the configuration as recorded; the reference files and inputs still hash as recorded
//! (found beside the configuration, or under `--inputs DIR`), no input file was added; the
//! outputs in the folder hash as recorded and no file was added to the folder; a replay
//! of the run from the manifest's configuration into a scratch folder outside the run
//! folder (removed afterwards) gives the same hashes; every stage that started finished.
//! Nothing is written into the run folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::{RawConfig, RunConfig, normalize};
use crate::error::{RecoursError, Result};
use crate::tables::manifest::{self, Hasher, Manifest};
use crate::tables::ownership;
use crate::tables::run_folder::RunFolder;

/// Where `verify` finds what the run read, when it is no longer where the run read it.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The configuration file in its new place: the manifest's configuration is replayed
    /// with its relative paths resolved against this file's folder, and the file must hold
    /// the same configuration. Default: the file the manifest recorded.
    pub config: Option<PathBuf>,
    /// The folder now holding the inputs: it stands for the deepest folder that held them
    /// all, each input keeping its path under it.
    pub inputs: Option<PathBuf>,
    /// Where to replay (kept); default: a temporary folder outside the run folder, removed.
    pub scratch: Option<PathBuf>,
}

/// What `verify` found: the problems (one line each, under the kind of check that found
/// it) and, per kind of check, how many files were checked.
#[derive(Debug, Default)]
pub struct Verification {
    pub problems: Vec<(&'static str, String)>,
    pub checked: BTreeMap<&'static str, usize>,
}

impl Verification {
    pub fn mismatches(&self) -> usize {
        self.problems.len()
    }

    /// `kind` counts the check; `label` (the kind and, for an input, its table) and `name`
    /// name the file in a problem line.
    fn check(
        &mut self,
        kind: &'static str,
        label: &str,
        name: &str,
        expected: &str,
        found: Option<&str>,
    ) {
        *self.checked.entry(kind).or_default() += 1;
        match found {
            Some(f) if f == expected => {}
            Some(_) => self
                .problems
                .push((kind, format!("MISMATCH  {label} {name}"))),
            None => self
                .problems
                .push((kind, format!("MISSING   {label} {name}"))),
        }
    }

    fn extra(&mut self, kind: &'static str, label: &str, name: &str) {
        self.problems.push((
            kind,
            format!("EXTRA     {label} {name} (not in the manifest)"),
        ));
    }

    /// One line per kind of check: files checked and how many problems it found.
    pub fn summary(&self) -> Vec<String> {
        self.checked
            .iter()
            .map(|(kind, n)| {
                let failed = self.problems.iter().filter(|(k, _)| k == kind).count();
                format!("{kind:<10} {n:>7} checked, {failed:>5} difference(s)")
            })
            .collect()
    }
}

/// Removes the scratch replay when `verify` made it, whatever happens.
struct Scratch {
    path: PathBuf,
    remove: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn temporary_scratch() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("recours-verify-{}-{nanos}", std::process::id()))
}

/// The manifest's configuration with each input moved under `dir`: the deepest folder
/// holding every input (as resolved from `config_file`) is replaced by `dir`. The ground
/// truth (`[evaluation] verite`) and the previous run's figures (`[report] previous`) move
/// with the inputs when they were under that folder.
fn inputs_moved(raw: &mut RawConfig, config_file: &Path, dir: &Path) {
    let base = config_file.parent().unwrap_or(Path::new(""));
    let resolve = |p: &str| normalize(&base.join(p));
    let mut common: Option<PathBuf> = None;
    for input in raw.inputs.values() {
        let path = resolve(&input.path);
        let parent = path.parent().unwrap_or(Path::new(""));
        common = Some(match common {
            None => parent.to_path_buf(),
            Some(c) => c
                .components()
                .zip(parent.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    let common = common.unwrap_or_default();
    let moved = |p: &str| -> Option<String> {
        let under = resolve(p).strip_prefix(&common).ok()?.to_path_buf();
        let new = dir.join(under);
        Some(
            std::path::absolute(&new)
                .unwrap_or(new)
                .to_string_lossy()
                .into_owned(),
        )
    };
    for input in raw.inputs.values_mut() {
        if let Some(p) = moved(&input.path) {
            input.path = p;
        }
    }
    for path in [&mut raw.evaluation.verite, &mut raw.report.previous]
        .into_iter()
        .flatten()
    {
        if let Some(p) = moved(path) {
            *path = p;
        }
    }
}

/// The outputs as they are in the run folder, each hashed afresh against the manifest, and
/// any file there the manifest does not list (also what the portal checks before it serves
/// a run).
pub(crate) fn check_outputs(run_dir: &Path, m: &Manifest, v: &mut Verification) {
    let mut fresh = Hasher::new(None);
    let recorded: BTreeSet<&str> = m.outputs().iter().map(|o| o.path.as_str()).collect();
    for o in m.outputs() {
        let found = fresh
            .record(&RunFolder::new(run_dir).path(&o.path), String::new())
            .ok()
            .map(|r| r.blake3);
        v.check("output", "output", &o.path, &o.blake3, found.as_deref());
    }
    for f in manifest::files_under(run_dir) {
        let rel = manifest::relative(&f, run_dir);
        if !recorded.contains(rel.as_str()) {
            v.extra("output", "file", &rel);
        }
    }
}

pub fn verify(run_dir: &Path, opts: &VerifyOptions) -> Result<Verification> {
    let run = RunFolder::new(run_dir);
    let _lock = ownership::share(&run)?;
    let m = Manifest::read(run_dir)?;
    let mut v = Verification::default();
    // A stage that started and did not finish: the folder holds a stopped run, whatever
    // its files say.
    for s in &m.stages {
        *v.checked.entry("stage").or_default() += 1;
        if matches!(s.status.as_str(), "pending" | "failed") {
            v.problems.push((
                "stage",
                format!(
                    "UNFINISHED stage {} ({}): the run stopped before it finished; run it again",
                    s.name, s.status
                ),
            ));
        }
    }
    let mut fresh = Hasher::new(None);
    let hash = |h: &mut Hasher, p: &Path| h.record(p, String::new()).ok().map(|r| r.blake3);

    // The configuration as recorded, and as the file given in its new place holds it.
    let config_file = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(&m.config_file));
    let recomputed = manifest::config_hash(&m.config);
    v.check(
        "config",
        "config",
        &m.config_file,
        &m.config_hash,
        Some(&recomputed),
    );
    if let Some(given) = &opts.config {
        let found = crate::config::read_raw(given).map(|raw| manifest::config_hash(&raw));
        v.check(
            "config",
            "config",
            &given.display().to_string(),
            &m.config_hash,
            found.ok().as_deref(),
        );
    }
    let mut raw = m.config.clone();
    if let Some(dir) = &opts.inputs {
        inputs_moved(&mut raw, &config_file, dir);
    }
    let cfg = RunConfig::check(&config_file, raw).map_err(|e| match (e, &opts.config) {
        (RecoursError::Config { file, message }, None) => RecoursError::Config {
            file,
            message: format!(
                "{message} (a run folder checked away from where it was made needs \
                 --config with the configuration in its new place, and --inputs DIR when \
                 the inputs are not beside it)"
            ),
        },
        (e, _) => e,
    })?;

    // Reference files and inputs, hashed afresh where they now are.
    for r in &m.reference {
        let found = hash(&mut fresh, &cfg.resolve(&r.path));
        v.check(
            "reference",
            "reference",
            &r.path,
            &r.blake3,
            found.as_deref(),
        );
    }
    let base = config_file.parent().unwrap_or(Path::new("")).to_path_buf();
    for input in &cfg.inputs {
        let Some(record) = m.inputs.iter().find(|i| i.table == input.table) else {
            v.extra("input", "input", input.table);
            continue;
        };
        for (i, f) in record.files.iter().enumerate() {
            let path = match record.parts.get(i) {
                Some(part) if part.is_empty() => input.path.clone(),
                Some(part) => input.path.join(part),
                None => base.join(&f.path),
            };
            let found = hash(&mut fresh, &path);
            let label = format!("input {}", input.table);
            v.check("input", &label, &f.path, &f.blake3, found.as_deref());
        }
        // Files added to an input since the run (a new partition) are changes too.
        if record.parts.len() == record.files.len() {
            let recorded: BTreeSet<&str> = record.parts.iter().map(String::as_str).collect();
            for f in crate::stages::ingest::source_files(input).unwrap_or_default() {
                let part = manifest::relative(&f, &input.path);
                if !recorded.contains(part.as_str()) {
                    v.extra(
                        "input",
                        &format!("input {}", input.table),
                        &manifest::relative_to(&f, &base),
                    );
                }
            }
        }
    }

    check_outputs(run_dir, &m, &mut v);

    // A replay of every stage into a scratch folder outside the run folder.
    let scratch = Scratch {
        path: opts.scratch.clone().unwrap_or_else(temporary_scratch),
        remove: opts.scratch.is_none(),
    };
    let mut replay_cfg = cfg;
    replay_cfg.output = scratch.path.clone();
    let replay = crate::run::RunOptions {
        force: true,
        ..Default::default()
    };
    match crate::run::run(replay_cfg, &replay) {
        Ok(()) => {
            for o in m.outputs() {
                let found = hash(&mut fresh, &RunFolder::new(&scratch.path).path(&o.path));
                v.check("replay", "replay", &o.path, &o.blake3, found.as_deref());
            }
            let recorded: BTreeSet<&str> = m.outputs().iter().map(|o| o.path.as_str()).collect();
            for f in manifest::files_under(&scratch.path) {
                let rel = manifest::relative(&f, &scratch.path);
                if !recorded.contains(rel.as_str()) {
                    v.extra("replay", "replay", &rel);
                }
            }
        }
        Err(e) => v
            .problems
            .push(("replay", format!("FAILED    replay: {e}"))),
    }
    Ok(v)
}
