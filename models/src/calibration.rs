//! Calibration of a logistic model's intercept to a target rate, and exact-count draws from
//! it. The synthetic population's take-up behaviour uses it: determinants give each unit an
//! offset, the intercept is solved so that the mean probability equals the published rate.

/// The logistic function, computed without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// The intercept `b` such that the mean of `sigmoid(b + offset)` equals `target`
/// (bisection: the mean is increasing in `b`). Panics on a target outside (0, 1).
pub fn intercept_for_rate(offsets: &[f64], target: f64) -> f64 {
    assert!(
        target > 0.0 && target < 1.0,
        "target rate {target} must be in (0, 1)"
    );
    if offsets.is_empty() {
        return logit(target);
    }
    let mean = |b: f64| offsets.iter().map(|o| sigmoid(b + o)).sum::<f64>() / offsets.len() as f64;
    let (mut lo, mut hi) = (-40.0, 40.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mean(mid) < target {
            lo = mid
        } else {
            hi = mid
        }
    }
    0.5 * (lo + hi)
}

/// Latent-variable draw with an exact count: unit `i` has latent `b + offset_i + e_i`
/// (`e_i` logistic, from the uniform `u_i`); the `round(target * n)` units with the largest
/// latents are selected. With the threshold at 0 instead of a count this is a Bernoulli
/// draw with probability `sigmoid(b + offset_i)`; fixing the count removes sampling noise
/// from the overall rate while keeping every determinant's direction.
pub fn select_exact_count(offsets: &[f64], uniforms: &[f64], target: f64) -> Vec<bool> {
    assert_eq!(offsets.len(), uniforms.len());
    let b = intercept_for_rate(offsets, target);
    let latent: Vec<f64> = offsets
        .iter()
        .zip(uniforms)
        .map(|(o, u)| {
            let u = u.clamp(1e-12, 1.0 - 1e-12);
            b + o + (u / (1.0 - u)).ln()
        })
        .collect();
    let k = (target * offsets.len() as f64).round() as usize;
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    // Ties (impossible in practice with continuous uniforms) are broken by index.
    order.sort_by(|&a, &b| latent[b].total_cmp(&latent[a]).then(a.cmp(&b)));
    let mut selected = vec![false; offsets.len()];
    for &i in order.iter().take(k) {
        selected[i] = true;
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intercept_reaches_the_target_rate() {
        let offsets: Vec<f64> = (0..1000).map(|i| (i % 7) as f64 * 0.3 - 1.0).collect();
        let b = intercept_for_rate(&offsets, 0.34);
        let mean = offsets.iter().map(|o| sigmoid(b + o)).sum::<f64>() / 1000.0;
        assert!((mean - 0.34).abs() < 1e-9, "{mean}");
    }

    #[test]
    fn exact_count_keeps_determinant_directions() {
        let n = 20_000;
        let offsets: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        // A deterministic low-discrepancy sequence stands in for uniforms.
        let uniforms: Vec<f64> = (0..n)
            .map(|i| ((i as f64) * 0.618_033_988_75).fract())
            .collect();
        let sel = select_exact_count(&offsets, &uniforms, 0.3);
        assert_eq!(sel.iter().filter(|s| **s).count(), 6000);
        let high = (0..n).filter(|i| i % 2 == 0 && sel[*i]).count();
        let low = (0..n).filter(|i| i % 2 == 1 && sel[*i]).count();
        assert!(high > 2 * low, "{high} vs {low}");
    }
}
