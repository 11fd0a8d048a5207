//! `RUN/ingest/`: the extracts' kept rows, typed in contract order, as the ingest stage
//! wrote them and every later stage reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use polars::prelude::*;

use crate::error::{RecoursError, Result};
use crate::tables::run_folder::RunFolder;

/// The validated extracts: for each table present, its kept rows with typed columns in
/// contract order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extracts {
    pub tables: BTreeMap<&'static str, DataFrame>,
    /// Persons whose contact row was rejected while it may carry an opposition: an
    /// objection must not be lost to a bad value elsewhere on its row.
    pub rejected_oppositions: BTreeSet<String>,
    /// The kept rows of the streamed table ([`STREAMED`], the monthly resources: ten rows
    /// per person and month of history), never held whole in memory: this file
    /// (`ingest/ressources.parquet`, persons named by their row in
    /// `ingest/personnes.parquet`: [`PERSON_ROW`]), read back in slices when households are
    /// assembled without the histories the ingest added up (a resumed run, another learning month).
    pub ressources: Option<PathBuf>,
    /// Each kept row's person (its row in `ingest/personnes.parquet`, [`NO_ROW`] when the
    /// row names none) for the tables whose references the ingest stage walked in this run
    /// ([`PERSON_ROWS`]): households and features find persons without looking ids up.
    /// Empty when the tables are read back.
    pub person_rows: BTreeMap<&'static str, Vec<u32>>,
    /// Whether [`HOUSEHOLD_TABLES`] were dropped from memory.
    pub released: bool,
}

/// The tables only household assembly reads.
pub(crate) const HOUSEHOLD_TABLES: [&str; 5] =
    ["personnes", "foyers", "logements", "droits", "ressources"];

/// The table checked and written one source file at a time (bounded memory): by far the
/// largest, and the only one no rule needs whole (its only rule between tables is the
/// reference to `personnes`).
pub(crate) const STREAMED: &str = "ressources";

impl Extracts {
    pub fn table(&self, name: &str) -> Option<&DataFrame> {
        self.tables.get(name)
    }

    /// Each row's person in `table` as the ingest of this run walked to it (its row in
    /// `ingest/personnes.parquet`, [`NO_ROW`] when the row names none); `None` when not
    /// known (a table read back: look the ids up).
    pub(crate) fn person_rows_of(&self, table: &str) -> Option<&[u32]> {
        let height = self.table(table)?.height();
        self.person_rows
            .get(table)
            .filter(|rows| rows.len() == height)
            .map(Vec::as_slice)
    }

    /// Drops the tables only household assembly reads (see [`HOUSEHOLD_TABLES`]).
    pub(crate) fn release_household_tables(&mut self) {
        for t in HOUSEHOLD_TABLES {
            self.tables.remove(t);
        }
        self.person_rows
            .retain(|t, _| !HOUSEHOLD_TABLES.contains(t));
        self.released = true;
    }

    /// Where the ingest stage kept `table`: `ingest/<table>.parquet` of the folder that holds
    /// `ressources` (the run folder, or the ingest's staging folder laid out the same way);
    /// how a table released from memory is read back.
    pub fn kept_file(&self, table: &str) -> Option<PathBuf> {
        let folder = self.ressources.as_ref()?.parent()?.parent()?;
        Some(RunFolder::new(folder).ingested(table))
    }

    /// Reads back the kept rows the ingest stage wrote in `RUN/ingest/` (a run resumed
    /// after ingest).
    pub fn load(run: &RunFolder) -> Result<Extracts> {
        let mut tables = BTreeMap::new();
        let mut ressources = None;
        for spec in crate::domain::contract::TABLES {
            let path = run.ingested(spec.name);
            if spec.name == STREAMED {
                ressources = path.exists().then_some(path);
            } else if path.exists() {
                tables.insert(spec.name, crate::io::frame::read_parquet(&path)?);
            }
        }
        let path = run.rejected_oppositions();
        let text = std::fs::read_to_string(&path)
            .map_err(RecoursError::io(format!("reading {}", path.display())))?;
        let rejected_oppositions = serde_json::from_str(&text)
            .map_err(|e| RecoursError::Internal(format!("{}: {e}", path.display())))?;
        Ok(Extracts {
            tables,
            rejected_oppositions,
            ressources,
            person_rows: BTreeMap::new(),
            released: false,
        })
    }
}

/// No kept row: a reference to no person.
pub(crate) const NO_ROW: u32 = u32::MAX;

/// Row `i`'s person in rows given by [`Extracts::person_rows_of`] (`None` for [`NO_ROW`]).
pub(crate) fn person_at(rows: &[u32], i: usize) -> Option<usize> {
    (rows[i] != NO_ROW).then_some(rows[i] as usize)
}

/// The tables whose kept rows keep their person's row in memory ([`Extracts::person_rows`]).
pub(crate) const PERSON_ROWS: [&str; 3] = ["droits", "contacts", "retours"];

/// Column of `ingest/ressources.parquet` naming the person by its row (0-based) in
/// `ingest/personnes.parquet`, in place of `pseudo_id`: a 4-byte number instead of a
/// 64-character id, written, read back and looked up ten times per person and month.
pub(crate) const PERSON_ROW: &str = "personne";
