//! Reading and writing files: typed Parquet columns, atomic and staged writers, the cells
//! and CSV dialects of the files opened in a spreadsheet; what a run tells its operator
//! (progress, `run.log`).

pub mod excel;
pub mod frame;
pub mod output;
pub(crate) mod progress;
pub mod trace;
