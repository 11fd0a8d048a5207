//! Observables of the `realiste` world: households, members, what BRM and RNCPS see of
//! them, and the benefit units the law makes (the main foyer, and every hosted adult as a
//! unit of their own). Nothing here depends on the hidden state, which is drawn afterwards
//! (`behaviour.rs`) from priors on these observables.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};

use super::super::population::{
    HISTORY_MONTHS, Nature, Regime, ResourceRow, household_rng, pick_weighted, round2,
};
use super::Knobs;
use crate::domain::entitlement::{Role, Statut};
use crate::domain::month::Month;

/// Streams of the random draws (one ChaCha stream per purpose, keyed by household index).
pub(crate) const STREAM_POPULATION: u64 = 101;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SingleWorkingAge,
    SingleOld,
    CoupleNoChild,
    CoupleOld,
    CoupleWithChildren,
    SingleParent,
    /// Single person or couple hosting an adult (relative, friend, lodger).
    HostedAdult,
    /// Parents with an adult child of 25 or more (role `enfant`).
    AdultChild,
    /// A household hosting a parent of 65 or more (role `autre_adulte`).
    HostedElder,
}

const KINDS: [(Kind, f64); 9] = [
    (Kind::SingleWorkingAge, 0.18),
    (Kind::SingleOld, 0.13),
    (Kind::CoupleNoChild, 0.11),
    (Kind::CoupleOld, 0.10),
    (Kind::CoupleWithChildren, 0.19),
    (Kind::SingleParent, 0.09),
    (Kind::HostedAdult, 0.11),
    (Kind::AdultChild, 0.06),
    (Kind::HostedElder, 0.03),
];

#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub role: Role,
    pub age: i32,
    pub naissance: Month,
    pub female: bool,
    pub regime: Regime,
    /// Rows as BRM sees them.
    pub brm: Vec<ResourceRow>,
    /// Self-employed or farmer without DSN wages: activity income BRM cannot see.
    pub self_employed: bool,
    /// Unemployment right (ARE) spell, month offsets (start, end inclusive).
    pub are_spell: Option<(i32, i32)>,
    /// Solidarity allowance after the end of ARE: (first month offset, amount).
    pub ass: Option<(i32, f64)>,
    /// Month offset the pension started.
    pub pension_since: Option<i32>,
    pub invalidite: bool,
    pub aah: bool,
}

pub(crate) const AAH_FULL: f64 = 1033.32;
pub(crate) const AF_TWO_CHILDREN: f64 = 151.05;
pub(crate) const AF_PER_EXTRA_CHILD: f64 = 193.52;
pub(crate) const ASF_PER_CHILD: f64 = 199.19;

impl Person {
    pub(crate) fn brm_in(&self, offset: i32, pred: impl Fn(Nature) -> bool) -> f64 {
        self.brm
            .iter()
            .filter(|r| r.offset == offset && pred(r.nature))
            .map(|r| r.amount)
            .sum()
    }
    /// Average of the BRM amounts over `from..=to`.
    pub(crate) fn brm_average(
        &self,
        from: i32,
        to: i32,
        pred: impl Fn(Nature) -> bool + Copy,
    ) -> f64 {
        (from..=to).map(|k| self.brm_in(k, pred)).sum::<f64>() / (to - from + 1) as f64
    }
    /// ASS received in month `k`.
    pub(crate) fn ass_in(&self, k: i32) -> f64 {
        match self.ass {
            Some((s, a)) if s <= k => a,
            _ => 0.0,
        }
    }
}

/// A benefit unit: the main foyer (demandeur, conjoint, dependent children under 25) or a
/// hosted adult alone.
#[derive(Clone, Debug)]
pub struct Unit {
    /// Person indices of the adults: the porteur first.
    pub adults: Vec<usize>,
    /// Person indices of the dependent children.
    pub children: Vec<usize>,
    pub hosted: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Household {
    pub index: usize,
    pub departement: usize,
    pub statut: Statut,
    pub loyer: Option<f64>,
    pub logement_known: bool,
    pub persons: Vec<Person>,
    pub units: Vec<Unit>,
    /// Housing aid the main unit is entitled to (computed on what the caisse sees).
    pub al_theorique: f64,
    /// Family allowances (always claimed: paid on the birth declaration).
    pub af: f64,
}

impl Household {
    /// Builds the units from the roles (after the population cut).
    pub(crate) fn make_units(&mut self) {
        let mut main = Unit {
            adults: vec![],
            children: vec![],
            hosted: false,
        };
        let mut hosted = Vec::new();
        for (i, p) in self.persons.iter().enumerate() {
            match p.role {
                Role::Demandeur => main.adults.insert(0, i),
                Role::Conjoint => main.adults.push(i),
                Role::Enfant if p.age < 25 => main.children.push(i),
                Role::Enfant | Role::AutreAdulte => hosted.push(Unit {
                    adults: vec![i],
                    children: vec![],
                    hosted: true,
                }),
            }
        }
        self.units = std::iter::once(main).chain(hosted).collect();
    }
}

fn old_age(rng: &mut impl Rng) -> i32 {
    let bands = [
        (65, 69, 0.30),
        (70, 74, 0.27),
        (75, 79, 0.19),
        (80, 84, 0.13),
        (85, 89, 0.08),
        (90, 98, 0.03),
    ];
    let i = pick_weighted(rng, &bands.map(|b| b.2));
    rng.gen_range(bands[i].0..=bands[i].1)
}

fn working_age(rng: &mut impl Rng, lo: i32, hi: i32) -> i32 {
    let a = rng.gen_range(lo..=hi);
    let b = rng.gen_range(lo..=hi);
    if rng.gen_bool(0.5) { (a + b) / 2 } else { a }
}

/// `self_employed` scales the weights of the farmers' and the self-employed's regimes (1
/// in the `realiste` world).
fn draw_regime(rng: &mut impl Rng, old: bool, self_employed: f64) -> Regime {
    let w: [f64; 3] = if old {
        [0.89, 0.06 * self_employed, 0.05 * self_employed]
    } else {
        [0.89, 0.04 * self_employed, 0.07 * self_employed]
    };
    match pick_weighted(rng, &w) {
        0 => Regime::General,
        1 => Regime::Agricole,
        _ => Regime::Independant,
    }
}

pub(crate) fn simulate_household(
    seed: u64,
    index: usize,
    run: Month,
    dep_weights: &[f64],
    knobs: &Knobs,
) -> Household {
    let mut rng = household_rng(seed, STREAM_POPULATION, index);
    let weights = KINDS.map(|(k, w)| {
        if matches!(k, Kind::HostedAdult | Kind::AdultChild | Kind::HostedElder) {
            w * knobs.hosted
        } else {
            w
        }
    });
    let kind = KINDS[pick_weighted(&mut rng, &weights)].0;
    let departement = pick_weighted(&mut rng, dep_weights);
    let old_household = matches!(kind, Kind::SingleOld | Kind::CoupleOld);
    let regime = draw_regime(&mut rng, old_household, knobs.self_employed);

    // (role, age, female, regime)
    let mut people: Vec<(Role, i32, bool, Regime)> = Vec::new();
    let children = |rng: &mut ChaCha8Rng, people: &mut Vec<_>, parent: i32, w: &[f64]| {
        let n = 1 + pick_weighted(rng, w);
        for _ in 0..n {
            let age = rng.gen_range(0..=(parent - 18).clamp(0, 24));
            people.push((Role::Enfant, age, rng.gen_bool(0.49), regime));
        }
    };
    match kind {
        Kind::SingleWorkingAge => {
            let a = working_age(&mut rng, 18, 64);
            people.push((Role::Demandeur, a, rng.gen_bool(0.47), regime));
        }
        Kind::SingleOld => {
            let a = old_age(&mut rng);
            people.push((Role::Demandeur, a, rng.gen_bool(0.66), regime));
        }
        Kind::CoupleNoChild => {
            let a = working_age(&mut rng, 20, 64);
            let f = rng.gen_bool(0.5);
            let b = (a + rng.gen_range(-5..=5)).clamp(18, 64);
            people.push((Role::Demandeur, a, f, regime));
            people.push((Role::Conjoint, b, !f, regime));
        }
        Kind::CoupleOld => {
            // Older couples, one of whom may be under 65.
            let a = old_age(&mut rng);
            let f = rng.gen_bool(0.3);
            let b = (a + rng.gen_range(-9..=4)).clamp(56, 98);
            people.push((Role::Demandeur, a, f, regime));
            people.push((Role::Conjoint, b, !f, regime));
        }
        Kind::CoupleWithChildren => {
            let a = working_age(&mut rng, 20, 56);
            let f = rng.gen_bool(0.5);
            people.push((Role::Demandeur, a, f, regime));
            let b = (a + rng.gen_range(-4..=4)).clamp(18, 64);
            people.push((Role::Conjoint, b, !f, regime));
            // Large families included (up to 5 children).
            children(
                &mut rng,
                &mut people,
                a.min(b),
                &[0.35, 0.38, 0.17, 0.07, 0.03],
            );
        }
        Kind::SingleParent => {
            let a = working_age(&mut rng, 19, 56);
            people.push((Role::Demandeur, a, rng.gen_bool(0.85), regime));
            children(&mut rng, &mut people, a, &[0.52, 0.32, 0.12, 0.04]);
        }
        Kind::HostedAdult => {
            let a = working_age(&mut rng, 35, 85);
            let f = rng.gen_bool(0.55);
            people.push((Role::Demandeur, a, f, regime));
            if rng.gen_bool(0.4) {
                let b = (a + rng.gen_range(-5..=5)).clamp(30, 90);
                people.push((Role::Conjoint, b, !f, regime));
            }
            let n = if rng.gen_bool(0.12) { 2 } else { 1 };
            for _ in 0..n {
                let age = if rng.gen_bool(0.7) {
                    rng.gen_range(18..=34)
                } else {
                    rng.gen_range(35..=64)
                };
                let r = draw_regime(&mut rng, false, knobs.self_employed);
                people.push((Role::AutreAdulte, age, rng.gen_bool(0.45), r));
            }
        }
        Kind::AdultChild => {
            let a = working_age(&mut rng, 48, 80);
            let f = rng.gen_bool(0.55);
            people.push((Role::Demandeur, a, f, regime));
            if rng.gen_bool(0.6) {
                let b = (a + rng.gen_range(-5..=5)).clamp(45, 90);
                people.push((Role::Conjoint, b, !f, regime));
            }
            let child = rng.gen_range(25..=(a - 20).clamp(25, 45));
            let r = draw_regime(&mut rng, false, knobs.self_employed);
            people.push((Role::Enfant, child, rng.gen_bool(0.42), r));
        }
        Kind::HostedElder => {
            let a = working_age(&mut rng, 38, 64);
            let f = rng.gen_bool(0.55);
            people.push((Role::Demandeur, a, f, regime));
            if rng.gen_bool(0.6) {
                let b = (a + rng.gen_range(-5..=5)).clamp(30, 66);
                people.push((Role::Conjoint, b, !f, regime));
            }
            let elder = (a + rng.gen_range(22..=32)).clamp(65, 99);
            let r = draw_regime(&mut rng, true, knobs.self_employed);
            people.push((Role::AutreAdulte, elder, rng.gen_bool(0.7), r));
        }
    }
    let single_parent = kind == Kind::SingleParent;
    let persons: Vec<Person> = people
        .iter()
        .map(|&(role, age, female, regime)| {
            simulate_person(&mut rng, run, role, age, female, regime, single_parent)
        })
        .collect();

    // Housing, from what the caisse sees: ages and BRM income of the main unit.
    let income: f64 = persons
        .iter()
        .filter(|p| matches!(p.role, Role::Demandeur | Role::Conjoint))
        .map(|p| p.brm_average(-4, -2, |_| true) + if p.aah { AAH_FULL } else { 0.0 })
        .sum();
    let old = persons
        .iter()
        .any(|p| matches!(p.role, Role::Demandeur | Role::Conjoint) && p.age >= 65);
    let weights: [f64; 5] = if old && income < 1100.0 {
        [0.13, 0.22, 0.43, 0.19, 0.03]
    } else if old {
        [0.08, 0.10, 0.77, 0.05, 0.0]
    } else if income < 1300.0 {
        [0.35, 0.30, 0.17, 0.14, 0.04]
    } else {
        [0.25, 0.11, 0.61, 0.03, 0.0]
    };
    let statut = Statut::ALL[pick_weighted(&mut rng, &weights)];
    let size = persons
        .iter()
        .filter(|p| p.role != Role::AutreAdulte && !(p.role == Role::Enfant && p.age >= 25))
        .count() as f64;
    let loyer = match statut {
        Statut::LocatairePrive => Some(round2(rng.gen_range(420.0..900.0) + 90.0 * size)),
        Statut::LocataireHlm => Some(round2(rng.gen_range(280.0..520.0) + 50.0 * size)),
        _ => None,
    };
    let logement_known = rng.gen_bool(0.97);
    let mut h = Household {
        index,
        departement,
        statut,
        loyer,
        logement_known,
        persons,
        units: vec![],
        al_theorique: 0.0,
        af: 0.0,
    };
    h.finish();
    h
}

impl Household {
    /// Units, housing aid due and family allowances, from the (possibly cut) members.
    pub fn finish(&mut self) {
        self.make_units();
        let main = &self.units[0];
        let n = (main.adults.len() + main.children.len()) as f64;
        let income: f64 = main
            .adults
            .iter()
            .map(|&i| {
                let p = &self.persons[i];
                p.brm_average(-4, -2, |_| true) + if p.aah { AAH_FULL } else { 0.0 }
            })
            .sum();
        self.al_theorique = match self.loyer {
            Some(loyer) => {
                let plafond_loyer = 300.0 + 80.0 * (n - 1.0);
                let participation = 0.32 * (income - 450.0 - 180.0 * (n - 1.0)).max(0.0);
                let al = (loyer.min(plafond_loyer) * 0.9 - participation).max(0.0);
                if al >= 10.0 { round2(al) } else { 0.0 }
            }
            None => 0.0,
        };
        let young = main
            .children
            .iter()
            .filter(|&&i| self.persons[i].age < 20)
            .count();
        self.af = if young >= 2 {
            round2(AF_TWO_CHILDREN + AF_PER_EXTRA_CHILD * (young - 2) as f64)
        } else {
            0.0
        };
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activity {
    FullTime,
    PartTime,
    Intermittent,
    Unemployed,
    Inactive,
    Sick,
    Invalidity,
    Aah,
    SelfEmployed,
    Retired,
    RetiredWorking,
    NoPension,
}

fn draw_activity(rng: &mut impl Rng, age: i32, regime: Regime, single_parent: bool) -> Activity {
    use Activity::*;
    if regime != Regime::General && (25..65).contains(&age) && rng.gen_bool(0.85) {
        return SelfEmployed;
    }
    let (acts, mut w): (Vec<Activity>, Vec<f64>) = if age >= 65 {
        (
            vec![Retired, RetiredWorking, NoPension],
            vec![0.93, 0.03, 0.04],
        )
    } else if age >= 60 {
        (
            vec![
                FullTime, PartTime, Retired, Unemployed, Inactive, Invalidity, Aah,
            ],
            vec![0.32, 0.08, 0.35, 0.07, 0.10, 0.04, 0.04],
        )
    } else if age < 25 {
        (
            vec![FullTime, PartTime, Intermittent, Unemployed, Inactive],
            vec![0.25, 0.20, 0.20, 0.07, 0.28],
        )
    } else {
        (
            vec![
                FullTime,
                PartTime,
                Intermittent,
                Unemployed,
                Inactive,
                Sick,
                Invalidity,
                Aah,
            ],
            vec![0.52, 0.13, 0.09, 0.09, 0.09, 0.02, 0.02, 0.03],
        )
    };
    if single_parent {
        for (a, x) in acts.iter().zip(w.iter_mut()) {
            match a {
                FullTime => *x *= 0.7,
                PartTime | Inactive | Intermittent => *x *= 1.6,
                _ => {}
            }
        }
    }
    acts[pick_weighted(rng, &w)]
}

fn pension_amount(rng: &mut impl Rng, female: bool, regime: Regime) -> f64 {
    let p_small = match (regime, female) {
        (Regime::Agricole, _) => 0.40,
        (_, true) => 0.16,
        (_, false) => 0.10,
    };
    if rng.gen_bool(p_small) {
        rng.gen_range(120.0..1000.0)
    } else {
        let median = if female { 1300.0f64 } else { 1750.0 };
        LogNormal::new(median.ln(), 0.35)
            .unwrap()
            .sample(rng)
            .max(950.0)
    }
}

fn simulate_person(
    rng: &mut ChaCha8Rng,
    run: Month,
    role: Role,
    age: i32,
    female: bool,
    regime: Regime,
    single_parent: bool,
) -> Person {
    let naissance = run.plus(-(age * 12) - rng.gen_range(0..12));
    let mut p = Person {
        role,
        age,
        naissance,
        female,
        regime,
        brm: Vec::new(),
        self_employed: false,
        are_spell: None,
        ass: None,
        pension_since: None,
        invalidite: false,
        aah: false,
    };
    if age < 18 || (role == Role::Enfant && age < 25 && rng.gen_bool(0.7)) {
        // Children, and most young dependants (students): no resources of their own.
        return p;
    }
    let months = -HISTORY_MONTHS..=-1;
    let activity = draw_activity(rng, age, regime, single_parent && role == Role::Demandeur);
    let push = |p: &mut Person, offset: i32, nature: Nature, amount: f64| {
        if amount != 0.0 {
            p.brm.push(ResourceRow {
                offset,
                nature,
                amount: round2(amount),
            });
        }
    };
    let full_time = || LogNormal::new((1900.0f64).ln(), 0.35).unwrap();
    match activity {
        Activity::FullTime | Activity::RetiredWorking => {
            let base = full_time().sample(rng).max(1390.0);
            let two = rng.gen_bool(0.05);
            let noise = Normal::new(1.0, 0.04).unwrap();
            for k in months.clone() {
                let w = base * noise.sample(rng);
                if two {
                    push(&mut p, k, Nature::Salaire, w * 0.6);
                    push(&mut p, k, Nature::Salaire, w * 0.4);
                } else {
                    push(&mut p, k, Nature::Salaire, w);
                }
                if rng.gen_bool(0.003) {
                    push(&mut p, k, Nature::Salaire, -rng.gen_range(20.0..150.0));
                }
            }
            if activity == Activity::RetiredWorking {
                let amount = pension_amount(rng, female, regime);
                retire(rng, &mut p, age, amount);
            }
        }
        Activity::PartTime => {
            let base: f64 = rng.gen_range(450.0..1300.0);
            let noise = Normal::new(1.0, 0.12).unwrap();
            for k in months.clone() {
                push(
                    &mut p,
                    k,
                    Nature::Salaire,
                    (base * noise.sample(rng)).max(0.0),
                );
            }
        }
        Activity::Intermittent => {
            let p_work = rng.gen_range(0.35..0.8);
            for k in months.clone() {
                if rng.gen_bool(p_work) {
                    push(&mut p, k, Nature::Salaire, rng.gen_range(250.0..1500.0));
                }
            }
        }
        Activity::Unemployed => {
            // Job loss somewhere in the last 20 months; ARE for 4 to 24 months.
            let start = rng.gen_range(-20..=-1);
            let end = start + rng.gen_range(4..=24);
            let wage = full_time().sample(rng).max(1390.0) * 0.85;
            let are = (wage * rng.gen_range(0.6..0.75)).max(700.0);
            let back = rng.gen_bool(0.35);
            for k in months.clone() {
                if k < start {
                    push(&mut p, k, Nature::Salaire, wage);
                } else if k <= end {
                    push(&mut p, k, Nature::Chomage, are * rng.gen_range(0.97..1.03));
                } else if back {
                    push(&mut p, k, Nature::Salaire, rng.gen_range(500.0..1500.0));
                }
            }
            p.are_spell = Some((start, end));
            if end < -1 && !back && rng.gen_bool(0.35) {
                p.ass = Some((end + 1, round2(rng.gen_range(450.0..560.0))));
            }
        }
        Activity::Sick => {
            let wage = full_time().sample(rng).max(1390.0) * 0.9;
            let start = rng.gen_range(-HISTORY_MONTHS..=-2);
            let len = rng.gen_range(2..=8);
            for k in months.clone() {
                if k >= start && k < start + len {
                    push(&mut p, k, Nature::Ij, wage * 0.5);
                } else {
                    push(&mut p, k, Nature::Salaire, wage);
                }
            }
        }
        Activity::Invalidity => {
            let amount = rng.gen_range(300.0..1100.0);
            p.invalidite = true;
            for k in months.clone() {
                push(&mut p, k, Nature::Invalidite, amount);
            }
        }
        Activity::Aah => p.aah = true,
        Activity::SelfEmployed => {
            p.self_employed = true;
            // A few have a small salaried side job BRM sees.
            if rng.gen_bool(0.2) {
                let base = rng.gen_range(150.0..600.0);
                for k in months.clone() {
                    if rng.gen_bool(0.6) {
                        push(&mut p, k, Nature::Salaire, base);
                    }
                }
            }
        }
        Activity::Retired => {
            let amount = pension_amount(rng, female, regime);
            retire(rng, &mut p, age, amount);
        }
        Activity::Inactive | Activity::NoPension => {}
    }
    if rng.gen_bool(0.02) {
        let k = rng.gen_range(-HISTORY_MONTHS..=-1);
        push(&mut p, k, Nature::Autre, rng.gen_range(50.0..600.0));
    }
    p
}

/// A pension from an age between 60 and 67 (the retirement is a recent event for some).
fn retire(rng: &mut impl Rng, p: &mut Person, age: i32, amount: f64) {
    let hi = age.clamp(60, 67);
    let at = rng.gen_range(60.min(hi)..=hi);
    let since = -12 * (age - at) - rng.gen_range(1..=12);
    p.pension_since = Some(since);
    for k in since.max(-HISTORY_MONTHS)..=-1 {
        p.brm.push(ResourceRow {
            offset: k,
            nature: Nature::Retraite,
            amount: round2(amount),
        });
    }
}
