//! L2-penalised logistic regression: the objective of linfa-logistic and scikit-learn
//! (summed log-loss + alpha/2·‖w‖², intercept unpenalised, alpha = 1/C), minimised by
//! argmin's L-BFGS (the solver linfa-logistic runs on) fed a one-pass, row-blocked,
//! parallel cost and gradient. linfa-logistic computes Xᵀr as strided column passes and
//! takes 20–90× longer on a million rows (shared/toolchain-notes.md); the tests check that
//! this objective reaches linfa-logistic's optimum.
//!
//! Parameters are laid out `[w_0 … w_{p-1}, b]`, intercept last, as in linfa-logistic.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calibration::sigmoid;

/// Solver settings, recorded in the model artefact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolverSettings {
    /// L2 strength on the summed log-loss (scikit-learn's 1/C).
    pub alpha: f64,
    pub max_iterations: u64,
    /// L-BFGS stops when the gradient of the mean objective (objective / rows) is below this.
    pub gradient_tolerance: f64,
    /// The fit counts as converged when the final gradient norm of the mean objective is
    /// below this (checked by recours, since argmin's stop reasons include line-search ends).
    pub convergence_tolerance: f64,
    /// L-BFGS memory.
    pub memory: usize,
    /// Newton steps allowed after L-BFGS (each one pass for the Hessian, p ≤ ~60).
    pub newton_steps: u64,
    /// Newton polishing stops when the mean objective's gradient norm is below this.
    pub polish_tolerance: f64,
}

impl Default for SolverSettings {
    fn default() -> Self {
        SolverSettings {
            alpha: 1.0,
            max_iterations: 500,
            gradient_tolerance: 1e-8,
            convergence_tolerance: 1e-6,
            memory: 10,
            newton_steps: 5,
            polish_tolerance: 1e-13,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub intercept: f64,
    pub coef: Vec<f64>,
    pub iterations: u64,
    /// Newton steps taken after L-BFGS to polish the optimum.
    pub newton_steps: u64,
    /// Euclidean norm of the gradient of the mean objective at the solution.
    pub gradient_norm: f64,
    pub converged: bool,
    /// Summed log-loss + alpha/2·‖w‖² at the solution.
    pub objective: f64,
    pub termination: String,
}

const BLOCK: usize = 4096;

/// Summed penalised log-loss and its gradient in one pass over the rows.
pub fn cost_and_gradient(
    x: ArrayView2<f64>,
    y: &[f64],
    alpha: f64,
    params: &[f64],
) -> (f64, Vec<f64>) {
    let (n, p) = x.dim();
    assert_eq!(params.len(), p + 1);
    assert_eq!(y.len(), n);
    let (w, b) = (&params[..p], params[p]);
    let xs = x
        .as_slice()
        .expect("design matrix in standard (row-major) layout");
    // Blocks are computed in parallel and added in block order: the sums do not depend on
    // how rayon split the work (same bits at any thread count or schedule).
    let blocks: Vec<(f64, Vec<f64>)> = xs
        .par_chunks(BLOCK * p.max(1))
        .zip(y.par_chunks(BLOCK))
        .map(|(rows, ys)| {
            vectorised(
                #[inline(always)]
                || {
                    let mut g = vec![0.0; p + 1];
                    let mut loss = 0.0;
                    let z = predictors(rows, p, w, b);
                    // Residuals, and the log-loss log(1 + e^z) − y z added in row order.
                    let r: Vec<f64> = z
                        .iter()
                        .zip(ys)
                        .map(|(&z, &yi)| {
                            let (softplus, prob) = softplus_and_sigmoid(z);
                            loss += softplus - yi * z;
                            prob - yi
                        })
                        .collect();
                    // Two rows at a time: each element still adds its rows' terms in row order.
                    let width = p.max(1);
                    let mut pairs = rows.chunks_exact(2 * width);
                    let mut residuals = r.chunks_exact(2);
                    for (two, rr) in (&mut pairs).zip(&mut residuals) {
                        let (x0, x1) = two.split_at(width);
                        for ((gj, a), c) in g[..p].iter_mut().zip(&x0[..p]).zip(&x1[..p]) {
                            *gj += rr[0] * a;
                            *gj += rr[1] * c;
                        }
                        g[p] += rr[0];
                        g[p] += rr[1];
                    }
                    for (row, &ri) in pairs
                        .remainder()
                        .chunks_exact(width)
                        .zip(residuals.remainder())
                    {
                        for (gj, xj) in g[..p].iter_mut().zip(&row[..p]) {
                            *gj += ri * xj;
                        }
                        g[p] += ri;
                    }
                    (loss, g)
                },
            )
        })
        .collect();
    let mut loss = 0.0;
    let mut grad = vec![0.0; p + 1];
    for (l, g) in blocks {
        loss += l;
        for (a, b) in grad.iter_mut().zip(g) {
            *a += b;
        }
    }
    let penalty: f64 = w.iter().map(|v| v * v).sum::<f64>() * alpha / 2.0;
    for (gj, wj) in grad[..p].iter_mut().zip(w) {
        *gj += alpha * wj;
    }
    (loss + penalty, grad)
}

/// Runs `kernel` compiled for AVX2 when the processor has it: wider vectors for the passes
/// over rows. The same operations in the same order either way (vectors run independent
/// sums side by side and never reorder one; Rust never fuses a multiply and an add), so
/// the same bits.
#[inline(always)]
fn vectorised<R>(kernel: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(kernel: impl FnOnce() -> R) -> R {
            kernel()
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            return unsafe { avx2(kernel) };
        }
    }
    kernel()
}

/// Each row's linear predictor `b + x·w` (rows of `p` values, row-major), the products
/// added in column order from -0.0 as `Iterator::sum` adds them. Four rows advance side by
/// side so that their additions do not wait on each other: the same bits as one row at a
/// time.
#[inline(always)]
fn predictors(rows: &[f64], p: usize, w: &[f64], b: f64) -> Vec<f64> {
    let width = p.max(1);
    let mut z = vec![0.0; rows.len() / width];
    let mut quads = rows.chunks_exact(4 * width);
    let mut out = z.chunks_exact_mut(4);
    for (four, o) in (&mut quads).zip(&mut out) {
        let (r0, rest) = four.split_at(width);
        let (r1, rest) = rest.split_at(width);
        let (r2, r3) = rest.split_at(width);
        let mut s = [-0.0f64; 4];
        for ((((&c, a0), a1), a2), a3) in w.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
            s[0] += a0 * c;
            s[1] += a1 * c;
            s[2] += a2 * c;
            s[3] += a3 * c;
        }
        for (o, s) in o.iter_mut().zip(s) {
            *o = b + s;
        }
    }
    for (row, o) in quads
        .remainder()
        .chunks_exact(width)
        .zip(out.into_remainder())
    {
        *o = b + row[..p].iter().zip(w).map(|(a, c)| a * c).sum::<f64>();
    }
    z
}

/// `log(1 + e^z)` computed stably, and the logistic function at `z`, from the one
/// exponential both need: the same values as computing them apart.
#[inline(always)]
fn softplus_and_sigmoid(z: f64) -> (f64, f64) {
    if z > 0.0 {
        let e = (-z).exp();
        (z + e.ln_1p(), 1.0 / (1.0 + e))
    } else {
        let e = z.exp();
        // At z = ±0, e = 1 = e^-z: `sigmoid`'s branch for x ≥ 0 gives the same 1 / (1 + e).
        (e.ln_1p(), e / (1.0 + e))
    }
}

/// The mean objective for argmin, with the last (cost, gradient) pair cached: L-BFGS asks
/// for both at the same point, and one pass gives both.
struct Problem<'a> {
    x: ArrayView2<'a, f64>,
    y: &'a [f64],
    alpha: f64,
    cache: Mutex<Option<(Array1<f64>, f64, Array1<f64>)>>,
}

impl Problem<'_> {
    fn eval(&self, p: &Array1<f64>) -> (f64, Array1<f64>) {
        let mut cache = self.cache.lock().expect("cache lock");
        if let Some((q, c, g)) = cache.as_ref()
            && q == p
        {
            return (*c, g.clone());
        }
        let n = self.y.len() as f64;
        let (c, g) = cost_and_gradient(
            self.x,
            self.y,
            self.alpha,
            p.as_slice().expect("contiguous"),
        );
        let (c, g) = (c / n, Array1::from(g) / n);
        *cache = Some((p.clone(), c, g.clone()));
        (c, g)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Array1<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;
    fn gradient(&self, p: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.eval(p).1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("design matrix has {rows} rows but {labels} labels")]
    Shape { rows: usize, labels: usize },
    #[error("design matrix holds a NaN or infinite value (row {row}, column {column})")]
    NotFinite { row: usize, column: usize },
    #[error("labels must be 0 or 1, found {0}")]
    Label(f64),
    #[error("the L-BFGS solver failed: {0}")]
    Solver(String),
}

/// Fits the model from a zero start.
pub fn fit<'a>(x: ArrayView2<'a, f64>, y: &'a [f64], s: &SolverSettings) -> Result<Fit, FitError> {
    fit_from(x, y, s, None)
}

/// Fits the model from `start` (`[w, b]`) when one is given: the optimum of a nearby
/// problem (the same columns at another L2 strength, or fewer columns with 0 for the new
/// ones), from which damped Newton steps reach the optimum in a few passes; L-BFGS from
/// that point if they do not converge. Without a start, L-BFGS from zero then Newton
/// polishing, as [`fit`]. The objective is strictly convex (alpha > 0), so both paths end at
/// the same optimum within the polishing tolerance.
pub fn fit_from<'a>(
    x: ArrayView2<'a, f64>,
    y: &'a [f64],
    s: &SolverSettings,
    start: Option<&[f64]>,
) -> Result<Fit, FitError> {
    fit_warm(x, y, s, start, None)
}

/// [`fit_from`], given the Hessian at `start` when it is known (for instance
/// [`Curvature::bordered`]): the first Newton step then needs no pass for it, and the path
/// is the same as [`fit_from`]'s when it equals [`hessian`] at `start`.
pub fn fit_warm<'a>(
    x: ArrayView2<'a, f64>,
    y: &'a [f64],
    s: &SolverSettings,
    start: Option<&[f64]>,
    hessian_at_start: Option<Array2<f64>>,
) -> Result<Fit, FitError> {
    let (n, p) = x.dim();
    if n != y.len() {
        return Err(FitError::Shape {
            rows: n,
            labels: y.len(),
        });
    }
    let first_not_finite = match x.as_slice() {
        Some(values) => values
            .iter()
            .position(|v| !v.is_finite())
            .map(|at| (at / p.max(1), at % p.max(1))),
        None => x
            .indexed_iter()
            .find(|(_, v)| !v.is_finite())
            .map(|(at, _)| at),
    };
    if let Some((row, column)) = first_not_finite {
        return Err(FitError::NotFinite { row, column });
    }
    if let Some(l) = y.iter().find(|v| **v != 0.0 && **v != 1.0) {
        return Err(FitError::Label(*l));
    }
    if let Some(start) = start {
        assert_eq!(
            start.len(),
            p + 1,
            "a start gives every weight and the intercept"
        );
    }
    if !x.is_standard_layout() {
        let owned = x.as_standard_layout().into_owned();
        return fit_warm(owned.view(), y, s, start, hessian_at_start);
    }
    if let Some(start) = start {
        let (params, objective, grad, newton_steps) = newton(
            x,
            y,
            s,
            start.to_vec(),
            hessian_at_start,
            WARM_NEWTON_STEPS,
            WARM_HALVINGS,
            true,
        );
        let gradient_norm = mean_norm(&grad, n);
        if gradient_norm <= s.convergence_tolerance {
            return Ok(Fit {
                intercept: params[p],
                coef: params[..p].to_vec(),
                iterations: 0,
                newton_steps,
                gradient_norm,
                converged: true,
                objective,
                termination: "Newton from a warm start".to_string(),
            });
        }
    }
    let problem = Problem {
        x,
        y,
        alpha: s.alpha,
        cache: Mutex::new(None),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), s.memory)
        .with_tolerance_grad(s.gradient_tolerance)
        .and_then(|l| l.with_tolerance_cost(0.0))
        .map_err(|e| FitError::Solver(e.to_string()))?;
    let init = start.map_or_else(|| Array1::zeros(p + 1), |v| Array1::from(v.to_vec()));
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(init).max_iters(s.max_iterations))
        .run();
    let (params, iterations, termination) = match result {
        Ok(r) => {
            let state = r.state();
            let params = state
                .get_best_param()
                .cloned()
                .unwrap_or_else(|| Array1::zeros(p + 1));
            let reason = match state.get_termination_status() {
                TerminationStatus::Terminated(TerminationReason::SolverConverged) => {
                    "converged".to_string()
                }
                TerminationStatus::Terminated(reason) => format!("{reason:?}"),
                TerminationStatus::NotTerminated => "not terminated".to_string(),
            };
            (params, state.get_iter(), reason)
        }
        Err(e) => return Err(FitError::Solver(e.to_string())),
    };
    // Newton steps from the L-BFGS point: quadratic convergence to the optimum, where
    // L-BFGS's line search stalls on rounding noise in the cost.
    let (params, objective, grad, newton_steps) =
        newton(x, y, s, params.to_vec(), None, s.newton_steps, 0, false);
    let gradient_norm = mean_norm(&grad, n);
    Ok(Fit {
        intercept: params[p],
        coef: params.iter().take(p).copied().collect(),
        iterations,
        newton_steps,
        gradient_norm,
        converged: gradient_norm <= s.convergence_tolerance,
        objective,
        termination,
    })
}

/// Steps allowed from a warm start (most reuse the Hessian: one pass each).
const WARM_NEWTON_STEPS: u64 = 100;
/// Step halvings tried when a warm Newton step with a fresh Hessian raises the objective.
const WARM_HALVINGS: u32 = 30;
/// From a warm start, the Hessian is kept while each step divides the gradient's norm by
/// at least this much (the chord method: one pass per step instead of a Hessian's p + 1).
const CHORD_FALL: f64 = 4.0;

/// Norm of the gradient of the mean objective.
fn mean_norm(g: &[f64], n: usize) -> f64 {
    g.iter().map(|v| v * v).sum::<f64>().sqrt() / n as f64
}

/// Newton steps from `params` until the mean objective's gradient norm is below the
/// polishing tolerance, at most `steps` of them. A step is taken whole when it lowers the
/// objective or the gradient; otherwise it is halved up to `halvings` times, and the steps
/// end when no such fraction of it does. With `keep_hessian`, the Hessian is computed
/// again only when a step divided the gradient's norm by less than [`CHORD_FALL`] or was
/// refused (then it is retried with a fresh one). `first`, when given, is the Hessian at
/// `params`, used instead of computing it. Returns the parameters, the objective, its
/// gradient and the steps taken.
fn newton(
    x: ArrayView2<f64>,
    y: &[f64],
    s: &SolverSettings,
    mut params: Vec<f64>,
    mut first: Option<Array2<f64>>,
    steps: u64,
    halvings: u32,
    keep_hessian: bool,
) -> (Vec<f64>, f64, Vec<f64>, u64) {
    let n = y.len();
    let (mut objective, mut grad) = cost_and_gradient(x, y, s.alpha, &params);
    let mut taken = 0;
    let mut inv: Option<Array2<f64>> = None;
    'steps: while taken < steps && mean_norm(&grad, n) > s.polish_tolerance {
        let fresh = inv.is_none();
        if fresh {
            let h = first.take().unwrap_or_else(|| hessian(x, &params, s.alpha));
            inv = invert_spd(&h);
        }
        let Some(h) = inv.as_ref() else {
            break;
        };
        let k = params.len();
        let step: Vec<f64> = (0..k)
            .map(|i| (0..k).map(|j| h[[i, j]] * grad[j]).sum())
            .collect();
        taken += 1;
        let before = mean_norm(&grad, n);
        let mut t = 1.0;
        for _ in 0..=halvings {
            let candidate: Vec<f64> = params.iter().zip(&step).map(|(a, d)| a - t * d).collect();
            let (c_obj, c_grad) = cost_and_gradient(x, y, s.alpha, &candidate);
            if !(mean_norm(&c_grad, n) >= before && c_obj > objective) {
                (params, objective, grad) = (candidate, c_obj, c_grad);
                if !(keep_hessian && mean_norm(&grad, n) * CHORD_FALL <= before) {
                    inv = None;
                }
                continue 'steps;
            }
            if !fresh {
                inv = None;
                continue 'steps;
            }
            t /= 2.0;
        }
        break;
    }
    (params, objective, grad, taken)
}

/// P(y = 1) for each row.
pub fn predict(x: ArrayView2<f64>, intercept: f64, coef: &[f64]) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| sigmoid(intercept + r.iter().zip(coef).map(|(a, b)| a * b).sum::<f64>()))
        .collect()
}

/// Covariance of `[w, b]` from the penalised information matrix at the optimum,
/// `(X̃ᵀ W X̃ + alpha·P)⁻¹` with `X̃ = [X, 1]`, `W = diag(p(1−p))` and `P` the identity with a
/// 0 for the intercept: the Laplace approximation of the penalised likelihood. With
/// alpha = 0 it is the usual inverse Fisher information (statsmodels' `bse`).
pub fn covariance(x: ArrayView2<f64>, fit: &Fit, alpha: f64) -> Option<Array2<f64>> {
    let mut params = fit.coef.clone();
    params.push(fit.intercept);
    invert_spd(&hessian(x, &params, alpha))
}

/// Hessian of the summed penalised objective at `params` (`[w, b]`):
/// `X̃ᵀ W X̃ + alpha·P`.
pub fn hessian(x: ArrayView2<f64>, params: &[f64], alpha: f64) -> Array2<f64> {
    let (flat, _) = weighted_gram(x, params, false);
    penalised(flat, x.ncols() + 1, alpha)
}

/// `X̃ᵀ W X̃` at `params` as a flat row-major `k × k` buffer (k = p + 1) holding its lower
/// triangle, and each row's weight `p(1−p)` when `keep_weights`.
fn weighted_gram(x: ArrayView2<f64>, params: &[f64], keep_weights: bool) -> (Vec<f64>, Vec<f64>) {
    let (n, p) = x.dim();
    let k = p + 1;
    let (w, b) = (&params[..p], params[p]);
    let xs = x
        .as_slice()
        .expect("design matrix in standard (row-major) layout");
    // Blocks added in block order, as in `cost_and_gradient`. Each block accumulates the
    // lower triangle in a flat row-major buffer (contiguous rows, no index checks): every
    // element still adds its rows' terms in row order.
    let blocks: Vec<(Vec<f64>, Vec<f64>)> = xs
        .par_chunks(BLOCK * p.max(1))
        .map(|rows| {
            vectorised(
                #[inline(always)]
                || {
                    let mut h = vec![0.0; k * k];
                    let weights: Vec<f64> = predictors(rows, p, w, b)
                        .into_iter()
                        .map(|z| {
                            let pr = sigmoid(z);
                            pr * (1.0 - pr)
                        })
                        .collect();
                    // Two rows at a time (half the loads and stores of `h`): each element still
                    // adds its rows' terms in row order.
                    let width = p.max(1);
                    let (mut xt0, mut xt1) = (vec![1.0; k], vec![1.0; k]);
                    let mut pairs = rows.chunks_exact(2 * width);
                    let mut wts = weights.chunks_exact(2);
                    for (two, wt) in (&mut pairs).zip(&mut wts) {
                        xt0[..p].copy_from_slice(&two[..p]);
                        xt1[..p].copy_from_slice(&two[width..width + p]);
                        for a in 0..k {
                            let (wa0, wa1) = (wt[0] * xt0[a], wt[1] * xt1[a]);
                            for ((hc, x0), x1) in h[a * k..a * k + a + 1]
                                .iter_mut()
                                .zip(&xt0[..=a])
                                .zip(&xt1[..=a])
                            {
                                *hc += wa0 * x0;
                                *hc += wa1 * x1;
                            }
                        }
                    }
                    for (row, &wt) in pairs.remainder().chunks_exact(width).zip(wts.remainder()) {
                        xt0[..p].copy_from_slice(&row[..p]);
                        for a in 0..k {
                            let wa = wt * xt0[a];
                            for (hc, xc) in h[a * k..a * k + a + 1].iter_mut().zip(&xt0[..=a]) {
                                *hc += wa * xc;
                            }
                        }
                    }
                    (h, if keep_weights { weights } else { Vec::new() })
                },
            )
        })
        .collect();
    let mut flat = vec![0.0; k * k];
    let mut weights = Vec::with_capacity(if keep_weights { n } else { 0 });
    for (block, kept) in blocks {
        for (a, v) in flat.iter_mut().zip(block) {
            *a += v;
        }
        weights.extend(kept);
    }
    (flat, weights)
}

/// The symmetric `k × k` Hessian from `X̃ᵀ W X̃`'s lower triangle (flat, row-major), with
/// the penalty on the weights (not on the intercept, the last parameter).
fn penalised(flat: Vec<f64>, k: usize, alpha: f64) -> Array2<f64> {
    let mut h = Array2::from_shape_vec((k, k), flat).expect("k × k");
    for a in 0..k {
        for c in 0..a {
            h[[c, a]] = h[[a, c]];
        }
    }
    for j in 0..k - 1 {
        h[[j, j]] += alpha;
    }
    h
}

/// The curvature of a fitted model on its design matrix: `X̃ᵀ W X̃` at its parameters and
/// each row's weight `p(1−p)`. A model with one column more whose weight is 0 has the same
/// linear predictor, hence the same weights: its Hessian there is this one bordered by the
/// new column's row, `n·p` work instead of `n·p²` ([`Curvature::bordered`]).
pub struct Curvature {
    /// Lower triangle of `X̃ᵀ W X̃`, flat row-major, `(p + 1)²`.
    gram: Vec<f64>,
    weights: Vec<f64>,
    p: usize,
}

impl Curvature {
    /// At `params` (`[w, b]`) on `x`.
    pub fn at(x: ArrayView2<f64>, params: &[f64]) -> Curvature {
        let x = x.as_standard_layout();
        let (gram, weights) = weighted_gram(x.view(), params, true);
        Curvature {
            gram,
            weights,
            p: x.ncols(),
        }
    }

    /// The penalised Hessian at `[w, 0, b]` on `x`, whose first `p` columns are this
    /// curvature's design matrix and whose column `p` is a new one (the model's `[w, b]`
    /// with the new weight at 0). Every element is added up in the same order as
    /// [`hessian`]'s, so the two are equal to the last bit.
    pub fn bordered(&self, x: ArrayView2<f64>, alpha: f64) -> Array2<f64> {
        let (n, q) = x.dim();
        let p = self.p;
        assert_eq!(q, p + 1, "one column more than the curvature's");
        assert_eq!(n, self.weights.len(), "the same rows as the curvature's");
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        // The new column's row of X̃ᵀ W X̃ (`[x_0 … x_{p-1}, x_new]`) and its term with the
        // intercept, per block of rows as in `weighted_gram`, blocks added in block order.
        let blocks: Vec<Vec<f64>> = xs
            .par_chunks(BLOCK * q)
            .zip(self.weights.par_chunks(BLOCK))
            .map(|(rows, weights)| {
                vectorised(
                    #[inline(always)]
                    || {
                        let mut border = vec![0.0; q + 1];
                        for (row, &wt) in rows.chunks_exact(q).zip(weights) {
                            let xn = row[p];
                            let wa = wt * xn;
                            for (hc, xc) in border[..q].iter_mut().zip(row) {
                                *hc += wa * xc;
                            }
                            // The intercept's row: its weight is `wt × 1`.
                            border[q] += wt * xn;
                        }
                        border
                    },
                )
            })
            .collect();
        let mut border = vec![0.0; q + 1];
        for block in blocks {
            for (a, v) in border.iter_mut().zip(block) {
                *a += v;
            }
        }
        let (k0, k) = (p + 1, q + 1);
        let mut flat = vec![0.0; k * k];
        for a in 0..p {
            flat[a * k..a * k + a + 1].copy_from_slice(&self.gram[a * k0..a * k0 + a + 1]);
        }
        flat[p * k..p * k + q].copy_from_slice(&border[..q]);
        // The intercept's row: the base's for the old columns, the border, its own term.
        flat[q * k..q * k + p].copy_from_slice(&self.gram[p * k0..p * k0 + p]);
        flat[q * k + p] = border[q];
        flat[q * k + q] = self.gram[p * k0 + p];
        penalised(flat, k, alpha)
    }
}

/// Inverse of a symmetric positive-definite matrix by Cholesky; `None` if it is not.
pub fn invert_spd(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    // L row by row (each row's products with an earlier row read contiguously), and Lᵀ for
    // the back substitution; every sum adds its terms in index order.
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = l[i * n..i * n + j]
                .iter()
                .zip(&l[j * n..j * n + j])
                .map(|(a, b)| a * b)
                .sum();
            if i == j {
                let d = a[[i, i]] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * n + j] = d.sqrt();
            } else {
                l[i * n + j] = (a[[i, j]] - s) / l[j * n + j];
            }
        }
    }
    let mut lt = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            lt[k * n + i] = l[i * n + k];
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = Array2::<f64>::zeros((n, n));
    let (mut z, mut col) = (vec![0.0; n], vec![0.0; n]);
    for c in 0..n {
        for i in 0..n {
            let rhs = if i == c { 1.0 } else { 0.0 };
            let s: f64 = l[i * n..i * n + i]
                .iter()
                .zip(&z[..i])
                .map(|(a, b)| a * b)
                .sum();
            z[i] = (rhs - s) / l[i * n + i];
        }
        for i in (0..n).rev() {
            let s: f64 = lt[i * n + i + 1..i * n + n]
                .iter()
                .zip(&col[i + 1..])
                .map(|(a, b)| a * b)
                .sum();
            col[i] = (z[i] - s) / l[i * n + i];
        }
        for (i, v) in col.iter().enumerate() {
            inv[[i, c]] = *v;
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = array![
            [0.5, -1.0],
            [1.5, 0.2],
            [-0.3, 0.7],
            [2.0, -0.4],
            [0.1, 0.1]
        ];
        let y = [1.0, 0.0, 1.0, 0.0, 1.0];
        let p = [0.3, -0.2, 0.1];
        let (_, g) = cost_and_gradient(x.view(), &y, 0.7, &p);
        for j in 0..3 {
            let mut a = p;
            let mut b = p;
            a[j] += 1e-6;
            b[j] -= 1e-6;
            let num = (cost_and_gradient(x.view(), &y, 0.7, &a).0
                - cost_and_gradient(x.view(), &y, 0.7, &b).0)
                / 2e-6;
            assert!((num - g[j]).abs() < 1e-6, "{j}: {num} vs {}", g[j]);
        }
    }

    /// From the optimum of a nearby problem (fewer columns, another strength), the warm
    /// Newton path reaches the optimum of a fit from zero, in a few passes.
    #[test]
    fn a_warm_start_reaches_the_optimum_of_a_cold_fit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (n, p) = (3000, 6);
        let x = Array2::from_shape_fn((n, p), |_| rng.r#gen::<f64>() * 2.0 - 1.0);
        let y: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| {
                let z = -0.5 + 1.2 * r[0] - 0.8 * r[1] + 0.6 * r[2] * r[3] + 0.4 * r[5];
                f64::from(u8::from(rng.r#gen::<f64>() < sigmoid(z)))
            })
            .collect();
        let s = SolverSettings {
            alpha: 3.0,
            ..SolverSettings::default()
        };
        let cold = fit(x.view(), &y, &s).unwrap();
        assert!(cold.converged && cold.iterations > 0);
        // The first five columns' optimum at another strength, the sixth's weight at 0.
        let fewer = x.slice(ndarray::s![.., ..p - 1]).to_owned();
        let near = fit(
            fewer.view(),
            &y,
            &SolverSettings {
                alpha: 30.0,
                ..s.clone()
            },
        )
        .unwrap();
        let mut start = near.coef.clone();
        start.push(0.0);
        start.push(near.intercept);
        let warm = fit_from(x.view(), &y, &s, Some(&start)).unwrap();
        assert!(warm.converged);
        assert_eq!(warm.iterations, 0, "{}", warm.termination);
        assert!(
            warm.newton_steps <= 30,
            "{} Newton steps",
            warm.newton_steps
        );
        for (a, b) in warm
            .coef
            .iter()
            .chain([&warm.intercept])
            .zip(cold.coef.iter().chain([&cold.intercept]))
        {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert!((warm.objective - cold.objective).abs() <= 1e-9 * cold.objective);
    }

    /// A model's curvature bordered by a new column whose weight is 0 is the Hessian of the
    /// larger model there, to the last bit; the warm fit given it takes the same path.
    #[test]
    fn a_bordered_curvature_is_the_hessian_of_the_larger_model() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // More rows than a block, so that blocks are added up.
        let (n, p) = (BLOCK * 2 + 123, 5);
        let x = Array2::from_shape_fn((n, p), |(_, j)| {
            if j == 3 {
                f64::from(u8::from(rng.r#gen::<bool>()))
            } else {
                rng.r#gen::<f64>() * 4.0 - 2.0
            }
        });
        let y: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| {
                let z = -0.3 + 0.9 * r[0] - 0.5 * r[1] + 0.7 * r[3] * r[4];
                f64::from(u8::from(rng.r#gen::<f64>() < sigmoid(z)))
            })
            .collect();
        let s = SolverSettings {
            alpha: 2.0,
            ..SolverSettings::default()
        };
        let base_x = x.slice(ndarray::s![.., ..p - 1]).to_owned();
        let base = fit(base_x.view(), &y, &s).unwrap();
        let mut base_params = base.coef.clone();
        base_params.push(base.intercept);
        let mut start = base.coef.clone();
        start.extend([0.0, base.intercept]);
        let bordered = Curvature::at(base_x.view(), &base_params).bordered(x.view(), s.alpha);
        let whole = hessian(x.view(), &start, s.alpha);
        assert_eq!(bordered.dim(), whole.dim());
        for (a, b) in bordered.iter().zip(whole.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
        let given = fit_warm(x.view(), &y, &s, Some(&start), Some(bordered)).unwrap();
        let computed = fit_from(x.view(), &y, &s, Some(&start)).unwrap();
        assert_eq!(given, computed);
        assert!(given.converged);
    }

    /// The passes that take rows two or four at a time give the same bits as one row at a
    /// time (each row's dot product in column order, each sum in row order, blocks of
    /// `BLOCK` rows added in block order), for row counts that leave every remainder.
    #[test]
    fn rows_side_by_side_give_the_bits_of_one_row_at_a_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for (n, p) in [(BLOCK + 7, 6), (BLOCK * 2 + 5, 3), (11, 1), (6, 4)] {
            let x = Array2::from_shape_fn((n, p), |_| rng.r#gen::<f64>() * 6.0 - 3.0);
            let y: Vec<f64> = (0..n)
                .map(|_| f64::from(u8::from(rng.r#gen::<bool>())))
                .collect();
            let params: Vec<f64> = (0..=p).map(|_| rng.r#gen::<f64>() * 2.0 - 1.0).collect();
            let (w, b) = (&params[..p], params[p]);
            let (mut loss, mut grad, mut gram) =
                (0.0, vec![0.0; p + 1], vec![0.0; (p + 1) * (p + 1)]);
            for block in x.as_slice().unwrap().chunks(BLOCK * p).zip(y.chunks(BLOCK)) {
                let (mut l, mut g, mut h) = (0.0, vec![0.0; p + 1], vec![0.0; (p + 1) * (p + 1)]);
                for (row, &yi) in block.0.chunks_exact(p).zip(block.1) {
                    let z = b + row.iter().zip(w).map(|(a, c)| a * c).sum::<f64>();
                    l += if z > 0.0 {
                        z + (-z).exp().ln_1p()
                    } else {
                        z.exp().ln_1p()
                    } - yi * z;
                    let r = sigmoid(z) - yi;
                    for (gj, xj) in g[..p].iter_mut().zip(row) {
                        *gj += r * xj;
                    }
                    g[p] += r;
                    let pr = sigmoid(z);
                    let wt = pr * (1.0 - pr);
                    let xt: Vec<f64> = row.iter().copied().chain([1.0]).collect();
                    for a in 0..=p {
                        for c in 0..=a {
                            h[a * (p + 1) + c] += wt * xt[a] * xt[c];
                        }
                    }
                }
                loss += l;
                grad.iter_mut().zip(g).for_each(|(a, v)| *a += v);
                gram.iter_mut().zip(h).for_each(|(a, v)| *a += v);
            }
            loss += w.iter().map(|v| v * v).sum::<f64>() * 0.5 / 2.0;
            for (gj, wj) in grad[..p].iter_mut().zip(w) {
                *gj += 0.5 * wj;
            }
            let (c, g) = cost_and_gradient(x.view(), &y, 0.5, &params);
            assert_eq!(c.to_bits(), loss.to_bits(), "n {n}, p {p}");
            assert_eq!(
                g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                grad.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let h = hessian(x.view(), &params, 0.5);
            for a in 0..=p {
                for c in 0..=a {
                    let data = gram[a * (p + 1) + c];
                    let expected = if a == c && a < p { data + 0.5 } else { data };
                    assert_eq!(
                        h[[a, c]].to_bits(),
                        expected.to_bits(),
                        "n {n}, p {p}, ({a}, {c})"
                    );
                    assert_eq!(h[[c, a]].to_bits(), h[[a, c]].to_bits());
                }
            }
        }
    }

    /// The inverse with contiguous rows gives the bits of the textbook loops (index by index).
    #[test]
    fn inverse_gives_the_bits_of_the_index_loops() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let n = 23;
        let m = Array2::from_shape_fn((n + 5, n), |_| rng.r#gen::<f64>() - 0.5);
        let a = m.t().dot(&m) + Array2::<f64>::eye(n) * 0.1;
        let mut l = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in 0..=i {
                let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
                l[[i, j]] = if i == j {
                    (a[[i, i]] - s).sqrt()
                } else {
                    (a[[i, j]] - s) / l[[j, j]]
                };
            }
        }
        let mut expected = Array2::<f64>::zeros((n, n));
        for c in 0..n {
            let mut z = vec![0.0; n];
            for i in 0..n {
                let rhs = if i == c { 1.0 } else { 0.0 };
                let s: f64 = (0..i).map(|k| l[[i, k]] * z[k]).sum();
                z[i] = (rhs - s) / l[[i, i]];
            }
            for i in (0..n).rev() {
                let s: f64 = (i + 1..n).map(|k| l[[k, i]] * expected[[k, c]]).sum();
                expected[[i, c]] = (z[i] - s) / l[[i, i]];
            }
        }
        let inv = invert_spd(&a).unwrap();
        for (u, v) in inv.iter().zip(expected.iter()) {
            assert_eq!(u.to_bits(), v.to_bits());
        }
    }

    #[test]
    fn inverse_of_a_known_matrix() {
        let a = array![[4.0, 2.0], [2.0, 3.0]];
        let inv = invert_spd(&a).unwrap();
        let expected = array![[0.375, -0.25], [-0.25, 0.5]];
        for (u, v) in inv.iter().zip(expected.iter()) {
            assert!((u - v).abs() < 1e-12);
        }
        assert!(invert_spd(&array![[1.0, 2.0], [2.0, 1.0]]).is_none());
    }
}
