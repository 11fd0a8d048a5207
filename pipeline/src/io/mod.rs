//! Reading and writing files: typed Parquet columns, atomic and staged writers; what a run
//! tells its operator (progress, `run.log`).

pub mod frame;
pub mod output;
pub mod progress;
pub mod trace;
