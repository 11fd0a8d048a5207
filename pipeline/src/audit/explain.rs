//! `recours explain RUN_FOLDER --person ID`: for one person, the data used and their
//! sources, each feature's value, coefficient and contribution, the score, the rank in the
//! caisse's list and the list decision with its reason — what CRPA art. R311-3-1-2 asks a
//! public body to tell a person about an algorithmic treatment concerning them.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use recours_models::train::ModelArtefact;
use serde::Serialize;

use crate::error::{RecoursError, Result};
use crate::stages::features::dictionary as features;
use crate::stages::lists::select::Decision;
use crate::tables::manifest::Manifest;

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

#[derive(Clone, Debug, Serialize)]
pub struct BenefitExplanation {
    pub prestation: String,
    pub constante: f64,
    pub termes: Vec<Term>,
    pub probabilite: f64,
    pub montant_estime: f64,
    pub candidat_deterministe: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct DecisionExplanation {
    pub caisse: String,
    pub prestations: String,
    pub decision: String,
    pub explication: String,
    pub rang_priorite: u32,
    pub rang_liste: Option<u32>,
    pub canal: Option<String>,
    pub raisons: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub pseudo_id: String,
    pub run_id: String,
    pub mois: String,
    pub donnees: Vec<DataItem>,
    pub prestations: Vec<BenefitExplanation>,
    pub decisions: Vec<DecisionExplanation>,
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

fn cell(df: &DataFrame, c: &Column, i: usize) -> String {
    let _ = df;
    match c.get(i) {
        Ok(AnyValue::Null) | Err(_) => String::new(),
        Ok(AnyValue::String(s)) => s.to_string(),
        Ok(v) => v.to_string(),
    }
}

fn items(df: &DataFrame, source: &str, skip: &[&str]) -> Vec<DataItem> {
    (0..df.height())
        .map(|i| DataItem {
            source: source.to_string(),
            values: df
                .columns()
                .iter()
                .filter(|c| !skip.contains(&c.name().as_str()))
                .map(|c| (c.name().to_string(), cell(df, c, i)))
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

pub fn explain(run: &Path, person: &str) -> Result<Explanation> {
    let m = Manifest::read(run)?;
    let ingest = run.join("ingest");
    let mut donnees = Vec::new();
    let personne = rows_of(&ingest.join("personnes.parquet"), "pseudo_id", person)?;
    if personne.height() == 0 {
        return Err(RecoursError::Config {
            file: run.to_path_buf(),
            message: format!("person {person} is not among the persons kept by this run"),
        });
    }
    // sexe is held for fairness audits only: it is not shown as data used for the score.
    donnees.extend(items(&personne, "RNCPS — personnes (identité)", &["sexe"]));
    let foyer = rows_of(&ingest.join("foyers.parquet"), "pseudo_id", person)?;
    donnees.extend(items(&foyer, "RNCPS — foyers (liens de vie)", &[]));
    if let Some(f) = foyer
        .column("foyer_id")
        .ok()
        .and_then(|c| c.str().ok())
        .and_then(|c| c.get(0))
    {
        let members = rows_of(&ingest.join("foyers.parquet"), "foyer_id", f)?;
        // The other members' roles, never their ids: an explanation is about one person.
        donnees.extend(items(
            &members,
            "RNCPS — membres du foyer",
            &["foyer_id", "pseudo_id"],
        ));
        donnees.extend(items(
            &rows_of(&ingest.join("logements.parquet"), "foyer_id", f)?,
            "logement du foyer",
            &[],
        ));
    }
    donnees.extend(items(
        &rows_of(&ingest.join("droits.parquet"), "pseudo_id", person)?,
        "RNCPS — droits",
        &["pseudo_id"],
    ));
    // The monthly resources name the person by its row in personnes.parquet (by its id in
    // a run folder ingested before that format).
    let ressources = ingest.join("ressources.parquet");
    let by_row = std::fs::File::open(&ressources)
        .ok()
        .and_then(|f| ParquetReader::new(f).schema().ok())
        .is_some_and(|schema| schema.contains(crate::tables::extracts::PERSON_ROW));
    let resources = if by_row {
        rows_where(
            &ressources,
            crate::tables::extracts::PERSON_ROW,
            lit(person_row(&ingest.join("personnes.parquet"), person)?),
        )?
    } else {
        rows_of(&ressources, "pseudo_id", person)?
    };
    donnees.extend(items(
        &resources,
        "BRM — ressources mensuelles (DSN, PASRAU)",
        &[crate::tables::extracts::PERSON_ROW, "pseudo_id"],
    ));
    donnees.extend(items(
        &rows_of(&ingest.join("contacts.parquet"), "pseudo_id", person)?,
        "caisses — canaux de contact connus",
        &["pseudo_id"],
    ));

    let feats = rows_of(&run.join("features.parquet"), "pseudo_id", person)?;
    let scores = rows_of(&run.join("scores.parquet"), "pseudo_id", person)?;
    let mut prestations = Vec::new();
    let prest_col = feats
        .column("prestation")
        .ok()
        .and_then(|c| c.str().ok().cloned());
    for i in 0..feats.height() {
        let Some(b) = prest_col.as_ref().and_then(|c| c.get(i)) else {
            continue;
        };
        let path = run.join("models").join(format!("{b}.json"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let a: ModelArtefact = serde_json::from_str(&text)
            .map_err(|e| RecoursError::Internal(format!("{}: {e}", path.display())))?;
        let mut termes = Vec::new();
        for (f, c) in a.features.iter().zip(&a.coefficients) {
            let valeur = feats
                .column(&f.name)
                .ok()
                .and_then(|col| col.f64().ok().and_then(|v| v.get(i)))
                .unwrap_or(f64::NAN);
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
        let row = (0..scores.height()).find(|&k| {
            scores
                .column("prestation")
                .ok()
                .and_then(|c| c.str().ok().and_then(|s| s.get(k)))
                == Some(b)
        });
        let get = |name: &str| {
            row.and_then(|k| {
                scores
                    .column(name)
                    .ok()
                    .and_then(|c| c.f64().ok().and_then(|v| v.get(k)))
            })
        };
        prestations.push(BenefitExplanation {
            prestation: b.to_string(),
            constante: a.intercept,
            termes,
            probabilite: get("probabilite")
                .unwrap_or_else(|| recours_models::calibration::sigmoid(z)),
            montant_estime: get("montant_estime").unwrap_or(0.0),
            candidat_deterministe: row
                .and_then(|k| {
                    scores
                        .column("candidat_deterministe")
                        .ok()
                        .and_then(|c| c.bool().ok().and_then(|v| v.get(k)))
                })
                .unwrap_or(false),
        });
    }

    let d = rows_of(&run.join("lists/decisions.parquet"), "pseudo_id", person)?;
    let text = |c: &str, k: usize| {
        d.column(c)
            .ok()
            .and_then(|c| c.str().ok().and_then(|s| s.get(k).map(str::to_string)))
    };
    let num = |c: &str, k: usize| {
        d.column(c)
            .ok()
            .and_then(|c| c.u32().ok().and_then(|s| s.get(k)))
    };
    let decisions = (0..d.height())
        .map(|k| {
            let code = text("decision", k).unwrap_or_default();
            let decision = Decision::from_code(&code);
            DecisionExplanation {
                caisse: text("caisse", k).unwrap_or_default(),
                prestations: text("prestations", k).unwrap_or_default(),
                explication: decision.map_or("", |x| x.explain()).to_string(),
                decision: code,
                rang_priorite: num("rang_priorite", k).unwrap_or(0),
                rang_liste: num("rang_liste", k),
                canal: text("canal", k),
                raisons: text("raisons", k).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Explanation {
        pseudo_id: person.to_string(),
        run_id: m.run_id.clone(),
        mois: m.config.month.clone(),
        donnees,
        prestations,
        decisions,
    })
}

impl Explanation {
    pub fn to_text(&self) -> String {
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
                "  {} : probabilité de non-recours {:.1} %, droit mensuel estimé {:.2} €{}\n",
                b.prestation,
                100.0 * b.probabilite,
                b.montant_estime,
                if b.candidat_deterministe {
                    " (au-dessus du seuil déterministe)"
                } else {
                    ""
                }
            ));
            s.push_str(&format!("    constante du modèle : {:+.3}\n", b.constante));
            s.push_str("    variable : (valeur − moyenne) / écart-type × coefficient = contribution au score\n");
            for t in &b.termes {
                s.push_str(&format!(
                    "    {} : ({:.2} − {:.2}) / {:.2} × {:+.3} = {:+.3} — {}\n",
                    t.variable,
                    t.valeur,
                    t.moyenne,
                    t.ecart_type,
                    t.coefficient,
                    t.contribution,
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
