//! `features.parquet`: the feature table, one row per (person, benefit) of the scoring
//! populations, written and read back here. Its feature columns are named by the feature
//! dictionary (`stages::features::dictionary`), which a reader passes as `feature_name`.
//!
//! In memory each feature is a column stored as narrowly as its values allow without
//! changing a bit ([`Column`]): a column of at most 256 distinct values (a yes/no, a
//! one-hot level, an age, a count) holds one byte a row and its distinct values; the
//! others hold their f64 values. Scoring reads only the columns of a benefit's model, a
//! byte a row for most of them (`stages::score::scoring`).

use polars::prelude::*;
use rayon::prelude::*;

use crate::domain::month::Month;
use crate::error::{RecoursError, Result};

/// Distinct values (by bits) up to which a column is stored as one-byte codes.
const MAX_LEVELS: usize = 256;

/// One feature's values, every row's bits kept exactly.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Column {
    /// Row `i`'s value is `levels[codes[i]]` (levels in order of first appearance).
    Coded { levels: Vec<f64>, codes: Vec<u8> },
    /// Row `i`'s value is `values[i]`.
    Dense(Vec<f64>),
}

impl Column {
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Column::Coded { levels, codes } => levels[codes[i] as usize],
            Column::Dense(v) => v[i],
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Coded { codes, .. } => codes.len(),
            Column::Dense(v) => v.len(),
        }
    }

    /// Bytes held (the rows' codes or values).
    fn bytes(&self) -> usize {
        match self {
            Column::Coded { levels, codes } => codes.len() + 8 * levels.len(),
            Column::Dense(v) => 8 * v.len(),
        }
    }

    /// Rows `rows`' values.
    fn values(&self, rows: std::ops::Range<usize>) -> Vec<f64> {
        match self {
            Column::Coded { levels, codes } => {
                codes[rows].iter().map(|&c| levels[c as usize]).collect()
            }
            Column::Dense(v) => v[rows].to_vec(),
        }
    }
}

/// Builds a [`Column`] from values appended in row order: coded while it has at most
/// [`MAX_LEVELS`] distinct values, dense from the first value beyond (the codes so far
/// turned into values).
struct ColumnBuilder {
    column: Column,
    /// Open addressing over the levels' bits: `code + 1`, 0 for an empty slot.
    slots: Vec<u16>,
}

impl ColumnBuilder {
    const SLOTS: usize = 4 * MAX_LEVELS;

    fn new() -> ColumnBuilder {
        ColumnBuilder {
            column: Column::Coded {
                levels: Vec::new(),
                codes: Vec::new(),
            },
            slots: vec![0; Self::SLOTS],
        }
    }

    fn reserve(&mut self, rows: usize) {
        match &mut self.column {
            Column::Coded { codes, .. } => codes.reserve_exact(rows),
            Column::Dense(v) => v.reserve_exact(rows),
        }
    }

    #[inline]
    fn push(&mut self, value: f64) {
        let Column::Coded { levels, codes } = &mut self.column else {
            let Column::Dense(v) = &mut self.column else {
                unreachable!("a column is coded or dense")
            };
            v.push(value);
            return;
        };
        let bits = value.to_bits();
        // Fibonacci hashing of the bits to 10 bits, then the next slots in turn.
        let mut at = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
        loop {
            match self.slots[at] {
                0 => break,
                s if levels[s as usize - 1].to_bits() == bits => {
                    codes.push((s - 1) as u8);
                    return;
                }
                _ => at = (at + 1) % Self::SLOTS,
            }
        }
        if levels.len() < MAX_LEVELS {
            self.slots[at] = levels.len() as u16 + 1;
            codes.push(levels.len() as u8);
            levels.push(value);
            return;
        }
        let mut dense: Vec<f64> = Vec::with_capacity(codes.capacity().max(codes.len() + 1));
        dense.extend(codes.iter().map(|&c| levels[c as usize]));
        dense.push(value);
        self.column = Column::Dense(dense);
        self.slots = Vec::new();
    }

    fn finish(self) -> Column {
        match self.column {
            Column::Coded { levels, mut codes } => {
                codes.shrink_to_fit();
                Column::Coded { levels, codes }
            }
            Column::Dense(mut v) => {
                v.shrink_to_fit();
                Column::Dense(v)
            }
        }
    }
}

/// The feature columns of a table, built from rows appended a batch at a time.
pub(crate) struct ColumnsBuilder {
    columns: Vec<ColumnBuilder>,
}

impl ColumnsBuilder {
    /// `p` columns, with room for `rows` rows.
    pub fn new(p: usize, rows: usize) -> ColumnsBuilder {
        let mut columns: Vec<ColumnBuilder> = (0..p).map(|_| ColumnBuilder::new()).collect();
        for c in &mut columns {
            c.reserve(rows);
        }
        ColumnsBuilder { columns }
    }

    /// Appends rows given row-major, `p` values a row. Columns are encoded in parallel, in
    /// groups of eight: the eight values of a row a group reads share a cache line or two,
    /// so the batch is read about once.
    pub fn push_rows(&mut self, values: &[f64]) {
        let p = self.columns.len();
        if p == 0 {
            return;
        }
        self.columns
            .par_chunks_mut(8)
            .enumerate()
            .for_each(|(g, group)| {
                let first = 8 * g;
                for row in values.chunks_exact(p) {
                    for (c, &v) in group.iter_mut().zip(&row[first..]) {
                        c.push(v);
                    }
                }
            });
    }

    /// Appends the rows of `df`'s feature columns `names` (a missing value is NaN).
    fn push_frame(&mut self, df: &DataFrame, names: &[&str]) -> Result<()> {
        let columns = names
            .iter()
            .map(|name| crate::io::frame::f64_col(df, "features.parquet", name))
            .collect::<Result<Vec<_>>>()?;
        self.columns
            .par_iter_mut()
            .zip(columns.par_iter())
            .for_each(|(b, c)| {
                for v in c.iter() {
                    b.push(v.unwrap_or(f64::NAN));
                }
            });
        Ok(())
    }

    pub fn finish(self) -> Vec<Column> {
        self.columns
            .into_iter()
            .map(ColumnBuilder::finish)
            .collect()
    }
}

/// The feature table: one row per (person, benefit), one column per feature of `names`.
pub(crate) struct FeatureTable {
    pub month: Month,
    pub names: Vec<&'static str>,
    pub pseudo_id: Vec<String>,
    pub prestation: Vec<&'static str>,
    pub montant_estime: Vec<f64>,
    pub candidat_deterministe: Vec<bool>,
    /// One column per feature of `names`, or none once released
    /// ([`FeatureTable::release_values`]).
    pub columns: Vec<Column>,
    /// Each row's person in the [`Households`](crate::tables::households::Households) the table was computed from (rows in
    /// `persons`); `None` for a table read back from `features.parquet`.
    pub person: Option<Vec<u32>>,
}

impl FeatureTable {
    /// Row `i`'s values, in the order of `names`.
    pub fn row(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        self.columns.iter().map(move |c| c.get(i))
    }
    pub fn len(&self) -> usize {
        self.pseudo_id.len()
    }

    /// Bytes of the feature values in memory.
    pub(crate) fn value_bytes(&self) -> usize {
        self.columns.iter().map(Column::bytes).sum()
    }

    /// Rows `rows` as a DataFrame (`features.parquet` is written in batches of rows).
    pub(crate) fn to_frame(&self, rows: std::ops::Range<usize>) -> Result<DataFrame> {
        use crate::io::frame::column;
        let month = self.month.to_string();
        let ids: Vec<&str> = self.pseudo_id[rows.clone()]
            .iter()
            .map(String::as_str)
            .collect();
        let mut cols = vec![
            column("pseudo_id", ids),
            column("prestation", self.prestation[rows.clone()].to_vec()),
            column("mois", vec![month.as_str(); rows.len()]),
            column(
                "eligibilite_montant_estime",
                self.montant_estime[rows.clone()].to_vec(),
            ),
            column(
                "eligibilite_candidat_deterministe",
                self.candidat_deterministe[rows.clone()].to_vec(),
            ),
        ];
        for (name, c) in self.names.iter().zip(&self.columns) {
            cols.push(column(name, c.values(rows.clone())));
        }
        DataFrame::new_infer_height(cols).map_err(RecoursError::polars("features.parquet"))
    }

    /// Reads back `features.parquet` (a run resumed after this stage): the feature columns
    /// are the dictionary's, in the order written. Read a slice at a time, so that the whole
    /// file decoded never sits next to the table built from it (a few GB at 10 M people, at
    /// the evaluate stage's peak).
    pub fn read(
        path: &std::path::Path,
        month: Month,
        feature_name: fn(&str) -> Option<&'static str>,
    ) -> Result<FeatureTable> {
        let mut slices =
            crate::io::frame::ParquetSlices::open(path, None, crate::io::frame::READ_SLICE_ROWS)?;
        let rows = slices.rows();
        let Some(first) = slices.next() else {
            return FeatureTable::from_frame(
                &crate::io::frame::read_parquet(path)?,
                month,
                feature_name,
            );
        };
        let first = first?;
        let names = feature_names(&first, feature_name)?;
        let mut table = FeatureTable::fixed_columns(&first, month, names.clone())?;
        table.pseudo_id.reserve_exact(rows - table.len());
        let mut values = ColumnsBuilder::new(names.len(), rows);
        values.push_frame(&first, &names)?;
        for df in slices {
            let df = df?;
            if feature_names(&df, feature_name)? != names {
                return Err(RecoursError::Internal(format!(
                    "{}: columns differ between row groups",
                    path.display()
                )));
            }
            let part = FeatureTable::fixed_columns(&df, month, Vec::new())?;
            table.pseudo_id.extend(part.pseudo_id);
            table.prestation.extend(part.prestation);
            table.montant_estime.extend(part.montant_estime);
            table
                .candidat_deterministe
                .extend(part.candidat_deterministe);
            values.push_frame(&df, &names)?;
        }
        table.columns = values.finish();
        Ok(table)
    }

    /// Whether the values are in memory (see [`FeatureTable::release_values`]).
    pub(crate) fn has_values(&self) -> bool {
        self.columns.len() == self.names.len()
    }

    /// Drops the values (the bulk of the table), keeping the ids, benefits, amounts and
    /// rows' persons; [`FeatureTable::read_values`] reads them back.
    pub(crate) fn release_values(&mut self) {
        self.columns = Vec::new();
    }

    /// Reads the values back from `features.parquet` (the file this table was written to),
    /// a slice of rows at a time.
    pub(crate) fn read_values(&mut self, path: &std::path::Path) -> Result<()> {
        self.read_values_by(path, crate::io::frame::READ_SLICE_ROWS)
    }

    fn read_values_by(&mut self, path: &std::path::Path, slice: usize) -> Result<()> {
        let names: Vec<&str> = self.names.clone();
        let slices = crate::io::frame::ParquetSlices::open(path, Some(&names), slice)?;
        if slices.rows() != self.len() {
            return Err(RecoursError::Internal(format!(
                "{}: {} rows where the stage computed {}",
                path.display(),
                slices.rows(),
                self.len()
            )));
        }
        let mut values = ColumnsBuilder::new(names.len(), self.len());
        for df in slices {
            values.push_frame(&df?, &names)?;
        }
        let columns = values.finish();
        if let Some(c) = columns.iter().find(|c| c.len() != self.len()) {
            return Err(RecoursError::Internal(format!(
                "{}: {} values of a column read back where {} were written",
                path.display(),
                c.len(),
                self.len()
            )));
        }
        self.columns = columns;
        Ok(())
    }

    /// `feature_name`: the dictionary's name of a feature column, `None` for a column that
    /// is not a feature of the dictionary (an error).
    pub(crate) fn from_frame(
        df: &DataFrame,
        month: Month,
        feature_name: fn(&str) -> Option<&'static str>,
    ) -> Result<FeatureTable> {
        let names = feature_names(df, feature_name)?;
        let mut table = FeatureTable::fixed_columns(df, month, names.clone())?;
        let mut values = ColumnsBuilder::new(names.len(), df.height());
        values.push_frame(df, &names)?;
        table.columns = values.finish();
        Ok(table)
    }

    /// A table of `df`'s ids, benefits, amounts and candidates, without its values.
    fn fixed_columns(
        df: &DataFrame,
        month: Month,
        names: Vec<&'static str>,
    ) -> Result<FeatureTable> {
        use crate::io::frame::{bool_col, f64_col, intern, str_col};
        const T: &str = "features.parquet";
        let n = df.height();
        Ok(FeatureTable {
            month,
            person: None,
            names,
            pseudo_id: {
                let c = str_col(df, T, "pseudo_id")?;
                (0..n)
                    .map(|i| c.get(i))
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect()
            },
            prestation: {
                let c = str_col(df, T, "prestation")?;
                (0..n)
                    .map(|i| c.get(i))
                    .map(|v| intern(v.unwrap_or_default()))
                    .collect()
            },
            montant_estime: {
                let c = f64_col(df, T, "eligibilite_montant_estime")?;
                (0..n).map(|i| c.get(i)).map(|v| v.unwrap_or(0.0)).collect()
            },
            candidat_deterministe: {
                let c = bool_col(df, T, "eligibilite_candidat_deterministe")?;
                (0..n)
                    .map(|i| c.get(i))
                    .map(|v| v.unwrap_or(false))
                    .collect()
            },
            columns: Vec::new(),
        })
    }
}

/// The feature columns of `df` (every column but the fixed ones), by their dictionary
/// names.
fn feature_names(
    df: &DataFrame,
    feature_name: fn(&str) -> Option<&'static str>,
) -> Result<Vec<&'static str>> {
    const FIXED: [&str; 5] = [
        "pseudo_id",
        "prestation",
        "mois",
        "eligibilite_montant_estime",
        "eligibilite_candidat_deterministe",
    ];
    df.get_column_names()
        .into_iter()
        .filter(|c| !FIXED.contains(&c.as_str()))
        .map(|c| {
            feature_name(c.as_str()).ok_or_else(|| {
                RecoursError::Internal(format!(
                    "features.parquet: column {c} is not in the feature dictionary"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(values: impl Iterator<Item = f64>) -> Vec<u64> {
        values.map(f64::to_bits).collect()
    }

    /// A column keeps every value's bits (0 and -0, NaN), stays coded up to 256 distinct
    /// values and turns dense at the 257th, whatever the batches.
    #[test]
    fn columns_keep_every_bit_and_code_up_to_256_levels() {
        let n = 1000;
        let signed_zeros = |i: usize| match i % 4 {
            0 => 0.0,
            1 => -0.0,
            2 => f64::NAN,
            _ => 1.0,
        };
        let exactly_256 = |i: usize| (i % 256) as f64 * 0.1;
        let more = |i: usize| if i < 900 { (i % 256) as f64 } else { i as f64 };
        let rows: Vec<f64> = (0..n)
            .flat_map(|i| [signed_zeros(i), exactly_256(i), more(i)])
            .collect();
        for batch in [1, 7, 256, n] {
            let mut b = ColumnsBuilder::new(3, 10);
            for part in rows.chunks(3 * batch) {
                b.push_rows(part);
            }
            let columns = b.finish();
            assert!(matches!(&columns[0], Column::Coded { levels, .. } if levels.len() == 4));
            assert!(matches!(&columns[1], Column::Coded { levels, .. } if levels.len() == 256));
            assert!(matches!(&columns[2], Column::Dense(_)));
            for (j, c) in columns.iter().enumerate() {
                assert_eq!(c.len(), n);
                assert_eq!(
                    bits((0..n).map(|i| c.get(i))),
                    bits(rows.iter().skip(j).step_by(3).copied()),
                    "column {j}, batches of {batch}"
                );
            }
        }
    }

    /// Values released and read back, a few rows at a time, are the values written.
    #[test]
    fn released_values_read_back_are_the_values_written() {
        let names = vec!["montant_estime", "age", "nb_enfants"];
        let n = 700;
        let p = names.len();
        let values: Vec<f64> = (0..n * p)
            .map(|k| ((k % 997) as f64).sqrt() - 3.0)
            .collect();
        let mut columns = ColumnsBuilder::new(p, n);
        columns.push_rows(&values);
        let mut table = FeatureTable {
            month: Month::parse("2025-09").unwrap(),
            names,
            pseudo_id: (0..n).map(|i| format!("{i:064x}")).collect(),
            prestation: vec!["PPA"; n],
            montant_estime: (0..n).map(|i| i as f64 * 10.5).collect(),
            candidat_deterministe: (0..n).map(|i| i % 2 == 0).collect(),
            columns: columns.finish(),
            person: Some((0..n as u32).collect()),
        };
        assert_eq!(
            bits((0..n).flat_map(|i| table.row(i))),
            bits(values.into_iter())
        );
        let dir = std::env::temp_dir().join(format!("recours-values-{}", std::process::id()));
        let path = dir.join("features.parquet");
        crate::io::output::write_parquet(&path, &mut table.to_frame(0..n).unwrap()).unwrap();
        let written = table.columns.clone();
        table.release_values();
        assert!(!table.has_values());
        table.read_values_by(&path, 3).unwrap();
        assert!(table.has_values());
        assert_eq!(table.columns, written);
        assert_eq!(table.person, Some((0..n as u32).collect()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
