//! The `score` stage: probabilities and reasons from the models.

pub mod scoring;
