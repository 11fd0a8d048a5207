//! The `features` stage: the feature dictionary, computed for each scoring population.

pub mod dictionary;

use std::time::Instant;

use crate::error::Result;
use crate::io::output;
use crate::io::trace::trace;
use crate::stages::eligibility;
use crate::stages::ingest;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage, section};
use crate::tables::run_folder::names;
use serde_json::json;

/// The `features` stage.
pub static STAGE: Declaration = Declaration {
    name: "features",
    describe: "features of everyone in a benefit's scoring population",
    reads: &[&ingest::STAGE, &eligibility::STAGE],
    needs: &[Need::Extracts, Need::Households, Need::Eligibility],
    outputs: &[names::FEATURES, names::FEATURES_SELECTION],
};

pub struct Features;

impl Stage for Features {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        Ok(json!({ "features": section(&f.config.as_written().features) }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let f = &ctx.config.features;
        let selection = dictionary::select(&f.exclude, &f.allow_protected);
        let extracts = RunContext::need(&ctx.extracts, "ingest")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let rows = RunContext::need(&ctx.eligibility, "eligibility")?;
        let t0 = Instant::now();
        let table = dictionary::compute(
            households,
            rows,
            &dictionary::contact_signals(extracts, households)?,
            &selection.active,
        )?;
        trace("features: computed", t0);
        let t0 = Instant::now();
        output::write_parquet_in_batches(&ctx.out.features(), table.len(), |r| table.to_frame(r))?;
        trace("features: written", t0);
        output::write_json(&ctx.out.features_selection(), &selection)?;
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
