//! The error type of the pipeline and the documented exit codes.
//!
//! A monthly job is run by a scheduler that must tell "bad input data" from "bug" from
//! "success": each class below has its own exit code, listed in the README.

use std::path::PathBuf;

/// Exit codes of the `recours` binary (documented in README.md).
pub mod exit {
    pub const SUCCESS: u8 = 0;
    /// Bad command line or bad configuration, including a reused model artefact whose
    /// feature signature does not match the run's features.
    pub const USAGE: u8 = 2;
    /// Input data rejected: unreadable file, missing column, too many rejected rows.
    pub const DATA_REJECTED: u8 = 3;
    /// A NIR-like value was found in an extract: nothing was written downstream.
    pub const PRIVACY_STOP: u8 = 4;
    /// A model could not be trained: too few labels, no convergence, a singular
    /// information matrix.
    pub(crate) const MODEL: u8 = 5;
    /// `verify`: an input, an output or the replay does not match the manifest, or the run
    /// folder holds a file its manifest does not list; `audit-log verify` (and `serve` at
    /// start): the audit log's chain is broken.
    pub const VERIFY_MISMATCH: u8 = 6;
    /// Another `recours run` or `validate` holds the run folder's lock: nothing was done;
    /// try again when it has finished (sysexits' `EX_TEMPFAIL`).
    pub const BUSY: u8 = 75;
    /// `explain`: no person with this id among the persons the run kept.
    pub(crate) const UNKNOWN_PERSON: u8 = 7;
    /// A bug or an environment failure (disk full, permission denied): not the data's fault.
    pub const INTERNAL: u8 = 70;
}

#[derive(Debug, thiserror::Error)]
pub enum RecoursError {
    #[error("configuration {file}: {message}")]
    Config { file: PathBuf, message: String },

    /// The run folder cannot be used: not empty and not made by recours, or not writable.
    #[error("run folder {folder}: {message}")]
    RunFolder { folder: PathBuf, message: String },

    #[error(
        "run folder {folder} is in use by another recours run or validate (its lock is held); \
         nothing was done: run again when it has finished"
    )]
    Busy { folder: PathBuf },

    #[error("barème: {0}")]
    Bareme(String),

    #[error("table {table}: {message}")]
    Input { table: String, message: String },

    #[error("input data rejected:\n{0}")]
    Rejected(String),

    #[error(
        "PRIVACY STOP: table {table}, column {column}: {count} value(s) look like a NIR \
         (13 or 15 digits starting with 1, 2, 7 or 8). The values are not shown. \
         Nothing was written downstream; the extract must be pseudonymised again upstream."
    )]
    Privacy {
        table: String,
        column: String,
        count: usize,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },

    #[error("{context}: {source}")]
    Polars {
        context: String,
        source: polars::prelude::PolarsError,
    },

    /// Read by whoever asked for an explanation: in French, without the id given (it could
    /// be a NIR pasted by mistake).
    #[error(
        "personne inconnue : {given} ne désigne aucune des personnes retenues par l'exécution \
         {run} (vérifiez l'identifiant, copié depuis la liste de contacts)"
    )]
    UnknownPerson { run: PathBuf, given: String },

    #[error("{0} file(s) do not match the manifest")]
    Mismatch(usize),

    /// The portal's audit log: an entry changed, removed or moved (`recours audit-log verify`).
    #[error("audit log {file}: chain broken at line {line}: {why}")]
    AuditLogBroken {
        file: PathBuf,
        line: u64,
        why: String,
    },

    #[error("model: {0}")]
    Train(#[from] recours_models::train::TrainError),

    #[error("model: {0}")]
    Fit(#[from] recours_models::logistic::FitError),

    #[error("internal error: {0}")]
    Internal(String),
}

impl RecoursError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RecoursError::Config { .. }
            | RecoursError::Bareme(_)
            | RecoursError::RunFolder { .. } => exit::USAGE,
            RecoursError::Busy { .. } => exit::BUSY,
            RecoursError::Input { .. } | RecoursError::Rejected(_) => exit::DATA_REJECTED,
            // A model that cannot be fitted (too few labels, no convergence) comes from the
            // learning data or its settings, not from a bug.
            RecoursError::Train(_) | RecoursError::Fit(_) => exit::MODEL,
            RecoursError::Mismatch(_) | RecoursError::AuditLogBroken { .. } => {
                exit::VERIFY_MISMATCH
            }
            RecoursError::UnknownPerson { .. } => exit::UNKNOWN_PERSON,
            RecoursError::Privacy { .. } => exit::PRIVACY_STOP,
            RecoursError::Io { .. } | RecoursError::Polars { .. } | RecoursError::Internal(_) => {
                exit::INTERNAL
            }
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RecoursError {
        let context = context.into();
        move |source| RecoursError::Io { context, source }
    }

    pub fn polars(
        context: impl Into<String>,
    ) -> impl FnOnce(polars::prelude::PolarsError) -> RecoursError {
        let context = context.into();
        move |source| RecoursError::Polars { context, source }
    }
}

pub type Result<T, E = RecoursError> = std::result::Result<T, E>;
