//! What a stage is: one [`Declaration`] (its name, the stages whose outputs it reads, what
//! it needs in memory, the files and folders it writes) and one [`Stage`] implementation
//! (what its fingerprint covers besides the stages it reads, and how it runs), both in the
//! stage's own module; and what the stages share during a run ([`RunContext`]).

use std::collections::BTreeMap;

use recours_models::train::ModelArtefact;

use crate::config::RunConfig;
use crate::error::{RecoursError, Result};
use crate::tables::eligibility::EligibilityRow;
use crate::tables::extracts::Extracts;
use crate::tables::features::FeatureTable;
use crate::tables::households::{Households, ResourceHistories};
use crate::tables::manifest::{self, FileRecord, Hasher};
use crate::tables::quality::QualityReport;
use crate::tables::run_folder::RunFolder;
use crate::tables::scores::ScoreRow;

/// A stage as the run plans it. The stages it reads are named by their declarations, so a
/// renamed or removed stage is a compile error in every stage that reads it.
pub(crate) struct Declaration {
    pub name: &'static str,
    /// One line for the progress display.
    pub describe: &'static str,
    /// The stages whose outputs it reads: their fingerprints are part of its own.
    pub reads: &'static [&'static Declaration],
    /// What it reads in memory (read back from the run folder when the stage that makes it
    /// was kept).
    pub needs: &'static [Need],
    /// The files and folders of the run folder it writes (recorded in the manifest).
    pub outputs: &'static [&'static str],
}

pub(crate) trait Stage: Sync {
    fn declaration(&self) -> &'static Declaration;
    fn name(&self) -> &'static str {
        self.declaration().name
    }
    /// What, besides the stages it reads, its result depends on: its section of the
    /// configuration and the content (not the path) of the files it reads directly. Paths
    /// and the run folder are left out, so that a run moved to another folder is still up
    /// to date.
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value>;
    /// Runs the stage; returns a one-line summary for the progress display.
    fn run(&self, ctx: &mut RunContext) -> Result<String>;
}

/// What a stage reads in memory; when the stage that makes it was skipped (up to date), it
/// is read back from that stage's outputs in the run folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    Extracts,
    Households,
    Eligibility,
    Features,
    Models,
    Scores,
}

/// What the stages share during a run.
pub(crate) struct RunContext {
    pub config: RunConfig,
    /// The run folder: outputs of finished stages, read by later stages.
    pub run: RunFolder,
    /// Where the running stage writes: `RUN/.partial/<stage>/`, moved into the run folder
    /// when the stage has finished.
    pub out: RunFolder,
    pub extracts: Option<Extracts>,
    /// The persons' monthly histories the ingest stage added up in this run (taken by the
    /// households; absent when the ingest was skipped).
    pub histories: Option<ResourceHistories>,
    pub households: Option<Households>,
    pub eligibility: Option<Vec<EligibilityRow>>,
    pub features: Option<FeatureTable>,
    pub models: BTreeMap<&'static str, ModelArtefact>,
    pub scores: Option<Vec<ScoreRow>>,
    pub quality: Option<QualityReport>,
    /// Rows kept per table by the last ingest that passed in this run folder (the
    /// manifest's `rows_kept_baseline`): what a required table's rows are compared with.
    pub previous_rows_kept: BTreeMap<String, u64>,
    /// Identifies the run in the lists' read-me: the run month and a digest of the config.
    pub run_id: String,
}

impl RunContext {
    pub(crate) fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T> {
        v.as_ref()
            .ok_or_else(|| RecoursError::Internal(format!("{what} is needed but was not produced")))
    }

    /// The tables read only to assemble the households are dropped from memory once they
    /// are (the train stage reads them back for a learning month other than the run's).
    pub(crate) fn release_household_tables(&mut self) {
        self.histories = None;
        if let Some(x) = &mut self.extracts {
            x.release_household_tables();
        }
    }
}

/// An input table as read before any stage: its files with their hashes, each file's path
/// inside the input (partitions), and its schema hash.
pub(crate) struct InputRead {
    pub table: String,
    pub files: Vec<FileRecord>,
    pub parts: Vec<String>,
    pub schema_hash: String,
}

/// What a stage's own inputs are read from: the config, the input tables as hashed before
/// any stage, the reference files' hashes, and the hasher for the files a stage names.
pub(crate) struct Fingerprint<'a> {
    pub config: &'a RunConfig,
    pub inputs: &'a [InputRead],
    /// `departements`, `caisses`, `baremes` → BLAKE3.
    pub reference: &'a BTreeMap<&'static str, String>,
    pub hasher: &'a mut Hasher,
}

impl Fingerprint<'_> {
    /// A file's BLAKE3; a folder (a sharded table): BLAKE3 of its files' names and hashes.
    /// `shown` is the path as the config names it (the hash cache's key).
    pub(crate) fn file_hash(&mut self, full: &std::path::Path, shown: &str) -> Result<String> {
        if full.is_file() {
            return Ok(self.hasher.record(full, shown.into())?.blake3);
        }
        if !full.is_dir() {
            return Err(RecoursError::Config {
                file: full.to_path_buf(),
                message: "no such file or folder".into(),
            });
        }
        let mut h = blake3::Hasher::new();
        for f in manifest::files_at(full) {
            let name = manifest::relative(&f, full);
            h.update(name.as_bytes());
            h.update(self.hasher.record(&f, name.clone())?.blake3.as_bytes());
        }
        Ok(h.finalize().to_hex().to_string())
    }
}

/// A config section as its fingerprint records it.
pub fn section<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
