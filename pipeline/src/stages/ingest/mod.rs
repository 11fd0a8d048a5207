//! The `ingest` stage: read every table of the contract, scan for NIR-like values, check
//! every row and every rule between tables, and account for every row: kept (typed, in
//! `ingest/<table>.parquet`) or rejected with its reason codes (`rejects/<table>.parquet`).

mod read;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use crate::config::RunConfig;
use crate::domain::contract::{Rule, TABLES, TableSpec};
use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::io::trace::trace;
use crate::stages::stage::{Declaration, Fingerprint, RunContext, Stage, section};
use crate::tables::extracts::{Extracts, NO_ROW, PERSON_ROW, PERSON_ROWS, STREAMED};
use crate::tables::households::ResourceHistories;
use crate::tables::quality::{
    MissingMonth, QUALITY_SCHEMA_VERSION, QualityReport, RowDrop, TableQuality,
};
use crate::tables::run_folder::RunFolder;
use crate::tables::run_folder::names;
use serde_json::json;
use validate::{Issue, RowCheck, count_nir_like};

/// A table as read: every row, typed, with its issues.
struct Loaded {
    spec: &'static TableSpec,
    files: Vec<String>,
    /// First table row of each file.
    file_starts: Vec<u32>,
    typed: DataFrame,
    /// The one source file holding exactly `typed` (see `FileLoad::as_read`).
    as_read: Option<SourceCopy>,
    issues: Vec<Issue>,
    /// Original values (as text) of the rows that failed a row check.
    raw_rejected: HashMap<u32, Vec<Option<String>>>,
    extra_columns: BTreeSet<String>,
}

impl Loaded {
    fn rejected_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.typed.height()];
        for i in &self.issues {
            mask[i.row as usize] = true;
        }
        mask
    }

    fn text(&self, column: &str) -> &StringChunked {
        self.typed
            .column(column)
            .and_then(|c| c.str())
            .expect("contract text column")
    }

    /// The issues in row order, each once: done when no rule adds any more (before the
    /// table is accounted for).
    fn settle(&mut self) {
        self.issues.sort();
        self.issues.dedup();
    }

    fn push(&mut self, row: usize, column: &str, rule: Rule) {
        let column = self.spec.column(column).map(|c| c as u16);
        self.issues.push(Issue {
            row: row as u32,
            column,
            rule,
        });
    }

    fn locate(&self, row: u32) -> (&str, u32) {
        let f = self.file_starts.partition_point(|s| *s <= row) - 1;
        (&self.files[f], row - self.file_starts[f] + 1)
    }
}

fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// A source file whose bytes can stand for its kept rows (see `FileLoad::as_read`): its
/// size and modification time when it was read, so that a file changed since is not
/// copied; and only when its key-value metadata is polars' or Arrow's schema (nothing a
/// producer wrote beside the columns, which the privacy scan does not read, is copied).
#[derive(Clone, Debug)]
struct SourceCopy {
    path: PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl SourceCopy {
    /// `before`: the file's status taken before it was read.
    fn of(path: &Path, before: std::fs::Metadata) -> Option<SourceCopy> {
        let mut reader = ParquetReader::new(std::fs::File::open(path).ok()?);
        let metadata = reader.get_metadata().ok()?;
        let schema_only = metadata
            .key_value_metadata()
            .iter()
            .flatten()
            .all(|kv| kv.key == "ARROW:schema");
        let copy = SourceCopy {
            path: path.to_path_buf(),
            len: before.len(),
            modified: before.modified().ok(),
        };
        (schema_only && copy.unchanged()).then_some(copy)
    }

    /// Whether the file is still as it was read.
    fn unchanged(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| {
            m.len() == self.len && self.modified.is_some() && m.modified().ok() == self.modified
        })
    }
}

/// One source file, read and checked (row numbers local to the file).
struct FileLoad {
    file: String,
    /// The file itself when it is Parquet and its columns are exactly the typed table
    /// (names, order, types and values): then writing the kept rows, when none is
    /// rejected, is copying the file.
    as_read: Option<SourceCopy>,
    height: u32,
    typed: DataFrame,
    issues: Vec<Issue>,
    raw_rejected: Vec<(u32, Vec<Option<String>>)>,
    extra_columns: Vec<String>,
}

fn load_file(
    cfg: &RunConfig,
    input: &crate::config::InputSpec,
    spec: &'static TableSpec,
    source: &read::SourceFile,
) -> Result<FileLoad> {
    // Named from the input's own folder (`logements.csv`, `ressources/mois=2025-01/…`):
    // outputs that name a file do not depend on where the extracts are stored.
    let file = display_path(&source.path, input.path.parent().unwrap_or(Path::new("")));
    // Taken before reading: a file changed while it was read is not copied.
    let before = std::fs::metadata(&source.path).ok();
    let df = read::read_source(input, source)?;
    // Privacy first: a NIR-like value in any column stops everything.
    privacy_scan(spec, &df)?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let missing: Vec<&str> = spec
        .columns
        .iter()
        .map(|c| c.name)
        .filter(|c| !names.iter().any(|n| n == c))
        .collect();
    if !missing.is_empty() {
        // A header read as one column holding the other separator: the separator is wrong.
        let hint = if input.format == crate::config::InputFormat::Csv
            && names.len() == 1
            && names[0].contains([',', ';'])
        {
            format!(". {}", read::separator_hint(input))
        } else {
            String::new()
        };
        return Err(RecoursError::Input {
            table: spec.name.into(),
            message: format!(
                "file {file}: required column(s) missing: {}{hint}",
                missing.join(", ")
            ),
        });
    }
    let extra_columns = names
        .into_iter()
        .filter(|n| spec.column(n).is_none())
        .collect();
    let check = RowCheck {
        table: spec,
        reference: &cfg.reference,
        run_month: cfg.month,
        decimal_comma: input.decimal_comma,
        file: &file,
        amount_bounds: &cfg.amount_bounds,
    };
    let mut issues = Vec::new();
    let typed = check.check(&df, &mut issues)?;
    let bad_rows: BTreeSet<u32> = issues.iter().map(|i| i.row).collect();
    let mut raw_rejected = Vec::new();
    if !bad_rows.is_empty() {
        let texts: Vec<Column> = spec
            .columns
            .iter()
            .map(|c| {
                df.column(c.name)
                    .and_then(|col| col.cast(&DataType::String))
            })
            .collect::<PolarsResult<_>>()
            .map_err(RecoursError::polars(format!(
                "{}: reading rejected rows",
                spec.name
            )))?;
        for &row in &bad_rows {
            let values = texts
                .iter()
                .map(|c| {
                    c.str()
                        .ok()
                        .and_then(|ca| ca.get(row as usize))
                        .map(str::to_string)
                })
                .collect();
            raw_rejected.push((row, values));
        }
    }
    let typed = DataFrame::new_infer_height(typed).map_err(RecoursError::polars(spec.name))?;
    let as_read = (spec.name != STREAMED
        && matches!(input.format, crate::config::InputFormat::Parquet)
        && source.partitions.is_empty()
        && df.schema() == typed.schema()
        && df
            .columns()
            .iter()
            .zip(typed.columns())
            .all(|(a, b)| a.equals_missing(b)))
    .then(|| before.and_then(|b| SourceCopy::of(&source.path, b)))
    .flatten();
    Ok(FileLoad {
        file,
        as_read,
        height: df.height() as u32,
        typed,
        issues,
        raw_rejected,
        extra_columns,
    })
}

/// Results gathered in parallel, looked at in their order: the first privacy stop among
/// them is the error, before any other.
fn privacy_first<T>(results: Vec<Result<T>>) -> Result<Vec<Result<T>>> {
    match results
        .iter()
        .position(|r| matches!(r, Err(RecoursError::Privacy { .. })))
    {
        Some(pos) => Err(results
            .into_iter()
            .nth(pos)
            .and_then(Result::err)
            .expect("an error at that position")),
        None => Ok(results),
    }
}

/// A NIR-like value in any column of `df`, or in a column's name, is a privacy stop (exit
/// 4), named by table and column (by "column names" for a name), never by value. Names
/// first: a column is named in the messages only once no name looks like a NIR. A column
/// of a type the scan cannot read is refused (exit 3) rather than let through unscanned.
fn privacy_scan(spec: &TableSpec, df: &DataFrame) -> Result<()> {
    let names = df
        .get_column_names()
        .iter()
        .filter(|n| crate::domain::nir::is_nir_like_name(n))
        .count();
    if names > 0 {
        return Err(RecoursError::Privacy {
            table: spec.name.into(),
            column: NAMES_SCANNED.into(),
            count: names,
        });
    }
    for col in df.columns() {
        let count = count_nir_like(col).map_err(|e| RecoursError::Input {
            table: spec.name.into(),
            message: format!(
                "column {}: {e}; send it as text or numbers, or leave it out",
                col.name()
            ),
        })?;
        if count > 0 {
            return Err(RecoursError::Privacy {
                table: spec.name.into(),
                column: col.name().to_string(),
                count,
            });
        }
    }
    Ok(())
}

/// How a privacy stop on a column's name is reported (the name itself is never shown).
const NAMES_SCANNED: &str = "names (a column name)";

/// An id as its producer may have meant it: blanks around it removed, lower case (a
/// contact row's objection is matched to a person by it even when the row is rejected for
/// its id).
fn lenient_id(id: &str) -> String {
    id.trim().to_lowercase()
}

/// The streamed table's privacy scan alone, for when another table's problems stop the
/// ingest before it is streamed: a privacy stop still comes first.
fn privacy_scan_streamed(cfg: &RunConfig) -> Result<()> {
    let (Some(input), Some(spec)) = (
        cfg.input(STREAMED),
        TABLES.iter().find(|t| t.name == STREAMED),
    ) else {
        return Ok(());
    };
    // Only a privacy stop is reported here: a file that cannot be listed, read or scanned
    // is reported when the other problems are fixed.
    let privacy_only = |r: Result<()>| match r {
        Err(e @ RecoursError::Privacy { .. }) => Err(e),
        _ => Ok(()),
    };
    let sources = match read::list_sources(input) {
        Ok(sources) => sources,
        Err(e) => return privacy_only(Err(e)),
    };
    sources
        .par_iter()
        .try_for_each(|source| match read::read_source(input, source) {
            Ok(df) => privacy_only(privacy_scan(spec, &df)),
            Err(e) => privacy_only(Err(e)),
        })
}

fn load_table(cfg: &RunConfig, spec: &'static TableSpec) -> Result<Option<Loaded>> {
    let Some(input) = cfg.input(spec.name) else {
        return Ok(None);
    };
    let sources = read::list_sources(input)?;
    // Files are read and checked in parallel, then stacked in path order; the first error
    // in path order is reported, a privacy stop before anything else.
    let loads: Vec<Result<FileLoad>> = sources
        .par_iter()
        .map(|s| load_file(cfg, input, spec, s))
        .collect();
    let loads = privacy_first(loads)?;
    stack(spec, loads.into_iter().collect::<Result<Vec<_>>>()?, true).map(Some)
}

/// Chunks a streamed file's columns may keep (a Parquet file's row groups); more (a CSV
/// file's small batches) would be written as as many small row groups.
const STREAMED_CHUNKS: usize = 16;

/// The files of a table stacked in path order, rows renumbered across files; `contiguous`:
/// each column copied into one chunk (a table kept for the later stages, read by row),
/// else left in the chunks it was read in (a streamed file, written and added up once)
/// unless they are more than [`STREAMED_CHUNKS`].
fn stack(spec: &'static TableSpec, loads: Vec<FileLoad>, contiguous: bool) -> Result<Loaded> {
    let mut loaded = Loaded {
        spec,
        files: vec![],
        file_starts: vec![],
        typed: DataFrame::empty(),
        as_read: None,
        issues: vec![],
        raw_rejected: HashMap::default(),
        extra_columns: BTreeSet::new(),
    };
    if let [one] = loads.as_slice() {
        loaded.as_read = one.as_read.clone();
    }
    let mut frames: Vec<DataFrame> = Vec::new();
    let mut offset = 0u32;
    for l in loads {
        loaded.issues.extend(l.issues.into_iter().map(|i| Issue {
            row: i.row + offset,
            ..i
        }));
        loaded
            .raw_rejected
            .extend(l.raw_rejected.into_iter().map(|(r, v)| (r + offset, v)));
        loaded.extra_columns.extend(l.extra_columns);
        frames.push(l.typed);
        loaded.files.push(l.file);
        loaded.file_starts.push(offset);
        offset += l.height;
    }
    let mut frames = frames.into_iter();
    let mut typed = frames.next().expect("a table has at least one file");
    for f in frames {
        typed
            .vstack_mut_owned(f)
            .map_err(RecoursError::polars(format!(
                "{}: stacking files",
                spec.name
            )))?;
    }
    if contiguous
        || typed
            .columns()
            .iter()
            .any(|c| c.n_chunks() > STREAMED_CHUNKS)
    {
        typed.rechunk_mut();
    }
    loaded.typed = typed;
    Ok(loaded)
}

/// Status of an id in a referenced table: absent, present but rejected, or kept (with the
/// row it keeps among the table's kept rows: for a unique key such as `personnes.pseudo_id`,
/// where the person is in `ingest/personnes.parquet` and in the households).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Rejected,
    Kept(u32),
}

/// The ids a table refers to, with their status.
struct Targets<'a> {
    ids: &'a StringChunked,
    rejected: Vec<bool>,
    /// Every id with its status, built the first time the walk cannot answer (a table in
    /// the persons' order, with no unknown id, never needs it).
    index: std::sync::OnceLock<IdIndex>,
    /// The kept rows' ids in row order, when each kept id is unique (`personnes.pseudo_id`
    /// after the duplicate check): then a referring table written in the same order is
    /// checked by walking this list, with the index for the rows that leave the order.
    kept: Option<Vec<&'a str>>,
    /// The heads (`frame::id_head`) of `kept`, side by side: the walk compares numbers in
    /// one array and reads an id whole only when its head matches.
    heads: Vec<u64>,
}

/// How far ahead of the last match the walk looks before asking the index: the persons with
/// no row in a referring table are skipped by comparing heads (rights, contacts and
/// campaign outcomes skip dozens of persons at a time).
const WALK_AHEAD: usize = 64;

impl<'a> Targets<'a> {
    /// Status of every value of `column` in `t`; `unique_kept` when no two kept rows share a
    /// value (enables the walk).
    fn new(t: &'a Loaded, column: &str, unique_kept: bool) -> Targets<'a> {
        let rejected = t.rejected_mask();
        let ids = t.text(column);
        let kept: Option<Vec<&str>> = unique_kept.then(|| {
            ids.iter()
                .zip(&rejected)
                .filter(|(_, r)| !**r)
                .map(|(id, _)| id.unwrap_or(""))
                .collect()
        });
        let heads = kept
            .as_ref()
            .map(|k| {
                k.par_iter()
                    .map(|id| crate::io::frame::id_head(id))
                    .collect()
            })
            .unwrap_or_default();
        let targets = Targets {
            ids,
            rejected,
            index: std::sync::OnceLock::new(),
            kept,
            heads,
        };
        debug_assert!(
            targets.kept.as_ref().is_none_or(|kept| {
                let mut seen = std::collections::HashSet::new();
                kept.iter()
                    .filter(|id| !id.is_empty())
                    .all(|id| seen.insert(*id))
            }),
            "kept ids are unique"
        );
        targets
    }

    /// Every id's status: kept (with its row among the kept rows) when one of its rows is
    /// kept, else rejected.
    fn index(&self) -> &IdIndex {
        self.index
            .get_or_init(|| IdIndex::new(self.ids, &self.rejected))
    }

    /// The status of `id`; `cursor` is the kept row matched last (the walk's position).
    /// Same answer as the index: a kept id is unique, so the kept row holding it is the
    /// one the index names.
    fn find(&self, id: &str, cursor: &mut usize) -> Option<Status> {
        if let Some(kept) = self.kept.as_ref().filter(|_| !id.is_empty()) {
            let head = crate::io::frame::id_head(id);
            let end = (*cursor + WALK_AHEAD).min(kept.len());
            for c in *cursor..end {
                if self.heads[c] == head && kept[c] == id {
                    *cursor = c;
                    return Some(Status::Kept(c as u32));
                }
            }
        }
        let found = self.index().find(self.ids, id);
        if let Some(Status::Kept(k)) = found {
            *cursor = k as usize;
        }
        found
    }
}

/// The ids of a referenced table with their status, found by hash: one entry per row with
/// an id, `(hash, row, kept row or REJECTED)` sorted (so rows sharing a hash follow in row
/// order), and where each bucket of hashes (their top bits) starts. Built by one sort into
/// 16 bytes a row plus 4–8 for the buckets: a hash map of `&str` takes ~50 bytes a row and
/// is filled one id at a time, mostly into fresh memory.
struct IdIndex {
    entries: Vec<(u64, u32, u32)>,
    /// `entries[starts[b]..starts[b + 1]]` hold the hashes whose top bits are `b`.
    starts: Vec<u32>,
    /// 64 minus the bucket bits.
    shift: u32,
}

impl IdIndex {
    const REJECTED: u32 = u32::MAX;

    fn hash(id: &str) -> u64 {
        use std::hash::BuildHasher;
        // Mixed so that the top bits, which pick the bucket, depend on every bit.
        rustc_hash::FxBuildHasher
            .hash_one(id)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn new(ids: &StringChunked, rejected: &[bool]) -> IdIndex {
        let mut kept_rows = Vec::with_capacity(rejected.len());
        let mut kept = 0u32;
        for &r in rejected {
            kept_rows.push(if r { Self::REJECTED } else { kept });
            kept += u32::from(!r);
        }
        // Built on the calling thread, without rayon: it is built inside rayon tasks (the
        // first lookup the walk cannot answer, in `reference_rules` or a streamed file),
        // and a worker waiting on its own parallel build could pick up another task that
        // waits on this same `OnceLock`: a deadlock.
        let mut entries: Vec<(u64, u32, u32)> = ids
            .iter()
            .enumerate()
            .filter_map(|(r, id)| id.map(|id| (Self::hash(id), r as u32, kept_rows[r])))
            .collect();
        entries.sort_unstable();
        let bits = (entries.len().max(2) as u64)
            .next_power_of_two()
            .trailing_zeros()
            .min(32);
        let shift = 64 - bits;
        let mut starts = vec![0u32; (1usize << bits) + 1];
        for &(h, _, _) in &entries {
            starts[(h >> shift) as usize + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        IdIndex {
            entries,
            starts,
            shift,
        }
    }

    /// `id`'s status: kept, with the kept row of its first kept row, when one of its rows
    /// is kept; rejected when all are; `None` when no row has it.
    fn find(&self, ids: &StringChunked, id: &str) -> Option<Status> {
        let h = Self::hash(id);
        let b = (h >> self.shift) as usize;
        let bucket = &self.entries[self.starts[b] as usize..self.starts[b + 1] as usize];
        let mut found = None;
        for &(_, row, kept) in bucket.iter().filter(|e| e.0 == h) {
            if ids.get(row as usize) == Some(id) {
                if kept != Self::REJECTED {
                    return Some(Status::Kept(kept));
                }
                found = Some(Status::Rejected);
            }
        }
        found
    }
}

/// Flags the rows of `t` whose `column` names an id absent from `targets` (`unknown`) or
/// rejected there (`rejected`); returns, row by row, the kept row the id points to
/// ([`NO_ROW`] when flagged or null).
fn check_reference(
    t: &mut Loaded,
    column: &str,
    targets: &Targets,
    unknown: Rule,
    rejected: Rule,
) -> Vec<u32> {
    let mut found = Vec::new();
    let mut cursor = 0;
    let rows = t
        .text(column)
        .iter()
        .enumerate()
        .map(
            |(row, id)| match id.map(|id| targets.find(id, &mut cursor)) {
                None => NO_ROW,
                Some(None) => {
                    found.push((row, unknown));
                    NO_ROW
                }
                Some(Some(Status::Rejected)) => {
                    found.push((row, rejected));
                    NO_ROW
                }
                Some(Some(Status::Kept(k))) => k,
            },
        )
        .collect();
    for (row, rule) in found {
        t.push(row, column, rule);
    }
    rows
}

/// Rows whose key (a tuple of text columns) appears more than once: every copy is flagged.
fn check_unique(t: &mut Loaded, columns: &[&str], flag_column: &str, rule: Rule) {
    let dups = if let [column] = columns {
        // One column: its values are the keys.
        let values = t.text(column);
        repeated(values.iter())
    } else {
        // Keys of up to four columns, held in place (no allocation per row).
        assert!(columns.len() <= 4, "unique keys have at most four columns");
        let cols: Vec<&StringChunked> = columns.iter().map(|c| t.text(c)).collect();
        let mut keys = vec![[None; 4]; t.typed.height()];
        for (j, c) in cols.iter().enumerate() {
            for (r, v) in c.iter().enumerate() {
                keys[r][j] = v;
            }
        }
        let n = columns.len();
        repeated(
            keys.iter()
                .map(|k| k[..n].iter().all(Option::is_some).then_some(k)),
        )
    };
    for row in dups {
        t.push(row, flag_column, rule);
    }
}

/// Rows whose key (`None`: the row has none) occurs more than once, in row order; `keys`
/// gives the keys in row order. By sorting the keys' hashes in parallel, then
/// comparing the keys that share a hash (no map of millions of keys, looked up twice).
fn repeated<K>(keys: impl Iterator<Item = Option<K>>) -> Vec<usize>
where
    K: std::hash::Hash + Ord + Sync,
{
    use std::hash::BuildHasher;
    let keys: Vec<Option<K>> = keys.collect();
    let mut hashed: Vec<(u64, u32)> = keys
        .par_iter()
        .enumerate()
        .with_min_len(1 << 14)
        .filter_map(|(r, k)| {
            k.as_ref()
                .map(|k| (rustc_hash::FxBuildHasher.hash_one(k), r as u32))
        })
        .collect();
    hashed.par_sort_unstable();
    let key = |r: u32| keys[r as usize].as_ref().expect("rows with a key only");
    let mut dups = Vec::new();
    for same_hash in hashed.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
        let mut rows: Vec<u32> = same_hash.iter().map(|&(_, r)| r).collect();
        rows.sort_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
        for same_key in rows.chunk_by(|&a, &b| key(a) == key(b)) {
            if same_key.len() > 1 {
                dups.extend(same_key.iter().map(|&r| r as usize));
            }
        }
    }
    dups.sort_unstable();
    dups
}

/// Rules between persons and households, in dependency order: unique persons, foyer
/// members known, each person in one foyer, one demandeur per foyer, every kept person
/// in a kept foyer row.
fn household_rules(personnes: &mut Loaded, foyers: &mut Loaded) {
    check_unique(personnes, &["pseudo_id"], "pseudo_id", Rule::DuplicateId);

    // foyers: members must be known persons, each in exactly one foyer, one demandeur each.
    let persons = Targets::new(personnes, "pseudo_id", true);
    check_reference(
        foyers,
        "pseudo_id",
        &persons,
        Rule::UnknownPerson,
        Rule::RejectedPerson,
    );
    check_unique(
        foyers,
        &["pseudo_id"],
        "pseudo_id",
        Rule::PersonInSeveralHouseholds,
    );
    {
        let mask = foyers.rejected_mask();
        let ids = foyers.text("foyer_id");
        let roles = foyers.text("role");
        let mut demandeurs: HashMap<&str, u32> = HashMap::default();
        for row in 0..foyers.typed.height() {
            if let Some(f) = ids.get(row) {
                let d = demandeurs.entry(f).or_default();
                if !mask[row] && roles.get(row) == Some("demandeur") {
                    *d += 1;
                }
            }
        }
        let flagged: Vec<(usize, Rule)> = (0..foyers.typed.height())
            .filter_map(|row| {
                let f = ids.get(row)?;
                match demandeurs[f] {
                    0 => Some((row, Rule::HouseholdWithoutDemandeur)),
                    1 => None,
                    _ => Some((row, Rule::HouseholdWithSeveralDemandeurs)),
                }
            })
            .collect();
        for (row, rule) in flagged {
            foyers.push(row, "foyer_id", rule);
        }
    }
    // A person whose foyer row was rejected (or who has none) cannot be assembled.
    let members = Targets::new(foyers, "pseudo_id", true);
    {
        let mask = personnes.rejected_mask();
        let mut cursor = 0;
        let flagged: Vec<usize> = personnes
            .text("pseudo_id")
            .iter()
            .enumerate()
            .filter(|(row, id)| {
                !mask[*row]
                    && id.is_some_and(|id| {
                        !matches!(members.find(id, &mut cursor), Some(Status::Kept(_)))
                    })
            })
            .map(|(row, _)| row)
            .collect();
        for row in flagged {
            personnes.push(row, "pseudo_id", Rule::PersonWithoutHousehold);
        }
    }
}

/// References of the other tables (read whole) to persons and households, and their own
/// rules.
/// Returns, for the tables of [`PERSON_ROWS`], each row's person (see
/// [`check_reference`]).
fn reference_rules(
    tables: &mut BTreeMap<&'static str, Loaded>,
    persons: &Targets,
    households: &Targets,
) -> BTreeMap<&'static str, Vec<u32>> {
    if let Some(t) = tables.get_mut("logements") {
        let _ = check_reference(
            t,
            "foyer_id",
            households,
            Rule::UnknownHousehold,
            Rule::RejectedHousehold,
        );
        check_unique(t, &["foyer_id"], "foyer_id", Rule::DuplicateHousing);
    }
    // Tables that name a person: checked in parallel (ressources dominates).
    let by_person = [
        "droits",
        "ressources",
        "contacts",
        "apprentissage",
        "retours",
    ];
    let mut referring: Vec<(&&'static str, &mut Loaded)> = tables
        .iter_mut()
        .filter(|(name, _)| by_person.contains(*name))
        .collect();
    let person_rows: BTreeMap<&'static str, Vec<u32>> = referring
        .par_iter_mut()
        .map(|(name, t)| {
            let rows = check_reference(
                t,
                "pseudo_id",
                persons,
                Rule::UnknownPerson,
                Rule::RejectedPerson,
            );
            (**name, rows)
        })
        .filter(|(name, _)| PERSON_ROWS.contains(name))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    if let Some(t) = tables.get_mut("droits") {
        let debut = t.text("debut").clone();
        let fin = t.text("fin").clone();
        let bad: Vec<usize> = (0..t.typed.height())
            .filter(|&r| matches!((debut.get(r), fin.get(r)), (Some(d), Some(f)) if f < d && d.len() == 7 && f.len() == 7))
            .collect();
        for row in bad {
            t.push(row, "fin", Rule::EndBeforeStart);
        }
    }
    if let Some(t) = tables.get_mut("apprentissage") {
        check_unique(
            t,
            &["pseudo_id", "prestation", "mois_reference"],
            "pseudo_id",
            Rule::DuplicateLabel,
        );
    }
    person_rows
}

/// What the ingest stage produces in memory.
pub(crate) struct Ingested {
    pub extracts: Extracts,
    /// The persons' monthly histories added up as `ressources` was streamed (taken by the
    /// households of the same run).
    pub histories: Option<ResourceHistories>,
    pub quality: QualityReport,
    rejects: BTreeMap<&'static str, DataFrame>,
    /// Where `ingest/` is written (the stage's staging folder).
    dir: PathBuf,
    /// The streamed table's kept rows, written during the ingest, moved into place by
    /// [`Ingested::write`] when the quality gate passes (removed otherwise).
    stream: Option<output::ParquetStream>,
    /// Tables whose kept rows are exactly their one source Parquet file (no row rejected,
    /// nothing retyped): `ingest/<table>.parquet` is a copy of that file's bytes.
    copies: BTreeMap<&'static str, SourceCopy>,
    /// The kept tables (but the streamed one) are already in `DIR/ingest/`: they were
    /// written while the streamed table was read.
    tables_written: bool,
}

/// Reads and checks every table. Errors: missing or unreadable files and columns (exit 3),
/// NIR-like values (exit 4). Rejected rows are not errors here: see [`Ingested::quality`].
/// The kept tables but the streamed one are written to `DIR/ingest/` while the streamed
/// table is read when they are within tolerance; [`Ingested::write`] writes the rest.
pub fn ingest(cfg: &RunConfig, dir: &Path) -> Result<Ingested> {
    let t0 = std::time::Instant::now();
    let mut tables = BTreeMap::new();
    let mut problems = Vec::new();
    // Tables are loaded in parallel; their outcomes are looked at in contract order, a
    // privacy stop in any table first. The streamed table comes after the rules.
    let progress = crate::io::progress::Progress::new(
        "ingest",
        "tables read and checked",
        TABLES.iter().filter(|spec| spec.name != STREAMED).count() as u64,
        "tables",
    );
    let outcomes: Vec<(&'static TableSpec, Result<Option<Loaded>>)> = TABLES
        .par_iter()
        .filter(|spec| spec.name != STREAMED)
        .map(|spec| {
            let loaded = load_table(cfg, spec);
            progress.inc(1);
            (spec, loaded)
        })
        .collect();
    drop(progress);
    let (specs, outcomes): (Vec<&TableSpec>, Vec<_>) = outcomes.into_iter().unzip();
    let outcomes = privacy_first(outcomes)?;
    for (spec, outcome) in specs.into_iter().zip(outcomes) {
        match outcome {
            Ok(Some(t)) => {
                tables.insert(spec.name, t);
            }
            Ok(None) => {}
            Err(RecoursError::Input { table, message }) => {
                problems.push(format!("table {table}: {message}"))
            }
            Err(e) => return Err(e),
        }
    }
    if !problems.is_empty() {
        privacy_scan_streamed(cfg)?;
        return Err(RecoursError::Rejected(problems.join("\n")));
    }
    trace("ingest: read and row checks", t0);
    let t1 = std::time::Instant::now();
    let mut personnes = tables.remove("personnes").expect("personnes is required");
    let mut foyers = tables.remove("foyers").expect("foyers is required");
    household_rules(&mut personnes, &mut foyers);
    personnes.settle();
    foyers.settle();
    // One view of the persons for every table that names one, the streamed table included.
    let persons = Targets::new(&personnes, "pseudo_id", true);
    let mut person_rows = reference_rules(
        &mut tables,
        &persons,
        &Targets::new(&foyers, "foyer_id", false),
    );
    tables.values_mut().for_each(Loaded::settle);
    trace("ingest: rules between tables", t1);

    // Every table but the streamed one is final: accounted for, its kept rows taken.
    let t2 = std::time::Instant::now();
    let mut quality = QualityReport {
        schema_version: QUALITY_SCHEMA_VERSION,
        run_month: cfg.month.to_string(),
        passed: true,
        missing_resource_months: Vec::new(),
        empty_required_tables: Vec::new(),
        unmatched_oppositions: 0,
        row_drops: Vec::new(),
        tables: BTreeMap::new(),
        first_problems: Vec::new(),
        rules: BTreeMap::new(),
    };
    let mut extracts = Extracts::default();
    let mut rejects = BTreeMap::new();
    let mut examples = Vec::new();
    let table_index = |name: &str| TABLES.iter().position(|t| t.name == name).unwrap_or(0);
    let mut copies = BTreeMap::new();
    let mut account_for = |name: &'static str, t: &Loaded| -> Result<()> {
        let mut account = Account::new(t.spec);
        let mask = account.add(t, &mut quality.rules)?;
        let (q, r, e) = account.finish(cfg.max_rejected_share[name])?;
        quality.tables.insert(name, q);
        rejects.insert(name, r);
        examples.push((table_index(name), e));
        if name == "contacts" {
            let ids = t.text("pseudo_id");
            let opp = t
                .typed
                .column("opposition")
                .and_then(|c| c.bool())
                .map_err(RecoursError::polars("contacts.opposition"))?;
            for row in (0..mask.len()).filter(|&r| mask[r]) {
                // Unreadable counts as an objection: privacy first.
                if !opp.get(row).unwrap_or(true) {
                    continue;
                }
                // Kept whatever else is wrong with the row: matched to a person by its id
                // as it was meant (see `lenient_id`); counted when it matches no kept one.
                let matched = ids
                    .get(row)
                    .map(lenient_id)
                    .filter(|id| matches!(persons.find(id, &mut 0), Some(Status::Kept(_))));
                match matched {
                    Some(id) => {
                        extracts.rejected_oppositions.insert(id);
                    }
                    None => quality.unmatched_oppositions += 1,
                }
            }
        }
        if let Some(rows) = person_rows.remove(name) {
            let kept = rows
                .into_iter()
                .zip(&mask)
                .filter(|(_, rejected)| !**rejected)
                .map(|(row, _)| row)
                .collect();
            extracts.person_rows.insert(name, kept);
        }
        if let (false, Some(source)) = (mask.contains(&true), t.as_read.clone()) {
            copies.insert(name, source);
        }
        extracts.tables.insert(name, kept_rows(t, &mask)?);
        Ok(())
    };
    // The persons stay for the streamed table; every other table is dropped as soon as its
    // kept rows are taken (a table with rejected rows is held twice only in its turn).
    // An error from here to the stream still lets a privacy stop in the streamed table come
    // first (as for the other tables' problems above).
    let privacy_first_then = |e: RecoursError| match privacy_scan_streamed(cfg) {
        Err(privacy) => privacy,
        Ok(()) => e,
    };
    account_for("personnes", &personnes).map_err(privacy_first_then)?;
    tables.insert("foyers", foyers);
    for (name, t) in tables {
        account_for(name, &t).map_err(privacy_first_then)?;
    }
    trace("ingest: quality, rejects, kept rows", t2);

    // The streamed table; meanwhile, when the tables above are within tolerance, their
    // `ingest/` files are written (removed again if the streamed table fails or is over
    // its tolerance: nothing under ingest/ then).
    let t3 = std::time::Instant::now();
    let within = |quality: &QualityReport| {
        quality
            .tables
            .values()
            .all(|q| q.rejected_share <= q.max_rejected_share)
    };
    let write_early = within(&quality);
    // Made before either side writes into it; removed again with what it holds if the
    // ingest stops here.
    let mut folders =
        output::MadeFolders::make(&RunFolder::new(dir).ingest()).map_err(privacy_first_then)?;
    let (streamed, written) = rayon::join(
        || {
            cfg.input(STREAMED)
                .map(|input| stream_table(cfg, input, dir, &persons, &mut quality.rules))
                .transpose()
        },
        || {
            write_early
                .then(|| write_tables(dir, &mut extracts.tables, &copies))
                .transpose()
        },
    );
    let streamed = streamed.and_then(|s| written.map(|_| s));
    let streamed = match streamed {
        Ok(s) => s,
        Err(e) => {
            remove_ingest_folder(dir);
            folders.remove();
            return Err(e);
        }
    };
    folders.keep();
    let mut stream = None;
    let mut streamed_histories = None;
    if let Some((account, writer, histories)) = streamed {
        quality.missing_resource_months = histories
            .missing_months()
            .into_iter()
            .map(|(m, sources)| MissingMonth {
                mois: m.to_string(),
                sources,
            })
            .collect();
        streamed_histories = Some(histories);
        let (q, r, e) = account.finish(cfg.max_rejected_share[STREAMED])?;
        quality.tables.insert(STREAMED, q);
        rejects.insert(STREAMED, r);
        examples.push((table_index(STREAMED), e));
        stream = Some(writer);
    }
    drop(persons);
    quality.empty_required_tables = TABLES
        .iter()
        .filter(|spec| spec.required)
        .filter(|spec| {
            quality
                .tables
                .get(spec.name)
                .is_some_and(|q| q.rows_kept == 0)
        })
        .map(|spec| spec.name)
        .collect();
    quality.passed = within(&quality)
        && quality.missing_resource_months.is_empty()
        && quality.empty_required_tables.is_empty();
    quality.first_problems = first_problems(examples);
    trace("ingest: streamed table", t3);
    Ok(Ingested {
        extracts,
        histories: streamed_histories,
        quality,
        rejects,
        dir: dir.to_path_buf(),
        stream,
        copies,
        tables_written: write_early,
    })
}

/// `DIR/ingest/<table>.parquet` for each kept table but the streamed one: a copy of its
/// source file when that is exactly the kept rows, else written.
fn write_tables(
    dir: &Path,
    tables: &mut BTreeMap<&'static str, DataFrame>,
    copies: &BTreeMap<&'static str, SourceCopy>,
) -> Result<()> {
    tables
        .par_iter_mut()
        .map(|(name, df)| {
            let path = RunFolder::new(dir).ingested(name);
            match copies.get(name) {
                Some(source) if source.unchanged() => output::copy_file(&source.path, &path),
                _ => output::write_parquet(&path, df),
            }
        })
        .collect::<Result<Vec<()>>>()
        .map(|_| ())
}

/// Removes `DIR/ingest/` and what is in it (a stage stopped by its data keeps nothing there).
fn remove_ingest_folder(dir: &Path) {
    let _ = std::fs::remove_dir_all(RunFolder::new(dir).ingest());
}

fn kept_rows(t: &Loaded, mask: &[bool]) -> Result<DataFrame> {
    if !mask.contains(&true) {
        return Ok(t.typed.clone());
    }
    let keep = BooleanChunked::from_iter_values("keep".into(), mask.iter().map(|m| !m));
    t.typed.filter(&keep).map_err(RecoursError::polars(format!(
        "{}: keeping rows",
        t.spec.name
    )))
}

/// The streamed table, a few source files at a time (as many as there are threads): each
/// file read, checked, its references to `personnes` checked, its rejects kept and its kept
/// rows appended to `DIR/ingest/<table>.parquet` (under a temporary name until the quality
/// gate passes) with the person as a row number ([`PERSON_ROW`]) instead of the 64-character
/// `pseudo_id`, and added to the persons' monthly histories for the run month (households
/// assembled in this run start from them instead of reading the file back). Peak memory is
/// a few files' and the histories, whatever the table's size.
fn stream_table(
    cfg: &RunConfig,
    input: &crate::config::InputSpec,
    dir: &Path,
    persons: &Targets,
    rules: &mut BTreeMap<&'static str, &'static str>,
) -> Result<(Account, output::ParquetStream, ResourceHistories)> {
    let spec = TABLES
        .iter()
        .find(|t| t.name == STREAMED)
        .expect("the streamed table is in the contract");
    let sources = read::list_sources(input).map_err(as_rejected)?;
    let mut writer = output::ParquetStream::create(&RunFolder::new(dir).ingested(STREAMED))?;
    let mut account = Account::new(spec);
    let mut problems = Vec::new();
    let kept_persons = persons.rejected.iter().filter(|r| !**r).count();
    let mut histories = ResourceHistories::new(cfg.month, kept_persons);
    // Each file read, checked and its references looked up in parallel; the kept rows of
    // one group of files are written and added to the histories while the next group is
    // read (files stay in path order in the output and in the sums).
    let prepare = |source: &read::SourceFile| -> Result<(Loaded, Vec<u32>)> {
        // Left in its chunks: 3–4 columns of 0.7 M rows a file copied into one chunk were a
        // tenth of the ingest (fresh memory the kernel zeroes first).
        let mut t = stack(spec, vec![load_file(cfg, input, spec, source)?], false)?;
        let rows = check_reference(
            &mut t,
            "pseudo_id",
            persons,
            Rule::UnknownPerson,
            Rule::RejectedPerson,
        );
        Ok((t, rows))
    };
    let mut pending: Vec<DataFrame> = Vec::new();
    let progress =
        crate::io::progress::Progress::new("ingest", STREAMED, sources.len() as u64, "files");
    for group in sources.chunks(rayon::current_num_threads().max(1)) {
        let ((written, added), prepared) = rayon::join(
            || write_and_add(&mut writer, &mut histories, &pending),
            || group.par_iter().map(prepare).collect::<Vec<_>>(),
        );
        pending.clear();
        // A privacy stop first, then a write error, then the group's other problems.
        let prepared = privacy_first(prepared)?;
        written?;
        added?;
        for t in prepared {
            let (mut t, rows) = match t {
                Ok(t) => t,
                Err(RecoursError::Input { table, message }) => {
                    problems.push(format!("table {table}: {message}"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            t.settle();
            let mask = account.add(&t, rules)?;
            pending.push(with_person_rows(kept_rows(&t, &mask)?, &rows, &mask)?);
        }
        progress.inc(group.len() as u64);
    }
    let (written, added) = write_and_add(&mut writer, &mut histories, &pending);
    written?;
    added?;
    if !problems.is_empty() {
        return Err(RecoursError::Rejected(problems.join("\n")));
    }
    Ok((account, writer, histories))
}

/// Kept chunks of the streamed table, in order: written, and (at the same time) added to
/// the persons' histories.
fn write_and_add(
    writer: &mut output::ParquetStream,
    histories: &mut ResourceHistories,
    chunks: &[DataFrame],
) -> (Result<()>, Result<()>) {
    rayon::join(
        || chunks.iter().try_for_each(|df| writer.write(df)),
        || chunks.iter().try_for_each(|df| histories.add(df)),
    )
}

/// The kept rows of a streamed chunk with `pseudo_id` replaced by [`PERSON_ROW`].
fn with_person_rows(kept: DataFrame, rows: &[u32], rejected: &[bool]) -> Result<DataFrame> {
    let person: Vec<u32> = rows
        .iter()
        .zip(rejected)
        .filter(|(_, r)| !**r)
        .map(|(row, _)| *row)
        .collect();
    debug_assert!(!person.contains(&NO_ROW), "kept rows name a kept person");
    let mut columns = kept.into_columns();
    let at = columns
        .iter()
        .position(|c| c.name() == "pseudo_id")
        .ok_or_else(|| RecoursError::Internal("streamed table without pseudo_id".into()))?;
    columns[at] = Column::new(PERSON_ROW.into(), person);
    DataFrame::new_infer_height(columns).map_err(RecoursError::polars(STREAMED))
}

fn as_rejected(e: RecoursError) -> RecoursError {
    match e {
        RecoursError::Input { table, message } => {
            RecoursError::Rejected(format!("table {table}: {message}"))
        }
        e => e,
    }
}

/// One table's accounting, added up over its chunks (the whole table, or one file of the
/// streamed table): rows in and rejected, issues by rule and column, rejected rows, the
/// first problems.
struct Account {
    spec: &'static TableSpec,
    sources: Vec<String>,
    rows_in: u64,
    rejected: u64,
    by_rule: BTreeMap<&'static str, u64>,
    by_column: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    extra_columns: BTreeSet<String>,
    rejects: Vec<DataFrame>,
    examples: Vec<Example>,
}

/// One problem shown on the terminal and in the error ("first problems").
struct Example {
    /// The rule may follow from another row's rejection: shown after the root causes.
    consequence: bool,
    text: String,
}

/// Problems shown per table: root causes, and problems that may follow from them.
const EXAMPLES: usize = 5;
const CONSEQUENCES: usize = 2;

/// The problems to show of every table, tables in contract order: first every table's
/// root causes, then the problems that may follow from them ([`EXAMPLES`] and
/// [`CONSEQUENCES`] at most per table).
fn first_problems(mut by_table: Vec<(usize, Vec<Example>)>) -> Vec<String> {
    by_table.sort_by_key(|(table, _)| *table);
    let (mut roots, mut consequences) = (Vec::new(), Vec::new());
    for (_, examples) in by_table {
        for e in examples {
            if e.consequence {
                consequences.push(e.text);
            } else {
                roots.push(e.text);
            }
        }
    }
    roots.extend(consequences);
    roots
}

impl Account {
    fn new(spec: &'static TableSpec) -> Account {
        Account {
            spec,
            sources: vec![],
            rows_in: 0,
            rejected: 0,
            by_rule: BTreeMap::new(),
            by_column: BTreeMap::new(),
            extra_columns: BTreeSet::new(),
            rejects: vec![],
            examples: vec![],
        }
    }

    /// Accounts for a chunk; returns its rejected-row mask.
    fn add(
        &mut self,
        t: &Loaded,
        rules: &mut BTreeMap<&'static str, &'static str>,
    ) -> Result<Vec<bool>> {
        let name = self.spec.name;
        debug_assert!(
            t.issues.windows(2).all(|w| w[0] < w[1]),
            "{name}: issues settled before the table is accounted for"
        );
        let mask = t.rejected_mask();
        self.rejected += mask.iter().filter(|m| **m).count() as u64;
        self.rows_in += t.typed.height() as u64;
        self.sources.extend(t.files.iter().cloned());
        self.extra_columns.extend(t.extra_columns.iter().cloned());
        for i in &t.issues {
            *self.by_rule.entry(i.rule.code()).or_default() += 1;
            let col = i
                .column
                .map(|c| t.spec.columns[c as usize].name)
                .unwrap_or("(ligne)");
            *self
                .by_column
                .entry(col)
                .or_default()
                .entry(i.rule.code())
                .or_default() += 1;
            rules.insert(i.rule.code(), i.rule.describe());
        }
        for consequence in [false, true] {
            let shown = self
                .examples
                .iter()
                .filter(|e| e.consequence == consequence)
                .count();
            let issues = t
                .issues
                .iter()
                .filter(|i| i.rule.may_be_a_consequence() == consequence);
            let most = if consequence { CONSEQUENCES } else { EXAMPLES };
            for i in issues.take(most.saturating_sub(shown)) {
                let (file, line) = t.locate(i.row);
                let col = i
                    .column
                    .map(|c| t.spec.columns[c as usize].name)
                    .unwrap_or("-");
                self.examples.push(Example {
                    consequence,
                    text: format!(
                        "{name}: file {file}, row {line}, column {col}: {} ({})",
                        i.rule.code(),
                        i.rule.describe()
                    ),
                });
            }
        }
        self.rejects.push(rejects_frame(t, &mask)?);
        Ok(mask)
    }

    fn finish(self, max: f64) -> Result<(TableQuality, DataFrame, Vec<Example>)> {
        let share = if self.rows_in == 0 {
            0.0
        } else {
            self.rejected as f64 / self.rows_in as f64
        };
        let mut frames = self.rejects.into_iter();
        let mut rejects = frames.next().unwrap_or_default();
        for f in frames {
            rejects
                .vstack_mut_owned(f)
                .map_err(RecoursError::polars(format!("{}: rejects", self.spec.name)))?;
        }
        Ok((
            TableQuality {
                sources: self.sources,
                rows_in: self.rows_in,
                rows_kept: self.rows_in - self.rejected,
                rows_rejected: self.rejected,
                rejected_share: share,
                max_rejected_share: max,
                issues_by_rule: self.by_rule,
                issues_by_column: self.by_column,
                extra_columns: self.extra_columns.into_iter().collect(),
            },
            rejects,
            self.examples,
        ))
    }
}

/// The rejected rows of a table: where they came from, why, and their original values.
fn rejects_frame(t: &Loaded, mask: &[bool]) -> Result<DataFrame> {
    let rows: Vec<u32> = (0..mask.len() as u32)
        .filter(|r| mask[*r as usize])
        .collect();
    let mut by_row: BTreeMap<u32, Vec<&Issue>> = BTreeMap::new();
    for i in &t.issues {
        by_row.entry(i.row).or_default().push(i);
    }
    // Only the rejected rows are turned into text (the kept ones can be millions).
    let rejected = BooleanChunked::from_iter_values("rejected".into(), mask.iter().copied());
    let texts: Vec<Column> = t
        .typed
        .filter(&rejected)
        .map_err(RecoursError::polars("rejects"))?
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::String))
        .collect::<PolarsResult<_>>()
        .map_err(RecoursError::polars("rejects"))?;
    let mut fichier = Vec::with_capacity(rows.len());
    let mut ligne = Vec::with_capacity(rows.len());
    let mut motif = Vec::with_capacity(rows.len());
    let mut motifs = Vec::with_capacity(rows.len());
    let mut colonnes = Vec::with_capacity(rows.len());
    let mut values: Vec<Vec<Option<String>>> =
        vec![Vec::with_capacity(rows.len()); t.spec.columns.len()];
    for (k, &row) in rows.iter().enumerate() {
        let (file, line) = t.locate(row);
        fichier.push(file.to_string());
        ligne.push(line);
        let issues = &by_row[&row];
        motif.push(issues[0].rule.code().to_string());
        motifs.push(
            issues
                .iter()
                .map(|i| i.rule.code())
                .collect::<Vec<_>>()
                .join("|"),
        );
        let mut cols: Vec<&str> = issues
            .iter()
            .map(|i| {
                i.column
                    .map(|c| t.spec.columns[c as usize].name)
                    .unwrap_or("-")
            })
            .collect();
        cols.dedup();
        colonnes.push(cols.join("|"));
        let raw = t.raw_rejected.get(&row);
        for (ci, v) in values.iter_mut().enumerate() {
            v.push(match raw {
                Some(raw) => raw[ci].clone(),
                None => texts[ci]
                    .str()
                    .ok()
                    .and_then(|ca| ca.get(k))
                    .map(str::to_string),
            });
        }
    }
    let mut cols = vec![
        Column::new("fichier".into(), fichier),
        Column::new("ligne".into(), ligne),
        Column::new("motif".into(), motif),
        Column::new("motifs".into(), motifs),
        Column::new("colonnes".into(), colonnes),
    ];
    for (spec, v) in t.spec.columns.iter().zip(values) {
        cols.push(Column::new(spec.name.into(), v));
    }
    DataFrame::new_infer_height(cols).map_err(RecoursError::polars("rejects"))
}

impl Ingested {
    /// Compares each required table's kept rows with `previous` (the last ingest that
    /// passed in the same run folder, by table; empty for a new folder): a fall by more
    /// than `max_share` of the previous rows is recorded in the quality report, which then
    /// does not pass.
    pub(crate) fn check_row_drops(&mut self, previous: &BTreeMap<String, u64>, max_share: f64) {
        let q = &mut self.quality;
        for spec in TABLES.iter().filter(|s| s.required) {
            let (Some(&before), Some(now)) = (previous.get(spec.name), q.tables.get(spec.name))
            else {
                continue;
            };
            if before == 0 || now.rows_kept >= before {
                continue;
            }
            let drop_share = (before - now.rows_kept) as f64 / before as f64;
            if drop_share > max_share {
                q.row_drops.push(RowDrop {
                    table: spec.name,
                    previous_rows_kept: before,
                    rows_kept: now.rows_kept,
                    drop_share,
                    max_row_drop_share: max_share,
                });
            }
        }
        if !q.row_drops.is_empty() {
            q.passed = false;
        }
    }

    /// Writes `quality.json` and `rejects/` into the stage's folder, and, when every table is
    /// within tolerance and the resources cover the twelve months before the run month from
    /// every source they have, `ingest/<table>.parquet`; returns an error (exit 3)
    /// otherwise. `shown_dir` is where they will be found after the run (named in the
    /// error).
    pub fn write(&mut self, shown_dir: &Path) -> Result<()> {
        let t0 = std::time::Instant::now();
        let dir = self.dir.clone();
        let dir = dir.as_path();
        let run_dir = shown_dir;
        self.rejects
            .par_iter_mut()
            .map(|(name, df)| output::write_parquet(&RunFolder::new(dir).rejects_of(name), df))
            .collect::<Result<Vec<()>>>()?;
        output::write_json(&RunFolder::new(dir).quality(), &self.quality)?;
        if !self.quality.passed {
            // Whole tables or months missing, then the first problems row by row (root
            // causes first), then the tolerances exceeded: tables with rows rejected for
            // their own values before those whose rejections may all follow from another
            // table's, each in contract order.
            let mut over: Vec<(bool, usize, String)> = self
                .quality
                .tables
                .iter()
                .filter(|(_, q)| q.rejected_share > q.max_rejected_share)
                .map(|(n, q)| {
                    let consequences_only = q
                        .issues_by_rule
                        .keys()
                        .all(|code| crate::domain::contract::Rule::code_may_be_a_consequence(code));
                    let line = format!(
                        "table {n}: {} of {} rows rejected ({:.2} %), above the {:.2} % allowed",
                        q.rows_rejected,
                        q.rows_in,
                        100.0 * q.rejected_share,
                        100.0 * q.max_rejected_share
                    );
                    (
                        consequences_only,
                        TABLES.iter().position(|t| t.name == *n).unwrap_or(0),
                        line,
                    )
                })
                .collect();
            over.sort();
            let over: Vec<String> = over.into_iter().map(|(_, _, line)| line).collect();
            let mut missing_tables = Vec::new();
            for name in &self.quality.empty_required_tables {
                let q = &self.quality.tables[name];
                missing_tables.push(if q.rows_in == 0 {
                    format!(
                        "table {name}: the extract holds no row; a required table cannot be \
                         empty (a delivery cut short?)"
                    )
                } else {
                    format!(
                        "table {name}: none of its {} rows is kept (all rejected); a required \
                         table cannot be empty",
                        q.rows_in
                    )
                });
            }
            for d in &self.quality.row_drops {
                missing_tables.push(format!(
                    "table {}: {} rows kept, {} in the previous run of this folder: {:.1} % \
                     fewer, above the {:.1} % allowed ([validation] max_row_drop_share); a \
                     delivery cut short? If the drop is real, run once with a higher \
                     max_row_drop_share",
                    d.table,
                    d.rows_kept,
                    d.previous_rows_kept,
                    100.0 * d.drop_share,
                    100.0 * d.max_row_drop_share
                ));
            }
            let missing = &self.quality.missing_resource_months;
            if !missing.is_empty() {
                let run = self.quality.run_month.as_str();
                let history = crate::domain::month::Month::parse(run).map_or(String::new(), |m| {
                    format!(
                        " ({} to {})",
                        m.plus(-(crate::tables::households::HISTORY as i32)),
                        m.plus(-1)
                    )
                });
                let months: Vec<String> = missing
                    .iter()
                    .map(|m| format!("{} ({})", m.mois, m.sources.join(", ")))
                    .collect();
                missing_tables.push(format!(
                    "table {STREAMED}, columns mois and source: no kept row for {}: the run \
                     month {run} needs each of the twelve months before it{history} from \
                     every source the extract has (the entitlements read their reference \
                     quarters, the features the whole year); a month or a feed missing from \
                     the extract, or all its rows rejected",
                    months.join(", ")
                ));
            }
            let mut message = missing_tables;
            if !self.quality.first_problems.is_empty() {
                message.push("first problems:".into());
                message.extend(self.quality.first_problems.iter().map(|p| format!("  {p}")));
            }
            message.extend(over);
            // No table's rows are kept: the streamed table's file and the tables written
            // while it was read are removed (nothing under ingest/).
            self.stream.take();
            remove_ingest_folder(dir);
            return Err(RecoursError::Rejected(format!(
                "{}\nsee {} and {}",
                message.join("\n"),
                RunFolder::new(run_dir).quality().display(),
                RunFolder::new(run_dir).rejects().display()
            )));
        }
        if !self.tables_written {
            write_tables(dir, &mut self.extracts.tables, &self.copies)?;
            self.tables_written = true;
        }
        output::write_json(
            &RunFolder::new(dir).rejected_oppositions(),
            &self.extracts.rejected_oppositions,
        )?;
        if let Some(stream) = self.stream.take() {
            stream.finish()?;
        }
        trace("ingest: writing", t0);
        Ok(())
    }

    /// A terminal summary: rows in, kept, rejected per table, and the first problems.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{:<14} {:>11} {:>11} {:>9}  main reasons\n",
            "table", "rows in", "kept", "rejected"
        );
        for (name, q) in &self.quality.tables {
            let mut rules: Vec<(&&str, &u64)> = q.issues_by_rule.iter().collect();
            rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let reasons: Vec<String> = rules
                .iter()
                .take(3)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            s.push_str(&format!(
                "{:<14} {:>11} {:>11} {:>9}  {}\n",
                name,
                q.rows_in,
                q.rows_kept,
                q.rows_rejected,
                reasons.join(", ")
            ));
        }
        if !self.quality.first_problems.is_empty() {
            s.push_str("first problems:\n");
            for e in self.quality.first_problems.iter().take(10) {
                s.push_str(&format!("  {e}\n"));
            }
        }
        s
    }
}

/// The files of an input table, in the order they are read.
pub(crate) fn source_files(input: &crate::config::InputSpec) -> Result<Vec<std::path::PathBuf>> {
    Ok(read::list_sources(input)?
        .into_iter()
        .map(|s| s.path)
        .collect())
}

/// BLAKE3 of the column names and types of every file of an input table, as read (for
/// parquet, the file schema; for CSV, the header line). An unreadable file hashes as such:
/// the ingest stage reports it.
pub(crate) fn schema_hash(
    input: &crate::config::InputSpec,
    files: &[std::path::PathBuf],
) -> String {
    let mut h = blake3::Hasher::new();
    for f in files {
        let described = match input.format {
            crate::config::InputFormat::Parquet => LazyFrame::scan_parquet(
                PlRefPath::new(f.to_string_lossy().as_ref()),
                ScanArgsParquet {
                    hive_options: HiveOptions {
                        enabled: Some(false),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .and_then(|mut lf| lf.collect_schema())
            .map(|s| {
                s.iter()
                    .map(|(n, t)| format!("{n}:{t}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_else(|e| format!("unreadable: {e}")),
            // The header line only (not the whole file read into memory).
            crate::config::InputFormat::Csv => {
                use std::io::BufRead;
                let mut line = Vec::new();
                std::fs::File::open(f)
                    .map(std::io::BufReader::new)
                    .and_then(|mut r| r.read_until(b'\n', &mut line))
                    .map(|_| {
                        let header = line.strip_suffix(b"\n").unwrap_or(&line);
                        String::from_utf8_lossy(header).into_owned()
                    })
                    .unwrap_or_default()
            }
        };
        h.update(described.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// The `ingest` stage.
pub static STAGE: Declaration = Declaration {
    name: "ingest",
    describe: "read and check every extract against the data contract",
    reads: &[],
    needs: &[],
    outputs: &[names::QUALITY, names::REJECTS, names::INGEST],
};

pub(crate) struct Ingest;

impl Stage for Ingest {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        let cfg: &RunConfig = f.config;
        let raw = cfg.as_written();
        let tables: BTreeMap<&str, serde_json::Value> = f
            .inputs
            .iter()
            .map(|i| {
                let spec = &raw.inputs[i.table.as_str()];
                let hashes: Vec<&str> = i.files.iter().map(|f| f.blake3.as_str()).collect();
                let v = json!({
                    "format": spec.format,
                    "separator": spec.separator,
                    "decimal_comma": spec.decimal_comma,
                    "files": i.parts,
                    "blake3": hashes,
                    "schema": i.schema_hash,
                });
                (i.table.as_str(), v)
            })
            .collect();
        Ok(json!({
            "month": raw.month,
            "validation": section(&raw.validation),
            "inputs": tables,
            "departements": f.reference["departements"],
            "caisses": f.reference["caisses"],
        }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let mut ingested = ingest(&ctx.config, ctx.out.root())?;
        ingested.check_row_drops(&ctx.previous_rows_kept, ctx.config.max_row_drop_share);
        eprint!("{}", ingested.summary());
        ingested.write(ctx.run.root())?;
        let q = &ingested.quality;
        let (kept, rejected): (u64, u64) = q
            .tables
            .values()
            .fold((0, 0), |(k, r), t| (k + t.rows_kept, r + t.rows_rejected));
        ctx.histories = ingested.histories.take();
        let mut extracts = ingested.extracts;
        // Read from where the stage's outputs are moved when it finishes.
        extracts.ressources = Some(ctx.run.ingested(STREAMED));
        ctx.extracts = Some(extracts);
        ctx.quality = Some(ingested.quality);
        Ok(format!("{kept} rows kept, {rejected} rejected"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn personnes(ids: &[Option<&str>], rejected: &[usize]) -> Loaded {
        let spec = TABLES.iter().find(|t| t.name == "personnes").unwrap();
        let typed = DataFrame::new_infer_height(vec![Column::new(
            "pseudo_id".into(),
            ids.iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>(),
        )])
        .unwrap();
        let mut t = Loaded {
            spec,
            files: vec!["p".into()],
            file_starts: vec![0],
            typed,
            as_read: None,
            issues: vec![],
            raw_rejected: HashMap::default(),
            extra_columns: BTreeSet::new(),
        };
        for &r in rejected {
            t.push(r, "pseudo_id", Rule::InvalidId);
        }
        t
    }

    #[test]
    fn the_walk_answers_as_the_index_in_any_order() {
        let id = |i: usize| format!("{i:064x}");
        let ids: Vec<String> = (0..40).map(id).collect();
        let mut column: Vec<Option<&str>> = ids.iter().map(|s| Some(s.as_str())).collect();
        column[7] = None;
        // Rows 3 and 20 rejected; kept rows (row 7, without id, too) are numbered 0.. among
        // the kept.
        let t = personnes(&column, &[3, 20]);
        let walk = Targets::new(&t, "pseudo_id", true);
        let index_only = Targets::new(&t, "pseudo_id", false);
        let unknown = "f".repeat(64);
        // In order, with gaps, backwards, repeated, unknown and rejected ids.
        let mut queries: Vec<&str> = ids.iter().map(String::as_str).step_by(3).collect();
        queries.extend(ids.iter().rev().map(String::as_str));
        queries.extend([
            ids[5].as_str(),
            ids[5].as_str(),
            &unknown,
            ids[3].as_str(),
            "",
        ]);
        queries.extend(ids.iter().map(String::as_str));
        let mut cursor = 0;
        for q in queries {
            let (a, b) = (walk.find(q, &mut cursor), index_only.find(q, &mut 0));
            assert!(a == b, "{q}");
        }
        assert!(walk.find(&ids[3], &mut 0) == Some(Status::Rejected));
        assert!(walk.find(&ids[4], &mut 0) == Some(Status::Kept(3)));
        assert!(walk.find(&ids[21], &mut 0) == Some(Status::Kept(19)));
        assert!(walk.find(&unknown, &mut 0).is_none());
    }

    #[test]
    fn the_index_answers_as_a_map_of_first_kept_rows() {
        // Repeated ids (a household's foyer_id on each member's row), some of their rows
        // rejected, nulls, and more ids than buckets hold alone.
        let names: Vec<String> = (0..300).map(|i| format!("F{}", i % 97)).collect();
        let mut column: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        column[10] = None;
        column[150] = None;
        let rejected: Vec<usize> = (0..300).filter(|r| r % 7 == 0 || r % 97 == 5).collect();
        let t = personnes(&column, &rejected);
        let index = IdIndex::new(t.text("pseudo_id"), &t.rejected_mask());
        // The expected answer, from a plain map: every id's first kept row among the kept,
        // else rejected.
        let mask = t.rejected_mask();
        let mut expected: std::collections::HashMap<&str, Status> = Default::default();
        let mut kept = 0u32;
        for (id, r) in column.iter().zip(&mask) {
            let s = if *r {
                Status::Rejected
            } else {
                Status::Kept(kept)
            };
            kept += u32::from(!*r);
            if let Some(id) = id {
                let e = expected.entry(id).or_insert(s);
                if *e == Status::Rejected {
                    *e = s;
                }
            }
        }
        assert!(expected.values().any(|s| *s == Status::Rejected));
        for i in 0..120 {
            let q = format!("F{i}");
            assert!(
                index.find(t.text("pseudo_id"), &q) == expected.get(q.as_str()).copied(),
                "{q}"
            );
        }
        assert!(index.find(t.text("pseudo_id"), "").is_none());
        let empty = IdIndex::new(&StringChunked::from_iter([None::<&str>; 3]), &[false; 3]);
        assert!(empty.find(t.text("pseudo_id"), "F1").is_none());
    }

    #[test]
    fn a_table_in_the_persons_order_never_builds_the_index() {
        // Ids that all share their head ("00000000"): found by comparing them whole.
        let ids: Vec<String> = (0..200).map(|i| format!("{i:064x}")).collect();
        let column: Vec<Option<&str>> = ids.iter().map(|s| Some(s.as_str())).collect();
        let t = personnes(&column, &[]);
        let walk = Targets::new(&t, "pseudo_id", true);
        let mut cursor = 0;
        // In order, with gaps of up to 62 persons (the walk looks at the last match and the
        // 63 ids after it).
        for k in [0, 1, 3, 40, 103, 104, 165] {
            assert!(walk.find(&ids[k], &mut cursor) == Some(Status::Kept(k as u32)));
        }
        assert!(walk.index.get().is_none());
        // An unknown id (or a row out of order) needs it, once.
        assert!(walk.find(&"f".repeat(64), &mut cursor).is_none());
        assert!(walk.index.get().is_some());
        assert!(walk.find(&ids[1], &mut cursor) == Some(Status::Kept(1)));
    }

    #[test]
    fn repeated_keys_are_every_copy_in_row_order() {
        let keys = [
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            None,
            Some("c"),
            Some("b"),
            Some("b"),
        ];
        assert_eq!(repeated(keys.iter().copied()), vec![0, 1, 2, 6, 7]);
        assert!(repeated(std::iter::empty::<Option<&str>>()).is_empty());
        // Against counting in a map, on keys drawn from a small set (many repeats).
        let mut x = 88172645463325252u64;
        let drawn: Vec<Option<String>> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (!x.is_multiple_of(50)).then(|| format!("{:064x}", x % 15_000))
            })
            .collect();
        let mut counts = std::collections::HashMap::new();
        for k in drawn.iter().flatten() {
            *counts.entry(k).or_insert(0) += 1;
        }
        let expected: Vec<usize> = (0..drawn.len())
            .filter(|&r| drawn[r].as_ref().is_some_and(|k| counts[k] > 1))
            .collect();
        assert!(!expected.is_empty() && expected.len() < drawn.len());
        assert_eq!(repeated(drawn.iter().map(|k| k.as_deref())), expected);
    }

    #[test]
    fn a_csv_schema_is_its_header_line() {
        let dir = std::env::temp_dir().join(format!("recours-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let input = crate::config::InputSpec {
            table: "logements",
            path: dir.clone(),
            format: crate::config::InputFormat::Csv,
            separator: b';',
            decimal_comma: true,
        };
        let hash = |p: &std::path::Path| schema_hash(&input, &[p.to_path_buf()]);
        let a = write("a.csv", "foyer_id;statut\nf1;locataire\n");
        let b = write("b.csv", "foyer_id;statut\nf2;proprietaire\nf3;heberge\n");
        let header_only = write("c.csv", "foyer_id;statut");
        let other = write("d.csv", "foyer_id;loyer\nf1;400\n");
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(hash(&a), hash(&header_only));
        assert_ne!(hash(&a), hash(&other));
        assert_ne!(hash(&a), hash(&dir.join("missing.csv")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
