//! Who may write a run folder: recours only in a folder it made (or a new or empty one),
//! and one process at a time. The mark is the file `RUN/.recours-run`; it is also the file
//! an exclusive OS lock (`flock`) is taken on for as long as a `run` or `validate` writes
//! the folder, and a shared one while `verify` reads it. The lock goes with the process:
//! a killed run leaves no lock behind.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::tables::manifest::Manifest;
use crate::tables::run_folder::{RunFolder, names};

/// What the mark says to someone who opens it.
const MARK_TEXT: &str = "recours run folder: recours made this folder, removes and replaces \
its outputs here, and locks this file while a run or a validation writes it.\n";

/// A lock held on a run folder until it is dropped.
#[derive(Debug)]
pub(crate) struct RunLock {
    _file: File,
    /// The folder did not exist before this claim.
    created: bool,
}

impl RunLock {
    /// Removes the run folder when this claim created it and nothing but the mark is in
    /// it: a validation stopped (a privacy stop) in a new folder leaves nothing behind.
    pub(crate) fn remove_if_unused(self, run: &RunFolder) {
        if !self.created {
            return;
        }
        let only_mark = run
            .root()
            .read_dir()
            .is_ok_and(|d| d.flatten().all(|e| e.file_name() == names::MARKER));
        drop(self);
        if only_mark {
            let _ = std::fs::remove_file(run.marker());
            let _ = std::fs::remove_dir(run.root());
        }
    }
}

fn folder_error(run: &RunFolder, message: String) -> RecoursError {
    RecoursError::RunFolder {
        folder: run.root().to_path_buf(),
        message,
    }
}

/// Whether recours may write into `run`: it does not exist, is empty, carries the mark, or
/// holds a manifest recours can read (a run folder made before the mark existed).
fn is_recours_or_empty(run: &RunFolder) -> Result<bool> {
    let root = run.root();
    if !root.exists() || run.marker().is_file() {
        return Ok(true);
    }
    if !root.is_dir() {
        return Err(folder_error(run, "exists and is not a folder".into()));
    }
    let mut entries = root.read_dir().map_err(|e| {
        folder_error(
            run,
            format!("cannot be read ({e}); give another folder with --output"),
        )
    })?;
    Ok(entries.next().is_none() || Manifest::read(root).is_ok())
}

/// Takes `run` for writing: refuses a folder that is not empty and was not made by recours
/// (nothing in it is written or removed), creates it and its mark if needed, and takes the
/// exclusive lock, or fails at once when another process holds it.
pub fn claim(run: &RunFolder) -> Result<RunLock> {
    if !is_recours_or_empty(run)? {
        return Err(folder_error(
            run,
            format!(
                "is not empty and was not made by recours (no {} mark, no manifest.json): a \
                 run removes and replaces its outputs (models/, lists/, report/, …) in its run \
                 folder, so it writes only into a new or empty folder or one it made. Nothing \
                 was written or removed; give a new folder with --output or `output` in the \
                 configuration",
                names::MARKER
            ),
        ));
    }
    let created = !run.root().exists();
    std::fs::create_dir_all(run.root()).map_err(|e| not_writable(run, &e))?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(run.marker())
        .map_err(|e| not_writable(run, &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(RecoursError::Busy {
                folder: run.root().to_path_buf(),
            });
        }
        Err(TryLockError::Error(e)) => {
            return Err(folder_error(
                run,
                format!("cannot be locked ({e}): recours needs a file system with file locks"),
            ));
        }
    }
    if file.metadata().is_ok_and(|m| m.len() == 0) {
        file.write_all(MARK_TEXT.as_bytes())
            .map_err(|e| not_writable(run, &e))?;
    }
    Ok(RunLock {
        _file: file,
        created,
    })
}

/// A shared lock on `run` while it is read (`verify`): fails at once when a run or a
/// validation writes it. A folder without the mark (copied without its hidden files) or
/// whose mark cannot be opened is read without a lock.
pub fn share(run: &RunFolder) -> Result<Option<RunLock>> {
    let Ok(file) = File::open(run.marker()) else {
        return Ok(None);
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(RunLock {
            _file: file,
            created: false,
        })),
        Err(TryLockError::WouldBlock) => Err(RecoursError::Busy {
            folder: run.root().to_path_buf(),
        }),
        Err(TryLockError::Error(_)) => Ok(None),
    }
}

/// The files recours put into a run folder that its manifest may not list, relative to
/// the folder (`RUN/.recours-written.json`): a stage's files from just before they are moved
/// into place until the manifest records them, an earlier run's outputs from just before
/// the manifest stops listing them (their stage runs again) until they are removed, and
/// what no manifest records (`validate`'s files, a rejected ingest's quality report and
/// rejects). With the manifest it names everything a run or a validation may remove: a
/// file that neither lists is someone else's and stays, and a run killed at any point
/// leaves no file of its own that the next one does not know.
#[derive(Debug)]
pub(crate) struct Written {
    path: PathBuf,
    files: BTreeSet<String>,
}

impl Written {
    /// The record of `run`; empty when there is none. One that cannot be read is taken as
    /// empty too: recours then removes less, never more.
    pub(crate) fn read(run: &RunFolder) -> Written {
        let path = run.written();
        let files = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Written { path, files }
    }

    pub(crate) fn files(&self) -> &BTreeSet<String> {
        &self.files
    }

    /// Records `files` before they are moved into the run folder (or before the manifest
    /// stops listing them).
    pub(crate) fn add(&mut self, files: impl IntoIterator<Item = String>) -> Result<()> {
        let before = self.files.len();
        self.files.extend(files);
        if self.files.len() == before {
            return Ok(());
        }
        self.save()
    }

    /// Forgets `files` once the manifest lists them.
    pub(crate) fn forget(&mut self, files: &[String]) -> Result<()> {
        let before = self.files.len();
        for f in files {
            self.files.remove(f);
        }
        if self.files.len() == before {
            return Ok(());
        }
        self.save()
    }

    /// Forgets the files no longer in `run` (removed).
    pub(crate) fn prune(&mut self, run: &RunFolder) -> Result<()> {
        let before = self.files.len();
        self.files.retain(|f| run.path(f).is_file());
        if self.files.len() == before {
            return Ok(());
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        if self.files.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(RecoursError::io(format!(
                    "removing {}",
                    self.path.display()
                ))(e)),
                _ => Ok(()),
            };
        }
        output::write_json(&self.path, &self.files)
    }
}

fn not_writable(run: &RunFolder, e: &std::io::Error) -> RecoursError {
    let why = match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            "cannot be written (read-only or permission denied)".to_string()
        }
        _ => format!("cannot be written ({e})"),
    };
    folder_error(
        run,
        format!(
            "{why}: `run` and `validate` write their manifest and outputs there even when \
             every stage is up to date; give a writable folder with --output (`recours verify` \
             checks a folder it cannot write)"
        ),
    )
}
