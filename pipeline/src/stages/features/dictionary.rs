//! The `features` stage: one row per person and benefit in the scoring population (people
//! who pass the benefit's legal pre-filters and do not receive it), with the features of
//! the dictionary below. The dictionary is printed in the model card: each feature's name,
//! meaning, source tables and transformation, and the plain-French reason shown to a caisse
//! when the feature pushes a score up.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;

use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::domain::entitlement::Statut;
use crate::domain::month::Month;
use crate::error::{RecoursError, Result};
use crate::stages::eligibility::estimate::EligibilityRow;
use crate::stages::eligibility::household::{HISTORY, Households, Person};
use crate::tables::extracts::Extracts;

/// Why a feature is protected: used for fairness audits, a model feature only when the
/// configuration allows it explicitly (and the model card then says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protected {
    No,
    Age,
    Disability,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct FeatureDef {
    pub name: &'static str,
    pub meaning: &'static str,
    pub sources: &'static str,
    pub transform: &'static str,
    /// One-hot group: when a group's levels add up to 1 on every training row, training
    /// drops its most frequent level as the reference.
    pub group: Option<&'static str>,
    pub protected: Protected,
    /// Reason shown when the feature raises the score through a high value…
    pub reason_high: &'static str,
    /// …and through a low value.
    pub reason_low: &'static str,
}

const fn def(
    name: &'static str,
    meaning: &'static str,
    sources: &'static str,
    transform: &'static str,
    reason_high: &'static str,
    reason_low: &'static str,
) -> FeatureDef {
    FeatureDef {
        name,
        meaning,
        sources,
        transform,
        group: None,
        protected: Protected::No,
        reason_high,
        reason_low,
    }
}

const fn level(
    name: &'static str,
    group: &'static str,
    meaning: &'static str,
    sources: &'static str,
    reason: &'static str,
    protected: Protected,
) -> FeatureDef {
    FeatureDef {
        name,
        meaning,
        sources,
        transform: "1 if true, else 0",
        group: Some(group),
        protected,
        reason_high: reason,
        reason_low: "",
    }
}

/// The feature dictionary. `sexe` is never a feature and is not listed.
pub const DICTIONARY: &[FeatureDef] = &[
    FeatureDef {
        protected: Protected::Age,
        ..def(
            "age",
            "âge de la personne en années révolues au mois de référence",
            "personnes.naissance",
            "years",
            "âge avancé",
            "jeune âge",
        )
    },
    level(
        "age_moins_25",
        "tranche_age",
        "moins de 25 ans",
        "personnes.naissance",
        "moins de 25 ans",
        Protected::Age,
    ),
    level(
        "age_25_29",
        "tranche_age",
        "25 à 29 ans",
        "personnes.naissance",
        "25 à 29 ans",
        Protected::Age,
    ),
    level(
        "age_30_39",
        "tranche_age",
        "30 à 39 ans",
        "personnes.naissance",
        "30 à 39 ans",
        Protected::Age,
    ),
    level(
        "age_40_49",
        "tranche_age",
        "40 à 49 ans",
        "personnes.naissance",
        "40 à 49 ans",
        Protected::Age,
    ),
    level(
        "age_50_59",
        "tranche_age",
        "50 à 59 ans",
        "personnes.naissance",
        "50 à 59 ans",
        Protected::Age,
    ),
    level(
        "age_60_64",
        "tranche_age",
        "60 à 64 ans",
        "personnes.naissance",
        "60 à 64 ans",
        Protected::Age,
    ),
    level(
        "age_65_69",
        "tranche_age",
        "65 à 69 ans",
        "personnes.naissance",
        "65 à 69 ans",
        Protected::Age,
    ),
    level(
        "age_70_74",
        "tranche_age",
        "70 à 74 ans",
        "personnes.naissance",
        "70 à 74 ans",
        Protected::Age,
    ),
    level(
        "age_75_84",
        "tranche_age",
        "75 à 84 ans",
        "personnes.naissance",
        "75 à 84 ans",
        Protected::Age,
    ),
    level(
        "age_85_plus",
        "tranche_age",
        "85 ans ou plus",
        "personnes.naissance",
        "85 ans ou plus",
        Protected::Age,
    ),
    def(
        "couple",
        "la personne vit en couple",
        "foyers.role",
        "1 if a conjoint, else 0",
        "vit en couple",
        "vit sans conjoint",
    ),
    def(
        "nb_enfants",
        "enfants à charge (moins de 25 ans) dans le foyer",
        "foyers.role, personnes.naissance",
        "count",
        "enfants à charge",
        "sans enfant à charge",
    ),
    def(
        "taille_foyer",
        "personnes du foyer (adultes et enfants à charge)",
        "foyers",
        "count",
        "foyer nombreux",
        "foyer d'une personne",
    ),
    def(
        "parent_isole",
        "adulte seul avec enfants à charge",
        "foyers",
        "1 if true, else 0",
        "parent isolé",
        "",
    ),
    def(
        "enfant_moins_3_ans",
        "plus jeune enfant de moins de 3 ans",
        "foyers, personnes.naissance",
        "1 if true, else 0",
        "jeune enfant de moins de 3 ans",
        "",
    ),
    def(
        "naissance_recente",
        "naissance d'un enfant dans les 12 derniers mois (événement de vie)",
        "foyers, personnes.naissance",
        "1 if true, else 0",
        "naissance récente",
        "",
    ),
    level(
        "logement_proprietaire",
        "logement",
        "propriétaire de son logement",
        "logements.statut",
        "propriétaire de son logement",
        Protected::No,
    ),
    level(
        "logement_locataire_prive",
        "logement",
        "locataire du parc privé",
        "logements.statut",
        "locataire du parc privé",
        Protected::No,
    ),
    level(
        "logement_locataire_hlm",
        "logement",
        "locataire du parc social (HLM)",
        "logements.statut",
        "locataire HLM",
        Protected::No,
    ),
    level(
        "logement_heberge_gratuit",
        "logement",
        "hébergé gratuitement",
        "logements.statut",
        "hébergé gratuitement",
        Protected::No,
    ),
    level(
        "logement_sans_domicile",
        "logement",
        "sans domicile",
        "logements.statut",
        "sans domicile",
        Protected::No,
    ),
    level(
        "logement_inconnu",
        "logement",
        "logement inconnu (pas de ligne logements)",
        "logements",
        "logement inconnu",
        Protected::No,
    ),
    def(
        "revenus_activite_12m",
        "salaires mensuels moyens du foyer sur les 12 derniers mois",
        "ressources (salaire)",
        "euros per month",
        "revenus d'activité élevés",
        "revenus d'activité faibles",
    ),
    def(
        "revenus_activite_trimestre",
        "salaires mensuels moyens du foyer sur le trimestre de référence",
        "ressources (salaire)",
        "euros per month",
        "revenus d'activité récents élevés",
        "revenus d'activité récents faibles",
    ),
    def(
        "volatilite_revenus",
        "irrégularité des salaires mensuels du foyer sur 12 mois (coefficient de variation)",
        "ressources (salaire)",
        "standard deviation / mean, 0 without wages",
        "revenus d'activité irréguliers",
        "revenus d'activité stables",
    ),
    def(
        "mois_sans_salaire",
        "mois sans salaire parmi les 12 derniers",
        "ressources (salaire)",
        "count 0–12",
        "mois sans salaire",
        "travail régulier",
    ),
    def(
        "chomage_12m",
        "allocations chômage mensuelles moyennes du foyer sur 12 mois",
        "ressources (chomage)",
        "euros per month",
        "indemnités chômage",
        "pas d'indemnités chômage",
    ),
    def(
        "retraite_12m",
        "pensions de retraite mensuelles moyennes du foyer sur 12 mois",
        "ressources (retraite)",
        "euros per month",
        "pension de retraite élevée",
        "petite pension de retraite",
    ),
    def(
        "ij_12m",
        "indemnités journalières maladie mensuelles moyennes du foyer sur 12 mois",
        "ressources (ij)",
        "euros per month",
        "indemnités journalières maladie",
        "",
    ),
    def(
        "invalidite_12m",
        "pension d'invalidité mensuelle moyenne du foyer sur 12 mois",
        "ressources (invalidite)",
        "euros per month",
        "pension d'invalidité",
        "",
    ),
    def(
        "droit_al",
        "le foyer perçoit une aide au logement",
        "droits",
        "1 if true, else 0",
        "perçoit une aide au logement",
        "ne perçoit pas d'aide au logement",
    ),
    def(
        "droit_af",
        "le foyer perçoit des allocations familiales",
        "droits",
        "1 if true, else 0",
        "perçoit des allocations familiales",
        "",
    ),
    def(
        "droit_asf",
        "le foyer perçoit l'allocation de soutien familial",
        "droits",
        "1 if true, else 0",
        "perçoit l'allocation de soutien familial",
        "",
    ),
    def(
        "droit_css",
        "le foyer bénéficie de la complémentaire santé solidaire",
        "droits",
        "1 if true, else 0",
        "bénéficie de la complémentaire santé solidaire",
        "sans complémentaire santé solidaire",
    ),
    FeatureDef {
        protected: Protected::Disability,
        ..def(
            "droit_aah",
            "un membre du foyer perçoit l'allocation aux adultes handicapés",
            "droits",
            "1 if true, else 0",
            "perçoit l'AAH",
            "",
        )
    },
    def(
        "droit_are",
        "un membre du foyer est indemnisé par l'assurance chômage",
        "droits",
        "1 if true, else 0",
        "indemnisé par France Travail",
        "",
    ),
    def(
        "droit_ass",
        "un membre du foyer perçoit l'allocation de solidarité spécifique",
        "droits",
        "1 if true, else 0",
        "perçoit l'allocation de solidarité spécifique",
        "",
    ),
    def(
        "droit_retraite",
        "un membre du foyer a un droit à pension de retraite",
        "droits",
        "1 if true, else 0",
        "retraité",
        "",
    ),
    def(
        "droit_invalidite",
        "un membre du foyer a un droit à pension d'invalidité",
        "droits",
        "1 if true, else 0",
        "pension d'invalidité",
        "",
    ),
    def(
        "fin_droit_meme_prestation",
        "la même prestation a pris fin pour le foyer dans les 12 derniers mois",
        "droits",
        "1 if true, else 0",
        "droit à cette prestation terminé récemment",
        "",
    ),
    def(
        "fin_are_6m",
        "fin des droits au chômage dans les 6 derniers mois (événement de vie)",
        "droits (ARE)",
        "1 if true, else 0",
        "fin de droits au chômage récente",
        "",
    ),
    def(
        "atteint_65_ans",
        "a eu 65 ans dans les 12 derniers mois (événement de vie)",
        "personnes.naissance",
        "1 if true, else 0",
        "a eu 65 ans cette année",
        "",
    ),
    def(
        "eligible_estime",
        "le calcul à partir des ressources connues estime un droit au moins égal au minimum versé",
        "eligibility",
        "1 if the estimated amount is positive, else 0",
        "ressources sous le seuil de la prestation",
        "ressources au-dessus du seuil",
    ),
    def(
        "montant_estime",
        "droit mensuel estimé à partir des ressources connues",
        "eligibility",
        "euros per month",
        "droit estimé élevé",
        "droit estimé faible",
    ),
    def(
        "marge_ressources",
        "écart au seuil : montant forfaitaire ou plafond ASPA − ressources − forfait logement",
        "eligibility",
        "euros per month, negative above the threshold",
        "ressources sous le plafond",
        "ressources au-dessus du plafond",
    ),
    def(
        "espace_en_ligne",
        "a utilisé un espace en ligne dans les 12 derniers mois",
        "contacts",
        "1 if any caisse says so, else 0",
        "utilise son espace en ligne",
        "n'utilise pas d'espace en ligne",
    ),
    def(
        "canal_numerique_connu",
        "un mobile ou un e-mail est connu d'une caisse",
        "contacts",
        "1 if any, else 0",
        "joignable par SMS ou e-mail",
        "pas de mobile ni d'e-mail connu",
    ),
];

pub fn feature(name: &str) -> Option<&'static FeatureDef> {
    DICTIONARY.iter().find(|f| f.name == name)
}

/// The features a run uses: the dictionary minus excluded and not-allowed protected ones.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureSelection {
    pub active: Vec<&'static str>,
    pub excluded: Vec<(&'static str, String)>,
    /// The whole dictionary: meaning, sources, transformation, protection, reasons.
    pub dictionary: &'static [FeatureDef],
}

pub fn select(exclude: &[String], allow_protected: &[String]) -> FeatureSelection {
    let mut active = Vec::new();
    let mut excluded = Vec::new();
    for f in DICTIONARY {
        let allowed = |key: &str| allow_protected.iter().any(|a| a == key || a == f.name);
        if exclude
            .iter()
            .any(|e| e == f.name || Some(e.as_str()) == f.group)
        {
            excluded.push((f.name, "excluded by [features] exclude".to_string()));
        } else if f.protected == Protected::Age && !allowed("age") {
            excluded.push((
                f.name,
                "protected attribute (age), not allowed by [features] allow_protected".to_string(),
            ));
        } else if f.protected == Protected::Disability && !allowed("disability") {
            excluded.push((
                f.name,
                "protected attribute (disability), not allowed by [features] allow_protected"
                    .to_string(),
            ));
        } else {
            active.push(f.name);
        }
    }
    FeatureSelection {
        active,
        excluded,
        dictionary: DICTIONARY,
    }
}

/// Contact signals by person row in `h.persons`: (online account used, digital channel
/// (mobile or e-mail) known), from every contact row of the person, any caisse. Rows are
/// matched to persons in parallel; a row naming no person of `h` is left out.
pub fn contact_signals(x: &Extracts, h: &Households) -> Result<Vec<(bool, bool)>> {
    let mut out = vec![(false, false); h.persons.len()];
    let Some(c) = x.table("contacts") else {
        return Ok(out);
    };
    let col = |n: &str| crate::io::frame::bool_col(c, "contacts", n);
    let ids = crate::io::frame::str_col(c, "contacts", "pseudo_id")?;
    let (online, mobile, email) = (col("espace_en_ligne")?, col("mobile")?, col("email")?);
    // Each contact row's person: from the ingest of this run, or looked up by id.
    let rows = x.person_rows_of("contacts");
    let found: Vec<(u32, bool, bool)> = (0..c.height())
        .into_par_iter()
        .with_min_len(1 << 16)
        .filter_map(|i| {
            let id = ids.get(i)?;
            let person = match rows {
                Some(rows) => crate::tables::extracts::person_at(rows, i)?,
                None => h.person(id)?,
            };
            debug_assert_eq!(h.persons[person].pseudo_id, id, "the ingest's person row");
            let digital = mobile.get(i).unwrap_or(false) || email.get(i).unwrap_or(false);
            Some((person as u32, online.get(i).unwrap_or(false), digital))
        })
        .collect();
    for (person, online, digital) in found {
        let e = &mut out[person as usize];
        e.0 |= online;
        e.1 |= digital;
    }
    Ok(out)
}

/// The feature columns `names` of `df` into `values`, row-major (a missing value is NaN).
fn fill_values(df: &DataFrame, names: &[&str], values: &mut [f64]) -> Result<()> {
    let p = names.len();
    for (j, name) in names.iter().enumerate() {
        let c = crate::io::frame::f64_col(df, "features.parquet", name)?;
        for (i, v) in c.iter().enumerate() {
            values[i * p + j] = v.unwrap_or(f64::NAN);
        }
    }
    Ok(())
}

/// The feature table: one row per (person, benefit), values in dictionary order of `names`.
pub struct FeatureTable {
    pub month: Month,
    pub names: Vec<&'static str>,
    pub pseudo_id: Vec<String>,
    pub prestation: Vec<&'static str>,
    pub montant_estime: Vec<f64>,
    pub candidat_deterministe: Vec<bool>,
    /// Row-major values, `names.len()` per row.
    pub values: Vec<f64>,
    /// Each row's person in the [`Households`] the table was computed from (rows in
    /// `persons`); `None` for a table read back from `features.parquet`.
    pub person: Option<Vec<u32>>,
}

impl FeatureTable {
    pub fn row(&self, i: usize) -> &[f64] {
        let p = self.names.len();
        &self.values[i * p..(i + 1) * p]
    }
    pub fn len(&self) -> usize {
        self.pseudo_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pseudo_id.is_empty()
    }

    /// Rows `rows` as a DataFrame (`features.parquet` is written in batches of rows).
    pub fn to_frame(&self, rows: std::ops::Range<usize>) -> Result<DataFrame> {
        let p = self.names.len();
        use crate::io::frame::column;
        let month = self.month.to_string();
        let ids: Vec<&str> = self.pseudo_id[rows.clone()]
            .iter()
            .map(String::as_str)
            .collect();
        let mut cols = vec![
            column("pseudo_id", ids),
            column("prestation", self.prestation[rows.clone()].to_vec()),
            column("mois", vec![month.as_str(); rows.len()]),
            column(
                "eligibilite_montant_estime",
                self.montant_estime[rows.clone()].to_vec(),
            ),
            column(
                "eligibilite_candidat_deterministe",
                self.candidat_deterministe[rows.clone()].to_vec(),
            ),
        ];
        for (j, name) in self.names.iter().enumerate() {
            let v: Vec<f64> = rows.clone().map(|i| self.values[i * p + j]).collect();
            cols.push(column(name, v));
        }
        DataFrame::new_infer_height(cols).map_err(RecoursError::polars("features.parquet"))
    }

    /// Reads back `features.parquet` (a run resumed after this stage): the feature columns
    /// are the dictionary's, in the order written.
    /// Reads `features.parquet` a slice at a time (never the whole file decoded next to the
    /// table built from it: at 10 M people that was 2.7 GB more at the evaluate stage's peak).
    pub fn read(path: &std::path::Path, month: Month) -> Result<FeatureTable> {
        let mut slices =
            crate::io::frame::ParquetSlices::open(path, None, crate::io::frame::READ_SLICE_ROWS)?;
        let rows = slices.rows();
        let Some(first) = slices.next() else {
            return FeatureTable::from_frame(&crate::io::frame::read_parquet(path)?, month);
        };
        let mut table = FeatureTable::from_frame(&first?, month)?;
        table
            .values
            .reserve_exact(rows * table.names.len() - table.values.len());
        table.pseudo_id.reserve_exact(rows - table.len());
        for df in slices {
            let part = FeatureTable::from_frame(&df?, month)?;
            if part.names != table.names {
                return Err(RecoursError::Internal(format!(
                    "{}: columns differ between row groups",
                    path.display()
                )));
            }
            table.pseudo_id.extend(part.pseudo_id);
            table.prestation.extend(part.prestation);
            table.montant_estime.extend(part.montant_estime);
            table
                .candidat_deterministe
                .extend(part.candidat_deterministe);
            table.values.extend(part.values);
        }
        Ok(table)
    }

    /// Whether the values are in memory (see [`FeatureTable::release_values`]).
    pub fn has_values(&self) -> bool {
        self.values.len() == self.len() * self.names.len()
    }

    /// Drops the values (the bulk of the table), keeping the ids, benefits, amounts and
    /// rows' persons; [`FeatureTable::read_values`] reads them back.
    pub fn release_values(&mut self) {
        self.values = Vec::new();
    }

    /// Reads the values back from `features.parquet` (the file this table was written to),
    /// a slice of rows at a time.
    pub fn read_values(&mut self, path: &std::path::Path) -> Result<()> {
        self.read_values_by(path, crate::io::frame::READ_SLICE_ROWS)
    }

    fn read_values_by(&mut self, path: &std::path::Path, slice: usize) -> Result<()> {
        let names: Vec<&str> = self.names.clone();
        let slices = crate::io::frame::ParquetSlices::open(path, Some(&names), slice)?;
        if slices.rows() != self.len() {
            return Err(RecoursError::Internal(format!(
                "{}: {} rows where the stage computed {}",
                path.display(),
                slices.rows(),
                self.len()
            )));
        }
        let p = names.len();
        let mut values = Vec::with_capacity(self.len() * p);
        for df in slices {
            let df = df?;
            let start = values.len();
            values.resize(start + df.height() * p, 0.0);
            fill_values(&df, &names, &mut values[start..])?;
        }
        if values.len() != self.len() * p {
            return Err(RecoursError::Internal(format!(
                "{}: {} values read back where {} were written",
                path.display(),
                values.len(),
                self.len() * p
            )));
        }
        self.values = values;
        Ok(())
    }

    pub fn from_frame(df: &DataFrame, month: Month) -> Result<FeatureTable> {
        use crate::io::frame::{bool_col, f64_col, intern, str_col};
        const T: &str = "features.parquet";
        let fixed = [
            "pseudo_id",
            "prestation",
            "mois",
            "eligibilite_montant_estime",
            "eligibilite_candidat_deterministe",
        ];
        let mut names = Vec::new();
        for c in df.get_column_names() {
            if fixed.contains(&c.as_str()) {
                continue;
            }
            let f = feature(c.as_str()).ok_or_else(|| {
                RecoursError::Internal(format!("{T}: column {c} is not in the feature dictionary"))
            })?;
            names.push(f.name);
        }
        let n = df.height();
        let mut values = vec![0.0; n * names.len()];
        fill_values(df, &names, &mut values)?;
        Ok(FeatureTable {
            month,
            person: None,
            names,
            pseudo_id: {
                let c = str_col(df, T, "pseudo_id")?;
                (0..n)
                    .map(|i| c.get(i))
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect()
            },
            prestation: {
                let c = str_col(df, T, "prestation")?;
                (0..n)
                    .map(|i| c.get(i))
                    .map(|v| intern(v.unwrap_or_default()))
                    .collect()
            },
            montant_estime: {
                let c = f64_col(df, T, "eligibilite_montant_estime")?;
                (0..n).map(|i| c.get(i)).map(|v| v.unwrap_or(0.0)).collect()
            },
            candidat_deterministe: {
                let c = bool_col(df, T, "eligibilite_candidat_deterministe")?;
                (0..n)
                    .map(|i| c.get(i))
                    .map(|v| v.unwrap_or(false))
                    .collect()
            },
            values,
        })
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Features of every eligibility row whose person does not receive the benefit.
pub fn compute(
    h: &Households,
    rows: &[EligibilityRow],
    contacts: &[(bool, bool)],
    names: &[&'static str],
) -> FeatureTable {
    // Each selected feature's position among those computed, resolved once.
    let positions: Vec<usize> = names
        .iter()
        .map(|n| {
            COMPUTED.iter().position(|c| c == n).unwrap_or_else(|| {
                unreachable!("feature {n} is in the dictionary but not computed")
            })
        })
        .collect();
    let run = h.run_month;
    let selected: Vec<&EligibilityRow> = rows.iter().filter(|r| !r.recoit).collect();
    // Rows estimated in this run know their person and foyer; rows read back from
    // eligibility.parquet are found by id (maps of every person and foyer).
    let foyer_of = selected.iter().any(|r| r.at.is_none()).then(|| {
        h.foyers
            .iter()
            .enumerate()
            .map(|(i, f)| (f.foyer_id.as_str(), i))
            .collect::<HashMap<&str, usize>>()
    });
    let locate = |r: &EligibilityRow| match (r.at, &foyer_of) {
        (Some((person, foyer)), _) => (person as usize, foyer as usize),
        (None, Some(foyer_of)) => (
            h.person(&r.pseudo_id)
                .expect("an eligibility row names a person"),
            foyer_of[r.foyer_id.as_str()],
        ),
        (None, None) => unreachable!("the foyers' map is built when a row is not located"),
    };
    // Each row's (person, foyer), found once.
    let located: Vec<(u32, u32)> = selected
        .par_iter()
        .map(|r| {
            let (person, foyer) = locate(r);
            (person as u32, foyer as u32)
        })
        .collect();
    let p = names.len();
    let mut values = vec![0.0; selected.len() * p];
    // Rows are independent: computed in parallel, each into its slice of the row-major table.
    values
        .par_chunks_mut(p.max(1))
        .zip(selected.par_iter().zip(located.par_iter()))
        .for_each(|(out, (r, &(person_row, foyer)))| {
            let person_row = person_row as usize;
            let (person, foyer) = (&h.persons[person_row], &h.foyers[foyer as usize]);
            debug_assert!(
                person.pseudo_id == r.pseudo_id && foyer.foyer_id == r.foyer_id,
                "an eligibility row is located in the households it was estimated from"
            );
            let unit: Vec<&Person> = foyer.unit().map(|p| &h.persons[p]).collect();
            let children: Vec<i32> = foyer
                .children()
                .map(|c| h.persons[c].age)
                .filter(|a| *a < 25)
                .collect();
            let unit_wages: Vec<[f64; HISTORY]> = unit.iter().map(|p| p.activite()).collect();
            let wages: [f64; HISTORY] =
                std::array::from_fn(|k| unit_wages.iter().map(|w| w[k]).sum());
            let nature = |n: &str| -> f64 {
                mean(&std::array::from_fn::<f64, HISTORY, _>(|k| {
                    unit.iter()
                        .map(|p| {
                            p.par_nature
                                .iter()
                                .find(|(x, _)| *x == n)
                                .map_or(0.0, |(_, v)| v[k])
                        })
                        .sum()
                }))
            };
            let holds = |prest: &str| unit.iter().any(|p| p.receives(prest, run));
            let ended_within = |prest: &str, months: i32| {
                unit.iter().any(|p| {
                    p.droits.iter().any(|d| {
                        d.prestation == prest
                            && d.fin.is_some_and(|f| f < run && f >= run.plus(-months))
                    }) && !p.receives(prest, run)
                })
            };
            let w_mean = mean(&wages);
            let w_sd =
                (wages.iter().map(|w| (w - w_mean).powi(2)).sum::<f64>() / HISTORY as f64).sqrt();
            let (online, digital) = contacts[person_row];
            let age = person.age;
            let band = |lo: i32, hi: i32| f64::from(u8::from(age >= lo && age <= hi));
            let statut = |s: Option<Statut>| f64::from(u8::from(foyer.statut == s));
            let quarter = &r.revenus_activite;
            let b = |x: bool| f64::from(u8::from(x));
            let all: [f64; COMPUTED.len()] = [
                // age
                age as f64,
                // age_moins_25
                band(0, 24),
                // age_25_29
                band(25, 29),
                // age_30_39
                band(30, 39),
                // age_40_49
                band(40, 49),
                // age_50_59
                band(50, 59),
                // age_60_64
                band(60, 64),
                // age_65_69
                band(65, 69),
                // age_70_74
                band(70, 74),
                // age_75_84
                band(75, 84),
                // age_85_plus
                band(85, 200),
                // couple
                b(r.couple),
                // nb_enfants
                children.len() as f64,
                // taille_foyer
                r.taille_foyer as f64,
                // parent_isole
                b(!r.couple && !children.is_empty()),
                // enfant_moins_3_ans
                b(children.iter().any(|a| *a < 3)),
                // naissance_recente
                b(children.contains(&0)),
                // logement_proprietaire
                statut(Some(Statut::Proprietaire)),
                // logement_locataire_prive
                statut(Some(Statut::LocatairePrive)),
                // logement_locataire_hlm
                statut(Some(Statut::LocataireHlm)),
                // logement_heberge_gratuit
                statut(Some(Statut::HebergeGratuit)),
                // logement_sans_domicile
                statut(Some(Statut::SansDomicile)),
                // logement_inconnu
                statut(None),
                // revenus_activite_12m
                w_mean,
                // revenus_activite_trimestre
                *quarter,
                // volatilite_revenus
                { if w_mean > 0.0 { w_sd / w_mean } else { 0.0 } },
                // mois_sans_salaire
                wages.iter().filter(|w| **w <= 0.0).count() as f64,
                // chomage_12m
                nature("chomage"),
                // retraite_12m
                nature("retraite"),
                // ij_12m
                nature("ij"),
                // invalidite_12m
                nature("invalidite"),
                // droit_al
                b(holds("AL")),
                // droit_af
                b(holds("AF")),
                // droit_asf
                b(holds("ASF")),
                // droit_css
                b(holds("CSS")),
                // droit_aah
                b(holds("AAH")),
                // droit_are
                b(holds("ARE")),
                // droit_ass
                b(holds("ASS")),
                // droit_retraite
                b(holds("RETRAITE")),
                // droit_invalidite
                b(holds("INVALIDITE")),
                // fin_droit_meme_prestation
                b(ended_within(r.prestation, 12)),
                // fin_are_6m
                b(ended_within("ARE", 6)),
                // atteint_65_ans
                b(age == 65),
                // eligible_estime
                b(r.montant_estime > 0.0),
                // montant_estime
                r.montant_estime,
                // marge_ressources
                r.montant_forfaitaire - r.ressources - r.forfait_logement,
                // espace_en_ligne
                b(online),
                // canal_numerique_connu
                b(digital),
            ];
            for (o, &j) in out.iter_mut().zip(&positions) {
                *o = all[j];
            }
        });
    FeatureTable {
        month: run,
        names: names.to_vec(),
        pseudo_id: selected.iter().map(|r| r.pseudo_id.clone()).collect(),
        prestation: selected.iter().map(|r| r.prestation).collect(),
        montant_estime: selected.iter().map(|r| r.montant_estime).collect(),
        candidat_deterministe: selected.iter().map(|r| r.candidat_deterministe).collect(),
        values,
        person: Some(located.into_iter().map(|(person, _)| person).collect()),
    }
}

/// Every feature `compute` knows, in the order it computes them.
const COMPUTED: [&str; 48] = [
    "age",
    "age_moins_25",
    "age_25_29",
    "age_30_39",
    "age_40_49",
    "age_50_59",
    "age_60_64",
    "age_65_69",
    "age_70_74",
    "age_75_84",
    "age_85_plus",
    "couple",
    "nb_enfants",
    "taille_foyer",
    "parent_isole",
    "enfant_moins_3_ans",
    "naissance_recente",
    "logement_proprietaire",
    "logement_locataire_prive",
    "logement_locataire_hlm",
    "logement_heberge_gratuit",
    "logement_sans_domicile",
    "logement_inconnu",
    "revenus_activite_12m",
    "revenus_activite_trimestre",
    "volatilite_revenus",
    "mois_sans_salaire",
    "chomage_12m",
    "retraite_12m",
    "ij_12m",
    "invalidite_12m",
    "droit_al",
    "droit_af",
    "droit_asf",
    "droit_css",
    "droit_aah",
    "droit_are",
    "droit_ass",
    "droit_retraite",
    "droit_invalidite",
    "fin_droit_meme_prestation",
    "fin_are_6m",
    "atteint_65_ans",
    "eligible_estime",
    "montant_estime",
    "marge_ressources",
    "espace_en_ligne",
    "canal_numerique_connu",
];

/// Names of the dictionary, for checks.
pub fn dictionary_names() -> BTreeSet<&'static str> {
    DICTIONARY.iter().map(|f| f.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values released and read back, a few rows at a time, are the values written.
    #[test]
    fn released_values_read_back_are_the_values_written() {
        let names = select(&[], &[]).active;
        let n = 7;
        let p = names.len();
        let mut table = FeatureTable {
            month: Month::parse("2025-09").unwrap(),
            names,
            pseudo_id: (0..n).map(|i| format!("{i:064x}")).collect(),
            prestation: vec!["PPA"; n],
            montant_estime: (0..n).map(|i| i as f64 * 10.5).collect(),
            candidat_deterministe: (0..n).map(|i| i % 2 == 0).collect(),
            values: (0..n * p).map(|k| (k as f64).sqrt() - 3.0).collect(),
            person: Some((0..n as u32).collect()),
        };
        let dir = std::env::temp_dir().join(format!("recours-values-{}", std::process::id()));
        let path = dir.join("features.parquet");
        crate::io::output::write_parquet(&path, &mut table.to_frame(0..n).unwrap()).unwrap();
        let written = table.values.clone();
        table.release_values();
        assert!(!table.has_values());
        table.read_values_by(&path, 3).unwrap();
        assert!(table.has_values());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&table.values), bits(&written));
        assert_eq!(table.person, Some((0..n as u32).collect()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn protected_features_need_explicit_permission() {
        let none = select(&[], &[]);
        assert!(!none.active.contains(&"age") && !none.active.contains(&"droit_aah"));
        let age = select(&[], &["age".into()]);
        assert!(age.active.contains(&"age") && age.active.contains(&"age_85_plus"));
        assert!(!age.active.contains(&"droit_aah"));
        let ex = select(&["logement".into(), "couple".into()], &[]);
        assert!(
            !ex.active
                .iter()
                .any(|f| f.starts_with("logement_") || *f == "couple")
        );
        assert!(
            DICTIONARY.iter().all(|f| f.name != "sexe"),
            "sexe is never a feature"
        );
    }
}
