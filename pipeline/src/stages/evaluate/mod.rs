//! The `evaluate` stage: fairness audit, and scores against the ground truth when named.

pub mod fairness;
pub mod truth;

use std::time::Instant;

use crate::config::{RunConfig, file_name};
use crate::error::Result;
use crate::io::output;
use crate::io::trace::trace;
use crate::stages::eligibility;
use crate::stages::features;
use crate::stages::ingest;
use crate::stages::lists;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage};
use crate::stages::train;
use crate::tables::run_folder::names;
use serde_json::json;

/// The `evaluate` stage.
pub static STAGE: Declaration = Declaration {
    name: "evaluate",
    describe: "fairness audit by group; scores and lists against the ground truth when one is named (synthetic data)",
    reads: &[
        &ingest::STAGE,
        &eligibility::STAGE,
        &features::STAGE,
        &train::STAGE,
        &lists::STAGE,
    ],
    needs: &[
        Need::Extracts,
        Need::Households,
        Need::Features,
        Need::Models,
    ],
    outputs: &[names::EVALUATION, names::FAIRNESS],
};

pub(crate) struct Evaluate;

impl Stage for Evaluate {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        let cfg: &RunConfig = f.config;
        let verite = match &cfg.verite {
            Some(p) => Some(f.file_hash(&p.path, &p.written)?),
            None => None,
        };
        Ok(json!({
            "verite": verite,
            "verite_name": cfg.verite.as_ref().map(|v| file_name(&v.written)),
            "recall_margin": cfg.recall_margin,
            "min_cell": cfg.min_cell,
        }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let cfg = &ctx.config;
        let table = RunContext::need(&ctx.features, "features")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let t0 = Instant::now();
        // Of the eligibility rows, only what the audit groups by (not every row whole).
        let rows = crate::tables::eligibility::read_foyer_facts(&ctx.run.eligibility())?;
        let listed = crate::stages::lists::decisions::listed(&ctx.run)?;
        // The only place `verite` is read.
        let truth = match &cfg.verite {
            Some(v) => Some((file_name(&v.written), truth::read_verite(&v.path)?)),
            None => None,
        };
        trace("evaluate: eligibility facts, lists and truth read", t0);
        let t0 = Instant::now();
        let mut summary = Vec::new();
        if let Some((label, truth)) = &truth {
            let report = truth::evaluate(truth, label, table, &ctx.models);
            output::write_json(&ctx.out.evaluation(), &report)?;
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
            cfg.recall_margin,
            cfg.min_cell,
        );
        output::write_json(&ctx.out.fairness(), &audit)?;
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
