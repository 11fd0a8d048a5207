//! Scoring a feature table with a benefit's model artefact: the probability of non-take-up
//! and each feature's contribution (coefficient × standardised value).

use std::collections::BTreeMap;

use rayon::prelude::*;
use recours_models::train::ModelArtefact;

use crate::tables::features::FeatureTable;

pub(crate) use crate::tables::scores::TOP_REASONS;

/// The largest positive contributions of a row, largest first, held in place (scoring
/// allocates nothing per row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Top {
    len: u8,
    /// Contribution, feature index (in the artefact), and whether the feature's standardised
    /// value is positive (it picks the phrase; for a positive contribution it is the sign of
    /// the coefficient): 16 bytes.
    items: [(f64, u16, bool); TOP_REASONS],
}

impl Top {
    const EMPTY: Top = Top {
        len: 0,
        items: [(0.0, 0, false); TOP_REASONS],
    };

    /// Feature index, contribution and the sign of the standardised value (±1), largest
    /// contribution first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f64, f64)> + '_ {
        self.items[..self.len as usize]
            .iter()
            .map(|&(c, j, high)| (j as usize, c, if high { 1.0 } else { -1.0 }))
    }
}

/// Collects a row's largest positive contributions: unordered while the row is read (an
/// offer below the smallest kept costs one comparison), ordered once at the end. Between
/// equal contributions the lower feature index wins, whatever order the features are
/// offered in (as an ordered insertion in index order would).
struct TopK {
    top: Top,
    /// A contribution must exceed this to enter: 0, or the smallest kept once full.
    threshold: f64,
    /// Where the smallest kept contribution is (the latest feature among equals).
    smallest: usize,
}

impl TopK {
    const EMPTY: TopK = TopK {
        top: Top::EMPTY,
        threshold: 0.0,
        smallest: 0,
    };

    /// Offers feature `j`'s contribution `c`. Features may come in any order: between equal
    /// contributions the lower feature index wins, as it would in index order.
    #[inline(always)]
    fn offer(&mut self, j: usize, c: f64, high: bool) {
        // Written so that a NaN contribution (a missing value) never enters.
        if !(c >= self.threshold) {
            return;
        }
        let len = self.top.len as usize;
        if len < TOP_REASONS {
            if !(c > 0.0) {
                return;
            }
            self.top.items[len] = (c, j as u16, high);
            self.top.len += 1;
            if len + 1 < TOP_REASONS {
                return;
            }
        } else {
            let smallest = self.top.items[self.smallest];
            if c == smallest.0 && j > smallest.1 as usize {
                return;
            }
            self.top.items[self.smallest] = (c, j as u16, high);
        }
        let mut at = 0;
        for k in 1..TOP_REASONS {
            let (a, b) = (self.top.items[k], self.top.items[at]);
            if a.0 < b.0 || (a.0 == b.0 && a.1 > b.1) {
                at = k;
            }
        }
        self.smallest = at;
        self.threshold = self.top.items[at].0;
    }

    fn finish(mut self) -> Top {
        // Insertion sort of at most six: largest contribution first, then feature index.
        let items = &mut self.top.items[..self.top.len as usize];
        for k in 1..items.len() {
            let x = items[k];
            let mut at = k;
            while at > 0
                && (items[at - 1].0 < x.0 || (items[at - 1].0 == x.0 && items[at - 1].1 > x.1))
            {
                items[at] = items[at - 1];
                at -= 1;
            }
            items[at] = x;
        }
        self.top
    }
}

/// The rows of each benefit in the table, in table order (one pass over the table, run
/// by run: the table is grouped by benefit).
pub(crate) fn benefit_rows(t: &FeatureTable) -> BTreeMap<&'static str, Vec<u32>> {
    let mut rows: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    let n = t.prestation.len();
    let mut start = 0;
    while start < n {
        let b = t.prestation[start];
        let run = t.prestation[start..]
            .iter()
            .position(|&x| !(std::ptr::eq(x, b) || x == b))
            .unwrap_or(n - start);
        rows.entry(b)
            .or_default()
            .extend(start as u32..(start + run) as u32);
        start += run;
    }
    rows
}

/// Per feature of the artefact: position in the table's row, mean, weight per unit (w / sd).
fn terms(a: &ModelArtefact, t: &FeatureTable) -> Vec<(usize, f64, f64)> {
    feature_positions(a, &t.names)
        .iter()
        .zip(a.coefficients.iter().zip(&a.features))
        .map(|(&p, (c, f))| (p, f.mean, c.standardized / f.sd))
        .collect()
}

/// Rows scored together: each row's sum is still added up term by term in feature order
/// (the same bits as one row at a time), but the rows' sums advance side by side instead of
/// waiting on each other's additions.
const BLOCK: usize = 4;

/// Rows per parallel task.
const TASK: usize = 4096;

/// The probabilities of `rows` (one benefit's), in the order given, in parallel: the
/// linear predictor with the artefact's weights folded (w/sd, and the means centring each
/// value), then the logistic function.
pub fn probabilities(a: &ModelArtefact, t: &FeatureTable, rows: &[u32]) -> Vec<f64> {
    let terms = terms(a, t);
    let mut out = vec![0.0; rows.len()];
    out.par_chunks_mut(TASK)
        .zip(rows.par_chunks(TASK))
        .for_each(|(out, rows)| {
            for (out, rows) in out.chunks_mut(BLOCK).zip(rows.chunks(BLOCK)) {
                let mut raw: [&[f64]; BLOCK] = [&[]; BLOCK];
                for (k, &r) in rows.iter().enumerate() {
                    raw[k] = t.row(r as usize);
                }
                let mut z = [a.intercept; BLOCK];
                if rows.len() == BLOCK {
                    for &(p, mean, w) in &terms {
                        for k in 0..BLOCK {
                            z[k] += w * (raw[k][p] - mean);
                        }
                    }
                } else {
                    for k in 0..rows.len() {
                        for &(p, mean, w) in &terms {
                            z[k] += w * (raw[k][p] - mean);
                        }
                    }
                }
                for (o, z) in out.iter_mut().zip(z) {
                    *o = recours_models::calibration::sigmoid(z);
                }
            }
        });
    out
}

/// The largest positive contributions of each of `rows`, in the order given, in parallel.
/// They are offered largest standardised coefficient first, so the few that matter fill
/// the top early and the rest are turned away by one comparison each.
pub(crate) fn top_contributions(a: &ModelArtefact, t: &FeatureTable, rows: &[u32]) -> Vec<Top> {
    let terms = terms(a, t);
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by(|&x, &y| {
        let size = |j: usize| a.coefficients[j].standardized.abs();
        size(y).total_cmp(&size(x)).then(x.cmp(&y))
    });
    // A feature with no wording for a low value (a yes/no or a one-hot level: "locataire
    // HLM") is never a reason through being low: that would name what the person is not.
    let says_low: Vec<bool> = a
        .features
        .iter()
        .map(|f| {
            crate::stages::features::dictionary::feature(&f.name)
                .is_some_and(|d| !d.reason_low.is_empty())
        })
        .collect();
    let order: Vec<(usize, usize, f64, f64, bool)> = order
        .into_iter()
        .map(|j| {
            let (p, mean, w) = terms[j];
            (j, p, mean, w, w > 0.0)
        })
        .collect();
    rows.par_iter()
        .with_min_len(TASK)
        .map(|&i| {
            let raw = t.row(i as usize);
            let mut top = TopK::EMPTY;
            for &(j, p, mean, w, high) in &order {
                if raw[p] < mean && !says_low[j] {
                    continue;
                }
                top.offer(j, w * (raw[p] - mean), high);
            }
            top.finish()
        })
        .collect()
}

/// Column positions of an artefact's features in a feature table.
pub(crate) fn feature_positions(a: &ModelArtefact, names: &[&'static str]) -> Vec<usize> {
    a.features
        .iter()
        .map(|f| {
            names
                .iter()
                .position(|n| *n == f.name)
                .expect("signature checked")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_keeps_the_largest_positive_contributions_in_order() {
        let mut t = TopK::EMPTY;
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
            t.offer(j, c, j % 2 == 0);
        }
        let kept: Vec<(usize, f64)> = t.finish().iter().map(|x| (x.0, x.2)).collect();
        assert_eq!(
            kept,
            [(2, 1.0), (6, 1.0), (4, 1.0), (5, -1.0), (0, 1.0), (7, -1.0)]
        );
        // Ties: the lower feature index is kept and shown first, in whatever order the
        // features are offered.
        for order in [
            [0, 1, 2, 3, 4, 5, 6, 7, 8],
            [8, 7, 6, 5, 4, 3, 2, 1, 0],
            [4, 8, 0, 6, 2, 7, 1, 5, 3],
        ] {
            let mut t = TopK::EMPTY;
            for j in order {
                t.offer(j, if j == 4 { 2.0 } else { 1.0 }, true);
            }
            t.offer(9, f64::NAN, true);
            let kept: Vec<usize> = t.finish().iter().map(|x| x.0).collect();
            assert_eq!(kept, [4, 0, 1, 2, 3, 5], "{order:?}");
        }
    }
}
