//! Run configuration: `RawConfig` is what the TOML file says (serde, unknown keys refused);
//! `RunConfig` is the checked version every stage uses (paths resolved against the config
//! file's folder, run month parsed, barèmes loaded and in force, reference map loaded).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::bareme::{Bareme, Baremes};
use crate::domain::codes::Canal;
use crate::domain::contract::{TABLES, TableSpec};
use crate::domain::month::Month;
use crate::domain::reference::Reference;
use crate::error::{RecoursError, Result};

/// The file name of a configured path: what outputs print of it (never the folder).
pub fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

pub const DEFAULT_CONFIG: &str = "config/sample.toml";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Run month, `YYYY-MM`.
    pub month: String,
    /// Run folder (relative to the config file).
    pub output: String,
    pub reference: RawReference,
    pub inputs: BTreeMap<String, RawInput>,
    #[serde(default)]
    pub validation: RawValidation,
    #[serde(default)]
    pub eligibility: RawEligibility,
    #[serde(default)]
    pub features: RawFeatures,
    #[serde(default)]
    pub training: RawTraining,
    #[serde(default)]
    pub evaluation: RawEvaluation,
    #[serde(default)]
    pub lists: RawLists,
    #[serde(default)]
    pub report: RawReport,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLists {
    /// `probabilite`, or `montant_attendu` (probability × estimated amount).
    #[serde(default = "default_priority")]
    pub priority: String,
    /// People under this probability are not listed (deterministic candidates always are).
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// People contacted by a campaign within this many months are not listed again.
    #[serde(default = "default_recent_contact_months")]
    pub recent_contact_months: i32,
    /// Share of the people who would be listed kept off the list as a control group.
    #[serde(default = "default_control_share")]
    pub control_share: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// At or above this age, SMS and e-mail are never proposed.
    #[serde(default = "default_offline_age")]
    pub offline_age: i32,
    /// Monthly capacity per channel (telephone, sms, email, courrier) for every caisse.
    #[serde(default = "default_capacity")]
    pub capacity: BTreeMap<String, usize>,
    /// Per-caisse capacities where they differ, e.g. `[lists.capacity_by_caisse.CAF33]`.
    #[serde(default)]
    pub capacity_by_caisse: BTreeMap<String, BTreeMap<String, usize>>,
}

fn default_priority() -> String {
    "montant_attendu".into()
}
fn default_min_score() -> f64 {
    0.2
}
fn default_recent_contact_months() -> i32 {
    6
}
fn default_control_share() -> f64 {
    0.1
}
fn default_offline_age() -> i32 {
    75
}
fn default_capacity() -> BTreeMap<String, usize> {
    [
        ("telephone", 200),
        ("sms", 2000),
        ("email", 2000),
        ("courrier", 500),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Default for RawLists {
    fn default() -> Self {
        RawLists {
            priority: default_priority(),
            min_score: default_min_score(),
            recent_contact_months: default_recent_contact_months(),
            control_share: default_control_share(),
            seed: default_seed(),
            offline_age: default_offline_age(),
            capacity: default_capacity(),
            capacity_by_caisse: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatures {
    /// Features (or one-hot groups such as `logement`) left out of the models.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Protected attributes allowed as features: `age` (age and age bands) and/or
    /// `disability` (AAH). `sexe` can never be a feature. The model card lists them.
    #[serde(default)]
    pub allow_protected: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_test_share")]
    pub test_share: f64,
    #[serde(default = "default_folds")]
    pub folds: usize,
    #[serde(default = "default_alphas")]
    pub alphas: Vec<f64>,
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u64,
    #[serde(default = "default_gradient_tolerance")]
    pub gradient_tolerance: f64,
    #[serde(default = "default_convergence_tolerance")]
    pub convergence_tolerance: f64,
    /// Newton steps allowed after L-BFGS to polish the optimum.
    #[serde(default = "default_newton_steps")]
    pub newton_steps: u64,
    #[serde(default)]
    pub allow_non_convergence: bool,
    /// Fit the deployed model again on every label once the columns, interactions and L2
    /// strength are chosen on the training part (the held-out metrics measure the same
    /// procedure fitted on the training part).
    #[serde(default = "default_refit_on_all_labels")]
    pub refit_on_all_labels: bool,
    /// Model artefacts to reuse instead of training, by benefit (paths relative to the config).
    #[serde(default)]
    pub reuse: BTreeMap<String, String>,
}

fn default_seed() -> u64 {
    2025
}
fn default_test_share() -> f64 {
    0.25
}
fn default_folds() -> usize {
    5
}
fn default_alphas() -> Vec<f64> {
    vec![0.1, 1.0, 10.0, 100.0]
}
fn default_max_iterations() -> u64 {
    500
}
fn default_gradient_tolerance() -> f64 {
    1e-8
}
fn default_refit_on_all_labels() -> bool {
    true
}
fn default_newton_steps() -> u64 {
    5
}
fn default_convergence_tolerance() -> f64 {
    1e-6
}

impl Default for RawTraining {
    fn default() -> Self {
        RawTraining {
            seed: default_seed(),
            test_share: default_test_share(),
            folds: default_folds(),
            alphas: default_alphas(),
            max_iterations: default_max_iterations(),
            gradient_tolerance: default_gradient_tolerance(),
            convergence_tolerance: default_convergence_tolerance(),
            newton_steps: default_newton_steps(),
            allow_non_convergence: false,
            refit_on_all_labels: default_refit_on_all_labels(),
            reuse: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvaluation {
    /// Ground truth of a synthetic population (`verite`). Read by the evaluate stage only.
    pub verite: Option<String>,
    /// Fairness audit: a group is flagged when its recall falls below the recall of
    /// everyone else by more than this (0.10 = 10 points).
    #[serde(default = "default_recall_margin")]
    pub recall_margin: f64,
    /// Cells counting fewer people than this are suppressed in every table that leaves the
    /// national team (report, model cards); at least 11.
    #[serde(default = "default_min_cell")]
    pub min_cell: usize,
}

impl Default for RawEvaluation {
    fn default() -> Self {
        RawEvaluation {
            verite: None,
            recall_margin: default_recall_margin(),
            min_cell: default_min_cell(),
        }
    }
}

fn default_recall_margin() -> f64 {
    0.10
}

fn default_min_cell() -> usize {
    11
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// The previous run's folder (relative to the config file): the report shows what
    /// changed since (metrics, list sizes, coefficients).
    pub previous: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReference {
    pub departements: String,
    pub caisses: String,
    pub baremes: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// A file, or a folder of files (hive-style partitions such as `mois=2025-01/`).
    pub path: String,
    /// `parquet` or `csv`; by default from the file extension.
    pub format: Option<String>,
    /// CSV only: `,` (default) or `;`.
    pub separator: Option<String>,
    /// CSV only: decimals written with a comma (goes with `;`).
    #[serde(default)]
    pub decimal_comma: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawValidation {
    /// Largest share of a table's rows that may be rejected before the run stops.
    #[serde(default = "default_max_rejected")]
    pub max_rejected_share: f64,
    /// Per-table overrides of `max_rejected_share`.
    #[serde(default)]
    pub max_rejected_share_by_table: BTreeMap<String, f64>,
    /// Largest share by which a required table's kept rows may fall against the last
    /// ingest that passed in the same run folder before the run stops.
    #[serde(default = "default_max_row_drop")]
    pub max_row_drop_share: f64,
    /// Largest monthly amount in euros (absolute value) an amount of the extracts may
    /// have; a row beyond it is rejected (`montant_hors_bornes`).
    #[serde(default = "default_max_monthly_amount")]
    pub max_monthly_amount: f64,
    /// Per-nature overrides of `max_monthly_amount`: a `ressources` nature (`salaire`, …),
    /// a prestation code (the `droits` and `retours` amounts) or `loyer`.
    #[serde(default)]
    pub max_monthly_amount_by_nature: BTreeMap<String, f64>,
}

fn default_max_rejected() -> f64 {
    0.01
}

fn default_max_row_drop() -> f64 {
    0.2
}

fn default_max_monthly_amount() -> f64 {
    DEFAULT_MAX_MONTHLY_AMOUNT
}

/// The default of `[validation] max_monthly_amount`: far above any benefit, wage or rent of
/// the population served, and far below what could overflow when a person's rows of a
/// month are added up: a value beyond it is a unit or encoding error upstream.
pub(crate) const DEFAULT_MAX_MONTHLY_AMOUNT: f64 = 100_000.0;

/// The largest `max_monthly_amount` a config may set: the features add up a person's and a
/// unit's amounts over months, which stays far from overflowing at this bound.
pub(crate) const MAX_MONTHLY_AMOUNT_LIMIT: f64 = 1e9;

impl Default for RawValidation {
    fn default() -> Self {
        RawValidation {
            max_rejected_share: default_max_rejected(),
            max_rejected_share_by_table: BTreeMap::new(),
            max_row_drop_share: default_max_row_drop(),
            max_monthly_amount: default_max_monthly_amount(),
            max_monthly_amount_by_nature: BTreeMap::new(),
        }
    }
}

/// The checked `[validation]` amount bounds: the largest monthly amount, in absolute
/// value, of an amount of each nature.
#[derive(Clone, Debug, PartialEq)]
pub struct AmountBounds {
    pub default: f64,
    pub by_nature: BTreeMap<String, f64>,
}

impl AmountBounds {
    /// The bound of an amount of this nature (`None`: the nature is not known, or the
    /// table has none).
    pub fn of(&self, nature: Option<&str>) -> f64 {
        nature
            .and_then(|n| self.by_nature.get(n))
            .copied()
            .unwrap_or(self.default)
    }

    /// Whether every nature has the default bound (no per-row lookup needed).
    pub(crate) fn is_uniform(&self) -> bool {
        self.by_nature.values().all(|b| *b == self.default)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEligibility {
    /// RSA/PPA reference quarter as month offsets from the run month (default −4..−2).
    #[serde(default = "default_rsa_quarter")]
    pub rsa_ppa_quarter: [i32; 2],
    /// ASPA reference quarter (default −3..−1).
    #[serde(default = "default_aspa_quarter")]
    pub aspa_quarter: [i32; 2],
    /// Persons estimated eligible, not receiving, with at least this monthly amount are
    /// deterministic candidates: listed whatever the model says.
    #[serde(default = "default_deterministic_min_amount")]
    pub deterministic_min_amount: f64,
}

fn default_deterministic_min_amount() -> f64 {
    100.0
}

fn default_rsa_quarter() -> [i32; 2] {
    [-4, -2]
}
fn default_aspa_quarter() -> [i32; 2] {
    [-3, -1]
}

impl Default for RawEligibility {
    fn default() -> Self {
        RawEligibility {
            rsa_ppa_quarter: default_rsa_quarter(),
            aspa_quarter: default_aspa_quarter(),
            deterministic_min_amount: default_deterministic_min_amount(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Parquet,
    Csv,
}

#[derive(Clone, Debug, Serialize)]
pub struct InputSpec {
    pub table: &'static str,
    pub path: PathBuf,
    pub format: InputFormat,
    pub separator: u8,
    pub decimal_comma: bool,
}

/// A path named in the config: as written (what outputs and the hash cache show) and
/// resolved against the config file's folder.
#[derive(Clone, Debug)]
pub struct ConfigPath {
    pub written: String,
    pub path: PathBuf,
}

/// The checked configuration: every run parameter typed, every path resolved against the
/// config file's folder.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub file: PathBuf,
    /// The file as written: recorded in the manifest and in the stages' fingerprints
    /// ([`RunConfig::as_written`]), never read for a run parameter.
    raw: RawConfig,
    pub month: Month,
    pub output: PathBuf,
    pub reference: Reference,
    pub baremes: Baremes,
    pub bareme: Bareme,
    /// Inputs in contract order; optional tables absent from the config are absent here.
    pub inputs: Vec<InputSpec>,
    pub max_rejected_share: BTreeMap<&'static str, f64>,
    /// `[validation] max_row_drop_share`, within 0..1.
    pub max_row_drop_share: f64,
    /// `[validation]`: the largest monthly amount of each nature.
    pub amount_bounds: AmountBounds,
    /// `[reference]`: the départements, caisses and barèmes files.
    pub reference_files: Vec<(&'static str, ConfigPath)>,
    /// `[eligibility]`
    pub quarters: Quarters,
    pub deterministic_min_amount: f64,
    /// `[features]`
    pub features: RawFeatures,
    /// `[training.reuse]`: artefacts reused instead of trained, by benefit.
    pub reuse: BTreeMap<&'static str, ConfigPath>,
    /// `[evaluation]`
    pub verite: Option<ConfigPath>,
    pub recall_margin: f64,
    pub min_cell: usize,
    /// `[lists]`
    pub lists: ListRules,
    /// `[report] previous`: the run folder the report compares with.
    pub previous: Option<ConfigPath>,
}

fn err(file: &Path, message: impl Into<String>) -> RecoursError {
    RecoursError::Config {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// Reads and parses the TOML file, nothing else checked.
pub fn read_raw(file: &Path) -> Result<RawConfig> {
    let text = std::fs::read_to_string(file).map_err(|e| err(file, format!("cannot read: {e}")))?;
    toml::from_str(&text).map_err(|e| err(file, e.to_string()))
}

/// Removes `.` and `a/..` pairs without touching the file system (for messages and outputs).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn base_dir(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The configuration is copied into the manifest and the fingerprints, and its file's path
/// into the manifest: a NIR-like value in any key, value or path of it (a folder named
/// after a person) stops the run before anything is written, naming the key, not the value.
fn nir_check(file: &Path, raw: &RawConfig) -> Result<()> {
    fn walk(v: &serde_json::Value, key: &str, found: &mut Vec<String>) {
        let nir = crate::domain::nir::is_nir_like;
        match v {
            serde_json::Value::String(s) if nir(s) => found.push(key.to_string()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, found)),
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    let key = if key.is_empty() {
                        k.clone()
                    } else {
                        format!("{key}.{k}")
                    };
                    if nir(k) {
                        found.push(key.clone());
                    }
                    walk(x, &key, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    if let Ok(v) = serde_json::to_value(raw) {
        walk(&v, "", &mut found);
    }
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let path_is_private = crate::domain::nir::is_nir_like(&absolute.to_string_lossy());
    if path_is_private {
        found.push("(the configuration file's path)".into());
    }
    // The message shows the file's path only when it holds no NIR-like value itself.
    let shown = if path_is_private {
        "(its path is not shown)".to_string()
    } else {
        file.display().to_string()
    };
    match found.first() {
        None => Ok(()),
        Some(key) => Err(RecoursError::Privacy {
            table: format!("configuration {shown}"),
            column: key.clone(),
            count: found.len(),
        }),
    }
}

/// The reference map and barèmes only: what `generate` needs.
pub fn load_reference(file: &Path, raw: &RawConfig) -> Result<(Reference, Baremes)> {
    let dir = base_dir(file);
    let r = &raw.reference;
    let reference = Reference::load(&dir.join(&r.departements), &dir.join(&r.caisses))?;
    let baremes = Baremes::load(&dir.join(&r.baremes))?;
    Ok((reference, baremes))
}

impl RunConfig {
    pub fn load(file: &Path) -> Result<RunConfig> {
        let raw = read_raw(file)?;
        RunConfig::check(file, raw)
    }

    pub fn check(file: &Path, raw: RawConfig) -> Result<RunConfig> {
        nir_check(file, &raw)?;
        let dir = base_dir(file);
        let month = Month::parse(&raw.month).ok_or_else(|| {
            err(
                file,
                format!("key 'month': '{}' is not a month YYYY-MM", raw.month),
            )
        })?;
        let (reference, baremes) = load_reference(file, &raw)?;
        let bareme = baremes.in_force(month)?;

        let mut problems = Vec::new();
        for name in raw.inputs.keys() {
            if !TABLES.iter().any(|t| t.name == name) {
                problems.push(format!(
                    "[inputs.{name}]: unknown table (expected one of {})",
                    TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let mut inputs = Vec::new();
        for spec in TABLES {
            match raw.inputs.get(spec.name) {
                None if spec.required => {
                    problems.push(format!("[inputs.{}]: required table is missing", spec.name))
                }
                None => {}
                Some(input) => match resolve_input(&dir, spec, input) {
                    Ok(i) => inputs.push(i),
                    Err(p) => problems.push(p),
                },
            }
        }
        let mut max_rejected_share = BTreeMap::new();
        let v = &raw.validation;
        for spec in TABLES {
            max_rejected_share.insert(spec.name, v.max_rejected_share);
        }
        for (t, share) in &v.max_rejected_share_by_table {
            match TABLES.iter().find(|s| s.name == t) {
                Some(spec) => {
                    max_rejected_share.insert(spec.name, *share);
                }
                None => problems.push(format!(
                    "[validation.max_rejected_share_by_table]: unknown table '{t}'"
                )),
            }
        }
        for (t, share) in &max_rejected_share {
            let key = if v.max_rejected_share_by_table.contains_key(*t) {
                format!("[validation.max_rejected_share_by_table] {t}")
            } else {
                format!("[validation] max_rejected_share (for {t})")
            };
            in_range(
                &mut problems,
                &key,
                share,
                (0.0..=1.0).contains(share),
                "within [0, 1]",
            );
        }
        let amount_range =
            format!("a finite amount within (0, {MAX_MONTHLY_AMOUNT_LIMIT:e}] euros");
        let amount_ok = |x: f64| x > 0.0 && x <= MAX_MONTHLY_AMOUNT_LIMIT;
        in_range(
            &mut problems,
            "[validation] max_monthly_amount",
            v.max_monthly_amount,
            amount_ok(v.max_monthly_amount),
            &amount_range,
        );
        for (nature, bound) in &v.max_monthly_amount_by_nature {
            let key = format!("[validation.max_monthly_amount_by_nature] {nature}");
            if !crate::domain::contract::is_amount_nature(nature) {
                problems.push(format!(
                    "{key}: unknown nature (a ressources nature: {}; a prestation: {}; or {})",
                    crate::domain::contract::NATURES.join(", "),
                    crate::domain::contract::PRESTATIONS.join(", "),
                    crate::domain::contract::LOYER
                ));
            }
            in_range(&mut problems, &key, bound, amount_ok(*bound), &amount_range);
        }
        in_range(
            &mut problems,
            "[validation] max_row_drop_share",
            v.max_row_drop_share,
            (0.0..=1.0).contains(&v.max_row_drop_share),
            "within [0, 1]",
        );
        for (key, q) in [
            ("rsa_ppa_quarter", raw.eligibility.rsa_ppa_quarter),
            ("aspa_quarter", raw.eligibility.aspa_quarter),
        ] {
            if q[0] > q[1] || q[1] >= 0 || q[0] < -12 {
                problems.push(format!("[eligibility] {key}: {q:?} must be two month offsets from..to, with -12 <= from <= to <= -1"));
            }
        }
        let amount = raw.eligibility.deterministic_min_amount;
        in_range(
            &mut problems,
            "[eligibility] deterministic_min_amount",
            amount,
            (0.0..=MAX_MONTHLY_AMOUNT_LIMIT).contains(&amount),
            &format!("a finite amount within [0, {MAX_MONTHLY_AMOUNT_LIMIT:e}] euros"),
        );
        let t = &raw.training;
        in_range(
            &mut problems,
            "[training] test_share",
            t.test_share,
            t.test_share > 0.0 && t.test_share < 1.0,
            "within (0, 1)",
        );
        in_range(
            &mut problems,
            "[training] folds",
            t.folds,
            (2..=MAX_FOLDS).contains(&t.folds),
            &format!("within [2, {MAX_FOLDS}]"),
        );
        if t.alphas.is_empty() {
            problems
                .push("[training] alphas: the list is empty; give at least one L2 strength".into());
        }
        for a in &t.alphas {
            in_range(
                &mut problems,
                "[training] alphas",
                a,
                *a > 0.0 && *a <= MAX_ALPHA,
                &format!("finite numbers within (0, {MAX_ALPHA:e}]"),
            );
        }
        in_range(
            &mut problems,
            "[training] max_iterations",
            t.max_iterations,
            (1..=MAX_ITERATIONS).contains(&t.max_iterations),
            &format!("within [1, {MAX_ITERATIONS}]"),
        );
        for (key, tol) in [
            ("gradient_tolerance", t.gradient_tolerance),
            ("convergence_tolerance", t.convergence_tolerance),
        ] {
            in_range(
                &mut problems,
                &format!("[training] {key}"),
                tol,
                tol > 0.0 && tol < 1.0,
                "within (0, 1)",
            );
        }
        in_range(
            &mut problems,
            "[training] newton_steps",
            t.newton_steps,
            t.newton_steps <= MAX_NEWTON_STEPS,
            &format!("within [0, {MAX_NEWTON_STEPS}]"),
        );
        let path_of = |written: &String| ConfigPath {
            written: written.clone(),
            path: normalize(&dir.join(written)),
        };
        let mut reuse = BTreeMap::new();
        for (b, path) in &t.reuse {
            match crate::domain::contract::SCORED.iter().find(|s| *s == b) {
                None => problems.push(format!(
                    "[training.reuse] {b}: not a scored benefit (PPA, RSA, ASPA)"
                )),
                Some(_) if !dir.join(path).exists() => problems.push(format!(
                    "[training.reuse] {b}: {} does not exist",
                    dir.join(path).display()
                )),
                Some(benefit) => {
                    reuse.insert(*benefit, path_of(path));
                }
            }
        }
        for a in &raw.features.allow_protected {
            if a != "age" && a != "disability" {
                problems.push(format!(
                    "[features] allow_protected: '{a}' is not allowed (age, disability; sexe never)"
                ));
            }
        }
        if let Some(v) = &raw.evaluation.verite {
            let path = dir.join(v);
            if !path.exists() {
                problems.push(format!(
                    "[evaluation] verite: {} does not exist",
                    path.display()
                ));
            } else if path.is_file() && !is_parquet(&path) {
                problems.push(format!(
                    "[evaluation] verite: {} is not a Parquet file (the ground truth is read \
                     as Parquet only)",
                    path.display()
                ));
            }
        }
        if raw.evaluation.min_cell < 11 {
            problems.push(format!(
                "[evaluation] min_cell: {} is below 11, the smallest cell that may leave the national team",
                raw.evaluation.min_cell
            ));
        }
        in_range(
            &mut problems,
            "[evaluation] min_cell",
            raw.evaluation.min_cell,
            raw.evaluation.min_cell <= MAX_MIN_CELL,
            "at most 1 000 000 people (a larger one hides every count of the report)",
        );
        in_range(
            &mut problems,
            "[evaluation] recall_margin",
            raw.evaluation.recall_margin,
            (0.0..1.0).contains(&raw.evaluation.recall_margin),
            "within [0, 1)",
        );
        if let Some(p) = &raw.report.previous
            && !dir.join(p).join("manifest.json").exists()
        {
            problems.push(format!(
                "[report] previous: {} holds no manifest.json (not a run folder)",
                dir.join(p).display()
            ));
        }
        let l = &raw.lists;
        if l.priority != "probabilite" && l.priority != "montant_attendu" {
            problems.push(format!(
                "[lists] priority: '{}' must be 'probabilite' or 'montant_attendu'",
                l.priority
            ));
        }
        in_range(
            &mut problems,
            "[lists] min_score",
            l.min_score,
            (0.0..=1.0).contains(&l.min_score),
            "a probability within [0, 1]",
        );
        in_range(
            &mut problems,
            "[lists] recent_contact_months",
            l.recent_contact_months,
            (0..=MAX_RECENT_CONTACT_MONTHS).contains(&l.recent_contact_months),
            &format!("a number of months within [0, {MAX_RECENT_CONTACT_MONTHS}]"),
        );
        in_range(
            &mut problems,
            "[lists] control_share",
            l.control_share,
            (0.0..1.0).contains(&l.control_share),
            "within [0, 1)",
        );
        in_range(
            &mut problems,
            "[lists] offline_age",
            l.offline_age,
            OFFLINE_AGES.contains(&l.offline_age),
            &format!(
                "an age within [{}, {}]",
                OFFLINE_AGES.start(),
                OFFLINE_AGES.end()
            ),
        );
        for c in l.capacity_by_caisse.keys() {
            if !reference.is_caisse(c) {
                problems.push(format!(
                    "[lists.capacity_by_caisse.{c}]: not a caisse of the reference map"
                ));
            }
        }
        for (where_, caps) in std::iter::once(("[lists.capacity]".to_string(), &l.capacity)).chain(
            l.capacity_by_caisse
                .iter()
                .map(|(c, m)| (format!("[lists.capacity_by_caisse.{c}]"), m)),
        ) {
            for (k, n) in caps {
                if Canal::from_code(k).is_none() {
                    problems.push(format!(
                        "{where_}: unknown channel '{k}' (telephone, sms, email, courrier)"
                    ));
                }
                in_range(
                    &mut problems,
                    &format!("{where_} {k}"),
                    n,
                    *n <= MAX_CAPACITY,
                    "a whole number from 0 to 10 000 000 a month",
                );
            }
        }
        let output = normalize(&dir.join(&raw.output));
        if let Some(p) = output_problem(&raw.output, &output, file, &inputs) {
            problems.push(format!("output: {p}"));
        }
        if !problems.is_empty() {
            return Err(err(file, problems.join("\n  ")));
        }
        let e = &raw.eligibility;
        let r = &raw.reference;
        let run_config = RunConfig {
            file: file.to_path_buf(),
            month,
            output,
            reference,
            baremes,
            bareme,
            inputs,
            max_rejected_share,
            max_row_drop_share: v.max_row_drop_share,
            amount_bounds: AmountBounds {
                default: raw.validation.max_monthly_amount,
                by_nature: raw.validation.max_monthly_amount_by_nature.clone(),
            },
            reference_files: vec![
                ("departements", path_of(&r.departements)),
                ("caisses", path_of(&r.caisses)),
                ("baremes", path_of(&r.baremes)),
            ],
            quarters: Quarters {
                rsa_ppa: (e.rsa_ppa_quarter[0], e.rsa_ppa_quarter[1]),
                aspa: (e.aspa_quarter[0], e.aspa_quarter[1]),
            },
            deterministic_min_amount: e.deterministic_min_amount,
            features: raw.features.clone(),
            reuse,
            verite: raw.evaluation.verite.as_ref().map(path_of),
            recall_margin: raw.evaluation.recall_margin,
            min_cell: raw.evaluation.min_cell,
            lists: list_rules(&raw.lists),
            previous: raw.report.previous.as_ref().map(path_of),
            raw,
        };
        // The PPA averages its reference quarter month by month: each month needs its barème.
        run_config
            .baremes
            .ppa_quarter(month, run_config.quarters().rsa_ppa)?;
        Ok(run_config)
    }

    pub(crate) fn quarters(&self) -> Quarters {
        self.quarters
    }

    /// The config file as written: for the manifest and the stages' fingerprints.
    pub(crate) fn as_written(&self) -> &RawConfig {
        &self.raw
    }

    /// A path recorded relative to the config file's folder (the manifest's inputs),
    /// resolved.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        normalize(&base_dir(&self.file).join(path))
    }

    pub(crate) fn train_config(&self) -> recours_models::train::TrainConfig {
        let t = &self.raw.training;
        recours_models::train::TrainConfig {
            seed: t.seed,
            test_share: t.test_share,
            folds: t.folds,
            alphas: t.alphas.clone(),
            solver: recours_models::logistic::SolverSettings {
                alpha: t.alphas[0],
                max_iterations: t.max_iterations,
                gradient_tolerance: t.gradient_tolerance,
                convergence_tolerance: t.convergence_tolerance,
                newton_steps: t.newton_steps,
                ..recours_models::logistic::SolverSettings::default()
            },
            allow_non_convergence: t.allow_non_convergence,
            refit_on_all_labels: t.refit_on_all_labels,
        }
    }

    pub fn input(&self, table: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.table == table)
    }
}

/// The list rules of a checked `[lists]` section (priority and channels already checked).
fn list_rules(l: &RawLists) -> ListRules {
    let caps = |m: &BTreeMap<String, usize>| {
        m.iter()
            .filter_map(|(k, v)| Canal::from_code(k).map(|c| (c, *v)))
            .collect()
    };
    ListRules {
        priority: if l.priority == "probabilite" {
            Priority::Probabilite
        } else {
            Priority::MontantAttendu
        },
        min_score: l.min_score,
        recent_contact_months: l.recent_contact_months,
        control_share: l.control_share,
        seed: l.seed,
        offline_age: l.offline_age,
        capacity: caps(&l.capacity),
        capacity_by_caisse: l
            .capacity_by_caisse
            .iter()
            .map(|(c, m)| (c.clone(), caps(m)))
            .collect(),
    }
}

/// Records a problem when a numeric setting is outside its range. `ok` is a comparison of
/// the value with finite bounds, so NaN and infinities fail it.
fn in_range(
    problems: &mut Vec<String>,
    key: &str,
    value: impl std::fmt::Display,
    ok: bool,
    range: &str,
) {
    if !ok {
        problems.push(format!("{key}: {value} is out of range, must be {range}"));
    }
}

/// The largest monthly capacity of one channel of one caisse: far beyond any caisse's
/// population, and small enough that sums over every caisse and channel cannot overflow.
const MAX_CAPACITY: usize = 10_000_000;

/// The largest small-cell threshold: beyond it every count of the report is hidden.
const MAX_MIN_CELL: usize = 1_000_000;
/// Cross-validation folds at most (each fold is one more fit per alpha and benefit).
const MAX_FOLDS: usize = 100;
/// The strongest L2 penalty tried: beyond it every coefficient is zero to the solver's
/// precision, and an infinite one never converges.
const MAX_ALPHA: f64 = 1e6;
/// Solver iterations at most (each is a pass over the learning set).
const MAX_ITERATIONS: u64 = 100_000;
/// Newton polishing steps at most (each builds and factors the Hessian).
const MAX_NEWTON_STEPS: u64 = 100;
/// Months a campaign contact keeps a person off the lists, at most (ten years).
const MAX_RECENT_CONTACT_MONTHS: i32 = 120;
/// The ages `offline_age` may take: from adulthood to beyond any living person.
const OFFLINE_AGES: std::ops::RangeInclusive<i32> = 18..=130;

/// Why a run folder cannot be used (`None` when it can): `written` is the setting as
/// written (`output` or `--output`), `resolved` the folder it names. The run folder must be
/// named, and must not be the configuration's folder or hold it (a run writes and replaces
/// files in its folder), nor be inside an input's folder or hold an input (the next run
/// would read its outputs as extracts, or remove an extract).
pub fn output_problem(
    written: &str,
    resolved: &Path,
    config_file: &Path,
    inputs: &[InputSpec],
) -> Option<String> {
    if written.trim().is_empty() {
        return Some("the run folder is empty; name a folder for the run".into());
    }
    let absolute = |p: &Path| {
        std::path::absolute(p)
            .map(|p| normalize(&p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    // Compared through the real paths when they exist (symbolic links, `..`).
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| absolute(p));
    let folder = real(resolved);
    let config_dir = real(&base_dir(&absolute(config_file)));
    if config_dir.starts_with(&folder) {
        return Some(format!(
            "'{written}' is the configuration's folder or holds it ({}); name a folder of \
             its own for the run",
            config_dir.display()
        ));
    }
    for input in inputs {
        let extract = real(&input.path);
        if folder.starts_with(&extract) || extract.starts_with(&folder) {
            return Some(format!(
                "'{written}' is inside the input of table {} or holds it ({}): a run would \
                 read its own outputs as extracts, or remove an extract; name a folder of its \
                 own for the run",
                input.table,
                extract.display()
            ));
        }
    }
    // The run folder's path is written into its log and the messages of every stage.
    if crate::domain::nir::is_nir_like(&folder.to_string_lossy()) {
        return Some(
            "the run folder's path looks like it holds a NIR (13 or 15 digits starting with \
             1, 2, 7 or 8); name the folder otherwise"
                .into(),
        );
    }
    None
}

/// Whether `path` begins with the Parquet magic bytes.
fn is_parquet(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"PAR1"
}

fn resolve_input(dir: &Path, spec: &TableSpec, input: &RawInput) -> Result<InputSpec, String> {
    let key = format!("[inputs.{}]", spec.name);
    let path = dir.join(&input.path);
    if !path.exists() {
        return Err(format!("{key} path: {} does not exist", path.display()));
    }
    let format = match input.format.as_deref() {
        Some("parquet") => InputFormat::Parquet,
        Some("csv") => InputFormat::Csv,
        Some(other) => {
            return Err(format!(
                "{key} format: '{other}' is neither 'parquet' nor 'csv'"
            ));
        }
        None if path.extension().is_some_and(|e| e == "csv") => InputFormat::Csv,
        None => InputFormat::Parquet,
    };
    let separator = match input.separator.as_deref() {
        None | Some(",") => b',',
        Some(";") => b';',
        Some(other) => return Err(format!("{key} separator: '{other}' must be ',' or ';'")),
    };
    if format == InputFormat::Parquet && (input.separator.is_some() || input.decimal_comma) {
        return Err(format!(
            "{key}: separator and decimal_comma apply to CSV only"
        ));
    }
    Ok(InputSpec {
        table: spec.name,
        path,
        format,
        separator,
        decimal_comma: input.decimal_comma,
    })
}

/// Reference quarters as month offsets from the run month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quarters {
    pub rsa_ppa: (i32, i32),
    pub aspa: (i32, i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// The probability of non-take-up.
    Probabilite,
    /// Probability × estimated monthly amount: euros a contact is expected to open.
    MontantAttendu,
}

/// The list rules, from the config (printed in each list's read-me).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListRules {
    pub priority: Priority,
    pub min_score: f64,
    pub recent_contact_months: i32,
    pub control_share: f64,
    pub seed: u64,
    /// At or above this age, SMS and e-mail are never proposed.
    pub offline_age: i32,
    /// Monthly capacity per channel for every caisse…
    pub capacity: BTreeMap<Canal, usize>,
    /// …and per caisse where it differs.
    pub capacity_by_caisse: BTreeMap<String, BTreeMap<Canal, usize>>,
}

impl ListRules {
    pub fn capacity(&self, caisse: &str, canal: Canal) -> usize {
        self.capacity_by_caisse
            .get(caisse)
            .and_then(|m| m.get(&canal))
            .or_else(|| self.capacity.get(&canal))
            .copied()
            .unwrap_or(0)
    }

    /// The rules in plain French, for the read-me and the XLSX "Lisez-moi" sheet.
    pub fn describe(&self) -> Vec<String> {
        let mut v = vec![
            match self.priority {
                Priority::Probabilite => "Ordre de priorité : probabilité de non-recours, de la plus forte à la plus faible.".to_string(),
                Priority::MontantAttendu => {
                    "Ordre de priorité : montant attendu (probabilité de non-recours × droit mensuel estimé), du plus fort au plus faible.".to_string()
                }
            },
            format!(
                "Score minimal : {:.0} % de probabilité de non-recours (sauf droit calculé, ci-dessous).",
                100.0 * self.min_score
            ),
            "Jamais listées : les personnes qui se sont opposées au contact à partir de l'exploitation de données, celles qui perçoivent déjà la prestation.".to_string(),
            format!("Non listées : les personnes contactées lors d'une campagne dans les {} derniers mois.", self.recent_contact_months),
            format!(
                "Groupe témoin : {:.0} % des personnes qui auraient été contactées (joignables, dans la capacité), tirées au hasard (graine {}), ne sont pas contactées ; elles servent à mesurer l'effet des contacts.",
                100.0 * self.control_share,
                self.seed
            ),
            format!(
                "Canal : SMS ou e-mail seulement pour les personnes qui utilisent leur espace en ligne et ont moins de {} ans ; sinon téléphone (si un mobile est connu) ou courrier. Ordre de préférence : SMS, e-mail, téléphone, courrier ; si la capacité d'un canal est atteinte, le suivant est proposé.",
                self.offline_age
            ),
        ];
        let caps: Vec<String> = Canal::ALL
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.label(),
                    self.capacity.get(c).copied().unwrap_or(0)
                )
            })
            .collect();
        v.push(format!("Capacité mensuelle par caisse et par canal : {} (sauf mention contraire dans la configuration).", caps.join(", ")));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (PathBuf, RawConfig) {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/sample.toml");
        let raw = read_raw(&file).unwrap();
        (file, raw)
    }

    fn problems(file: &Path, raw: RawConfig) -> String {
        match RunConfig::check(file, raw) {
            Err(RecoursError::Config { message, .. }) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    /// Every numeric setting out of its range (NaN and infinities included) is named, with
    /// its range, in one error listing them all.
    #[test]
    fn every_numeric_setting_out_of_range_is_named_at_once() {
        let (file, mut raw) = sample();
        assert!(RunConfig::check(&file, raw.clone()).is_ok());
        raw.validation.max_rejected_share = f64::NAN;
        raw.validation.max_monthly_amount = f64::INFINITY;
        raw.validation
            .max_monthly_amount_by_nature
            .insert("salaire".into(), -1.0);
        raw.eligibility.deterministic_min_amount = f64::INFINITY;
        let t = &mut raw.training;
        t.test_share = 1.0;
        t.folds = 1;
        t.alphas = vec![1.0, f64::INFINITY, 0.0];
        t.max_iterations = 0;
        t.gradient_tolerance = -1.0;
        t.convergence_tolerance = f64::NAN;
        t.newton_steps = 1_000;
        raw.evaluation.recall_margin = f64::NAN;
        let l = &mut raw.lists;
        l.min_score = f64::NAN;
        l.recent_contact_months = -5;
        l.control_share = 1.0;
        l.offline_age = -1;
        let message = problems(&file, raw);
        for key in [
            "[validation] max_rejected_share (for personnes): NaN",
            "[validation] max_monthly_amount: inf",
            "[validation.max_monthly_amount_by_nature] salaire: -1",
            "[eligibility] deterministic_min_amount: inf",
            "[training] test_share: 1",
            "[training] folds: 1",
            "[training] alphas: inf",
            "[training] alphas: 0",
            "[training] max_iterations: 0",
            "[training] gradient_tolerance: -1",
            "[training] convergence_tolerance: NaN",
            "[training] newton_steps: 1000",
            "[evaluation] recall_margin: NaN",
            "[lists] min_score: NaN is out of range, must be a probability within [0, 1]",
            "[lists] recent_contact_months: -5",
            "[lists] control_share: 1",
            "[lists] offline_age: -1 is out of range, must be an age within [18, 130]",
        ] {
            assert!(message.contains(key), "{key} not in:\n{message}");
        }
    }

    /// The run folder is named, and is neither the config's folder nor one that holds it.
    #[test]
    fn a_run_folder_that_is_empty_or_holds_the_config_is_refused() {
        let (file, raw) = sample();
        for output in ["", " ", ".", "..", "../.."] {
            let mut bad = raw.clone();
            bad.output = output.into();
            let message = problems(&file, bad);
            assert!(message.contains("output: "), "{output:?}: {message}");
        }
        let config_dir = file.parent().unwrap();
        assert!(output_problem("runs", &config_dir.join("runs"), &file, &[]).is_none());
        assert!(output_problem("x", config_dir, &file, &[]).is_some());
    }
}
