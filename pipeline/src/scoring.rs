//! Scoring a feature table with a benefit's model artefact: the probability of non-take-up
//! and each feature's contribution (coefficient × standardised value).

use rayon::prelude::*;
use recours_models::train::ModelArtefact;

use crate::features::FeatureTable;
use crate::training::feature_positions;

/// Contributions kept per score: three are shown, the others stand in when a reason
/// repeats what the entitlement estimate already says.
pub const TOP_REASONS: usize = 6;

/// A scored row of the feature table.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub row: usize,
    pub probability: f64,
    /// Feature index (in the artefact), contribution and standardised value of the largest
    /// positive contributions (at most [`TOP_REASONS`]), largest first.
    pub top: Vec<(usize, f64, f64)>,
}

/// Scores the rows of `benefit`, in parallel, in table order. The linear predictor is one
/// pass over the row with the artefact's weights folded (w/sd, and the means into the
/// intercept); contributions are kept only for the few largest.
pub fn score(a: &ModelArtefact, t: &FeatureTable, benefit: &str) -> Vec<Scored> {
    let pos = feature_positions(a, &t.names);
    let rows: Vec<usize> = (0..t.len())
        .filter(|&i| t.prestation[i] == benefit)
        .collect();
    let w: Vec<f64> = a
        .coefficients
        .iter()
        .zip(&a.features)
        .map(|(c, f)| c.standardized / f.sd)
        .collect();
    rows.par_iter()
        .map(|&i| {
            let raw = t.row(i);
            let mut z = a.intercept;
            let mut top: Vec<(usize, f64, f64)> = Vec::with_capacity(TOP_REASONS + 1);
            for (j, (&p, f)) in pos.iter().zip(&a.features).enumerate() {
                let centred = raw[p] - f.mean;
                let c = w[j] * centred;
                z += c;
                if c > 0.0 && (top.len() < TOP_REASONS || c > top[top.len() - 1].1) {
                    let at = top.iter().position(|x| c > x.1).unwrap_or(top.len());
                    top.insert(at, (j, c, centred / f.sd));
                    top.truncate(TOP_REASONS);
                }
            }
            Scored {
                row: i,
                probability: recours_models::calibration::sigmoid(z),
                top,
            }
        })
        .collect()
}
