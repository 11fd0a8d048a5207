//! The files of a run folder that more than one stage or command reads.

pub mod eligibility;
pub mod extracts;
pub mod features;
pub mod households;
pub mod manifest;
pub mod ownership;
pub mod quality;
pub mod run_folder;
pub mod scores;
