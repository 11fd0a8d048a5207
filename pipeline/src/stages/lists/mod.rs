//! The `score` and `lists` stages as run steps: they call `lists`, `exports` and
//! `feedback` and write the run folder's `scores.parquet` and `lists/`.

pub mod exports;
pub mod feedback;
pub mod select;

use std::collections::BTreeMap;

use std::io::Write;

use polars::prelude::*;

use crate::error::{RecoursError, Result};
use crate::stages::lists::select::{self as lists, ScoreRow};
use crate::io::output;
use crate::run::{RunContext, Stage};

pub struct Score;

impl Stage for Score {
    fn name(&self) -> &'static str {
        "score"
    }
    fn describe(&self) -> &'static str {
        "scores and reasons for everyone in a benefit's scoring population"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let table = RunContext::need(&ctx.features, "features")?;
        let start = std::time::Instant::now();
        let (scores, time) = lists::score_all(&ctx.models, table);
        let secs = start.elapsed().as_secs_f64();
        output::write_parquet_in_batches(&ctx.out.join("scores.parquet"), scores.len(), |r| {
            scores_frame(&scores[r])
        })?;
        let rate = |s: f64| scores.len() as f64 / s.max(1e-9) / 1e6;
        let summary = format!(
            "{} rows scored: probabilities {:.1} M rows/s, top contributions {:.1} M rows/s, \
             with ids, reasons and ordering {:.1} M rows/s",
            scores.len(),
            rate(time.probabilities),
            rate(time.contributions),
            rate(secs)
        );
        ctx.scores = Some(scores);
        Ok(summary)
    }
}

fn scores_frame(scores: &[ScoreRow]) -> Result<DataFrame> {
    let mut cols = vec![
        crate::io::frame::column(
            "pseudo_id",
            scores
                .iter()
                .map(|s| s.pseudo_id.as_str())
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "prestation",
            scores.iter().map(|s| s.prestation).collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "probabilite",
            scores.iter().map(|s| s.probabilite).collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "montant_estime",
            scores.iter().map(|s| s.montant_estime).collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "montant_attendu",
            scores
                .iter()
                .map(|s| s.probabilite * s.montant_estime)
                .collect::<Vec<_>>(),
        ),
        crate::io::frame::column(
            "candidat_deterministe",
            scores
                .iter()
                .map(|s| s.candidat_deterministe)
                .collect::<Vec<_>>(),
        ),
    ];
    for k in 0..crate::stages::score::scoring::TOP_REASONS {
        let get = |s: &ScoreRow| s.raisons.get(k);
        cols.push(crate::io::frame::column(
            &format!("variable_{}", k + 1),
            scores
                .iter()
                .map(|s| get(s).map(|r| r.0))
                .collect::<Vec<_>>(),
        ));
        cols.push(crate::io::frame::column(
            &format!("contribution_{}", k + 1),
            scores
                .iter()
                .map(|s| get(s).map(|r| r.1))
                .collect::<Vec<_>>(),
        ));
        cols.push(crate::io::frame::column(
            &format!("raison_{}", k + 1),
            scores
                .iter()
                .map(|s| get(s).map(|r| r.2))
                .collect::<Vec<_>>(),
        ));
    }
    DataFrame::new_infer_height(cols).map_err(RecoursError::polars("scores.parquet"))
}

/// Reads back `scores.parquet` (a run resumed after the score stage): reasons are the
/// feature dictionary's phrases.
pub fn scores_from_frame(df: &DataFrame) -> Result<Vec<ScoreRow>> {
    use crate::io::frame::{bool_col, f64_col, intern, str_col};
    const T: &str = "scores.parquet";
    let pseudo_id = str_col(df, T, "pseudo_id")?;
    let prestation = str_col(df, T, "prestation")?;
    let probabilite = f64_col(df, T, "probabilite")?;
    let montant = f64_col(df, T, "montant_estime")?;
    let candidat = bool_col(df, T, "candidat_deterministe")?;
    let mut reasons = Vec::new();
    for k in 1..=crate::stages::score::scoring::TOP_REASONS {
        reasons.push((
            str_col(df, T, &format!("variable_{k}"))?,
            f64_col(df, T, &format!("contribution_{k}"))?,
            str_col(df, T, &format!("raison_{k}"))?,
        ));
    }
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut raisons = crate::stages::lists::select::Reasons::default();
        for (v, c, r) in &reasons {
            if let (Some(v), Some(c), Some(r)) = (v.get(i), c.get(i), r.get(i)) {
                let (index, f) = crate::stages::features::dictionary::DICTIONARY
                    .iter()
                    .enumerate()
                    .find(|(_, d)| d.name == v)
                    .ok_or_else(|| {
                        RecoursError::Internal(format!("{T}: {v} is not in the feature dictionary"))
                    })?;
                if r != f.reason_high && r != f.reason_low {
                    return Err(RecoursError::Internal(format!(
                        "{T}: \"{r}\" is not a reason of {v} in the feature dictionary"
                    )));
                }
                raisons.push(index, c, r != f.reason_high);
            }
        }
        rows.push(ScoreRow {
            pseudo_id: pseudo_id.get(i).unwrap_or_default().to_string(),
            prestation: intern(prestation.get(i).unwrap_or_default()),
            probabilite: probabilite.get(i).unwrap_or(0.0),
            montant_estime: montant.get(i).unwrap_or(0.0),
            candidat_deterministe: candidat.get(i).unwrap_or(false),
            raisons,
            person: None,
        });
    }
    Ok(rows)
}

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

pub struct Lists;

impl Stage for Lists {
    fn name(&self) -> &'static str {
        "lists"
    }
    fn describe(&self) -> &'static str {
        "prioritised contact lists per caisse, control group, exports, campaign feedback"
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let cfg = &ctx.config;
        let rules = cfg.list_rules()?;
        let extracts = RunContext::need(&ctx.extracts, "ingest")?;
        let households = RunContext::need(&ctx.households, "eligibility")?;
        let scores = RunContext::need(&ctx.scores, "score")?;
        let t0 = std::time::Instant::now();
        let book = lists::ContactBook::from_extracts(extracts)?;
        crate::stages::ingest::trace("lists: contact book", t0);
        crate::stages::ingest::trace_memory("lists: contact book");
        let t0 = std::time::Instant::now();
        let entries = lists::build(scores, households, &cfg.reference, &book, &rules);
        crate::stages::ingest::trace("lists: entries", t0);
        crate::stages::ingest::trace_memory("lists: entries");
        let t0 = std::time::Instant::now();
        let dir = ctx.out.join("lists");

        output::write_parquet_in_batches(&dir.join("decisions.parquet"), entries.len(), |r| {
            decisions_frame(&entries[r])
        })?;
        crate::stages::ingest::trace("lists: decisions written", t0);
        crate::stages::ingest::trace_memory("lists: decisions");
        let t0 = std::time::Instant::now();

        let models: Vec<(String, String)> = ctx
            .models
            .keys()
            .map(|b| {
                let digest = crate::tables::manifest::model_digest(&ctx.run_dir, b).unwrap_or_default();
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
                    exports::write_caisse(&dir.join(caisse), listed, &readme)
                })
                .collect::<Result<Vec<()>>>()?;
        }
        crate::stages::ingest::trace("lists: exports per caisse", t0);
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
        write_text(&dir.join("summary.csv"), &csv)?;

        crate::stages::ingest::trace("lists: summary", t0);
        // Campaign feedback from the outcomes the caisses sent back.
        // The outcomes' persons as the ingest of this run found them, else by id.
        let rows = extracts.person_rows_of("retours");
        let persons = |row: usize, id: &str| {
            let found = match rows {
                Some(r) => crate::stages::ingest::person_at(r, row),
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
            output::write_json(&dir.join("campaign-feedback.json"), &fb)?;
            write_text(&dir.join("campaign-feedback.csv"), &feedback::to_csv(&fb))?;
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
