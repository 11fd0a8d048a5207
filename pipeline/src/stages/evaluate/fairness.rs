//! The fairness audit: for each benefit and each group (sex, age band, household type,
//! AAH recipients, housing status, département), the group's share of the scoring
//! population and of the contact lists and, where a truth is known (the synthetic `verite`,
//! handed in by the evaluate stage), precision and recall with Wilson 95 % intervals and a
//! flag where the group's recall falls below everyone else's by more than the configured
//! margin. [`suppressed`] blanks the cells counting fewer than `min_cell` people, for every
//! table that leaves the national team.

use std::collections::BTreeMap;

use rustc_hash::FxHashSet as HashSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::disclosure::{HIDDEN, suppress_counts};
use crate::domain::entitlement::Statut;
use crate::io::excel::escape_cell;
use crate::stages::lists::feedback::Outcome;
use crate::tables::eligibility::FoyerFacts;
use crate::tables::features::FeatureTable;
use crate::tables::households::Households;

pub(crate) const FAIRNESS_SCHEMA_VERSION: u32 = 1;

/// A proportion with its Wilson 95 % interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub value: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

pub(crate) fn wilson(successes: usize, n: usize) -> Option<Rate> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    Some(Rate {
        value: p,
        ci95_low: (centre - half).max(0.0),
        ci95_high: (centre + half).min(1.0),
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupRow {
    /// `sexe`, `tranche_age`, `type_foyer`, `aah`, `statut_logement`, `departement`.
    pub dimension: String,
    pub groupe: String,
    /// People of the group in the benefit's scoring population, and their share of it.
    pub population: usize,
    pub part_population: f64,
    /// People of the group on the contact lists for the benefit, and their share of them.
    pub listes: usize,
    pub part_liste: f64,
    /// With a truth: people of the group in non-take-up, and those of them listed.
    pub non_recours: Option<usize>,
    pub vrais_positifs: Option<usize>,
    /// Share of the group's listed people in non-take-up.
    pub precision: Option<Rate>,
    /// Share of the group's people in non-take-up who are listed.
    pub rappel: Option<Rate>,
    /// Recall of everyone outside the group.
    pub rappel_autres: Option<f64>,
    /// The group's recall is below `rappel_autres` by more than the margin (groups with at
    /// least `min_cell` people in non-take-up only).
    pub alerte: bool,
    /// The past campaign (`retours`): people of the group it contacted for the benefit,
    /// those whose right was opened, and that rate — the measure of precision in
    /// production, where no ground truth exists.
    pub campagne_contactes: usize,
    pub campagne_droits_ouverts: usize,
    pub campagne_taux: Option<Rate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FairnessReport {
    pub schema_version: u32,
    /// What precision and recall are measured against: `verite` (synthetic data), or none.
    pub reference: Option<String>,
    pub recall_margin: f64,
    pub min_cell: usize,
    pub benefits: BTreeMap<String, Vec<GroupRow>>,
    /// With a truth: people in non-take-up of each benefit who are outside its scoring
    /// population (legal pre-filters, or the benefit is not estimated for them) — missed by
    /// construction, and not in any group's recall.
    pub non_recours_hors_population: BTreeMap<String, usize>,
}

/// The audit's dimensions: the code `fairness.json` and the CSVs' `dimension` column carry,
/// and the French label every table, chart and model card shows. The one catalog of the
/// audit's words, with [`group_label`].
pub(crate) const DIMENSIONS: [(&str, &str); 6] = [
    ("sexe", "sexe"),
    ("tranche_age", "tranche d'âge"),
    ("type_foyer", "type de foyer"),
    ("aah", "AAH"),
    ("statut_logement", "logement"),
    ("departement", "département"),
];

/// A dimension's French label (the code itself for one the audit does not have).
pub(crate) fn dimension_label(code: &str) -> &str {
    DIMENSIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, label)| label)
}

/// A group's French label. Age bands, household types and AAH are written in words by
/// [`groups_of`] already; sex and housing status are codes of the extracts (housing in the
/// words of `Statut::label`, as the feature dictionary names its levels); a département is
/// its number.
pub(crate) fn group_label<'a>(dimension: &str, group: &'a str) -> &'a str {
    match (dimension, group) {
        ("sexe", "F") => "femmes",
        ("sexe", "M") => "hommes",
        ("statut_logement", UNKNOWN) => Statut::UNKNOWN_LABEL,
        ("statut_logement", g) => Statut::label_of(Some(g)),
        (_, g) => g,
    }
}

/// A group as people read it: `logement : hébergé gratuitement`.
pub(crate) fn group_words(dimension: &str, group: &str) -> String {
    format!(
        "{} : {}",
        dimension_label(dimension),
        group_label(dimension, group)
    )
}

/// The group of people without the row a dimension is read from.
const UNKNOWN: &str = "inconnu";

/// The groups a person belongs to, one per dimension (household type and housing status
/// from the benefit's eligibility row, `inconnu` without one).
fn groups_of(
    p: &crate::tables::households::Person,
    e: Option<&FoyerFacts>,
    run: crate::domain::month::Month,
) -> [(&'static str, &'static str); 6] {
    [
        ("sexe", p.sexe),
        ("tranche_age", age_band(p.age)),
        (
            "type_foyer",
            e.map_or(UNKNOWN, |e| household_type(e.couple, e.nb_enfants)),
        ),
        (
            "aah",
            if p.receives("AAH", run) {
                "perçoit l'AAH"
            } else {
                "ne perçoit pas l'AAH"
            },
        ),
        (
            "statut_logement",
            e.and_then(|e| e.statut_logement).unwrap_or(UNKNOWN),
        ),
        ("departement", p.departement),
    ]
}

pub(crate) fn age_band(age: i32) -> &'static str {
    match age {
        ..25 => "moins de 25 ans",
        25..35 => "25 à 34 ans",
        35..50 => "35 à 49 ans",
        50..65 => "50 à 64 ans",
        65..75 => "65 à 74 ans",
        _ => "75 ans et plus",
    }
}

pub(crate) fn household_type(couple: bool, children: u32) -> &'static str {
    match (couple, children > 0) {
        (false, true) => "parent isolé",
        (false, false) => "seul sans enfant",
        (true, true) => "couple avec enfants",
        (true, false) => "couple sans enfant",
    }
}

/// The audit. `listed` holds (pseudo_id, benefit) of everyone on a contact list; `truth`
/// (pseudo_id, benefit) → in non-take-up, when known.
pub fn audit(
    households: &Households,
    eligibility: &[FoyerFacts],
    features: &FeatureTable,
    listed: &HashSet<(String, String)>,
    truth: Option<(&str, &crate::stages::evaluate::truth::Truth)>,
    outcomes: &[Outcome],
    recall_margin: f64,
    min_cell: usize,
) -> FairnessReport {
    // Eligibility rows and features are both in (benefit, id) order (the stages write them
    // so): a person's eligibility row is found by walking both in step, and anyone else's
    // by binary search, with no map of millions of rows.
    let elig = ByBenefitAndId::new(eligibility.len(), |i| {
        (eligibility[i].prestation, eligibility[i].pseudo_id.as_str())
    });
    let scored = ByBenefitAndId::new(features.len(), |i| {
        (features.prestation[i], features.pseudo_id[i].as_str())
    });
    let run = households.run_month;
    // The persons the past campaign contacted: as the ingest of this run found them, the
    // others by one pass over the persons (a few hundred thousand ids: no index of every
    // person needed), skipped when there are none.
    let contacted: HashSet<&str> = outcomes
        .iter()
        .filter(|o| o.contacte && o.person.is_none())
        .map(|o| o.pseudo_id.as_str())
        .collect();
    let contacted_row: rustc_hash::FxHashMap<&str, usize> = if contacted.is_empty() {
        Default::default()
    } else {
        households
            .persons
            .iter()
            .enumerate()
            .filter(|(_, p)| contacted.contains(p.pseudo_id.as_str()))
            .map(|(i, p)| (p.pseudo_id.as_str(), i))
            .collect()
    };
    let person_of = |o: &Outcome| match o.person {
        Some(p) => Some(p as usize),
        None => contacted_row.get(o.pseudo_id.as_str()).copied(),
    };
    let listed: HashSet<(&str, &str)> = listed
        .iter()
        .map(|(id, b)| (id.as_str(), b.as_str()))
        .collect();
    let mut benefits = BTreeMap::new();
    // The scored benefits, in order (the groups of the scored rows; not a sort of every
    // row's benefit).
    let names: Vec<&'static str> = scored.groups.iter().map(|(b, _)| *b).collect();
    for b in names {
        let elig_rows = elig.rows_of(b);
        // Slices of the scored rows counted in parallel, each walking the eligibility rows
        // from its first id; counts are whole numbers, added up in slice order.
        let partials: Vec<(Counts, [usize; 6])> = scored
            .rows_of(b)
            .par_chunks(AUDIT_SLICE)
            .map(|slice| {
                // Cells keyed by dimension and the group's text by address and length (codes are
                // interned, labels are literals): no string compared per row. Equal texts
                // at two addresses meet when the slice's cells are put in `Counts`.
                let mut cells: rustc_hash::FxHashMap<(usize, usize, usize), Cell> =
                    Default::default();
                let mut totals = [0usize; 6];
                let first = &features.pseudo_id[slice[0] as usize];
                let start =
                    elig_rows.partition_point(|&r| eligibility[r as usize].pseudo_id < *first);
                let mut in_step = elig_rows[start..].iter().peekable();
                for &i in slice {
                    let id = &features.pseudo_id[i as usize];
                    // A table computed in this run knows its persons' rows.
                    let found = match &features.person {
                        Some(rows) => Some(rows[i as usize] as usize),
                        None => households.person(id),
                    };
                    let Some(pi) = found else {
                        continue;
                    };
                    let p = &households.persons[pi];
                    let e = loop {
                        match in_step.peek() {
                            Some(&&r) if eligibility[r as usize].pseudo_id < *id => {
                                in_step.next();
                            }
                            Some(&&r) if eligibility[r as usize].pseudo_id == *id => {
                                break Some(&eligibility[r as usize]);
                            }
                            _ => break None,
                        }
                    };
                    let is_listed = listed.contains(&(id.as_str(), b));
                    let positive = truth.is_some_and(|(_, t)| {
                        crate::stages::evaluate::truth::in_non_take_up(t, id, b)
                    });
                    let row = [
                        1,
                        usize::from(is_listed),
                        usize::from(positive),
                        usize::from(is_listed && positive),
                        0,
                        0,
                    ];
                    for (k, (d, g)) in groups_of(p, e, run).into_iter().enumerate() {
                        let cell = cells
                            .entry((k, g.as_ptr() as usize, g.len()))
                            .or_insert((d, g, [0; 6]));
                        debug_assert_eq!(cell.1, g, "one address, one text");
                        add_counts(&mut cell.2, &row);
                    }
                    add_counts(&mut totals, &row);
                }
                let mut counts = Counts::new();
                for (d, g, c) in cells.into_values() {
                    add_counts(counts.entry(d).or_default().entry(g).or_default(), &c);
                }
                (counts, totals)
            })
            .collect();
        let mut counts = Counts::new();
        let mut totals = [0usize; 6];
        for (part, part_totals) in partials {
            for (d, groups) in part {
                for (g, row) in groups {
                    add_counts(counts.entry(d).or_default().entry(g).or_default(), &row);
                }
            }
            add_counts(&mut totals, &part_totals);
        }
        // The past campaign's outcomes (production's measure of precision): everyone the
        // campaign contacted for this benefit, whether in today's scoring population or not.
        for o in outcomes.iter().filter(|o| o.prestation == b && o.contacte) {
            let Some(pi) = person_of(o) else {
                continue;
            };
            debug_assert_eq!(households.persons[pi].pseudo_id, o.pseudo_id);
            let e = elig
                .find(b, &o.pseudo_id, |r| eligibility[r].pseudo_id.as_str())
                .map(|r| &eligibility[r]);
            for (d, g) in groups_of(&households.persons[pi], e, run) {
                let c = counts.entry(d).or_default().entry(g).or_default();
                c[4] += 1;
                c[5] += usize::from(o.droit_ouvert);
            }
        }
        let share = |x: usize, of: usize| if of > 0 { x as f64 / of as f64 } else { 0.0 };
        let mut rows = Vec::new();
        for (d, _) in DIMENSIONS {
            for (g, c) in counts.get(d).into_iter().flatten() {
                let others_pos = totals[2] - c[2];
                let others_tp = totals[3] - c[3];
                let rappel = truth.and_then(|_| wilson(c[3], c[2]));
                let rappel_autres = truth
                    .and_then(|_| (others_pos > 0).then(|| others_tp as f64 / others_pos as f64));
                let alerte = match (&rappel, rappel_autres) {
                    (Some(r), Some(o)) => c[2] >= min_cell && r.value < o - recall_margin,
                    _ => false,
                };
                rows.push(GroupRow {
                    dimension: d.to_string(),
                    groupe: g.to_string(),
                    population: c[0],
                    part_population: share(c[0], totals[0]),
                    listes: c[1],
                    part_liste: share(c[1], totals[1]),
                    non_recours: truth.map(|_| c[2]),
                    vrais_positifs: truth.map(|_| c[3]),
                    precision: truth.and_then(|_| wilson(c[3], c[1])),
                    rappel,
                    rappel_autres,
                    alerte,
                    campagne_contactes: c[4],
                    campagne_droits_ouverts: c[5],
                    campagne_taux: wilson(c[5], c[4]),
                });
            }
        }
        benefits.insert(b.to_string(), rows);
    }
    let mut outside = BTreeMap::new();
    if let Some((_, t)) = truth {
        for (b, people) in t {
            for (id, positive) in people {
                let is_scored = || {
                    scored
                        .find(b, id, |r| features.pseudo_id[r].as_str())
                        .is_some()
                };
                if *positive && !is_scored() {
                    *outside.entry(b.clone()).or_default() += 1;
                }
            }
        }
    }
    FairnessReport {
        non_recours_hors_population: outside,
        schema_version: FAIRNESS_SCHEMA_VERSION,
        reference: truth.map(|(label, _)| label.to_string()),
        recall_margin,
        min_cell,
        benefits,
    }
}

/// Counts by dimension and group: (population, listed, positives, listed positives,
/// contacted by the past campaign, rights opened after it).
type Counts<'a> = BTreeMap<&'a str, BTreeMap<&'static str, [usize; 6]>>;

/// A group's counts while a slice of rows is counted: dimension, group, counts.
type Cell = (&'static str, &'static str, [usize; 6]);

/// `into += row`, count by count.
fn add_counts(into: &mut [usize; 6], row: &[usize; 6]) {
    for (a, b) in into.iter_mut().zip(row) {
        *a += b;
    }
}

/// Scored rows per parallel slice of the audit.
const AUDIT_SLICE: usize = 1 << 15;

/// Rows of a table grouped by benefit, each group in id order: the rows themselves when
/// the table is already in (benefit, id) order, as the eligibility and features stages
/// write it, else an index sorted once.
struct ByBenefitAndId {
    /// Benefit, and its rows in id order.
    groups: Vec<(&'static str, Vec<u32>)>,
}

impl ByBenefitAndId {
    fn new<'a>(n: usize, key: impl Fn(usize) -> (&'static str, &'a str) + Sync) -> Self {
        let mut order: Vec<u32> = (0..n as u32).collect();
        if !(1..n).into_par_iter().all(|i| key(i - 1) <= key(i)) {
            order.par_sort_by(|&a, &b| key(a as usize).cmp(&key(b as usize)));
        }
        let mut groups: Vec<(&'static str, Vec<u32>)> = Vec::new();
        for r in order {
            let b = key(r as usize).0;
            match groups.last_mut() {
                Some((g, rows)) if *g == b => rows.push(r),
                _ => groups.push((b, vec![r])),
            }
        }
        ByBenefitAndId { groups }
    }

    /// The rows of `benefit`, in id order.
    fn rows_of(&self, benefit: &str) -> &[u32] {
        self.groups
            .iter()
            .find(|(b, _)| *b == benefit)
            .map(|(_, rows)| rows.as_slice())
            .unwrap_or_default()
    }

    /// The row of (`benefit`, `id`), by binary search (`id_of` reads a row's id).
    fn find<'a>(&self, benefit: &str, id: &str, id_of: impl Fn(usize) -> &'a str) -> Option<usize> {
        let rows = self.rows_of(benefit);
        rows.binary_search_by(|&r| id_of(r as usize).cmp(id))
            .ok()
            .map(|k| rows[k] as usize)
    }
}

/// The table with small cells suppressed, dimension by dimension: counts under `min_cell`
/// (and one more per dimension when a single one would be hidden) become `None`, and so
/// do the shares and rates computed from them, and the recall of "everyone else".
pub fn suppressed(rows: &[GroupRow], min_cell: usize) -> Vec<SuppressedRow> {
    let mut out = Vec::with_capacity(rows.len());
    let mut start = 0;
    while start < rows.len() {
        let end = rows[start..]
            .iter()
            .position(|r| r.dimension != rows[start].dimension)
            .map_or(rows.len(), |k| start + k);
        let group = &rows[start..end];
        let col = |f: &dyn Fn(&GroupRow) -> usize| {
            suppress_counts(&group.iter().map(f).collect::<Vec<_>>(), min_cell)
        };
        let population = col(&|r| r.population);
        let listes = col(&|r| r.listes);
        let positives = col(&|r| r.non_recours.unwrap_or(0));
        let tp = col(&|r| r.vrais_positifs.unwrap_or(0));
        let contacted = col(&|r| r.campagne_contactes);
        let opened = col(&|r| r.campagne_droits_ouverts);
        for (k, r) in group.iter().enumerate() {
            let (pop_ok, list_ok) = (population[k].is_some(), listes[k].is_some());
            let (pos_ok, tp_ok) = (positives[k].is_some(), tp[k].is_some());
            out.push(SuppressedRow {
                dimension: r.dimension.clone(),
                groupe: r.groupe.clone(),
                population: population[k],
                part_population: pop_ok.then_some(r.part_population),
                listes: listes[k],
                part_liste: list_ok.then_some(r.part_liste),
                non_recours: r.non_recours.map(|_| positives[k]),
                precision: r.precision.clone().filter(|_| list_ok && tp_ok),
                rappel: r.rappel.clone().filter(|_| tp_ok && pos_ok),
                rappel_autres: r.rappel_autres.filter(|_| tp_ok && pos_ok),
                alerte: r.alerte,
                campagne_contactes: contacted[k],
                campagne_taux: r
                    .campagne_taux
                    .clone()
                    .filter(|_| contacted[k].is_some() && opened[k].is_some()),
            });
        }
        start = end;
    }
    out
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct SuppressedRow {
    pub dimension: String,
    pub groupe: String,
    pub population: Option<usize>,
    pub part_population: Option<f64>,
    pub listes: Option<usize>,
    pub part_liste: Option<f64>,
    /// `None` without a truth; `Some(None)` when suppressed.
    pub non_recours: Option<Option<usize>>,
    pub precision: Option<Rate>,
    pub rappel: Option<Rate>,
    pub rappel_autres: Option<f64>,
    pub alerte: bool,
    pub campagne_contactes: Option<usize>,
    pub campagne_taux: Option<Rate>,
}

/// The suppressed table as CSV (`,`, decimal point); suppressed cells read [`HIDDEN`].
/// Dimension and group are there as codes, for programs, and in words.
pub(crate) fn to_csv(benefit: &str, rows: &[SuppressedRow]) -> String {
    let hidden = HIDDEN.to_string();
    let n = |v: Option<usize>| v.map_or(hidden.clone(), |v| v.to_string());
    let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let rate = |r: &Option<Rate>| {
        r.as_ref().map_or(",,".to_string(), |r| {
            format!("{:.4},{:.4},{:.4}", r.value, r.ci95_low, r.ci95_high)
        })
    };
    let quoted = |text: &str| format!("\"{}\"", escape_cell(text).replace('"', "\"\""));
    let mut s = String::from(
        "prestation,dimension,groupe,dimension_libelle,groupe_libelle,population,part_population,listes,part_liste,non_recours,precision,precision_ic95_bas,precision_ic95_haut,rappel,rappel_ic95_bas,rappel_ic95_haut,rappel_autres,alerte,campagne_contactes,campagne_taux_droits_ouverts,campagne_ic95_bas,campagne_ic95_haut\r\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{benefit},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            quoted(&r.dimension),
            quoted(&r.groupe),
            quoted(dimension_label(&r.dimension)),
            quoted(group_label(&r.dimension, &r.groupe)),
            n(r.population),
            f(r.part_population),
            n(r.listes),
            f(r.part_liste),
            r.non_recours.map_or(String::new(), n),
            rate(&r.precision),
            rate(&r.rappel),
            f(r.rappel_autres),
            if r.alerte { "oui" } else { "non" },
            n(r.campagne_contactes),
            rate(&r.campagne_taux),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(population: usize, listes: usize, pos: usize, tp: usize) -> GroupRow {
        GroupRow {
            dimension: "departement".into(),
            groupe: "2A".into(),
            population,
            part_population: 0.1,
            listes,
            part_liste: 0.2,
            non_recours: Some(pos),
            vrais_positifs: Some(tp),
            precision: wilson(tp, listes),
            rappel: wilson(tp, pos),
            rappel_autres: Some(0.5),
            alerte: false,
            campagne_contactes: 50,
            campagne_droits_ouverts: 12,
            campagne_taux: wilson(12, 50),
        }
    }

    #[test]
    fn rows_by_benefit_and_id_in_any_input_order() {
        let keys = [
            ("RSA", "c"),
            ("PPA", "b"),
            ("RSA", "a"),
            ("ASPA", "z"),
            ("PPA", "a"),
        ];
        let by = ByBenefitAndId::new(keys.len(), |i| keys[i]);
        assert_eq!(by.rows_of("RSA"), [2, 0]);
        assert_eq!(by.rows_of("PPA"), [4, 1]);
        assert_eq!(by.rows_of("ASPA"), [3]);
        assert!(by.rows_of("AAH").is_empty());
        let id = |r: usize| keys[r].1;
        assert_eq!(by.find("RSA", "c", id), Some(0));
        assert_eq!(by.find("PPA", "a", id), Some(4));
        assert_eq!(by.find("PPA", "c", id), None);
        // Already in order: the rows themselves.
        let sorted = [("ASPA", "z"), ("PPA", "a"), ("PPA", "b")];
        let by = ByBenefitAndId::new(sorted.len(), |i| sorted[i]);
        assert_eq!(by.rows_of("PPA"), [1, 2]);
    }

    #[test]
    fn wilson_known_answer() {
        // 8 of 10: Wilson 95 % interval 0.4902 – 0.9433 (R: prop.test(8, 10, correct = FALSE)).
        let r = wilson(8, 10).unwrap();
        assert!((r.ci95_low - 0.490_162).abs() < 1e-5, "{r:?}");
        assert!((r.ci95_high - 0.943_318).abs() < 1e-5, "{r:?}");
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn cells_under_eleven_are_suppressed_with_what_is_computed_from_them() {
        let rows = [
            row(500, 40, 30, 12),
            row(500, 7, 30, 5),
            row(9, 0, 0, 0),
            row(500, 40, 30, 3),
        ];
        let s = suppressed(&rows, 11);
        // Nothing small in the first group, but it holds the smallest other count of a
        // column where only one cell is small (population 9, listed 7): hidden too, so
        // that the 9 and the 7 cannot be recovered from the totals.
        assert_eq!(s[0].population, None);
        assert_eq!(s[0].listes, None);
        assert!(s[0].precision.is_none());
        assert!(s[0].rappel.is_some() && s[0].rappel_autres.is_some());
        // 7 listed, 5 true positives: the list count and both rates go.
        assert_eq!(s[1].listes, None);
        assert_eq!(s[1].part_liste, None);
        assert!(s[1].precision.is_none() && s[1].rappel.is_none());
        assert_eq!(s[1].population, Some(500));
        // A group of 9 people: its population and share go; zero stays zero.
        assert_eq!(s[2].population, None);
        assert_eq!(s[2].part_population, None);
        assert_eq!(s[2].listes, Some(0));
        // 3 true positives among 40 listed: rates go, and the recall of everyone else
        // (from which the 3 could be solved), counts of 40 and 30 stay.
        assert_eq!(s[3].listes, Some(40));
        assert!(s[3].precision.is_none() && s[3].rappel_autres.is_none());
        let csv = to_csv("RSA", &s);
        assert!(csv.lines().nth(2).unwrap().contains(",n.d.,"));
        assert!(!csv.contains(",7,") && !csv.contains(",5,") && !csv.contains(",9,"));
    }
}
