//! recours: finds people entitled to PPA, RSA or ASPA who do not claim them, and ranks them
//! for the caisses. See ARCHITECTURE.md for the stage pipeline, the code map and the layers.
//!
//! The modules below are in layer order, from the bottom: a module imports only from its own
//! layer or an earlier one (checked by `tests/layers.rs`).

// 1. The error type and exit codes.
pub mod error;
// 2. Months, barèmes, entitlement formulas, reference maps, the data contract, codes.
pub mod domain;
// 3. Parquet/CSV reading and writing, staged writers, tracing.
pub(crate) mod io;
// 4. The checked configuration, owning every run parameter type.
pub mod config;
// 5. The run folder's layout, its files and the values more than one stage reads.
pub mod tables;
// 6. One folder per stage.
pub mod stages;
// 7. Plan, staging, commit, manifest.
pub mod run;
// 8. Commands beside the run: the auditor's, the generator, the benchmarks.
pub mod audit;
pub mod bench;
pub mod generate;
// 9. The caisse portal (`recours serve`): serves finished runs, built on the commands below it.
pub mod portal;
// 10. The command line.
pub mod cli;
