//! Evaluation metrics on scores and binary outcomes.

/// Area under the ROC curve by the rank-sum formula, ties counted half.
/// `None` when either class is absent.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut n_pos) = (0.0, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] {
                rank_sum += avg_rank;
                n_pos += 1;
            }
        }
        i = j + 1;
    }
    let n_neg = scores.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_known_answers() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5, 0.6], &[true, true]), None);
    }
}

/// Average precision (area under the precision-recall curve, step-wise as scikit-learn's
/// `average_precision_score`). `None` without positives.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n_pos = labels.iter().filter(|l| **l).count();
    if n_pos == 0 {
        return None;
    }
    let order = ranking(scores);
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        // Ties form one threshold.
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            if labels[k] { tp += 1.0 } else { fp += 1.0 }
        }
        let recall = tp / n_pos as f64;
        let precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j + 1;
    }
    Some(ap)
}

/// Indices by decreasing score, ties by index (a deterministic ranking).
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// Mean log-loss, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(p: &[f64], labels: &[bool]) -> f64 {
    let s: f64 = p
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if *y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    s / p.len().max(1) as f64
}

pub fn brier(p: &[f64], labels: &[bool]) -> f64 {
    p.iter()
        .zip(labels)
        .map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2))
        .sum::<f64>()
        / p.len().max(1) as f64
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CalibrationBin {
    pub decile: usize,
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Calibration by decile of predicted probability (decile 1 = lowest scores).
pub fn calibration_deciles(p: &[f64], labels: &[bool]) -> Vec<CalibrationBin> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let n = p.len();
    (0..10)
        .filter_map(|d| {
            let (lo, hi) = (d * n / 10, (d + 1) * n / 10);
            if hi <= lo {
                return None;
            }
            let idx = &order[lo..hi];
            let count = idx.len();
            Some(CalibrationBin {
                decile: d + 1,
                count,
                mean_predicted: idx.iter().map(|&i| p[i]).sum::<f64>() / count as f64,
                observed_rate: idx.iter().filter(|&&i| labels[i]).count() as f64 / count as f64,
            })
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopK {
    /// Share of the population contacted, e.g. 0.03 for the top 3 %.
    pub share: f64,
    pub contacted: usize,
    pub precision: f64,
    pub recall: f64,
    /// Precision divided by the base rate.
    pub lift: f64,
}

/// Precision, recall and lift when the top `share` of scores is contacted.
pub fn top_k(scores: &[f64], labels: &[bool], shares: &[f64]) -> Vec<TopK> {
    let order = ranking(scores);
    let n = scores.len();
    let positives = labels.iter().filter(|l| **l).count().max(1) as f64;
    let base = positives / n.max(1) as f64;
    shares
        .iter()
        .map(|&share| {
            let k = ((share * n as f64).ceil() as usize).clamp(1.min(n), n);
            let tp = order[..k].iter().filter(|&&i| labels[i]).count() as f64;
            let precision = if k > 0 { tp / k as f64 } else { 0.0 };
            TopK {
                share,
                contacted: k,
                precision,
                recall: tp / positives,
                lift: if base > 0.0 { precision / base } else { 0.0 },
            }
        })
        .collect()
}

/// One point of the ranking curves: contacting the top `share` of scores.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CurvePoint {
    pub share: f64,
    /// True positive rate (recall, cumulative gain).
    pub tpr: f64,
    pub fpr: f64,
    /// Precision (1 when nobody is contacted).
    pub precision: f64,
}

/// ROC, precision-recall and cumulative gain in one pass, one point after each distinct
/// score of the ranking (a group of tied scores is never split), at most `max_points` + 1
/// points: with more distinct scores than that, the first point at or after each
/// `k / max_points` of the ranking. Starts at (0, 0), ends with everyone contacted.
pub fn curve(scores: &[f64], labels: &[bool], max_points: usize) -> Vec<CurvePoint> {
    let order = ranking(scores);
    let n = scores.len();
    let steps = max_points.max(1);
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = n - positives;
    let point = |taken: usize, tp: usize| {
        let fp = taken - tp;
        CurvePoint {
            share: if n > 0 { taken as f64 / n as f64 } else { 0.0 },
            tpr: if positives > 0 {
                tp as f64 / positives as f64
            } else {
                0.0
            },
            fpr: if negatives > 0 {
                fp as f64 / negatives as f64
            } else {
                0.0
            },
            precision: if taken > 0 {
                tp as f64 / taken as f64
            } else {
                1.0
            },
        }
    };
    let mut out = vec![point(0, 0)];
    let (mut tp, mut taken) = (0usize, 0usize);
    for k in 1..=steps {
        let upto = (k * n).div_ceil(steps);
        if upto <= taken {
            continue;
        }
        while taken < upto || (taken < n && scores[order[taken]] == scores[order[taken - 1]]) {
            tp += usize::from(labels[order[taken]]);
            taken += 1;
        }
        out.push(point(taken, tp));
    }
    out
}

/// Points of the ranking curves [`evaluate`] keeps: every distinct score up to this many.
pub const CURVE_POINTS: usize = 1000;

/// Every metric the model card and the report show, on one set of scores.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub rows: usize,
    pub positives: usize,
    pub auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub log_loss: f64,
    pub brier: f64,
    pub calibration: Vec<CalibrationBin>,
    pub top: Vec<TopK>,
    /// ROC, precision-recall and gain curves after each distinct score (at most
    /// [`CURVE_POINTS`] of them).
    #[serde(default)]
    pub curve: Vec<CurvePoint>,
}

pub const TOP_SHARES: [f64; 4] = [0.01, 0.03, 0.05, 0.10];

pub fn evaluate(p: &[f64], labels: &[bool]) -> Evaluation {
    Evaluation {
        rows: p.len(),
        positives: labels.iter().filter(|l| **l).count(),
        auc: auc(p, labels),
        pr_auc: average_precision(p, labels),
        log_loss: log_loss(p, labels),
        brier: brier(p, labels),
        calibration: calibration_deciles(p, labels),
        top: top_k(p, labels, &TOP_SHARES),
        curve: curve(p, labels, CURVE_POINTS),
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn average_precision_known_answer() {
        // scikit-learn: average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) = 0.8333…
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((ap - 0.833_333_333_333_333_4).abs() < 1e-12);
    }

    #[test]
    fn log_loss_and_brier_known_answers() {
        let p = [0.9, 0.2];
        let y = [true, false];
        assert!((log_loss(&p, &y) - (-(0.9f64.ln()) - 0.8f64.ln()) / 2.0).abs() < 1e-12);
        assert!((brier(&p, &y) - (0.01 + 0.04) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn curve_ends_and_known_point() {
        let scores: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let labels: Vec<bool> = (0..100).map(|i| i >= 90 || i == 5).collect();
        let c = curve(&scores, &labels, 100);
        assert_eq!(c.len(), 101);
        assert_eq!((c[0].tpr, c[0].fpr), (0.0, 0.0));
        assert_eq!((c[100].tpr, c[100].fpr), (1.0, 1.0));
        // Top 10 %: the ten highest scores, all positive.
        assert!((c[10].tpr - 10.0 / 11.0).abs() < 1e-12 && c[10].fpr == 0.0);
        assert_eq!(c[10].precision, 1.0);
        // Trapezoid area under the sampled ROC equals the AUC when every step is one row.
        let area: f64 = c
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum();
        assert!((area - auc(&scores, &labels).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn curve_keeps_ties_together_and_has_a_point_per_distinct_score() {
        // Scores 9, 9, 8, 7, 7, 7, 1: four distinct scores, four points after the start.
        let scores = [9.0, 7.0, 9.0, 1.0, 7.0, 8.0, 7.0];
        let labels = [true, false, true, false, true, false, false];
        let c = curve(&scores, &labels, 1000);
        let shares: Vec<f64> = c.iter().map(|p| p.share * 7.0).collect();
        assert_eq!(shares, [0.0, 2.0, 3.0, 6.0, 7.0]);
        assert_eq!(c[1].precision, 1.0);
        assert!((c[3].tpr - 1.0).abs() < 1e-12 && (c[3].fpr - 0.75).abs() < 1e-12);
        // Fewer points asked than distinct scores: the first boundary at or after each step.
        let scores: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let labels: Vec<bool> = (0..1000).map(|i| i % 7 == 0).collect();
        let c = curve(&scores, &labels, 100);
        assert_eq!(c.len(), 101);
        assert!((c[3].share - 0.03).abs() < 1e-12);
    }

    #[test]
    fn top_k_precision_recall_lift() {
        let scores: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let labels: Vec<bool> = (0..100).map(|i| i >= 90 || i == 5).collect();
        let t = &top_k(&scores, &labels, &[0.1])[0];
        assert_eq!(t.contacted, 10);
        assert!((t.precision - 1.0).abs() < 1e-12);
        assert!((t.recall - 10.0 / 11.0).abs() < 1e-12);
        assert!((t.lift - 100.0 / 11.0).abs() < 1e-9);
    }
}
