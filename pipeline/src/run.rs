//! `recours run`: the stages, in order, into the run folder. A stage is a value of
//! [`Stage`]; adding a stage is adding a module and a line to [`stages`].

use std::path::PathBuf;
use std::time::Instant;

use std::collections::BTreeMap;

use recours_models::train::ModelArtefact;

use crate::config::RunConfig;
use crate::contract::SCORED;
use crate::eligibility::EligibilityRow;
use crate::eligibility::{self, EligibilityConfig};
use crate::error::{RecoursError, Result};
use crate::evaluation;
use crate::features::{self, FeatureTable};
use crate::household::Households;
use crate::ingest::{self, Extracts};
use crate::training;
use crate::{manifest, output};

/// What the stages share during a run.
pub struct RunContext {
    pub config: RunConfig,
    pub run_dir: PathBuf,
    pub extracts: Option<Extracts>,
    pub households: Option<Households>,
    pub eligibility: Option<Vec<EligibilityRow>>,
    pub features: Option<FeatureTable>,
    pub models: BTreeMap<&'static str, ModelArtefact>,
    pub scores: Option<Vec<crate::lists::ScoreRow>>,
    pub quality: Option<crate::ingest::QualityReport>,
    /// Identifies the run in the lists' read-me: the run month and a digest of the config.
    pub run_id: String,
}

impl RunContext {
    pub fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T> {
        v.as_ref()
            .ok_or_else(|| RecoursError::Internal(format!("{what} is needed but was not produced")))
    }
}

pub trait Stage {
    fn name(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    /// Runs the stage; returns a one-line summary for the progress display.
    fn run(&self, ctx: &mut RunContext) -> Result<String>;
}

/// Stages the pipeline will have, not built yet (shown by `recours run`).
pub const TO_COME: &[(&str, &str)] = &[(
    "report",
    "run report, model cards, fairness audit, notebooks",
)];

pub struct Ingest;

impl Stage for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }
    fn describe(&self) -> &'static str {
        "read and check every extract against the data contract"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let mut ingested = ingest::ingest(&ctx.config)?;
        eprint!("{}", ingested.summary());
        ingested.write(&ctx.run_dir)?;
        let q = &ingested.quality;
        let (kept, rejected): (u64, u64) = q
            .tables
            .values()
            .fold((0, 0), |(k, r), t| (k + t.rows_kept, r + t.rows_rejected));
        ctx.extracts = Some(ingested.extracts);
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
            .as_ref()
            .ok_or_else(|| RecoursError::Internal("eligibility runs after ingest".into()))?;
        let cfg = &ctx.config;
        let households = Households::assemble(extracts, cfg.month)?;
        let ecfg = EligibilityConfig {
            quarters: cfg.quarters(),
            ppa_params: cfg.baremes.ppa_quarter(cfg.month, cfg.quarters().rsa_ppa)?,
            deterministic_min_amount: cfg.raw.eligibility.deterministic_min_amount,
        };
        let rows = eligibility::estimate_all(&households, &cfg.bareme, &ecfg);
        let mut df = eligibility::to_frame(&rows)?;
        output::write_parquet(&ctx.run_dir.join("eligibility.parquet"), &mut df)?;
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
        let table = features::compute(
            households,
            rows,
            &features::contact_signals(extracts)?,
            &selection.active,
        );
        let mut df = table.to_frame()?;
        output::write_parquet(&ctx.run_dir.join("features.parquet"), &mut df)?;
        output::write_json(&ctx.run_dir.join("features-selection.json"), &selection)?;
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
            let (sets, uses) = training::learning_sets(extracts, cfg, table)?;
            for b in &to_train {
                let a = training::train_benefit(b, &sets[b], &table.names, cfg)?;
                summary.push(format!(
                    "{b}: {} labels, alpha {}, test AUC {:.3} (entitlement alone {:.3})",
                    a.training_data.rows,
                    a.alpha,
                    a.metrics.test.auc.unwrap_or(f64::NAN),
                    a.metrics.test_auc_eligibility_only.unwrap_or(f64::NAN)
                ));
                ctx.models.insert(b, a);
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
        let f = &cfg.raw.features;
        let selection = features::select(&f.exclude, &f.allow_protected);
        for (b, a) in &ctx.models {
            output::write_json(&ctx.run_dir.join("models").join(format!("{b}.json")), a)?;
            let card = crate::modelcard::model_card(a, &selection, &ctx.run_id);
            output::write_atomic(
                &ctx.run_dir
                    .join("models")
                    .join(format!("model-card-{b}.md")),
                |w| {
                    use std::io::Write;
                    w.write_all(card.as_bytes())
                        .map_err(RecoursError::io("writing a model card"))
                },
            )?;
        }
        output::write_json(
            &ctx.run_dir.join("models").join("learning-table-use.json"),
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
        "scores against the ground truth (synthetic data only; skipped without [evaluation] verite)"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let Some(v) = &ctx.config.raw.evaluation.verite else {
            return Ok("skipped: no ground truth named".into());
        };
        let table = RunContext::need(&ctx.features, "features")?;
        let report = evaluation::evaluate(&ctx.config.resolve(v), v, table, &ctx.models)?;
        output::write_json(&ctx.run_dir.join("evaluation.json"), &report)?;
        Ok(report
            .benefits
            .iter()
            .map(|(b, e)| {
                format!(
                    "{b}: AUC {:.3} (entitlement alone {:.3}), base rate {:.1} %",
                    e.model.auc.unwrap_or(f64::NAN),
                    e.auc_eligibility_only.unwrap_or(f64::NAN),
                    100.0 * e.base_rate
                )
            })
            .collect::<Vec<_>>()
            .join("; "))
    }
}

pub fn stages() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(Ingest),
        Box::new(Eligibility),
        Box::new(Features),
        Box::new(Train),
        Box::new(Evaluate),
        Box::new(crate::listing::Score),
        Box::new(crate::listing::Lists),
    ]
}

/// Files and folders of the run folder each stage writes (for the manifest).
pub fn stage_outputs(name: &str) -> &'static [&'static str] {
    match name {
        "ingest" => &["quality.json", "rejects", "ingest"],
        "eligibility" => &["eligibility.parquet"],
        "features" => &["features.parquet", "features-selection.json"],
        "train" => &["models"],
        "evaluate" => &["evaluation.json"],
        "score" => &["scores.parquet"],
        "lists" => &["lists"],
        _ => &[],
    }
}

fn input_records(
    cfg: &RunConfig,
    hasher: &mut manifest::Hasher,
) -> Result<Vec<(String, Vec<manifest::FileRecord>, String)>> {
    let base = cfg.file.parent().unwrap_or(std::path::Path::new(""));
    let mut out = Vec::new();
    for input in &cfg.inputs {
        let files = ingest::source_files(input)?;
        let mut records = Vec::new();
        for f in &files {
            records.push(hasher.record(f, manifest::relative(f, base))?);
        }
        out.push((
            input.table.to_string(),
            records,
            ingest::schema_hash(input, &files),
        ));
    }
    Ok(out)
}

pub fn run(config: RunConfig, only: Option<&str>) -> Result<()> {
    let run_dir = config.output.clone();
    let mut ctx = RunContext {
        config,
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
    ctx.run_id = format!("{}-{}", ctx.config.month, &config_hash[..12]);
    let stages = stages();
    let selected: Vec<&Box<dyn Stage>> = stages
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name()))
        .collect();
    let total = selected.len();
    eprintln!(
        "recours {} — run month {} — run folder {}",
        env!("CARGO_PKG_VERSION"),
        ctx.config.month,
        ctx.run_dir.display()
    );
    let start = Instant::now();

    // Inputs are hashed before any stage reads them.
    std::fs::create_dir_all(&ctx.run_dir).map_err(RecoursError::io(format!(
        "creating {}",
        ctx.run_dir.display()
    )))?;
    // Outputs of an earlier run in the same folder are removed first: a failed rerun must
    // not leave last month's lists looking current, and the manifest lists only this run.
    let mut stale = vec![ctx.run_dir.join(manifest::MANIFEST)];
    for stage in &selected {
        stale.extend(
            stage_outputs(stage.name())
                .iter()
                .map(|p| ctx.run_dir.join(p)),
        );
    }
    for path in stale {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(RecoursError::io(format!("removing {}", path.display()))(e));
        }
    }
    let mut hasher = manifest::Hasher::new(Some(ctx.run_dir.join(manifest::HASH_CACHE)));
    let r = &ctx.config.raw.reference;
    let mut reference = Vec::new();
    for f in [&r.departements, &r.caisses, &r.baremes] {
        reference.push(hasher.record(&ctx.config.resolve(f), f.clone())?);
    }
    let inputs = input_records(&ctx.config, &mut hasher)?;
    let mut stage_records = Vec::new();
    let mut failure = None;
    for (i, stage) in selected.iter().enumerate() {
        eprintln!(
            "[{}/{}] {}: {}",
            i + 1,
            total,
            stage.name(),
            stage.describe()
        );
        let t = Instant::now();
        let outcome = stage.run(&mut ctx);
        let seconds = t.elapsed().as_secs_f64();
        let (status, summary) = match &outcome {
            Ok(s) => ("done", s.clone()),
            Err(e) => ("failed", e.to_string()),
        };
        let mut outputs = Vec::new();
        if outcome.is_ok() {
            for prefix in stage_outputs(stage.name()) {
                for f in manifest::files_at(&ctx.run_dir.join(prefix)) {
                    let rel = manifest::relative(&f, &ctx.run_dir);
                    outputs.push(hasher.record(&f, rel)?);
                }
            }
        }
        stage_records.push(manifest::StageRecord {
            name: stage.name().into(),
            status: status.into(),
            summary: summary.clone(),
            seconds,
            outputs,
        });
        match outcome {
            Ok(_) => eprintln!(
                "[{}/{}] {} done in {:.1} s: {summary}",
                i + 1,
                total,
                stage.name(),
                seconds
            ),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let q = ctx.quality.as_ref();
    let m = manifest::Manifest {
        schema_version: manifest::MANIFEST_SCHEMA_VERSION,
        recours_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: option_env!("RECOURS_GIT_COMMIT").map(str::to_string),
        run_id: ctx.run_id.clone(),
        config_file: std::path::absolute(&ctx.config.file)
            .unwrap_or(ctx.config.file.clone())
            .display()
            .to_string(),
        config_hash,
        config: ctx.config.raw.clone(),
        reference,
        inputs: inputs
            .into_iter()
            .map(|(table, files, schema_hash)| {
                let t = q.and_then(|q| q.tables.get(table.as_str()));
                manifest::InputRecord {
                    rows_in: t.map_or(0, |t| t.rows_in),
                    rows_kept: t.map_or(0, |t| t.rows_kept),
                    rows_rejected: t.map_or(0, |t| t.rows_rejected),
                    table,
                    files,
                    schema_hash,
                }
            })
            .collect(),
        seeds: [
            ("training".to_string(), ctx.config.raw.training.seed),
            ("lists".to_string(), ctx.config.raw.lists.seed),
        ]
        .into(),
        models: ctx
            .models
            .keys()
            .filter_map(|b| manifest::model_digest(&ctx.run_dir, b).map(|d| (b.to_string(), d)))
            .collect(),
        stages: stage_records,
        volatile_fields: vec!["stages[].seconds".into()],
    };
    output::write_json(&ctx.run_dir.join(manifest::MANIFEST), &m)?;
    hasher.save();
    if let Some(e) = failure {
        return Err(e);
    }
    if only.is_none() && !TO_COME.is_empty() {
        eprintln!("stages still to come:");
        for (name, what) in TO_COME {
            eprintln!("  {name:<12} {what}");
        }
    }
    eprintln!(
        "run finished in {:.1} s; manifest in {}",
        start.elapsed().as_secs_f64(),
        ctx.run_dir.join(manifest::MANIFEST).display()
    );
    Ok(())
}
