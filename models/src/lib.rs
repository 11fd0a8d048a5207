//! Model code for recours: calibration of logistic behaviour models, training, evaluation
//! and model artefacts.

pub mod calibration;
pub mod estimator;
pub mod logistic;
pub mod metrics;
pub mod train;
