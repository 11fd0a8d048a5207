//! Typed access to the columns of a validated table, with errors that name table and column.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{RecoursError, Result};

pub(crate) fn str_col<'a>(df: &'a DataFrame, table: &str, col: &str) -> Result<&'a StringChunked> {
    df.column(col)
        .and_then(|c| c.str())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}

pub(crate) fn f64_col<'a>(df: &'a DataFrame, table: &str, col: &str) -> Result<&'a Float64Chunked> {
    df.column(col)
        .and_then(|c| c.f64())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}

pub(crate) fn bool_col<'a>(
    df: &'a DataFrame,
    table: &str,
    col: &str,
) -> Result<&'a BooleanChunked> {
    df.column(col)
        .and_then(|c| c.bool())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}

pub(crate) fn u32_col<'a>(df: &'a DataFrame, table: &str, col: &str) -> Result<&'a UInt32Chunked> {
    df.column(col)
        .and_then(|c| c.u32())
        .map_err(RecoursError::polars(format!("{table}.{col}")))
}

/// Rows of a Parquet file, read from its footer.
pub fn parquet_rows(path: &Path) -> Option<u64> {
    use polars::prelude::*;
    if path.extension().is_none_or(|e| e != "parquet") {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    ParquetReader::new(file).num_rows().ok().map(|n| n as u64)
}

/// The first eight bytes of an id as a number ordered as the text is (big-endian, padded
/// with zeros): sorting by `(id_head(id), id)` gives the order of `id` alone, and most
/// comparisons end on the number, without reading the id behind its pointer (a cache
/// miss per comparison when millions of ids are sorted).
pub fn id_head(id: &str) -> u64 {
    let mut head = [0u8; 8];
    let n = id.len().min(8);
    head[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(head)
}

/// Values of one column as a polars column. Numbers are taken as they are: `Column::new`
/// copies a `Vec` of numbers into a new buffer (a second allocation, page faults and copy
/// per column: three quarters of writing `features.parquet` in perf).
pub(crate) trait ColumnValues: Sized {
    fn column(name: &str, values: Vec<Self>) -> Column;
}

macro_rules! numbers_taken {
    ($($t:ty => $ca:ty),*) => {$(
        impl ColumnValues for $t {
            fn column(name: &str, values: Vec<$t>) -> Column {
                <$ca>::from_vec(name.into(), values).into_column()
            }
        }
    )*};
}
numbers_taken!(f64 => Float64Chunked, u32 => UInt32Chunked, i32 => Int32Chunked, u64 => UInt64Chunked);

macro_rules! values_copied {
    ($($t:ty),*) => {$(
        impl ColumnValues for $t {
            fn column(name: &str, values: Vec<$t>) -> Column {
                Column::new(name.into(), values)
            }
        }
    )*};
}
values_copied!(
    bool,
    &str,
    String,
    Option<&str>,
    Option<String>,
    Option<f64>,
    Option<u32>
);

/// `values` as the column `name` (see [`ColumnValues`]).
pub fn column<T: ColumnValues>(name: &str, values: Vec<T>) -> Column {
    T::column(name, values)
}

/// A row filter for [`DataFrame::filter`]: the rows where `keep` is true.
pub(crate) fn mask(keep: &[bool]) -> BooleanChunked {
    BooleanChunked::from_slice("keep".into(), keep)
}

/// A whole parquet file written by an earlier stage.
pub fn read_parquet(path: &std::path::Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path)
        .map_err(RecoursError::io(format!("opening {}", path.display())))?;
    ParquetReader::new(file)
        .finish()
        .map_err(RecoursError::polars(format!("reading {}", path.display())))
}

/// Gives the `&'static str` codes (benefit, role, housing status…) of a table read back from
/// a stage output: each distinct value is allocated once for the whole process. Each thread
/// keeps the codes it has seen (no lock after the first sighting: this runs for millions of
/// values).
pub(crate) fn intern(value: &str) -> &'static str {
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    thread_local! {
        static LOCAL: RefCell<rustc_hash::FxHashSet<&'static str>> = RefCell::default();
    }
    if let Some(s) = LOCAL.with(|l| l.borrow().get(value).copied()) {
        return s;
    }
    let s = {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(value) {
            Some(s) => *s,
            None => {
                let s: &'static str = Box::leak(value.to_string().into_boxed_str());
                seen.insert(s);
                s
            }
        }
    };
    LOCAL.with(|l| l.borrow_mut().insert(s));
    s
}

/// Rows per slice when a stage output (features, eligibility rows) is read back whole.
pub(crate) const READ_SLICE_ROWS: usize = 1 << 20;

/// The rows of a Parquet file read `slice` at a time (only `columns` when given): a stage
/// reading back millions of rows never holds the whole file decoded next to what it builds
/// from it.
pub(crate) struct ParquetSlices {
    path: PathBuf,
    columns: Option<Vec<String>>,
    rows: usize,
    next: usize,
    slice: usize,
}

impl ParquetSlices {
    pub fn open(path: &Path, columns: Option<&[&str]>, slice: usize) -> Result<ParquetSlices> {
        let rows = parquet_rows(path)
            .ok_or_else(|| RecoursError::Internal(format!("{} cannot be read", path.display())))?
            as usize;
        Ok(ParquetSlices {
            path: path.to_path_buf(),
            columns: columns.map(|c| c.iter().map(|c| c.to_string()).collect()),
            rows,
            next: 0,
            slice: slice.max(1),
        })
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl Iterator for ParquetSlices {
    type Item = Result<DataFrame>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.rows {
            return None;
        }
        let (offset, len) = (self.next, self.slice.min(self.rows - self.next));
        self.next += len;
        let read = || -> Result<DataFrame> {
            let file = std::fs::File::open(&self.path)
                .map_err(RecoursError::io(format!("opening {}", self.path.display())))?;
            ParquetReader::new(file)
                .with_columns(self.columns.clone())
                .with_slice(Some((offset, len)))
                .finish()
                .map_err(RecoursError::polars(format!(
                    "reading {}",
                    self.path.display()
                )))
        };
        Some(read())
    }
}

#[cfg(test)]
mod tests {
    use super::id_head;

    #[test]
    fn id_heads_order_as_the_ids() {
        let ids = [
            "",
            "\0",
            "a",
            "a\0",
            "a\0\u{1}",
            "ab",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefgi",
            "abcdefghz",
            "b",
            "ff",
            "f0",
            "0123456789abcdef",
            "01234567",
        ];
        for a in ids {
            for b in ids {
                let by_head = id_head(a).cmp(&id_head(b)).then_with(|| a.cmp(b));
                assert_eq!(by_head, a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }
}
