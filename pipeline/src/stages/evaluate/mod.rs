//! The `evaluate` stage: fairness audit, and scores against the ground truth when named.

pub mod fairness;
pub mod truth;
