//! The `score` stage: probabilities and reasons from the models, written to
//! `scores.parquet` (and read back from it by a resumed run).

pub mod scoring;

use polars::prelude::*;

use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::stages::features;
use crate::stages::lists::select::{self as lists, ScoreRow};
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage};
use crate::stages::train;
use crate::tables::run_folder::names;

/// The `score` stage.
pub static STAGE: Declaration = Declaration {
    name: "score",
    describe: "scores and reasons for everyone in a benefit's scoring population",
    reads: &[&features::STAGE, &train::STAGE],
    needs: &[Need::Features, Need::Models],
    outputs: &[names::SCORES],
};

pub struct Score;

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
        let (scores, time) = lists::score_all(&ctx.models, table);
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
