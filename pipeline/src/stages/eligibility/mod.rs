//! The `eligibility` stage: households assembled from the extracts, RSA/PPA/ASPA estimated.

pub mod estimate;

use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::io::trace::trace;
use crate::stages::ingest;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage, section};
use crate::tables::households::Households;
use crate::tables::run_folder::names;
use serde_json::json;

/// The `eligibility` stage.
pub static STAGE: Declaration = Declaration {
    name: "eligibility",
    describe: "RSA, PPA and ASPA entitlements estimated from BRM, RNCPS and the barèmes in force",
    reads: &[&ingest::STAGE],
    needs: &[Need::Extracts],
    outputs: &[names::ELIGIBILITY],
};

pub(crate) struct Eligibility;

impl Stage for Eligibility {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        let raw = f.config.as_written();
        Ok(json!({
            "month": raw.month,
            "eligibility": section(&raw.eligibility),
            "baremes": f.reference["baremes"],
        }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let extracts = ctx
            .extracts
            .as_mut()
            .ok_or_else(|| RecoursError::Internal("eligibility runs after ingest".into()))?;
        // The resources the ingest stage added up in this run (none when it was skipped).
        let histories = ctx.histories.take();
        let households = Households::assemble(extracts, ctx.config.month, histories)?;
        ctx.release_household_tables();
        let cfg = &ctx.config;
        let ecfg = estimate::EligibilityConfig {
            quarters: cfg.quarters(),
            ppa_params: cfg.baremes.ppa_quarter(cfg.month, cfg.quarters().rsa_ppa)?,
            deterministic_min_amount: cfg.deterministic_min_amount,
        };
        let t0 = std::time::Instant::now();
        let rows = estimate::estimate_all(&households, &cfg.bareme, &ecfg);
        trace("eligibility: estimates", t0);
        let t0 = std::time::Instant::now();
        output::write_parquet_in_batches(&ctx.out.eligibility(), rows.len(), |r| {
            crate::tables::eligibility::to_frame(&rows[r])
        })?;
        trace("eligibility: written", t0);
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
