//! Reference data shipped in `config/`: départements (with population, used by the
//! generator's weights) and the caisses map (which CAF, CPAM, CARSAT/CNAV/CGSS and MSA
//! covers each département).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{RecoursError, Result};

#[derive(Clone, Debug)]
pub struct Departement {
    pub code: String,
    pub nom: String,
    pub population: u64,
    pub region: String,
    pub caf: String,
    pub cpam: String,
    /// Pension caisse of the general regime (CARSAT, CNAV in Île-de-France, CGSS, CSSM).
    pub carsat: String,
    /// Agricultural regime caisse (the CGSS / CSSM overseas).
    pub msa: String,
}

#[derive(Clone, Debug)]
pub struct Caisse {
    pub code: String,
    pub branche: String,
    pub libelle: String,
    pub departements: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Reference {
    /// Sorted by code.
    pub departements: Vec<Departement>,
    /// Keyed by code.
    pub caisses: BTreeMap<String, Caisse>,
}

fn read_csv(path: &Path, header: &str) -> Result<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(path).map_err(|e| RecoursError::Config {
        file: path.to_path_buf(),
        message: format!("cannot read reference file: {e}"),
    })?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if first.trim_start_matches('\u{feff}') != header {
        return Err(RecoursError::Config {
            file: path.to_path_buf(),
            message: format!("header must be '{header}', found '{first}'"),
        });
    }
    let width = header.split(',').count();
    let columns: Vec<&str> = header.split(',').collect();
    let mut rows = Vec::new();
    // A NIR-like value anywhere in the file (a label, a code, a value split by commas)
    // would be copied into the caisses' lists and the report: the run stops, naming the
    // file and the first column that holds one, never the value.
    let mut nir_lines = 0;
    let mut nir_column = None;
    for line in text.lines().skip(1) {
        if crate::domain::nir::is_nir_like(line) {
            nir_lines += 1;
            let fields: Vec<&str> = line.split(',').collect();
            let col = (0..columns.len())
                .find(|&k| {
                    fields
                        .get(k)
                        .is_some_and(|f| crate::domain::nir::is_nir_like(f))
                })
                .map_or("(spread over several columns)", |k| columns[k]);
            nir_column.get_or_insert(col);
        }
    }
    if let Some(column) = nir_column {
        return Err(RecoursError::Privacy {
            table: format!("reference file {}", path.display()),
            column: column.to_string(),
            count: nir_lines,
        });
    }
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = line.split(',').map(|s| s.trim().to_string()).collect();
        if fields.len() != width {
            return Err(RecoursError::Config {
                file: path.to_path_buf(),
                message: format!(
                    "line {}: expected {width} fields, found {}",
                    i + 2,
                    fields.len()
                ),
            });
        }
        rows.push(fields);
    }
    Ok(rows)
}

/// The longest caisse code accepted.
const MAX_CAISSE_CODE: usize = 64;

/// Whether `code` is a caisse code: capital letters, digits and dashes, starting with a
/// letter or a digit (`CAF33`, `CARSAT-AQUITAINE`). A code becomes a folder and file name
/// (`lists/<code>/`) and a cell of the national files: nothing else may reach them (no
/// `/`, `.`, `..`, nor a leading `=`, `+`, `-`, `@` a spreadsheet would read as a formula).
pub(crate) fn is_caisse_code(code: &str) -> bool {
    let b = code.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_CAISSE_CODE
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-')
}

impl Reference {
    pub fn load(departements: &Path, caisses: &Path) -> Result<Reference> {
        let mut deps = Vec::new();
        for f in read_csv(
            departements,
            "code,nom,population,region,caf,cpam,carsat,msa",
        )? {
            let population = f[2].parse().map_err(|_| RecoursError::Config {
                file: departements.to_path_buf(),
                message: format!(
                    "département {}: population '{}' is not an integer",
                    f[0], f[2]
                ),
            })?;
            deps.push(Departement {
                code: f[0].clone(),
                nom: f[1].clone(),
                population,
                region: f[3].clone(),
                caf: f[4].clone(),
                cpam: f[5].clone(),
                carsat: f[6].clone(),
                msa: f[7].clone(),
            });
        }
        if deps.is_empty() {
            return Err(RecoursError::Config {
                file: departements.to_path_buf(),
                message: "lists no département: every person's département would be unknown".into(),
            });
        }
        deps.sort_by(|a, b| a.code.cmp(&b.code));
        if let Some(w) = deps.windows(2).find(|w| w[0].code == w[1].code) {
            return Err(RecoursError::Config {
                file: departements.to_path_buf(),
                message: format!(
                    "column code: département {} is listed twice (one line per département)",
                    w[0].code
                ),
            });
        }
        let mut map = BTreeMap::new();
        let rows = read_csv(caisses, "code,branche,libelle,departements")?;
        let bad: Vec<String> = rows
            .iter()
            .enumerate()
            .filter(|(_, f)| !is_caisse_code(&f[0]))
            .map(|(i, f)| format!("line {}: '{}'", i + 2, f[0].escape_default()))
            .collect();
        if !bad.is_empty() {
            return Err(RecoursError::Config {
                file: caisses.to_path_buf(),
                message: format!(
                    "column code: {} caisse code(s) not made of capital letters, digits and \
                     dashes (starting with a letter or digit, at most {MAX_CAISSE_CODE} \
                     characters; a code names the caisse's list folder and files): {}",
                    bad.len(),
                    bad.join(", ")
                ),
            });
        }
        for (i, f) in rows.into_iter().enumerate() {
            if map.contains_key(&f[0]) {
                return Err(RecoursError::Config {
                    file: caisses.to_path_buf(),
                    message: format!(
                        "line {}, column code: caisse {} is listed twice (one line per caisse)",
                        i + 2,
                        f[0]
                    ),
                });
            }
            let departements = f[3].split_whitespace().map(str::to_string).collect();
            map.insert(
                f[0].clone(),
                Caisse {
                    code: f[0].clone(),
                    branche: f[1].clone(),
                    libelle: f[2].clone(),
                    departements,
                },
            );
        }
        let reference = Reference {
            departements: deps,
            caisses: map,
        };
        for d in &reference.departements {
            for code in [&d.caf, &d.cpam, &d.carsat, &d.msa] {
                if !reference.caisses.contains_key(code) {
                    return Err(RecoursError::Config {
                        file: caisses.to_path_buf(),
                        message: format!("caisse {code} (département {}) is not listed", d.code),
                    });
                }
            }
        }
        Ok(reference)
    }

    pub fn departement_index(&self, code: &str) -> Option<usize> {
        self.departements
            .binary_search_by(|d| d.code.as_str().cmp(code))
            .ok()
    }

    pub(crate) fn is_caisse(&self, code: &str) -> bool {
        self.caisses.contains_key(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caisse_codes_that_could_become_paths_or_formulas_are_refused() {
        for good in ["CAF33", "CAF2A", "CARSAT-AQUITAINE", "CNAV", "FT", "1"] {
            assert!(is_caisse_code(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../../x",
            "/abs",
            "CAF33/..",
            "=1+2",
            "+1",
            "-CAF",
            "@SUM",
            "caf33",
            "CAF 33",
            "CAF\t33",
            "CAF33\n",
            "CAF.33",
            "CAF\\33",
            "CAFÉ",
            &"A".repeat(65),
        ] {
            assert!(!is_caisse_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn shipped_reference_map_is_complete() {
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let r = Reference::load(&cfg.join("departements.csv"), &cfg.join("caisses.csv")).unwrap();
        assert_eq!(r.departements.len(), 101);
        let count = |b: &str| r.caisses.values().filter(|c| c.branche == b).count();
        assert_eq!(count("CAF"), 101);
        assert_eq!(count("CARSAT"), 15);
        assert_eq!(count("MSA"), 35);
        let total: u64 = r.departements.iter().map(|d| d.population).sum();
        assert!((66_000_000..69_000_000).contains(&total), "{total}");
        let gironde = &r.departements[r.departement_index("33").unwrap()];
        assert_eq!(
            (
                gironde.caf.as_str(),
                gironde.carsat.as_str(),
                gironde.msa.as_str()
            ),
            ("CAF33", "CARSAT-AQUITAINE", "MSA-GIRONDE")
        );
        assert_eq!(
            r.departements[r.departement_index("75").unwrap()].carsat,
            "CNAV"
        );
    }
}
