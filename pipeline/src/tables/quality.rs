//! `quality.json`: what the ingest stage kept and rejected, table by table.

use std::collections::BTreeMap;

use serde::Serialize;

pub(crate) const QUALITY_SCHEMA_VERSION: u32 = 4;

#[derive(Clone, Debug, Serialize)]
pub(crate) struct TableQuality {
    pub sources: Vec<String>,
    pub rows_in: u64,
    pub rows_kept: u64,
    pub rows_rejected: u64,
    pub rejected_share: f64,
    pub max_rejected_share: f64,
    /// Issues by reason code (a row may count under several rules).
    pub issues_by_rule: BTreeMap<&'static str, u64>,
    /// Issues by column, then reason code.
    pub issues_by_column: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Columns present in the files but not in the contract: ignored.
    pub extra_columns: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct QualityReport {
    pub schema_version: u32,
    pub run_month: String,
    /// Whether every table stayed within its rejected-rows tolerance and the resources
    /// cover the twelve months before the run month from every source they have.
    pub passed: bool,
    /// Months of the twelve before the run month without any kept row of `ressources`, or
    /// without a row from a source (`DSN`, `PASRAU`) the other months have: a month or a
    /// feed missing from the extract (or all its rows rejected), not a month without income
    /// (that would take the whole population). The entitlements read their reference
    /// quarters and the features the whole year: the run stops (exit 3).
    pub missing_resource_months: Vec<MissingMonth>,
    /// Required tables (`personnes`, `foyers`, `droits`, `ressources`) without any kept row:
    /// an empty delivery, or every row rejected. The run stops (exit 3).
    pub empty_required_tables: Vec<&'static str>,
    /// Objections (`contacts.opposition` true, or unreadable, on a rejected row) whose id,
    /// blanks removed and in lower case, names no kept person: no one they could protect
    /// is listed, but the producer should know (their rows are in `rejects/contacts.parquet`).
    /// The objections that match a person are kept, whatever else is wrong with their row.
    pub unmatched_oppositions: u64,
    /// Required tables whose kept rows fell by more than `[validation]
    /// max_row_drop_share` against the last ingest that passed in the same run folder: a
    /// delivery cut short (a month or a département missing). The run stops (exit 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_drops: Vec<RowDrop>,
    pub tables: BTreeMap<&'static str, TableQuality>,
    /// The first problems found, where to look first: every table's root causes (a row
    /// rejected for its own values), tables in contract order, then the problems that may
    /// follow from them (a row rejected because its person or foyer was), a few per table.
    /// Each names table, file, row, column and reason, never a value.
    pub first_problems: Vec<String>,
    /// The reason codes and what they mean.
    pub rules: BTreeMap<&'static str, &'static str>,
}

/// A month of the resources' history with sources missing (see
/// [`QualityReport::missing_resource_months`]).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MissingMonth {
    pub mois: String,
    pub sources: Vec<&'static str>,
}

/// A required table's kept rows against the previous run's (see
/// [`QualityReport::row_drops`]).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RowDrop {
    pub table: &'static str,
    pub previous_rows_kept: u64,
    pub rows_kept: u64,
    /// Share of the previous rows no longer there.
    pub drop_share: f64,
    pub max_row_drop_share: f64,
}
