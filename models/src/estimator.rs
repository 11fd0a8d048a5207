//! recours' logistic regression offered through linfa's own interface: unchecked
//! [`LogisticParams`] become [`LogisticValidParams`] through [`ParamGuard`], which
//! [`Fit`] over a `linfa::DatasetBase` (records, boolean targets, feature names) into a
//! [`FittedLogistic`] that predicts probabilities through `linfa::traits::Predict`. The
//! solver is the project's own ([`crate::logistic::fit`]); linfa-logistic, the reference it
//! is tested against, is 20–90× slower on these data (shared/toolchain-notes.md).

use linfa::ParamGuard;
use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::logistic::{self, FitError, SolverSettings};

/// Unchecked settings of the estimator (linfa's builder pattern).
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticParams(LogisticValidParams);

/// Checked settings: every number finite and in its range.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticValidParams(SolverSettings);

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams(LogisticValidParams(SolverSettings::default()))
    }
}

impl From<SolverSettings> for LogisticParams {
    fn from(s: SolverSettings) -> Self {
        LogisticParams(LogisticValidParams(s))
    }
}

impl LogisticParams {
    /// L2 strength on the summed log-loss (scikit-learn's 1/C).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.0.0.alpha = alpha;
        self
    }
    pub fn max_iterations(mut self, n: u64) -> Self {
        self.0.0.max_iterations = n;
        self
    }
    pub fn gradient_tolerance(mut self, t: f64) -> Self {
        self.0.0.gradient_tolerance = t;
        self
    }
}

impl LogisticValidParams {
    pub fn settings(&self) -> &SolverSettings {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EstimatorError {
    #[error("{name} must be {rule}, got {value}")]
    Param {
        name: &'static str,
        rule: &'static str,
        value: f64,
    },
    #[error("{records} records but {targets} targets")]
    Shape { records: usize, targets: usize },
    #[error("feature {feature} (column {column}) has a non-finite value at row {row}")]
    NonFinite {
        feature: String,
        column: usize,
        row: usize,
    },
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

impl ParamGuard for LogisticParams {
    type Checked = LogisticValidParams;
    type Error = EstimatorError;

    fn check_ref(&self) -> Result<&LogisticValidParams, EstimatorError> {
        let s = &self.0.0;
        let bad = |name, rule, value: f64| EstimatorError::Param { name, rule, value };
        if !(s.alpha.is_finite() && s.alpha >= 0.0) {
            return Err(bad("alpha", "finite and ≥ 0", s.alpha));
        }
        for (name, v) in [
            ("gradient_tolerance", s.gradient_tolerance),
            ("convergence_tolerance", s.convergence_tolerance),
            ("polish_tolerance", s.polish_tolerance),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(name, "finite and > 0", v));
            }
        }
        if s.max_iterations == 0 {
            return Err(bad("max_iterations", "≥ 1", 0.0));
        }
        if s.memory == 0 {
            return Err(bad("memory", "≥ 1", 0.0));
        }
        Ok(&self.0)
    }

    fn check(self) -> Result<LogisticValidParams, EstimatorError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted model: intercept and coefficients on the records' scale, the solver's record,
/// and the dataset's feature names.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedLogistic {
    pub fit: logistic::Fit,
    pub feature_names: Vec<String>,
}

impl FittedLogistic {
    pub fn intercept(&self) -> f64 {
        self.fit.intercept
    }
    pub fn coef(&self) -> &[f64] {
        &self.fit.coef
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, EstimatorError> for LogisticValidParams
where
    D: Data<Elem = f64>,
    T: AsSingleTargets<Elem = bool>,
{
    type Object = FittedLogistic;

    fn fit(
        &self,
        ds: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<FittedLogistic, EstimatorError> {
        let x = ds.records.view();
        let targets = ds.as_single_targets();
        if targets.len() != x.nrows() {
            return Err(EstimatorError::Shape {
                records: x.nrows(),
                targets: targets.len(),
            });
        }
        let names = ds.feature_names();
        if let Some((row, column)) = x
            .indexed_iter()
            .find(|(_, v)| !v.is_finite())
            .map(|(ix, _)| ix)
        {
            return Err(EstimatorError::NonFinite {
                feature: names
                    .get(column)
                    .cloned()
                    .unwrap_or_else(|| format!("#{column}")),
                column,
                row,
            });
        }
        let y: Vec<f64> = targets.iter().map(|&t| f64::from(u8::from(t))).collect();
        let fit = logistic::fit(x, &y, &self.0)?;
        Ok(FittedLogistic {
            fit,
            feature_names: names.to_vec(),
        })
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for FittedLogistic {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        assert_eq!(x.nrows(), y.len(), "one probability per record");
        let p = logistic::predict(x.view(), self.fit.intercept, &self.fit.coef);
        y.iter_mut().zip(p).for_each(|(o, p)| *o = p);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;
    use ndarray::array;

    #[test]
    fn fits_and_predicts_through_linfa_traits() {
        let x = array![
            [0.0, 1.0],
            [1.0, 0.0],
            [2.0, 1.0],
            [3.0, 0.0],
            [4.0, 1.0],
            [5.0, 0.0]
        ];
        let y = array![false, false, true, false, true, true];
        let ds = DatasetBase::new(x.view(), y.view()).with_feature_names(vec!["a", "b"]);
        let model = LogisticParams::default()
            .alpha(1.0)
            .check()
            .unwrap()
            .fit(&ds)
            .unwrap();
        assert_eq!(model.feature_names, vec!["a".to_string(), "b".to_string()]);
        let direct = logistic::fit(
            x.view(),
            &[0.0, 0.0, 1.0, 0.0, 1.0, 1.0],
            &SolverSettings::default(),
        )
        .unwrap();
        assert!((model.intercept() - direct.intercept).abs() < 1e-12);
        let p: Array1<f64> = model.predict(&x);
        assert_eq!(p.len(), 6);
        assert!(p[5] > p[0], "the probability rises with a");
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn parameters_are_checked_before_fitting() {
        for params in [
            LogisticParams::default().alpha(f64::INFINITY),
            LogisticParams::default().alpha(-1.0),
            LogisticParams::default().gradient_tolerance(-1.0),
            LogisticParams::default().gradient_tolerance(f64::NAN),
            LogisticParams::default().max_iterations(0),
        ] {
            assert!(matches!(params.check(), Err(EstimatorError::Param { .. })));
        }
        let x = array![[0.0], [f64::NAN]];
        let y = array![false, true];
        let ds = DatasetBase::new(x.view(), y.view()).with_feature_names(vec!["montant"]);
        let err = LogisticParams::default()
            .check()
            .unwrap()
            .fit(&ds)
            .unwrap_err();
        assert!(
            matches!(&err, EstimatorError::NonFinite { feature, row: 1, column: 0 } if feature == "montant"),
            "{err}"
        );
    }
}
