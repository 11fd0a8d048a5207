//! `recours explain RUN_FOLDER --person ID`: what CRPA art. R311-3-1-2 asks a public body
//! to tell a person about an algorithmic treatment concerning them — the data used and
//! their sources, the parameters and their weighting applied to the person's situation —
//! "sous une forme intelligible".
//!
//! One [`Explanation`] gathered from the run folder, shown three ways: the one-page
//! letter for the person concerned ([`Explanation::to_text`]: no formula, no column name,
//! no other person's id), the auditor's detail ([`Explanation::to_detail`]: every term of
//! the score) and JSON (stable keys, [`SCHEMA_VERSION`]).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use recours_models::train::ModelArtefact;
use serde::Serialize;

use crate::domain::bareme::Bareme;
use crate::domain::fr;
use crate::domain::month::Month;
use crate::domain::reference::Reference;
use crate::error::{RecoursError, Result};
use crate::stages::features::dictionary as features;
use crate::stages::lists::select::{Decision, caisse_for};
use crate::tables::manifest::Manifest;
use crate::tables::run_folder::RunFolder;

/// Version of the JSON written by `explain --json`.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Reasons an explanation gives per benefit.
const MAIN_REASONS: usize = 3;

/// Rows of one source, as the auditor's detail shows them: column → value. Ids (the
/// person's, the foyer's, the members') are never among them.
#[derive(Clone, Debug, Serialize)]
pub struct DataItem {
    pub source: String,
    pub values: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Term {
    pub variable: String,
    pub signification: String,
    pub valeur: f64,
    pub moyenne: f64,
    pub ecart_type: f64,
    pub valeur_standardisee: f64,
    pub coefficient: f64,
    pub contribution: f64,
}

/// One line of the estimated amount: what it is and its monthly amount in euros (negative
/// when it is deducted).
#[derive(Clone, Debug, Serialize)]
pub struct AmountLine {
    pub libelle: String,
    pub montant: f64,
}

/// One month of the PPA reference quarter, as the estimate computed it (each figure
/// cent-rounded): the month's amount is montant forfaitaire + part + bonuses − the larger
/// of the montant forfaitaire and resources + forfait logement, 0 when negative.
#[derive(Clone, Debug, Serialize)]
pub struct PpaMonthLine {
    pub mois: String,
    pub montant_forfaitaire: f64,
    pub revenus_activite: f64,
    pub part_revenus_activite: f64,
    pub bonifications: f64,
    pub ressources: f64,
    pub forfait_logement: f64,
    /// The larger of the montant forfaitaire and resources + forfait logement.
    pub deduction: f64,
    pub montant: f64,
}

/// How the monthly entitlement was estimated: the reference months, the barème lines
/// applied to the person's unit, and the result.
#[derive(Clone, Debug, Serialize)]
pub struct AmountDetail {
    /// The months whose resources the estimate averages (`YYYY-MM`).
    pub mois_reference: Vec<String>,
    /// The barème in force at the run month (its source as `baremes.toml` gives it).
    pub bareme: Option<String>,
    /// The lines that add up to `montant_calcule` (PPA: the quarter's averages).
    pub lignes: Vec<AmountLine>,
    /// PPA: each month of the quarter, whose amounts `montant_calcule` averages.
    pub ppa_mois: Vec<PpaMonthLine>,
    pub montant_calcule: f64,
    /// The smallest amount paid (RSA, PPA); under it nothing is paid.
    pub minimum_verse: Option<f64>,
    pub montant_estime: f64,
    /// For the RSA and PPA of a hosted adult (an `autre_adulte`, or an `enfant` of 25 or
    /// more): why the unit is a foyer of one, and the housing it is estimated with.
    pub foyer_propre: Option<String>,
}

/// One of the main reasons of a score: the dictionary's wording, its contribution to the
/// linear predictor and that weight in words.
#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    pub raison: String,
    pub variable: String,
    pub contribution: f64,
    pub poids: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenefitExplanation {
    pub prestation: String,
    pub constante: f64,
    pub termes: Vec<Term>,
    pub probabilite: f64,
    pub montant_estime: f64,
    pub candidat_deterministe: bool,
    pub montant: Option<AmountDetail>,
    pub raisons: Vec<Reason>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DecisionExplanation {
    pub caisse: String,
    pub caisse_libelle: String,
    pub prestations: String,
    pub decision: String,
    pub explication: String,
    pub rang_priorite: u32,
    pub rang_liste: Option<u32>,
    pub canal: Option<String>,
    pub raisons: String,
}

/// Where the person can claim a benefit: the caisse in charge of it for their département
/// and régime, and its website.
#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    pub prestation: String,
    pub caisse: Option<String>,
    pub caisse_libelle: Option<String>,
    pub site: String,
}

/// The person's situation in words, as the letter sums it up.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Situation {
    pub naissance: Option<String>,
    pub age: Option<i32>,
    pub departement: Option<String>,
    pub departement_nom: Option<String>,
    pub regime: Option<String>,
    pub role: Option<String>,
    /// The other members of the foyer by role (no ids): role → count.
    pub autres_membres: BTreeMap<String, usize>,
    pub logement: Option<String>,
    /// Rights held (RNCPS): benefit, caisse, first and last month.
    pub droits: Vec<(String, String, String, Option<String>)>,
    /// Monthly resources lines (BRM), the first and last month, the natures and sources.
    pub ressources_lignes: usize,
    pub ressources_de: Option<String>,
    pub ressources_a: Option<String>,
    pub ressources_natures: Vec<String>,
    pub ressources_sources: Vec<String>,
    /// Per caisse: the channels it knows (no value), online account used, objection.
    pub contacts: Vec<(String, Vec<String>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub schema_version: u32,
    pub pseudo_id: String,
    pub run_id: String,
    pub mois: String,
    pub situation: Situation,
    pub donnees: Vec<DataItem>,
    pub prestations: Vec<BenefitExplanation>,
    pub decisions: Vec<DecisionExplanation>,
    pub demarches: Vec<Claim>,
    /// Deterministic candidates: estimated at least this much a month, listed whatever
    /// the score.
    pub seuil_deterministe: f64,
    /// Caisse code → its name (reference map), for the caisses the explanation names.
    #[serde(skip)]
    libelles: BTreeMap<String, String>,
}

fn rows_of(path: &Path, column: &str, value: &str) -> Result<DataFrame> {
    rows_where(path, column, lit(value))
}

fn rows_where(path: &Path, column: &str, value: Expr) -> Result<DataFrame> {
    if !path.exists() {
        return Ok(DataFrame::empty());
    }
    LazyFrame::scan_parquet(
        PlRefPath::new(path.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .and_then(|lf| lf.filter(col(column).eq(value)).collect())
    .map_err(RecoursError::polars(format!("reading {}", path.display())))
}

/// The row (0-based) of `person` in the ingest stage's `personnes.parquet`.
fn person_row(path: &Path, person: &str) -> Result<u32> {
    let df = LazyFrame::scan_parquet(
        PlRefPath::new(path.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .and_then(|lf| {
        lf.with_row_index("row", None)
            .filter(col("pseudo_id").eq(lit(person)))
            .select([col("row")])
            .collect()
    })
    .map_err(RecoursError::polars(format!("reading {}", path.display())))?;
    df.column("row")
        .ok()
        .and_then(|c| c.idx().ok().and_then(|c| c.get(0)))
        .ok_or_else(|| RecoursError::Internal(format!("{person} is not in {}", path.display())))
}

fn cell(c: &Column, i: usize) -> String {
    match c.get(i) {
        Ok(AnyValue::Null) | Err(_) => String::new(),
        // Text (also categorical) as it is, without the quotes of `AnyValue`'s Display.
        Ok(v) => v.str_value().into_owned(),
    }
}

fn text_at(df: &DataFrame, column: &str, i: usize) -> Option<String> {
    df.column(column)
        .ok()
        .map(|c| cell(c, i))
        .filter(|s| !s.is_empty())
}

fn f64_at(df: &DataFrame, column: &str, i: usize) -> Option<f64> {
    df.column(column)
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
        .and_then(|c| c.f64().ok().and_then(|v| v.get(i)))
}

fn bool_at(df: &DataFrame, column: &str, i: usize) -> Option<bool> {
    df.column(column)
        .ok()
        .and_then(|c| c.bool().ok().and_then(|v| v.get(i)))
}

fn u32_at(df: &DataFrame, column: &str, i: usize) -> Option<u32> {
    df.column(column)
        .ok()
        .and_then(|c| c.cast(&DataType::UInt32).ok())
        .and_then(|c| c.u32().ok().and_then(|v| v.get(i)))
}

/// Columns never shown: ids (of the person, the foyer, the other members) and the row
/// number standing for the person in the monthly resources.
const IDS: [&str; 3] = ["pseudo_id", "foyer_id", crate::tables::extracts::PERSON_ROW];

fn items(df: &DataFrame, source: &str, skip: &[&str]) -> Vec<DataItem> {
    (0..df.height())
        .map(|i| DataItem {
            source: source.to_string(),
            values: df
                .columns()
                .iter()
                .filter(|c| !skip.contains(&c.name().as_str()) && !IDS.contains(&c.name().as_str()))
                .map(|c| (c.name().to_string(), cell(c, i)))
                .collect(),
        })
        .collect()
}

/// The sources an explanation names, in the order it shows them.
const SOURCES: [&str; 7] = [
    "RNCPS — personnes (identité)",
    "RNCPS — foyers (liens de vie)",
    "RNCPS — membres du foyer",
    "logement du foyer",
    "RNCPS — droits",
    "BRM — ressources mensuelles (DSN, PASRAU)",
    "caisses — canaux de contact connus",
];

/// An id as a person or an agent may paste it (from a spreadsheet: a trailing space,
/// capitals) in the form the extracts carry it.
pub(crate) fn normalise_id(id: &str) -> String {
    id.trim().to_lowercase()
}

/// What an id given on the command line looks like, without repeating it (it could be a
/// NIR pasted by mistake: no NIR-like value is ever written).
fn describe_id(id: &str) -> String {
    let hex = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit());
    if hex && id.len() == 64 {
        "un identifiant pseudonymisé de 64 caractères hexadécimaux".into()
    } else if id.is_empty() {
        "un identifiant vide".into()
    } else {
        format!(
            "une valeur de {} caractère(s) qui n'a pas la forme d'un identifiant pseudonymisé \
             (64 caractères hexadécimaux)",
            id.chars().count()
        )
    }
}

/// How much a reason weighs, in words, from its contribution to the linear predictor (log
/// odds): 1 moves a probability of 50 % to 73 %, 0.5 to 62 %, 0.2 to 55 %.
pub(crate) fn weight_in_words(contribution: f64) -> &'static str {
    if contribution >= 1.0 {
        "poids très fort"
    } else if contribution >= 0.5 {
        "poids fort"
    } else if contribution >= 0.2 {
        "poids moyen"
    } else {
        "poids faible"
    }
}

/// The reference map and the barème in force at the run month, from the config the run
/// was made with; `None` when its folder is no longer where the manifest says (the
/// explanation then names caisses by their codes and leaves the barème's source out).
fn reference_of(m: &Manifest, month: Month) -> (Option<Reference>, Option<Bareme>) {
    match crate::config::load_reference(Path::new(&m.config_file), &m.config) {
        Ok((r, b)) => (Some(r), b.in_force(month).ok()),
        Err(_) => (None, None),
    }
}

/// The months of a reference quarter given as offsets from the run month.
fn quarter(month: Month, q: [i32; 2]) -> Vec<String> {
    month.window(q[0], q[1]).map(|m| m.to_string()).collect()
}

/// The barème lines of one row of `eligibility.parquet` (row `i`), as the estimate
/// applies them (domain::entitlement: `rsa`, `ppa`, `aspa`).
fn amount_detail(
    e: &DataFrame,
    i: usize,
    benefit: &str,
    months: Vec<String>,
    bareme: Option<&Bareme>,
) -> AmountDetail {
    let f = |c: &str| f64_at(e, c, i).unwrap_or(0.0);
    let size = u32_at(e, "taille_foyer", i).unwrap_or(1);
    let people = if size > 1 { "personnes" } else { "personne" };
    let statut = text_at(e, "statut_logement", i);
    // A hosted adult's RSA/PPA unit is a foyer of its own (household::is_hosted).
    let hosted = benefit != "ASPA"
        && matches!(
            text_at(e, "role_porteur", i).as_deref(),
            Some("autre_adulte" | "enfant")
        );
    let foyer = if hosted {
        "vous seul(e)".to_string()
    } else if bool_at(e, "majoration_isolement", i).unwrap_or(false) {
        format!("foyer de {size} {people}, majoré pour parent isolé")
    } else {
        format!("foyer de {size} {people}")
    };
    let (mf, part, bonus, res, fl, calc) = (
        f("montant_forfaitaire"),
        f("part_revenus_activite"),
        f("bonifications"),
        f("ressources"),
        f("forfait_logement"),
        f("montant_calcule"),
    );
    let line = |l: String, m: f64| AmountLine {
        libelle: l,
        montant: m,
    };
    let ppa_mois = if benefit == "PPA" {
        ppa_month_lines(e, i, &months)
    } else {
        Vec::new()
    };
    let (lignes, minimum) = match benefit {
        "PPA" => {
            let revenus = f("revenus_activite");
            let taux = bareme.map_or_else(
                || if revenus > 0.0 { part / revenus } else { 0.0 },
                |b| b.ppa.taux_revenus_activite,
            );
            let n = ppa_mois.len().max(1) as f64;
            let mean = |v: fn(&PpaMonthLine) -> f64| ppa_mois.iter().map(v).sum::<f64>() / n;
            // Without the months (a run folder written before they were kept), the
            // deduction is what the averages leave.
            let deduction = if ppa_mois.is_empty() {
                mf + part + bonus - calc
            } else {
                mean(|m| m.deduction)
            };
            let mut lignes = vec![
                line(
                    format!("Montant forfaitaire ({foyer}), moyenne des mois"),
                    mf,
                ),
                line(
                    format!(
                        "Part des revenus d'activité du foyer retenue ({}{}% de {} par mois en moyenne)",
                        fr::number(100.0 * taux, 2),
                        fr::UNIT_SPACE,
                        fr::euros(revenus)
                    ),
                    part,
                ),
                line(
                    "Bonifications individuelles des revenus d'activité, moyenne des mois".into(),
                    bonus,
                ),
                line(
                    format!(
                        "Déduction, moyenne des mois : le plus élevé du montant forfaitaire et \
                         des ressources du mois (en moyenne {}) plus le forfait logement ({})",
                        fr::euros(res),
                        fr::euros(fl)
                    ),
                    -deduction,
                ),
            ];
            // A month whose amount is negative counts 0 €: what that adds to the average.
            let negative = calc - (mf + part + bonus - deduction);
            if negative.abs() >= 0.005 {
                lignes.push(line(
                    "Mois au droit négatif, comptés 0 € : ce qu'ils ajoutent à la moyenne".into(),
                    negative,
                ));
            }
            (lignes, bareme.map(|b| b.foyer.minimum_verse_ppa))
        }
        "RSA" => (
            vec![
                line(format!("Montant forfaitaire ({foyer})"), mf),
                line(
                    format!(
                        "Ressources du foyer, moyenne mensuelle de {}, dont prestations \
                         comptées ({}) et ASPA due ({})",
                        months_words(&months),
                        fr::euros(f("prestations_comptees")),
                        fr::euros(f("aspa_comptee"))
                    ),
                    -res,
                ),
                line(
                    format!(
                        "Forfait logement ({})",
                        housing_basis(statut.as_deref(), fl)
                    ),
                    -fl,
                ),
            ],
            bareme.map(|b| b.foyer.minimum_verse_rsa),
        ),
        _ => {
            let couple = bool_at(e, "couple", i).unwrap_or(false);
            let mut lignes = vec![
                line(
                    if couple {
                        "Plafond de ressources (couple)".into()
                    } else {
                        "Plafond de ressources (personne seule)".into()
                    },
                    mf,
                ),
                line(
                    format!(
                        "Ressources du foyer prises en compte, moyenne mensuelle de {}",
                        months_words(&months)
                    ),
                    -res,
                ),
            ];
            // What the couple's ASPA is beyond the person's own (domain::entitlement::aspa):
            // shared when both are eligible, at most a single person's when one is.
            let foyer_amount = (mf - res).max(0.0);
            if couple && calc > 0.0 && foyer_amount - calc >= 0.005 {
                let shared = (foyer_amount - 2.0 * calc).abs() < 0.015;
                lignes.push(line(
                    if shared {
                        "Moitié de l'allocation du couple, versée à votre conjoint, éligible lui aussi"
                            .into()
                    } else {
                        format!(
                            "Au-delà du montant maximal pour une seule personne éligible ({})",
                            fr::euros(calc)
                        )
                    },
                    -(foyer_amount - calc),
                ));
            }
            (lignes, None)
        }
    };
    // A negative result is no right: what brings it to 0 €, so that the lines add up.
    let mut lignes = lignes;
    let sum: f64 = lignes.iter().map(|l| l.montant).sum();
    if calc == 0.0 && sum <= -0.005 {
        lignes.push(line(
            "Résultat négatif : aucun droit, compté 0 €".into(),
            -sum,
        ));
    }
    AmountDetail {
        mois_reference: months.clone(),
        bareme: bareme
            .map(|b| format!("barème en vigueur en {}", month_words(&b.month.to_string()))),
        lignes,
        ppa_mois,
        montant_calcule: calc,
        minimum_verse: minimum,
        montant_estime: f("montant_estime"),
        foyer_propre: hosted.then(|| {
            format!(
                "Hébergé(e) {}, vous formez pour le RSA et la prime d'activité un foyer à \
                 vous seul(e), {}.",
                match text_at(e, "role_porteur", i).as_deref() {
                    Some("enfant") => "chez un parent à 25 ans ou plus",
                    _ => "par un autre foyer",
                },
                if fl > 0.0 {
                    format!(
                        "logé(e) gratuitement (forfait logement de {})",
                        fr::euros(fl)
                    )
                } else {
                    "sans forfait logement (foyer sans domicile stable)".to_string()
                }
            )
        }),
    }
}

/// The months of a PPA row of `eligibility.parquet` (row `i`): its `ppa_mois_*` lists,
/// one value per month of the quarter (none in a run folder written without them).
fn ppa_month_lines(e: &DataFrame, i: usize, months: &[String]) -> Vec<PpaMonthLine> {
    use crate::tables::eligibility::PPA_MONTH_COLUMNS;
    let lists: Vec<Vec<f64>> = PPA_MONTH_COLUMNS
        .iter()
        .map(|name| {
            e.column(name)
                .ok()
                .and_then(|c| c.list().ok())
                .and_then(|c| c.get_as_series(i))
                .and_then(|s| s.f64().ok().map(|v| v.iter().flatten().collect()))
                .unwrap_or_default()
        })
        .collect();
    let value = |k: usize, m: usize| lists[k].get(m).copied().unwrap_or(0.0);
    months
        .iter()
        .enumerate()
        .take(lists.iter().map(Vec::len).min().unwrap_or(0))
        .map(|(m, mois)| PpaMonthLine {
            mois: mois.clone(),
            montant_forfaitaire: value(0, m),
            revenus_activite: value(1, m),
            part_revenus_activite: value(2, m),
            bonifications: value(3, m),
            ressources: value(4, m),
            forfait_logement: value(5, m),
            deduction: value(0, m).max(value(4, m) + value(5, m)),
            montant: value(6, m),
        })
        .collect()
}

/// What the forfait logement was applied for (art. R262-9 and R262-10 CASF): free
/// housing, owning one's home, or a housing aid; none otherwise.
fn housing_basis(statut: Option<&str>, forfait: f64) -> &'static str {
    match (statut, forfait > 0.0) {
        (Some("heberge_gratuit"), true) => "logé(e) gratuitement",
        (Some("proprietaire"), true) => "propriétaire",
        (_, true) => "aide au logement perçue",
        (Some("sans_domicile"), false) => "aucun, sans domicile stable",
        (_, false) => "aucun",
    }
}

/// The situation in words, from the rows the explanation read.
#[allow(clippy::too_many_arguments)]
fn situation(
    personne: &DataFrame,
    foyer: &DataFrame,
    members: &DataFrame,
    logement: &DataFrame,
    droits: &DataFrame,
    resources: &DataFrame,
    contacts: &DataFrame,
    month: Month,
    reference: Option<&Reference>,
) -> Situation {
    let mut s = Situation {
        naissance: text_at(personne, "naissance", 0),
        departement: text_at(personne, "departement", 0),
        regime: text_at(personne, "regime", 0),
        role: text_at(foyer, "role", 0),
        logement: text_at(logement, "statut", 0),
        ressources_lignes: resources.height(),
        ..Situation::default()
    };
    s.age = s
        .naissance
        .as_deref()
        .and_then(Month::parse)
        .map(|n| n.age_at(month));
    s.departement_nom = s.departement.as_deref().and_then(|d| {
        reference.and_then(|r| {
            r.departement_index(d)
                .map(|k| r.departements[k].nom.clone())
        })
    });
    let mut own_role_seen = false;
    for i in 0..members.height() {
        let role = text_at(members, "role", i).unwrap_or_default();
        if !own_role_seen && Some(&role) == s.role.as_ref() {
            own_role_seen = true;
            continue;
        }
        *s.autres_membres.entry(role).or_default() += 1;
    }
    for i in 0..droits.height() {
        s.droits.push((
            text_at(droits, "prestation", i).unwrap_or_default(),
            text_at(droits, "organisme", i).unwrap_or_default(),
            text_at(droits, "debut", i).unwrap_or_default(),
            text_at(droits, "fin", i),
        ));
    }
    s.droits.sort();
    let mut months: Vec<String> = (0..resources.height())
        .filter_map(|i| text_at(resources, "mois", i))
        .collect();
    months.sort();
    s.ressources_de = months.first().cloned();
    s.ressources_a = months.last().cloned();
    let distinct = |c: &str| {
        let mut v: Vec<String> = (0..resources.height())
            .filter_map(|i| text_at(resources, c, i))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    s.ressources_natures = distinct("nature");
    s.ressources_sources = distinct("source");
    for i in 0..contacts.height() {
        let mut known = Vec::new();
        for (c, word) in [
            ("mobile", "téléphone mobile"),
            ("email", "adresse e-mail"),
            ("adresse", "adresse postale"),
            (
                "espace_en_ligne",
                "espace en ligne utilisé dans les 12 derniers mois",
            ),
            ("opposition", "opposition au contact enregistrée"),
        ] {
            if bool_at(contacts, c, i) == Some(true) {
                known.push(word.to_string());
            }
        }
        if let Some(m) = text_at(contacts, "dernier_contact", i) {
            known.push(format!("dernier contact en {}", month_words(&m)));
        }
        s.contacts
            .push((text_at(contacts, "organisme", i).unwrap_or_default(), known));
    }
    s.contacts.sort();
    s
}

/// The caisse in charge of claiming `benefit` and its website.
fn claim(benefit: &str, s: &Situation, reference: Option<&Reference>) -> Claim {
    let caisse = reference.and_then(|r| {
        caisse_for(
            r,
            benefit,
            s.departement.as_deref().unwrap_or_default(),
            s.regime.as_deref().unwrap_or_default(),
        )
    });
    let branche = caisse
        .as_ref()
        .and_then(|c| reference.and_then(|r| r.caisses.get(c)))
        .map(|c| c.branche.as_str());
    let site = match (branche, benefit) {
        (Some("MSA"), _) => "msa.fr",
        (Some("CAF"), _) => "caf.fr",
        (_, "ASPA") => "lassuranceretraite.fr",
        _ => "caf.fr",
    };
    Claim {
        prestation: benefit.to_string(),
        caisse_libelle: caisse
            .as_ref()
            .and_then(|c| reference.and_then(|r| r.caisses.get(c)))
            .map(|c| c.libelle.clone()),
        caisse,
        site: site.to_string(),
    }
}

pub fn explain(run: &Path, person: &str) -> Result<Explanation> {
    let m = Manifest::read(run)?;
    let month = Month::parse(&m.config.month).ok_or_else(|| {
        RecoursError::Internal(format!(
            "{}: run month {} unreadable",
            run.display(),
            m.config.month
        ))
    })?;
    let person = normalise_id(person);
    let person = person.as_str();
    let (reference, bareme) = reference_of(&m, month);
    let folder = RunFolder::new(run);
    let mut donnees = Vec::new();
    let personne = rows_of(&folder.ingested("personnes"), "pseudo_id", person)?;
    if personne.height() == 0 {
        return Err(RecoursError::UnknownPerson {
            run: run.to_path_buf(),
            given: describe_id(person),
        });
    }
    // sexe is held for fairness audits only: it is not shown as data used for the score.
    donnees.extend(items(&personne, SOURCES[0], &["sexe"]));
    let foyer = rows_of(&folder.ingested("foyers"), "pseudo_id", person)?;
    donnees.extend(items(&foyer, SOURCES[1], &[]));
    let (members, logement) = match text_at(&foyer, "foyer_id", 0) {
        Some(f) => (
            rows_of(&folder.ingested("foyers"), "foyer_id", &f)?,
            rows_of(&folder.ingested("logements"), "foyer_id", &f)?,
        ),
        None => (DataFrame::empty(), DataFrame::empty()),
    };
    // The other members' roles, never their ids: an explanation is about one person.
    donnees.extend(items(&members, SOURCES[2], &[]));
    donnees.extend(items(&logement, SOURCES[3], &[]));
    let droits = rows_of(&folder.ingested("droits"), "pseudo_id", person)?;
    donnees.extend(items(&droits, SOURCES[4], &[]));
    // The monthly resources name the person by its row in personnes.parquet (by its id in
    // a run folder ingested before that format).
    let ressources = folder.ingested("ressources");
    let by_row = std::fs::File::open(&ressources)
        .ok()
        .and_then(|f| ParquetReader::new(f).schema().ok())
        .is_some_and(|schema| schema.contains(crate::tables::extracts::PERSON_ROW));
    let resources = if by_row {
        rows_where(
            &ressources,
            crate::tables::extracts::PERSON_ROW,
            lit(person_row(&folder.ingested("personnes"), person)?),
        )?
    } else {
        rows_of(&ressources, "pseudo_id", person)?
    };
    donnees.extend(items(&resources, SOURCES[5], &[]));
    let contacts = rows_of(&folder.ingested("contacts"), "pseudo_id", person)?;
    donnees.extend(items(&contacts, SOURCES[6], &[]));
    let situation = situation(
        &personne,
        &foyer,
        &members,
        &logement,
        &droits,
        &resources,
        &contacts,
        month,
        reference.as_ref(),
    );

    let feats = rows_of(&folder.features(), "pseudo_id", person)?;
    let scores = rows_of(&folder.scores(), "pseudo_id", person)?;
    let eligibility = rows_of(&folder.eligibility(), "pseudo_id", person)?;
    let quarters = &m.config.eligibility;
    let mut prestations = Vec::new();
    for i in 0..feats.height() {
        let Some(b) = text_at(&feats, "prestation", i) else {
            continue;
        };
        let path = folder.model(&b);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let a: ModelArtefact = serde_json::from_str(&text)
            .map_err(|e| RecoursError::Internal(format!("{}: {e}", path.display())))?;
        let mut termes = Vec::new();
        for (f, c) in a.features.iter().zip(&a.coefficients) {
            let valeur = f64_at(&feats, &f.name, i).unwrap_or(f64::NAN);
            let z = (valeur - f.mean) / f.sd;
            termes.push(Term {
                variable: f.name.clone(),
                signification: features::feature(&f.name)
                    .map_or("", |d| d.meaning)
                    .to_string(),
                valeur,
                moyenne: f.mean,
                ecart_type: f.sd,
                valeur_standardisee: z,
                coefficient: c.standardized,
                contribution: c.standardized * z,
            });
        }
        termes.sort_by(|x, y| {
            y.contribution
                .abs()
                .total_cmp(&x.contribution.abs())
                .then(x.variable.cmp(&y.variable))
        });
        let z = a.intercept + termes.iter().map(|t| t.contribution).sum::<f64>();
        let row = (0..scores.height())
            .find(|&k| text_at(&scores, "prestation", k).as_deref() == Some(b.as_str()));
        let get = |name: &str| row.and_then(|k| f64_at(&scores, name, k));
        // The three main reasons, each wording once (two features may share one).
        let raisons = row.map_or_else(Vec::new, |k| {
            let mut said = std::collections::BTreeSet::new();
            (1..=crate::stages::score::scoring::TOP_REASONS)
                .filter_map(|r| {
                    let raison = text_at(&scores, &format!("raison_{r}"), k)?;
                    let contribution = f64_at(&scores, &format!("contribution_{r}"), k)?;
                    Some(Reason {
                        raison,
                        variable: text_at(&scores, &format!("variable_{r}"), k).unwrap_or_default(),
                        contribution,
                        poids: weight_in_words(contribution).to_string(),
                    })
                })
                .filter(|r| said.insert(r.raison.clone()))
                .take(MAIN_REASONS)
                .collect()
        });
        let months = quarter(
            month,
            if b == "ASPA" {
                quarters.aspa_quarter
            } else {
                quarters.rsa_ppa_quarter
            },
        );
        let montant = (0..eligibility.height())
            .find(|&k| text_at(&eligibility, "prestation", k).as_deref() == Some(b.as_str()))
            .map(|k| amount_detail(&eligibility, k, &b, months, bareme.as_ref()));
        prestations.push(BenefitExplanation {
            constante: a.intercept,
            termes,
            probabilite: get("probabilite")
                .unwrap_or_else(|| recours_models::calibration::sigmoid(z)),
            montant_estime: get("montant_estime").unwrap_or(0.0),
            candidat_deterministe: row
                .and_then(|k| bool_at(&scores, "candidat_deterministe", k))
                .unwrap_or(false),
            montant,
            raisons,
            prestation: b,
        });
    }

    let d = rows_of(&folder.decisions(), "pseudo_id", person)?;
    let libelle = |code: &str| {
        reference
            .as_ref()
            .and_then(|r| r.caisses.get(code))
            .map_or_else(|| code.to_string(), |c| c.libelle.clone())
    };
    let decisions = (0..d.height())
        .map(|k| {
            let code = text_at(&d, "decision", k).unwrap_or_default();
            let caisse = text_at(&d, "caisse", k).unwrap_or_default();
            DecisionExplanation {
                caisse_libelle: libelle(&caisse),
                caisse,
                prestations: text_at(&d, "prestations", k).unwrap_or_default(),
                explication: Decision::from_code(&code)
                    .map_or("", |x| x.explain())
                    .to_string(),
                decision: code,
                rang_priorite: u32_at(&d, "rang_priorite", k).unwrap_or(0),
                rang_liste: u32_at(&d, "rang_liste", k),
                canal: text_at(&d, "canal", k),
                raisons: text_at(&d, "raisons", k).unwrap_or_default(),
            }
        })
        .collect::<Vec<_>>();
    // Only a benefit estimated above 0 € is one the person is invited to claim.
    let demarches = prestations
        .iter()
        .filter(|b| b.montant_estime > 0.0)
        .map(|b| claim(&b.prestation, &situation, reference.as_ref()))
        .collect::<Vec<_>>();
    let mut libelles = BTreeMap::new();
    let named = situation
        .droits
        .iter()
        .map(|d| d.1.clone())
        .chain(situation.contacts.iter().map(|c| c.0.clone()))
        .chain(decisions.iter().map(|d| d.caisse.clone()));
    for code in named {
        libelles.insert(code.clone(), libelle(&code));
    }
    Ok(Explanation {
        schema_version: SCHEMA_VERSION,
        pseudo_id: person.to_string(),
        run_id: m.run_id.clone(),
        mois: m.config.month.clone(),
        situation,
        donnees,
        prestations,
        decisions,
        demarches,
        seuil_deterministe: m.config.eligibility.deterministic_min_amount,
        libelles,
    })
}

/// `2025-05` → `mai 2025`.
fn month_words(m: &str) -> String {
    Month::parse(m).map_or_else(
        || m.to_string(),
        |m| {
            format!(
                "{} {}",
                crate::domain::fr::MONTHS[m.month_of_year() as usize - 1],
                m.year()
            )
        },
    )
}

/// `["2025-05", "2025-06", "2025-07"]` → `mai, juin et juillet 2025`.
fn months_words(months: &[String]) -> String {
    let parsed: Vec<Month> = months.iter().filter_map(|m| Month::parse(m)).collect();
    let one_year = parsed.windows(2).all(|w| w[0].year() == w[1].year());
    let words: Vec<String> = parsed
        .iter()
        .map(|m| {
            if one_year {
                crate::domain::fr::MONTHS[m.month_of_year() as usize - 1].to_string()
            } else {
                month_words(&m.to_string())
            }
        })
        .collect();
    let mut s = match words.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} et {last}", init.join(", ")),
    };
    if one_year && let Some(m) = parsed.first() {
        s.push_str(&format!(" {}", m.year()));
    }
    s
}

fn benefit_name(code: &str) -> &str {
    match code {
        "PPA" => "prime d'activité",
        "RSA" => "revenu de solidarité active (RSA)",
        "ASPA" => "allocation de solidarité aux personnes âgées (ASPA)",
        "AAH" => "allocation aux adultes handicapés",
        "AL" => "aide au logement",
        "AF" => "allocations familiales",
        "ASF" => "allocation de soutien familial",
        "CSS" => "complémentaire santé solidaire",
        "ARE" => "allocation chômage",
        "ASS" => "allocation de solidarité spécifique",
        "RETRAITE" => "pension de retraite",
        "INVALIDITE" => "pension d'invalidité",
        other => other,
    }
}

/// A caisse's name with its article: "la CAF de la Gironde", "France Travail".
fn with_article(libelle: &str) -> String {
    if libelle.starts_with("France ") {
        libelle.to_string()
    } else {
        format!("la {libelle}")
    }
}

/// "de la CAF de la Gironde", "de France Travail".
fn of_caisse(libelle: &str) -> String {
    format!("de {}", with_article(libelle))
}

/// The benefit with its article, as in "demander la prime d'activité".
/// A benefit at the start of a line of section 3: RSA and ASPA by their acronyms, which
/// section 1 spelled out.
fn short_benefit_name(code: &str) -> &str {
    match code {
        "PPA" => "Prime d'activité",
        other => other,
    }
}

fn benefit_with_article(code: &str) -> String {
    match code {
        "PPA" => "la prime d'activité".into(),
        "RSA" => "le revenu de solidarité active (RSA)".into(),
        "ASPA" => "l'allocation de solidarité aux personnes âgées (ASPA)".into(),
        other => other.to_string(),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

fn nature_name(code: &str) -> &str {
    match code {
        "salaire" => "salaires",
        "chomage" => "allocations chômage",
        "ij" => "indemnités journalières",
        "retraite" => "pensions de retraite",
        "invalidite" => "pensions d'invalidité",
        "autre" => "autres revenus déclarés",
        other => other,
    }
}

fn channel_words(code: &str) -> &str {
    match code {
        "telephone" => "par téléphone",
        "sms" => "par SMS",
        "email" => "par e-mail",
        "courrier" => "par courrier",
        other => other,
    }
}

/// Lines of at most `width` characters, each starting with `indent` (the first with
/// `first`).
fn wrap(out: &mut String, first: &str, indent: &str, text: &str) {
    const WIDTH: usize = 92;
    // French typography: a no-break space before ; : » and after «, so that a line never
    // starts with one of them.
    let nb = fr::UNIT_SPACE.to_string();
    let text = text
        .replace(" ;", &format!("{nb};"))
        .replace(" :", &format!("{nb}:"))
        .replace("« ", &format!("«{nb}"))
        .replace(" »", &format!("{nb}»"));
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// An amount line: its label, then its amount aligned on the right.
fn amount_line(out: &mut String, sign: &str, label: &str, amount: f64) {
    cells_line(out, sign, label, &[fr::euros(amount)], 16);
}

/// A line of the letter's calculation: its sign, its label (wrapped) and its cells aligned
/// on the right, the last cell ending where an amount line's amount ends. One cell is an
/// amount line; several are the months of the PPA quarter.
fn cells_line(out: &mut String, sign: &str, label: &str, cells: &[String], cell: usize) {
    const END: usize = 90;
    let label_end = END - cell * cells.len();
    let mut first = true;
    let mut rest = label.to_string();
    loop {
        // A line without a sign (a heading) starts where the section's text starts.
        let prefix = match (first, sign) {
            (true, "") => "   ".to_string(),
            (true, _) => format!("   {sign} "),
            _ => "     ".into(),
        };
        let room = label_end - prefix.chars().count();
        if rest.chars().count() <= room {
            let pad = room - rest.chars().count();
            out.push_str(&format!("{prefix}{rest}{}", " ".repeat(pad)));
            for c in cells {
                out.push_str(&format!("{c:>cell$}"));
            }
            let end = out.trim_end_matches(' ').len();
            out.truncate(end);
            out.push('\n');
            return;
        }
        let cut: String = rest.chars().take(room).collect();
        let at = cut.rfind(' ').unwrap_or(cut.len());
        out.push_str(&format!("{prefix}{}\n", &rest[..at]));
        rest = rest[at..].trim_start().to_string();
        first = false;
    }
}

/// The PPA month by month, as the estimate computes it, then the average of the months:
/// every figure of the page can be added up again. Lines the months do not need are left
/// out to keep the letter on one page: the activity income when it is all the resources,
/// the forfait logement as a line of its own when it is the same every month.
fn ppa_months_text(out: &mut String, benefit: &str, a: &AmountDetail) {
    let months = &a.ppa_mois;
    let euros = |v: &dyn Fn(&PpaMonthLine) -> f64| -> Vec<String> {
        months.iter().map(|m| fr::euros(v(m))).collect()
    };
    let names: Vec<String> = months.iter().map(|m| month_words(&m.mois)).collect();
    // Every column as wide as its widest text (a month's name, an amount) and a space.
    let width = names
        .iter()
        .cloned()
        .chain(euros(&|m| m.ressources))
        .chain(euros(&|m| m.deduction))
        .map(|c| c.chars().count() + 1)
        .max()
        .unwrap_or(0)
        .max(13);
    let cells_line = |out: &mut String, sign: &str, label: &str, cells: &[String]| {
        cells_line(out, sign, label, cells, width)
    };
    cells_line(
        out,
        "",
        &format!("{}, barème de chaque mois :", capitalised(benefit)),
        &names,
    );
    let only_activity = months
        .iter()
        .all(|m| (m.ressources - m.revenus_activite).abs() < 0.005);
    if only_activity {
        cells_line(
            out,
            " ",
            "Ressources : revenus d'activité du foyer",
            &euros(&|m| m.ressources),
        );
    } else {
        cells_line(
            out,
            " ",
            "Revenus d'activité du foyer",
            &euros(&|m| m.revenus_activite),
        );
        cells_line(
            out,
            " ",
            "Ressources du foyer, tous revenus",
            &euros(&|m| m.ressources),
        );
    }
    let one_forfait = months
        .iter()
        .all(|m| (m.forfait_logement - months[0].forfait_logement).abs() < 0.005);
    if !one_forfait {
        cells_line(
            out,
            " ",
            "Forfait logement",
            &euros(&|m| m.forfait_logement),
        );
    }
    cells_line(
        out,
        " ",
        a.lignes.first().map_or("Montant forfaitaire", |l| {
            l.libelle
                .strip_suffix(", moyenne des mois")
                .unwrap_or(&l.libelle)
        }),
        &euros(&|m| m.montant_forfaitaire),
    );
    // The share of activity income as the barème gives it (one rate, or the month's).
    let rates: Vec<String> = months
        .iter()
        .filter(|m| m.revenus_activite > 0.0)
        .map(|m| fr::number(100.0 * m.part_revenus_activite / m.revenus_activite, 2))
        .collect();
    let share = match rates.first() {
        Some(r) if rates.iter().all(|x| x == r) => {
            format!("{r}{}% des revenus d'activité", fr::UNIT_SPACE)
        }
        _ => "Part retenue des revenus d'activité".into(),
    };
    cells_line(out, "+", &share, &euros(&|m| m.part_revenus_activite));
    cells_line(
        out,
        "+",
        "Bonifications individuelles",
        &euros(&|m| m.bonifications),
    );
    let forfait = if one_forfait {
        format!(
            "forfait logement de {}",
            fr::euros(months[0].forfait_logement)
        )
    } else {
        "forfait logement".into()
    };
    cells_line(
        out,
        "−",
        &format!(
            "Le plus élevé{}: montant forfaitaire, ou ressources + {forfait}",
            fr::UNIT_SPACE
        ),
        &euros(&|m| m.deduction),
    );
    cells_line(
        out,
        "=",
        "Droit du mois (0 € s'il est négatif)",
        &euros(&|m| m.montant),
    );
    amount_line(
        out,
        "=",
        &format!(
            "Droit par mois : moyenne des {} mois, calculée avant arrondi",
            months.len()
        ),
        a.montant_calcule,
    );
}

impl Explanation {
    fn caisse(&self, code: &str) -> String {
        self.libelles
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }

    /// The one-page letter for the person concerned, in French: what the treatment
    /// concluded, the data used and their sources, the estimated amount with its barème
    /// lines and months, the score as a percentage with its three main reasons and their
    /// weight, and what the person can do.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str("EXPLICATION D'UN TRAITEMENT ALGORITHMIQUE VOUS CONCERNANT\n");
        s.push_str(
            "(article R311-3-1-2 du code des relations entre le public et l'administration)\n\n",
        );
        wrap(
            &mut s,
            "",
            "",
            &format!(
                "Situation examinée : {} — référence de votre dossier : {} — exécution {}.",
                month_words(&self.mois),
                self.pseudo_id,
                self.run_id
            ),
        );
        wrap(
            &mut s,
            "",
            "",
            "Ce traitement repère les personnes qui pourraient avoir droit à la prime \
             d'activité, au RSA ou à l'ASPA sans les percevoir, afin que leur caisse leur \
             propose de faire la demande. Il ne décide d'aucun droit : seule une demande, \
             étudiée par la caisse, ouvre un droit.",
        );

        s.push_str("\n1. Ce que le traitement a retenu\n");
        if self.prestations.is_empty() {
            wrap(
                &mut s,
                "   ",
                "   ",
                "Aucune prestation : vous percevez déjà celles que le traitement examine, ou \
                 vous n'en remplissez pas les conditions légales d'âge ou de ressources.",
            );
        }
        for b in &self.prestations {
            let what = if b.montant_estime > 0.0 {
                format!(
                    "droit estimé à {} par mois ; probabilité que vous y ayez droit sans \
                     l'avoir demandée : {}",
                    fr::euros(b.montant_estime),
                    fr::percent(b.probabilite)
                )
            } else {
                format!(
                    "aucun droit estimé (probabilité calculée : {})",
                    fr::percent(b.probabilite)
                )
            };
            wrap(
                &mut s,
                "   - ",
                "     ",
                &format!("{} : {what}.", capitalised(benefit_name(&b.prestation))),
            );
        }
        for d in &self.decisions {
            let caisse = capitalised(&with_article(&self.caisse(&d.caisse)));
            let what = match Decision::from_code(&d.decision) {
                Some(Decision::Liste) => format!(
                    "{caisse} prévoit de vous contacter{} ce mois-ci.",
                    d.canal
                        .as_deref()
                        .map_or(String::new(), |c| format!(" {}", channel_words(c)))
                ),
                Some(Decision::GroupeTemoin) => format!(
                    "{caisse} ne vous contactera pas ce mois-ci : vous avez été tiré(e) au sort \
                     dans le groupe témoin, qui sert à mesurer l'effet des contacts."
                ),
                Some(Decision::Opposition) => format!(
                    "{caisse} ne vous contactera pas : vous vous êtes opposé(e) à être contacté(e) \
                     à partir de ce traitement."
                ),
                Some(Decision::ContactRecent) => format!(
                    "{caisse} ne vous recontactera pas ce mois-ci : elle vous a déjà contacté(e) \
                     récemment."
                ),
                Some(Decision::ScoreInsuffisant) => format!(
                    "{caisse} ne vous contactera pas ce mois-ci : la probabilité est sous le \
                     minimum retenu pour un contact."
                ),
                Some(Decision::AucunCanal) => format!(
                    "{caisse} ne connaît pas de moyen de vous joindre : votre situation lui est \
                     signalée à part, pour qu'elle cherche à vous joindre par un autre moyen."
                ),
                Some(Decision::DroitEstimeNul) => format!(
                    "{caisse} ne vous contactera pas ce mois-ci : d'après les ressources connues, \
                     le montant estimé de ce droit est nul."
                ),
                Some(Decision::CapaciteAtteinte) => format!(
                    "{caisse} ne vous contactera pas ce mois-ci : elle a atteint le nombre de \
                     contacts qu'elle peut faire."
                ),
                None => format!("{caisse} : {}.", d.decision),
            };
            wrap(&mut s, "   - ", "     ", &what);
        }

        s.push_str("\n2. Les données utilisées et leur source\n");
        let si = &self.situation;
        let mut identity = Vec::new();
        if let (Some(n), Some(a)) = (&si.naissance, si.age) {
            identity.push(format!(
                "votre mois de naissance ({}, {a} ans)",
                month_words(n)
            ));
        }
        if let Some(d) = &si.departement {
            identity.push(format!(
                "votre département ({})",
                si.departement_nom.clone().unwrap_or_else(|| d.clone())
            ));
        }
        if let Some(r) = &si.regime {
            identity.push(format!(
                "votre régime ({})",
                match r.as_str() {
                    "general" => "général",
                    "agricole" => "agricole",
                    "independant" => "indépendant",
                    other => other,
                }
            ));
        }
        let others: Vec<String> = si
            .autres_membres
            .iter()
            .map(|(role, n)| {
                let word = match (role.as_str(), *n > 1) {
                    ("demandeur", _) => "le demandeur",
                    ("conjoint", _) => "un conjoint",
                    ("enfant", false) => "un enfant",
                    ("enfant", true) => "enfants",
                    ("autre_adulte", false) => "un autre adulte",
                    ("autre_adulte", true) => "autres adultes",
                    (other, _) => other,
                };
                if *n > 1 {
                    format!("{n} {word}")
                } else {
                    word.to_string()
                }
            })
            .collect();
        identity.push(if others.is_empty() {
            "la composition de votre foyer (vous seul(e))".into()
        } else {
            format!(
                "la composition de votre foyer (vous et {})",
                others.join(", ")
            )
        });
        let rights: Vec<String> = si
            .droits
            .iter()
            .map(|(b, org, debut, fin)| {
                format!(
                    "{} ({}, {}{})",
                    benefit_name(b),
                    self.caisse(org),
                    if fin.is_some() { "de " } else { "depuis " },
                    match fin {
                        Some(f) => format!("{} à {}", month_words(debut), month_words(f)),
                        None => month_words(debut),
                    }
                )
            })
            .collect();
        identity.push(if rights.is_empty() {
            "les droits ouverts à votre nom : aucun".into()
        } else {
            format!("les droits ouverts à votre nom : {}", rights.join(" ; "))
        });
        wrap(
            &mut s,
            "   - ",
            "     ",
            &format!(
                "Répertoire national commun de la protection sociale (RNCPS) : {}.",
                identity.join(", ")
            ),
        );
        wrap(
            &mut s,
            "   - ",
            "     ",
            &format!(
                "Logement du foyer{} (déclaré aux caisses) : {}.",
                if self
                    .prestations
                    .iter()
                    .any(|b| b.montant.as_ref().is_some_and(|m| m.foyer_propre.is_some()))
                {
                    " qui vous héberge"
                } else {
                    ""
                },
                crate::domain::entitlement::Statut::label_of(si.logement.as_deref())
            ),
        );
        let brm = match (&si.ressources_de, &si.ressources_a) {
            (Some(a), Some(b)) => format!(
                "{} déclaration(s) de {} à {} ({}, déclarées par {})",
                si.ressources_lignes,
                month_words(a),
                month_words(b),
                si.ressources_natures
                    .iter()
                    .map(|n| nature_name(n))
                    .collect::<Vec<_>>()
                    .join(", "),
                si.ressources_sources
                    .iter()
                    .map(|s| match s.as_str() {
                        "DSN" => "les employeurs (DSN)",
                        "PASRAU" =>
                            "les organismes qui versent des revenus de remplacement (PASRAU)",
                        other => other,
                    })
                    .collect::<Vec<_>>()
                    .join(" et ")
            ),
            _ => "aucune déclaration à votre nom".into(),
        };
        wrap(
            &mut s,
            "   - ",
            "     ",
            &format!("Base ressources mensuelles (BRM) : {brm}."),
        );
        let contacts: Vec<String> = si
            .contacts
            .iter()
            .map(|(org, known)| {
                format!(
                    "{} : {}",
                    self.caisse(org),
                    if known.is_empty() {
                        "aucun".into()
                    } else {
                        known.join(", ")
                    }
                )
            })
            .collect();
        wrap(
            &mut s,
            "   - ",
            "     ",
            &format!(
                "Caisses, moyens de vous joindre qu'elles connaissent (jamais leur valeur) : {}.",
                if contacts.is_empty() {
                    "aucun".into()
                } else {
                    contacts.join(" ; ")
                }
            ),
        );
        wrap(
            &mut s,
            "   ",
            "   ",
            "Votre sexe figure au répertoire mais n'est pas utilisé pour le calcul : il sert \
             seulement à vérifier que le traitement ne défavorise aucun groupe.",
        );

        s.push_str("\n3. Le montant estimé\n");
        let with_amount: Vec<&BenefitExplanation> = self
            .prestations
            .iter()
            .filter(|b| b.montant.is_some())
            .collect();
        if with_amount.is_empty() {
            wrap(&mut s, "   ", "   ", "Aucun montant n'a été estimé.");
        }
        if let Some(why) = with_amount
            .iter()
            .find_map(|b| b.montant.as_ref()?.foyer_propre.as_ref())
        {
            wrap(&mut s, "   ", "   ", why);
        }
        for b in with_amount {
            let Some(a) = &b.montant else { continue };
            if a.montant_calcule <= 0.0 && a.montant_estime <= 0.0 {
                // Nothing to add up: one line (the lines are in --detail and --json).
                wrap(
                    &mut s,
                    "   ",
                    "   ",
                    &format!(
                        "{} : aucun droit, les ressources de {} dépassant le barème.",
                        short_benefit_name(&b.prestation),
                        months_words(&a.mois_reference)
                    ),
                );
                continue;
            }
            if !a.ppa_mois.is_empty() {
                ppa_months_text(&mut s, benefit_name(&b.prestation), a);
            } else {
                wrap(
                    &mut s,
                    "   ",
                    "   ",
                    &format!(
                        "{}{} :",
                        short_benefit_name(&b.prestation),
                        a.bareme
                            .as_ref()
                            .map_or(String::new(), |x| format!(", {x}"))
                    ),
                );
                for (k, l) in a.lignes.iter().enumerate() {
                    // A deduction of 0 € is still a deduction: its amount is -0.0.
                    let sign = if k == 0 {
                        " "
                    } else if l.montant.is_sign_negative() {
                        "−"
                    } else {
                        "+"
                    };
                    amount_line(&mut s, sign, &l.libelle, l.montant.abs());
                }
                amount_line(&mut s, "=", "Droit calculé par mois", a.montant_calcule);
            }
            if a.montant_estime == 0.0 && a.montant_calcule > 0.0 {
                wrap(
                    &mut s,
                    "     ",
                    "     ",
                    &format!(
                        "Ce montant est sous le minimum versé{} ou une condition légale n'est \
                         pas remplie : le droit estimé est nul.",
                        a.minimum_verse
                            .map_or(String::new(), |m| format!(" ({})", fr::euros(m)))
                    ),
                );
            } else if (a.montant_estime - a.montant_calcule).abs() >= 0.005 {
                amount_line(&mut s, " ", "Droit estimé (plafonné)", a.montant_estime);
            }
        }
        wrap(
            &mut s,
            "   ",
            "   ",
            "Ce sont des estimations : la BRM ne connaît pas tous les revenus (travail \
             indépendant, pensions alimentaires, revenus du patrimoine).",
        );

        s.push_str("\n4. La probabilité et ce qui a le plus pesé\n");
        wrap(
            &mut s,
            "   ",
            "   ",
            "Un modèle statistique, appris sur des situations connues, calcule la \
             probabilité : chaque élément la fait monter ou descendre selon son poids ; aucun \
             ne décide seul.",
        );
        for b in &self.prestations {
            let reasons: Vec<String> = b
                .raisons
                .iter()
                .map(|r| format!("« {} » ({})", r.raison, r.poids))
                .collect();
            wrap(
                &mut s,
                "   - ",
                "     ",
                &format!(
                    "{} : {}. {}",
                    capitalised(benefit_name(&b.prestation)),
                    fr::percent(b.probabilite),
                    if reasons.is_empty() {
                        "Aucun élément ne l'a fait monter.".to_string()
                    } else {
                        format!(
                            "{}e qui l'a le plus fait monter : {}.",
                            if b.probabilite < 0.5 {
                                "Elle reste faible ; c"
                            } else {
                                "C"
                            },
                            reasons.join(" ; ")
                        )
                    }
                ),
            );
            if b.candidat_deterministe {
                wrap(
                    &mut s,
                    "     ",
                    "     ",
                    &format!(
                        "Votre droit estimé atteint au moins {} par mois : la caisse vous \
                         propose la démarche quelle que soit la probabilité.",
                        fr::euros(self.seuil_deterministe)
                    ),
                );
            }
        }

        s.push_str("\n5. Ce que vous pouvez faire\n");
        let nothing: Vec<&str> = self
            .prestations
            .iter()
            .filter(|b| b.montant_estime <= 0.0)
            .map(|b| match b.prestation.as_str() {
                "PPA" => "la prime d'activité",
                "RSA" => "le RSA",
                _ => "l'ASPA",
            })
            .collect();
        if !nothing.is_empty() {
            wrap(
                &mut s,
                "   - ",
                "     ",
                &format!(
                    "Pour {} : droit estimé nul, aucune démarche proposée (si vos ressources \
                     ont baissé : mes-droits-sociaux.gouv.fr).",
                    nothing.join(" et ")
                ),
            );
        }
        // The benefits claimed from one caisse, in one line.
        let mut claims: Vec<(String, &str, Vec<String>)> = Vec::new();
        for c in &self.demarches {
            let caisse = c
                .caisse_libelle
                .clone()
                .or_else(|| c.caisse.clone())
                .map_or_else(|| "votre caisse".into(), |l| with_article(&l));
            match claims
                .iter_mut()
                .find(|(k, site, _)| *k == caisse && *site == c.site)
            {
                Some((_, _, benefits)) => benefits.push(benefit_with_article(&c.prestation)),
                None => claims.push((caisse, &c.site, vec![benefit_with_article(&c.prestation)])),
            }
        }
        for (caisse, site, benefits) in claims {
            wrap(
                &mut s,
                "   - ",
                "     ",
                &format!(
                    "Demander {} : auprès de {caisse}, sur {site} ; vous pouvez d'abord \
                     estimer vos droits sur mes-droits-sociaux.gouv.fr.",
                    benefits.join(" et ")
                ),
            );
        }
        let caisses: Vec<String> = self
            .decisions
            .iter()
            .map(|d| of_caisse(&self.caisse(&d.caisse)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        wrap(
            &mut s,
            "   - ",
            "     ",
            &format!(
                "Vous opposer à ce traitement (droit d'opposition, article 21 du règlement \
                 général sur la protection des données) : écrivez au délégué à la protection \
                 des données {} ; vous ne serez plus retenu(e) pour un contact. En cas de \
                 difficulté, vous pouvez saisir la CNIL (cnil.fr).",
                if caisses.is_empty() {
                    "de votre caisse".to_string()
                } else {
                    caisses.join(" ou ")
                }
            ),
        );
        wrap(
            &mut s,
            "   - ",
            "     ",
            "Obtenir le détail du calcul (chaque élément et son poids) : même adresse.",
        );
        s
    }

    /// The auditor's detail: every row of data used by source, every term of each score
    /// (value, mean, standard deviation, coefficient, contribution), the amount's lines and
    /// the list decisions. No id but the person's own.
    pub fn to_detail(&self) -> String {
        let n = |v: f64, d: usize| fr::number(v, d);
        let sg = |v: f64| fr::signed(v, 3);
        let mut s = format!(
            "Personne {}\nExécution {} (situation du mois {})\n\n1. Données utilisées et leur source\n",
            self.pseudo_id, self.run_id, self.mois
        );
        let mut by_source: BTreeMap<&str, Vec<&DataItem>> =
            SOURCES.iter().map(|s| (*s, Vec::new())).collect();
        for d in &self.donnees {
            by_source.entry(&d.source).or_default().push(d);
        }
        for source in SOURCES {
            let items = &by_source[source];
            if items.is_empty() {
                s.push_str(&format!("  {source} : aucune ligne\n"));
                continue;
            }
            s.push_str(&format!("  {source} ({} ligne(s))\n", items.len()));
            for it in items.iter().take(20) {
                let line: Vec<String> = it.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("    {}\n", line.join(", ")));
            }
            if items.len() > 20 {
                s.push_str(&format!(
                    "    … {} autres lignes (voir --json)\n",
                    items.len() - 20
                ));
            }
        }
        s.push_str("  Le sexe n'est pas utilisé pour calculer le score.\n\n2. Calcul du score, par prestation\n");
        if self.prestations.is_empty() {
            s.push_str("  La personne n'est dans la population d'aucune prestation (elle la perçoit déjà ou n'en remplit pas les conditions légales).\n");
        }
        for b in &self.prestations {
            s.push_str(&format!(
                "  {} : probabilité de non-recours {}, droit mensuel estimé {}{}\n",
                b.prestation,
                fr::percent(b.probabilite),
                fr::euros(b.montant_estime),
                if b.candidat_deterministe {
                    " (au-dessus du seuil déterministe)"
                } else {
                    ""
                }
            ));
            if let Some(a) = &b.montant {
                s.push_str(&format!(
                    "    montant, mois de référence {} :\n",
                    a.mois_reference.join(", ")
                ));
                for l in &a.lignes {
                    s.push_str(&format!("      {} : {}\n", l.libelle, fr::euros(l.montant)));
                }
                for m in &a.ppa_mois {
                    s.push_str(&format!(
                        "      {} : montant forfaitaire {}, revenus d'activité {} dont {} retenus, \
                         bonifications {}, ressources {}, forfait logement {}, déduction {}, \
                         droit du mois {}\n",
                        month_words(&m.mois),
                        fr::euros(m.montant_forfaitaire),
                        fr::euros(m.revenus_activite),
                        fr::euros(m.part_revenus_activite),
                        fr::euros(m.bonifications),
                        fr::euros(m.ressources),
                        fr::euros(m.forfait_logement),
                        fr::euros(m.deduction),
                        fr::euros(m.montant)
                    ));
                }
                s.push_str(&format!(
                    "      droit calculé : {} ; droit estimé : {}\n",
                    fr::euros(a.montant_calcule),
                    fr::euros(a.montant_estime)
                ));
            }
            s.push_str(&format!("    constante du modèle : {}\n", sg(b.constante)));
            s.push_str("    variable : (valeur − moyenne) / écart-type × coefficient = contribution au score\n");
            for t in &b.termes {
                s.push_str(&format!(
                    "    {} : ({} − {}) / {} × {} = {} — {}\n",
                    t.variable,
                    n(t.valeur, 2),
                    n(t.moyenne, 2),
                    n(t.ecart_type, 2),
                    sg(t.coefficient),
                    sg(t.contribution),
                    t.signification
                ));
            }
        }
        s.push_str("\n3. Décision sur les listes de contact\n");
        if self.decisions.is_empty() {
            s.push_str("  Aucune liste ne concerne cette personne.\n");
        }
        for d in &self.decisions {
            s.push_str(&format!(
                "  {} — {} : {} ({}); rang de priorité {}{}{}\n",
                d.caisse,
                d.prestations,
                d.decision,
                d.explication,
                d.rang_priorite,
                d.rang_liste
                    .map_or(String::new(), |r| format!(", rang dans la liste {r}")),
                d.canal
                    .as_ref()
                    .map_or(String::new(), |c| format!(", canal proposé {c}"))
            ));
            if !d.raisons.is_empty() {
                s.push_str(&format!("    raisons : {}\n", d.raisons));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_matched_trimmed_and_in_lower_case_and_never_echoed() {
        assert_eq!(normalise_id("  ABCdef \t"), "abcdef");
        let nir_like = "1850775123456";
        assert!(!describe_id(nir_like).contains(nir_like));
        assert!(describe_id(&"a".repeat(64)).contains("64 caractères"));
    }

    #[test]
    fn months_and_weights_in_words() {
        assert_eq!(
            months_words(&["2025-05".into(), "2025-06".into(), "2025-07".into()]),
            "mai, juin et juillet 2025"
        );
        assert_eq!(
            months_words(&["2024-12".into(), "2025-01".into()]),
            "décembre 2024 et janvier 2025"
        );
        assert_eq!(weight_in_words(1.2), "poids très fort");
        assert_eq!(weight_in_words(0.6), "poids fort");
        assert_eq!(weight_in_words(0.3), "poids moyen");
        assert_eq!(weight_in_words(0.05), "poids faible");
    }
}
