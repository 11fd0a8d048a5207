//! `features.parquet`: the feature table, one row per (person, benefit) of the scoring
//! populations, written and read back here. Its feature columns are named by the feature
//! dictionary (`stages::features::dictionary`), which a reader passes as `feature_name`.

use polars::prelude::*;

use crate::domain::month::Month;
use crate::error::{RecoursError, Result};

/// The feature columns `names` of `df` into `values`, row-major (a missing value is NaN).
fn fill_values(df: &DataFrame, names: &[&str], values: &mut [f64]) -> Result<()> {
    let p = names.len();
    for (j, name) in names.iter().enumerate() {
        let c = crate::io::frame::f64_col(df, "features.parquet", name)?;
        for (i, v) in c.iter().enumerate() {
            values[i * p + j] = v.unwrap_or(f64::NAN);
        }
    }
    Ok(())
}

/// The feature table: one row per (person, benefit), values in dictionary order of `names`.
pub(crate) struct FeatureTable {
    pub month: Month,
    pub names: Vec<&'static str>,
    pub pseudo_id: Vec<String>,
    pub prestation: Vec<&'static str>,
    pub montant_estime: Vec<f64>,
    pub candidat_deterministe: Vec<bool>,
    /// Row-major values, `names.len()` per row.
    pub values: Vec<f64>,
    /// Each row's person in the [`Households`](crate::tables::households::Households) the table was computed from (rows in
    /// `persons`); `None` for a table read back from `features.parquet`.
    pub person: Option<Vec<u32>>,
}

impl FeatureTable {
    pub fn row(&self, i: usize) -> &[f64] {
        let p = self.names.len();
        &self.values[i * p..(i + 1) * p]
    }
    pub fn len(&self) -> usize {
        self.pseudo_id.len()
    }

    /// Rows `rows` as a DataFrame (`features.parquet` is written in batches of rows).
    pub(crate) fn to_frame(&self, rows: std::ops::Range<usize>) -> Result<DataFrame> {
        let p = self.names.len();
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
        // One pass over the rows, each value appended to its column (a pass per column
        // would read a cache line of every row for each of the p columns).
        let mut values: Vec<Vec<f64>> = (0..p).map(|_| Vec::with_capacity(rows.len())).collect();
        for i in rows.clone() {
            for (v, x) in values.iter_mut().zip(self.row(i)) {
                v.push(*x);
            }
        }
        for (name, v) in self.names.iter().zip(values) {
            cols.push(column(name, v));
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
        let mut table = FeatureTable::from_frame(&first?, month, feature_name)?;
        table
            .values
            .reserve_exact(rows * table.names.len() - table.values.len());
        table.pseudo_id.reserve_exact(rows - table.len());
        for df in slices {
            let part = FeatureTable::from_frame(&df?, month, feature_name)?;
            if part.names != table.names {
                return Err(RecoursError::Internal(format!(
                    "{}: columns differ between row groups",
                    path.display()
                )));
            }
            table.pseudo_id.extend(part.pseudo_id);
            table.prestation.extend(part.prestation);
            table.montant_estime.extend(part.montant_estime);
            table
                .candidat_deterministe
                .extend(part.candidat_deterministe);
            table.values.extend(part.values);
        }
        Ok(table)
    }

    /// Whether the values are in memory (see [`FeatureTable::release_values`]).
    pub(crate) fn has_values(&self) -> bool {
        self.values.len() == self.len() * self.names.len()
    }

    /// Drops the values (the bulk of the table), keeping the ids, benefits, amounts and
    /// rows' persons; [`FeatureTable::read_values`] reads them back.
    pub(crate) fn release_values(&mut self) {
        self.values = Vec::new();
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
        let p = names.len();
        let mut values = Vec::with_capacity(self.len() * p);
        for df in slices {
            let df = df?;
            let start = values.len();
            values.resize(start + df.height() * p, 0.0);
            fill_values(&df, &names, &mut values[start..])?;
        }
        if values.len() != self.len() * p {
            return Err(RecoursError::Internal(format!(
                "{}: {} values read back where {} were written",
                path.display(),
                values.len(),
                self.len() * p
            )));
        }
        self.values = values;
        Ok(())
    }

    /// `feature_name`: the dictionary's name of a feature column, `None` for a column that
    /// is not a feature of the dictionary (an error).
    pub(crate) fn from_frame(
        df: &DataFrame,
        month: Month,
        feature_name: fn(&str) -> Option<&'static str>,
    ) -> Result<FeatureTable> {
        use crate::io::frame::{bool_col, f64_col, intern, str_col};
        const T: &str = "features.parquet";
        let fixed = [
            "pseudo_id",
            "prestation",
            "mois",
            "eligibilite_montant_estime",
            "eligibilite_candidat_deterministe",
        ];
        let mut names = Vec::new();
        for c in df.get_column_names() {
            if fixed.contains(&c.as_str()) {
                continue;
            }
            let name = feature_name(c.as_str()).ok_or_else(|| {
                RecoursError::Internal(format!("{T}: column {c} is not in the feature dictionary"))
            })?;
            names.push(name);
        }
        let n = df.height();
        let mut values = vec![0.0; n * names.len()];
        fill_values(df, &names, &mut values)?;
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
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values released and read back, a few rows at a time, are the values written.
    #[test]
    fn released_values_read_back_are_the_values_written() {
        let names = vec!["montant_estime", "age", "nb_enfants"];
        let n = 7;
        let p = names.len();
        let mut table = FeatureTable {
            month: Month::parse("2025-09").unwrap(),
            names,
            pseudo_id: (0..n).map(|i| format!("{i:064x}")).collect(),
            prestation: vec!["PPA"; n],
            montant_estime: (0..n).map(|i| i as f64 * 10.5).collect(),
            candidat_deterministe: (0..n).map(|i| i % 2 == 0).collect(),
            values: (0..n * p).map(|k| (k as f64).sqrt() - 3.0).collect(),
            person: Some((0..n as u32).collect()),
        };
        let dir = std::env::temp_dir().join(format!("recours-values-{}", std::process::id()));
        let path = dir.join("features.parquet");
        crate::io::output::write_parquet(&path, &mut table.to_frame(0..n).unwrap()).unwrap();
        let written = table.values.clone();
        table.release_values();
        assert!(!table.has_values());
        table.read_values_by(&path, 3).unwrap();
        assert!(table.has_values());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&table.values), bits(&written));
        assert_eq!(table.person, Some((0..n as u32).collect()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
