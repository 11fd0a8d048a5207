//! Scoring a feature table with a benefit's model artefact: the probability of non-take-up
//! and each feature's contribution (coefficient × standardised value).

use std::collections::BTreeMap;

use rayon::prelude::*;
use recours_models::train::ModelArtefact;

use crate::tables::features::{Column, FeatureTable};

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
#[derive(Clone, Copy)]
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

/// One term of a model's linear predictor, over its feature's column of the table.
enum Term<'a> {
    /// A coded column: each level's contribution w·(level − mean), computed once.
    Coded {
        codes: &'a [u8],
        by_level: Box<[f64; 256]>,
    },
    /// A dense column: w·(x − mean) computed for each row.
    Dense {
        values: &'a [f64],
        mean: f64,
        w: f64,
        /// A value under the mean gives NaN (no contribution: see `top_contributions`).
        low_is_nan: bool,
    },
}

/// Rows of a block: consecutive rows of the table, or rows picked by index.
#[derive(Clone, Copy)]
enum Block<'a> {
    From(usize),
    Picked(&'a [u32]),
}

impl<'a> Block<'a> {
    fn of(rows: &'a [u32]) -> Block<'a> {
        if rows.windows(2).all(|w| w[1] == w[0].wrapping_add(1)) {
            Block::From(rows.first().map_or(0, |&r| r as usize))
        } else {
            Block::Picked(rows)
        }
    }
}

impl<'a> Term<'a> {
    /// The term of feature `p` of `t` with weight per unit `w` (w / sd) and mean `mean`;
    /// with `low_is_nan`, a value under the mean contributes NaN.
    fn new(t: &'a FeatureTable, p: usize, mean: f64, w: f64, low_is_nan: bool) -> Term<'a> {
        match &t.columns[p] {
            Column::Coded { levels, codes } => {
                let mut by_level = Box::new([f64::NAN; 256]);
                for (b, &x) in by_level.iter_mut().zip(levels) {
                    *b = if low_is_nan && x < mean {
                        f64::NAN
                    } else {
                        w * (x - mean)
                    };
                }
                Term::Coded { codes, by_level }
            }
            Column::Dense(values) => Term::Dense {
                values,
                mean,
                w,
                low_is_nan,
            },
        }
    }

    /// Adds each row's contribution to its `z` (one addition a row: the same bits as
    /// `z += w * (x - mean)`).
    #[inline]
    fn add_to(&self, z: &mut [f64], rows: Block) {
        let n = z.len();
        match (self, rows) {
            (Term::Coded { .. }, _) => add_coded::<1>(z, &[self], rows),
            (
                Term::Dense {
                    values, mean, w, ..
                },
                Block::From(start),
            ) => {
                for (z, &x) in z.iter_mut().zip(&values[start..start + n]) {
                    *z += w * (x - mean);
                }
            }
            (
                Term::Dense {
                    values, mean, w, ..
                },
                Block::Picked(rows),
            ) => {
                for (z, &r) in z.iter_mut().zip(rows) {
                    *z += w * (values[r as usize] - mean);
                }
            }
        }
    }

    /// The largest contribution a row can have (NaN ones aside): +∞ for a dense column,
    /// whose values are not gone through in advance; −∞ when none is a number.
    fn largest(&self) -> f64 {
        match self {
            Term::Coded { codes: _, by_level } => by_level
                .iter()
                .filter(|c| !c.is_nan())
                .fold(f64::NEG_INFINITY, |m, &c| m.max(c)),
            Term::Dense { .. } => f64::INFINITY,
        }
    }

    /// Row `k`'s contribution for `k` in `0..n`, to `f(k, contribution)`.
    #[inline]
    fn each(&self, n: usize, rows: Block, mut f: impl FnMut(usize, f64)) {
        let row = |k: usize| match rows {
            Block::From(start) => start + k,
            Block::Picked(rows) => rows[k] as usize,
        };
        match self {
            Term::Coded { codes, by_level } => {
                for k in 0..n {
                    f(k, by_level[codes[row(k)] as usize]);
                }
            }
            &Term::Dense {
                values,
                mean,
                w,
                low_is_nan,
            } => {
                for k in 0..n {
                    let x = values[row(k)];
                    f(
                        k,
                        if low_is_nan && x < mean {
                            f64::NAN
                        } else {
                            w * (x - mean)
                        },
                    );
                }
            }
        }
    }
}

/// Per feature of the artefact: position in the table's columns, mean, weight per unit
/// (w / sd).
fn weights(a: &ModelArtefact, t: &FeatureTable) -> Vec<(usize, f64, f64)> {
    feature_positions(a, &t.names)
        .iter()
        .zip(a.coefficients.iter().zip(&a.features))
        .map(|(&p, (c, f))| (p, f.mean, c.standardized / f.sd))
        .collect()
}

/// Rows whose sums advance together, a term at a time: each row's sum is still added up
/// term by term in feature order (the same bits as one row at a time), while a term's
/// column is read for the whole block at once.
const BLOCK: usize = 1024;

/// Rows per parallel task.
const TASK: usize = 4 * BLOCK;

/// Coded terms added together: a row's sum stays in a register across them.
const FUSED: usize = 4;

/// Adds `K` consecutive coded terms (codes and each level's contribution) to each row's
/// `z`, in their order.
#[inline]
fn add_coded<const K: usize>(z: &mut [f64], terms: &[&Term], rows: Block) {
    let n = z.len();
    let (codes, by_level): ([&[u8]; K], [&[f64; 256]; K]) = (
        std::array::from_fn(|k| match terms[k] {
            Term::Coded { codes, .. } => match rows {
                Block::From(start) => &codes[start..start + n],
                Block::Picked(_) => codes,
            },
            Term::Dense { .. } => unreachable!("coded terms only"),
        }),
        std::array::from_fn(|k| match terms[k] {
            Term::Coded { by_level, .. } => &**by_level,
            Term::Dense { .. } => unreachable!("coded terms only"),
        }),
    );
    match rows {
        Block::From(_) => {
            for (i, z) in z.iter_mut().enumerate() {
                let mut s = *z;
                for k in 0..K {
                    s += by_level[k][codes[k][i] as usize];
                }
                *z = s;
            }
        }
        Block::Picked(rows) => {
            for (z, &r) in z.iter_mut().zip(rows) {
                let mut s = *z;
                for k in 0..K {
                    s += by_level[k][codes[k][r as usize] as usize];
                }
                *z = s;
            }
        }
    }
}

/// The probabilities of `rows` (one benefit's), in the order given, in parallel: the
/// linear predictor with the artefact's weights folded (w/sd, and the means centring each
/// value), then the logistic function.
pub fn probabilities(a: &ModelArtefact, t: &FeatureTable, rows: &[u32]) -> Vec<f64> {
    let terms: Vec<Term> = weights(a, t)
        .into_iter()
        .map(|(p, mean, w)| Term::new(t, p, mean, w, false))
        .collect();
    // The terms in order, runs of coded ones cut into groups of at most FUSED.
    let mut steps: Vec<Vec<&Term>> = Vec::new();
    for term in &terms {
        match (term, steps.last_mut()) {
            (Term::Coded { .. }, Some(last))
                if last.len() < FUSED && matches!(last[0], Term::Coded { .. }) =>
            {
                last.push(term)
            }
            _ => steps.push(vec![term]),
        }
    }
    let mut out = vec![0.0; rows.len()];
    out.par_chunks_mut(TASK)
        .zip(rows.par_chunks(TASK))
        .for_each(|(out, rows)| {
            for (out, rows) in out.chunks_mut(BLOCK).zip(rows.chunks(BLOCK)) {
                let block = Block::of(rows);
                let mut z = [a.intercept; BLOCK];
                let z = &mut z[..rows.len()];
                for step in &steps {
                    match (step[0], step.len()) {
                        (_, 1) => step[0].add_to(z, block),
                        (_, 2) => add_coded::<2>(z, step, block),
                        (_, 3) => add_coded::<3>(z, step, block),
                        _ => add_coded::<FUSED>(z, step, block),
                    }
                }
                for (o, &z) in out.iter_mut().zip(z.iter()) {
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
    let weights = weights(a, t);
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&x, &y| {
        let size = |j: usize| a.coefficients[j].standardized.abs();
        size(y).total_cmp(&size(x)).then(x.cmp(&y))
    });
    // A feature with no wording for a low value (a yes/no or a one-hot level: "locataire
    // HLM") is never a reason through being low: that would name what the person is not.
    // Such a value's contribution is NaN, which the top turns away.
    let terms: Vec<(usize, Term, bool, f64)> = order
        .into_iter()
        .map(|j| {
            let (p, mean, w) = weights[j];
            let says_low = crate::stages::features::dictionary::feature(&a.features[j].name)
                .is_some_and(|d| !d.reason_low.is_empty());
            let term = Term::new(t, p, mean, w, !says_low);
            let largest = term.largest();
            (j, term, w > 0.0, largest)
        })
        .collect();
    let mut out = vec![Top::EMPTY; rows.len()];
    out.par_chunks_mut(BLOCK)
        .zip(rows.par_chunks(BLOCK))
        .with_min_len(TASK / BLOCK)
        .for_each(|(out, rows)| {
            let block = Block::of(rows);
            let mut tops = vec![TopK::EMPTY; rows.len()];
            // Each row's threshold beside the others' (a contribution under it is turned
            // away without reading the row's top), and the lowest of them: a term whose
            // largest contribution is under it would be turned away by every row.
            let mut thresholds = [TopK::EMPTY.threshold; BLOCK];
            let thresholds = &mut thresholds[..rows.len()];
            let mut lowest = TopK::EMPTY.threshold;
            for (j, term, high, largest) in &terms {
                if *largest < lowest {
                    continue;
                }
                term.each(rows.len(), block, |k, c| {
                    if c >= thresholds[k] {
                        tops[k].offer(*j, c, *high);
                        thresholds[k] = tops[k].threshold;
                    }
                });
                lowest = thresholds.iter().fold(f64::INFINITY, |m, &t| m.min(t));
            }
            for (o, top) in out.iter_mut().zip(tops.iter()) {
                *o = top.finish();
            }
        });
    out
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
    use crate::tables::features::ColumnsBuilder;
    use rand::{Rng, SeedableRng};

    /// A table of coded and dense columns (dictionary features) and a model trained on it.
    fn table_and_model(n: usize) -> (FeatureTable, ModelArtefact) {
        // Columns of more than two levels (looked up) in runs of 5 (fused by 4, then 1),
        // 2 and 3, between yes/no columns and dense ones.
        let names = vec![
            "age",
            "nb_enfants",
            "taille_foyer",
            "mois_sans_salaire",
            "volatilite_revenus",
            "couple",
            "age_moins_25",
            "revenus_activite_12m",
            "age_25_29",
            "age_30_39",
            "montant_estime",
            "age_40_49",
            "parent_isole",
            "enfant_moins_3_ans",
        ];
        let p = names.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut x = Vec::with_capacity(n * p);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let age = f64::from(rng.gen_range(18..90u8));
            let within = |from: f64, to: f64| f64::from(u8::from((from..to).contains(&age)));
            let row = [
                age,
                f64::from(rng.gen_range(0..5u8)),
                f64::from(rng.gen_range(1..4u8)),
                f64::from(rng.gen_range(0..13u8)),
                f64::from(rng.gen_range(0..3u8)),
                f64::from(u8::from(rng.gen_bool(0.4))),
                within(0.0, 25.0),
                rng.gen_range(0.0..30_000.0),
                within(25.0, 30.0),
                within(30.0, 40.0),
                rng.gen_range(0.0..900.0),
                within(40.0, 50.0),
                f64::from(rng.gen_range(0..7u8)),
                f64::from(rng.gen_range(0..4u8)),
            ];
            let z = 0.03 * (age - 50.0) - row[7] / 10_000.0 + row[10] / 300.0 + 0.5 * row[5]
                - 0.2 * row[3]
                - 1.0;
            y.push(rng.r#gen::<f64>() < recours_models::calibration::sigmoid(z));
            x.extend(row);
        }
        let mut columns = ColumnsBuilder::new(p, n);
        columns.push_rows(&x);
        let columns = columns.finish();
        let levels: Vec<usize> = columns
            .iter()
            .map(|c| match c {
                Column::Coded { levels, .. } => levels.len(),
                Column::Dense(_) => 0,
            })
            .collect();
        assert_eq!(levels, [72, 5, 3, 13, 3, 2, 2, 0, 2, 2, 0, 2, 7, 4]);
        let owned: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let a = recours_models::train::train(
            &recours_models::train::TrainInput {
                benefit: "PPA",
                names: &owned,
                groups: &vec![None; p],
                x: &x,
                y: &y,
                baseline: &x.chunks(p).map(|r| r[10]).collect::<Vec<_>>(),
                candidates: &vec![false; p],
            },
            &recours_models::train::TrainConfig {
                seed: 1,
                test_share: 0.25,
                folds: 3,
                alphas: vec![1.0],
                solver: Default::default(),
                allow_non_convergence: false,
                refit_on_all_labels: true,
            },
        )
        .unwrap();
        let table = FeatureTable {
            month: crate::domain::month::Month::parse("2025-09").unwrap(),
            names,
            pseudo_id: (0..n).map(|i| format!("{i:064x}")).collect(),
            prestation: vec!["PPA"; n],
            montant_estime: vec![0.0; n],
            candidat_deterministe: vec![false; n],
            columns,
            person: None,
        };
        (table, a)
    }

    /// Scoring over columns gives the bits of the row-at-a-time sums: intercept, then each
    /// feature's w·(x − mean) in feature order; and the reasons of offering each feature in
    /// turn, largest coefficient first, the features without a low wording skipped when low.
    #[test]
    fn column_scoring_gives_the_bits_of_row_at_a_time_scoring() {
        let n = 3 * BLOCK + 37;
        let (t, a) = table_and_model(n);
        assert_eq!(a.features.len(), t.names.len(), "no feature dropped");
        let w = weights(&a, &t);
        let mut order: Vec<usize> = (0..w.len()).collect();
        order.sort_by(|&x, &y| {
            let size = |j: usize| a.coefficients[j].standardized.abs();
            size(y).total_cmp(&size(x)).then(x.cmp(&y))
        });
        let by_row = |i: usize| {
            let row: Vec<f64> = t.row(i).collect();
            let mut z = a.intercept;
            for &(p, mean, w) in &w {
                z += w * (row[p] - mean);
            }
            let mut top = TopK::EMPTY;
            for &j in &order {
                let (p, mean, w) = w[j];
                let d = crate::stages::features::dictionary::feature(&a.features[j].name).unwrap();
                if row[p] < mean && d.reason_low.is_empty() {
                    continue;
                }
                top.offer(j, w * (row[p] - mean), w > 0.0);
            }
            (
                recours_models::calibration::sigmoid(z).to_bits(),
                top.finish(),
            )
        };
        let all: Vec<u32> = (0..n as u32).collect();
        let picked: Vec<u32> = (0..n as u32).rev().step_by(3).chain([5, 6, 7]).collect();
        for rows in [&all[..], &all[1..n - 2], &picked[..]] {
            let p = probabilities(&a, &t, rows);
            let top = top_contributions(&a, &t, rows);
            for (k, &r) in rows.iter().enumerate() {
                let (z, expected) = by_row(r as usize);
                assert_eq!(p[k].to_bits(), z, "row {r}");
                assert_eq!(top[k], expected, "row {r}");
            }
        }
        // Not vacuous: most rows have several reasons.
        let several = top_contributions(&a, &t, &all)
            .iter()
            .filter(|t| t.len >= 2)
            .count();
        assert!(several > n / 2, "{several} of {n}");
    }

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
