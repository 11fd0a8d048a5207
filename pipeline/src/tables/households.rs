//! Household assembly: from the validated `personnes`, `foyers`, `logements`, `droits` and
//! `ressources`, each foyer's benefit unit (demandeur, conjoint, dependent children), its
//! housing, the rights its members hold and their monthly resources over the last year.
//! Eligibility and features both start from here.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;

use crate::config::Quarters;
use crate::domain::bareme::PpaMonthParams;
use crate::domain::entitlement::{MemberResources, PpaMonth, Role, Situation, Statut};
use crate::domain::month::Month;
use crate::error::{RecoursError, Result};
use crate::io::frame::{ParquetSlices, f64_col, id_head, intern, str_col};
use crate::tables::extracts::Extracts;
use rayon::prelude::*;

/// Months of resources kept per person, ending at M-1.
pub(crate) const HISTORY: usize = 12;

/// Benefits counted as resources of the RSA/PPA household (art. R262-6 CASF): family
/// benefits, AAH, the solidarity allowance. Housing aid enters through the forfait logement.
pub(crate) const COUNTED_AS_RESOURCES: &[&str] = &["AF", "ASF", "AAH", "ASS"];

#[derive(Clone, Debug)]
pub(crate) struct Right {
    /// Codes (benefit, caisse) are interned: one allocation per distinct value.
    pub prestation: &'static str,
    pub debut: Month,
    pub fin: Option<Month>,
    pub montant: Option<f64>,
}

impl Right {
    pub fn covers(&self, m: Month) -> bool {
        self.debut <= m && self.fin.is_none_or(|f| f >= m)
    }
}

#[derive(Clone, Debug)]
pub struct Person {
    pub pseudo_id: String,
    /// Codes are interned (`frame::intern`): one allocation per distinct value, not per
    /// person.
    pub sexe: &'static str,
    pub departement: &'static str,
    pub regime: &'static str,
    pub age: i32,
    /// Monthly amounts by nature code for M-12..M-1 (index 0 is M-12), in nature order;
    /// wages and other resources are derived from it ([`Person::activite`],
    /// [`Person::autres`]).
    pub par_nature: Vec<(&'static str, [f64; HISTORY])>,
    pub droits: Vec<Right>,
}

impl Person {
    /// Monthly amounts of one nature for M-12..M-1 (zeros when the person has none).
    pub fn nature(&self, nature: &str) -> [f64; HISTORY] {
        self.par_nature
            .iter()
            .find(|(n, _)| *n == nature)
            .map_or([0.0; HISTORY], |(_, v)| *v)
    }

    /// Monthly wages (DSN `salaire`: activity income) for M-12..M-1.
    pub fn activite(&self) -> [f64; HISTORY] {
        self.nature("salaire")
    }

    /// Monthly other resources (PASRAU replacement incomes: unemployment, sick pay,
    /// pensions, other) for M-12..M-1.
    pub fn autres(&self) -> [f64; HISTORY] {
        let mut v = [0.0; HISTORY];
        for (_, amounts) in self.par_nature.iter().filter(|(n, _)| *n != "salaire") {
            for (k, a) in amounts.iter().enumerate() {
                v[k] += a;
            }
        }
        v
    }

    fn month_index(run: Month, m: Month) -> Option<usize> {
        let k = m.months_since(run); // -12..-1
        (-(HISTORY as i32)..0)
            .contains(&k)
            .then(|| (k + HISTORY as i32) as usize)
    }

    pub fn receives(&self, prestation: &str, m: Month) -> bool {
        self.droits
            .iter()
            .any(|d| d.prestation == prestation && d.covers(m))
    }

    /// Average monthly amount of the person's rights of a kind over months `from..=to`.
    pub(crate) fn right_amount(&self, prestations: &[&str], run: Month, from: i32, to: i32) -> f64 {
        let n = (to - from + 1) as f64;
        run.window(from, to)
            .map(|m| {
                self.droits
                    .iter()
                    .filter(|d| prestations.contains(&d.prestation) && d.covers(m))
                    .filter_map(|d| d.montant)
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n
    }

    fn average(values: &[f64; HISTORY], run: Month, from: i32, to: i32) -> f64 {
        let n = (to - from + 1) as f64;
        run.window(from, to)
            .filter_map(|m| Person::month_index(run, m))
            .map(|i| values[i])
            .sum::<f64>()
            / n
    }
}

#[derive(Clone, Debug)]
pub struct Foyer {
    pub foyer_id: String,
    /// Person indices and roles, demandeur first, then conjoint, children, other adults.
    pub members: Vec<(usize, Role)>,
    pub statut: Option<Statut>,
}

impl Foyer {
    pub fn demandeur(&self) -> usize {
        self.members[0].0
    }
    /// Demandeur and conjoint.
    pub fn unit(&self) -> impl Iterator<Item = usize> + '_ {
        self.members
            .iter()
            .filter(|m| matches!(m.1, Role::Demandeur | Role::Conjoint))
            .map(|m| m.0)
    }
    pub fn children(&self) -> impl Iterator<Item = usize> + '_ {
        self.members
            .iter()
            .filter(|m| m.1 == Role::Enfant)
            .map(|m| m.0)
    }
}

/// Age from which a child of the foyer is no longer a dependant: an `enfant` of 25 or more
/// is an adult of their own for RSA and PPA (art. L262-2 and R262-3 CASF).
pub(crate) const DEPENDANT_CHILD_MAX_AGE: i32 = 24;

/// Whether a foyer member is hosted: an `autre_adulte` (a relative, friend or lodger) or an
/// `enfant` of 25 or more. Such a person is not part of the demandeur's RSA/PPA foyer but a
/// foyer of their own, on their own resources, housed free by the household (art. R262-9
/// CASF: forfait logement of a person housed free of charge); ASPA is individual anyway.
pub fn is_hosted(role: Role, age: i32) -> bool {
    role == Role::AutreAdulte || (role == Role::Enfant && age > DEPENDANT_CHILD_MAX_AGE)
}

/// A benefit unit within a foyer: the foyer's own (demandeur, conjoint, dependent children)
/// or one hosted adult's.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// Who carries the unit's RSA/PPA: the demandeur, or the hosted adult.
    pub carrier: usize,
    pub carrier_role: Role,
    /// Demandeur and conjoint, or the hosted adult alone.
    pub adults: Vec<usize>,
    /// Dependent children (under 25); none for a hosted adult.
    pub children: Vec<usize>,
    /// The foyer's housing, or for a hosted adult: housed free (or without a home when the
    /// foyer is).
    pub statut: Option<Statut>,
    pub hosted: bool,
}

impl Unit {
    /// Every member of the unit: adults, then children.
    pub fn members(&self) -> impl Iterator<Item = usize> + '_ {
        self.adults.iter().chain(&self.children).copied()
    }
}

/// Housing status of a hosted adult's own unit.
fn hosted_statut(foyer: Option<Statut>) -> Option<Statut> {
    match foyer {
        Some(Statut::SansDomicile) => Some(Statut::SansDomicile),
        _ => Some(Statut::HebergeGratuit),
    }
}

pub struct Households {
    pub run_month: Month,
    pub persons: Vec<Person>,
    /// Sorted by `foyer_id`.
    pub foyers: Vec<Foyer>,
    /// Persons by id, built the first time a stage asks (see [`Households::person`]).
    index: std::sync::OnceLock<PersonIndex>,
}

/// Persons' rows by id, keyed by the id's head ([`id_head`]): an 8-byte key hashed in one
/// multiplication instead of 64 bytes, 12 bytes an entry instead of 24; the ids whose head
/// another id shares are kept whole aside (hex ids put 32 bits in a head: some 23 000 of
/// 10 M persons, a million of 68 M). Built once per run and shared by the
/// stages that look persons up (lists, fairness audit, features read back).
struct PersonIndex {
    by_head: HashMap<u64, u32>,
    shared_heads: HashMap<String, u32>,
}

/// Marks a head two ids share in `PersonIndex::by_head`.
const SHARED_HEAD: u32 = u32::MAX;

fn month(v: Option<&str>) -> Option<Month> {
    v.and_then(Month::parse)
}

/// One person's monthly amounts by nature code for M-12..M-1 (see [`Person::par_nature`]).
pub(crate) type NatureHistory = Vec<(&'static str, [f64; HISTORY])>;

/// The persons' monthly resources by nature for a run month, by person row (the rows of
/// `ingest/personnes.parquet`): added up from the kept rows of `ressources` chunk by chunk,
/// in row order, either by the ingest stage as it streams the table (so that households
/// assembled in the same run do not read the table back), from
/// `ingest/ressources.parquet` read back in slices, or from the rows of the labelled
/// persons' foyers only (`training::Labelled`, persons renumbered, see [`resource_rows_of`]).
#[derive(Clone, Debug)]
pub(crate) struct ResourceHistories {
    run: Month,
    by_person: Vec<NatureHistory>,
    /// Per month of the history: [`SEEN_ROW`] when it has a row (any person), and the bit
    /// of each source of [`SOURCES`] it has a row from (when the rows name their source).
    seen: [u8; HISTORY],
}

/// The sources of `ressources` (the contract's codes), bit `1 << i` in
/// `ResourceHistories::seen`.
pub(crate) const SOURCES: [&str; 2] = ["DSN", "PASRAU"];
const SEEN_ROW: u8 = 0x80;

impl ResourceHistories {
    pub fn new(run: Month, persons: usize) -> ResourceHistories {
        ResourceHistories {
            run,
            by_person: vec![Vec::new(); persons],
            seen: [0; HISTORY],
        }
    }

    /// The months of the history (the twelve before the run month) with a source missing:
    /// each month without any row, with every source the history has (or all of
    /// [`SOURCES`]), and each month without a row from a source other months have, with
    /// that source. A month missing from the extract, or a feed missing for a month, not a
    /// month without income: that would take every person of the population.
    pub(crate) fn missing_months(&self) -> Vec<(Month, Vec<&'static str>)> {
        let sources = self.seen.iter().fold(0, |a, s| a | s) & !SEEN_ROW;
        let named = |bits: u8| -> Vec<&'static str> {
            (0..SOURCES.len())
                .filter(|i| bits & (1 << i) != 0)
                .map(|i| SOURCES[i])
                .collect()
        };
        (0..HISTORY)
            .filter_map(|k| {
                let month = self.run.plus(k as i32 - HISTORY as i32);
                if self.seen[k] & SEEN_ROW == 0 {
                    let all = if sources == 0 {
                        (1 << SOURCES.len()) - 1
                    } else {
                        sources
                    };
                    return Some((month, named(all)));
                }
                let lacking = sources & !self.seen[k];
                (lacking != 0).then(|| (month, named(lacking)))
            })
            .collect()
    }

    /// Adds a chunk of rows of the ingest stage's `ressources` (persons named by their row,
    /// see [`crate::tables::extracts::PERSON_ROW`]). Rows of the same person, month and nature add up
    /// in row order, whatever the chunk they come in.
    pub fn add(&mut self, ressources: &polars::prelude::DataFrame) -> Result<()> {
        let r_person = ressources
            .column(crate::tables::extracts::PERSON_ROW)
            .and_then(|c| c.u32())
            .map_err(RecoursError::polars("ressources: person rows"))?;
        let r_mois = str_col(ressources, "ressources", "mois")?;
        let r_nature = str_col(ressources, "ressources", "nature")?;
        let r_amount = f64_col(ressources, "ressources", "montant_net_social")?;
        let n = self.by_person.len();
        if r_person.null_count() > 0 || r_person.into_no_null_iter().any(|p| p as usize >= n) {
            return Err(inconsistent_person_rows(n));
        }
        // The ingest's rows name their source; rows read back from its file do not.
        let r_source = match ressources.column("source") {
            Ok(c) => Some(
                c.str()
                    .map_err(RecoursError::polars("ressources.source as text"))?,
            ),
            Err(_) => None,
        };
        let run = self.run;
        const NONE: (u32, u8, u8) = (u32::MAX, 0, 0);
        let targets: Vec<(u32, u8, u8)> = (0..ressources.height())
            .into_par_iter()
            .with_min_len(1 << 16)
            .map(|i| {
                let (Some(p), Some(m)) = (r_person.get(i), month(r_mois.get(i))) else {
                    return NONE;
                };
                let source = r_source
                    .and_then(|s| s.get(i))
                    .and_then(|s| SOURCES.iter().position(|x| *x == s))
                    .map_or(0, |i| 1 << i);
                match Person::month_index(run, m) {
                    Some(k) => (p, k as u8, SEEN_ROW | source),
                    None => NONE,
                }
            })
            .collect();
        for (i, &(p, k, seen)) in targets.iter().enumerate() {
            if p == u32::MAX {
                continue;
            }
            let k = k as usize;
            self.seen[k] |= seen;
            let amount = r_amount.get(i).unwrap_or(0.0);
            let nature = r_nature.get(i).unwrap_or_default();
            let history = &mut self.by_person[p as usize];
            match history.iter_mut().find(|(n, _)| *n == nature) {
                Some((_, v)) => v[k] += amount,
                None => {
                    let mut v = [0.0; HISTORY];
                    v[k] = amount;
                    // Most persons have one or two natures: room for exactly those (a
                    // growing vector would make room for four, 450 bytes a person).
                    history.reserve_exact(1);
                    history.push((intern(nature), v));
                }
            }
        }
        Ok(())
    }

    /// The histories by person row, each in nature order; `None` when they were added up
    /// for another run month or another number of persons.
    fn finish(self, run: Month, persons: usize) -> Option<Vec<NatureHistory>> {
        if self.run != run || self.by_person.len() != persons {
            return None;
        }
        let mut by_person = self.by_person;
        by_person
            .par_iter_mut()
            .with_min_len(1 << 14)
            .for_each(|h| h.sort_by(|a, b| a.0.cmp(b.0)));
        Some(by_person)
    }
}

const SLICE_ROWS: usize = 2_000_000;

/// The columns of `ingest/ressources.parquet` households read.
const RESOURCE_COLUMNS: [&str; 4] = [
    crate::tables::extracts::PERSON_ROW,
    "mois",
    "nature",
    "montant_net_social",
];

/// `ingest/ressources.parquet` naming no person row, or one beyond the `persons` rows of
/// `ingest/personnes.parquet`.
fn inconsistent_person_rows(persons: usize) -> RecoursError {
    RecoursError::Internal(format!(
        "ressources rows name no person row, or one beyond the {persons} persons of \
         ingest/personnes.parquet: the ingest folder is inconsistent, run the ingest again"
    ))
}

/// The rows of `ingest/ressources.parquet` (at `path`) whose person is kept, renumbered:
/// `renumber[row]` is the new row of the person at `row` of `ingest/personnes.parquet`,
/// [`crate::tables::extracts::NO_ROW`] when left out; and every month the file has rows for (any
/// person). Read and filtered a slice at a time; rows stay in file order, so a person's
/// amounts add up in the same order as from the whole file.
pub(crate) fn resource_rows_of(
    path: &std::path::Path,
    renumber: &[u32],
) -> Result<(Vec<polars::prelude::DataFrame>, BTreeSet<Month>)> {
    use crate::tables::extracts::{NO_ROW, PERSON_ROW};
    let mut out = Vec::new();
    let mut months = BTreeSet::new();
    for slice in ParquetSlices::open(path, Some(&RESOURCE_COLUMNS), SLICE_ROWS)? {
        let slice = slice?;
        // Parsed only when the text changes (rows usually come a month partition at a time).
        let mut last = None;
        for m in str_col(&slice, "ressources", "mois")?.iter().flatten() {
            if last != Some(m) {
                months.extend(month(Some(m)));
                last = Some(m);
            }
        }
        let person = crate::io::frame::u32_col(&slice, "ressources", PERSON_ROW)?;
        let mut keep = Vec::with_capacity(slice.height());
        let mut rows = Vec::new();
        for p in person.iter() {
            let new = p
                .and_then(|p| renumber.get(p as usize))
                .ok_or_else(|| inconsistent_person_rows(renumber.len()))?;
            keep.push(*new != NO_ROW);
            if *new != NO_ROW {
                rows.push(*new);
            }
        }
        if rows.is_empty() {
            continue;
        }
        let mut kept = slice
            .filter(&crate::io::frame::mask(&keep))
            .map_err(RecoursError::polars("ressources: rows of labelled foyers"))?;
        kept.with_column(crate::io::frame::column(PERSON_ROW, rows))
            .map_err(RecoursError::polars("ressources: person rows"))?;
        out.push(kept);
    }
    Ok((out, months))
}

impl Households {
    /// Households from their persons and foyers (foyers sorted by `foyer_id`).
    pub fn new(run_month: Month, persons: Vec<Person>, foyers: Vec<Foyer>) -> Households {
        Households {
            run_month,
            persons,
            foyers,
            index: std::sync::OnceLock::new(),
        }
    }

    /// Frees the index of persons by id (rebuilt by the next [`Households::person`]).
    pub(crate) fn release_index(&mut self) {
        self.index = std::sync::OnceLock::new();
    }

    /// The row in `persons` of the person `pseudo_id`.
    pub fn person(&self, pseudo_id: &str) -> Option<usize> {
        let index = self.index.get_or_init(|| {
            let mut by_head: HashMap<u64, u32> =
                HashMap::with_capacity_and_hasher(self.persons.len(), Default::default());
            let mut shared_heads = HashMap::default();
            for (i, p) in self.persons.iter().enumerate() {
                let row = i as u32;
                let head = id_head(&p.pseudo_id);
                match by_head.insert(head, row) {
                    None => {}
                    Some(other) => {
                        by_head.insert(head, SHARED_HEAD);
                        if other != SHARED_HEAD {
                            let id = &self.persons[other as usize].pseudo_id;
                            shared_heads.insert(id.clone(), other);
                        }
                        shared_heads.insert(p.pseudo_id.clone(), row);
                    }
                }
            }
            PersonIndex {
                by_head,
                shared_heads,
            }
        });
        match index.by_head.get(&id_head(pseudo_id)) {
            Some(&SHARED_HEAD) => index.shared_heads.get(pseudo_id).map(|&r| r as usize),
            Some(&row) => {
                (self.persons[row as usize].pseudo_id == pseudo_id).then_some(row as usize)
            }
            None => None,
        }
    }

    /// Households for the run month `run`; `resources` are the persons' histories when they
    /// are already added up for `run` and these persons (by the ingest stage in this run, or
    /// for the labelled persons' foyers), else `ingest/ressources.parquet` is read.
    pub(crate) fn assemble(
        x: &Extracts,
        run: Month,
        resources: Option<ResourceHistories>,
    ) -> Result<Households> {
        let t0 = std::time::Instant::now();
        let table = |name: &str| {
            x.table(name)
                .ok_or_else(|| RecoursError::Internal(format!("table {name} was not ingested")))
        };
        let personnes = table("personnes")?;
        let ids = str_col(personnes, "personnes", "pseudo_id")?;
        let naissance = str_col(personnes, "personnes", "naissance")?;
        let sexe = str_col(personnes, "personnes", "sexe")?;
        let dep = str_col(personnes, "personnes", "departement")?;
        let regime = str_col(personnes, "personnes", "regime")?;
        // Built in parallel; the index is keyed by the ids of the `personnes` table itself
        // (no copy per person).
        let mut persons: Vec<Person> = (0..personnes.height())
            .into_par_iter()
            .with_min_len(1 << 14)
            .map(|i| {
                let born = month(naissance.get(i))
                    .ok_or_else(|| RecoursError::Internal("validated month".into()))?;
                Ok(Person {
                    pseudo_id: ids.get(i).unwrap_or_default().to_string(),
                    sexe: intern(sexe.get(i).unwrap_or_default()),
                    departement: intern(dep.get(i).unwrap_or_default()),
                    regime: intern(regime.get(i).unwrap_or_default()),
                    age: born.age_at(run),
                    par_nature: Vec::new(),
                    droits: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        let mut index: HashMap<&str, usize> =
            HashMap::with_capacity_and_hasher(personnes.height(), Default::default());
        for i in 0..personnes.height() {
            index.insert(ids.get(i).unwrap_or_default(), i);
        }

        crate::io::trace::trace("households: persons", t0);
        let t0 = std::time::Instant::now();
        // The monthly resources: added up by the ingest stage in this run, or read back in
        // slices from its file (bounded memory: ten rows per person and month), the next
        // slice read while the current one is added.
        let n = persons.len();
        let histories = match resources.and_then(|r| r.finish(run, n)) {
            Some(h) => h,
            None => {
                let path = x.ressources.as_ref().ok_or_else(|| {
                    RecoursError::Internal("table ressources was not ingested".into())
                })?;
                let mut histories = ResourceHistories::new(run, n);
                let mut slices = ParquetSlices::open(path, Some(&RESOURCE_COLUMNS), SLICE_ROWS)?;
                let mut current = slices.next().transpose()?;
                while let Some(chunk) = current.take() {
                    let (added, next) =
                        rayon::join(|| histories.add(&chunk), || slices.next().transpose());
                    added?;
                    current = next?;
                }
                histories
                    .finish(run, n)
                    .expect("added up for this month and these persons")
            }
        };
        for (p, h) in persons.iter_mut().zip(histories) {
            p.par_nature = h;
        }
        crate::io::trace::trace("households: resources", t0);
        let t0 = std::time::Instant::now();

        let droits = table("droits")?;
        let d_id = str_col(droits, "droits", "pseudo_id")?;
        let d_prest = str_col(droits, "droits", "prestation")?;
        let d_debut = str_col(droits, "droits", "debut")?;
        let d_fin = str_col(droits, "droits", "fin")?;
        let d_amount = f64_col(droits, "droits", "montant_mensuel")?;
        // Each right's person: from the ingest of this run, or looked up by id.
        let d_rows = x.person_rows_of("droits");
        for i in 0..droits.height() {
            let Some(id) = d_id.get(i) else {
                continue;
            };
            let found = match d_rows {
                Some(rows) => crate::tables::extracts::person_at(rows, i),
                None => index.get(id).copied(),
            };
            let Some(p) = found else {
                continue;
            };
            debug_assert_eq!(persons[p].pseudo_id, id, "the ingest's person row");
            let Some(debut) = month(d_debut.get(i)) else {
                continue;
            };
            // Room for exactly the person's rights (see `ResourceHistories::add`).
            persons[p].droits.reserve_exact(1);
            persons[p].droits.push(Right {
                prestation: intern(d_prest.get(i).unwrap_or_default()),
                debut,
                fin: month(d_fin.get(i)),
                montant: d_amount.get(i),
            });
        }

        crate::io::trace::trace("households: rights", t0);
        let t0 = std::time::Instant::now();

        let foyers_df = table("foyers")?;
        let f_id = str_col(foyers_df, "foyers", "foyer_id")?;
        let f_person = str_col(foyers_df, "foyers", "pseudo_id")?;
        let f_role = str_col(foyers_df, "foyers", "role")?;
        // Members grouped by sorting (foyer, role, person id) in parallel rather than in a
        // map of millions of foyers: foyers come out in id order, demandeur first (validation
        // ensures one), and are walked in step with the housing rows sorted the same way.
        // Sorted by the foyer id's head first (see `id_head`): the same order.
        let mut members: Vec<(u64, &str, Role, usize)> = (0..foyers_df.height())
            .into_par_iter()
            .with_min_len(1 << 16)
            .filter_map(|i| {
                let f = f_id.get(i)?;
                Some((
                    id_head(f),
                    f,
                    f_role.get(i).and_then(Role::from_code)?,
                    *f_person.get(i).and_then(|id| index.get(id))?,
                ))
            })
            .collect();
        members.par_sort_unstable_by(|a, b| {
            (a.0, a.1, a.2)
                .cmp(&(b.0, b.1, b.2))
                .then_with(|| persons[a.3].pseudo_id.cmp(&persons[b.3].pseudo_id))
        });
        let mut housing: Vec<(u64, &str, Option<Statut>)> = Vec::new();
        if let Some(l) = x.table("logements") {
            let l_id = str_col(l, "logements", "foyer_id")?;
            let l_statut = str_col(l, "logements", "statut")?;
            housing = (0..l.height())
                .into_par_iter()
                .with_min_len(1 << 16)
                .filter_map(|i| {
                    let f = l_id.get(i)?;
                    Some((id_head(f), f, l_statut.get(i).and_then(Statut::from_code)))
                })
                .collect();
            // One housing row per foyer (validation rejects duplicates); a stable sort keeps
            // the last of equal ids last, as a map's last insert would win.
            housing.par_sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        }
        let mut housing = housing.into_iter().peekable();
        let mut foyers: Vec<Foyer> = Vec::new();
        for group in members.chunk_by(|a, b| a.1 == b.1) {
            let f = group[0].1;
            let mut found = None;
            while let Some(&(_, h, statut)) = housing.peek() {
                if h > f {
                    break;
                }
                if h == f {
                    found = statut;
                }
                housing.next();
            }
            foyers.push(Foyer {
                foyer_id: f.to_string(),
                members: group.iter().map(|&(_, _, role, p)| (p, role)).collect(),
                statut: found,
            });
        }
        crate::io::trace::trace("households: foyers", t0);
        Ok(Households::new(run, persons, foyers))
    }

    /// The benefit units of a foyer: its own first, then one per hosted adult, in member
    /// order.
    pub fn units(&self, f: &Foyer) -> Vec<Unit> {
        let age = |p: usize| self.persons[p].age;
        let mut units = vec![Unit {
            carrier: f.demandeur(),
            carrier_role: Role::Demandeur,
            adults: f.unit().collect(),
            children: f
                .children()
                .filter(|&c| age(c) <= DEPENDANT_CHILD_MAX_AGE)
                .collect(),
            statut: f.statut,
            hosted: false,
        }];
        units.extend(
            f.members
                .iter()
                .filter(|&&(p, role)| is_hosted(role, age(p)))
                .map(|&(p, role)| Unit {
                    carrier: p,
                    carrier_role: role,
                    adults: vec![p],
                    children: vec![],
                    statut: hosted_statut(f.statut),
                    hosted: true,
                }),
        );
        units
    }

    /// The unit `person` belongs to in foyer `f`.
    pub(crate) fn unit_of(&self, f: &Foyer, person: usize) -> Unit {
        let mut units = self.units(f);
        let at = units
            .iter()
            .position(|u| u.members().any(|p| p == person))
            .expect("every member of a foyer is in one of its units");
        units.swap_remove(at)
    }

    /// A unit's situation as BRM and RNCPS show it, over the reference quarters.
    /// `ppa_params` holds the PPA parameters of each month of the RSA/PPA quarter.
    pub(crate) fn unit_situation(
        &self,
        u: &Unit,
        q: Quarters,
        ppa_params: &[PpaMonthParams],
    ) -> Situation {
        let run = self.run_month;
        let member = |p: usize| {
            let person = &self.persons[p];
            let (a, b) = q.rsa_ppa;
            let (activite, autres) = (person.activite(), person.autres());
            let all: [f64; HISTORY] = std::array::from_fn(|k| activite[k] + autres[k]);
            MemberResources {
                age: person.age,
                activite: Person::average(&activite, run, a, b),
                autres: Person::average(&autres, run, a, b),
                ressources_aspa: Person::average(&all, run, q.aspa.0, q.aspa.1),
            }
        };
        let (a, b) = q.rsa_ppa;
        let aide_logement: f64 = u
            .members()
            .map(|p| self.persons[p].right_amount(&["AL"], run, a, b))
            .sum();
        let prestations: f64 = u
            .members()
            .map(|p| self.persons[p].right_amount(COUNTED_AS_RESOURCES, run, a, b))
            .sum();
        let unit = &u.adults;
        let ppa_months = ppa_params
            .iter()
            .zip(run.window(a, b))
            .map(|(params, m)| {
                let k = Person::month_index(run, m);
                let at = |p: usize, v: fn(&Person) -> [f64; HISTORY]| {
                    k.map_or(0.0, |k| v(&self.persons[p])[k])
                };
                PpaMonth {
                    params: params.clone(),
                    activite: [0, 1].map(|j| unit.get(j).map_or(0.0, |&p| at(p, Person::activite))),
                    autres: unit.iter().map(|&p| at(p, Person::autres)).sum(),
                }
            })
            .collect();
        Situation {
            demandeur: member(u.adults[0]),
            conjoint: u.adults.get(1).map(|&p| member(p)),
            enfants: u.children.iter().map(|&c| self.persons[c].age).collect(),
            statut: u.statut,
            aide_logement,
            prestations_comptees: prestations,
            ppa_months,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    /// A person aged 45 with no resources or rights yet.
    fn person(id: &str) -> Person {
        Person {
            pseudo_id: id.into(),
            sexe: "F",
            departement: "33",
            regime: "general",
            age: 45,
            par_nature: vec![],
            droits: vec![],
        }
    }

    /// Months without rows, and months without a source the others have, are missing; a
    /// source absent from the whole history is not.
    #[test]
    fn missing_months_are_those_without_rows_or_without_a_feed() {
        let run = Month::parse("2025-09").unwrap();
        let history = |rows: &[(&str, Option<&str>)]| {
            let mut h = ResourceHistories::new(run, 1);
            let mut cols = vec![
                Column::new(
                    crate::tables::extracts::PERSON_ROW.into(),
                    vec![0u32; rows.len()],
                ),
                Column::new("mois".into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
                Column::new("nature".into(), vec!["salaire"; rows.len()]),
                Column::new("montant_net_social".into(), vec![1.0; rows.len()]),
            ];
            if rows.iter().all(|r| r.1.is_some()) {
                cols.push(Column::new(
                    "source".into(),
                    rows.iter().map(|r| r.1.unwrap()).collect::<Vec<_>>(),
                ));
            }
            h.add(&DataFrame::new_infer_height(cols).unwrap()).unwrap();
            h.missing_months()
                .into_iter()
                .map(|(m, s)| (m.to_string(), s))
                .collect::<Vec<_>>()
        };
        let year: Vec<String> = (1..=12).map(|k| run.plus(-k).to_string()).collect();
        // Every month, DSN only: nothing missing (PASRAU is in no month).
        let dsn: Vec<(&str, Option<&str>)> =
            year.iter().map(|m| (m.as_str(), Some("DSN"))).collect();
        assert_eq!(history(&dsn), vec![]);
        // PASRAU in one month only: missing from the eleven others.
        let mut both = dsn.clone();
        both.push((year[0].as_str(), Some("PASRAU")));
        assert_eq!(history(&both).len(), 11);
        assert!(history(&both).iter().all(|(_, s)| *s == vec!["PASRAU"]));
        // A month without rows: missing, with the sources the others have.
        let gap: Vec<(&str, Option<&str>)> = dsn[1..].to_vec();
        assert_eq!(history(&gap), vec![(year[0].clone(), vec!["DSN"])]);
        // Rows read back name no source: only months count; an older month does not.
        let read_back: Vec<(&str, Option<&str>)> = year[1..]
            .iter()
            .map(|m| (m.as_str(), None))
            .chain([("2024-01", None)])
            .collect();
        assert_eq!(
            history(&read_back),
            vec![(year[0].clone(), vec!["DSN", "PASRAU"])]
        );
    }

    #[test]
    fn resources_read_in_slices_add_up_like_a_whole_table() {
        let dir = std::env::temp_dir().join(format!("recours-slices-{}", std::process::id()));
        let path = dir.join("ressources.parquet");
        let rows: [u32; 7] = [0, 1, 0, 0, 1, 2, 0];
        let mois = [
            "2025-06", "2025-07", "2025-06", "2025-08", "2025-08", "2025-08", "2024-01",
        ];
        let nature = [
            "salaire", "chomage", "salaire", "ij", "salaire", "autre", "salaire",
        ];
        let amounts = [100.0, 20.0, 50.5, 7.0, 300.0, 1.0, 999.0];
        let mut df = DataFrame::new_infer_height(vec![
            Column::new(crate::tables::extracts::PERSON_ROW.into(), rows.to_vec()),
            Column::new("mois".into(), mois.to_vec()),
            Column::new("nature".into(), nature.to_vec()),
            Column::new("source".into(), vec!["DSN"; 7]),
            Column::new("montant_net_social".into(), amounts.to_vec()),
        ])
        .unwrap();
        crate::io::output::write_parquet(&path, &mut df).unwrap();
        let run = Month::parse("2025-09").unwrap();
        let totals = |slice: usize| {
            let mut histories = ResourceHistories::new(run, 3);
            let mut slices = 0;
            for chunk in ParquetSlices::open(&path, Some(&RESOURCE_COLUMNS), slice).unwrap() {
                histories.add(&chunk.unwrap()).unwrap();
                slices += 1;
            }
            let mut persons = [person("a"), person("b"), person("c")];
            for (p, h) in persons.iter_mut().zip(histories.finish(run, 3).unwrap()) {
                p.par_nature = h;
            }
            (
                persons
                    .iter()
                    .map(|p| (p.activite(), p.autres()))
                    .collect::<Vec<_>>(),
                slices,
            )
        };
        // Histories added up for another month or other persons are not used.
        let other = Month::parse("2025-10").unwrap();
        assert!(ResourceHistories::new(other, 3).finish(run, 3).is_none());
        assert!(ResourceHistories::new(run, 2).finish(run, 3).is_none());
        let (whole, one) = totals(100);
        let (sliced, three) = totals(3);
        assert_eq!((one, three), (1, 3));
        assert_eq!(whole, sliced);
        // a: two June wages add up; 2024-01 is outside the 12 months; August sick pay.
        assert_eq!(whole[0].0[9], 150.5);
        assert_eq!(whole[0].1[11], 7.0);
        assert_eq!(whole[0].0.iter().sum::<f64>(), 150.5);
        assert_eq!(whole[1].0[11], 300.0);
        assert_eq!(whole[1].1[10], 20.0);
        assert_eq!(whole[2].1[11], 1.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn persons_are_found_by_id_even_when_ids_share_their_head() {
        // Three ids share the head "abcdefgh", one is shorter than eight bytes.
        let ids = [
            "abcdefgh1",
            "zz",
            "abcdefgh2",
            "0123456789",
            "abcdefgh",
            "abc",
        ];
        let h = Households::new(
            Month::parse("2025-09").unwrap(),
            ids.iter().map(|&id| person(id)).collect(),
            vec![],
        );
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(h.person(id), Some(row), "{id}");
        }
        for unknown in ["abcdefgh3", "zz ", "", "0123456789x", "abcdefg"] {
            assert_eq!(h.person(unknown), None, "{unknown}");
        }
    }
}
