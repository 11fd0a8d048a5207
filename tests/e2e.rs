//! End-to-end tests of the `recours` binary on generated data in temporary folders.
//! Each test is named after what it guards.

mod common;

mod adversarial;
mod audit;

mod eligibility;
mod generator;
mod ingest_contract;
mod layers;
mod lists;
mod models;
mod oracle_openfisca;
mod portal;
mod print;
mod realiste;
mod report;
mod resume;
mod run_folder;
