//! What more than one stage or command reads: the run folder's layout, its files with
//! their types (each written and read back here), and the values a stage hands the stages
//! after it (the households). Below every stage, so that a stage imports only the stages
//! that run before it.

pub(crate) mod eligibility;
pub(crate) mod extracts;
pub(crate) mod features;
pub(crate) mod households;
pub mod manifest;
pub(crate) mod ownership;
pub(crate) mod quality;
pub mod run_folder;
pub(crate) mod scores;
