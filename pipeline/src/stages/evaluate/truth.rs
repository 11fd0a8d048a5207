//! The `evaluate` stage, on synthetic data only: the models' scores on the whole scoring
//! population against the generator's ground truth (`verite`). The only reader of `verite`.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;

use recours_models::metrics::{self, Evaluation};
use recours_models::train::ModelArtefact;
use serde::Serialize;

use crate::error::{RecoursError, Result};
use crate::stages::score::scoring;
use crate::tables::features::FeatureTable;

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct BenefitEvaluation {
    /// Share of the scoring population in non-take-up (eligible and not claiming).
    pub base_rate: f64,
    pub model: Evaluation,
    /// AUC of the estimated entitlement alone.
    pub auc_eligibility_only: Option<f64>,
    /// Precision of the deterministic candidates (estimated entitlement above the threshold).
    pub deterministic_candidates: usize,
    pub deterministic_precision: Option<f64>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct EvaluationReport {
    pub schema_version: u32,
    pub verite: String,
    pub benefits: BTreeMap<String, BenefitEvaluation>,
}

/// The ground truth: benefit → pseudo_id → in non-take-up (eligible and not claiming).
/// [`read_verite`] keeps the people in non-take-up only (a tenth of `verite`'s rows): a
/// person it does not name is not in non-take-up.
pub(crate) type Truth = HashMap<String, HashMap<String, bool>>;

/// Whether a person is in non-take-up of a benefit (false when the truth does not say).
pub(crate) fn in_non_take_up(t: &Truth, pseudo_id: &str, benefit: &str) -> bool {
    t.get(benefit)
        .and_then(|m| m.get(pseudo_id))
        .copied()
        .unwrap_or(false)
}

/// Reads `verite`: one Parquet file, or a folder of them (a sharded population), in path
/// order.
pub(crate) fn read_verite(path: &Path) -> Result<Truth> {
    use polars::prelude::*;
    let files: Vec<_> = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        crate::tables::manifest::files_under(path)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
            .collect()
    };
    if files.is_empty() {
        return Err(RecoursError::Config {
            file: path.to_path_buf(),
            message: "[evaluation] verite: no Parquet file there".into(),
        });
    }
    let scans = files
        .iter()
        .map(|f| {
            LazyFrame::scan_parquet(
                PlRefPath::new(f.to_string_lossy().as_ref()),
                ScanArgsParquet::default(),
            )
        })
        .collect::<PolarsResult<Vec<_>>>();
    let lf = scans
        .and_then(|scans| concat(scans, UnionArgs::default()))
        .and_then(|lf| {
            lf.filter(col("eligible").and(col("recourt").not()))
                .select([
                    col("pseudo_id"),
                    col("prestation"),
                    col("eligible"),
                    col("recourt"),
                ])
                .collect()
        })
        // A file that is not the ground truth's table is a configuration mistake (the
        // wrong file named), not a bug.
        .map_err(|e| RecoursError::Config {
            file: path.to_path_buf(),
            message: format!(
                "[evaluation] verite: not a readable ground-truth table (Parquet with \
                 pseudo_id, prestation, eligible, recourt): {e}"
            ),
        })?;
    let s = |c: &str| crate::io::frame::str_col(&lf, "verite", c);
    let b = |c: &str| crate::io::frame::bool_col(&lf, "verite", c);
    let (ids, prest, elig, rec) = (
        s("pseudo_id")?,
        s("prestation")?,
        b("eligible")?,
        b("recourt")?,
    );
    let mut truth = Truth::default();
    for i in 0..lf.height() {
        if let (Some(id), Some(b), Some(e), Some(r)) =
            (ids.get(i), prest.get(i), elig.get(i), rec.get(i))
        {
            truth
                .entry(b.to_string())
                .or_default()
                .insert(id.to_string(), e && !r);
        }
    }
    Ok(truth)
}

/// `verite_label` is the file's name (outputs hold no machine-specific path).
pub fn evaluate(
    truth: &Truth,
    verite_label: &str,
    features: &FeatureTable,
    models: &BTreeMap<&'static str, ModelArtefact>,
) -> EvaluationReport {
    use rayon::prelude::*;
    let by_benefit = scoring::benefit_rows(features);
    // One benefit per thread; collected into a BTreeMap, so the order is the benefits'.
    let per_benefit: Vec<(String, BenefitEvaluation)> = models
        .par_iter()
        .map(|(b, a)| {
            let rows = by_benefit.get(b).map(Vec::as_slice).unwrap_or_default();
            let p = scoring::probabilities(a, features, rows);
            let labels: Vec<bool> = rows
                .iter()
                .map(|&r| in_non_take_up(truth, &features.pseudo_id[r as usize], b))
                .collect();
            let amounts: Vec<f64> = rows
                .iter()
                .map(|&r| features.montant_estime[r as usize])
                .collect();
            let cand: Vec<bool> = rows
                .iter()
                .map(|&r| features.candidat_deterministe[r as usize])
                .collect();
            let n_cand = cand.iter().filter(|c| **c).count();
            let hits = cand.iter().zip(&labels).filter(|(c, l)| **c && **l).count();
            (
                b.to_string(),
                BenefitEvaluation {
                    base_rate: labels.iter().filter(|l| **l).count() as f64
                        / labels.len().max(1) as f64,
                    model: metrics::evaluate(&p, &labels),
                    auc_eligibility_only: metrics::auc(&amounts, &labels),
                    deterministic_candidates: n_cand,
                    deterministic_precision: (n_cand > 0).then(|| hits as f64 / n_cand as f64),
                },
            )
        })
        .collect();
    let benefits: BTreeMap<String, BenefitEvaluation> = per_benefit.into_iter().collect();
    EvaluationReport {
        schema_version: 1,
        verite: verite_label.to_string(),
        benefits,
    }
}
