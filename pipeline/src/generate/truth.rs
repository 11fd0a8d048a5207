//! Rights held, true entitlements and take-up behaviour of the synthetic population.
//!
//! True entitlements use the same formulas as the eligibility stage, on the true resources
//! (BRM plus the resources BRM cannot see). Take-up is a logistic behaviour model whose
//! determinants follow domain.md's table; its intercept is calibrated so that the overall
//! non-take-up rate of each benefit equals the published one.

use rand::Rng;

use super::population::{Household, HouseholdKind, Nature, household_rng, round2};
use crate::domain::bareme::{Bareme, PpaMonthParams};
use crate::domain::entitlement::{
    self, Estimates, MemberResources, PpaMonth, Role, Situation, Statut,
};

/// Published non-take-up rates (domain.md): RSA 34 % per quarter, PPA about 26–30 %,
/// ASPA for single people 50 %.
pub(crate) const TARGET_RSA: f64 = 0.34;
pub(crate) const TARGET_PPA: f64 = 0.28;
pub(crate) const TARGET_ASPA: f64 = 0.50;

/// Amounts of family benefits and AAH used by the generator (2025 levels, euros/month).
const AF_TWO_CHILDREN: f64 = 151.05;
const AF_PER_EXTRA_CHILD: f64 = 193.52;
const ASF_PER_CHILD: f64 = 199.19;
const AAH_FULL: f64 = 1033.32;

#[derive(Clone, Debug, Default)]
pub(crate) struct OtherRights {
    /// Housing aid the household would get, and whether it claims it.
    pub al_theorique: f64,
    pub al: f64,
    pub af: f64,
    pub asf: f64,
    /// AAH per member index.
    pub aah: Vec<f64>,
    /// Solidarity allowance (ASS) after unemployment rights ran out, per member index:
    /// (first month offset, monthly amount).
    pub ass: Vec<Option<(i32, f64)>>,
    /// Whether each member belongs to the RSA/PPA household (everyone but other adults).
    pub in_unit: Vec<bool>,
    pub css: bool,
}

impl OtherRights {
    /// Benefits counted as RSA/PPA resources, averaged over the quarter `from..=to`.
    pub fn prestations_comptees(&self, from: i32, to: i32) -> f64 {
        let members = || {
            self.in_unit
                .iter()
                .enumerate()
                .filter(|(_, u)| **u)
                .map(|(i, _)| i)
        };
        let ass: f64 = (from..=to)
            .map(|k| {
                members()
                    .filter_map(|i| self.ass[i])
                    .filter(|(s, _)| *s <= k)
                    .map(|(_, a)| a)
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (to - from + 1) as f64;
        self.af + self.asf + members().map(|i| self.aah[i]).sum::<f64>() + ass
    }
}

/// Average of a member's monthly amounts over `from..=to` (offsets from the run month).
fn average(
    h: &Household,
    i: usize,
    from: i32,
    to: i32,
    hidden: bool,
    pred: impl Fn(Nature) -> bool + Copy,
) -> f64 {
    let m = &h.members[i];
    let n = (to - from + 1) as f64;
    (from..=to)
        .map(|k| m.brm_in(k, pred) + if hidden { m.hidden_at(k) } else { 0.0 })
        .sum::<f64>()
        / n
}

/// Reference quarters as month offsets: RSA/PPA (default −4..−2) and ASPA (−3..−1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quarters {
    pub rsa_ppa: (i32, i32),
    pub aspa: (i32, i32),
}

pub(crate) const DEFAULT_QUARTERS: Quarters = Quarters {
    rsa_ppa: (-4, -2),
    aspa: (-3, -1),
};

/// The household's situation, either as the law sees it (`hidden = true`: resources BRM
/// misses are counted) or as BRM and RNCPS show it.
pub fn situation(
    h: &Household,
    rights: &OtherRights,
    q: Quarters,
    ppa_params: &[PpaMonthParams],
    hidden: bool,
) -> Situation {
    let member = |i: usize| {
        let (f, t) = q.rsa_ppa;
        // Hidden self-employment income counts as activity income, other hidden income not.
        let hidden_activity = hidden && h.members[i].hidden_kind == Some("travail_independant");
        let hidden_other = hidden && !hidden_activity;
        MemberResources {
            age: h.members[i].age,
            activite: average(h, i, f, t, hidden_activity, Nature::is_activity),
            autres: average(h, i, f, t, hidden_other, |n| !n.is_activity()),
            ressources_aspa: average(h, i, q.aspa.0, q.aspa.1, hidden, |_| true),
        }
    };
    let idx = |role| h.members.iter().position(|m| m.role == role);
    let unit: Vec<usize> = [idx(Role::Demandeur), idx(Role::Conjoint)]
        .into_iter()
        .flatten()
        .collect();
    let monthly = |i: usize, k: i32, activity: bool| {
        let m = &h.members[i];
        let self_employed = m.hidden_kind == Some("travail_independant");
        let seen = m.brm_in(k, |n| n.is_activity() == activity);
        let unseen = if hidden && self_employed == activity {
            m.hidden_at(k)
        } else {
            0.0
        };
        seen + unseen
    };
    let ppa_months = ppa_params
        .iter()
        .zip(q.rsa_ppa.0..=q.rsa_ppa.1)
        .map(|(params, k)| PpaMonth {
            params: params.clone(),
            activite: [0, 1].map(|j| unit.get(j).map_or(0.0, |&i| monthly(i, k, true))),
            autres: unit.iter().map(|&i| monthly(i, k, false)).sum(),
        })
        .collect();
    Situation {
        demandeur: member(idx(Role::Demandeur).expect("every household has a demandeur")),
        conjoint: idx(Role::Conjoint).map(member),
        enfants: h.children().filter(|c| c.age < 25).map(|c| c.age).collect(),
        statut: Some(h.statut),
        aide_logement: rights.al,
        prestations_comptees: rights.prestations_comptees(q.rsa_ppa.0, q.rsa_ppa.1),
        ppa_months,
    }
}

pub(crate) fn other_rights(seed: u64, h: &Household) -> OtherRights {
    let mut rng = household_rng(seed, 2, h.index);
    let size = h
        .members
        .iter()
        .filter(|m| m.role != Role::AutreAdulte)
        .count();
    let income: f64 = h
        .unit()
        .map(|m| {
            (-4..=-2)
                .map(|k| m.brm_in(k, |_| true) + m.hidden_at(k))
                .sum::<f64>()
                / 3.0
        })
        .sum();
    let aah: Vec<f64> = h
        .members
        .iter()
        .map(|m| if m.aah { AAH_FULL } else { 0.0 })
        .collect();
    let income = income + aah.iter().sum::<f64>();
    let ass = h
        .members
        .iter()
        .map(|m| match m.are_spell {
            // Unemployment rights ran out: some move to the solidarity allowance.
            Some((_, end)) if end < -1 && rng.gen_bool(0.3) => {
                Some((end + 1, round2(rng.gen_range(450.0..560.0))))
            }
            _ => None,
        })
        .collect();
    let in_unit = h
        .members
        .iter()
        .map(|m| m.role != Role::AutreAdulte)
        .collect();
    let mut r = OtherRights {
        aah,
        ass,
        in_unit,
        ..Default::default()
    };
    if let Some(loyer) = h.loyer {
        let n = size as f64;
        let plafond_loyer = 300.0 + 80.0 * (n - 1.0);
        let participation = 0.32 * (income - 450.0 - 180.0 * (n - 1.0)).max(0.0);
        let al = (loyer.min(plafond_loyer) * 0.9 - participation).max(0.0);
        if al >= 10.0 {
            r.al_theorique = round2(al);
            if rng.gen_bool(0.85) {
                r.al = r.al_theorique;
            }
        }
    }
    let children = h.children().filter(|c| c.age < 20).count();
    if children >= 2 {
        r.af = round2(AF_TWO_CHILDREN + AF_PER_EXTRA_CHILD * (children - 2) as f64);
    }
    let alimony = h
        .members
        .iter()
        .any(|m| m.hidden_kind == Some("pension_alimentaire"));
    if h.kind == HouseholdKind::SingleParent && !alimony && children > 0 && rng.gen_bool(0.8) {
        r.asf = round2(ASF_PER_CHILD * children as f64);
    }
    r.css = income < 1000.0 + 450.0 * (size as f64 - 1.0) && rng.gen_bool(0.7);
    r
}

/// Everything the generator knows about a household's entitlements.
#[derive(Clone, Debug)]
pub(crate) struct HouseholdTruth {
    pub rights: OtherRights,
    /// On true resources.
    pub truth: Estimates,
    /// On what BRM and RNCPS show (the caisse's view).
    pub visible: Estimates,
    pub has_hidden: bool,
    pub wage_cv: f64,
}

pub(crate) fn household_truth(
    seed: u64,
    b: &Bareme,
    ppa_params: &[PpaMonthParams],
    h: &Household,
) -> HouseholdTruth {
    let rights = other_rights(seed, h);
    let truth = entitlement::estimate(
        b,
        &situation(h, &rights, DEFAULT_QUARTERS, ppa_params, true),
    );
    let visible = entitlement::estimate(
        b,
        &situation(h, &rights, DEFAULT_QUARTERS, ppa_params, false),
    );
    let has_hidden = h.unit().any(|m| m.hidden_kind.is_some());
    // Month-to-month variation of the unit's wages over the last 12 months.
    let wages: Vec<f64> = (-12..=-1)
        .map(|k| h.unit().map(|m| m.brm_in(k, Nature::is_activity)).sum())
        .collect();
    let mean = wages.iter().sum::<f64>() / 12.0;
    let sd = (wages.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
    let wage_cv = if mean > 0.0 { sd / mean } else { 0.0 };
    HouseholdTruth {
        rights,
        truth,
        visible,
        has_hidden,
        wage_cv,
    }
}

/// Logit offsets of non-take-up, from domain.md's determinants.
pub(crate) fn rsa_offset(h: &Household, t: &HouseholdTruth, rural: bool) -> f64 {
    let couple = h.members.iter().any(|m| m.role == Role::Conjoint);
    let children = h.children().count() > 0;
    let demandeur = &h.members[0];
    let mut x = 0.0;
    if couple && !children {
        x += 1.0; // couples without children 49 %
    }
    if !couple && children && demandeur.female {
        x -= 1.0; // single mothers 16 %
    }
    x += match h.statut {
        Statut::Proprietaire => 1.1,   // owners 61 %
        Statut::LocataireHlm => -0.8,  // social housing 15 %
        Statut::LocatairePrive => 0.0, // private tenants 33 %
        Statut::HebergeGratuit => 0.3,
        Statut::SansDomicile => 0.2,
    };
    if t.rights.al > 0.0 {
        x -= 1.4; // 18 % with housing aid vs 57 % without
    }
    if demandeur.age < 30 {
        x += 0.7; // higher for the young
    }
    if rural {
        x += 0.4; // higher in rural areas
    }
    if t.truth.rsa.montant < 150.0 {
        x += 0.5;
    }
    x
}

pub(crate) fn ppa_offset(h: &Household, t: &HouseholdTruth) -> f64 {
    let a = t.truth.ppa.montant;
    let mut x = if a < 100.0 {
        1.0
    } else if a < 200.0 {
        0.4
    } else {
        0.0
    };
    if t.wage_cv > 0.25 {
        x += 0.6; // unstable income
    }
    if h.members[0].age < 25 {
        x += 0.3;
    }
    x
}

pub(crate) fn aspa_offset(h: &Household, t: &HouseholdTruth) -> f64 {
    let a = t.truth.aspa.montant;
    // 77 % under 100 € vs 22 % at 500–600 €.
    let mut x = if a < 100.0 {
        1.5
    } else if a < 300.0 {
        0.6
    } else if a < 500.0 {
        0.0
    } else if a < 600.0 {
        -0.9
    } else {
        -1.1
    };
    x += match h.statut {
        Statut::Proprietaire => 0.9, // owners 72 % (recovery on the estate) vs tenants 36 %
        Statut::LocatairePrive | Statut::LocataireHlm => -0.5,
        _ => 0.0,
    };
    let eldest = h.unit().max_by_key(|m| m.age).expect("unit has members");
    if eldest.female {
        x += 0.15; // women 52 % vs men 44 %
    }
    x += if eldest.age >= 85 {
        0.3
    } else if eldest.age >= 70 {
        0.1
    } else {
        0.0
    };
    x
}
