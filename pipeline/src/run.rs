//! `recours run`: the stages, in order, into the run folder. A stage is a value of
//! [`Stage`]; adding a stage is adding a module and a line to [`stages`].

use std::path::PathBuf;
use std::time::Instant;

use crate::config::RunConfig;
use crate::eligibility::{self, EligibilityConfig};
use crate::error::{RecoursError, Result};
use crate::household::Households;
use crate::ingest::{self, Extracts};
use crate::output;

/// What the stages share during a run.
pub struct RunContext {
    pub config: RunConfig,
    pub run_dir: PathBuf,
    pub extracts: Option<Extracts>,
    pub households: Option<Households>,
}

pub trait Stage {
    fn name(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    /// Runs the stage; returns a one-line summary for the progress display.
    fn run(&self, ctx: &mut RunContext) -> Result<String>;
}

/// Stages the pipeline will have, not built yet (shown by `recours run`).
pub const TO_COME: &[(&str, &str)] = &[
    ("features", "features per person and benefit"),
    ("train", "logistic model per benefit"),
    ("score", "scores of everyone not receiving a benefit"),
    ("lists", "prioritised contact lists per caisse"),
    (
        "report",
        "run report, model cards, fairness audit, notebooks",
    ),
];

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
        Ok(counts
            .iter()
            .map(|(p, (n, e, d))| format!("{p}: {n} scorable, {e} estimated eligible not receiving, {d} deterministic candidates"))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

pub fn stages() -> Vec<Box<dyn Stage>> {
    vec![Box::new(Ingest), Box::new(Eligibility)]
}

pub fn run(config: RunConfig, only: Option<&str>) -> Result<()> {
    let run_dir = config.output.clone();
    let mut ctx = RunContext {
        config,
        run_dir,
        extracts: None,
        households: None,
    };
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
    for (i, stage) in selected.iter().enumerate() {
        eprintln!(
            "[{}/{}] {}: {}",
            i + 1,
            total,
            stage.name(),
            stage.describe()
        );
        let t = Instant::now();
        let summary = stage.run(&mut ctx)?;
        eprintln!(
            "[{}/{}] {} done in {:.1} s: {summary}",
            i + 1,
            total,
            stage.name(),
            t.elapsed().as_secs_f64()
        );
    }
    if only.is_none() && !TO_COME.is_empty() {
        eprintln!("stages still to come:");
        for (name, what) in TO_COME {
            eprintln!("  {name:<12} {what}");
        }
    }
    eprintln!("run finished in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
