//! The `lists` stage: contact lists per caisse (`select`), their exports (`exports`), the
//! past campaign's feedback (`feedback`), and `lists/decisions.parquet` (`decisions`).

pub(crate) mod decisions;
pub mod exports;
pub(crate) mod feedback;
pub mod select;

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::domain::codes::Canal;
use crate::domain::disclosure;
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
            "montant_ppa",
            entries
                .iter()
                .map(|e| exports::benefit_amounts(e)[0])
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "montant_rsa",
            entries
                .iter()
                .map(|e| exports::benefit_amounts(e)[1])
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "montant_aspa",
            entries
                .iter()
                .map(|e| exports::benefit_amounts(e)[2])
                .collect::<Vec<_>>(),
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

/// One caisse's people, as its exports show them.
#[derive(Default)]
struct CaisseLists<'e> {
    listed: Vec<&'e lists::ListEntry>,
    unreached: Vec<&'e lists::ListEntry>,
    decisions: BTreeMap<lists::Decision, usize>,
}

/// The `lists` stage.
pub(crate) static STAGE: Declaration = Declaration {
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
        let homeless = lists::homeless(households);
        let entries = lists::build(scores, households, &cfg.reference, &book, &homeless, rules);
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
        let mut described = rules.describe();
        described.insert(
            2,
            format!(
                "Droit calculé : les personnes dont le droit calculé à partir des ressources connues atteint {} par mois (et qui ne perçoivent pas la prestation) sont listées quel que soit leur score (colonne « Droit calculé »).",
                crate::domain::fr::euros_whole(cfg.deterministic_min_amount)
            ),
        );
        // Every caisse with someone considered: its listed people (in list order), the
        // people it cannot reach (in priority order), and everyone by decision.
        let mut caisses: BTreeMap<&str, CaisseLists> = BTreeMap::new();
        for e in &entries {
            let c = caisses.entry(e.caisse.as_str()).or_default();
            match e.decision {
                lists::Decision::Liste => c.listed.push(e),
                lists::Decision::AucunCanal => c.unreached.push(e),
                _ => {}
            }
            *c.decisions.entry(e.decision).or_default() += 1;
        }
        // Each caisse's exports are independent files: written in parallel.
        {
            use rayon::prelude::*;
            let run_id = &ctx.run_id;
            caisses
                .par_iter_mut()
                .map(|(caisse, people)| {
                    people.listed.sort_by_key(|e| e.rang_liste);
                    people.unreached.sort_by_key(|e| e.rang_priorite);
                    let unreached: Vec<exports::Unreached> = people
                        .unreached
                        .iter()
                        .map(|e| {
                            let (motif, ailleurs) = lists::no_channel(
                                e,
                                &book,
                                households,
                                &homeless,
                                &cfg.reference,
                                rules,
                            );
                            exports::Unreached {
                                entry: e,
                                motif,
                                ailleurs,
                            }
                        })
                        .collect();
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
                        decisions: lists::Decision::ALL
                            .iter()
                            .map(|d| (*d, people.decisions.get(d).copied().unwrap_or(0)))
                            .collect(),
                    };
                    exports::write_caisse(&out.caisse(caisse), &people.listed, &unreached, &readme)
                })
                .collect::<Result<Vec<()>>>()?;
        }
        crate::io::trace::trace("lists: exports per caisse", t0);
        let t0 = std::time::Instant::now();

        // National summary: people and expected amount per caisse, benefits, decision and
        // channel (the people to reach by other means on lines of their own).
        let mut summary: BTreeMap<(&str, String, lists::Decision, Option<Canal>), (u64, f64)> =
            BTreeMap::new();
        for e in &entries {
            let line = summary
                .entry((
                    e.caisse.as_str(),
                    e.prestations.join("+"),
                    e.decision,
                    e.canal,
                ))
                .or_default();
            line.0 += 1;
            line.1 += e.montant_attendu;
        }
        let rows = summary
            .into_iter()
            .map(|((c, p, d, canal), (n, amount))| {
                use exports::Value;
                vec![
                    Value::Text(c.to_string()),
                    Value::Text(p),
                    Value::Text(d.label().to_string()),
                    canal.map_or(Value::Empty, |c| Value::Text(c.label().to_string())),
                    Value::Int(n),
                    Value::Num((amount * 100.0).round() / 100.0),
                ]
            })
            .collect();
        exports::Table::new(exports::SUMMARY, rows)
            .write_csv(&out.lists_summary(), crate::io::excel::EXCEL_FR)?;

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
            feedback::table(&fb)
                .write_csv(&out.campaign_feedback_csv(), crate::io::excel::EXCEL_FR)?;
            // The report's small-cell rule holds for the operator's line too: no effect
            // from which an arm's count under `min_cell` could be read back.
            let publishable = |o: &feedback::Outcomes| {
                disclosure::publishable(
                    &[o.droits_ouverts, o.personnes - o.droits_ouverts],
                    cfg.min_cell,
                )
            };
            let shown = publishable(&fb.national.contactes) && publishable(&fb.national.temoins);
            if fb.national.effet.is_some() && !shown {
                feedback_note = format!(
                    "; past campaign: effect not shown (a group of fewer than {} people)",
                    cfg.min_cell
                );
            } else if let Some(e) = &fb.national.effet {
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
        let unreached = entries
            .iter()
            .filter(|e| e.decision == lists::Decision::AucunCanal)
            .count();
        let summary = format!(
            "{listed} people listed in {} caisses, {unreached} to reach by other means, {control} in the control group{feedback_note}",
            caisses.values().filter(|c| !c.listed.is_empty()).count()
        );
        // Not kept for the next stage (hundreds of MB at national scale, at the run's peak).
        if let Some(h) = ctx.households.as_mut() {
            h.release_index();
        }
        Ok(summary)
    }
}
