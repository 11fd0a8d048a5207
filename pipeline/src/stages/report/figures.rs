//! `Figures`: everything the report and the notebooks show, gathered once from the run folder.

use std::collections::BTreeMap;
use std::path::Path;

use recours_models::train::ModelArtefact;
use serde_json::Value;

use crate::error::{RecoursError, Result};
use crate::io::frame::{f64_col, str_col};
use crate::stages::evaluate::fairness::{self, FairnessReport, SuppressedRow};
use crate::stages::evaluate::truth::EvaluationReport;
use crate::stages::lists::decisions::Decisions;
use crate::stages::stage::RunContext;
use crate::tables::run_folder::RunFolder;

/// Scores per benefit: count, mean probability, histogram in 20 bins of 0.05.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ScoreSummary {
    pub rows: usize,
    pub mean: f64,
    pub bins: [usize; 20],
}

pub(crate) fn bin(p: f64) -> usize {
    ((p * 20.0).floor() as i64).clamp(0, 19) as usize
}

/// Reads the two columns it needs of `scores.parquet`, a slice at a time (not the reasons'
/// text of millions of rows).
pub(crate) fn score_summaries(run: &RunFolder) -> Result<BTreeMap<String, ScoreSummary>> {
    let slices = crate::io::frame::ParquetSlices::open(
        &run.scores(),
        Some(&["prestation", "probabilite"]),
        crate::io::frame::READ_SLICE_ROWS,
    )?;
    let mut sums: BTreeMap<&'static str, (ScoreSummary, f64)> = BTreeMap::new();
    for df in slices {
        let df = df?;
        let b = str_col(&df, "scores.parquet", "prestation")?;
        let p = f64_col(&df, "scores.parquet", "probabilite")?;
        for (b, p) in b.iter().zip(p.iter()) {
            let (Some(b), Some(p)) = (b, p) else {
                continue;
            };
            let e = sums.entry(crate::io::frame::intern(b)).or_default();
            e.0.rows += 1;
            e.1 += p;
            e.0.bins[bin(p)] += 1;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(b, (mut s, total))| {
            s.mean = total / s.rows.max(1) as f64;
            (b.to_string(), s)
        })
        .collect())
}

/// A chart: its SVG and the CSV of its data, written as `report/<id>.svg` and `.csv`.
pub(crate) struct Chart {
    pub id: String,
    pub title: String,
    pub svg: String,
    pub csv: String,
}

/// Every figure of a run, computed once for the report and the notebooks.
pub struct Figures {
    pub run_id: String,
    pub month: String,
    pub quality: Value,
    pub models: BTreeMap<String, ModelArtefact>,
    pub evaluation: Option<EvaluationReport>,
    pub fairness: FairnessReport,
    pub scores: BTreeMap<String, ScoreSummary>,
    /// Decision code → people × caisse.
    pub decisions: BTreeMap<String, usize>,
    /// Channel → people listed.
    pub channels: BTreeMap<String, usize>,
    /// Caisse → channel → people listed.
    pub per_caisse: BTreeMap<String, BTreeMap<String, usize>>,
    /// Benefit → (people listed naming it, sum of their expected monthly amounts).
    pub listed_by_benefit: BTreeMap<String, (usize, f64)>,
    pub feedback: Option<Value>,
    pub previous: Option<Previous>,
    pub rules: Vec<String>,
}

/// What the report compares with: the previous run named by `[report] previous`.
pub(crate) struct Previous {
    pub run_id: String,
    pub models: BTreeMap<String, ModelArtefact>,
    pub per_caisse: BTreeMap<String, usize>,
    /// What changed in the configuration, the reference files and the inputs: (what,
    /// before, now), French formatted.
    pub settings: Vec<[String; 3]>,
}

/// A configuration as dotted keys (`lists.capacity.telephone`) and their values, French
/// formatted. Paths are left out (the same file may be named differently; the inputs'
/// contents are compared by hash instead), and so are the run folder and the previous run.
fn flat_config(v: &Value, key: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                flat_config(v, &key, out);
            }
        }
        _ if key == "output"
            || key == "report.previous"
            || key == "evaluation.verite"
            || key.starts_with("reference.")
            || key.ends_with(".path") => {}
        Value::Null => {}
        Value::Number(n) => {
            let text = match n.as_u64() {
                Some(u) => crate::domain::fr::count(u as usize),
                None => n.to_string().replace('.', ","),
            };
            out.insert(key.to_string(), text);
        }
        Value::String(t) => {
            out.insert(key.to_string(), t.clone());
        }
        Value::Bool(b) => {
            out.insert(key.to_string(), if *b { "oui" } else { "non" }.into());
        }
        Value::Array(a) => {
            let mut items = BTreeMap::new();
            let parts: Vec<String> = a
                .iter()
                .map(|x| {
                    items.clear();
                    flat_config(x, "x", &mut items);
                    items.values().cloned().collect::<Vec<_>>().join(" ")
                })
                .collect();
            out.insert(key.to_string(), format!("[{}]", parts.join(" ; ")));
        }
    }
}

/// What differs between two runs' manifests: configuration keys, reference files (by
/// content) and input tables (by content and rows read).
pub(crate) fn setting_changes(
    before: &crate::tables::manifest::Manifest,
    now: &crate::tables::manifest::Manifest,
) -> Vec<[String; 3]> {
    use crate::domain::fr;
    let mut out = Vec::new();
    let config = |m: &crate::tables::manifest::Manifest| {
        let mut flat = BTreeMap::new();
        if let Ok(v) = serde_json::to_value(&m.config) {
            flat_config(&v, "", &mut flat);
        }
        flat
    };
    let (b, n) = (config(before), config(now));
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(n.keys()).collect();
    let absent = || "non renseigné".to_string();
    for k in keys {
        let (x, y) = (b.get(k), n.get(k));
        if x != y {
            out.push([
                format!("configuration : {k}"),
                x.cloned().unwrap_or_else(absent),
                y.cloned().unwrap_or_else(absent),
            ]);
        }
    }
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map_or(p.to_string(), |f| f.to_string_lossy().into_owned())
    };
    let refs = |m: &crate::tables::manifest::Manifest| -> BTreeMap<String, String> {
        m.reference
            .iter()
            .map(|f| (name(&f.path), f.blake3.clone()))
            .collect()
    };
    let (rb, rn) = (refs(before), refs(now));
    for (f, h) in &rn {
        if rb.get(f) != Some(h) {
            out.push([
                format!("référence : {f}"),
                if rb.contains_key(f) {
                    "version précédente"
                } else {
                    "absent"
                }
                .into(),
                "contenu modifié".into(),
            ]);
        }
    }
    let inputs = |m: &crate::tables::manifest::Manifest| -> BTreeMap<String, (Vec<String>, u64)> {
        m.inputs
            .iter()
            .map(|i| {
                (
                    i.table.clone(),
                    (
                        i.files.iter().map(|f| f.blake3.clone()).collect(),
                        i.rows_in,
                    ),
                )
            })
            .collect()
    };
    let (ib, in_) = (inputs(before), inputs(now));
    let tables: std::collections::BTreeSet<&String> = ib.keys().chain(in_.keys()).collect();
    for t in tables {
        match (ib.get(t), in_.get(t)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => out.push([
                format!(
                    "entrée {t} : lignes lues{}",
                    if x.0 == y.0 {
                        ""
                    } else {
                        " (fichiers modifiés)"
                    }
                ),
                fr::count(x.1 as usize),
                fr::count(y.1 as usize),
            ]),
            (x, y) => out.push([
                format!("entrée {t} : lignes lues"),
                x.map_or("absente".into(), |x| fr::count(x.1 as usize)),
                y.map_or("absente".into(), |y| fr::count(y.1 as usize)),
            ]),
        }
    }
    out
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(RecoursError::io(format!("reading {}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| RecoursError::Internal(format!("{}: {e}", path.display())))
}

fn read_models(run: &RunFolder) -> BTreeMap<String, ModelArtefact> {
    crate::domain::contract::SCORED
        .iter()
        .filter_map(|b| read_json(&run.model(b)).ok().map(|a| (b.to_string(), a)))
        .collect()
}

fn listed_per_caisse(d: &Decisions) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for i in 0..d.caisse.len() {
        if d.decision[i] == "liste" {
            let canal = d.canal[i].unwrap_or_default().to_string();
            *out.entry(d.caisse[i].to_string())
                .or_default()
                .entry(canal)
                .or_default() += 1;
        }
    }
    out
}

impl Figures {
    pub(crate) fn gather(ctx: &RunContext) -> Result<Figures> {
        let run = &ctx.run;
        let cfg = &ctx.config;
        let d = Decisions::read(run)?;
        // Counted by the interned codes, named once at the end.
        let mut decisions: BTreeMap<&str, usize> = BTreeMap::new();
        let mut channels: BTreeMap<&str, usize> = BTreeMap::new();
        let mut listed_by_benefit: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for i in 0..d.caisse.len() {
            *decisions.entry(d.decision[i]).or_default() += 1;
            if d.decision[i] == "liste" {
                *channels.entry(d.canal[i].unwrap_or_default()).or_default() += 1;
                for b in d.prestations[i].split('+') {
                    let e = listed_by_benefit.entry(b.to_string()).or_default();
                    e.0 += 1;
                    e.1 += d.montant_attendu[i];
                }
            }
        }
        let feedback_path = run.campaign_feedback_json();
        let previous = match &cfg.previous {
            Some(p) => {
                let dir = RunFolder::new(&p.path);
                let m = crate::tables::manifest::Manifest::read(dir.root())?;
                let now = crate::tables::manifest::Manifest::read(run.root())?;
                Some(Previous {
                    settings: setting_changes(&m, &now),
                    run_id: m.run_id,
                    models: read_models(&dir),
                    per_caisse: listed_per_caisse(&Decisions::read(&dir)?)
                        .into_iter()
                        .map(|(c, m)| (c, m.values().sum()))
                        .collect(),
                })
            }
            None => None,
        };
        let evaluation_path = run.evaluation();
        Ok(Figures {
            run_id: ctx.run_id.clone(),
            month: cfg.month.to_string(),
            quality: read_json(&run.quality())?,
            models: ctx
                .models
                .iter()
                .map(|(b, a)| (b.to_string(), a.clone()))
                .collect(),
            evaluation: if evaluation_path.exists() {
                Some(read_json(&evaluation_path)?)
            } else {
                None
            },
            fairness: read_json(&run.fairness())?,
            scores: score_summaries(run)?,
            decisions: decisions
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            channels: channels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            per_caisse: listed_per_caisse(&d),
            listed_by_benefit,
            feedback: if feedback_path.exists() {
                Some(read_json(&feedback_path)?)
            } else {
                None
            },
            previous,
            rules: cfg.lists.describe(),
        })
    }

    pub fn suppressed(&self, benefit: &str) -> Vec<SuppressedRow> {
        self.fairness
            .benefits
            .get(benefit)
            .map(|rows| fairness::suppressed(rows, self.fairness.min_cell))
            .unwrap_or_default()
    }
}
