//! The `lists` stage's selection: from the scores, one prioritised, deduplicated contact
//! list per caisse, within its monthly capacity per channel, with a channel the person can
//! use, a random control group kept off the list, and a decision for everyone (auditors and
//! `explain` read it).

use rayon::prelude::*;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::config::{ListRules, Priority};
use crate::domain::codes::Canal;
use crate::domain::reference::Reference;
use crate::io::frame::id_head;
use crate::stages::features::dictionary as features;
use crate::tables::households::Households;
use crate::tables::scores::ScoreRow;

/// Whether a feature only restates the entitlement estimate (computed from the
/// `eligibility` rows alone: the amount, its bands, the margin under the threshold).
fn restates_estimate(f: &features::FeatureDef) -> bool {
    f.sources == "eligibility"
}

/// What a caisse knows about reaching a person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reach {
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
pub(crate) struct ContactBook<'a> {
    shards: Vec<BookShard<'a>>,
}

#[derive(Clone, Debug, Default)]
struct BookShard<'a> {
    /// pseudo_id → the caisses with a contact row for the person and the channels each
    /// knows, in the order of the rows (a person has a few: a list is searched in place).
    reach: HashMap<&'a str, Vec<(&'a str, Reach)>>,
    /// Persons who objected to being contacted from data mining (at any caisse).
    opposition: rustc_hash::FxHashSet<&'a str>,
    /// Last proactive contact, any caisse.
    dernier_contact: HashMap<&'a str, crate::domain::month::Month>,
}

impl<'a> ContactBook<'a> {
    pub(crate) fn from_extracts(
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
                        let known = shard.reach.entry(id).or_default();
                        let r = match known.iter().position(|(c, _)| *c == org) {
                            Some(k) => &mut known[k].1,
                            None => {
                                known.push((org, Reach::default()));
                                &mut known.last_mut().expect("just pushed").1
                            }
                        };
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
        self.known_at(pseudo_id)
            .iter()
            .find(|(c, _)| *c == caisse)
            .map_or_else(Reach::default, |(_, r)| *r)
    }

    /// Every caisse with a contact row for the person and what it knows, in row order.
    pub(crate) fn known_at(&self, pseudo_id: &str) -> &[(&'a str, Reach)] {
        self.of(pseudo_id)
            .reach
            .get(pseudo_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether the person objected to being contacted (on any caisse's row, kept or
    /// rejected).
    pub fn opposed(&self, pseudo_id: &str) -> bool {
        self.of(pseudo_id).opposition.contains(pseudo_id)
    }

    /// The person's last proactive contact, any caisse.
    pub(crate) fn last_contact(&self, pseudo_id: &str) -> Option<crate::domain::month::Month> {
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
    DroitEstimeNul,
}

impl Decision {
    pub(crate) const ALL: [Decision; 8] = [
        Decision::Liste,
        Decision::GroupeTemoin,
        Decision::Opposition,
        Decision::ContactRecent,
        Decision::ScoreInsuffisant,
        Decision::DroitEstimeNul,
        Decision::AucunCanal,
        Decision::CapaciteAtteinte,
    ];

    /// The decision written as `code` in `lists/decisions.parquet`.
    pub fn from_code(code: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Decision::Liste => "liste",
            Decision::GroupeTemoin => "groupe_temoin",
            Decision::Opposition => "opposition",
            Decision::ContactRecent => "contact_recent",
            Decision::ScoreInsuffisant => "score_insuffisant",
            Decision::AucunCanal => "aucun_canal",
            Decision::CapaciteAtteinte => "capacite_atteinte",
            Decision::DroitEstimeNul => "droit_estime_nul",
        }
    }
    /// The decision in a few words, as the summary and the read-me count them.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Liste => "listée",
            Decision::GroupeTemoin => "groupe témoin",
            Decision::Opposition => "opposition au contact",
            Decision::ContactRecent => "contactée récemment",
            Decision::ScoreInsuffisant => "score sous le minimum",
            Decision::AucunCanal => "à joindre par un autre moyen",
            Decision::CapaciteAtteinte => "capacité de contact atteinte",
            Decision::DroitEstimeNul => "droit estimé nul",
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
            Decision::AucunCanal => {
                "aucun canal de contact utilisable connu de la caisse : à joindre par un autre moyen"
            }
            Decision::CapaciteAtteinte => "capacité de contact de la caisse atteinte ce mois-ci",
            Decision::DroitEstimeNul => {
                "droit estimé nul à partir des ressources connues : pas de contact sur un montant nul"
            }
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
    /// The estimated monthly amount of each benefit of `prestations`, in the same order.
    pub montants: Vec<f64>,
    /// The probability of non-take-up; for several benefits their mean weighted by the
    /// amounts, so that `montant_attendu = probabilite × montant_estime` (the largest when
    /// every amount is nil).
    pub probabilite: f64,
    /// The sum of `montants`.
    pub montant_estime: f64,
    /// The sum over the benefits of probability × amount.
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
pub(crate) fn caisse_for(
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
pub(crate) fn control_draw(seed: u64, caisse: &str, pseudo_id: &str) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(caisse.as_bytes());
    h.update(b"\0");
    h.update(pseudo_id.as_bytes());
    let bytes = h.finalize();
    let v = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"));
    (v >> 11) as f64 / (1u64 << 53) as f64
}

/// Channels a person may be offered, in order of preference. No letter for a person without
/// a home: an address on file is not where they live.
pub(crate) fn allowed_channels(
    reach: Reach,
    age: i32,
    sans_domicile: bool,
    rules: &ListRules,
) -> Vec<Canal> {
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
    if reach.adresse && !sans_domicile {
        v.push(Canal::Courrier);
    }
    v
}

/// The persons whose foyer has no home (`logements.statut = sans_domicile`), every member
/// (a hosted adult of such a foyer too).
pub(crate) fn homeless(h: &Households) -> rustc_hash::FxHashSet<u32> {
    h.foyers
        .iter()
        .filter(|f| f.statut == Some(crate::domain::entitlement::Statut::SansDomicile))
        .flat_map(|f| f.members.iter().map(|(p, _)| *p as u32))
        .collect()
}

/// Why a person has no usable channel at `caisse`, and what the other caisses of the
/// RNCPS know (which channels, never their values): what the "à joindre par un autre
/// moyen" sheet shows.
pub(crate) fn no_channel(
    e: &ListEntry,
    book: &ContactBook,
    h: &Households,
    homeless: &rustc_hash::FxHashSet<u32>,
    reference: &Reference,
    rules: &ListRules,
) -> (String, String) {
    let here = book.reach(&e.pseudo_id, &e.caisse);
    let age = h.persons[e.person as usize].age;
    let sdf = homeless.contains(&e.person);
    let mut why = Vec::new();
    if here == Reach::default() {
        why.push("aucune coordonnée connue de la caisse".to_string());
    } else {
        if here.adresse && sdf {
            why.push("sans domicile : pas de courrier à l'adresse connue".to_string());
        }
        if here.email && !here.mobile {
            why.push(if age >= rules.offline_age {
                format!(
                    "seul un e-mail est connu, pas d'e-mail à partir de {} ans",
                    rules.offline_age
                )
            } else {
                "seul un e-mail est connu, sans usage de l'espace en ligne".to_string()
            });
        }
        if !here.adresse && !here.mobile && !here.email {
            why.push("aucun mobile, e-mail ni adresse connu de la caisse".to_string());
        }
    }
    let elsewhere: Vec<String> = {
        let mut known: Vec<(&str, Reach)> = book
            .known_at(&e.pseudo_id)
            .iter()
            .filter(|(c, r)| *c != e.caisse && (r.mobile || r.email || r.adresse))
            .copied()
            .collect();
        known.sort_by(|a, b| a.0.cmp(b.0));
        known
            .into_iter()
            .map(|(c, r)| {
                let channels: Vec<&str> = [
                    (r.adresse, "adresse"),
                    (r.mobile, "mobile"),
                    (r.email, "e-mail"),
                ]
                .into_iter()
                .filter_map(|(k, name)| k.then_some(name))
                .collect();
                let name = reference
                    .caisses
                    .get(c)
                    .map_or_else(|| c.to_string(), |x| caisse_name(c, &x.libelle));
                format!("{name} : {}", channels.join(", "))
            })
            .collect()
    };
    let elsewhere = if elsewhere.is_empty() {
        "aucun autre organisme du RNCPS".to_string()
    } else {
        elsewhere.join(" ; ")
    };
    (why.join(" ; "), elsewhere)
}

/// A caisse as people name it: its label, with its code when the label does not hold it
/// (`CAF du Nord (CAF59)`, `CNAV (Île-de-France)`).
pub(crate) fn caisse_name(code: &str, libelle: &str) -> String {
    if libelle.is_empty() {
        code.to_string()
    } else if libelle.contains(code) {
        libelle.to_string()
    } else {
        format!("{libelle} ({code})")
    }
}

/// Builds every caisse's entries, in caisse order then priority order.
pub(crate) fn build(
    scores: &[ScoreRow],
    h: &Households,
    reference: &Reference,
    book: &ContactBook,
    homeless: &rustc_hash::FxHashSet<u32>,
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
        .for_each(|entries| decide(entries, h, book, homeless, rules));
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
    let scores: Vec<&ScoreRow> = scores.collect();
    // A benefit estimated at nothing is not named beside one estimated at some amount: the
    // caisse would call about a nil amount.
    let any_amount = scores.iter().any(|s| s.montant_estime > 0.0);
    let mut scores: Vec<&ScoreRow> = scores
        .into_iter()
        .filter(|s| !any_amount || s.montant_estime > 0.0)
        .collect();
    scores.sort_by_key(|s| s.prestation);
    let montant_estime: f64 = scores.iter().map(|s| s.montant_estime).sum();
    let montant_attendu: f64 = scores
        .iter()
        .map(|s| s.probabilite * s.montant_estime)
        .sum();
    let probabilite = if montant_estime > 0.0 {
        montant_attendu / montant_estime
    } else {
        scores.iter().map(|s| s.probabilite).fold(0.0, f64::max)
    };
    let candidat_deterministe = scores.iter().any(|s| s.candidat_deterministe);
    let mut raisons: Vec<std::borrow::Cow<'static, str>> = Vec::new();
    if candidat_deterministe {
        raisons.push(amount_reason(&scores).into());
    }
    // The model's reasons, each benefit's in its order: none that restates the estimate
    // when the amount is the first reason, none that only says the person is reachable,
    // one per topic (an age band after "âge avancé" repeats it).
    let mut topics: Vec<&'static str> = Vec::new();
    for s in &scores {
        for k in 0..s.raisons.len() {
            let Some((f, low)) = s.raisons.feature(k) else {
                continue;
            };
            if (candidat_deterministe && restates_estimate(f))
                || (!low && REACHABILITY_FEATURES.contains(&f.name))
            {
                continue;
            }
            let topic = reason_topic(f);
            let phrase = if low { f.reason_low } else { f.reason_high };
            if topics.contains(&topic) || raisons.iter().any(|r| r == phrase) {
                continue;
            }
            topics.push(topic);
            raisons.push(phrase.into());
        }
    }
    raisons.truncate(3);
    raisons.shrink_to_fit();
    let mut e = ListEntry {
        caisse: caisse.to_string(),
        pseudo_id: pseudo_id.to_string(),
        prestations: scores.iter().map(|s| s.prestation).collect(),
        montants: scores.iter().map(|s| s.montant_estime).collect(),
        probabilite,
        montant_estime,
        montant_attendu,
        priorite: 0.0,
        candidat_deterministe,
        raisons,
        decision: Decision::ScoreInsuffisant,
        rang_priorite: 0,
        rang_liste: None,
        canal: None,
        person,
    };
    e.priorite = match rules.priority {
        Priority::Probabilite => e.probabilite,
        Priority::MontantAttendu => e.montant_attendu,
    };
    e
}

/// Features whose high value says only that the person can be reached, not why they may
/// be entitled: never a reason to contact them.
const REACHABILITY_FEATURES: &[&str] = &["espace_en_ligne", "canal_numerique_connu"];

/// The topic a reason speaks of: a one-hot level's group, the continuous feature its
/// levels cut in bands, else the feature itself.
fn reason_topic(f: &features::FeatureDef) -> &'static str {
    match f.name {
        "age" => "tranche_age",
        _ if restates_estimate(f) => "estimation",
        n => f.group.unwrap_or(n),
    }
}

/// The estimated amount as a reason, with each benefit's part when there are several; the
/// same rounding as the lists' amounts (cents, added up), shown in whole euros.
fn amount_reason(scores: &[&ScoreRow]) -> String {
    let cents = |x: f64| (x * 100.0).round() / 100.0;
    let total: f64 = scores.iter().map(|s| cents(s.montant_estime)).sum();
    let fr = |x: f64| crate::domain::fr::euros_whole(x);
    match scores {
        [one] => format!("droit {} estimé à {} par mois", one.prestation, fr(total)),
        several => format!(
            "droits estimés à {} par mois ({})",
            fr(total),
            several
                .iter()
                .map(|s| format!("{} {}", s.prestation, fr(cents(s.montant_estime))))
                .collect::<Vec<_>>()
                .join(" + ")
        ),
    }
}

/// One caisse's entries put in priority order, ranked, and decided: exclusions first, then
/// a channel within the caisse's capacity, the control group drawn among those reached.
fn decide(
    entries: &mut [ListEntry],
    h: &Households,
    book: &ContactBook,
    homeless: &rustc_hash::FxHashSet<u32>,
    rules: &ListRules,
) {
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
        } else if e.montant_estime <= 0.0 {
            // Nothing to tell the person about: a list is worked by amount.
            Decision::DroitEstimeNul
        } else {
            let reach = book.reach(&e.pseudo_id, &caisse);
            let allowed = allowed_channels(reach, p.age, homeless.contains(&e.person), rules);
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
    use crate::tables::scores::Reasons;

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
            allowed_channels(all, 40, false, &rules()),
            vec![Canal::Sms, Canal::Email, Canal::Telephone, Canal::Courrier]
        );
        assert_eq!(
            allowed_channels(all, 80, false, &rules()),
            vec![Canal::Telephone, Canal::Courrier]
        );
        let offline = Reach {
            en_ligne: false,
            ..all
        };
        assert_eq!(
            allowed_channels(offline, 30, false, &rules()),
            vec![Canal::Telephone, Canal::Courrier]
        );
        assert!(allowed_channels(Reach::default(), 30, false, &rules()).is_empty());
    }

    #[test]
    fn no_letter_for_a_person_without_a_home() {
        let letter_only = Reach {
            adresse: true,
            ..Reach::default()
        };
        assert_eq!(
            allowed_channels(letter_only, 40, false, &rules()),
            vec![Canal::Courrier]
        );
        assert!(allowed_channels(letter_only, 40, true, &rules()).is_empty());
        let phone = Reach {
            mobile: true,
            ..letter_only
        };
        assert_eq!(
            allowed_channels(phone, 40, true, &rules()),
            vec![Canal::Telephone]
        );
    }

    fn score(prestation: &'static str, p: f64, montant: f64, deterministic: bool) -> ScoreRow {
        ScoreRow {
            pseudo_id: "p1".into(),
            prestation,
            probabilite: p,
            montant_estime: montant,
            candidat_deterministe: deterministic,
            raisons: Reasons::default(),
            person: Some(0),
        }
    }

    #[test]
    fn merged_amounts_add_up_with_the_probability_shown() {
        let (ppa, rsa) = (
            score("PPA", 0.98, 588.69, true),
            score("RSA", 0.9, 82.06, false),
        );
        let e = merge([&rsa, &ppa].into_iter(), "CAF59", "p1", 0, &rules());
        assert_eq!(e.prestations, vec!["PPA", "RSA"]);
        assert_eq!(e.montants, vec![588.69, 82.06]);
        assert!((e.montant_estime - 670.75).abs() < 1e-9);
        assert!((e.montant_attendu - (0.98 * 588.69 + 0.9 * 82.06)).abs() < 1e-9);
        assert!((e.probabilite * e.montant_estime - e.montant_attendu).abs() < 1e-9);
        assert_eq!(
            e.raisons[0],
            "droits estimés à 671\u{a0}€ par mois (PPA 589\u{a0}€ + RSA 82\u{a0}€)"
        );
        // A benefit estimated at nothing is left out beside one with an amount.
        let nil = score("RSA", 0.99, 0.0, false);
        let e = merge([&ppa, &nil].into_iter(), "CAF59", "p1", 0, &rules());
        assert_eq!(
            (e.prestations.clone(), e.montants.clone()),
            (vec!["PPA"], vec![588.69])
        );
        assert_eq!(e.raisons[0], "droit PPA estimé à 589\u{a0}€ par mois");
        let e = merge([&nil].into_iter(), "CAF59", "p1", 0, &rules());
        assert_eq!((e.montant_estime, e.probabilite), (0.0, 0.99));
    }

    #[test]
    fn reasons_skip_reachability_and_repeated_topics() {
        let index = |n: &str| {
            features::DICTIONARY
                .iter()
                .position(|f| f.name == n)
                .unwrap_or_else(|| panic!("{n} is in the dictionary"))
        };
        for n in REACHABILITY_FEATURES {
            index(n);
        }
        for n in [
            "montant_estime",
            "marge_ressources",
            "log_montant_estime",
            "marge_100_0",
        ] {
            assert!(restates_estimate(&features::DICTIONARY[index(n)]), "{n}");
        }
        assert!(!restates_estimate(
            &features::DICTIONARY[index("x_montant_hors_ligne")]
        ));
        assert_eq!(
            features::DICTIONARY[index("age_85_plus")].group,
            Some("tranche_age")
        );
        let mut s = score("ASPA", 0.5, 300.0, false);
        s.raisons.push(index("age"), 0.9, false);
        s.raisons.push(index("espace_en_ligne"), 0.5, false);
        s.raisons.push(index("age_85_plus"), 0.4, false);
        s.raisons.push(index("espace_en_ligne"), 0.3, true);
        let e = merge([&s].into_iter(), "CARSAT-NORD", "p1", 0, &rules());
        assert_eq!(
            e.raisons,
            vec!["âge avancé", "n'utilise pas d'espace en ligne"]
        );
        // One reason about the estimate, none beside the amount of a deterministic one.
        let mut s = score("PPA", 0.9, 758.23, false);
        s.raisons.push(index("montant_estime"), 0.9, false);
        s.raisons.push(index("marge_100_0"), 0.5, false);
        s.raisons.push(index("parent_isole"), 0.4, false);
        let e = merge([&s].into_iter(), "CAF59", "p1", 0, &rules());
        assert_eq!(e.raisons, vec!["droit estimé élevé", "parent isolé"]);
        s.candidat_deterministe = true;
        let e = merge([&s].into_iter(), "CAF59", "p1", 0, &rules());
        assert_eq!(
            e.raisons,
            vec!["droit PPA estimé à 758\u{a0}€ par mois", "parent isolé"]
        );
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
    fn a_caisse_is_named_once() {
        assert_eq!(
            caisse_name("CNAV", "CNAV (Île-de-France)"),
            "CNAV (Île-de-France)"
        );
        assert_eq!(caisse_name("CAF59", "CAF du Nord"), "CAF du Nord (CAF59)");
        assert_eq!(caisse_name("CAF59", ""), "CAF59");
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
