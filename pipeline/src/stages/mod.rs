//! One folder per stage, in the order they run.

pub mod eligibility;
pub mod evaluate;
pub mod features;
pub mod ingest;
pub mod lists;
pub mod report;
pub mod score;
pub mod stage;
pub mod train;
