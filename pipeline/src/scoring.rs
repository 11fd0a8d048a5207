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
    /// Feature index (in the artefact) and contribution of the largest positive
    /// contributions (at most [`TOP_REASONS`]), largest first.
    pub top: Vec<(usize, f64)>,
}

/// Scores the rows of `benefit`, in parallel, in table order.
pub fn score(a: &ModelArtefact, t: &FeatureTable, benefit: &str) -> Vec<Scored> {
    let pos = feature_positions(a, &t.names);
    let rows: Vec<usize> = (0..t.len())
        .filter(|&i| t.prestation[i] == benefit)
        .collect();
    rows.par_iter()
        .map(|&i| {
            let raw = t.row(i);
            let values: Vec<f64> = pos.iter().map(|&p| raw[p]).collect();
            let contrib = a.contributions(&values);
            let z = a.intercept + contrib.iter().sum::<f64>();
            let mut top: Vec<(usize, f64)> = contrib
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, c)| *c > 0.0)
                .collect();
            top.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            top.truncate(TOP_REASONS);
            Scored {
                row: i,
                probability: recours_models::calibration::sigmoid(z),
                top,
            }
        })
        .collect()
}
