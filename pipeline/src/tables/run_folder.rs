//! The run folder's layout: every path of a run is named here, and stage code asks for it
//! instead of joining paths. The same layout serves the run folder and a stage's staging
//! folder (`RUN/.partial/<stage>/`), whose files are moved into the run folder under the
//! same names when the stage has finished.

use std::path::{Path, PathBuf};

/// Names of the run folder's files and folders, relative to it: what the stages'
/// declarations list as outputs and the manifest records.
pub mod names {
    pub(crate) const QUALITY: &str = "quality.json";
    pub(crate) const REJECTS: &str = "rejects";
    pub(crate) const INGEST: &str = "ingest";
    pub(crate) const ELIGIBILITY: &str = "eligibility.parquet";
    pub(crate) const FEATURES: &str = "features.parquet";
    pub(crate) const FEATURES_SELECTION: &str = "features-selection.json";
    pub(crate) const MODELS: &str = "models";
    pub(crate) const SCORES: &str = "scores.parquet";
    pub(crate) const LISTS: &str = "lists";
    pub(crate) const DECISIONS: &str = "lists/decisions.parquet";
    pub(crate) const EVALUATION: &str = "evaluation.json";
    pub(crate) const FAIRNESS: &str = "fairness.json";
    pub(crate) const REPORT: &str = "report";
    pub(crate) const NOTEBOOKS: &str = "notebooks-export";
    pub(crate) const MANIFEST: &str = "manifest.json";
    /// What `recours run` did, with times: not a stage output, not in the manifest.
    pub(crate) const RUN_LOG: &str = "run.log";
    pub(crate) const HASH_CACHE: &str = ".hash-cache.json";
    pub(crate) const STAGING: &str = ".partial";
    /// Marks the folder as made by recours and is the lock a run holds on it.
    pub(crate) const MARKER: &str = ".recours-run";
    /// The files recours moved (or is about to move) into the run folder that the manifest
    /// may not list (`ownership::Written`).
    pub(crate) const WRITTEN: &str = ".recours-written.json";
}

/// A run folder, or a stage's staging folder laid out the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFolder {
    root: PathBuf,
}

impl RunFolder {
    pub fn new(root: impl Into<PathBuf>) -> RunFolder {
        RunFolder { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file or folder of the run by its name relative to the run folder (a stage's
    /// declared output, a manifest record).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `RUN/.partial/`: where running stages write.
    pub(crate) fn staging(&self) -> PathBuf {
        self.root.join(names::STAGING)
    }

    /// `RUN/.partial/<stage>/`: where one stage writes until it has finished.
    pub(crate) fn staging_for(&self, stage: &str) -> RunFolder {
        RunFolder::new(self.staging().join(stage))
    }

    pub fn manifest(&self) -> PathBuf {
        self.root.join(names::MANIFEST)
    }

    /// `RUN/.recours-run`: the run folder's mark and lock (`tables::ownership`).
    pub(crate) fn marker(&self) -> PathBuf {
        self.root.join(names::MARKER)
    }

    /// `RUN/.recours-written.json`: what recours put in the folder beyond the manifest.
    pub(crate) fn written(&self) -> PathBuf {
        self.root.join(names::WRITTEN)
    }

    pub(crate) fn hash_cache(&self) -> PathBuf {
        self.root.join(names::HASH_CACHE)
    }

    pub fn quality(&self) -> PathBuf {
        self.root.join(names::QUALITY)
    }

    pub fn rejects(&self) -> PathBuf {
        self.root.join(names::REJECTS)
    }

    /// `rejects/<table>.parquet`.
    pub(crate) fn rejects_of(&self, table: &str) -> PathBuf {
        self.rejects().join(format!("{table}.parquet"))
    }

    /// `ingest/`: the kept rows of every table.
    pub fn ingest(&self) -> PathBuf {
        self.root.join(names::INGEST)
    }

    /// Where the ingest stage keeps the objections of rejected contact rows.
    pub(crate) fn rejected_oppositions(&self) -> PathBuf {
        self.ingest().join("oppositions-lignes-rejetees.json")
    }

    /// `ingest/<table>.parquet`.
    pub(crate) fn ingested(&self, table: &str) -> PathBuf {
        self.ingest().join(format!("{table}.parquet"))
    }

    pub fn eligibility(&self) -> PathBuf {
        self.root.join(names::ELIGIBILITY)
    }

    pub fn features(&self) -> PathBuf {
        self.root.join(names::FEATURES)
    }

    pub(crate) fn features_selection(&self) -> PathBuf {
        self.root.join(names::FEATURES_SELECTION)
    }

    /// `models/<benefit>.json`.
    pub fn model(&self, benefit: &str) -> PathBuf {
        self.root
            .join(names::MODELS)
            .join(format!("{benefit}.json"))
    }

    pub(crate) fn learning_table_use(&self) -> PathBuf {
        self.root
            .join(names::MODELS)
            .join("learning-table-use.json")
    }

    pub fn scores(&self) -> PathBuf {
        self.root.join(names::SCORES)
    }

    pub(crate) fn run_log(&self) -> PathBuf {
        self.root.join(names::RUN_LOG)
    }

    pub fn lists(&self) -> PathBuf {
        self.root.join(names::LISTS)
    }

    pub fn decisions(&self) -> PathBuf {
        self.root.join(names::DECISIONS)
    }

    /// `lists/<caisse>/`: one caisse's exports.
    pub fn caisse(&self, caisse: &str) -> PathBuf {
        self.lists().join(caisse)
    }

    pub(crate) fn lists_summary(&self) -> PathBuf {
        self.lists().join("summary.csv")
    }

    pub(crate) fn campaign_feedback_json(&self) -> PathBuf {
        self.lists().join("campaign-feedback.json")
    }

    pub(crate) fn campaign_feedback_csv(&self) -> PathBuf {
        self.lists().join("campaign-feedback.csv")
    }

    pub fn evaluation(&self) -> PathBuf {
        self.root.join(names::EVALUATION)
    }

    pub fn fairness(&self) -> PathBuf {
        self.root.join(names::FAIRNESS)
    }

    /// `report/`: the HTML report, each chart's SVG and CSV, the model cards.
    pub fn report(&self) -> PathBuf {
        self.root.join(names::REPORT)
    }
    /// `report/index.html`: the report's page.
    pub(crate) fn report_index(&self) -> PathBuf {
        self.report().join("index.html")
    }

    pub fn notebooks(&self) -> PathBuf {
        self.root.join(names::NOTEBOOKS)
    }
}
