//! The `train` stage: the learning table (`apprentissage`) joined with the features of each
//! labelled person at its `mois_reference`, one logistic model per benefit, written as
//! `models/<BENEFIT>.json`. A run can instead reuse artefacts named in the config; their
//! feature signature must match the run's features.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use recours_models::train::{self, ModelArtefact, TrainInput};
use serde::Serialize;

use crate::config::RunConfig;
use crate::contract::SCORED;
use crate::eligibility::{self, EligibilityConfig};
use crate::error::{RecoursError, Result};
use crate::features::{self, FeatureTable};
use crate::household::Households;
use crate::ingest::Extracts;
use crate::month::Month;

/// How the learning table was used, per benefit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LearningUse {
    pub labels: usize,
    pub used: usize,
    /// Labels whose person is not in the scoring population at the reference month
    /// (receives the benefit then, or fails its legal pre-filters).
    pub not_in_scoring_population: usize,
}

/// Features at a reference month other than the run month.
fn features_at(
    x: &Extracts,
    cfg: &RunConfig,
    month: Month,
    names: &[&'static str],
) -> Result<FeatureTable> {
    let x = x.with_household_tables()?;
    let x = x.as_ref();
    let h = Households::assemble(x, month, None)?;
    let b = cfg.baremes.in_force(month)?;
    let q = cfg.quarters();
    let ecfg = EligibilityConfig {
        quarters: q,
        ppa_params: cfg.baremes.ppa_quarter(month, q.rsa_ppa)?,
        deterministic_min_amount: cfg.raw.eligibility.deterministic_min_amount,
    };
    let rows = eligibility::estimate_all(&h, &b, &ecfg);
    Ok(features::compute(
        &h,
        &rows,
        &features::contact_signals(x, &h)?,
        names,
    ))
}

pub struct LearningSet {
    pub x: Vec<f64>,
    pub y: Vec<bool>,
    pub baseline: Vec<f64>,
}

/// Builds each benefit's learning set. `current` holds the run month's features.
pub fn learning_sets(
    x: &Extracts,
    cfg: &RunConfig,
    current: &FeatureTable,
) -> Result<(
    BTreeMap<&'static str, LearningSet>,
    BTreeMap<&'static str, LearningUse>,
)> {
    let a = x.table("apprentissage").ok_or_else(|| RecoursError::Input {
        table: "apprentissage".into(),
        message: "the train stage needs the learning table: name it in [inputs.apprentissage] or reuse models \
                  with [training.reuse]"
            .into(),
    })?;
    let text = |c: &str| crate::frame::str_col(a, "apprentissage", c);
    let (ids, prest, mois) = (
        text("pseudo_id")?,
        text("prestation")?,
        text("mois_reference")?,
    );
    let labels = a
        .column("non_recours")
        .and_then(|c| c.i32())
        .map_err(RecoursError::polars("apprentissage.non_recours"))?;
    let mut months: Vec<Month> = mois.iter().flatten().filter_map(Month::parse).collect();
    months.sort();
    months.dedup();
    let mut tables: BTreeMap<Month, FeatureTable> = BTreeMap::new();
    for m in months {
        if m != current.month {
            tables.insert(m, features_at(x, cfg, m, &current.names)?);
        }
    }
    let index = |t: &FeatureTable| -> HashMap<(String, &'static str), usize> {
        (0..t.len())
            .map(|i| ((t.pseudo_id[i].clone(), t.prestation[i]), i))
            .collect()
    };
    let mut indices: BTreeMap<Month, HashMap<(String, &'static str), usize>> =
        tables.iter().map(|(m, t)| (*m, index(t))).collect();
    indices.insert(current.month, index(current));
    let mut sets: BTreeMap<&'static str, LearningSet> = SCORED
        .iter()
        .map(|b| {
            (
                *b,
                LearningSet {
                    x: vec![],
                    y: vec![],
                    baseline: vec![],
                },
            )
        })
        .collect();
    let mut uses: BTreeMap<&'static str, LearningUse> = SCORED
        .iter()
        .map(|b| (*b, LearningUse::default()))
        .collect();
    for i in 0..a.height() {
        let (Some(id), Some(p), Some(m), Some(label)) = (
            ids.get(i),
            prest.get(i),
            mois.get(i).and_then(Month::parse),
            labels.get(i),
        ) else {
            continue;
        };
        let Some(&b) = SCORED.iter().find(|b| **b == p) else {
            continue;
        };
        let u = uses.get_mut(b).expect("scored benefit");
        u.labels += 1;
        let table = if m == current.month {
            current
        } else {
            &tables[&m]
        };
        match indices[&m].get(&(id.to_string(), b)) {
            Some(&row) => {
                let set = sets.get_mut(b).expect("scored benefit");
                set.x.extend_from_slice(table.row(row));
                set.y.push(label == 1);
                set.baseline.push(table.montant_estime[row]);
                u.used += 1;
            }
            None => u.not_in_scoring_population += 1,
        }
    }
    Ok((sets, uses))
}

/// Loads a reused artefact and checks its signature against the run's features.
pub fn load_artefact(
    path: &std::path::Path,
    benefit: &str,
    names: &[&'static str],
) -> Result<ModelArtefact> {
    let text = std::fs::read_to_string(path).map_err(|e| RecoursError::Config {
        file: path.to_path_buf(),
        message: format!("cannot read the model artefact: {e}"),
    })?;
    let a: ModelArtefact = serde_json::from_str(&text).map_err(|e| RecoursError::Config {
        file: path.to_path_buf(),
        message: format!("not a model artefact: {e}"),
    })?;
    check_signature(&a, benefit, names).map_err(|message| RecoursError::Config {
        file: path.to_path_buf(),
        message,
    })?;
    Ok(a)
}

/// An artefact fits a run when it is for that benefit, of this schema, and every feature it
/// uses is one of the run's features.
pub fn check_signature(
    a: &ModelArtefact,
    benefit: &str,
    names: &[&'static str],
) -> Result<(), String> {
    if a.schema_version != train::ARTEFACT_SCHEMA_VERSION {
        return Err(format!(
            "artefact schema version {} , this recours reads {}",
            a.schema_version,
            train::ARTEFACT_SCHEMA_VERSION
        ));
    }
    if a.benefit != benefit {
        return Err(format!("artefact is for {}, not {benefit}", a.benefit));
    }
    let missing: Vec<&str> = a
        .features
        .iter()
        .map(|f| f.name.as_str())
        .filter(|f| !names.contains(f))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "feature signature mismatch: the model uses {} feature(s) this run does not compute ({}); expected {} features, \
             the run has {}",
            missing.len(),
            missing.join(", "),
            a.features.len(),
            names.len()
        ));
    }
    Ok(())
}

/// Column positions of an artefact's features in a feature table.
pub fn feature_positions(a: &ModelArtefact, names: &[&'static str]) -> Vec<usize> {
    a.features
        .iter()
        .map(|f| {
            names
                .iter()
                .position(|n| *n == f.name)
                .expect("signature checked")
        })
        .collect()
}

pub fn train_benefit(
    benefit: &'static str,
    set: &LearningSet,
    names: &[&'static str],
    cfg: &RunConfig,
) -> Result<ModelArtefact> {
    let names_s: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let groups: Vec<Option<String>> = names
        .iter()
        .map(|n| {
            features::feature(n)
                .and_then(|f| f.group)
                .map(str::to_string)
        })
        .collect();
    let input = TrainInput {
        benefit,
        names: &names_s,
        groups: &groups,
        x: &set.x,
        y: &set.y,
        baseline: &set.baseline,
    };
    train::train(&input, &cfg.train_config()).map_err(|e| RecoursError::Model(e.to_string()))
}
