//! Dated barèmes (`config/baremes.toml`): each series is a list of entries with the month
//! they take effect; [`Baremes::in_force`] picks, for a month, the values in force.

use std::path::Path;

use serde::Deserialize;

use crate::domain::month::Month;
use crate::error::{RecoursError, Result};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dated<T> {
    pub depuis: Month,
    /// Last month the entry is known to be in force (only on the latest entry).
    pub jusqu_a: Option<Month>,
    pub source: String,
    #[serde(flatten)]
    pub values: T,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RsaParams {
    pub montant_forfaitaire: f64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct PpaParams {
    pub montant_forfaitaire: f64,
    pub taux_revenus_activite: f64,
    pub bonification_taux_max: f64,
    pub bonification_seuil_bas_heures: f64,
    pub bonification_seuil_haut_heures: f64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AspaParams {
    pub plafond_seul: f64,
    pub plafond_couple: f64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct SmicParams {
    pub montant: f64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct FoyerParams {
    pub taux_deuxieme_personne: f64,
    pub taux_troisieme_ou_quatrieme_personne: f64,
    pub taux_personne_supplementaire: f64,
    pub majoration_isolement_base: f64,
    pub majoration_isolement_par_enfant: f64,
    pub majoration_isolement_age_max_enfant: i32,
    pub forfait_logement_une_personne: f64,
    pub forfait_logement_deux_personnes: f64,
    pub forfait_logement_trois_personnes_ou_plus: f64,
    pub minimum_verse_rsa: f64,
    pub minimum_verse_ppa: f64,
}

/// The whole barème file, every series with its history.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baremes {
    pub rsa: Vec<Dated<RsaParams>>,
    pub ppa: Vec<Dated<PpaParams>>,
    pub aspa: Vec<Dated<AspaParams>>,
    pub smic_horaire_brut: Vec<Dated<SmicParams>>,
    pub foyer: Vec<Dated<FoyerParams>>,
}

/// PPA values in force for one month of a reference quarter.
#[derive(Clone, Debug, PartialEq)]
pub struct PpaMonthParams {
    pub month: Month,
    pub ppa: PpaParams,
    pub smic_horaire_brut: f64,
}

/// The values in force for one month.
#[derive(Clone, Debug, PartialEq)]
pub struct Bareme {
    pub month: Month,
    pub rsa: RsaParams,
    pub ppa: PpaParams,
    pub aspa: AspaParams,
    pub smic_horaire_brut: f64,
    pub foyer: FoyerParams,
}

fn pick<'a, T>(series: &'a [Dated<T>], name: &str, month: Month) -> Result<&'a T> {
    let entry = series
        .iter()
        .filter(|e| e.depuis <= month)
        .max_by_key(|e| e.depuis)
        .ok_or_else(|| {
            let first = series.iter().map(|e| e.depuis).min();
            RecoursError::Bareme(match first {
                Some(f) => format!(
                    "no {name} barème in force for {month}: the earliest known one starts in {f}"
                ),
                None => format!("the {name} series is empty"),
            })
        })?;
    if let Some(end) = entry.jusqu_a
        && month > end
    {
        return Err(RecoursError::Bareme(format!(
            "no {name} barème in force for {month}: the latest known one (from {}) is valid \
             until {end}; add the next revaluation to config/baremes.toml",
            entry.depuis
        )));
    }
    Ok(&entry.values)
}

impl Baremes {
    pub fn load(path: &Path) -> Result<Baremes> {
        let text = std::fs::read_to_string(path).map_err(|e| RecoursError::Config {
            file: path.to_path_buf(),
            message: format!("cannot read barèmes: {e}"),
        })?;
        let b: Baremes = toml::from_str(&text).map_err(|e| RecoursError::Config {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        b.check(path)?;
        check_numbers(&text, path)?;
        Ok(b)
    }

    /// Only the latest entry of a series may end, and entries must not share a start.
    fn check(&self, path: &Path) -> Result<()> {
        fn series<T>(s: &[Dated<T>], name: &str, path: &Path) -> Result<()> {
            let latest = s.iter().map(|e| e.depuis).max();
            let mut starts: Vec<Month> = s.iter().map(|e| e.depuis).collect();
            starts.sort();
            starts.dedup();
            let bad = if starts.len() != s.len() {
                Some("two entries start in the same month".to_string())
            } else {
                s.iter()
                    .find(|e| e.jusqu_a.is_some() && Some(e.depuis) != latest)
                    .map(|e| format!("entry from {} has jusqu_a but is not the latest", e.depuis))
            };
            match bad {
                Some(message) => Err(RecoursError::Config {
                    file: path.to_path_buf(),
                    message: format!("[[{name}]]: {message}"),
                }),
                None => Ok(()),
            }
        }
        series(&self.rsa, "rsa", path)?;
        series(&self.ppa, "ppa", path)?;
        series(&self.aspa, "aspa", path)?;
        series(&self.smic_horaire_brut, "smic_horaire_brut", path)?;
        series(&self.foyer, "foyer", path)
    }

    /// PPA parameters and hourly SMIC in force in `month`: the PPA of a run month averages
    /// the amounts computed for each month of its reference quarter, each with that month's
    /// parameters (art. R844-1 CSS; OpenFisca-France `ppa`).
    pub(crate) fn ppa_in_force(&self, month: Month) -> Result<PpaMonthParams> {
        Ok(PpaMonthParams {
            month,
            ppa: pick(&self.ppa, "PPA", month)?.clone(),
            smic_horaire_brut: pick(&self.smic_horaire_brut, "SMIC", month)?.montant,
        })
    }

    /// PPA parameters for each month `run + from ..= run + to` of a reference quarter.
    pub fn ppa_quarter(&self, run: Month, (from, to): (i32, i32)) -> Result<Vec<PpaMonthParams>> {
        run.window(from, to).map(|m| self.ppa_in_force(m)).collect()
    }

    pub fn in_force(&self, month: Month) -> Result<Bareme> {
        Ok(Bareme {
            month,
            rsa: pick(&self.rsa, "RSA", month)?.clone(),
            ppa: pick(&self.ppa, "PPA", month)?.clone(),
            aspa: pick(&self.aspa, "ASPA", month)?.clone(),
            smic_horaire_brut: pick(&self.smic_horaire_brut, "SMIC", month)?.montant,
            foyer: pick(&self.foyer, "household composition", month)?.clone(),
        })
    }
}

/// Every number of the barème file is finite and not negative (amounts, rates, hours,
/// ages), and a `taux_*` is a share within [0, 1]: a NaN, an infinity or a negative amount
/// would reach every estimate and change the lists without an error. Every problem is
/// named, by series, entry and key.
fn check_numbers(text: &str, path: &Path) -> Result<()> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| RecoursError::Config {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut problems = Vec::new();
    for (series, entries) in &doc {
        for entry in entries.as_array().into_iter().flatten() {
            let Some(entry) = entry.as_table() else {
                continue;
            };
            let depuis = entry.get("depuis").and_then(|d| d.as_str()).unwrap_or("?");
            for (key, value) in entry {
                let x = match value {
                    toml::Value::Float(x) => *x,
                    toml::Value::Integer(i) => *i as f64,
                    _ => continue,
                };
                let most = if key.starts_with("taux_") {
                    1.0
                } else {
                    f64::MAX
                };
                if !(x.is_finite() && (0.0..=most).contains(&x)) {
                    let range = if most == 1.0 {
                        "a share within [0, 1]"
                    } else {
                        "a finite number, 0 or more"
                    };
                    problems.push(format!(
                        "[[{series}]] entry from {depuis}: {key} = {x} must be {range}"
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(RecoursError::Config {
        file: path.to_path_buf(),
        message: problems.join("\n  "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN, an infinity, a negative amount or a rate above 1 is refused, naming series,
    /// entry and key; the shipped file passes.
    #[test]
    fn every_number_of_the_bareme_file_is_in_range() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/baremes.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(check_numbers(&text, &file).is_ok());
        for (from, to, named) in [
            (
                "montant_forfaitaire = 646.52",
                "montant_forfaitaire = nan",
                "[[rsa]] entry from 2025-04: montant_forfaitaire",
            ),
            (
                "montant_forfaitaire = 646.52",
                "montant_forfaitaire = -646.52",
                "[[rsa]] entry from 2025-04",
            ),
            (
                "plafond_seul = 1012.02",
                "plafond_seul = inf",
                "plafond_seul = inf",
            ),
            (
                "taux_deuxieme_personne = 0.5",
                "taux_deuxieme_personne = 50.0",
                "taux_deuxieme_personne = 50 must be a share",
            ),
            (
                "majoration_isolement_age_max_enfant = 3",
                "majoration_isolement_age_max_enfant = -3",
                "majoration_isolement_age_max_enfant",
            ),
        ] {
            assert!(text.contains(from), "{from}");
            let bad = text.replacen(from, to, 1);
            let message = match check_numbers(&bad, &file) {
                Err(RecoursError::Config { message, .. }) => message,
                other => panic!("{to}: {other:?}"),
            };
            assert!(message.contains(named), "{to}: {message}");
        }
    }

    fn shipped() -> Baremes {
        Baremes::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/baremes.toml"))
            .unwrap()
    }

    #[test]
    fn revaluation_months_switch_values() {
        let b = shipped();
        let m = |s: &str| Month::parse(s).unwrap();
        assert_eq!(
            b.in_force(m("2025-03")).unwrap().rsa.montant_forfaitaire,
            635.71
        );
        assert_eq!(
            b.in_force(m("2025-04")).unwrap().rsa.montant_forfaitaire,
            646.52
        );
        assert_eq!(
            b.in_force(m("2026-04"))
                .unwrap()
                .ppa
                .bonification_seuil_haut_heures,
            138.0
        );
        assert_eq!(b.in_force(m("2025-12")).unwrap().aspa.plafond_seul, 1034.28);
        assert_eq!(
            b.in_force(m("2026-01")).unwrap().aspa.plafond_couple,
            1620.18
        );
        assert_eq!(b.in_force(m("2024-10")).unwrap().smic_horaire_brut, 11.65);
        assert_eq!(b.in_force(m("2024-11")).unwrap().smic_horaire_brut, 11.88);
        assert_eq!(b.in_force(m("2026-06")).unwrap().smic_horaire_brut, 12.31);
    }

    #[test]
    fn month_without_barème_is_an_error() {
        let b = shipped();
        let err = b
            .in_force(Month::parse("2024-03").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no RSA barème in force for 2024-03"), "{err}");
        let err = b
            .in_force(Month::parse("2027-01").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ASPA") && err.contains("2026-12"), "{err}");
    }
}
