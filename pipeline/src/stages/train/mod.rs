//! The `train` stage: learning sets, one logistic model per benefit.

pub mod training;
