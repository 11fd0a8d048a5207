//! Scoring a feature table with a benefit's model artefact: the probability of non-take-up
//! and each feature's contribution (coefficient × standardised value).

use rayon::prelude::*;
use recours_models::train::ModelArtefact;

use crate::features::FeatureTable;
use crate::training::feature_positions;

/// Contributions kept per score: three are shown, the others stand in when a reason
/// repeats what the entitlement estimate already says.
pub const TOP_REASONS: usize = 6;

/// The largest positive contributions of a row, largest first, held in place (scoring
/// allocates nothing per row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Top {
    len: usize,
    /// Contribution, standardised value (only its sign is used: it picks the phrase),
    /// feature index (in the artefact): 16 bytes.
    items: [(f64, f32, u16); TOP_REASONS],
}

impl Top {
    const EMPTY: Top = Top {
        len: 0,
        items: [(0.0, 0.0, 0); TOP_REASONS],
    };

    /// A contribution must exceed this to enter: 0, or the smallest kept once full.
    #[inline]
    fn threshold(&self) -> f64 {
        if self.len == TOP_REASONS {
            self.items[TOP_REASONS - 1].0
        } else {
            0.0
        }
    }

    fn offer(&mut self, j: usize, c: f64, z: f64) {
        if c <= 0.0 || (self.len == TOP_REASONS && c <= self.items[TOP_REASONS - 1].0) {
            return;
        }
        let at = self.items[..self.len]
            .iter()
            .position(|x| c > x.0)
            .unwrap_or(self.len);
        let end = self.len.min(TOP_REASONS - 1);
        self.items.copy_within(at..end, at + 1);
        // Only the sign of z is used: a negative z too small for f32 stays negative.
        let zf = if z < 0.0 {
            (z as f32).min(-f32::MIN_POSITIVE)
        } else {
            z as f32
        };
        self.items[at] = (c, zf, j as u16);
        self.len = (self.len + 1).min(TOP_REASONS);
    }

    /// Feature index, contribution and standardised value (its sign), largest first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f64, f64)> + '_ {
        self.items[..self.len]
            .iter()
            .map(|&(c, z, j)| (j as usize, c, f64::from(z)))
    }
}

/// A scored row of the feature table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub row: usize,
    pub probability: f64,
    /// Feature index (in the artefact), contribution and standardised value of the largest
    /// positive contributions (at most [`TOP_REASONS`]), largest first.
    pub top: Top,
}

/// Scores the rows of `benefit`, in parallel, in table order. The linear predictor is one
/// pass over the row with the artefact's weights folded (w/sd, and the means into the
/// intercept); contributions are kept only for the few largest.
pub fn score(a: &ModelArtefact, t: &FeatureTable, benefit: &str) -> Vec<Scored> {
    let pos = feature_positions(a, &t.names);
    let rows: Vec<usize> = (0..t.len())
        .into_par_iter()
        .with_min_len(1 << 16)
        .filter(|&i| t.prestation[i] == benefit)
        .collect();
    // Per feature: position in the row, mean, weight per unit (w / sd), 1 / sd.
    let terms: Vec<(usize, f64, f64, f64)> = pos
        .iter()
        .zip(a.coefficients.iter().zip(&a.features))
        .map(|(&p, (c, f))| (p, f.mean, c.standardized / f.sd, 1.0 / f.sd))
        .collect();
    rows.par_iter()
        .with_min_len(4096)
        .map(|&i| {
            let raw = t.row(i);
            let mut z = a.intercept;
            let mut top = Top::EMPTY;
            for (j, &(p, mean, w, inv_sd)) in terms.iter().enumerate() {
                let centred = raw[p] - mean;
                let c = w * centred;
                z += c;
                if c > top.threshold() {
                    top.offer(j, c, centred * inv_sd);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_keeps_the_largest_positive_contributions_in_order() {
        let mut t = Top::EMPTY;
        for (j, c) in [
            (0, 0.5),
            (1, -2.0),
            (2, 3.0),
            (3, 0.1),
            (4, 1.0),
            (5, 0.7),
            (6, 2.0),
            (7, 0.2),
            (8, 0.05),
        ] {
            t.offer(j, c, 0.0);
        }
        let kept: Vec<usize> = t.iter().map(|x| x.0).collect();
        assert_eq!(kept, [2, 6, 4, 5, 0, 7]);
    }
}
