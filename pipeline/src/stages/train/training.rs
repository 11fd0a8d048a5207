//! The `train` stage: the learning table (`apprentissage`) joined with the features of each
//! labelled person at its `mois_reference`, one logistic model per benefit, written as
//! `models/<BENEFIT>.json`. A run can instead reuse artefacts named in the config; their
//! feature signature must match the run's features.

use std::collections::BTreeMap;

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use recours_models::train::{self, ModelArtefact, TrainInput};
use serde::Serialize;

use crate::config::RunConfig;
use crate::domain::contract::SCORED;
use crate::domain::month::Month;
use crate::error::{RecoursError, Result};
use crate::stages::eligibility::estimate::{self as eligibility, EligibilityConfig};
use crate::stages::features::dictionary as features;
use crate::tables::extracts::Extracts;
use crate::tables::features::FeatureTable;
use crate::tables::households::{Households, ResourceHistories};

/// How the learning table was used, per benefit.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct LearningUse {
    pub labels: usize,
    pub used: usize,
    /// Labels whose person is not in the scoring population at the reference month
    /// (receives the benefit then, or fails its legal pre-filters).
    pub not_in_scoring_population: usize,
    /// Labels left out because their `mois_reference` is not the run month and the
    /// resources extract lacks one of the twelve months before it (its features would read
    /// the missing months as months without income).
    pub outside_resource_history: usize,
    /// Labels left out because `config/baremes.toml` has no barème in force at their
    /// `mois_reference`, or none of the PPA or SMIC for the months of its reference quarter
    /// (their entitlement cannot be estimated). Checked first: a month failing both counts
    /// here.
    pub outside_baremes: usize,
}

/// Why the labels of a month are left out (see [`LearningUse`]).
#[derive(Clone, Copy, Debug)]
enum LeftOut {
    Baremes,
    ResourceHistory,
}

/// What features at a reference month other than the run month need: the foyers of the
/// persons labelled at such months, with every member (a foyer's estimate reads them all),
/// their housing, rights and contacts, and their monthly resources. A row's features depend
/// only on its person and that person's foyer, so features computed on these households come
/// out as on the whole population (`tests::features_at_another_month_...`), at a fraction
/// of the time and memory of assembling the whole population again per learning month.
struct Labelled {
    x: Extracts,
    /// Their rows of `ingest/ressources.parquet`, persons numbered as in `x`'s `personnes`.
    resources: Vec<polars::prelude::DataFrame>,
    /// Every month `ingest/ressources.parquet` has rows for (any person).
    months: std::collections::BTreeSet<Month>,
}

impl Labelled {
    /// The households of the persons `ids`, from `x`'s tables, or from the ingest stage's
    /// files for the tables released from memory.
    fn of(x: &Extracts, ids: &HashSet<&str>) -> Result<Labelled> {
        use polars::prelude::DataFrame;
        use std::borrow::Cow;
        let resources = x
            .ressources
            .as_ref()
            .ok_or_else(|| RecoursError::Internal("table ressources was not ingested".into()))?;
        let table = |name: &str| -> Result<Option<Cow<'_, DataFrame>>> {
            if let Some(t) = x.table(name) {
                return Ok(Some(Cow::Borrowed(t)));
            }
            Ok(match x.kept_file(name) {
                Some(path) if x.released && path.exists() => {
                    Some(Cow::Owned(crate::io::frame::read_parquet(&path)?))
                }
                _ => None,
            })
        };
        let required = |name: &str| {
            table(name)?
                .ok_or_else(|| RecoursError::Internal(format!("table {name} was not ingested")))
        };
        // Rows of `t` whose `column` is in `set`, found in parallel.
        let keep = |t: &DataFrame, name: &str, column: &str, set: &HashSet<&str>| {
            let values = crate::io::frame::str_col(t, name, column)?;
            let mask: Vec<bool> = (0..t.height())
                .into_par_iter()
                .with_min_len(1 << 16)
                .map(|i| values.get(i).is_some_and(|v| set.contains(v)))
                .collect();
            Ok::<_, RecoursError>(mask)
        };
        let filter = |t: &DataFrame, name: &str, mask: &[bool]| {
            t.filter(&crate::io::frame::mask(mask))
                .map_err(RecoursError::polars(format!(
                    "{name}: rows of labelled foyers"
                )))
        };
        let foyers = required("foyers")?;
        let f_id = crate::io::frame::str_col(&foyers, "foyers", "foyer_id")?;
        let f_person = crate::io::frame::str_col(&foyers, "foyers", "pseudo_id")?;
        let labelled_rows = keep(&foyers, "foyers", "pseudo_id", ids)?;
        let kept_foyers: HashSet<&str> = (0..foyers.height())
            .filter(|&i| labelled_rows[i])
            .filter_map(|i| f_id.get(i))
            .collect();
        let foyer_rows = keep(&foyers, "foyers", "foyer_id", &kept_foyers)?;
        let members: HashSet<&str> = (0..foyers.height())
            .filter(|&i| foyer_rows[i])
            .filter_map(|i| f_person.get(i))
            .collect();
        let mut tables = BTreeMap::new();
        let personnes = required("personnes")?;
        let person_rows = keep(&personnes, "personnes", "pseudo_id", &members)?;
        let mut renumber = Vec::with_capacity(person_rows.len());
        let mut kept = 0u32;
        for &k in &person_rows {
            renumber.push(if k {
                kept
            } else {
                crate::tables::extracts::NO_ROW
            });
            kept += u32::from(k);
        }
        tables.insert("personnes", filter(&personnes, "personnes", &person_rows)?);
        drop(personnes);
        for (name, column, set) in [
            ("droits", "pseudo_id", &members),
            ("contacts", "pseudo_id", &members),
            ("logements", "foyer_id", &kept_foyers),
        ] {
            let t = if name == "droits" {
                Some(required(name)?)
            } else {
                table(name)?
            };
            if let Some(t) = t {
                let mask = keep(&t, name, column, set)?;
                tables.insert(name, filter(&t, name, &mask)?);
            }
        }
        tables.insert("foyers", filter(&foyers, "foyers", &foyer_rows)?);
        let (resources, months) =
            crate::tables::households::resource_rows_of(resources, &renumber)?;
        Ok(Labelled {
            resources,
            months,
            x: Extracts {
                tables,
                ..Extracts::default()
            },
        })
    }

    /// Whether the resources extract has every month of the history features read at
    /// `month` (the twelve months before it).
    fn covers(&self, month: Month) -> bool {
        (1..=crate::tables::households::HISTORY as i32)
            .all(|k| self.months.contains(&month.plus(-k)))
    }

    /// The features of these households at `month`.
    fn features_at(
        &self,
        cfg: &RunConfig,
        month: Month,
        names: &[&'static str],
    ) -> Result<FeatureTable> {
        let persons = self.x.table("personnes").map_or(0, |t| t.height());
        let mut histories = ResourceHistories::new(month, persons);
        for rows in &self.resources {
            histories.add(rows)?;
        }
        features_at(&self.x, cfg, month, names, Some(histories))
    }
}

/// Features of the households of `x` at `month` (with the persons' monthly histories for
/// that month when already added up).
fn features_at(
    x: &Extracts,
    cfg: &RunConfig,
    month: Month,
    names: &[&'static str],
    histories: Option<ResourceHistories>,
) -> Result<FeatureTable> {
    let h = Households::assemble(x, month, histories)?;
    let b = cfg.baremes.in_force(month)?;
    let q = cfg.quarters();
    let ecfg = EligibilityConfig {
        quarters: q,
        ppa_params: cfg.baremes.ppa_quarter(month, q.rsa_ppa)?,
        deterministic_min_amount: cfg.deterministic_min_amount,
    };
    let rows = eligibility::estimate_all(&h, &b, &ecfg);
    features::compute(&h, &rows, &features::contact_signals(x, &h)?, names)
}

pub(crate) struct LearningSet {
    pub x: Vec<f64>,
    pub y: Vec<bool>,
    pub baseline: Vec<f64>,
}

/// Builds each benefit's learning set. `current` holds the run month's features.
pub(crate) fn learning_sets(
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
    let text = |c: &str| crate::io::frame::str_col(a, "apprentissage", c);
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
    // Months other than the run month: left out when no barème is in force for them (or
    // for their reference quarter), or when the resources extract lacks one of their twelve
    // months (checked in that order); the others are featured on the households of the
    // persons labelled at them alone, assembled again once per month.
    let mut left_out: BTreeMap<Month, LeftOut> = BTreeMap::new();
    let q = cfg.quarters();
    for &m in months.iter().filter(|m| **m != current.month) {
        match cfg
            .baremes
            .in_force(m)
            .and(cfg.baremes.ppa_quarter(m, q.rsa_ppa))
        {
            Err(RecoursError::Bareme(_)) => {
                left_out.insert(m, LeftOut::Baremes);
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    let featured: Vec<Month> = months
        .iter()
        .copied()
        .filter(|m| *m != current.month && !left_out.contains_key(m))
        .collect();
    let others: HashSet<&str> = (0..a.height())
        .filter(|&i| {
            mois.get(i)
                .and_then(Month::parse)
                .is_some_and(|m| featured.contains(&m))
        })
        .filter_map(|i| ids.get(i))
        .collect();
    let mut tables: BTreeMap<Month, FeatureTable> = BTreeMap::new();
    if !featured.is_empty() {
        let labelled = Labelled::of(x, &others)?;
        for &m in &featured {
            if labelled.covers(m) {
                tables.insert(m, labelled.features_at(cfg, m, &current.names)?);
            } else {
                left_out.insert(m, LeftOut::ResourceHistory);
            }
        }
    }
    // Each label's row in its month's table: the labels' (id, benefit) keys looked up in
    // one pass over each table (a map of the labels, not of the millions of rows; the last
    // row of a key wins, as a map of the rows would have it).
    let key = |i: usize| -> Option<(Month, &str, &'static str)> {
        let m = mois.get(i).and_then(Month::parse)?;
        let p = prest.get(i)?;
        let b = *SCORED.iter().find(|b| **b == p)?;
        Some((m, ids.get(i)?, b))
    };
    let mut found: BTreeMap<Month, HashMap<(&str, &'static str), usize>> = BTreeMap::new();
    for i in 0..a.height() {
        if let Some((m, id, b)) = key(i).filter(|k| !left_out.contains_key(&k.0)) {
            found.entry(m).or_default().insert((id, b), usize::MAX);
        }
    }
    for (m, wanted) in &mut found {
        let table = if *m == current.month {
            current
        } else {
            &tables[m]
        };
        for r in 0..table.len() {
            if let Some(row) = wanted.get_mut(&(table.pseudo_id[r].as_str(), table.prestation[r])) {
                *row = r;
            }
        }
    }
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
        let (Some((m, id, b)), Some(label)) = (key(i), labels.get(i)) else {
            continue;
        };
        let u = uses.get_mut(b).expect("scored benefit");
        u.labels += 1;
        if let Some(reason) = left_out.get(&m) {
            match reason {
                LeftOut::Baremes => u.outside_baremes += 1,
                LeftOut::ResourceHistory => u.outside_resource_history += 1,
            }
            continue;
        }
        let table = if m == current.month {
            current
        } else {
            &tables[&m]
        };
        match found[&m].get(&(id, b)).filter(|r| **r != usize::MAX) {
            Some(&row) => {
                let set = sets.get_mut(b).expect("scored benefit");
                set.x.extend(table.row(row));
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
pub(crate) fn load_artefact(
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
pub(crate) fn check_signature(
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

pub(crate) fn train_benefit(
    benefit: &'static str,
    set: &LearningSet,
    names: &[&'static str],
    cfg: &RunConfig,
) -> Result<ModelArtefact> {
    // The benefit's own features: the columns of the learning set its model may use.
    let cols = features::for_benefit(names, benefit);
    let p = names.len();
    let x: Vec<f64> = set
        .x
        .chunks(p.max(1))
        .flat_map(|row| cols.iter().map(|&(j, _)| row[j]))
        .collect();
    let names: Vec<&'static str> = cols.iter().map(|&(_, n)| n).collect();
    let names_s: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let groups: Vec<Option<String>> = names
        .iter()
        .map(|n| {
            features::feature(n)
                .and_then(|f| f.group)
                .map(str::to_string)
        })
        .collect();
    let candidates: Vec<bool> = names
        .iter()
        .map(|n| features::feature(n).is_some_and(|f| f.interaction))
        .collect();
    let input = TrainInput {
        benefit,
        names: &names_s,
        groups: &groups,
        x: &x,
        y: &set.y,
        baseline: &set.baseline,
        candidates: &candidates,
    };
    train::train(&input, &cfg.train_config()).map_err(RecoursError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Features at another month than the run month, computed on the labelled persons'
    /// foyers alone, equal those of the whole population at that month (the definition),
    /// bit for bit, whether the household tables are in memory or read back from `ingest/`.
    #[test]
    fn features_at_another_month_from_the_labelled_foyers_equal_the_whole_population() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the repository");
        let cfg = RunConfig::load(&repo.join("config").join("sample.toml")).unwrap();
        let dir = std::env::temp_dir().join(format!("recours-labelled-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ingested = crate::stages::ingest::ingest(&cfg, &dir).unwrap();
        ingested.write(&dir).unwrap();
        let mut x = ingested.extracts;
        x.ressources = Some(dir.join("ingest").join("ressources.parquet"));
        let month = cfg.month.plus(-3);
        // Every feature, the protected ones too.
        let names = features::select(&[], &["age".into(), "disability".into()]).active;
        let whole = features_at(&x, &cfg, month, &names, None).unwrap();
        let personnes = x.table("personnes").unwrap();
        let ids = crate::io::frame::str_col(personnes, "personnes", "pseudo_id").unwrap();
        // Every seventh person labelled.
        let labelled: HashSet<&str> = ids.iter().flatten().step_by(7).collect();
        let key = |t: &FeatureTable, i: usize| (t.pseudo_id[i].clone(), t.prestation[i]);
        let expected: BTreeMap<(String, &str), usize> = (0..whole.len())
            .filter(|&i| labelled.contains(whole.pseudo_id[i].as_str()))
            .map(|i| (key(&whole, i), i))
            .collect();
        assert!(expected.len() > 200, "{} labelled rows", expected.len());
        let mut released = x.clone();
        released.release_household_tables();
        for x in [&x, &released] {
            let l = Labelled::of(x, &labelled).unwrap();
            let part = l.features_at(&cfg, month, &names).unwrap();
            assert!(
                part.len() < whole.len() / 2,
                "{} of {}",
                part.len(),
                whole.len()
            );
            let found: BTreeMap<(String, &str), usize> = (0..part.len())
                .filter(|&i| labelled.contains(part.pseudo_id[i].as_str()))
                .map(|i| (key(&part, i), i))
                .collect();
            assert_eq!(
                found.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>()
            );
            for (k, &i) in &expected {
                let j = found[k];
                let bits = |t: &FeatureTable, r: usize| -> Vec<u64> {
                    t.row(r).map(f64::to_bits).collect()
                };
                assert_eq!(bits(&part, j), bits(&whole, i), "{k:?}");
                assert_eq!(part.montant_estime[j], whole.montant_estime[i], "{k:?}");
                assert_eq!(
                    part.candidat_deterministe[j], whole.candidat_deterministe[i],
                    "{k:?}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
