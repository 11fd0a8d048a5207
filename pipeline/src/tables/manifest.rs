//! `manifest.json`: what a run read, did and wrote, so that an auditor can prove that the
//! lists came from the declared inputs and models, and replay the run (`recours verify`).
//! A serialised boundary: the schema version changes deliberately. Stage timings are the
//! only fields that change from one identical run to the next (`volatile_fields`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{RawConfig, RunConfig, normalize};
use crate::error::{RecoursError, Result};
use crate::tables::run_folder::{RunFolder, names};

pub(crate) const MANIFEST_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    pub blake3: String,
    /// Rows of a Parquet output (from its footer); absent for other files and for inputs
    /// (their rows are in the input record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputRecord {
    pub table: String,
    /// The table's files, named relative to the configuration's folder.
    pub files: Vec<FileRecord>,
    /// Each file's path inside the table's input as the configuration names it (empty: the
    /// input is that one file), in the order of `files`: how `verify --inputs` finds them
    /// in another place.
    #[serde(default)]
    pub parts: Vec<String>,
    pub rows_in: u64,
    pub rows_kept: u64,
    pub rows_rejected: u64,
    /// BLAKE3 of the contract columns' names and kinds as read.
    pub schema_hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub status: String,
    pub summary: String,
    /// Volatile: wall time of the stage.
    pub seconds: f64,
    /// Files the stage wrote, relative to the run folder.
    pub outputs: Vec<FileRecord>,
    /// BLAKE3 of what the stage's result depends on: recours' version, its configuration
    /// section, the content of the files it reads and the fingerprints of the stages it
    /// reads. A stage whose fingerprint and outputs are unchanged is not run again.
    #[serde(default)]
    pub fingerprint: String,
    /// What the fingerprint covers besides the stages read, part by part (`recours` for
    /// recours' version, a configuration section or key such as `lists.capacity`, an input
    /// table such as `inputs.droits`, a reference file): BLAKE3 (16 hex) of each, so that
    /// the next run's plan names what changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fingerprint_parts: BTreeMap<String, String>,
    /// Volatile: kept from an earlier run in this folder rather than run again.
    #[serde(default)]
    pub reused: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub recours_version: String,
    /// The commit recours was built from (`-dirty` when its sources had uncommitted changes).
    pub git_commit: Option<String>,
    /// BLAKE3 (16 hex) of the sources recours was built from: part of every fingerprint.
    #[serde(default)]
    pub source_hash: String,
    pub run_id: String,
    /// The configuration file, absolute, and its folder (paths in the config are relative
    /// to it).
    pub config_file: String,
    pub config_hash: String,
    pub config: RawConfig,
    /// The reference files, named relative to the configuration's folder.
    pub reference: Vec<FileRecord>,
    pub inputs: Vec<InputRecord>,
    pub seeds: BTreeMap<String, u64>,
    /// BLAKE3 of each model artefact file.
    pub models: BTreeMap<String, String>,
    pub stages: Vec<StageRecord>,
    /// Rows kept per table by the last ingest that passed in this run folder (this run's,
    /// or carried from an earlier run when this one's ingest failed): a required table
    /// falling by more than `[validation] max_row_drop_share` from it stops the next run.
    #[serde(default)]
    pub rows_kept_baseline: BTreeMap<String, u64>,
    /// Fields that differ between identical runs and that `verify` ignores.
    pub volatile_fields: Vec<String>,
}

/// What the hash cache knows of a file when it hashed it. Size and modification time
/// alone can be put back after an edit (`touch -d`, a copy keeping times); the change time
/// (`ctime`) cannot without changing the system clock, and the inode and device change
/// when a file is replaced by another, so a file whose stamp is unchanged holds the same
/// bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    /// Seconds and nanoseconds since the epoch.
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
        }
    }

    /// Whether a hash taken now can be kept for this stamp: the file's last change is at
    /// least [`SETTLED_SECONDS`] old. A change within the file system's timestamp
    /// granularity of the hashing would otherwise leave the same stamp on other bytes.
    fn settled(&self) -> bool {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .is_ok_and(|now| now.as_secs() as i64 >= self.ctime.0 + SETTLED_SECONDS)
    }
}

/// How old a file's last change must be for its hash to be cached (see [`Stamp::settled`]).
const SETTLED_SECONDS: i64 = 2;

#[derive(Default, Serialize, Deserialize)]
struct HashCache {
    /// Absolute path → the file's stamp and BLAKE3 when it was hashed.
    entries: BTreeMap<String, (Stamp, String)>,
}

/// The blake3 hash of a file, read 16 MiB at a time and each block hashed in parallel: a
/// memory map of the file would count its pages in the process's resident memory, adding a
/// stage's outputs, hashed after it, to the next stage's peak.
fn hash_file(path: &Path) -> std::io::Result<String> {
    hash_file_by(path, 16 << 20)
}

fn hash_file_by(path: &Path, block: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = Vec::with_capacity(block);
    loop {
        buf.clear();
        // Fills the block (short and interrupted reads retried), or reads to the end.
        (&mut file).take(block as u64).read_to_end(&mut buf)?;
        h.update_rayon(&buf);
        if buf.len() < block {
            break;
        }
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Hashes files, reusing an earlier hash only for a file whose whole [`Stamp`] (size,
/// modification and change times, inode, device) is unchanged: a file edited in place,
/// even with its size and modification time put back, is hashed again.
pub(crate) struct Hasher {
    cache: HashCache,
    path: Option<PathBuf>,
}

impl Hasher {
    pub fn new(cache_file: Option<PathBuf>) -> Hasher {
        let cache = cache_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Hasher {
            cache,
            path: cache_file,
        }
    }

    pub(crate) fn record(&mut self, path: &Path, shown_as: String) -> Result<FileRecord> {
        let meta = std::fs::metadata(path)
            .map_err(RecoursError::io(format!("reading {}", path.display())))?;
        let stamp = Stamp::of(&meta);
        let key = std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .to_string_lossy()
            .into_owned();
        let hash = match self.cache.entries.get(&key) {
            Some((s, h)) if *s == stamp => h.clone(),
            _ => {
                let h = hash_file(path)
                    .map_err(RecoursError::io(format!("hashing {}", path.display())))?;
                if stamp.settled() {
                    self.cache.entries.insert(key, (stamp, h.clone()));
                } else {
                    self.cache.entries.remove(&key);
                }
                h
            }
        };
        Ok(FileRecord {
            rows: None,
            path: shown_as,
            size: meta.len(),
            blake3: hash,
        })
    }

    pub(crate) fn save(&self) {
        if let Some(p) = &self.path {
            // The cache only saves time: failing to write it is not an error.
            let _ = crate::io::output::write_json(p, &self.cache);
        }
    }
}

/// Every file under `dir` (recursively), sorted, except hidden files and the manifest.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            // The manifest itself, and the run log (appended to by every run, not an output).
            let log = d == dir && p.file_name().is_some_and(|n| n == names::RUN_LOG);
            if hidden || log || p.file_name().is_some_and(|n| n == names::MANIFEST) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A stage output: the file itself, or every file under the folder.
pub(crate) fn files_at(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        files_under(path)
    }
}

/// BLAKE3 of a model artefact as written in the run folder (the manifest records it; the
/// lists' read-me shows its first 16 characters).
pub(crate) fn model_digest(
    run: &crate::tables::run_folder::RunFolder,
    benefit: &str,
) -> Option<String> {
    let bytes = std::fs::read(run.model(benefit)).ok()?;
    Some(blake3::hash(&bytes).to_hex().to_string())
}

pub fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// `path` as seen from the folder `base`, with `..` where it is outside it (both made
/// absolute and normalised without touching the file system): how the manifest names the
/// inputs and reference files, relative to the configuration's folder, so that a run
/// folder checked elsewhere finds them beside the configuration in its new place.
pub(crate) fn relative_to(path: &Path, base: &Path) -> String {
    let absolute = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        normalize(&std::path::absolute(p).unwrap_or_else(|_| p.into()))
    };
    let (path, base) = (absolute(path), absolute(base));
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out.to_string_lossy().into_owned()
}

impl Manifest {
    pub fn read(run_dir: &Path) -> Result<Manifest> {
        let path = RunFolder::new(run_dir).manifest();
        let text = std::fs::read_to_string(&path).map_err(|e| RecoursError::Config {
            file: path.clone(),
            message: format!("cannot read the run manifest: {e}"),
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| RecoursError::Config {
            file: path.clone(),
            message: format!("not a recours manifest: {e}"),
        })?;
        if m.schema_version != MANIFEST_SCHEMA_VERSION {
            return Err(RecoursError::Config {
                file: path,
                message: format!(
                    "manifest schema version {}, this recours reads {}",
                    m.schema_version, MANIFEST_SCHEMA_VERSION
                ),
            });
        }
        Ok(m)
    }

    /// The run's configuration, checked again as it was when the run started.
    pub fn config(&self) -> Result<RunConfig> {
        RunConfig::check(Path::new(&self.config_file), self.config.clone())
    }

    /// Rows kept per table by the last ingest that passed in this folder: the recorded
    /// baseline, or for a manifest written before it existed, its own counts when its
    /// ingest is done.
    pub(crate) fn rows_kept_baseline(&self) -> BTreeMap<String, u64> {
        if !self.rows_kept_baseline.is_empty() {
            return self.rows_kept_baseline.clone();
        }
        let ingest_done = self
            .stages
            .iter()
            .any(|s| s.name == "ingest" && s.status == "done");
        if !ingest_done {
            return BTreeMap::new();
        }
        self.inputs
            .iter()
            .map(|i| (i.table.clone(), i.rows_kept))
            .collect()
    }

    /// Every output file with its hash, in path order.
    pub fn outputs(&self) -> Vec<&FileRecord> {
        let mut v: Vec<&FileRecord> = self.stages.iter().flat_map(|s| &s.outputs).collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }
}

/// BLAKE3 of the config as checked (serialised), so that formatting does not matter.
pub(crate) fn config_hash(raw: &RawConfig) -> String {
    blake3::hash(&serde_json::to_vec(raw).unwrap_or_default())
        .to_hex()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths outside the base folder get `..`; inside it, none; `.` and `..` in either are
    /// resolved first.
    #[test]
    fn paths_are_named_relative_to_the_config_folder() {
        let cases = [
            ("/a/data/x.parquet", "/a/config", "../data/x.parquet"),
            ("/a/config/caisses.csv", "/a/config", "caisses.csv"),
            (
                "/a/config/../data/r/m=1/p.parquet",
                "/a/./config",
                "../data/r/m=1/p.parquet",
            ),
            ("/b/x.csv", "/a/config", "../../b/x.csv"),
        ];
        for (path, base, expected) in cases {
            assert_eq!(relative_to(Path::new(path), Path::new(base)), expected);
        }
    }

    /// Read in blocks, a file hashes as it does whole: empty, one block exactly, and a
    /// block and a byte.
    #[test]
    fn files_hashed_in_blocks_hash_as_whole() {
        let dir = std::env::temp_dir().join(format!("recours-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let block = 4096;
        for len in [0, 1, block - 1, block, block + 1, 3 * block + 17] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let path = dir.join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            let whole = blake3::hash(&bytes).to_hex().to_string();
            assert_eq!(hash_file_by(&path, block).unwrap(), whole, "{len} bytes");
            assert_eq!(hash_file(&path).unwrap(), whole, "{len} bytes");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
