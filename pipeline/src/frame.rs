//! Typed access to the columns of a validated table, with errors that name table and column.

use polars::prelude::*;

use crate::error::{RecoursError, Result};

pub fn str_col<'a>(df: &'a DataFrame, table: &str, col: &str) -> Result<&'a StringChunked> {
    df.column(col)
        .and_then(|c| c.str())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}

pub fn f64_col<'a>(df: &'a DataFrame, table: &str, col: &str) -> Result<&'a Float64Chunked> {
    df.column(col)
        .and_then(|c| c.f64())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}

pub fn bool_col<'a>(df: &'a DataFrame, table: &str, col: &str) -> Result<&'a BooleanChunked> {
    df.column(col)
        .and_then(|c| c.bool())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}
