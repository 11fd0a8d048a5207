//! Reading and writing files: typed Parquet columns, atomic and staged writers.

pub mod frame;
pub mod output;
pub mod trace;
