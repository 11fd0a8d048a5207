//! The `lists` stage: contact lists per caisse (`select`), their exports (`exports`), the
//! past campaign's feedback (`feedback`), and `lists/decisions.parquet` (`decisions`).

pub(crate) mod decisions;
pub mod exports;
pub(crate) mod feedback;
pub mod select;

use std::collections::BTreeMap;

use std::io::Write;

use polars::prelude::*;

use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::stages::eligibility;
use crate::stages::ingest;
use crate::stages::lists::select as lists;
use crate::stages::score;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage, section};
use crate::stages::train;
use crate::tables::run_folder::names;
use serde_json::json;

/// Rows of `lists/decisions.parquet`: every (caisse, person) considered and its decision.
fn decisions_frame(entries: &[lists::ListEntry]) -> Result<DataFrame> {
    DataFrame::new_infer_height(vec![
        crate::io::frame::column(
            "caisse",
            entries
                .iter()
                .map(|e| e.caisse.as_str())
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "pseudo_id",
            entries
                .iter()
                .map(|e| e.pseudo_id.as_str())
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "prestations",
            entries
                .iter()
                .map(|e| e.prestations.join("+"))
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "probabilite",
            entries.iter().map(|e| e.probabilite).collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "montant_estime",
            entries.iter().map(|e| e.montant_estime).collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "montant_attendu",
            entries
                .iter()
                .map(|e| e.montant_attendu)
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "priorite",
            entries.iter().map(|e| e.priorite).collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "rang_priorite",
            entries
                .iter()
                .map(|e| e.rang_priorite as u32)
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "decision",
            entries
                .iter()
                .map(|e| e.decision.code())
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "rang_liste",
            entries
                .iter()
                .map(|e| e.rang_liste.map(|r| r as u32))
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "canal",
            entries
                .iter()
                .map(|e| e.canal.map(|c| c.code()))
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "candidat_deterministe",
            entries
                .iter()
                .map(|e| e.candidat_deterministe)
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "raisons",
            entries
                .iter()
                .map(|e| e.raisons.join(" ; "))
                .collect::<Vec<_>>(),
        ),
    ])
    .map_err(RecoursError::polars("lists/decisions.parquet"))
}

fn write_text(path: &std::path::Path, text: &str) -> Result<()> {
    output::write_atomic(path, |w| {
        w.write_all(text.as_bytes())
            .map_err(RecoursError::io(format!("writing {}", path.display())))
    })
}

/// The `lists` stage.
pub static STAGE: Declaration = Declaration {
    name: "lists",
    describe: "prioritised contact lists per caisse, control group, exports, campaign feedback",
    reads: &[
        &ingest::STAGE,
        &eligibility::STAGE,
        &train::STAGE,
        &score::STAGE,
    ],
    needs: &[Need::Extracts, Need::Households, Need::Models, Need::Scores],
    outputs: &[names::LISTS],
};

pub struct Lists;

impl Stage for Lists {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        Ok(json!({
            "lists": section(&f.config.as_written().lists),
            "departements": f.reference["departements"],
            "caisses": f.reference["caisses"],
        }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let cfg = &ctx.config;
        let rules = &cfg.lists;
        let extracts = RunContext::need(&ctx.extracts, "ingest")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let scores = RunContext::need(&ctx.scores, "score")?;
        let t0 = std::time::Instant::now();
        let book = lists::ContactBook::from_extracts(extracts)?;
        crate::io::trace::trace("lists: contact book", t0);
        crate::io::trace::trace_memory("lists: contact book");
        let t0 = std::time::Instant::now();
        let entries = lists::build(scores, households, &cfg.reference, &book, rules);
        crate::io::trace::trace("lists: entries", t0);
        crate::io::trace::trace_memory("lists: entries");
        let t0 = std::time::Instant::now();
        let out = &ctx.out;

        output::write_parquet_in_batches(&out.decisions(), entries.len(), |r| {
            decisions_frame(&entries[r])
        })?;
        crate::io::trace::trace("lists: decisions written", t0);
        crate::io::trace::trace_memory("lists: decisions");
        let t0 = std::time::Instant::now();

        let models: Vec<(String, String)> = ctx
            .models
            .keys()
            .map(|b| {
                let digest = crate::tables::manifest::model_digest(&ctx.run, b).unwrap_or_default();
                (b.to_string(), digest.chars().take(16).collect())
            })
            .collect();
        let described = rules.describe();
        let mut caisses: BTreeMap<&str, Vec<&lists::ListEntry>> = BTreeMap::new();
        for e in &entries {
            let v = caisses.entry(e.caisse.as_str()).or_default();
            if e.decision == lists::Decision::Liste {
                v.push(e);
            }
        }
        // Each caisse's exports are independent files: written in parallel.
        {
            use rayon::prelude::*;
            let run_id = &ctx.run_id;
            caisses
                .par_iter_mut()
                .map(|(caisse, listed)| {
                    listed.sort_by_key(|e| e.rang_liste);
                    let libelle = cfg
                        .reference
                        .caisses
                        .get(*caisse)
                        .map_or("", |c| c.libelle.as_str());
                    let readme = exports::ReadMe {
                        caisse,
                        libelle,
                        run_id,
                        month: cfg.month,
                        models: models.clone(),
                        rules: described.clone(),
                        listed: listed.len(),
                    };
                    exports::write_caisse(&out.caisse(caisse), listed, &readme)
                })
                .collect::<Result<Vec<()>>>()?;
        }
        crate::io::trace::trace("lists: exports per caisse", t0);
        let t0 = std::time::Instant::now();

        // National summary: people per caisse, benefits and channel; the control group and
        // the other decisions on lines of their own.
        let mut summary: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for e in &entries {
            let what = e
                .canal
                .map_or_else(|| e.decision.code().to_string(), |c| c.code().to_string());
            *summary
                .entry((e.caisse.clone(), e.prestations.join("+"), what))
                .or_default() += 1;
        }
        let mut csv = String::from("caisse,prestations,canal_ou_decision,personnes\r\n");
        for ((c, p, w), n) in &summary {
            csv.push_str(&format!("{c},{p},{w},{n}\r\n"));
        }
        write_text(&out.lists_summary(), &csv)?;

        crate::io::trace::trace("lists: summary", t0);
        // Campaign feedback from the outcomes the caisses sent back.
        // The outcomes' persons as the ingest of this run found them, else by id.
        let rows = extracts.person_rows_of("retours");
        let persons = |row: usize, id: &str| {
            let found = match rows {
                Some(r) => crate::tables::extracts::person_at(r, row),
                None => households.person(id),
            };
            found.map(|i| {
                let p = &households.persons[i];
                debug_assert_eq!(p.pseudo_id, id, "the ingest's person row");
                (p.departement, p.regime)
            })
        };
        let mut feedback_note = String::new();
        if let Some(fb) = feedback::summarise(extracts, &cfg.reference, &persons)? {
            output::write_json(&out.campaign_feedback_json(), &fb)?;
            write_text(&out.campaign_feedback_csv(), &feedback::to_csv(&fb))?;
            if let Some(e) = &fb.national.effet {
                feedback_note = format!(
                    "; past campaign: {:+.1} points of rights opened vs control (95 % CI {:.1} to {:.1})",
                    100.0 * e.difference,
                    100.0 * e.ci95_low,
                    100.0 * e.ci95_high
                );
            }
        }
        let listed = entries
            .iter()
            .filter(|e| e.decision == lists::Decision::Liste)
            .count();
        let control = entries
            .iter()
            .filter(|e| e.decision == lists::Decision::GroupeTemoin)
            .count();
        let summary = format!(
            "{listed} people listed in {} caisses, {control} in the control group{feedback_note}",
            caisses.len()
        );
        // Not kept for the next stage (hundreds of MB at national scale, at the run's peak).
        if let Some(h) = ctx.households.as_mut() {
            h.release_index();
        }
        Ok(summary)
    }
}
