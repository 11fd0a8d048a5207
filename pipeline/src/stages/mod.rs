//! One folder per stage, in the order they run.

pub(crate) mod eligibility;
pub(crate) mod evaluate;
pub(crate) mod features;
pub(crate) mod ingest;
pub mod lists;
pub(crate) mod report;
pub(crate) mod score;
pub(crate) mod stage;
pub(crate) mod train;
