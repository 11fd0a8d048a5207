//! The `train` stage: learning sets, one logistic model per benefit.

pub mod training;

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;

use crate::config::RunConfig;
use crate::domain::contract::SCORED;
use crate::error::Result;
use crate::io::output;
use crate::io::trace::trace;
use crate::stages::features;
use crate::stages::ingest;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage, section};
use crate::tables::run_folder::names;
use serde_json::json;

/// The `train` stage.
pub static STAGE: Declaration = Declaration {
    name: "train",
    describe: "one logistic model per benefit on the learning table (or reuse of named artefacts)",
    reads: &[&ingest::STAGE, &features::STAGE],
    needs: &[Need::Extracts, Need::Features],
    outputs: &[names::MODELS],
};

pub(crate) struct Train;

impl Stage for Train {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        let cfg: &RunConfig = f.config;
        let raw = cfg.as_written();
        let mut t = section(&raw.training);
        let mut reused = BTreeMap::new();
        for (b, path) in &cfg.reuse {
            reused.insert(b.to_string(), f.file_hash(&path.path, &path.written)?);
        }
        t["reuse"] = json!(reused);
        Ok(json!({ "training": t, "features": section(&raw.features) }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let table = RunContext::need(&ctx.features, "features")?;
        let cfg = &ctx.config;
        let reuse = &cfg.reuse;
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
            trace("train: learning sets", t0);
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
        for (&benefit, path) in reuse {
            let a = training::load_artefact(&path.path, benefit, &table.names)?;
            summary.push(format!("{benefit}: reused {}", path.written));
            ctx.models.insert(benefit, a);
        }
        for (b, a) in &ctx.models {
            output::write_json(&ctx.out.model(b), a)?;
        }
        output::write_json(&ctx.out.learning_table_use(), &learning)?;
        Ok(summary.join("; "))
    }
}
