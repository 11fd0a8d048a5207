//! The synthetic population: households, members, the resources BRM sees, the resources it
//! does not see, and the other rights held. Each household is simulated from its own
//! random stream (seed, household number), so the result does not depend on threads.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};

pub(crate) use crate::domain::entitlement::round2;
use crate::domain::entitlement::{Role, Statut};
use crate::domain::month::Month;

/// How many months of BRM resources precede the run month.
pub(crate) const HISTORY_MONTHS: i32 = 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HouseholdKind {
    SingleWorkingAge,
    SingleOld,
    CoupleNoChild,
    CoupleOld,
    CoupleWithChildren,
    SingleParent,
    WithOtherAdult,
}

const KINDS: [(HouseholdKind, f64); 7] = [
    (HouseholdKind::SingleWorkingAge, 0.20),
    (HouseholdKind::SingleOld, 0.16),
    (HouseholdKind::CoupleNoChild, 0.13),
    (HouseholdKind::CoupleOld, 0.12),
    (HouseholdKind::CoupleWithChildren, 0.22),
    (HouseholdKind::SingleParent, 0.09),
    (HouseholdKind::WithOtherAdult, 0.08),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Regime {
    General,
    Agricole,
    Independant,
}

impl Regime {
    pub fn code(self) -> &'static str {
        match self {
            Regime::General => "general",
            Regime::Agricole => "agricole",
            Regime::Independant => "independant",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nature {
    Salaire,
    Chomage,
    Ij,
    Retraite,
    Invalidite,
    Autre,
}

impl Nature {
    pub fn code(self) -> &'static str {
        match self {
            Nature::Salaire => "salaire",
            Nature::Chomage => "chomage",
            Nature::Ij => "ij",
            Nature::Retraite => "retraite",
            Nature::Invalidite => "invalidite",
            Nature::Autre => "autre",
        }
    }
    pub fn source(self) -> &'static str {
        match self {
            Nature::Salaire => "DSN",
            _ => "PASRAU",
        }
    }
    pub(crate) fn is_activity(self) -> bool {
        matches!(self, Nature::Salaire)
    }
}

/// One BRM row: (month offset from the run month, nature, amount).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResourceRow {
    pub offset: i32,
    pub nature: Nature,
    pub amount: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub role: Role,
    pub age: i32,
    /// Month of birth, consistent with `age` at the run month.
    pub naissance: Month,
    pub female: bool,
    pub aah: bool,
    /// Rows as BRM sees them.
    pub brm: Vec<ResourceRow>,
    /// Monthly resources BRM cannot see (self-employment, alimony, capital income), by month
    /// offset −HISTORY_MONTHS..−1 (index 0 is −HISTORY_MONTHS).
    pub hidden: Vec<f64>,
    pub hidden_kind: Option<&'static str>,
    /// Unemployment right (ARE) spell, as month offsets (start, end inclusive).
    pub are_spell: Option<(i32, i32)>,
    pub pension: bool,
    pub invalidite: bool,
}

impl Member {
    pub(crate) fn is_adult_unit_member(&self) -> bool {
        matches!(self.role, Role::Demandeur | Role::Conjoint)
    }

    /// BRM amount of a nature-filtered month, summed over rows.
    pub(crate) fn brm_in(&self, offset: i32, pred: impl Fn(Nature) -> bool) -> f64 {
        self.brm
            .iter()
            .filter(|r| r.offset == offset && pred(r.nature))
            .map(|r| r.amount)
            .sum()
    }

    pub(crate) fn hidden_at(&self, offset: i32) -> f64 {
        let i = offset + HISTORY_MONTHS;
        if (0..HISTORY_MONTHS).contains(&i) {
            self.hidden[i as usize]
        } else {
            0.0
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Household {
    pub index: usize,
    pub kind: HouseholdKind,
    pub departement: usize,
    pub regime: Regime,
    pub statut: Statut,
    pub loyer: Option<f64>,
    /// Whether the extract has a `logements` row for this household.
    pub logement_known: bool,
    pub members: Vec<Member>,
}

impl Household {
    pub fn unit(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.is_adult_unit_member())
    }
    pub fn children(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.role == Role::Enfant)
    }
    pub(crate) fn oldest_unit_age(&self) -> i32 {
        self.unit().map(|m| m.age).max().unwrap_or(0)
    }
}

pub(crate) fn household_rng(seed: u64, stream: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng.set_word_pos((index as u128) << 20);
    rng
}

pub(crate) fn pick_weighted(rng: &mut impl Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.r#gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn age_between(rng: &mut impl Rng, lo: i32, hi: i32) -> i32 {
    rng.gen_range(lo..=hi)
}

/// Ages of people aged 65+ thin out with age (French pyramid above 65).
fn old_age(rng: &mut impl Rng) -> i32 {
    let bands = [
        (65, 69, 0.30),
        (70, 74, 0.28),
        (75, 79, 0.19),
        (80, 84, 0.12),
        (85, 89, 0.08),
        (90, 98, 0.03),
    ];
    let i = pick_weighted(rng, &bands.map(|b| b.2));
    age_between(rng, bands[i].0, bands[i].1)
}

fn working_age(rng: &mut impl Rng, lo: i32, hi: i32) -> i32 {
    // Slightly more weight on the middle ages, as in the French pyramid.
    let a = age_between(rng, lo, hi);
    let b = age_between(rng, lo, hi);
    if rng.gen_bool(0.5) { (a + b) / 2 } else { a }
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

fn draw_activity(rng: &mut impl Rng, age: i32, kind: HouseholdKind) -> Activity {
    use Activity::*;
    let (acts, mut w): (Vec<Activity>, Vec<f64>) = if age >= 65 {
        (
            vec![Retired, RetiredWorking, NoPension],
            vec![0.95, 0.03, 0.02],
        )
    } else if age >= 60 {
        (
            vec![
                FullTime, PartTime, Retired, Unemployed, Inactive, Invalidity, Aah,
            ],
            vec![0.35, 0.08, 0.35, 0.06, 0.10, 0.03, 0.03],
        )
    } else if age < 25 {
        (
            vec![FullTime, PartTime, Intermittent, Unemployed, Inactive],
            vec![0.25, 0.20, 0.15, 0.05, 0.35],
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
                SelfEmployed,
            ],
            vec![0.57, 0.12, 0.07, 0.07, 0.08, 0.02, 0.02, 0.025, 0.015],
        )
    };
    if kind == HouseholdKind::SingleParent {
        // Single parents work less often full time (DREES).
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

/// Simulate one household.
pub(crate) fn simulate_household(
    seed: u64,
    index: usize,
    run_month: Month,
    dep_weights: &[f64],
) -> Household {
    let mut rng = household_rng(seed, 1, index);
    let kind = KINDS[pick_weighted(&mut rng, &KINDS.map(|k| k.1))].0;
    let departement = pick_weighted(&mut rng, dep_weights);
    let regime = match pick_weighted(&mut rng, &[0.88, 0.05, 0.07]) {
        0 => Regime::General,
        1 => Regime::Agricole,
        _ => Regime::Independant,
    };

    // Members: (role, age, female)
    let mut people: Vec<(Role, i32, bool)> = Vec::new();
    let female = |rng: &mut ChaCha8Rng, p: f64| rng.gen_bool(p);
    match kind {
        HouseholdKind::SingleWorkingAge => {
            let a = working_age(&mut rng, 18, 64);
            people.push((Role::Demandeur, a, female(&mut rng, 0.47)));
        }
        HouseholdKind::SingleOld => {
            let a = old_age(&mut rng);
            people.push((Role::Demandeur, a, female(&mut rng, 0.66)));
        }
        HouseholdKind::CoupleNoChild => {
            let a = working_age(&mut rng, 20, 64);
            let f = female(&mut rng, 0.5);
            let b = (a + rng.gen_range(-5..=5)).clamp(18, 64);
            people.push((Role::Demandeur, a, f));
            people.push((Role::Conjoint, b, !f));
        }
        HouseholdKind::CoupleOld => {
            let a = old_age(&mut rng);
            let f = female(&mut rng, 0.3);
            let b = (a + rng.gen_range(-7..=4)).clamp(58, 98);
            people.push((Role::Demandeur, a, f));
            people.push((Role::Conjoint, b, !f));
        }
        HouseholdKind::CoupleWithChildren | HouseholdKind::SingleParent => {
            let a = working_age(&mut rng, 20, 56);
            let couple = kind == HouseholdKind::CoupleWithChildren;
            let f = female(&mut rng, if couple { 0.5 } else { 0.85 });
            people.push((Role::Demandeur, a, f));
            if couple {
                people.push((
                    Role::Conjoint,
                    (a + rng.gen_range(-4..=4)).clamp(18, 64),
                    !f,
                ));
            }
            let n = 1 + pick_weighted(
                &mut rng,
                if couple {
                    &[0.40, 0.40, 0.15, 0.05]
                } else {
                    &[0.55, 0.32, 0.13, 0.0]
                },
            );
            for _ in 0..n {
                let max_age = (a - 18).clamp(0, 20);
                let age = rng.gen_range(0..=max_age);
                people.push((Role::Enfant, age, female(&mut rng, 0.49)));
            }
        }
        HouseholdKind::WithOtherAdult => {
            let a = working_age(&mut rng, 40, 85);
            people.push((Role::Demandeur, a, female(&mut rng, 0.55)));
            people.push((
                Role::AutreAdulte,
                rng.gen_range(18..=35),
                female(&mut rng, 0.45),
            ));
        }
    }

    let members: Vec<Member> = people
        .iter()
        .map(|&(role, age, female)| simulate_member(&mut rng, run_month, kind, role, age, female))
        .collect();

    // Housing depends on age and on the household's visible and hidden income.
    let income: f64 = members
        .iter()
        .filter(|m| m.is_adult_unit_member())
        .map(|m| m.brm_in(-2, |_| true) + m.hidden_at(-2))
        .sum();
    let old = people.iter().any(|p| p.0 != Role::Enfant && p.1 >= 65);
    let weights: [f64; 5] = if old && income < 1100.0 {
        [0.12, 0.20, 0.45, 0.20, 0.03]
    } else if old {
        [0.08, 0.10, 0.77, 0.05, 0.0]
    } else if income < 1300.0 {
        [0.35, 0.30, 0.18, 0.13, 0.04]
    } else {
        [0.25, 0.10, 0.63, 0.02, 0.0]
    };
    let statut = Statut::ALL[pick_weighted(&mut rng, &weights)];
    let size = members
        .iter()
        .filter(|m| m.role != Role::AutreAdulte)
        .count() as f64;
    let loyer = match statut {
        Statut::LocatairePrive => Some(round2(rng.gen_range(420.0..900.0) + 90.0 * size)),
        Statut::LocataireHlm => Some(round2(rng.gen_range(280.0..520.0) + 50.0 * size)),
        _ => None,
    };
    let logement_known = rng.gen_bool(0.97);
    Household {
        index,
        kind,
        departement,
        regime,
        statut,
        loyer,
        logement_known,
        members,
    }
}

fn simulate_member(
    rng: &mut ChaCha8Rng,
    run_month: Month,
    kind: HouseholdKind,
    role: Role,
    age: i32,
    female: bool,
) -> Member {
    // Born `age` years and 0–11 months before the run month.
    let naissance = run_month.plus(-(age * 12) - rng.gen_range(0..12));
    let mut m = Member {
        role,
        age,
        naissance,
        female,
        aah: false,
        brm: Vec::new(),
        hidden: vec![0.0; HISTORY_MONTHS as usize],
        hidden_kind: None,
        are_spell: None,
        pension: false,
        invalidite: false,
    };
    if role == Role::Enfant && age < 18 {
        return m;
    }
    let months = -HISTORY_MONTHS..=-1;
    let activity = if role == Role::Enfant {
        // Young adults still living with their parents: students or first jobs.
        [
            Activity::Inactive,
            Activity::PartTime,
            Activity::Intermittent,
        ][pick_weighted(rng, &[0.6, 0.2, 0.2])]
    } else {
        draw_activity(rng, age, kind)
    };
    let full_time_wage = || LogNormal::new((2050.0f64).ln(), 0.38).unwrap();
    let push = |m: &mut Member, offset: i32, nature: Nature, amount: f64| {
        if amount != 0.0 {
            m.brm.push(ResourceRow {
                offset,
                nature,
                amount: round2(amount),
            });
        }
    };
    match activity {
        Activity::FullTime | Activity::RetiredWorking => {
            let base = full_time_wage().sample(rng).max(1390.0);
            let two_employers = rng.gen_bool(0.05);
            let noise = Normal::new(1.0, 0.04).unwrap();
            for k in months.clone() {
                let w = base * noise.sample(rng);
                if two_employers {
                    push(&mut m, k, Nature::Salaire, w * 0.6);
                    push(&mut m, k, Nature::Salaire, w * 0.4);
                } else {
                    push(&mut m, k, Nature::Salaire, w);
                }
                if rng.gen_bool(0.003) {
                    push(&mut m, k, Nature::Salaire, -rng.gen_range(20.0..150.0));
                }
            }
            if activity == Activity::RetiredWorking {
                let p = pension_amount(rng, female);
                m.pension = true;
                for k in months.clone() {
                    push(&mut m, k, Nature::Retraite, p);
                }
            }
        }
        Activity::PartTime => {
            let base: f64 = rng.gen_range(480.0..1300.0);
            let noise = Normal::new(1.0, 0.12).unwrap();
            for k in months.clone() {
                push(
                    &mut m,
                    k,
                    Nature::Salaire,
                    (base * noise.sample(rng)).max(0.0f64),
                );
            }
        }
        Activity::Intermittent => {
            let p_work = rng.gen_range(0.35..0.75);
            for k in months.clone() {
                if rng.gen_bool(p_work) {
                    push(&mut m, k, Nature::Salaire, rng.gen_range(250.0..1500.0));
                }
            }
        }
        Activity::Unemployed => {
            let start = rng.gen_range(-HISTORY_MONTHS - 12..=-2);
            let end = start + rng.gen_range(4..=24);
            let amount = rng.gen_range(750.0..1600.0);
            let wage_before = full_time_wage().sample(rng).max(1390.0) * 0.85;
            let back_to_work = rng.gen_bool(0.4);
            for k in months.clone() {
                if k < start {
                    push(&mut m, k, Nature::Salaire, wage_before);
                } else if k <= end {
                    push(
                        &mut m,
                        k,
                        Nature::Chomage,
                        amount * rng.gen_range(0.97..1.03),
                    );
                } else if back_to_work {
                    push(&mut m, k, Nature::Salaire, rng.gen_range(600.0..1500.0));
                }
            }
            m.are_spell = Some((start, end));
        }
        Activity::Sick => {
            let wage = full_time_wage().sample(rng).max(1390.0) * 0.9;
            let start = rng.gen_range(-HISTORY_MONTHS..=-2);
            let len = rng.gen_range(2..=8);
            for k in months.clone() {
                if k >= start && k < start + len {
                    push(&mut m, k, Nature::Ij, wage * 0.5);
                    push(&mut m, k, Nature::Salaire, wage * 0.2);
                } else {
                    push(&mut m, k, Nature::Salaire, wage);
                }
            }
        }
        Activity::Invalidity => {
            let p = rng.gen_range(300.0..1100.0);
            m.invalidite = true;
            for k in months.clone() {
                push(&mut m, k, Nature::Invalidite, p);
            }
        }
        Activity::Aah => m.aah = true,
        Activity::SelfEmployed => {
            let base = rng.gen_range(300.0..2200.0);
            for (i, _) in months.clone().enumerate() {
                m.hidden[i] = round2(base * rng.gen_range(0.5..1.5));
            }
            m.hidden_kind = Some("travail_independant");
        }
        Activity::Retired => {
            let p = pension_amount(rng, female);
            m.pension = true;
            for k in months.clone() {
                // Pensions are revalued in January.
                let month = run_month.plus(k);
                let factor = if month.month_of_year() == 1
                    || month > run_month.plus(-(run_month.month_of_year() as i32))
                {
                    1.0
                } else {
                    0.985
                };
                push(&mut m, k, Nature::Retraite, p * factor);
            }
        }
        Activity::Inactive | Activity::NoPension => {}
    }
    // Occasional other taxable income (e.g. a one-off payment).
    if rng.gen_bool(0.02) {
        let k = rng.gen_range(-HISTORY_MONTHS..=-1);
        push(&mut m, k, Nature::Autre, rng.gen_range(50.0..600.0));
    }
    // Resources BRM cannot see.
    if m.hidden_kind.is_none() {
        let (p, kind, lo, hi) = if age >= 65 {
            (0.12, "revenus_du_capital", 80.0, 450.0)
        } else if kind == HouseholdKind::SingleParent && role == Role::Demandeur {
            (0.30, "pension_alimentaire", 150.0, 450.0)
        } else {
            (0.07, "travail_independant", 200.0, 1000.0)
        };
        if rng.gen_bool(p) {
            let base = rng.gen_range(lo..hi);
            for h in m.hidden.iter_mut() {
                *h = round2(base);
            }
            m.hidden_kind = Some(kind);
        }
    }
    m
}

/// Monthly net pension: most around the median, with a tail of small pensions
/// (incomplete careers) that makes ASPA candidates.
fn pension_amount(rng: &mut impl Rng, female: bool) -> f64 {
    if rng.gen_bool(if female { 0.07 } else { 0.04 }) {
        rng.gen_range(150.0..1050.0)
    } else {
        let median = if female { 1250.0f64 } else { 1700.0 };
        LogNormal::new(median.ln(), 0.35)
            .unwrap()
            .sample(rng)
            .max(950.0)
    }
}
