//! Reading and writing files: typed Parquet columns, atomic and staged writers, the cells
//! and CSV dialects of the files opened in a spreadsheet.

pub mod excel;
pub mod frame;
pub mod output;
pub mod trace;
