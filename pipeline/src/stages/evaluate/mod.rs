//! The `evaluate` stage: fairness audit, and scores against the ground truth when named.

pub mod fairness;
pub mod truth;

use std::time::Instant;

use crate::config::{RunConfig, file_name};
use crate::error::Result;
use crate::io::output;
use crate::io::trace::trace;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage};
use crate::stages::ingest;
use crate::stages::eligibility;
use crate::stages::features;
use crate::stages::train;
use crate::stages::lists;
use serde_json::json;

/// The `evaluate` stage.
pub static STAGE: Declaration = Declaration {
    name: "evaluate",
    describe: "fairness audit by group; scores and lists against the ground truth when one is named (synthetic data)",
    reads: &[&ingest::STAGE, &eligibility::STAGE, &features::STAGE, &train::STAGE, &lists::STAGE],
    needs: &[Need::Extracts, Need::Households, Need::Features, Need::Models],
    outputs: &["evaluation.json", "fairness.json"],
};

pub struct Evaluate;

impl Stage for Evaluate {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        let cfg: &RunConfig = f.config;
        let e = &cfg.raw.evaluation;
        let verite = match &e.verite {
            Some(p) => Some(f.file_hash(&cfg.resolve(p), p)?),
            None => None,
        };
        Ok(json!({
            "verite": verite,
            "verite_name": e.verite.as_deref().map(file_name),
            "recall_margin": e.recall_margin,
            "min_cell": e.min_cell,
        }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let cfg = &ctx.config;
        let e = &cfg.raw.evaluation;
        let table = RunContext::need(&ctx.features, "features")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let t0 = Instant::now();
        // Of the eligibility rows, only what the audit groups by (not every row whole).
        let rows = crate::stages::eligibility::estimate::read_foyer_facts(&ctx.run_dir.join("eligibility.parquet"))?;
        let listed = crate::stages::lists::decisions::listed(&ctx.run_dir)?;
        // The only place `verite` is read.
        let truth = match &e.verite {
            Some(v) => Some((file_name(v), truth::read_verite(&cfg.resolve(v))?)),
            None => None,
        };
        trace("evaluate: eligibility facts, lists and truth read", t0);
        let t0 = Instant::now();
        let mut summary = Vec::new();
        if let Some((label, truth)) = &truth {
            let report = truth::evaluate(truth, label, table, &ctx.models);
            output::write_json(&ctx.out.join("evaluation.json"), &report)?;
            trace("evaluate: against the truth", t0);
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
        trace("evaluate: fairness", t0);
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
