//! What the portal serves: the files of each configured run folder, each under an id (the
//! first 16 hex characters of the BLAKE3 of its name in the manifest) and with the class of
//! people who may have it. Files are only ever found by run id and file id through this
//! catalog, never by a path the client sends. A run is served only when every output hashes
//! as its manifest records (`audit::verify::check_outputs`), checked when the portal starts;
//! a file whose size or modification time changed since is hashed again before it is sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::audit::verify::{Verification, check_outputs};
use crate::domain::month::Month;
use crate::domain::reference::Reference;
use crate::error::{RecoursError, Result};
use crate::stages::lists::exports;
use crate::tables::manifest::{Hasher, Manifest};
use crate::tables::run_folder::{RunFolder, names};

/// Who may download a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// One caisse's list of people (its caisse and the national team).
    Caisse(String),
    /// National files with people or per-caisse counts (the national team).
    National,
    /// The manifest, the report, the model cards (the auditor and the national team).
    Audit,
}

#[derive(Clone, Debug)]
pub struct CatalogFile {
    pub id: String,
    /// Name in the run folder (as the manifest records it).
    pub name: String,
    pub access: Access,
    /// Recorded hash.
    pub blake3: String,
    pub size: u64,
    /// What a person sees: `Excel (XLSX)`, `CSV pour Excel (;)`…
    pub label: String,
}

/// People per channel (or decision) of one caisse, from `lists/summary.csv`.
pub(crate) type Counts = BTreeMap<String, usize>;

pub struct Run {
    pub id: String,
    pub month: Month,
    pub folder: RunFolder,
    /// When the manifest was written (its modification time).
    pub date: String,
    pub files: Vec<CatalogFile>,
    /// Per caisse: people per channel or decision.
    pub counts: BTreeMap<String, Counts>,
    /// The integrity check: outputs checked, and those that differ or are not listed.
    pub check: Verification,
    /// The reference map the run was made with (caisses' names, the outcome checks).
    pub reference: Reference,
    /// The run's `[validation]` amount bounds (the outcome amounts' check).
    pub amount_bounds: crate::config::AmountBounds,
    /// (size, modification time) of each file as last hashed and found to match.
    checked: Mutex<BTreeMap<String, (u64, Option<SystemTime>)>>,
}

impl Run {
    /// Whether every output matched its manifest when the portal started.
    pub fn intact(&self) -> bool {
        self.check.mismatches() == 0
    }

    pub fn file(&self, id: &str) -> Option<&CatalogFile> {
        self.files.iter().find(|f| f.id == id)
    }

    pub(crate) fn files_of(&self, access: &Access) -> impl Iterator<Item = &CatalogFile> {
        self.files.iter().filter(move |f| &f.access == access)
    }

    pub fn caisses(&self) -> impl Iterator<Item = &String> {
        self.files.iter().filter_map(|f| match &f.access {
            Access::Caisse(c) if f.name.ends_with("contacts.parquet") => Some(c),
            _ => None,
        })
    }

    pub fn path(&self, f: &CatalogFile) -> PathBuf {
        self.folder.path(&f.name)
    }

    /// The file's path once it is known to hash as recorded: hashed again when its size or
    /// modification time changed since the last check.
    pub(crate) fn checked_path(&self, f: &CatalogFile) -> Result<PathBuf> {
        let path = self.path(f);
        let meta = std::fs::metadata(&path)
            .map_err(RecoursError::io(format!("reading {}", path.display())))?;
        let stamp = (meta.len(), meta.modified().ok());
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.get(&f.id) == Some(&stamp) {
            return Ok(path);
        }
        let found = Hasher::new(None).record(&path, String::new())?;
        if found.blake3 != f.blake3 {
            checked.remove(&f.id);
            return Err(RecoursError::Mismatch(1));
        }
        checked.insert(f.id.clone(), stamp);
        Ok(path)
    }
}

/// The id of a file: BLAKE3 of its name in the run folder, 16 hex characters.
pub fn file_id(name: &str) -> String {
    blake3::hash(name.as_bytes()).to_hex()[..16].to_string()
}

/// What a file is, for the page, by its name in a caisse's folder: the contacts in one of
/// the export formats, or the read-me.
fn caisse_label(file: &str) -> Option<&'static str> {
    if file == exports::README_FILE {
        return Some("LISEZ-MOI");
    }
    exports::format_of(file).map(|i| exports::FORMATS[i].label)
}

fn national_label(name: &str) -> Option<&'static str> {
    Some(match name {
        "lists/summary.csv" => "Synthèse nationale des listes (CSV)",
        "lists/decisions.parquet" => "Décisions de toutes les caisses (Parquet)",
        "lists/campaign-feedback.csv" => "Retours de campagne (CSV)",
        "lists/campaign-feedback.json" => "Retours de campagne (JSON)",
        _ => return None,
    })
}

fn audit_label(name: &str) -> Option<String> {
    let report = format!("{}/", names::REPORT);
    if name == names::MANIFEST {
        Some("Manifeste du traitement (JSON)".into())
    } else if let Some(rest) = name.strip_prefix(&report) {
        if rest == "index.html" || rest == "report.html" {
            Some("Rapport (HTML)".into())
        } else if rest.ends_with(".md") {
            Some(format!("Fiche de modèle {rest}"))
        } else if rest.ends_with(".html") || rest.ends_with(".csv") || rest.ends_with(".svg") {
            Some(format!("Rapport : {rest}"))
        } else {
            None
        }
    } else if name == names::FAIRNESS || name == names::QUALITY {
        Some(name.to_string())
    } else {
        None
    }
}

/// Reads `lists/summary.csv` (the excel-fr file of the lists: `Caisse;Prestations;Décision;
/// Canal;Personnes;…`, French headers) into people per caisse and channel code (listed
/// people) or decision code (the others).
fn read_counts(path: &Path) -> Result<BTreeMap<String, Counts>> {
    use crate::stages::lists::exports::canal_from_text;
    use crate::stages::lists::select::Decision;
    let text = std::fs::read_to_string(path)
        .map_err(RecoursError::io(format!("reading {}", path.display())))?;
    let bad = |message: String| RecoursError::Input {
        table: "lists/summary.csv".into(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = reader.records();
    let header: Vec<String> = match rows.next() {
        Some(h) => h
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(crate::io::excel::fold)
            .collect(),
        None => return Ok(BTreeMap::new()),
    };
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(format!("column {name:?} missing")))
    };
    let (caisse, decision, canal, people) = (
        at("caisse")?,
        at("decision")?,
        at("canal")?,
        at("personnes")?,
    );
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for row in rows {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let cell = |i: usize| row.get(i).unwrap_or("").trim();
        let n: usize = cell(people)
            .parse()
            .map_err(|_| bad(format!("people count {:?} is not a number", cell(people))))?;
        let what = match canal_from_text(cell(canal)) {
            Some(c) => c.code().to_string(),
            None => {
                let d = crate::io::excel::fold(cell(decision));
                Decision::ALL
                    .into_iter()
                    .find(|x| crate::io::excel::fold(x.label()) == d)
                    .map_or(d, |x| x.code().to_string())
            }
        };
        *out.entry(cell(caisse).to_string())
            .or_default()
            .entry(what)
            .or_default() += n;
    }
    Ok(out)
}

/// Loads one run folder: its manifest, its files and the integrity check of its outputs.
pub(crate) fn load_run(root: &Path) -> Result<Run> {
    let folder = RunFolder::new(root);
    let m = Manifest::read(root)?;
    let month = Month::parse(&m.config.month).ok_or_else(|| RecoursError::Config {
        file: folder.manifest(),
        message: format!("run month {:?} unreadable", m.config.month),
    })?;
    let cfg = m.config()?;
    let mut check = Verification::default();
    check_outputs(root, &m, &mut check);
    let date = std::fs::metadata(folder.manifest())
        .ok()
        .and_then(|md| md.modified().ok())
        .map(|t| {
            // `JJ/MM/AAAA`.
            let day = crate::portal::auditlog::utc_time(t);
            format!("{}/{}/{}", &day[8..10], &day[5..7], &day[..4])
        })
        .unwrap_or_default();
    let mut files = Vec::new();
    let lists = format!("{}/", names::LISTS);
    for o in m.outputs() {
        let name = o.path.as_str();
        let access_label = if let Some(rest) = name.strip_prefix(&lists) {
            match rest.split_once('/') {
                Some((caisse, file)) if !file.contains('/') => {
                    caisse_label(file).map(|l| (Access::Caisse(caisse.to_string()), l.to_string()))
                }
                _ => national_label(name).map(|l| (Access::National, l.to_string())),
            }
        } else {
            audit_label(name).map(|l| (Access::Audit, l))
        };
        if let Some((access, label)) = access_label {
            files.push(CatalogFile {
                id: file_id(name),
                name: name.to_string(),
                access,
                blake3: o.blake3.clone(),
                size: o.size,
                label,
            });
        }
    }
    // The manifest itself is not among its outputs: its hash is taken now.
    let manifest = Hasher::new(None).record(&folder.manifest(), String::new())?;
    files.push(CatalogFile {
        id: file_id(names::MANIFEST),
        name: names::MANIFEST.to_string(),
        access: Access::Audit,
        blake3: manifest.blake3,
        size: manifest.size,
        label: audit_label(names::MANIFEST).unwrap_or_default(),
    });
    let counts = if folder.lists_summary().exists() {
        read_counts(&folder.lists_summary())?
    } else {
        BTreeMap::new()
    };
    Ok(Run {
        id: m.run_id.clone(),
        month,
        folder,
        date,
        files,
        counts,
        check,
        amount_bounds: cfg.amount_bounds,
        reference: cfg.reference,
        checked: Mutex::new(BTreeMap::new()),
    })
}

/// Whether a run month's lists are still served in `current` month: a list is served in
/// its own month and the `months - 1` that follow.
pub(crate) fn list_served(run_month: Month, current: Month, months: u32) -> bool {
    let age = current.months_since(run_month);
    (0..months as i32).contains(&age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expire_after_the_configured_months() {
        let m = Month::parse("2025-09").unwrap();
        assert!(list_served(m, m, 2));
        assert!(list_served(m, Month::parse("2025-10").unwrap(), 2));
        assert!(!list_served(m, Month::parse("2025-11").unwrap(), 2));
        assert!(!list_served(m, Month::parse("2025-08").unwrap(), 2));
    }

    #[test]
    fn file_ids_are_not_paths() {
        let id = file_id("lists/CAF33/contacts.xlsx");
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
