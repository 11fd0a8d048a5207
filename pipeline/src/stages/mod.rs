//! One folder per stage, in the order they run.

pub mod eligibility;
pub(crate) mod evaluate;
pub mod features;
pub(crate) mod ingest;
pub mod lists;
pub(crate) mod report;
pub mod score;
pub mod stage;
pub(crate) mod train;
