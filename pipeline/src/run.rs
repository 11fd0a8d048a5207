//! `recours run`: the plan (which stage runs and why, from the fingerprints), the staging
//! folder, each stage's outputs moved into place, and the manifest after each stage. The
//! stages themselves are in [`crate::stages`], in the order of [`stages`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::config::RunConfig;
use crate::domain::contract::SCORED;
use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::io::progress::{self, say};
use crate::stages::stage::{Fingerprint, InputRead, Need, RunContext, Stage};
use crate::stages::train::training;
use crate::stages::{eligibility, evaluate, features, ingest, lists, report, score, train};
use crate::tables::eligibility as eligibility_rows;
use crate::tables::extracts::Extracts;
use crate::tables::features::FeatureTable;
use crate::tables::households::Households;
use crate::tables::manifest;
use crate::tables::ownership;
use crate::tables::run_folder::{RunFolder, names};

/// Bytes of feature values under which the feature table stays whole in memory through
/// the stages that do not read it (see `RunContext::keep_only`).
const KEEP_FEATURES_BELOW: usize = 1 << 30;

impl RunContext {
    /// Before a stage: drops the values it does not need that are cheap to read back
    /// (eligibility rows, scores, a large feature table's values), so that peak memory is
    /// the largest stage's, not the sum of all of them. A later stage that needs one reads
    /// it back from its output.
    fn keep_only(&mut self, needs: &[Need]) {
        if !needs.contains(&Need::Eligibility) {
            self.eligibility = None;
        }
        // The models read back take the features' names; models in memory need nothing. A
        // small feature table is kept whole for the stages after (evaluate, report: reading
        // it back costs about 1 s of a 1 M run); a large one keeps its ids and rows'
        // persons but not its values (about 270 bytes a row in their narrow columns: 1.8 GB
        // at 10 M, at the lists stage's peak), read back when needed.
        let models_to_read = needs.contains(&Need::Models) && self.models.is_empty();
        if !needs.contains(&Need::Features)
            && !models_to_read
            && let Some(f) = self.features.as_mut()
            && f.value_bytes() >= KEEP_FEATURES_BELOW
        {
            f.release_values();
        }
        if !needs.contains(&Need::Scores) {
            self.scores = None;
        }
    }

    /// Makes `need` available, reading it back from the run folder when an earlier run
    /// produced it.
    pub(crate) fn ensure(&mut self, need: Need) -> Result<()> {
        let dir = self.run.clone();
        match need {
            Need::Extracts if self.extracts.is_none() => {
                self.extracts = Some(Extracts::load(&dir)?);
            }
            Need::Households if self.households.is_none() => {
                // Assembled again (a resumed run): the peak of such a run. What a stage can
                // read back from its output is dropped first (the needs listed after the
                // households read it back), so they are not in memory beside the households.
                self.eligibility = None;
                self.features = None;
                self.scores = None;
                self.ensure(Need::Extracts)?;
                let x = self
                    .extracts
                    .as_mut()
                    .ok_or_else(|| RecoursError::Internal("ingest was not read".into()))?;
                let histories = self.histories.take();
                self.households = Some(Households::assemble(x, self.config.month, histories)?);
                self.release_household_tables();
            }
            Need::Eligibility if self.eligibility.is_none() => {
                self.eligibility = Some(eligibility_rows::read(&dir.eligibility())?);
            }
            Need::Features if self.features.is_none() => {
                self.features = Some(FeatureTable::read(
                    &dir.features(),
                    self.config.month,
                    crate::stages::features::dictionary::feature_name,
                )?);
            }
            Need::Features if self.features.as_ref().is_some_and(|f| !f.has_values()) => {
                if let Some(f) = self.features.as_mut() {
                    f.read_values(&dir.features())?;
                }
            }
            Need::Models if self.models.is_empty() => {
                self.ensure(Need::Features)?;
                let names = Self::need(&self.features, "features")?.names.clone();
                for b in SCORED {
                    let path = dir.model(b);
                    if path.exists() {
                        self.models
                            .insert(b, training::load_artefact(&path, b, &names)?);
                    }
                }
            }
            Need::Scores if self.scores.is_none() => {
                let df = crate::io::frame::read_parquet(&dir.scores())?;
                self.scores = Some(score::scores_from_frame(&df)?);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The stages in the order they run. Adding a stage is adding its module (with its
/// [`Declaration`](crate::stages::stage::Declaration)) and a line here.
pub(crate) fn stages() -> [&'static dyn Stage; 8] {
    [
        &ingest::Ingest,
        &eligibility::Eligibility,
        &features::Features,
        &train::Train,
        &score::Score,
        &lists::Lists,
        &evaluate::Evaluate,
        &report::Report,
    ]
}

fn input_records(cfg: &RunConfig, hasher: &mut manifest::Hasher) -> Result<Vec<InputRead>> {
    let base = cfg.file.parent().unwrap_or(std::path::Path::new(""));
    let mut out = Vec::new();
    for input in &cfg.inputs {
        let files = ingest::source_files(input)?;
        let mut records = Vec::new();
        for f in &files {
            records.push(hasher.record(f, manifest::relative_to(f, base))?);
        }
        out.push(InputRead {
            table: input.table.to_string(),
            files: records,
            parts: files
                .iter()
                .map(|f| manifest::relative(f, &input.path))
                .collect(),
            schema_hash: ingest::schema_hash(input, &files),
        });
    }
    Ok(out)
}

/// The version of recours that a fingerprint includes: the package version and a hash of
/// the sources it was built from (`build.rs`), so a rebuilt binary with changed code reruns
/// everything.
fn recours_version() -> String {
    format!(
        "{}+{}",
        env!("CARGO_PKG_VERSION"),
        env!("RECOURS_SOURCE_HASH")
    )
}

/// Options of `recours run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Rerun this stage and every later one, up to date or not.
    pub from: Option<String>,
    /// Stop after this stage.
    pub to: Option<String>,
    /// Rerun every stage.
    pub force: bool,
    /// Print the plan (which stage runs and why) and change nothing.
    pub dry_run: bool,
}

/// Why a stage runs or not, as the plan prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Run(String),
    Keep,
    /// After `--to`: not run; outputs of an earlier run that are no longer up to date are
    /// removed.
    NotRun {
        stale: bool,
    },
}

fn check_stage_name(name: &Option<String>, flag: &str) -> Result<Option<usize>> {
    let Some(n) = name else { return Ok(None) };
    let all = stages();
    all.iter()
        .position(|s| s.name() == n)
        .map(Some)
        .ok_or_else(|| RecoursError::Config {
            file: PathBuf::from(flag),
            message: format!(
                "no stage named {n}; stages: {}",
                all.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            ),
        })
}

/// Moves the `outputs` found in `staged` into `run_dir`, replacing what is there: a file
/// output replaces the file; a folder output is moved file by file into the folder in
/// place, so that a file someone else put there (not one recours wrote under the same
/// name) stays where it is.
fn move_staged(staged: &RunFolder, run: &RunFolder, outputs: &[&str]) -> Result<()> {
    for o in outputs {
        let from = staged.path(o);
        let dest = run.path(o);
        if from.is_dir() && dest.is_dir() {
            for f in manifest::files_at(&from) {
                let to = dest.join(manifest::relative(&f, &from));
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(RecoursError::io(format!("creating {}", parent.display())))?;
                }
                rename(&f, &to)?;
            }
        } else if from.exists() {
            remove_path(&dest)?;
            rename(&from, &dest)?;
        }
    }
    Ok(())
}

fn rename(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::rename(from, to).map_err(RecoursError::io(format!(
        "moving {} to {}",
        from.display(),
        to.display()
    )))
}

/// Removes a stage's declared output `name` from the run folder: only the files `removable`
/// lists (relative to the run folder: what the previous manifest and recours' record of what
/// it wrote, [`ownership::Written`], name), and then the folders left empty. A file someone
/// added (notes beside a caisse's list, in `ingest/` or `rejects/`) is never removed.
fn remove_output(
    run: &RunFolder,
    name: &str,
    removable: &std::collections::BTreeSet<String>,
) -> Result<()> {
    let path = run.path(name);
    for f in manifest::files_at(&path) {
        if removable.contains(&manifest::relative(&f, run.root())) {
            remove_path(&f)?;
        }
    }
    if path.is_dir() {
        remove_empty_folders(&path);
    }
    Ok(())
}

/// The files of `outputs` in a staging folder, relative to it: what a stage wrote, and so
/// what it will put into the run folder under the same names.
fn staged_files(staged: &RunFolder, outputs: &[&str]) -> Vec<String> {
    outputs
        .iter()
        .flat_map(|o| manifest::files_at(&staged.path(o)))
        .map(|f| manifest::relative(&f, staged.root()))
        .collect()
}

/// Removes `dir` and the folders under it that hold no file, deepest first.
fn remove_empty_folders(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_folders(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Every output file an earlier run's manifest lists, relative to the run folder.
fn recorded_outputs(m: &manifest::Manifest) -> std::collections::BTreeSet<String> {
    m.stages
        .iter()
        .flat_map(|s| s.outputs.iter().map(|o| o.path.clone()))
        .collect()
}

/// `recours validate`: the ingest stage's checks and outputs (quality report, rejects,
/// `ingest/`) without the rest of the run, staged like a stage of `run`: written under
/// `RUN/.partial/validate/` and moved into the run folder when done (the quality report and
/// rejects also when the data is rejected), so that a stopped or killed validation leaves
/// no mix of this run's and an earlier run's files.
///
/// A validation that fails leaves none of an earlier run's ingest outputs (a `quality.json`
/// saying passed, an `ingest/` of other data): only the quality report and rejects of the
/// data it rejected, or nothing.
pub fn validate(cfg: &RunConfig) -> Result<()> {
    check_exclusions(cfg)?;
    let run = RunFolder::new(&cfg.output);
    let lock = ownership::claim(&run)?;
    let staged = run.staging_for("validate");
    remove_path(staged.root())?;
    let previous = manifest::Manifest::read(run.root()).ok();
    let mut written = ownership::Written::read(&run);
    let mut removable = previous.as_ref().map(recorded_outputs).unwrap_or_default();
    removable.extend(written.files().iter().cloned());
    let previous_rows_kept = previous.map(|m| m.rows_kept_baseline()).unwrap_or_default();
    let outcome = crate::stages::ingest::ingest(cfg, staged.root()).and_then(|mut ingested| {
        ingested.check_row_drops(&previous_rows_kept, cfg.max_row_drop_share);
        eprint!("{}", ingested.summary());
        ingested.write(run.root())
    });
    // An earlier run's ingest outputs go whatever the outcome; this one's replace them when
    // it passed, its quality report and rejects only when the data was rejected.
    let moved: &[&str] = match &outcome {
        Ok(()) => ingest::STAGE.outputs,
        Err(RecoursError::Rejected(_)) => &[names::QUALITY, names::REJECTS],
        Err(_) => &[],
    };
    // No manifest records what a validation moves in: recours' own record does, first.
    let kept = ingest::STAGE
        .outputs
        .iter()
        .try_for_each(|o| remove_output(&run, o, &removable))
        .and_then(|()| written.prune(&run))
        .and_then(|()| written.add(staged_files(&staged, moved)))
        .and_then(|()| move_staged(&staged, &run, moved));
    remove_path(staged.root())?;
    let partial = run.staging();
    if partial.read_dir().is_ok_and(|mut d| d.next().is_none()) {
        let _ = std::fs::remove_dir(&partial);
    }
    if outcome.is_err() {
        lock.remove_if_unused(&run);
    }
    outcome.and(kept)
}

fn remove_path(path: &std::path::Path) -> Result<()> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(RecoursError::io(format!("removing {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Whether the outputs an earlier run recorded for a stage are all still there, unchanged.
fn outputs_intact(
    record: &manifest::StageRecord,
    run: &RunFolder,
    hasher: &mut manifest::Hasher,
) -> bool {
    !record.outputs.is_empty()
        && record.outputs.iter().all(|o| {
            hasher
                .record(&run.path(&o.path), o.path.clone())
                .is_ok_and(|f| f.blake3 == o.blake3 && f.size == o.size)
        })
}

/// Name of the environment variable that stops the process at a point of a stage (tests of
/// resuming): `<stage>` right after the stage has written its outputs and before they are
/// moved into the run folder, `<stage>:moved` right after they are moved and before the
/// manifest records them.
pub(crate) const FAILPOINT_ENV: &str = "RECOURS_FAILPOINT";

/// Stops the process when [`FAILPOINT_ENV`] names `at`.
fn failpoint(set: Option<&str>, at: &str, when: &str) {
    if set == Some(at) {
        eprintln!("{FAILPOINT_ENV}={at}: stopping {when}");
        std::process::abort();
    }
}

/// `[features] exclude` names features of the dictionary (the configuration cannot see it:
/// it sits below the stages), checked before anything is written.
fn check_exclusions(cfg: &RunConfig) -> Result<()> {
    let unknown = features::dictionary::unknown_exclusions(&cfg.features.exclude);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(RecoursError::Config {
        file: cfg.file.clone(),
        message: format!(
            "[features] exclude: {}: not a feature nor a one-hot group of the dictionary \
             (see features-selection.json or the model cards for the names)",
            unknown
                .iter()
                .map(|u| format!("'{u}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

pub fn run(config: RunConfig, opts: &RunOptions) -> Result<()> {
    check_exclusions(&config)?;
    let from = check_stage_name(&opts.from, "--from")?;
    let to = check_stage_name(&opts.to, "--to")?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(RecoursError::Config {
            file: PathBuf::from("--from/--to"),
            message: "--from names a stage after --to".into(),
        });
    }
    let run = RunFolder::new(&config.output);
    // Taken before the previous manifest is read, held until the run returns; a dry run
    // writes nothing and takes no lock.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(ownership::claim(&run)?)
    };
    let mut ctx = RunContext {
        config,
        out: RunFolder::new(run.staging()),
        run,
        extracts: None,
        histories: None,
        households: None,
        eligibility: None,
        features: None,
        models: BTreeMap::new(),
        scores: None,
        quality: None,
        previous_rows_kept: BTreeMap::new(),
        run_id: String::new(),
    };
    let config_hash = manifest::config_hash(ctx.config.as_written());
    let stages = stages();
    eprintln!(
        "recours {} — run month {} — run folder {}",
        env!("CARGO_PKG_VERSION"),
        ctx.config.month,
        ctx.run.root().display()
    );
    let start = Instant::now();

    // Inputs are hashed before any stage reads them.
    let mut hasher = manifest::Hasher::new(Some(ctx.run.hash_cache()));
    let base = ctx.config.file.parent().unwrap_or(std::path::Path::new(""));
    let mut reference = Vec::new();
    let mut reference_hash = BTreeMap::new();
    for (key, f) in &ctx.config.reference_files {
        let rec = hasher.record(&f.path, manifest::relative_to(&f.path, base))?;
        reference_hash.insert(*key, rec.blake3.clone());
        reference.push(rec);
    }
    let inputs = input_records(&ctx.config, &mut hasher)?;

    // Fingerprints, and the plan against the previous run's manifest.
    let previous = manifest::Manifest::read(ctx.run.root()).ok();
    ctx.previous_rows_kept = previous
        .as_ref()
        .map(manifest::Manifest::rows_kept_baseline)
        .unwrap_or_default();
    let mut fingerprints: BTreeMap<&str, String> = BTreeMap::new();
    let mut all_parts: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut plan = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let d = stage.declaration();
        let own = stage.own_inputs(&mut Fingerprint {
            config: &ctx.config,
            inputs: &inputs,
            reference: &reference_hash,
            hasher: &mut hasher,
        })?;
        let parts = fingerprint_parts(&own);
        let upstream: Vec<&String> = d.reads.iter().map(|u| &fingerprints[u.name]).collect();
        let fp = blake3::hash(
            &serde_json::to_vec(&serde_json::json!({
                "recours": recours_version(),
                "stage": stage.name(),
                "inputs": own,
                "upstream": upstream,
            }))
            .unwrap_or_default(),
        )
        .to_hex()
        .to_string();
        let prev = previous
            .as_ref()
            .and_then(|m| m.stages.iter().find(|s| s.name == stage.name()));
        let up_to_date = prev.is_some_and(|p| {
            p.status == "done" && p.fingerprint == fp && outputs_intact(p, &ctx.run, &mut hasher)
        });
        let p = if to.is_some_and(|t| i > t) {
            Plan::NotRun { stale: !up_to_date }
        } else if opts.force {
            Plan::Run("--force".into())
        } else if from.is_some_and(|f| i >= f) {
            Plan::Run(format!("--from {}", opts.from.as_deref().unwrap_or("")))
        } else if up_to_date {
            Plan::Keep
        } else {
            Plan::Run(match prev {
                None => "not run before in this folder".into(),
                Some(p) if p.status != "done" => format!("{} in the previous run", p.status),
                Some(p) if p.fingerprint != fp => {
                    let changed: Vec<&str> = d
                        .reads
                        .iter()
                        .map(|u| u.name)
                        .filter(|u| {
                            previous
                                .as_ref()
                                .and_then(|m| m.stages.iter().find(|s| s.name == *u))
                                .is_none_or(|s| s.fingerprint != fingerprints[u])
                        })
                        .collect();
                    let own_changes = changed_parts(&p.fingerprint_parts, &parts);
                    match (changed.is_empty(), own_changes) {
                        (_, Some(own)) if !own.is_empty() => own.join("; "),
                        (false, _) => format!("reads {}, which changed", changed.join(" and ")),
                        // Parts recorded and equal: what changed is not among them.
                        (true, Some(_)) => "its fingerprint changed".into(),
                        (true, None) => {
                            "its configuration section, its input files or recours' version \
                             changed (the previous run recorded no detail)"
                                .into()
                        }
                    }
                }
                Some(_) => "its outputs are missing or were changed".into(),
            })
        };
        fingerprints.insert(stage.name(), fp);
        all_parts.insert(stage.name(), parts);
        plan.push(p);
    }
    // The run id printed in the lists' read-me, the report and the model cards: the run
    // month and the lists stage's fingerprint, which covers everything the lists depend on
    // (and no path), so a kept stage never carries another run's id.
    ctx.run_id = format!(
        "{}-{}",
        ctx.config.month,
        &fingerprints[lists::STAGE.name][..12]
    );
    let mut plan_lines = vec!["plan:".to_string()];
    for (stage, p) in stages.iter().zip(&plan) {
        let line = match p {
            Plan::Run(why) => format!("run   ({why})"),
            Plan::Keep => "keep  (up to date)".into(),
            Plan::NotRun { stale: true } => {
                "skip  (after --to; earlier outputs removed as out of date)".into()
            }
            Plan::NotRun { stale: false } => "skip  (after --to; up to date)".into(),
        };
        plan_lines.push(format!("  {:<12} {line}", stage.name()));
    }
    for l in &plan_lines {
        eprintln!("{l}");
    }
    if opts.dry_run {
        return Ok(());
    }

    std::fs::create_dir_all(ctx.run.root()).map_err(RecoursError::io(format!(
        "creating {}",
        ctx.run.root().display()
    )))?;
    // The run log: appended to by every run in this folder.
    let log = ctx.run.run_log();
    progress::open_log(&log).map_err(RecoursError::io(format!("opening {}", log.display())))?;
    progress::event(
        "run",
        &format!(
            "recours {} — run month {} — run id {}",
            recours_version(),
            ctx.config.month,
            ctx.run_id
        ),
    );
    for l in &plan_lines {
        progress::event("run", l);
    }
    // Closed whichever way the run ends.
    let _log = progress::LogGuard;
    // Stage outputs being replaced are no longer recorded as done before they are removed:
    // a run stopped at any point leaves a manifest that claims only finished outputs.
    let partial = ctx.run.staging();
    remove_path(&partial)?;
    let mut records: Vec<manifest::StageRecord> = stages
        .iter()
        .zip(&plan)
        .map(|(stage, p)| {
            let kept = previous
                .as_ref()
                .and_then(|m| m.stages.iter().find(|s| s.name == stage.name()))
                .filter(|_| matches!(p, Plan::Keep | Plan::NotRun { stale: false }));
            match kept {
                Some(prev) => manifest::StageRecord {
                    reused: true,
                    ..prev.clone()
                },
                None => manifest::StageRecord {
                    name: stage.name().into(),
                    status: if matches!(p, Plan::Run(_)) {
                        "pending"
                    } else {
                        "not run"
                    }
                    .into(),
                    summary: String::new(),
                    seconds: 0.0,
                    outputs: Vec::new(),
                    fingerprint: fingerprints[stage.name()].clone(),
                    fingerprint_parts: all_parts[stage.name()].clone(),
                    reused: false,
                },
            }
        })
        .collect();
    let write_manifest = |ctx: &RunContext, records: &[manifest::StageRecord]| -> Result<()> {
        let m = manifest_of(
            ctx,
            &config_hash,
            &reference,
            &inputs,
            previous.as_ref(),
            records,
        );
        output::write_json(&ctx.run.manifest(), &m)
    };
    // The outputs of the stages that run again are recorded as recours' before the
    // manifest stops listing them, so a run killed while removing them leaves none that
    // the next run does not know.
    let mut written = ownership::Written::read(&ctx.run);
    let replaced = |p: &Plan| !matches!(p, Plan::Keep | Plan::NotRun { stale: false });
    written.add(
        previous
            .iter()
            .flat_map(|m| &m.stages)
            .filter(|s| {
                stages
                    .iter()
                    .zip(&plan)
                    .any(|(stage, p)| stage.name() == s.name && replaced(p))
            })
            .flat_map(|s| s.outputs.iter().map(|o| o.path.clone())),
    )?;
    write_manifest(&ctx, &records)?;
    let removable = written.files().clone();
    for (stage, p) in stages.iter().zip(&plan) {
        if replaced(p) {
            for o in stage.declaration().outputs {
                remove_output(&ctx.run, o, &removable)?;
            }
        }
    }
    written.prune(&ctx.run)?;

    let total = plan.iter().filter(|p| matches!(p, Plan::Run(_))).count();
    let mut done = 0;
    let mut failure = None;
    let failpoint_at = std::env::var(FAILPOINT_ENV).ok();
    for (i, stage) in stages.iter().enumerate() {
        if !matches!(plan[i], Plan::Run(_)) {
            continue;
        }
        done += 1;
        say(
            stage.name(),
            &format!(
                "[{done}/{total}] {}: {}",
                stage.name(),
                stage.declaration().describe
            ),
        );
        let t = Instant::now();
        ctx.out = ctx.run.staging_for(stage.name());
        let mut outcome = Ok(String::new());
        ctx.keep_only(stage.declaration().needs);
        for need in stage.declaration().needs {
            if let Err(e) = ctx.ensure(*need) {
                outcome = Err(e);
                break;
            }
        }
        if outcome.is_ok() {
            outcome = stage.run(&mut ctx);
        }
        crate::io::trace::trace_memory(stage.name());
        failpoint(
            failpoint_at.as_deref(),
            stage.name(),
            "before its outputs are moved into place",
        );
        // A stage's outputs reach their final names only when it has finished; the quality
        // report and rejects of an ingest stopped by bad data are kept for the user to read.
        let keep_outputs = outcome.is_ok()
            || (stage.name() == ingest::STAGE.name
                && matches!(outcome, Err(RecoursError::Rejected(_))));
        let mut outputs = Vec::new();
        // What the stage wrote, not what else is in its folders once they are moved in:
        // recorded as recours' before it is moved, forgotten there once the manifest lists it.
        let mut moved = Vec::new();
        if keep_outputs {
            moved = staged_files(&ctx.out, stage.declaration().outputs);
            written.add(moved.iter().cloned())?;
            move_staged(&ctx.out, &ctx.run, stage.declaration().outputs)?;
            failpoint(
                failpoint_at.as_deref(),
                &format!("{}:moved", stage.name()),
                "after its outputs are moved into place, before the manifest lists them",
            );
            if outcome.is_ok() {
                for rel in &moved {
                    let f = ctx.run.root().join(rel);
                    let mut record = hasher.record(&f, rel.clone())?;
                    record.rows = crate::io::frame::parquet_rows(&f);
                    outputs.push(record);
                }
            }
        }
        remove_path(ctx.out.root())?;
        let seconds = t.elapsed().as_secs_f64();
        let (status, summary) = match &outcome {
            Ok(s) => ("done", s.clone()),
            Err(e) => ("failed", e.to_string()),
        };
        records[i] = manifest::StageRecord {
            name: stage.name().into(),
            status: status.into(),
            summary: summary.clone(),
            seconds,
            outputs,
            fingerprint: fingerprints[stage.name()].clone(),
            fingerprint_parts: all_parts[stage.name()].clone(),
            reused: false,
        };
        write_manifest(&ctx, &records)?;
        if outcome.is_ok() {
            written.forget(&moved)?;
        }
        match outcome {
            Ok(_) => say(
                stage.name(),
                &format!(
                    "[{done}/{total}] {} done in {seconds:.1} s: {summary}",
                    stage.name()
                ),
            ),
            Err(e) => {
                progress::event(stage.name(), &format!("failed after {seconds:.1} s: {e}"));
                failure = Some(e);
                break;
            }
        }
    }
    remove_path(&partial)?;
    hasher.save();
    if let Some(e) = failure {
        return Err(e);
    }
    say(
        "run",
        &format!("run finished in {:.1} s", start.elapsed().as_secs_f64()),
    );
    for line in end_summary(&ctx.run) {
        say("run", &format!("  {line}"));
    }
    Ok(())
}

/// What the operator looks at after a run: where the lists are and how many caisses have
/// someone to contact, where the report is, the manifest.
pub(crate) fn end_summary(run: &RunFolder) -> Vec<String> {
    let mut lines = Vec::new();
    if run.decisions().exists() {
        match lists::decisions::Decisions::read(run) {
            Ok(d) => {
                let caisses: std::collections::BTreeSet<&str> = d.caisse.iter().copied().collect();
                let non_empty: std::collections::BTreeSet<&str> =
                    d.listed_ids.iter().map(|(i, _)| d.caisse[*i]).collect();
                lines.push(format!(
                    "lists: {} people in {} non-empty lists out of {} caisses, in {}",
                    d.listed_ids.len(),
                    non_empty.len(),
                    caisses.len(),
                    run.lists().display()
                ));
            }
            Err(e) => lines.push(format!("lists: in {} ({e})", run.lists().display())),
        }
    }
    let report = run.report_index();
    if report.exists() {
        lines.push(format!("report: {}", report.display()));
    }
    lines.push(format!("manifest: {}", run.manifest().display()));
    lines
}

/// The parts of a stage's own inputs, each hashed (16 hex): the top-level keys of
/// `own_inputs`, and one level further inside a key that holds an object (a configuration
/// section's keys, the input tables), so that the plan can name the key that changed.
fn fingerprint_parts(own: &serde_json::Value) -> BTreeMap<String, String> {
    let hash = |v: &serde_json::Value| {
        blake3::hash(&serde_json::to_vec(v).unwrap_or_default()).to_hex()[..16].to_string()
    };
    let mut parts = BTreeMap::from([("recours".to_string(), hash(&recours_version().into()))]);
    if let serde_json::Value::Object(top) = own {
        for (k, v) in top {
            match v {
                serde_json::Value::Object(inner) if !inner.is_empty() => {
                    for (k2, v2) in inner {
                        parts.insert(format!("{k}.{k2}"), hash(v2));
                    }
                }
                _ => {
                    parts.insert(k.clone(), hash(v));
                }
            }
        }
    } else if !own.is_null() {
        parts.insert("inputs".into(), hash(own));
    }
    parts
}

/// What changed between the parts a previous run recorded and this run's, in words;
/// `None` when the previous run recorded none.
fn changed_parts(
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    if before.is_empty() {
        return None;
    }
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    Some(
        keys.into_iter()
            .filter(|k| before.get(*k) != now.get(*k))
            .map(|k| describe_part(k))
            .collect(),
    )
}

fn describe_part(key: &str) -> String {
    match key.split_once('.') {
        _ if key == "recours" => "recours' version changed".into(),
        _ if key == "month" => "the run month changed".into(),
        Some(("inputs", table)) => {
            format!("input table {table} changed (its files or their content)")
        }
        None if matches!(key, "departements" | "caisses" | "baremes") => {
            format!("reference file {key} changed")
        }
        Some((section, k)) => format!("configuration [{section}] {k} changed"),
        None => format!("configuration [{key}] changed"),
    }
}

fn manifest_of(
    ctx: &RunContext,
    config_hash: &str,
    reference: &[manifest::FileRecord],
    inputs: &[InputRead],
    previous: Option<&manifest::Manifest>,
    records: &[manifest::StageRecord],
) -> manifest::Manifest {
    let q = ctx.quality.as_ref();
    // Row accounting comes from this run's ingest, or from the run whose ingest is kept.
    let ingest_kept = records
        .iter()
        .any(|r| r.name == ingest::STAGE.name && r.reused);
    let ingest_done = records
        .iter()
        .any(|r| r.name == ingest::STAGE.name && r.status == "done");
    let mut m = manifest::Manifest {
        schema_version: manifest::MANIFEST_SCHEMA_VERSION,
        recours_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: option_env!("RECOURS_GIT_COMMIT").map(str::to_string),
        source_hash: env!("RECOURS_SOURCE_HASH").to_string(),
        run_id: ctx.run_id.clone(),
        config_file: std::path::absolute(&ctx.config.file)
            .unwrap_or(ctx.config.file.clone())
            .display()
            .to_string(),
        config_hash: config_hash.to_string(),
        config: ctx.config.as_written().clone(),
        reference: reference.to_vec(),
        inputs: inputs
            .iter()
            .map(|i| {
                let table = &i.table;
                let counts = match (q.and_then(|q| q.tables.get(table.as_str())), previous) {
                    (Some(t), _) => (t.rows_in, t.rows_kept, t.rows_rejected),
                    (None, Some(m)) if ingest_kept => m
                        .inputs
                        .iter()
                        .find(|i| &i.table == table)
                        .map_or((0, 0, 0), |i| (i.rows_in, i.rows_kept, i.rows_rejected)),
                    _ => (0, 0, 0),
                };
                manifest::InputRecord {
                    rows_in: counts.0,
                    rows_kept: counts.1,
                    rows_rejected: counts.2,
                    table: table.clone(),
                    files: i.files.clone(),
                    parts: i.parts.clone(),
                    schema_hash: i.schema_hash.clone(),
                }
            })
            .collect(),
        seeds: [
            ("training".to_string(), ctx.config.train_config().seed),
            ("lists".to_string(), ctx.config.lists.seed),
        ]
        .into(),
        models: SCORED
            .iter()
            .filter_map(|b| manifest::model_digest(&ctx.run, b).map(|d| (b.to_string(), d)))
            .collect(),
        stages: records.to_vec(),
        rows_kept_baseline: BTreeMap::new(),
        volatile_fields: vec![
            "stages[].seconds".into(),
            "stages[].reused".into(),
            "stages[].summary".into(),
            "config_file".into(),
        ],
    };
    // The baseline moves only with an ingest that passed.
    m.rows_kept_baseline = if ingest_done {
        m.inputs
            .iter()
            .map(|i| (i.table.clone(), i.rows_kept))
            .collect()
    } else {
        previous
            .map(manifest::Manifest::rows_kept_baseline)
            .unwrap_or_default()
    };
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_reads_only_stages_before_it_and_names_are_unique() {
        let all = stages();
        for (i, s) in all.iter().enumerate() {
            let d = s.declaration();
            assert!(
                all[..i].iter().all(|e| e.name() != d.name),
                "{} is declared twice",
                d.name
            );
            for r in d.reads {
                assert!(
                    all[..i].iter().any(|e| e.name() == r.name),
                    "{} reads {}, which does not run before it",
                    d.name,
                    r.name
                );
            }
        }
    }
}
