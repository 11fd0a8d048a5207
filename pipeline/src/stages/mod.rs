//! One folder per stage, in the order they run.

pub mod ingest;
pub mod eligibility;
pub mod features;
pub mod train;
pub mod score;
pub mod lists;
pub mod evaluate;
pub mod report;
pub mod stage;
