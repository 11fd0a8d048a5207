//! The portal's audit log: one JSON line per login (success or failure), download, upload
//! and refusal, append-only and hash-chained: each entry carries its number, the BLAKE3
//! hash of the entry before it, and its own hash (BLAKE3 of the entry written with an
//! empty `hash`). `recours audit-log verify FILE` recomputes the chain, so an entry changed,
//! removed or moved breaks it from that entry on.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{RecoursError, Result};

/// The `prev` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event. Fields in a fixed order: the hash is over this serialisation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    /// Position in the log, from 0.
    pub n: u64,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    /// `connexion`, `deconnexion`, `telechargement`, `depot_retours`, `acces_refuse`,
    /// `demarrage`.
    pub event: String,
    /// `ok`, `echec`, `refuse`, `bloque`.
    pub outcome: String,
    pub user: String,
    pub role: String,
    pub caisse: String,
    pub run: String,
    /// The file downloaded or stored, as the run folder or the store names it.
    pub file: String,
    /// BLAKE3 of that file.
    pub blake3: String,
    /// The client's address.
    pub client: String,
    /// A short reason (French) for a refusal or a failure.
    pub detail: String,
    /// `hash` of the entry before (`GENESIS` for the first).
    pub prev: String,
    pub hash: String,
}

impl Entry {
    /// BLAKE3 of the entry with an empty `hash`.
    fn digest(&self) -> String {
        let mut e = self.clone();
        e.hash.clear();
        let body = serde_json::to_string(&e).unwrap_or_default();
        blake3::hash(body.as_bytes()).to_hex().to_string()
    }
}

/// UTC date and time of `t`, `YYYY-MM-DDTHH:MM:SSZ` (civil date from the day count,
/// proleptic Gregorian).
pub(crate) fn utc_time(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::domain::month::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What `verify` found.
#[derive(Debug, PartialEq)]
pub struct Check {
    pub entries: u64,
    /// The first broken line (1-based) and why, in French.
    pub broken: Option<(u64, String)>,
}

/// Recomputes the chain of the log at `path`.
pub fn verify(path: &Path) -> Result<Check> {
    let file = File::open(path).map_err(RecoursError::io(format!("opening {}", path.display())))?;
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(RecoursError::io(format!("reading {}", path.display())))?;
        let at = i as u64 + 1;
        let broken = |why: String| {
            Ok(Check {
                entries: n,
                broken: Some((at, why)),
            })
        };
        let entry: Entry = match serde_json::from_str(&line) {
            Ok(e) => e,
            Err(e) => return broken(format!("ligne illisible ({e})")),
        };
        if entry.n != n {
            return broken(format!(
                "entrée numéro {} à la place du numéro {n} (entrée retirée ou déplacée)",
                entry.n
            ));
        }
        if entry.prev != prev {
            return broken("le hachage de l'entrée précédente ne correspond pas (entrée retirée, déplacée ou modifiée)".into());
        }
        if entry.digest() != entry.hash {
            return broken(
                "le contenu de l'entrée ne correspond pas à son hachage (entrée modifiée)".into(),
            );
        }
        prev = entry.hash;
        n += 1;
    }
    Ok(Check {
        entries: n,
        broken: None,
    })
}

struct Tail {
    file: File,
    n: u64,
    prev: String,
}

/// The log being written: opened for appending after its existing chain is checked.
pub struct AuditLog {
    path: PathBuf,
    tail: Mutex<Tail>,
}

impl AuditLog {
    /// Opens (or creates) the log; a log whose chain is broken is refused (exit 6), so that
    /// the portal never appends to a log that was tampered with.
    pub fn open(path: &Path) -> Result<AuditLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(RecoursError::io(format!("creating {}", dir.display())))?;
        }
        let (n, prev) = if path.exists() {
            let check = verify(path)?;
            if let Some((line, why)) = check.broken {
                return Err(RecoursError::AuditLogBroken {
                    file: path.to_path_buf(),
                    line,
                    why,
                });
            }
            let last = last_hash(path)?;
            (check.entries, last.unwrap_or_else(|| GENESIS.to_string()))
        } else {
            (0, GENESIS.to_string())
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(RecoursError::io(format!("opening {}", path.display())))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            tail: Mutex::new(Tail { file, n, prev }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` (its `n`, `time`, `prev` and `hash` filled here) and syncs it to disk.
    pub(crate) fn append(&self, mut entry: Entry) -> Result<()> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        entry.n = tail.n;
        entry.time = utc_time(std::time::SystemTime::now());
        entry.prev = tail.prev.clone();
        entry.hash = entry.digest();
        let line = serde_json::to_string(&entry)
            .map_err(|e| RecoursError::Internal(format!("audit entry: {e}")))?;
        let context = || format!("writing {}", self.path.display());
        tail.file
            .write_all(format!("{line}\n").as_bytes())
            .map_err(RecoursError::io(context()))?;
        tail.file.sync_data().map_err(RecoursError::io(context()))?;
        tail.n += 1;
        tail.prev = entry.hash;
        Ok(())
    }
}

fn last_hash(path: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(RecoursError::io(format!("reading {}", path.display())))?;
    Ok(text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Entry>(l).ok())
        .map(|e| e.hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(dir: &Path, events: &[&str]) -> PathBuf {
        let path = dir.join("journal.jsonl");
        let _ = std::fs::remove_file(&path);
        let log = AuditLog::open(&path).unwrap();
        for e in events {
            log.append(Entry {
                event: e.to_string(),
                outcome: "ok".into(),
                ..Entry::default()
            })
            .unwrap();
        }
        path
    }

    #[test]
    fn the_chain_detects_change_removal_and_reordering() {
        let dir = std::env::temp_dir().join(format!("recours-auditlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = log_of(&dir, &["connexion", "telechargement", "depot_retours"]);
        assert_eq!(verify(&path).unwrap().broken, None);
        assert_eq!(verify(&path).unwrap().entries, 3);
        let lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let write = |ls: &[String]| std::fs::write(&path, ls.join("\n") + "\n").unwrap();
        // Changed.
        write(&[
            lines[0].clone(),
            lines[1].replace("telechargement", "connexion"),
            lines[2].clone(),
        ]);
        assert_eq!(verify(&path).unwrap().broken.unwrap().0, 2);
        // Removed.
        write(&[lines[0].clone(), lines[2].clone()]);
        assert_eq!(verify(&path).unwrap().broken.unwrap().0, 2);
        // Reordered.
        write(&[lines[1].clone(), lines[0].clone(), lines[2].clone()]);
        assert_eq!(verify(&path).unwrap().broken.unwrap().0, 1);
        // A broken log is not appended to.
        assert!(AuditLog::open(&path).is_err());
        // Reopened intact, the chain goes on.
        write(&lines);
        let log = AuditLog::open(&path).unwrap();
        log.append(Entry::default()).unwrap();
        assert_eq!(
            verify(&path).unwrap(),
            Check {
                entries: 4,
                broken: None
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn utc_time_is_civil() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_765_135_805);
        assert_eq!(utc_time(t), "2025-12-07T19:30:05Z");
        assert_eq!(crate::domain::month::civil_from_days(0), (1970, 1, 1));
    }
}
