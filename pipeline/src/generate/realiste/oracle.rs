//! The exact posterior P(entitled and not claiming | every observable) of a unit, per
//! benefit, by enumerating the hidden grid (no Monte Carlo):
//!
//! p_b = Σ_h prior(h|obs) · L(signals|h) · Π_b' L(receipt_b'|h) · r_b(h)  /  Σ_h prior(h|obs) · L(signals|h) · Π_b' L(receipt_b'|h)
//!
//! where L(receipt_b|h) is the probability of what the files show about benefit b (receiving
//! it, with its amount, or not; opened by the past campaign or not) and r_b(h) the share of
//! that probability in which the unit is entitled and not claiming.

use super::behaviour::{GRID, Hidden, Prior, Signals, UnitObs, sigmoid, signals_likelihood};

/// What the files show about one benefit of a unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Receipt {
    /// Not receiving. `opening` is the probability that the past campaign would have
    /// opened the right of an entitled non-claimer (0 when the unit was not in it; the
    /// control group's and the contacted's rates otherwise).
    No { opening: f64 },
    /// Receiving this amount (rounded to the cent), since before the campaign.
    Claimed { amount: f64 },
    /// Receiving this amount, opened by the past campaign (opening probability given).
    Opened { amount: f64, opening: f64 },
}

/// Per (hidden resource, situation): the entitlement amounts of the three benefits.
pub(crate) type Laws = [[f64; 3]; super::behaviour::LAWS];

/// The unit's inputs to the oracle.
pub(crate) struct OracleInput<'a> {
    pub obs: &'a UnitObs,
    pub laws: &'a Laws,
    pub signals: &'a Signals,
    pub ended_seen: bool,
    /// The porteur has contact rows: their online-account signal is observed.
    pub online_seen: bool,
    pub receipts: [Receipt; 3],
    /// Intercepts of the claim laws.
    pub base: [f64; 3],
    /// The take-up laws' strength (`Knobs::take_up_strength`).
    pub strength: f64,
}

/// Probability of claiming for an entitled unit, by benefit.
pub(crate) fn p_claim(input: &OracleInput, benefit: usize, h: Hidden, amount: f64) -> f64 {
    sigmoid(
        input.base[benefit]
            + input.strength
                * super::behaviour::claim_logit(benefit, input.obs, h, input.signals, amount),
    )
}

fn same_amount(a: f64, b: f64) -> bool {
    (crate::domain::entitlement::round2(a) - b).abs() < 0.005
}

/// Likelihood of every observable of the unit under `h` and, per benefit, the part of it
/// where the unit is entitled and not claiming.
pub(crate) fn likelihood(input: &OracleInput, prior: &Prior, h: Hidden) -> (f64, [f64; 3]) {
    let p0 = prior.p(h);
    if p0 == 0.0 {
        return (0.0, [0.0; 3]);
    }
    let mut l = p0
        * signals_likelihood(
            input.obs,
            h,
            input.signals,
            input.ended_seen,
            input.online_seen,
        );
    let amounts = input.laws[h.law()];
    let mut ratio = [0.0; 3];
    for b in 0..3 {
        let a = amounts[b];
        let e = a > 0.0;
        let pc = if e { p_claim(input, b, h, a) } else { 0.0 };
        let eb = f64::from(u8::from(e));
        match input.receipts[b] {
            Receipt::No { opening } => {
                let target = eb * (1.0 - pc) * (1.0 - opening);
                let all = 1.0 - eb * pc - eb * (1.0 - pc) * opening;
                l *= all;
                ratio[b] = if all > 0.0 { target / all } else { 0.0 };
            }
            Receipt::Claimed { amount } => {
                l *= if e && same_amount(a, amount) { pc } else { 0.0 };
            }
            Receipt::Opened { amount, opening } => {
                l *= if e && same_amount(a, amount) {
                    (1.0 - pc) * opening
                } else {
                    0.0
                };
            }
        }
    }
    (l, ratio.map(|r| r * l))
}

/// The posterior per benefit; `truth` is the unit's real hidden state: its likelihood must
/// be positive (the self-check), otherwise an error names the unit.
pub fn posterior(input: &OracleInput, truth: Hidden) -> Result<[f64; 3], String> {
    let prior = Prior::of(input.obs);
    let (mut total, mut num) = (0.0, [0.0; 3]);
    let mut truth_l = 0.0;
    for i in 0..GRID {
        let h = Hidden::from_index(i);
        let (l, n) = likelihood(input, &prior, h);
        if h == truth {
            truth_l = l;
        }
        total += l;
        for b in 0..3 {
            num[b] += n[b];
        }
    }
    if truth_l <= 0.0 || total.is_nan() {
        return Err(format!(
            "the true hidden state {truth:?} has likelihood {truth_l} (receipts {:?}, signals {:?})",
            input.receipts, input.signals
        ));
    }
    Ok(num.map(|n| (n / total).clamp(0.0, 1.0)))
}
