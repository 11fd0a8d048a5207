//! `recours run`: the stages, in order, into the run folder. A stage is a value of
//! [`Stage`]; adding a stage is adding a module and a line to [`stages`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::BTreeMap;

use rayon::prelude::*;
use recours_models::train::ModelArtefact;

use crate::config::RunConfig;
use crate::domain::contract::SCORED;
use crate::stages::eligibility::estimate::EligibilityRow;
use crate::stages::eligibility::estimate::{self as eligibility, EligibilityConfig};
use crate::error::{RecoursError, Result};
use crate::stages::evaluate::truth as evaluation;
use crate::stages::features::dictionary::{self as features, FeatureTable};
use crate::stages::eligibility::household::Households;
use crate::stages::ingest::{self, Extracts};
use crate::stages::train::training;
use crate::tables::manifest;
use crate::io::output;

/// What the stages share during a run.
pub struct RunContext {
    pub config: RunConfig,
    /// The run folder: outputs of finished stages, read by later stages.
    pub run_dir: PathBuf,
    /// Where the running stage writes: `RUN/.partial/<stage>/`, moved into the run folder
    /// when the stage has finished.
    pub out: PathBuf,
    pub extracts: Option<Extracts>,
    pub households: Option<Households>,
    pub eligibility: Option<Vec<EligibilityRow>>,
    pub features: Option<FeatureTable>,
    pub models: BTreeMap<&'static str, ModelArtefact>,
    pub scores: Option<Vec<crate::stages::lists::select::ScoreRow>>,
    pub quality: Option<crate::stages::ingest::QualityReport>,
    /// Identifies the run in the lists' read-me: the run month and a digest of the config.
    pub run_id: String,
}

/// What a stage reads in memory; when the stage that makes it was skipped (up to date), it
/// is read back from that stage's outputs in the run folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Extracts,
    Households,
    Eligibility,
    Features,
    Models,
    Scores,
}

/// Bytes of feature values under which the feature table stays whole in memory through
/// the stages that do not read it (see `RunContext::keep_only`).
const KEEP_FEATURES_BELOW: usize = 1 << 30;

impl RunContext {
    pub fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T> {
        v.as_ref()
            .ok_or_else(|| RecoursError::Internal(format!("{what} is needed but was not produced")))
    }

    /// The tables read only to assemble the households are dropped from memory once they
    /// are (the train stage reads them back for a learning month other than the run's).
    fn release_household_tables(&mut self) {
        if let Some(x) = &mut self.extracts {
            x.release_household_tables();
        }
    }

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
        // it back cost 1 s of a 1 M run); a large one keeps its ids and rows' persons but
        // not its values (2.5 GB at 10 M, at the lists stage's peak), read back when needed.
        let models_to_read = needs.contains(&Need::Models) && self.models.is_empty();
        if !needs.contains(&Need::Features) && !models_to_read {
            if let Some(f) = self.features.as_mut() {
                if f.values.len() * std::mem::size_of::<f64>() >= KEEP_FEATURES_BELOW {
                    f.release_values();
                }
            }
        }
        if !needs.contains(&Need::Scores) {
            self.scores = None;
        }
    }

    /// Makes `need` available, reading it back from the run folder when an earlier run
    /// produced it.
    pub fn ensure(&mut self, need: Need) -> Result<()> {
        let dir = self.run_dir.clone();
        match need {
            Need::Extracts if self.extracts.is_none() => {
                self.extracts = Some(Extracts::load(&dir.join("ingest"))?);
            }
            Need::Households if self.households.is_none() => {
                // Assembled again (a resumed run): the peak of such a run. What a stage can
                // read back from its output is dropped first (the needs listed after the
                // households read it back): 10.8 GiB instead of 14.8 at 10 M people.
                self.eligibility = None;
                self.features = None;
                self.scores = None;
                self.ensure(Need::Extracts)?;
                let x = self
                    .extracts
                    .as_mut()
                    .ok_or_else(|| RecoursError::Internal("ingest was not read".into()))?;
                let histories = x.histories.take();
                self.households = Some(Households::assemble(x, self.config.month, histories)?);
                self.release_household_tables();
            }
            Need::Eligibility if self.eligibility.is_none() => {
                self.eligibility = Some(eligibility::read(&dir.join("eligibility.parquet"))?);
            }
            Need::Features if self.features.is_none() => {
                self.features = Some(FeatureTable::read(
                    &dir.join("features.parquet"),
                    self.config.month,
                )?);
            }
            Need::Features if self.features.as_ref().is_some_and(|f| !f.has_values()) => {
                if let Some(f) = self.features.as_mut() {
                    f.read_values(&dir.join("features.parquet"))?;
                }
            }
            Need::Models if self.models.is_empty() => {
                self.ensure(Need::Features)?;
                let names = Self::need(&self.features, "features")?.names.clone();
                for b in SCORED {
                    let path = dir.join("models").join(format!("{b}.json"));
                    if path.exists() {
                        self.models
                            .insert(b, training::load_artefact(&path, b, &names)?);
                    }
                }
            }
            Need::Scores if self.scores.is_none() => {
                let df = crate::io::frame::read_parquet(&dir.join("scores.parquet"))?;
                self.scores = Some(crate::stages::lists::scores_from_frame(&df)?);
            }
            _ => {}
        }
        Ok(())
    }
}

pub trait Stage {
    fn name(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    /// Runs the stage; returns a one-line summary for the progress display.
    fn run(&self, ctx: &mut RunContext) -> Result<String>;
}

pub struct Ingest;

impl Stage for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }
    fn describe(&self) -> &'static str {
        "read and check every extract against the data contract"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let mut ingested = ingest::ingest(&ctx.config, &ctx.out)?;
        eprint!("{}", ingested.summary());
        ingested.write(&ctx.run_dir)?;
        let q = &ingested.quality;
        let (kept, rejected): (u64, u64) = q
            .tables
            .values()
            .fold((0, 0), |(k, r), t| (k + t.rows_kept, r + t.rows_rejected));
        let mut extracts = ingested.extracts;
        // Read from where the stage's outputs are moved when it finishes.
        extracts.ressources = Some(
            ctx.run_dir
                .join("ingest")
                .join(format!("{}.parquet", ingest::STREAMED)),
        );
        ctx.extracts = Some(extracts);
        ctx.quality = Some(ingested.quality);
        Ok(format!("{kept} rows kept, {rejected} rejected"))
    }
}

pub struct Eligibility;

impl Stage for Eligibility {
    fn name(&self) -> &'static str {
        "eligibility"
    }
    fn describe(&self) -> &'static str {
        "RSA, PPA and ASPA entitlements estimated from BRM, RNCPS and the barèmes in force"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let extracts = ctx
            .extracts
            .as_mut()
            .ok_or_else(|| RecoursError::Internal("eligibility runs after ingest".into()))?;
        // The resources the ingest stage added up in this run (none when it was skipped).
        let histories = extracts.histories.take();
        let households = Households::assemble(extracts, ctx.config.month, histories)?;
        ctx.release_household_tables();
        let cfg = &ctx.config;
        let ecfg = EligibilityConfig {
            quarters: cfg.quarters(),
            ppa_params: cfg.baremes.ppa_quarter(cfg.month, cfg.quarters().rsa_ppa)?,
            deterministic_min_amount: cfg.raw.eligibility.deterministic_min_amount,
        };
        let t0 = std::time::Instant::now();
        let rows = eligibility::estimate_all(&households, &cfg.bareme, &ecfg);
        ingest::trace("eligibility: estimates", t0);
        let t0 = std::time::Instant::now();
        output::write_parquet_in_batches(&ctx.out.join("eligibility.parquet"), rows.len(), |r| {
            eligibility::to_frame(&rows[r])
        })?;
        ingest::trace("eligibility: written", t0);
        let mut counts = std::collections::BTreeMap::new();
        for r in &rows {
            let c: &mut (usize, usize, usize) = counts.entry(r.prestation).or_default();
            c.0 += 1;
            c.1 += usize::from(r.montant_estime > 0.0 && !r.recoit);
            c.2 += usize::from(r.candidat_deterministe);
        }
        ctx.households = Some(households);
        ctx.eligibility = Some(rows);
        Ok(counts
            .iter()
            .map(|(p, (n, e, d))| format!("{p}: {n} scorable, {e} estimated eligible not receiving, {d} deterministic candidates"))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

pub struct Features;

impl Stage for Features {
    fn name(&self) -> &'static str {
        "features"
    }
    fn describe(&self) -> &'static str {
        "features of everyone in a benefit's scoring population"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let f = &ctx.config.raw.features;
        let selection = features::select(&f.exclude, &f.allow_protected);
        let extracts = RunContext::need(&ctx.extracts, "ingest")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let rows = RunContext::need(&ctx.eligibility, "eligibility")?;
        let t0 = Instant::now();
        let table = features::compute(
            households,
            rows,
            &features::contact_signals(extracts, households)?,
            &selection.active,
        );
        ingest::trace("features: computed", t0);
        let t0 = Instant::now();
        output::write_parquet_in_batches(&ctx.out.join("features.parquet"), table.len(), |r| {
            table.to_frame(r)
        })?;
        ingest::trace("features: written", t0);
        output::write_json(&ctx.out.join("features-selection.json"), &selection)?;
        let summary = format!(
            "{} rows, {} features ({} left out)",
            table.len(),
            selection.active.len(),
            selection.excluded.len()
        );
        ctx.features = Some(table);
        Ok(summary)
    }
}

pub struct Train;

impl Stage for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn describe(&self) -> &'static str {
        "one logistic model per benefit on the learning table (or reuse of named artefacts)"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let table = RunContext::need(&ctx.features, "features")?;
        let cfg = &ctx.config;
        let reuse = &cfg.raw.training.reuse;
        let to_train: Vec<&'static str> = SCORED
            .iter()
            .copied()
            .filter(|b| !reuse.contains_key(*b))
            .collect();
        let mut summary = Vec::new();
        let mut learning = BTreeMap::new();
        if !to_train.is_empty() {
            let extracts = RunContext::need(&ctx.extracts, "ingest")?;
            let t0 = Instant::now();
            let (sets, uses) = training::learning_sets(extracts, cfg, table)?;
            crate::stages::ingest::trace("train: learning sets", t0);
            // The benefits' models are independent: trained side by side, looked at in
            // benefit order (the first failure in that order is the one reported).
            let trained: Vec<Result<_>> = to_train
                .par_iter()
                .map(|b| training::train_benefit(b, &sets[b], &table.names, cfg))
                .collect();
            for (b, a) in to_train.iter().zip(trained) {
                let a = a?;
                summary.push(format!(
                    "{b}: {} labels, alpha {}, test AUC {:.3} (entitlement alone {:.3})",
                    a.training_data.rows,
                    a.alpha,
                    a.metrics.test.auc.unwrap_or(f64::NAN),
                    a.metrics.test_auc_eligibility_only.unwrap_or(f64::NAN)
                ));
                ctx.models.insert(b, a);
            }
            let (history, baremes) = uses.values().fold((0, 0), |(h, b), u| {
                (h + u.outside_resource_history, b + u.outside_baremes)
            });
            if history + baremes > 0 {
                summary.push(format!(
                    "{} labels left out ({history} at months whose twelve months before are not \
                     all in the resources extract, {baremes} at months without barèmes in force): see \
                     models/learning-table-use.json",
                    history + baremes
                ));
            }
            learning = uses;
        }
        for (b, path) in reuse {
            let benefit = SCORED
                .iter()
                .copied()
                .find(|s| s == b)
                .expect("checked by the config");
            let a = training::load_artefact(&cfg.resolve(path), benefit, &table.names)?;
            summary.push(format!("{b}: reused {path}"));
            ctx.models.insert(benefit, a);
        }
        for (b, a) in &ctx.models {
            output::write_json(&ctx.out.join("models").join(format!("{b}.json")), a)?;
        }
        output::write_json(
            &ctx.out.join("models").join("learning-table-use.json"),
            &learning,
        )?;
        Ok(summary.join("; "))
    }
}

pub struct Evaluate;

impl Stage for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    fn describe(&self) -> &'static str {
        "fairness audit by group; scores and lists against the ground truth when one is named (synthetic data)"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let cfg = &ctx.config;
        let e = &cfg.raw.evaluation;
        let table = RunContext::need(&ctx.features, "features")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let t0 = Instant::now();
        // Of the eligibility rows, only what the audit groups by (not every row whole).
        let rows = eligibility::read_foyer_facts(&ctx.run_dir.join("eligibility.parquet"))?;
        let listed = crate::stages::report::listed(&ctx.run_dir)?;
        // The only place `verite` is read.
        let truth = match &e.verite {
            Some(v) => Some((file_name(v), evaluation::read_verite(&cfg.resolve(v))?)),
            None => None,
        };
        ingest::trace("evaluate: eligibility facts, lists and truth read", t0);
        let t0 = Instant::now();
        let mut summary = Vec::new();
        if let Some((label, truth)) = &truth {
            let report = evaluation::evaluate(truth, label, table, &ctx.models);
            output::write_json(&ctx.out.join("evaluation.json"), &report)?;
            ingest::trace("evaluate: against the truth", t0);
            summary.extend(report.benefits.iter().map(|(b, e)| {
                format!(
                    "{b}: AUC {:.3} (entitlement alone {:.3}), base rate {:.1} %",
                    e.model.auc.unwrap_or(f64::NAN),
                    e.auc_eligibility_only.unwrap_or(f64::NAN),
                    100.0 * e.base_rate
                )
            }));
        }
        let extracts = RunContext::need(&ctx.extracts, "ingest")?;
        let outcomes = crate::stages::lists::feedback::outcomes(extracts)?;
        let audit = crate::stages::evaluate::fairness::audit(
            households,
            &rows,
            table,
            &listed,
            truth.as_ref().map(|(l, t)| (l.as_str(), t)),
            &outcomes,
            e.recall_margin,
            e.min_cell,
        );
        output::write_json(&ctx.out.join("fairness.json"), &audit)?;
        ingest::trace("evaluate: fairness", t0);
        let flags: usize = audit
            .benefits
            .values()
            .map(|r| r.iter().filter(|g| g.alerte).count())
            .sum();
        summary.push(format!(
            "fairness audit: {} groups, {flags} flagged{}",
            audit.benefits.values().map(Vec::len).sum::<usize>(),
            if truth.is_none() {
                " (no ground truth: shares only)"
            } else {
                ""
            }
        ));
        Ok(summary.join("; "))
    }
}

pub fn stages() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(Ingest),
        Box::new(Eligibility),
        Box::new(Features),
        Box::new(Train),
        Box::new(crate::stages::lists::Score),
        Box::new(crate::stages::lists::Lists),
        Box::new(Evaluate),
        Box::new(crate::stages::report::Report),
    ]
}

/// What a stage reads and writes: the stages whose outputs it reads (their fingerprints
/// are part of its own), what it needs in memory, and the files and folders of the run
/// folder it writes.
pub struct StageDeps {
    pub upstream: &'static [&'static str],
    pub needs: &'static [Need],
    pub outputs: &'static [&'static str],
}

pub fn deps(name: &str) -> StageDeps {
    use Need::*;
    let (upstream, needs, outputs): (&[&str], &[Need], &[&str]) = match name {
        "ingest" => (&[], &[], &["quality.json", "rejects", "ingest"]),
        "eligibility" => (&["ingest"], &[Extracts], &["eligibility.parquet"]),
        "features" => (
            &["ingest", "eligibility"],
            &[Extracts, Households, Eligibility],
            &["features.parquet", "features-selection.json"],
        ),
        "train" => (&["ingest", "features"], &[Extracts, Features], &["models"]),
        "evaluate" => (
            &["ingest", "eligibility", "features", "train", "lists"],
            &[Extracts, Households, Features, Models],
            &["evaluation.json", "fairness.json"],
        ),
        "report" => (
            &[
                "ingest",
                "eligibility",
                "features",
                "train",
                "score",
                "lists",
                "evaluate",
            ],
            &[Features, Models],
            &["report", "notebooks-export"],
        ),
        "score" => (
            &["features", "train"],
            &[Features, Models],
            &["scores.parquet"],
        ),
        "lists" => (
            &["ingest", "eligibility", "train", "score"],
            &[Extracts, Households, Models, Scores],
            &["lists"],
        ),
        _ => (&[], &[], &[]),
    };
    StageDeps {
        upstream,
        needs,
        outputs,
    }
}

/// Files and folders of the run folder each stage writes (for the manifest).
pub fn stage_outputs(name: &str) -> &'static [&'static str] {
    deps(name).outputs
}

/// An input table as read before any stage: its files with their hashes, each file's path
/// inside the input (partitions), and its schema hash.
pub struct InputRead {
    pub table: String,
    pub files: Vec<manifest::FileRecord>,
    pub parts: Vec<String>,
    pub schema_hash: String,
}

fn input_records(cfg: &RunConfig, hasher: &mut manifest::Hasher) -> Result<Vec<InputRead>> {
    let base = cfg.file.parent().unwrap_or(std::path::Path::new(""));
    let mut out = Vec::new();
    for input in &cfg.inputs {
        let files = ingest::source_files(input)?;
        let mut records = Vec::new();
        for f in &files {
            records.push(hasher.record(f, manifest::relative(f, base))?);
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

/// The file name of a configured path: what outputs print of it (never the folder).
pub fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

fn value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// What, besides the stages it reads, a stage's result depends on: its section of the
/// configuration and the content (not the path) of the files it reads directly. Paths and
/// the run folder are left out, so that a run moved to another folder is still up to date.
fn own_inputs(
    name: &str,
    cfg: &RunConfig,
    inputs: &[InputRead],
    reference: &BTreeMap<&str, String>,
    hasher: &mut manifest::Hasher,
) -> Result<serde_json::Value> {
    use serde_json::json;
    let raw = &cfg.raw;
    // A file's BLAKE3; a folder (a sharded table): BLAKE3 of its files' names and hashes.
    let mut file_hash = |path: &str| -> Result<String> {
        let full = cfg.resolve(path);
        if full.is_file() {
            return Ok(hasher.record(&full, path.into())?.blake3);
        }
        if !full.is_dir() {
            return Err(RecoursError::Config {
                file: full,
                message: "no such file or folder".into(),
            });
        }
        let mut h = blake3::Hasher::new();
        for f in crate::tables::manifest::files_at(&full) {
            let name = crate::tables::manifest::relative(&f, &full);
            h.update(name.as_bytes());
            h.update(hasher.record(&f, name.clone())?.blake3.as_bytes());
        }
        Ok(h.finalize().to_hex().to_string())
    };
    Ok(match name {
        "ingest" => {
            let tables: BTreeMap<&str, serde_json::Value> = inputs
                .iter()
                .map(|i| {
                    let spec = &raw.inputs[i.table.as_str()];
                    let hashes: Vec<&str> = i.files.iter().map(|f| f.blake3.as_str()).collect();
                    let v = json!({
                        "format": spec.format,
                        "separator": spec.separator,
                        "decimal_comma": spec.decimal_comma,
                        "files": i.parts,
                        "blake3": hashes,
                        "schema": i.schema_hash,
                    });
                    (i.table.as_str(), v)
                })
                .collect();
            json!({
                "month": raw.month,
                "validation": value(&raw.validation),
                "inputs": tables,
                "departements": reference["departements"],
                "caisses": reference["caisses"],
            })
        }
        "eligibility" => json!({
            "month": raw.month,
            "eligibility": value(&raw.eligibility),
            "baremes": reference["baremes"],
        }),
        "features" => json!({ "features": value(&raw.features) }),
        "train" => {
            let mut t = value(&raw.training);
            let mut reused = BTreeMap::new();
            for (b, path) in &raw.training.reuse {
                reused.insert(b.clone(), file_hash(path)?);
            }
            t["reuse"] = json!(reused);
            json!({ "training": t, "features": value(&raw.features) })
        }
        "evaluate" => {
            let verite = match &raw.evaluation.verite {
                Some(p) => Some(file_hash(p)?),
                None => None,
            };
            json!({
                "verite": verite,
                "verite_name": raw.evaluation.verite.as_deref().map(file_name),
                "recall_margin": raw.evaluation.recall_margin,
                "min_cell": raw.evaluation.min_cell,
            })
        }
        "report" => {
            // The previous run as the report reads it: its id, models and list decisions
            // (not its timings, which change when it is merely resumed).
            let previous = match &raw.report.previous {
                Some(p) => {
                    let m = manifest::Manifest::read(&cfg.resolve(p))?;
                    let lists: Vec<&manifest::FileRecord> = m
                        .outputs()
                        .into_iter()
                        .filter(|o| o.path == "lists/decisions.parquet")
                        .collect();
                    Some(json!({ "run_id": m.run_id, "models": m.models, "lists": lists }))
                }
                None => None,
            };
            json!({ "previous": previous })
        }
        "lists" => json!({
            "lists": value(&raw.lists),
            "departements": reference["departements"],
            "caisses": reference["caisses"],
        }),
        _ => serde_json::Value::Null,
    })
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

/// Moves the `outputs` found in `staged` into `run_dir`, replacing what is there.
fn move_staged(staged: &Path, run_dir: &Path, outputs: &[&str]) -> Result<()> {
    for o in outputs {
        let from = staged.join(o);
        if from.exists() {
            let dest = run_dir.join(o);
            remove_path(&dest)?;
            std::fs::rename(&from, &dest).map_err(RecoursError::io(format!(
                "moving {} to {}",
                from.display(),
                dest.display()
            )))?;
        }
    }
    Ok(())
}

/// `recours validate`: the ingest stage's checks and outputs (quality report, rejects,
/// `ingest/`) without the rest of the run, staged like a stage of `run`: written under
/// `RUN/.partial/validate/` and moved into the run folder when done (the quality report and
/// rejects also when the data is rejected), so that a stopped or killed validation leaves
/// no mix of this run's and an earlier run's files.
pub fn validate(cfg: &RunConfig) -> Result<()> {
    let run_dir = cfg.output.clone();
    let staged = run_dir.join(".partial").join("validate");
    remove_path(&staged)?;
    let outcome = crate::stages::ingest::ingest(cfg, &staged).and_then(|mut ingested| {
        eprint!("{}", ingested.summary());
        ingested.write(&run_dir)
    });
    let kept = match &outcome {
        Ok(()) => move_staged(&staged, &run_dir, stage_outputs("ingest")),
        Err(RecoursError::Rejected(_)) => {
            move_staged(&staged, &run_dir, &["quality.json", "rejects"])
        }
        Err(_) => Ok(()),
    };
    remove_path(&staged)?;
    let partial = run_dir.join(".partial");
    if partial.read_dir().is_ok_and(|mut d| d.next().is_none()) {
        let _ = std::fs::remove_dir(&partial);
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
    run_dir: &std::path::Path,
    hasher: &mut manifest::Hasher,
) -> bool {
    !record.outputs.is_empty()
        && record.outputs.iter().all(|o| {
            hasher
                .record(&run_dir.join(&o.path), o.path.clone())
                .is_ok_and(|f| f.blake3 == o.blake3 && f.size == o.size)
        })
}

/// Name of the environment variable that stops the process right after a stage has
/// written its outputs and before they are moved into the run folder (tests of resuming).
pub const FAILPOINT_ENV: &str = "RECOURS_FAILPOINT";

pub fn run(config: RunConfig, opts: &RunOptions) -> Result<()> {
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
    let run_dir = config.output.clone();
    let mut ctx = RunContext {
        config,
        out: run_dir.join(".partial"),
        run_dir,
        extracts: None,
        households: None,
        eligibility: None,
        features: None,
        models: BTreeMap::new(),
        scores: None,
        quality: None,
        run_id: String::new(),
    };
    let config_hash = manifest::config_hash(&ctx.config.raw);
    let stages = stages();
    eprintln!(
        "recours {} — run month {} — run folder {}",
        env!("CARGO_PKG_VERSION"),
        ctx.config.month,
        ctx.run_dir.display()
    );
    let start = Instant::now();

    // Inputs are hashed before any stage reads them.
    let mut hasher = manifest::Hasher::new(Some(ctx.run_dir.join(manifest::HASH_CACHE)));
    let r = &ctx.config.raw.reference;
    let mut reference = Vec::new();
    let mut reference_hash = BTreeMap::new();
    for (key, f) in [
        ("departements", &r.departements),
        ("caisses", &r.caisses),
        ("baremes", &r.baremes),
    ] {
        let rec = hasher.record(&ctx.config.resolve(f), f.clone())?;
        reference_hash.insert(key, rec.blake3.clone());
        reference.push(rec);
    }
    let inputs = input_records(&ctx.config, &mut hasher)?;

    // Fingerprints, and the plan against the previous run's manifest.
    let previous = manifest::Manifest::read(&ctx.run_dir).ok();
    let mut fingerprints: BTreeMap<&str, String> = BTreeMap::new();
    let mut plan = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let d = deps(stage.name());
        let own = own_inputs(
            stage.name(),
            &ctx.config,
            &inputs,
            &reference_hash,
            &mut hasher,
        )?;
        let upstream: Vec<&String> = d.upstream.iter().map(|u| &fingerprints[u]).collect();
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
            p.status == "done"
                && p.fingerprint == fp
                && outputs_intact(p, &ctx.run_dir, &mut hasher)
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
                        .upstream
                        .iter()
                        .copied()
                        .filter(|u| {
                            previous
                                .as_ref()
                                .and_then(|m| m.stages.iter().find(|s| s.name == *u))
                                .is_none_or(|s| s.fingerprint != fingerprints[u])
                        })
                        .collect();
                    if changed.is_empty() {
                        "its configuration section, its input files or recours' version changed"
                            .into()
                    } else {
                        format!("reads {}, which changed", changed.join(" and "))
                    }
                }
                Some(_) => "its outputs are missing or were changed".into(),
            })
        };
        fingerprints.insert(stage.name(), fp);
        plan.push(p);
    }
    // The run id printed in the lists' read-me, the report and the model cards: the run
    // month and the lists stage's fingerprint, which covers everything the lists depend on
    // (and no path), so a kept stage never carries another run's id.
    ctx.run_id = format!("{}-{}", ctx.config.month, &fingerprints["lists"][..12]);
    eprintln!("plan:");
    for (stage, p) in stages.iter().zip(&plan) {
        let line = match p {
            Plan::Run(why) => format!("run   ({why})"),
            Plan::Keep => "keep  (up to date)".into(),
            Plan::NotRun { stale: true } => {
                "skip  (after --to; earlier outputs removed as out of date)".into()
            }
            Plan::NotRun { stale: false } => "skip  (after --to; up to date)".into(),
        };
        eprintln!("  {:<12} {line}", stage.name());
    }
    if opts.dry_run {
        return Ok(());
    }

    std::fs::create_dir_all(&ctx.run_dir).map_err(RecoursError::io(format!(
        "creating {}",
        ctx.run_dir.display()
    )))?;
    // Stage outputs being replaced are no longer recorded as done before they are removed:
    // a run stopped at any point leaves a manifest that claims only finished outputs.
    let partial = ctx.run_dir.join(".partial");
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
        output::write_json(&ctx.run_dir.join(manifest::MANIFEST), &m)
    };
    write_manifest(&ctx, &records)?;
    for (stage, p) in stages.iter().zip(&plan) {
        if !matches!(p, Plan::Keep | Plan::NotRun { stale: false }) {
            for o in stage_outputs(stage.name()) {
                remove_path(&ctx.run_dir.join(o))?;
            }
        }
    }

    let total = plan.iter().filter(|p| matches!(p, Plan::Run(_))).count();
    let mut done = 0;
    let mut failure = None;
    let failpoint = std::env::var(FAILPOINT_ENV).ok();
    for (i, stage) in stages.iter().enumerate() {
        if !matches!(plan[i], Plan::Run(_)) {
            continue;
        }
        done += 1;
        eprintln!("[{done}/{total}] {}: {}", stage.name(), stage.describe());
        let t = Instant::now();
        ctx.out = partial.join(stage.name());
        let mut outcome = Ok(String::new());
        ctx.keep_only(deps(stage.name()).needs);
        for need in deps(stage.name()).needs {
            if let Err(e) = ctx.ensure(*need) {
                outcome = Err(e);
                break;
            }
        }
        if outcome.is_ok() {
            outcome = stage.run(&mut ctx);
        }
        crate::stages::ingest::trace_memory(stage.name());
        if failpoint.as_deref() == Some(stage.name()) {
            eprintln!(
                "{FAILPOINT_ENV}={}: stopping before its outputs are moved into place",
                stage.name()
            );
            std::process::abort();
        }
        // A stage's outputs reach their final names only when it has finished; the quality
        // report and rejects of an ingest stopped by bad data are kept for the user to read.
        let keep_outputs = outcome.is_ok()
            || (stage.name() == "ingest" && matches!(outcome, Err(RecoursError::Rejected(_))));
        let mut outputs = Vec::new();
        if keep_outputs {
            move_staged(&ctx.out, &ctx.run_dir, stage_outputs(stage.name()))?;
            if outcome.is_ok() {
                for prefix in stage_outputs(stage.name()) {
                    for f in manifest::files_at(&ctx.run_dir.join(prefix)) {
                        let rel = manifest::relative(&f, &ctx.run_dir);
                        let mut record = hasher.record(&f, rel)?;
                        record.rows = manifest::parquet_rows(&f);
                        outputs.push(record);
                    }
                }
            }
        }
        remove_path(&ctx.out)?;
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
            reused: false,
        };
        write_manifest(&ctx, &records)?;
        match outcome {
            Ok(_) => eprintln!(
                "[{done}/{total}] {} done in {seconds:.1} s: {summary}",
                stage.name()
            ),
            Err(e) => {
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
    eprintln!(
        "run finished in {:.1} s; manifest in {}",
        start.elapsed().as_secs_f64(),
        ctx.run_dir.join(manifest::MANIFEST).display()
    );
    Ok(())
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
    let ingest_kept = records.iter().any(|r| r.name == "ingest" && r.reused);
    manifest::Manifest {
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
        config: ctx.config.raw.clone(),
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
                    schema_hash: i.schema_hash.clone(),
                }
            })
            .collect(),
        seeds: [
            ("training".to_string(), ctx.config.raw.training.seed),
            ("lists".to_string(), ctx.config.raw.lists.seed),
        ]
        .into(),
        models: SCORED
            .iter()
            .filter_map(|b| manifest::model_digest(&ctx.run_dir, b).map(|d| (b.to_string(), d)))
            .collect(),
        stages: records.to_vec(),
        volatile_fields: vec![
            "stages[].seconds".into(),
            "stages[].reused".into(),
            "stages[].summary".into(),
            "config_file".into(),
        ],
    }
}
