//! Training of one benefit's model: seeded stratified train/test split, standardisation
//! (parameters stored), constant and reference columns dropped, L2 strength chosen by
//! stratified k-fold cross-validation on log-loss, final fit, convergence check, standard
//! errors, scorecard and held-out evaluation. Everything needed to redo it is recorded in
//! the [`ModelArtefact`].

use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use linfa::ParamGuard;
use linfa::traits::Fit as _;

use crate::estimator::{EstimatorError, LogisticParams};
use crate::logistic::{self, Curvature, Fit, FitError, SolverSettings};
use crate::metrics::{self, Evaluation};

pub const ARTEFACT_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub seed: u64,
    pub test_share: f64,
    pub folds: usize,
    /// L2 strengths tried by cross-validation (scikit-learn's 1/C).
    pub alphas: Vec<f64>,
    /// Solver settings; `alpha` is replaced by the chosen one.
    pub solver: SolverSettings,
    pub allow_non_convergence: bool,
    /// Fit the deployed model again on every label (training and test parts), with the
    /// columns, interactions and L2 strength chosen on the training part; the held-out
    /// metrics then measure the same procedure fitted on the training part alone.
    /// Artefacts written before this setting existed read as `false`.
    #[serde(default)]
    pub refit_on_all_labels: bool,
}

/// The data of one benefit: row-major features, labels, and the eligibility estimate alone
/// as a baseline score.
pub struct TrainInput<'a> {
    pub benefit: &'a str,
    pub names: &'a [String],
    /// One-hot group of each feature, if any.
    pub groups: &'a [Option<String>],
    pub x: &'a [f64],
    pub y: &'a [bool],
    pub baseline: &'a [f64],
    /// Columns that enter only when cross-validation retains them (interactions).
    pub candidates: &'a [bool],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSignature {
    pub name: String,
    pub mean: f64,
    pub sd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub name: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    pub name: String,
    /// Per standard deviation of the feature.
    pub standardized: f64,
    pub std_error: f64,
    pub z: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub odds_ratio_per_sd: f64,
    /// Per unit of the feature (euro, year, yes/no…).
    pub original: f64,
    pub original_std_error: f64,
    pub odds_ratio_per_unit: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvResult {
    pub alpha: f64,
    pub mean_log_loss: f64,
    pub fold_log_loss: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    pub rows: usize,
    pub positives: usize,
    pub label_rate: f64,
    /// BLAKE3 of the feature names, values and labels as fed to training.
    pub digest: String,
    pub train_rows: usize,
    pub test_rows: usize,
    /// Rows the deployed model's coefficients were fitted on: every row when the model
    /// was fitted again on all labels, else the training part.
    #[serde(default)]
    pub fitted_rows: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    pub test: Evaluation,
    /// AUC on the test part of the estimated entitlement alone (the deterministic score).
    pub test_auc_eligibility_only: Option<f64>,
    pub train_auc: Option<f64>,
}

/// A fitted model, as written to `models/<BENEFIT>.json`. A serialised boundary: the
/// schema version changes deliberately.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelArtefact {
    pub schema_version: u32,
    pub benefit: String,
    /// Features used, in order, with their standardisation.
    pub features: Vec<FeatureSignature>,
    pub dropped: Vec<Dropped>,
    pub intercept: f64,
    pub intercept_std_error: f64,
    pub coefficients: Vec<Coefficient>,
    pub standard_errors: String,
    pub alpha: f64,
    pub cross_validation: Vec<CvResult>,
    /// Interactions retained by cross-validation, in the order they entered.
    #[serde(default)]
    pub interactions: Vec<Selected>,
    pub config: TrainConfig,
    pub convergence: Fit,
    pub training_data: TrainingData,
    pub metrics: ModelMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{benefit}: {0}", benefit = .1)]
    Fit(FitError, String),
    #[error("{benefit}: {0}", benefit = .1)]
    Estimator(EstimatorError, String),
    #[error(
        "{benefit}: the learning table has {positives} positive and {negatives} negative labels; both classes need at least {min}"
    )]
    TooFewLabels {
        benefit: String,
        positives: usize,
        negatives: usize,
        min: usize,
    },
    #[error(
        "{benefit}: the fit did not converge (gradient norm {gradient_norm:.3e} after {iterations} iterations, \
         tolerance {tolerance:.1e}); raise max_iterations or set allow_non_convergence"
    )]
    NotConverged {
        benefit: String,
        gradient_norm: f64,
        iterations: u64,
        tolerance: f64,
    },
    #[error("{benefit}: the information matrix is not invertible, no standard errors")]
    Singular { benefit: String },
}

/// Seeded stratified split: `(train, test)` row indices, each sorted.
pub fn stratified_split(y: &[bool], test_share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (stream, class) in [(0u64, false), (1, true)] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        idx.shuffle(&mut rng);
        let k = (test_share * idx.len() as f64).round() as usize;
        test.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Seeded stratified folds over `rows`: fold number of each row.
pub fn stratified_folds(rows: &[usize], y: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; rows.len()];
    for (stream, class) in [(10u64, false), (11, true)] {
        let mut pos: Vec<usize> = (0..rows.len()).filter(|&i| y[rows[i]] == class).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        pos.shuffle(&mut rng);
        for (j, &i) in pos.iter().enumerate() {
            fold[i] = j % k;
        }
    }
    fold
}

struct Standardised {
    x: Array2<f64>,
    mean: Vec<f64>,
    sd: Vec<f64>,
}

/// Mean and standard deviation (population) of columns `cols` over the rows `rows`.
fn column_stats(input: &TrainInput, cols: &[usize], rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let p_all = input.names.len();
    cols.iter()
        .map(|&c| {
            let n = rows.len() as f64;
            let m = rows.iter().map(|&r| input.x[r * p_all + c]).sum::<f64>() / n;
            let v = rows
                .iter()
                .map(|&r| (input.x[r * p_all + c] - m).powi(2))
                .sum::<f64>()
                / n;
            (m, v.sqrt())
        })
        .unzip()
}

/// Standardises columns `cols` of the rows `rows` with the given statistics, or with the
/// rows' own.
fn standardise(
    input: &TrainInput,
    cols: &[usize],
    rows: &[usize],
    stats: Option<(&[f64], &[f64])>,
) -> Standardised {
    let p_all = input.names.len();
    let (mean, sd): (Vec<f64>, Vec<f64>) = match stats {
        Some((m, s)) => (m.to_vec(), s.to_vec()),
        None => column_stats(input, cols, rows),
    };
    let mut x = Array2::zeros((rows.len(), cols.len()));
    if !cols.is_empty() {
        let out = x.as_slice_mut().expect("a new array is in standard layout");
        for (o, &r) in out.chunks_exact_mut(cols.len()).zip(rows) {
            let raw = &input.x[r * p_all..(r + 1) * p_all];
            for (((o, &c), m), s) in o.iter_mut().zip(cols).zip(&mean).zip(&sd) {
                *o = (raw[c] - m) / s;
            }
        }
    }
    Standardised { x, mean, sd }
}

fn labels_f64(y: &[bool], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&r| f64::from(u8::from(y[r]))).collect()
}

/// Columns kept for training: not constant on the training rows, and for a one-hot group
/// whose levels cover every row, all levels but the most frequent (the reference).
fn choose_columns(input: &TrainInput, train: &[usize]) -> (Vec<usize>, Vec<Dropped>) {
    let p = input.names.len();
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for c in 0..p {
        let first = input.x[train[0] * p + c];
        if train.iter().all(|&r| input.x[r * p + c] == first) {
            dropped.push(Dropped {
                name: input.names[c].clone(),
                reason: format!("constante ({first}) sur les lignes d'apprentissage"),
            });
        } else {
            keep.push(c);
        }
    }
    let mut groups: Vec<&String> = input.groups.iter().flatten().collect();
    groups.sort();
    groups.dedup();
    for g in groups {
        let members: Vec<usize> = keep
            .iter()
            .copied()
            .filter(|&c| input.groups[c].as_ref() == Some(g))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let covers = train
            .iter()
            .all(|&r| members.iter().map(|&c| input.x[r * p + c]).sum::<f64>() == 1.0);
        if covers {
            let reference = *members
                .iter()
                .max_by(|&&a, &&b| {
                    let count =
                        |c: usize| train.iter().filter(|&&r| input.x[r * p + c] == 1.0).count();
                    count(a).cmp(&count(b)).then(b.cmp(&a))
                })
                .expect("two members at least");
            keep.retain(|&c| c != reference);
            dropped.push(Dropped {
                name: input.names[reference].clone(),
                reason: format!(
                    "niveau de référence de son groupe (`{g}`) : les coefficients des autres niveaux se lisent par rapport à lui"
                ),
            });
        }
    }
    (keep, dropped)
}

/// At most this many interactions enter a model.
pub const MAX_INTERACTIONS: usize = 6;
/// Smallest fall of the mean cross-validated log-loss for an interaction to enter.
pub const MIN_GAIN: f64 = 2e-4;

/// An interaction retained by cross-validation, in the order they entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selected {
    pub name: String,
    pub mean_log_loss_before: f64,
    pub mean_log_loss_after: f64,
}

/// One fold fit of the cross-validation: its validation log-loss and its parameters
/// (`[w, b]` on the fold's standardised columns), the warm start of nearby fits.
struct FoldFit {
    log_loss: f64,
    params: Vec<f64>,
}

/// Each fold's log-loss of a fit on columns `cols` with L2 strength `alpha`, every fold fit
/// on the other folds, standardised within them. `starts` (one per fold) are the optima of
/// nearby fits on the same folds: the same columns at another strength, or the first
/// columns of `cols` with 0 for the others (a column's standardisation does not depend on
/// the others, so these are exact starting points). The fits are strictly convex: a start
/// changes the path to the optimum, not the optimum. `bases` (one per fold, with `starts`)
/// are the curvatures of the model on all of `cols` but the last at those starts: the
/// Hessian at the start is theirs bordered by the last column (the same bits as computing
/// it whole, in `n·p` instead of `n·p²`).
fn fold_fits(
    input: &TrainInput,
    cfg: &TrainConfig,
    cols: &[usize],
    folds: &[Fold],
    alpha: f64,
    starts: Option<&[Vec<f64>]>,
    bases: Option<&[Curvature]>,
) -> Result<Vec<FoldFit>, TrainError> {
    let fit_err = |e| TrainError::Fit(e, input.benefit.to_string());
    // Every fold's fit is independent: they run in parallel and their log-losses are
    // gathered in fold order, so nothing depends on scheduling.
    folds
        .par_iter()
        .enumerate()
        .map(|(k, fold)| -> Result<FoldFit, TrainError> {
            let (fit_rows, val_rows) = (&fold.fit, &fold.val);
            let settings = SolverSettings {
                alpha,
                ..cfg.solver.clone()
            };
            let s = fold.design(input, cols);
            let start = starts.map(|starts| {
                let (w, b) = starts[k].split_at(starts[k].len() - 1);
                let mut start = w.to_vec();
                start.resize(cols.len(), 0.0);
                start.push(b[0]);
                start
            });
            let hessian = bases.map(|bases| bases[k].bordered(s.x.view(), alpha));
            let f = logistic::fit_warm(
                s.x.view(),
                &labels_f64(input.y, fit_rows),
                &settings,
                start.as_deref(),
                hessian,
            )
            .map_err(fit_err)?;
            let v = standardise(input, cols, val_rows, Some((&s.mean, &s.sd)));
            let prob = logistic::predict(v.x.view(), f.intercept, &f.coef);
            let labels: Vec<bool> = val_rows.iter().map(|&r| input.y[r]).collect();
            let mut params = f.coef;
            params.push(f.intercept);
            Ok(FoldFit {
                log_loss: metrics::log_loss(&prob, &labels),
                params,
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        // The first failure in fold order, whichever thread met it first.
        .collect()
}

/// One cross-validation fold: the rows its fits are made on, the rows they are validated
/// on, and the fitting rows' mean and standard deviation of every column (by column of the
/// input; a column's standardisation does not depend on the others, so they are computed
/// once for every fit of the fold).
struct Fold {
    fit: Vec<usize>,
    val: Vec<usize>,
    mean: Vec<f64>,
    /// A column constant within the fold gets sd 1: it stays at 0 there.
    sd: Vec<f64>,
}

impl Fold {
    fn new(input: &TrainInput, cols: &[usize], fit: Vec<usize>, val: Vec<usize>) -> Fold {
        let (m, s) = column_stats(input, cols, &fit);
        let p_all = input.names.len();
        let (mut mean, mut sd) = (vec![f64::NAN; p_all], vec![f64::NAN; p_all]);
        for ((&c, m), s) in cols.iter().zip(m).zip(s) {
            mean[c] = m;
            sd[c] = if s > 0.0 { s } else { 1.0 };
        }
        Fold { fit, val, mean, sd }
    }

    /// The fitting rows' columns `cols`, standardised within them.
    fn design(&self, input: &TrainInput, cols: &[usize]) -> Standardised {
        let mean: Vec<f64> = cols.iter().map(|&c| self.mean[c]).collect();
        let sd: Vec<f64> = cols.iter().map(|&c| self.sd[c]).collect();
        standardise(input, cols, &self.fit, Some((&mean, &sd)))
    }
}

/// Each fold's curvature of the model on `cols` at its fold fit's parameters.
fn fold_curvatures(
    input: &TrainInput,
    cols: &[usize],
    folds: &[Fold],
    fits: &[FoldFit],
) -> Vec<Curvature> {
    folds
        .par_iter()
        .zip(fits)
        .map(|(fold, f)| Curvature::at(fold.design(input, cols).x.view(), &f.params))
        .collect()
}

fn mean_loss(fits: &[FoldFit]) -> f64 {
    fits.iter().map(|f| f.log_loss).sum::<f64>() / fits.len().max(1) as f64
}

fn fold_params(fits: &[FoldFit]) -> Vec<Vec<f64>> {
    fits.iter().map(|f| f.params.clone()).collect()
}

/// Cross-validation of every L2 strength of `alphas` on columns `cols`, with the fold fits
/// of each. Each strength's fits start from the previous strength's optima (the first
/// from `start`, or from zero).
fn cv_alphas(
    input: &TrainInput,
    cfg: &TrainConfig,
    cols: &[usize],
    folds: &[Fold],
    alphas: &[f64],
    start: Option<Vec<Vec<f64>>>,
) -> Result<Vec<(CvResult, Vec<FoldFit>)>, TrainError> {
    let mut start = start;
    let mut out = Vec::with_capacity(alphas.len());
    for &alpha in alphas {
        let fits = fold_fits(input, cfg, cols, folds, alpha, start.as_deref(), None)?;
        start = Some(fold_params(&fits));
        out.push((
            CvResult {
                alpha,
                mean_log_loss: mean_loss(&fits),
                fold_log_loss: fits.iter().map(|f| f.log_loss).collect(),
            },
            fits,
        ));
    }
    Ok(out)
}

/// The L2 strength with the lowest mean log-loss (the strongest on a tie).
fn best_alpha(cv: &[CvResult], default: f64) -> f64 {
    cv.iter()
        .min_by(|a, b| {
            a.mean_log_loss
                .total_cmp(&b.mean_log_loss)
                .then(b.alpha.total_cmp(&a.alpha))
        })
        .map(|c| c.alpha)
        .unwrap_or(default)
}

/// A fitted model with its standardisation.
struct FinalFit {
    s: Standardised,
    fit: Fit,
}

/// The model on `rows` with the chosen columns and strength, through linfa's interface
/// (checked parameters, a dataset with its feature names); convergence is checked.
fn final_fit(
    input: &TrainInput,
    cfg: &TrainConfig,
    settings: &SolverSettings,
    cols: &[usize],
    rows: &[usize],
) -> Result<FinalFit, TrainError> {
    let s = standardise(input, cols, rows, None);
    let estimator_err = |e| TrainError::Estimator(e, input.benefit.to_string());
    let targets: ndarray::Array1<bool> = rows.iter().map(|&r| input.y[r]).collect();
    let dataset = linfa::DatasetBase::new(s.x.view(), targets.view())
        .with_feature_names(cols.iter().map(|&j| input.names[j].clone()).collect());
    let fit = LogisticParams::from(settings.clone())
        .check()
        .map_err(estimator_err)?
        .fit(&dataset)
        .map_err(estimator_err)?
        .fit;
    if !fit.converged && !cfg.allow_non_convergence {
        return Err(TrainError::NotConverged {
            benefit: input.benefit.into(),
            gradient_norm: fit.gradient_norm,
            iterations: fit.iterations,
            tolerance: settings.convergence_tolerance,
        });
    }
    Ok(FinalFit { s, fit })
}

pub fn train(input: &TrainInput, cfg: &TrainConfig) -> Result<ModelArtefact, TrainError> {
    let n = input.y.len();
    let p_all = input.names.len();
    let positives = input.y.iter().filter(|y| **y).count();
    let min = (2 * cfg.folds).max(10);
    if positives < min || n - positives < min {
        return Err(TrainError::TooFewLabels {
            benefit: input.benefit.into(),
            positives,
            negatives: n - positives,
            min,
        });
    }
    let (train_rows, test_rows) = stratified_split(input.y, cfg.test_share, cfg.seed);
    let (cols, dropped) = choose_columns(input, &train_rows);

    // Cross-validation on the training part, standardised within each fold.
    let fold_of = stratified_folds(&train_rows, input.y, cfg.folds, cfg.seed);
    // Every (alpha, fold) fit is independent: they run in parallel and their log-losses
    // are gathered in (alpha, fold) order, so the choice does not depend on scheduling.
    let folds: Vec<Fold> = (0..cfg.folds)
        .into_par_iter()
        .map(|k| {
            let (fit, val): (Vec<(usize, usize)>, Vec<(usize, usize)>) = train_rows
                .iter()
                .copied()
                .zip(fold_of.iter().copied())
                .partition(|(_, f)| *f != k);
            let rows = |v: Vec<(usize, usize)>| v.into_iter().map(|(r, _)| r).collect();
            Fold::new(input, &cols, rows(fit), rows(val))
        })
        .collect();
    let (base, mut candidates): (Vec<usize>, Vec<usize>) = cols
        .iter()
        .partition(|&&c| !input.candidates.get(c).copied().unwrap_or(false));
    let mut dropped = dropped;
    let mut cols = base;
    let cv = cv_alphas(input, cfg, &cols, &folds, &cfg.alphas, None)?;
    let cross_validation: Vec<CvResult> = cv.iter().map(|(c, _)| c.clone()).collect();
    let mut alpha = best_alpha(&cross_validation, cfg.solver.alpha);

    // Interactions: candidate columns enter one at a time, the one that lowers the mean
    // cross-validated log-loss most first, while the gain is at least MIN_GAIN and at most
    // MAX_INTERACTIONS are in. Each candidate's fold fits start from the current model's
    // (the candidate's weight at 0), and the candidates are weighed in parallel; their
    // losses are gathered in candidate order.
    let mut interactions = Vec::new();
    let mut left_out: Vec<usize> = Vec::new();
    let (mut current, mut current_fits) = cv
        .into_iter()
        .find(|(c, _)| c.alpha == alpha)
        .map(|(c, fits)| (c.mean_log_loss, fits))
        .expect("the chosen strength was cross-validated");
    while interactions.len() < MAX_INTERACTIONS && !candidates.is_empty() {
        let starts = fold_params(&current_fits);
        // The current model's Hessian on each fold, shared by every candidate: each one
        // borders it with its own column.
        let bases =
            (!cols.is_empty()).then(|| fold_curvatures(input, &cols, &folds, &current_fits));
        let mut fits: Vec<Vec<FoldFit>> = candidates
            .par_iter()
            .map(|&c| {
                let mut with = cols.clone();
                with.push(c);
                fold_fits(
                    input,
                    cfg,
                    &with,
                    &folds,
                    alpha,
                    Some(starts.as_slice()),
                    bases.as_deref(),
                )
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Result<_, _>>()?;
        let losses: Vec<f64> = fits.iter().map(Vec::as_slice).map(mean_loss).collect();
        let (best, loss) = losses
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .expect("candidates left");
        // Written so that a NaN log-loss never lets a candidate in.
        if !(current - loss >= MIN_GAIN) {
            break;
        }
        let chosen = candidates[best];
        if interactions.is_empty() {
            // Later rounds weigh only the candidates that gained on their own: an
            // interaction that does not help alone is not tried again with the others.
            let (alone, not_alone): (Vec<(usize, f64)>, Vec<(usize, f64)>) = candidates
                .iter()
                .copied()
                .zip(losses.iter().copied())
                .partition(|(_, l)| current - *l >= MIN_GAIN);
            left_out.extend(not_alone.into_iter().map(|(c, _)| c));
            candidates = alone.into_iter().map(|(c, _)| c).collect();
        }
        candidates.retain(|&c| c != chosen);
        interactions.push(Selected {
            name: input.names[chosen].clone(),
            mean_log_loss_before: current,
            mean_log_loss_after: loss,
        });
        cols.push(chosen);
        current = loss;
        current_fits = fits.swap_remove(best);
    }
    left_out.extend(candidates);
    for &c in &left_out {
        dropped.push(Dropped {
            name: input.names[c].clone(),
            reason: "interaction non retenue par la validation croisée".to_string(),
        });
    }
    let cross_validation = if interactions.is_empty() {
        cross_validation
    } else {
        // The final columns' L2 strength, from the search's last fold fits.
        let cv = cv_alphas(
            input,
            cfg,
            &cols,
            &folds,
            &cfg.alphas,
            Some(fold_params(&current_fits)),
        )?;
        let cv: Vec<CvResult> = cv.into_iter().map(|(c, _)| c).collect();
        alpha = best_alpha(&cv, cfg.solver.alpha);
        cv
    };

    // Final fit on the whole training part: the model the held-out part measures.
    let settings = SolverSettings {
        alpha,
        ..cfg.solver.clone()
    };
    let trained = final_fit(input, cfg, &settings, &cols, &train_rows)?;
    let t = standardise(
        input,
        &cols,
        &test_rows,
        Some((&trained.s.mean, &trained.s.sd)),
    );
    let p_test = logistic::predict(t.x.view(), trained.fit.intercept, &trained.fit.coef);
    let y_test: Vec<bool> = test_rows.iter().map(|&r| input.y[r]).collect();
    let baseline: Vec<f64> = test_rows.iter().map(|&r| input.baseline[r]).collect();
    let test = metrics::evaluate(&p_test, &y_test);

    // The deployed model: the same procedure on every label when configured.
    let (deployed, fitted_rows) = if cfg.refit_on_all_labels {
        let all: Vec<usize> = (0..n).collect();
        (final_fit(input, cfg, &settings, &cols, &all)?, all)
    } else {
        (trained, train_rows.clone())
    };
    let FinalFit { s, fit } = deployed;
    // Standard errors of the deployed model only: the held-out fit needs none when it is
    // fitted again.
    let cov = logistic::covariance(s.x.view(), &fit, alpha).ok_or(TrainError::Singular {
        benefit: input.benefit.into(),
    })?;
    let k = cols.len();
    let coefficients: Vec<Coefficient> = cols
        .iter()
        .enumerate()
        .map(|(j, &c)| {
            let b = fit.coef[j];
            let se = cov[[j, j]].sqrt();
            let sd = s.sd[j];
            Coefficient {
                name: input.names[c].clone(),
                standardized: b,
                std_error: se,
                z: b / se,
                ci95_low: b - 1.959_963_984_540_054 * se,
                ci95_high: b + 1.959_963_984_540_054 * se,
                odds_ratio_per_sd: b.exp(),
                original: b / sd,
                original_std_error: se / sd,
                odds_ratio_per_unit: (b / sd).exp(),
            }
        })
        .collect();
    let p_fitted = logistic::predict(s.x.view(), fit.intercept, &fit.coef);
    let y_fitted: Vec<bool> = fitted_rows.iter().map(|&r| input.y[r]).collect();

    let mut hasher = blake3::Hasher::new();
    for name in input.names {
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
    }
    for v in input.x {
        hasher.update(&v.to_le_bytes());
    }
    for y in input.y {
        hasher.update(&[u8::from(*y)]);
    }
    debug_assert_eq!(input.x.len(), n * p_all);

    Ok(ModelArtefact {
        schema_version: ARTEFACT_SCHEMA_VERSION,
        benefit: input.benefit.to_string(),
        features: cols
            .iter()
            .enumerate()
            .map(|(j, &c)| FeatureSignature { name: input.names[c].clone(), mean: s.mean[j], sd: s.sd[j] })
            .collect(),
        dropped,
        intercept: fit.intercept,
        intercept_std_error: cov[[k, k]].sqrt(),
        coefficients,
        standard_errors: "racines carrées de la diagonale de (X̃ᵀWX̃ + alpha·P)⁻¹ à l'optimum, sur les lignes \
                          d'apprentissage standardisées : l'inverse de la matrice d'information pénalisée \
                          (approximation de Laplace) ; la constante n'est pas pénalisée ; avec alpha = 0 ce sont \
                          les erreurs types usuelles du maximum de vraisemblance"
            .to_string(),
        alpha,
        cross_validation,
        interactions,
        config: cfg.clone(),
        convergence: fit,
        training_data: TrainingData {
            rows: n,
            positives,
            label_rate: positives as f64 / n as f64,
            digest: hasher.finalize().to_hex().to_string(),
            train_rows: train_rows.len(),
            test_rows: test_rows.len(),
            fitted_rows: fitted_rows.len(),
        },
        metrics: ModelMetrics {
            test,
            test_auc_eligibility_only: metrics::auc(&baseline, &y_test),
            train_auc: metrics::auc(&p_fitted, &y_fitted),
        },
    })
}

impl ModelArtefact {
    /// The coefficients by decreasing weight (|coefficient per sd|), ties by name: the
    /// order of the model card, the report and the notebooks.
    pub fn coefficients_by_weight(&self) -> Vec<&Coefficient> {
        let mut coefs: Vec<&Coefficient> = self.coefficients.iter().collect();
        coefs.sort_by(|x, y| {
            y.standardized
                .abs()
                .total_cmp(&x.standardized.abs())
                .then(x.name.cmp(&y.name))
        });
        coefs
    }

    /// The linear predictor's terms for one row of raw features (in artefact order):
    /// coefficient × standardised value.
    pub fn contributions(&self, raw: &[f64]) -> Vec<f64> {
        self.features
            .iter()
            .zip(&self.coefficients)
            .zip(raw)
            .map(|((f, c), v)| c.standardized * (v - f.mean) / f.sd)
            .collect()
    }

    pub fn probability(&self, raw: &[f64]) -> f64 {
        crate::calibration::sigmoid(self.intercept + self.contributions(raw).iter().sum::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_seeded_and_complete() {
        let y: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect();
        let (train, test) = stratified_split(&y, 0.25, 7);
        assert_eq!(train.len() + test.len(), 1000);
        assert_eq!(test.iter().filter(|&&i| y[i]).count(), 25);
        assert_eq!(stratified_split(&y, 0.25, 7), (train.clone(), test.clone()));
        assert_ne!(stratified_split(&y, 0.25, 8).1, test);
        let folds = stratified_folds(&train, &y, 5, 7);
        for k in 0..5 {
            let pos = train
                .iter()
                .zip(&folds)
                .filter(|(r, f)| **f == k && y[**r])
                .count();
            assert_eq!(pos, 15);
        }
    }

    /// An interaction the labels depend on is retained by cross-validation; one they do not
    /// depend on is left out and said so.
    #[test]
    fn cross_validation_retains_a_real_interaction_and_not_noise() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 4000;
        let names: Vec<String> = ["a", "b", "a_x_b", "bruit"].map(String::from).to_vec();
        let mut x = Vec::with_capacity(n * 4);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let a = f64::from(u8::from(rng.r#gen::<bool>()));
            let b = f64::from(u8::from(rng.r#gen::<bool>()));
            let noise = f64::from(u8::from(rng.r#gen::<bool>()));
            x.extend([a, b, a * b, noise]);
            let logit = -1.5 + 0.3 * a + 0.3 * b + 2.5 * a * b;
            y.push(rng.r#gen::<f64>() < 1.0 / (1.0 + (-logit).exp()));
        }
        let baseline = vec![0.0; n];
        let input = TrainInput {
            benefit: "PPA",
            names: &names,
            groups: &[None, None, None, None],
            x: &x,
            y: &y,
            baseline: &baseline,
            candidates: &[false, false, true, true],
        };
        let cfg = TrainConfig {
            seed: 1,
            test_share: 0.25,
            folds: 5,
            alphas: vec![1.0],
            solver: SolverSettings::default(),
            allow_non_convergence: false,
            refit_on_all_labels: false,
        };
        let a = train(&input, &cfg).unwrap();
        let retained: Vec<&str> = a.interactions.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(retained, ["a_x_b"]);
        assert!(
            a.interactions[0].mean_log_loss_before - a.interactions[0].mean_log_loss_after
                >= MIN_GAIN
        );
        assert!(a.features.iter().any(|f| f.name == "a_x_b"));
        assert!(a.features.iter().all(|f| f.name != "bruit"));
        assert!(
            a.dropped
                .iter()
                .any(|d| d.name == "bruit" && d.reason.contains("non retenue"))
        );
    }
}
