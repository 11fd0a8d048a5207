//! The `score` and `lists` stages: every person of a benefit's scoring population scored
//! with its reasons, then one prioritised, deduplicated contact list per caisse, within
//! its monthly capacity per channel, with a channel the person can use, a random control
//! group kept off the list, and a decision for everyone (auditors and `explain` read it).

use rayon::prelude::*;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use recours_models::train::ModelArtefact;
use serde::{Deserialize, Serialize};

use crate::config::{ListRules, Priority};
use crate::domain::codes::Canal;
use crate::domain::reference::Reference;
use crate::io::frame::id_head;
use crate::stages::eligibility::household::Households;
use crate::stages::features::dictionary::{self as features, FeatureTable};
use crate::stages::score::scoring;

/// Features that restate the entitlement estimate.
const ENTITLEMENT_FEATURES: &[&str] = &["eligible_estime", "montant_estime", "marge_ressources"];

/// One scored (person, benefit) with its reasons.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    pub pseudo_id: String,
    pub prestation: &'static str,
    pub probabilite: f64,
    pub montant_estime: f64,
    pub candidat_deterministe: bool,
    /// The largest positive contributions, largest first: feature name, contribution, reason.
    pub raisons: Reasons,
    /// The person's row in the run's [`Households`] when known (from
    /// [`FeatureTable::person`] of a feature table computed in this run); `None` when read
    /// back from `scores.parquet` or scored from a feature table read back.
    pub person: Option<u32>,
}

/// A score's largest positive contributions, largest first, held in place: the feature (its
/// index in the dictionary), whether its "low value" phrase applies, the contribution. 16
/// bytes each, no allocation per score (millions of rows at national scale).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reasons {
    len: u8,
    items: [(u16, bool, f64); crate::stages::score::scoring::TOP_REASONS],
}

impl Reasons {
    /// Appends a contribution of the dictionary's feature `index`; `low` when its "low
    /// value" phrase applies (see [`reason`]). Beyond [`crate::stages::score::scoring::TOP_REASONS`], ignored.
    pub fn push(&mut self, index: usize, contribution: f64, low: bool) {
        let n = self.len as usize;
        if n == self.items.len() {
            return;
        }
        self.items[n] = (index as u16, low, contribution);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feature name, contribution and plain-French reason of the `k`-th largest.
    pub fn get(&self, k: usize) -> Option<(&'static str, f64, &'static str)> {
        (k < self.len()).then(|| {
            let (i, low, c) = self.items[k];
            let f = &features::DICTIONARY[i as usize];
            (f.name, c, if low { f.reason_low } else { f.reason_high })
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64, &'static str)> + '_ {
        (0..self.len()).filter_map(|k| self.get(k))
    }
}

/// Plain-French reason for a feature that pushes the score up: the dictionary's phrase for
/// a high value when the standardised value is positive, for a low value otherwise.
pub fn reason(f: &'static features::FeatureDef, standardised: f64) -> &'static str {
    if standardised >= 0.0 || f.reason_low.is_empty() {
        f.reason_high
    } else {
        f.reason_low
    }
}

/// Seconds spent in the scoring passes themselves (before ids, reasons and sorting).
#[derive(Clone, Copy, Debug, Default)]
pub struct ScoringTime {
    /// Grouping the rows by benefit and computing every probability.
    pub probabilities: f64,
    /// Finding each row's largest contributions.
    pub contributions: f64,
}

/// Every score row, in (benefit, id) order, and the time of the scoring passes.
pub fn score_all(
    models: &BTreeMap<&'static str, ModelArtefact>,
    t: &FeatureTable,
) -> (Vec<ScoreRow>, ScoringTime) {
    let mut out: Vec<ScoreRow> = Vec::with_capacity(t.len());
    let mut time = ScoringTime::default();
    let start = std::time::Instant::now();
    let by_benefit = scoring::benefit_rows(t);
    time.probabilities += start.elapsed().as_secs_f64();
    let progress = crate::io::progress::Progress::new(
        "score",
        "rows scored",
        by_benefit.values().map(|r| r.len() as u64).sum(),
        "rows",
    );
    for (b, a) in models {
        // The artefact's features, resolved once in the dictionary (with their index).
        let defs: Vec<(usize, &'static features::FeatureDef)> = a
            .features
            .iter()
            .map(|f| {
                features::DICTIONARY
                    .iter()
                    .enumerate()
                    .find(|(_, d)| d.name == f.name)
                    .expect("an artefact's features passed the signature check")
            })
            .collect();
        let rows = by_benefit.get(b).map(Vec::as_slice).unwrap_or_default();
        let start = std::time::Instant::now();
        let p = scoring::probabilities(a, t, rows);
        time.probabilities += start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        let top = scoring::top_contributions(a, t, rows);
        time.contributions += start.elapsed().as_secs_f64();
        out.par_extend(rows.par_iter().zip(&p).zip(&top).map(|((&row, &p), top)| {
            let row = row as usize;
            ScoreRow {
                pseudo_id: t.pseudo_id[row].clone(),
                prestation: b,
                probabilite: p,
                montant_estime: t.montant_estime[row],
                candidat_deterministe: t.candidat_deterministe[row],
                raisons: {
                    let mut r = Reasons::default();
                    for (j, c, z) in top.iter() {
                        let (index, f) = defs[j];
                        r.push(index, c, reason(f, z) != f.reason_high);
                    }
                    r
                },
                person: t.person.as_ref().map(|p| p[row]),
            }
        }));
        progress.inc(rows.len() as u64);
    }
    // (benefit, id) is unique: an unstable sort gives the one order.
    out.par_sort_unstable_by(|a, b| {
        a.prestation
            .cmp(b.prestation)
            .then_with(|| a.pseudo_id.cmp(&b.pseudo_id))
    });
    (out, time)
}

/// What a caisse knows about reaching a person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub mobile: bool,
    pub email: bool,
    pub adresse: bool,
    pub en_ligne: bool,
}

/// What the caisses know of each person: channels per caisse, objections, last proactive
/// contact. Keys borrow the ids of the `contacts` table (no copy per row). Split by person
/// into one shard per thread ([`ContactBook::shard`]): the shards are built in parallel,
/// each from its persons' rows in row order, and a person is looked up in its own shard.
#[derive(Clone, Debug, Default)]
pub struct ContactBook<'a> {
    shards: Vec<BookShard<'a>>,
}

#[derive(Clone, Debug, Default)]
struct BookShard<'a> {
    /// (pseudo_id, caisse) → channels that caisse knows.
    reach: HashMap<(&'a str, &'a str), Reach>,
    /// Persons who objected to being contacted from data mining (at any caisse).
    opposition: rustc_hash::FxHashSet<&'a str>,
    /// Last proactive contact, any caisse.
    dernier_contact: HashMap<&'a str, crate::domain::month::Month>,
}

impl<'a> ContactBook<'a> {
    pub fn from_extracts(
        x: &'a crate::tables::extracts::Extracts,
    ) -> crate::error::Result<ContactBook<'a>> {
        let shards = rayon::current_num_threads().max(1);
        let mut book = ContactBook {
            shards: vec![BookShard::default(); shards],
        };
        if let Some(c) = x.table("contacts") {
            let s = |n: &str| crate::io::frame::str_col(c, "contacts", n);
            let b = |n: &str| crate::io::frame::bool_col(c, "contacts", n);
            let (ids, orgs, last) = (s("pseudo_id")?, s("organisme")?, s("dernier_contact")?);
            let (mobile, email, adresse, online, opp) = (
                b("mobile")?,
                b("email")?,
                b("adresse")?,
                b("espace_en_ligne")?,
                b("opposition")?,
            );
            book.shards = (0..shards)
                .into_par_iter()
                .map(|k| {
                    let mut shard = BookShard::default();
                    // Columns walked side by side (`get(i)` looks up the chunk for every
                    // value; a sharded or CSV table has many chunks).
                    let channels = mobile
                        .iter()
                        .zip(email.iter())
                        .zip(adresse.iter().zip(online.iter()));
                    let rows = ids
                        .iter()
                        .zip(orgs.iter())
                        .zip(last.iter())
                        .zip(channels.zip(opp.iter()));
                    for (((id, org), last), (((mobile, email), (adresse, online)), opp)) in rows {
                        let (Some(id), Some(org)) = (id, org) else {
                            continue;
                        };
                        if Self::shard(id, shards) != k {
                            continue;
                        }
                        let r = shard.reach.entry((id, org)).or_default();
                        r.mobile |= mobile.unwrap_or(false);
                        r.email |= email.unwrap_or(false);
                        r.adresse |= adresse.unwrap_or(false);
                        r.en_ligne |= online.unwrap_or(false);
                        if opp.unwrap_or(false) {
                            shard.opposition.insert(id);
                        }
                        if let Some(m) = last.and_then(crate::domain::month::Month::parse) {
                            let e = shard.dernier_contact.entry(id).or_insert(m);
                            *e = (*e).max(m);
                        }
                    }
                    shard
                })
                .collect();
        }
        for id in &x.rejected_oppositions {
            let k = Self::shard(id, shards);
            book.shards[k].opposition.insert(id.as_str());
        }
        Ok(book)
    }

    /// The shard holding a person: bits 32–39 of the id's hash (the maps place keys by the
    /// low bits of the same hash and tag them with the top ones, so each shard's keys stay
    /// spread over its maps).
    fn shard(pseudo_id: &str, shards: usize) -> usize {
        use std::hash::BuildHasher;
        let h = rustc_hash::FxBuildHasher.hash_one(pseudo_id);
        ((h >> 32) & 0xff) as usize % shards
    }

    fn of(&self, pseudo_id: &str) -> &BookShard<'a> {
        &self.shards[Self::shard(pseudo_id, self.shards.len())]
    }

    /// The channels `caisse` knows for the person (none when it has no contact row).
    pub fn reach(&self, pseudo_id: &str, caisse: &str) -> Reach {
        self.of(pseudo_id)
            .reach
            .get(&(pseudo_id, caisse))
            .copied()
            .unwrap_or_default()
    }

    /// Whether the person objected to being contacted (on any caisse's row, kept or
    /// rejected).
    pub fn opposed(&self, pseudo_id: &str) -> bool {
        self.of(pseudo_id).opposition.contains(pseudo_id)
    }

    /// The person's last proactive contact, any caisse.
    pub fn last_contact(&self, pseudo_id: &str) -> Option<crate::domain::month::Month> {
        self.of(pseudo_id).dernier_contact.get(pseudo_id).copied()
    }
}

/// The decision for a (caisse, person).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Liste,
    GroupeTemoin,
    Opposition,
    ContactRecent,
    ScoreInsuffisant,
    AucunCanal,
    CapaciteAtteinte,
}

impl Decision {
    pub fn code(self) -> &'static str {
        match self {
            Decision::Liste => "liste",
            Decision::GroupeTemoin => "groupe_temoin",
            Decision::Opposition => "opposition",
            Decision::ContactRecent => "contact_recent",
            Decision::ScoreInsuffisant => "score_insuffisant",
            Decision::AucunCanal => "aucun_canal",
            Decision::CapaciteAtteinte => "capacite_atteinte",
        }
    }
    pub fn explain(self) -> &'static str {
        match self {
            Decision::Liste => "inscrite sur la liste de contacts",
            Decision::GroupeTemoin => {
                "tirée au sort pour le groupe témoin : pas de contact ce mois-ci"
            }
            Decision::Opposition => {
                "s'est opposée au contact à partir de l'exploitation de données : jamais listée"
            }
            Decision::ContactRecent => "déjà contactée lors d'une campagne récente",
            Decision::ScoreInsuffisant => "score sous le minimum retenu",
            Decision::AucunCanal => "aucun canal de contact utilisable connu de la caisse",
            Decision::CapaciteAtteinte => "capacité de contact de la caisse atteinte ce mois-ci",
        }
    }
}

/// One (caisse, person) with everything the lists and `explain` show.
#[derive(Clone, Debug, PartialEq)]
pub struct ListEntry {
    pub caisse: String,
    pub pseudo_id: String,
    /// Benefits named in the contact, e.g. ["PPA", "RSA"].
    pub prestations: Vec<&'static str>,
    pub probabilite: f64,
    pub montant_estime: f64,
    pub montant_attendu: f64,
    pub priorite: f64,
    pub candidat_deterministe: bool,
    /// Plain-French reasons: the dictionary's phrases (borrowed), the estimated amount
    /// (formatted).
    pub raisons: Vec<std::borrow::Cow<'static, str>>,
    pub decision: Decision,
    /// 1-based rank in the caisse's priority order (over everyone considered).
    pub rang_priorite: usize,
    /// 1-based rank in the contact list (listed people only).
    pub rang_liste: Option<usize>,
    pub canal: Option<Canal>,
    /// The person's row in the run's [`Households`].
    pub person: u32,
}

/// The caisse in charge of a benefit for a person: CAF or MSA for PPA/RSA; CARSAT, CNAV,
/// CGSS or MSA for ASPA (agricultural regime → MSA).
pub fn caisse_for(
    reference: &Reference,
    prestation: &str,
    departement: &str,
    regime: &str,
) -> Option<String> {
    let d = &reference.departements[reference.departement_index(departement)?];
    Some(match (prestation, regime == "agricole") {
        (_, true) => d.msa.clone(),
        ("ASPA", false) => d.carsat.clone(),
        (_, false) => d.caf.clone(),
    })
}

/// A uniform number in [0, 1) from the seed, the caisse and the person: the control-group
/// draw, stable for a seed whatever the order of rows or threads.
pub fn control_draw(seed: u64, caisse: &str, pseudo_id: &str) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(caisse.as_bytes());
    h.update(b"\0");
    h.update(pseudo_id.as_bytes());
    let bytes = h.finalize();
    let v = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"));
    (v >> 11) as f64 / (1u64 << 53) as f64
}

/// Channels a person may be offered, in order of preference.
pub fn allowed_channels(reach: Reach, age: i32, rules: &ListRules) -> Vec<Canal> {
    let digital_ok = reach.en_ligne && age < rules.offline_age;
    let mut v = Vec::new();
    if digital_ok && reach.mobile {
        v.push(Canal::Sms);
    }
    if digital_ok && reach.email {
        v.push(Canal::Email);
    }
    if reach.mobile {
        v.push(Canal::Telephone);
    }
    if reach.adresse {
        v.push(Canal::Courrier);
    }
    v
}

/// Builds every caisse's entries, in caisse order then priority order.
pub fn build(
    scores: &[ScoreRow],
    h: &Households,
    reference: &Reference,
    book: &ContactBook,
    rules: &ListRules,
) -> Vec<ListEntry> {
    // Merge per (caisse, person): PPA and RSA for the same person go to the same caisse.
    // Keys sorted by (caisse, id), then score order: each group's scores are merged in the
    // order they come in, and the entries come out grouped by caisse.
    // The id's head (`id_head`) before the id: the same order, fewer reads of the ids.
    let mut keys: Vec<(&'static str, u64, &str, u32, u32)> = scores
        .par_iter()
        .enumerate()
        .filter_map(|(i, s)| {
            // Scores of this run know their person's row; scores read back look it up.
            let person = match s.person {
                Some(p) => p as usize,
                None => h.person(&s.pseudo_id).expect("a scored person is a person"),
            };
            debug_assert_eq!(
                h.persons[person].pseudo_id, s.pseudo_id,
                "the score's person"
            );
            let p = &h.persons[person];
            caisse_for(reference, s.prestation, p.departement, p.regime).map(|c| {
                let id = s.pseudo_id.as_str();
                (
                    crate::io::frame::intern(&c),
                    id_head(id),
                    id,
                    i as u32,
                    person as u32,
                )
            })
        })
        .collect();
    keys.par_sort_unstable();
    type Key<'k> = (&'static str, u64, &'k str, u32, u32);
    let same = |a: &Key, b: &Key| a.0 == b.0 && a.2 == b.2;
    // Groups merged in parallel, collected in key order.
    let groups: Vec<&[Key]> = keys.chunk_by(same).collect();
    let mut out: Vec<ListEntry> = groups
        .par_iter()
        .with_min_len(1 << 10)
        .map(|group| {
            let (caisse, _, id, _, person) = group[0];
            let scores = group.iter().map(|k| &scores[k.3 as usize]);
            merge(scores, caisse, id, person, rules)
        })
        .collect();
    drop(groups);
    drop(keys);
    // Each caisse's entries ranked and decided on their own (capacity is per caisse): the
    // caisses in parallel.
    let mut by_caisse: Vec<&mut [ListEntry]> = Vec::new();
    let mut rest = out.as_mut_slice();
    while !rest.is_empty() {
        let end = rest.partition_point(|e| e.caisse == rest[0].caisse);
        let (entries, tail) = rest.split_at_mut(end);
        by_caisse.push(entries);
        rest = tail;
    }
    by_caisse
        .into_par_iter()
        .for_each(|entries| decide(entries, h, book, rules));
    out
}

/// One (caisse, person) entry from the person's scores for the benefits this caisse is in
/// charge of, in the order they come in.
fn merge<'s>(
    scores: impl Iterator<Item = &'s ScoreRow>,
    caisse: &str,
    pseudo_id: &str,
    person: u32,
    rules: &ListRules,
) -> ListEntry {
    let mut e = ListEntry {
        caisse: caisse.to_string(),
        pseudo_id: pseudo_id.to_string(),
        prestations: vec![],
        probabilite: 0.0,
        montant_estime: 0.0,
        montant_attendu: 0.0,
        priorite: 0.0,
        candidat_deterministe: false,
        raisons: vec![],
        decision: Decision::ScoreInsuffisant,
        rang_priorite: 0,
        rang_liste: None,
        canal: None,
        person,
    };
    for s in scores {
        let mut raisons: Vec<std::borrow::Cow<'static, str>> = Vec::new();
        if s.candidat_deterministe {
            raisons.push(format!("droit estimé à {:.0} € par mois", s.montant_estime).into());
        }
        // With a deterministic reason, the model's reasons about the estimate repeat it.
        raisons.extend(
            s.raisons
                .iter()
                .filter(|r| !(s.candidat_deterministe && ENTITLEMENT_FEATURES.contains(&r.0)))
                .map(|r| r.2.into()),
        );
        e.prestations.push(s.prestation);
        e.probabilite = e.probabilite.max(s.probabilite);
        e.montant_estime += s.montant_estime;
        e.montant_attendu += s.probabilite * s.montant_estime;
        e.candidat_deterministe |= s.candidat_deterministe;
        for r in raisons {
            if !e.raisons.contains(&r) {
                e.raisons.push(r);
            }
        }
    }
    e.prestations.sort();
    // Deterministic reasons first, then the model's, three at most.
    e.raisons.truncate(3);
    e.raisons.shrink_to_fit();
    e.prestations.shrink_to_fit();
    e.priorite = match rules.priority {
        Priority::Probabilite => e.probabilite,
        Priority::MontantAttendu => e.montant_attendu,
    };
    e
}

/// One caisse's entries put in priority order, ranked, and decided: exclusions first, then
/// a channel within the caisse's capacity, the control group drawn among those reached.
fn decide(entries: &mut [ListEntry], h: &Households, book: &ContactBook, rules: &ListRules) {
    let run = h.run_month;
    let Some(caisse) = entries.first().map(|e| e.caisse.clone()) else {
        return;
    };
    entries.sort_by(|a, b| {
        b.priorite
            .total_cmp(&a.priorite)
            .then_with(|| a.pseudo_id.cmp(&b.pseudo_id))
    });
    let mut used: BTreeMap<Canal, usize> = BTreeMap::new();
    let mut rank = 0;
    for (i, e) in entries.iter_mut().enumerate() {
        e.rang_priorite = i + 1;
        let p = &h.persons[e.person as usize];
        let recent = book
            .last_contact(&e.pseudo_id)
            .is_some_and(|m| run.months_since(m) < rules.recent_contact_months);
        e.decision = if book.opposed(&e.pseudo_id) {
            Decision::Opposition
        } else if recent {
            Decision::ContactRecent
        } else if e.probabilite < rules.min_score && !e.candidat_deterministe {
            Decision::ScoreInsuffisant
        } else {
            let reach = book.reach(&e.pseudo_id, &caisse);
            let allowed = allowed_channels(reach, p.age, rules);
            if allowed.is_empty() {
                Decision::AucunCanal
            } else if let Some(c) = allowed
                .into_iter()
                .find(|c| used.get(c).copied().unwrap_or(0) < rules.capacity(&caisse, *c))
            {
                // The control group is drawn among the people who would be contacted:
                // reachable and within capacity. It does not use up capacity.
                if control_draw(rules.seed, &caisse, &e.pseudo_id) < rules.control_share {
                    Decision::GroupeTemoin
                } else {
                    *used.entry(c).or_default() += 1;
                    rank += 1;
                    e.canal = Some(c);
                    e.rang_liste = Some(rank);
                    Decision::Liste
                }
            } else {
                Decision::CapaciteAtteinte
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ListRules {
        ListRules {
            priority: Priority::MontantAttendu,
            min_score: 0.2,
            recent_contact_months: 6,
            control_share: 0.1,
            seed: 1,
            offline_age: 75,
            capacity: Canal::ALL.iter().map(|c| (*c, 10)).collect(),
            capacity_by_caisse: BTreeMap::new(),
        }
    }

    #[test]
    fn offline_or_old_people_are_never_offered_sms_or_email() {
        let all = Reach {
            mobile: true,
            email: true,
            adresse: true,
            en_ligne: true,
        };
        assert_eq!(
            allowed_channels(all, 40, &rules()),
            vec![Canal::Sms, Canal::Email, Canal::Telephone, Canal::Courrier]
        );
        assert_eq!(
            allowed_channels(all, 80, &rules()),
            vec![Canal::Telephone, Canal::Courrier]
        );
        let offline = Reach {
            en_ligne: false,
            ..all
        };
        assert_eq!(
            allowed_channels(offline, 30, &rules()),
            vec![Canal::Telephone, Canal::Courrier]
        );
        assert!(allowed_channels(Reach::default(), 30, &rules()).is_empty());
    }

    #[test]
    fn an_opposition_on_a_rejected_contact_row_still_counts() {
        let x = crate::tables::extracts::Extracts {
            tables: BTreeMap::new(),
            rejected_oppositions: ["ab".to_string()].into_iter().collect(),
            ..Default::default()
        };
        let book = ContactBook::from_extracts(&x).unwrap();
        assert!(book.opposed("ab"));
        assert!(!book.opposed("ac"));
    }

    #[test]
    fn the_contact_book_answers_the_same_whatever_its_shards() {
        use polars::prelude::*;
        let ids = ["p1", "p2", "p1", "p3", "p1", "p4"];
        let orgs = ["CAF33", "CAF33", "CAF33", "MSA33", "CARSAT", "CAF33"];
        let last = [
            Some("2025-03"),
            None,
            Some("2025-06"),
            Some("2024-12"),
            None,
            None,
        ];
        let flags = |v: [bool; 6]| v.to_vec();
        let df = DataFrame::new_infer_height(vec![
            Column::new("pseudo_id".into(), ids.to_vec()),
            Column::new("organisme".into(), orgs.to_vec()),
            Column::new("dernier_contact".into(), last.to_vec()),
            Column::new(
                "mobile".into(),
                flags([true, false, false, true, false, false]),
            ),
            Column::new(
                "email".into(),
                flags([false, false, true, false, true, false]),
            ),
            Column::new(
                "adresse".into(),
                flags([false, true, false, false, false, false]),
            ),
            Column::new(
                "espace_en_ligne".into(),
                flags([false, false, true, false, false, false]),
            ),
            Column::new(
                "opposition".into(),
                flags([false, false, false, true, false, false]),
            ),
        ])
        .unwrap();
        let x = crate::tables::extracts::Extracts {
            tables: [("contacts", df)].into_iter().collect(),
            rejected_oppositions: ["p4".to_string()].into_iter().collect(),
            ..Default::default()
        };
        let month = |m: &str| crate::domain::month::Month::parse(m);
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let book = pool.install(|| ContactBook::from_extracts(&x).unwrap());
            assert_eq!(book.shards.len(), threads);
            // p1 at CAF33: two rows, channels added up; the later contact month wins.
            let p1 = Reach {
                mobile: true,
                email: true,
                adresse: false,
                en_ligne: true,
            };
            assert_eq!(book.reach("p1", "CAF33"), p1, "{threads} threads");
            assert!(book.reach("p1", "CARSAT").email);
            assert_eq!(book.reach("p1", "MSA33"), Reach::default());
            assert_eq!(book.reach("p9", "CAF33"), Reach::default());
            assert_eq!(book.last_contact("p1"), month("2025-06"));
            assert_eq!(book.last_contact("p2"), None);
            assert_eq!(book.last_contact("p3"), month("2024-12"));
            assert!(book.opposed("p3") && book.opposed("p4"));
            assert!(!book.opposed("p1") && !book.opposed("p2"));
        }
    }

    #[test]
    fn control_draw_is_uniform_and_stable() {
        let n = 20_000;
        let hits = (0..n)
            .filter(|i| control_draw(7, "CAF33", &format!("{i:064x}")) < 0.1)
            .count();
        assert!((hits as f64 / n as f64 - 0.1).abs() < 0.01, "{hits}");
        assert_eq!(
            control_draw(7, "CAF33", "ab"),
            control_draw(7, "CAF33", "ab")
        );
        assert_ne!(
            control_draw(7, "CAF33", "ab"),
            control_draw(8, "CAF33", "ab")
        );
    }
}
