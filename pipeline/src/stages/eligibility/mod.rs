//! The `eligibility` stage: households assembled from the extracts, RSA/PPA/ASPA estimated.

pub mod estimate;
pub mod household;
