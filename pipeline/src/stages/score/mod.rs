//! The `score` stage: probabilities and reasons from the models, written to
//! `scores.parquet` (and read back from it by a resumed run).

pub mod scoring;

use std::collections::BTreeMap;

use polars::prelude::*;
use rayon::prelude::*;
use recours_models::train::ModelArtefact;

use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::stages::features::{self, dictionary};
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage};
use crate::stages::train;
use crate::tables::features::FeatureTable;
use crate::tables::run_folder::names;
use crate::tables::scores::{Reasons, ScoreRow};

/// The `score` stage.
pub static STAGE: Declaration = Declaration {
    name: "score",
    describe: "scores and reasons for everyone in a benefit's scoring population",
    reads: &[&features::STAGE, &train::STAGE],
    needs: &[Need::Features, Need::Models],
    outputs: &[names::SCORES],
};

pub(crate) struct Score;

impl Stage for Score {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        // Everything it depends on is in the stages it reads.
        let _ = f;
        Ok(serde_json::Value::Null)
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let table = RunContext::need(&ctx.features, "features")?;
        let start = std::time::Instant::now();
        let (scores, time) = score_all(&ctx.models, table);
        let secs = start.elapsed().as_secs_f64();
        output::write_parquet_in_batches(&ctx.out.scores(), scores.len(), |r| {
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

/// The wording of a score's reasons, from the feature dictionary.
impl Reasons {
    /// Feature name, contribution and plain-French reason of the `k`-th largest.
    pub fn get(&self, k: usize) -> Option<(&'static str, f64, &'static str)> {
        let (i, low, c) = self.item(k)?;
        let f = &dictionary::DICTIONARY[i];
        Some((f.name, c, if low { f.reason_low } else { f.reason_high }))
    }

    /// The dictionary's feature of the `k`-th largest, and whether its "low value" phrase
    /// applies.
    pub fn feature(&self, k: usize) -> Option<(&'static dictionary::FeatureDef, bool)> {
        let (i, low, _) = self.item(k)?;
        Some((&dictionary::DICTIONARY[i], low))
    }
}

/// Plain-French reason for a feature that pushes the score up: the dictionary's phrase for
/// a high value when the standardised value is positive, for a low value otherwise.
pub fn reason(f: &'static dictionary::FeatureDef, standardised: f64) -> &'static str {
    if standardised >= 0.0 || f.reason_low.is_empty() {
        f.reason_high
    } else {
        f.reason_low
    }
}

/// Seconds spent in the scoring passes themselves (before ids, reasons and sorting).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ScoringTime {
    /// Grouping the rows by benefit and computing every probability.
    pub probabilities: f64,
    /// Finding each row's largest contributions.
    pub contributions: f64,
}

/// Every score row, in (benefit, id) order, and the time of the scoring passes.
pub(crate) fn score_all(
    models: &BTreeMap<&'static str, ModelArtefact>,
    t: &FeatureTable,
) -> (Vec<ScoreRow>, ScoringTime) {
    let mut out: Vec<ScoreRow> = Vec::with_capacity(t.len());
    let mut time = ScoringTime::default();
    let start = std::time::Instant::now();
    let by_benefit = scoring::benefit_rows(t);
    time.probabilities += start.elapsed().as_secs_f64();
    let progress = crate::io::progress::Progress::new(
        "score",
        "rows scored",
        by_benefit.values().map(|r| r.len() as u64).sum(),
        "rows",
    );
    for (b, a) in models {
        // The artefact's features, resolved once in the dictionary (with their index).
        let defs: Vec<(usize, &'static dictionary::FeatureDef)> = a
            .features
            .iter()
            .map(|f| {
                dictionary::DICTIONARY
                    .iter()
                    .enumerate()
                    .find(|(_, d)| d.name == f.name)
                    .expect("an artefact's features passed the signature check")
            })
            .collect();
        let rows = by_benefit.get(b).map(Vec::as_slice).unwrap_or_default();
        let start = std::time::Instant::now();
        let p = scoring::probabilities(a, t, rows);
        time.probabilities += start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        let top = scoring::top_contributions(a, t, rows);
        time.contributions += start.elapsed().as_secs_f64();
        out.par_extend(rows.par_iter().zip(&p).zip(&top).map(|((&row, &p), top)| {
            let row = row as usize;
            ScoreRow {
                pseudo_id: t.pseudo_id[row].clone(),
                prestation: b,
                probabilite: p,
                montant_estime: t.montant_estime[row],
                candidat_deterministe: t.candidat_deterministe[row],
                raisons: {
                    let mut r = Reasons::default();
                    for (j, c, z) in top.iter() {
                        let (index, f) = defs[j];
                        r.push(index, c, reason(f, z) != f.reason_high);
                    }
                    r
                },
                person: t.person.as_ref().map(|p| p[row]),
            }
        }));
        progress.inc(rows.len() as u64);
    }
    // (benefit, id) is unique: an unstable sort gives the one order.
    out.par_sort_unstable_by(|a, b| {
        a.prestation
            .cmp(b.prestation)
            .then_with(|| a.pseudo_id.cmp(&b.pseudo_id))
    });
    (out, time)
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
    for k in 0..crate::tables::scores::TOP_REASONS {
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
pub(crate) fn scores_from_frame(df: &DataFrame) -> Result<Vec<ScoreRow>> {
    use crate::io::frame::{bool_col, f64_col, intern, str_col};
    const T: &str = "scores.parquet";
    let pseudo_id = str_col(df, T, "pseudo_id")?;
    let prestation = str_col(df, T, "prestation")?;
    let probabilite = f64_col(df, T, "probabilite")?;
    let montant = f64_col(df, T, "montant_estime")?;
    let candidat = bool_col(df, T, "candidat_deterministe")?;
    let mut reasons = Vec::new();
    for k in 1..=crate::tables::scores::TOP_REASONS {
        reasons.push((
            str_col(df, T, &format!("variable_{k}"))?,
            f64_col(df, T, &format!("contribution_{k}"))?,
            str_col(df, T, &format!("raison_{k}"))?,
        ));
    }
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut raisons = Reasons::default();
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
