//! Behaviour of the `realiste` world: the hidden state of each benefit unit (a finite grid),
//! its priors given the observables, the laws of the signals the files show (housing aid,
//! ASF, CSS, online account, an ended RSA/PPA spell), the true entitlements and the take-up
//! laws. Built from the published determinants of non-take-up (domain.md: DREES, IGAS):
//! small amounts, stigma, digital exclusion by age, owning one's home (estate recovery for
//! ASPA after 75), contact with the caisse through housing aid, recent life events.
//!
//! Every law here is a function of (hidden state, observables) only, so that the oracle
//! (`oracle.rs`) can enumerate the grid and compute the exact posterior.

use super::population::{AAH_FULL, ASF_PER_CHILD, Household, Unit};
use crate::domain::bareme::{Bareme, PpaMonthParams};
use crate::domain::entitlement::{self, MemberResources, PpaMonth, Situation, Statut};
use crate::generate::population::{Nature, Regime};

pub const PPA: usize = 0;
pub const RSA: usize = 1;
pub const ASPA: usize = 2;

pub(crate) const STIGMA: [&str; 3] = ["bas", "moyen", "haut"];
pub(crate) const RESOURCE: [&str; 4] = ["aucune", "petite", "moyenne", "grande"];
pub(crate) const SITUATION: [&str; 3] = ["ordinaire", "separation", "absent"];
pub(crate) const SEPARATED: u8 = 1;
/// Living abroad most of the year or studying: not entitled.
pub(crate) const AWAY: u8 = 2;

/// Number of hidden states per unit: stigma (3) × offline (2) × hidden resource (4) ×
/// situation (3).
pub(crate) const GRID: usize = 72;
/// Number of (hidden resource, situation) pairs: the entitlements depend on these only.
pub(crate) const LAWS: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hidden {
    pub stigma: u8,
    pub offline: bool,
    pub resource: u8,
    pub situation: u8,
}

impl Hidden {
    pub(crate) fn from_index(i: usize) -> Hidden {
        Hidden {
            stigma: (i / 24) as u8,
            offline: (i / 12) % 2 == 1,
            resource: ((i / 3) % 4) as u8,
            situation: (i % 3) as u8,
        }
    }
    #[cfg(test)]
    pub fn index(self) -> usize {
        self.stigma as usize * 24 + usize::from(self.offline) * 12 + self.law()
    }
    /// The entitlement-relevant part of the state.
    pub fn law(self) -> usize {
        self.resource as usize * 3 + self.situation as usize
    }
}

/// What the hidden resource is, decided by observables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HiddenKind {
    /// Self-employment or farm income of an adult without DSN wages (activity income).
    SelfEmployment,
    /// Alimony received by a single parent.
    Alimony,
    /// Capital income or a foreign pension of a person of 65 or more.
    Capital,
    /// Undeclared partner, undeclared work, gifts.
    Informal,
}

impl HiddenKind {
    /// Monthly amounts of the four levels (none, small, medium, large).
    pub fn amounts(self) -> [f64; 4] {
        match self {
            HiddenKind::SelfEmployment => [0.0, 400.0, 950.0, 1900.0],
            HiddenKind::Alimony => [0.0, 150.0, 300.0, 520.0],
            HiddenKind::Capital => [0.0, 90.0, 260.0, 650.0],
            HiddenKind::Informal => [0.0, 180.0, 480.0, 1100.0],
        }
    }
    fn is_activity(self) -> bool {
        self == HiddenKind::SelfEmployment
    }
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softmax<const N: usize>(x: [f64; N]) -> [f64; N] {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e = x.map(|v| (v - m).exp());
    let s: f64 = e.iter().sum();
    e.map(|v| v / s)
}

fn b(x: bool) -> f64 {
    f64::from(u8::from(x))
}

/// Everything the laws read about a unit: observables only.
#[derive(Clone, Debug)]
pub(crate) struct UnitObs {
    /// Age of the porteur and of the oldest adult.
    pub age: i32,
    pub oldest: i32,
    pub female: bool,
    pub couple: bool,
    pub children: usize,
    pub single_parent: bool,
    pub hosted: bool,
    pub owner: bool,
    pub hlm: bool,
    pub rural: bool,
    pub self_employed: bool,
    pub kind: HiddenKind,
    /// The hidden resource's holder is a farmer (smaller farm incomes than other self-employed).
    pub agricole: bool,
    /// Adult (index in the unit) the hidden resource belongs to.
    pub holder: usize,
    pub job_loss_recent: bool,
    pub are_end_recent: bool,
    pub birth_recent: bool,
    pub retired_recent: bool,
    pub wage_cv: f64,
    /// Housing aid due (main unit of a tenant household), 0 otherwise.
    pub al_theorique: f64,
    /// ASF would be due for these children (under 20), 0 when no child.
    pub asf_amount: f64,
    /// A couple of working age: a separation the links do not show is possible.
    pub separable: bool,
    /// Monthly resources the caisse sees (reference quarter, with AAH), the partner's share.
    pub income_visible: f64,
    pub partner_income: f64,
    pub size: usize,
    /// In the legal scope of PPA, RSA, ASPA.
    pub scope: [bool; 3],
}

pub(crate) fn unit_obs(h: &Household, u: &Unit, rural: bool) -> UnitObs {
    let p = |i: usize| &h.persons[i];
    let porteur = p(u.adults[0]);
    let couple = u.adults.len() == 2;
    let oldest = u.adults.iter().map(|&i| p(i).age).max().unwrap_or(0);
    let self_employed_at = u.adults.iter().position(|&i| p(i).self_employed);
    let children = u.children.len();
    let young_children = u.children.iter().filter(|&&i| p(i).age < 20).count();
    let kind = if self_employed_at.is_some() {
        HiddenKind::SelfEmployment
    } else if oldest >= 65 {
        HiddenKind::Capital
    } else if !couple && children > 0 {
        HiddenKind::Alimony
    } else {
        HiddenKind::Informal
    };
    let income = |i: usize| {
        let q = p(i);
        q.brm_average(-4, -2, |_| true)
            + if q.aah { AAH_FULL } else { 0.0 }
            + (-4..=-2).map(|k| q.ass_in(k)).sum::<f64>() / 3.0
    };
    let wages: Vec<f64> = (-12..=-1)
        .map(|k| {
            u.adults
                .iter()
                .map(|&i| p(i).brm_in(k, Nature::is_activity))
                .sum()
        })
        .collect();
    let mean = wages.iter().sum::<f64>() / 12.0;
    let sd = (wages.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
    let any = |f: &dyn Fn(&super::population::Person) -> bool| u.adults.iter().any(|&i| f(p(i)));
    let works =
        any(&|q| q.self_employed || (-12..=-1).any(|k| q.brm_in(k, Nature::is_activity) > 0.0));
    let separable = couple && !u.hosted && u.adults.iter().all(|&i| p(i).age < 60);
    let owner = !u.hosted && h.statut == Statut::Proprietaire;
    UnitObs {
        age: porteur.age,
        oldest,
        female: porteur.female,
        couple,
        children,
        single_parent: !couple && children > 0,
        hosted: u.hosted,
        owner,
        hlm: !u.hosted && h.statut == Statut::LocataireHlm,
        rural,
        self_employed: self_employed_at.is_some(),
        kind,
        agricole: p(u.adults[self_employed_at.unwrap_or(0)]).regime == Regime::Agricole,
        holder: self_employed_at.unwrap_or(0),
        job_loss_recent: any(&|q| matches!(q.are_spell, Some((s, _)) if s >= -6)),
        are_end_recent: any(&|q| matches!(q.are_spell, Some((_, e)) if (-6..=-1).contains(&e))),
        birth_recent: u.children.iter().any(|&i| p(i).age == 0),
        retired_recent: any(&|q| matches!(q.pension_since, Some(s) if s >= -24)),
        wage_cv: if mean > 0.0 { sd / mean } else { 0.0 },
        al_theorique: if u.hosted { 0.0 } else { h.al_theorique },
        asf_amount: if u.hosted {
            0.0
        } else {
            ASF_PER_CHILD * young_children as f64
        },
        separable,
        income_visible: u.adults.iter().map(|&i| income(i)).sum(),
        partner_income: if couple { income(u.adults[1]) } else { 0.0 },
        size: u.adults.len() + children,
        scope: [
            porteur.age >= 18 && works,
            u.adults.iter().all(|&i| p(i).age < 65) && (porteur.age >= 25 || children > 0),
            oldest >= 65,
        ],
    }
}

/// Prior of the hidden state given the observables, as four independent factors.
pub(crate) struct Prior {
    pub stigma: [f64; 3],
    pub offline: f64,
    pub resource: [f64; 4],
    pub situation: [f64; 3],
}

impl Prior {
    pub fn of(o: &UnitObs) -> Prior {
        let cnc = o.couple && o.children == 0 && !o.hosted;
        let a1 = -0.2 + 0.5 * b(cnc) + 0.4 * b(o.owner) + 0.3 * b(o.rural);
        let a2 = -1.1 + 0.9 * b(cnc) + 0.6 * b(o.owner) + 0.4 * b(o.rural) + 0.3 * b(o.age >= 60)
            - 0.6 * b(o.single_parent);
        let stigma = softmax([0.0, a1, a2]);
        let offline = sigmoid(-2.6 + 0.075 * (o.age as f64 - 40.0) + 0.3 * b(o.rural));
        let resource = match o.kind {
            HiddenKind::SelfEmployment if o.agricole => [0.06, 0.50, 0.32, 0.12],
            HiddenKind::SelfEmployment => [0.06, 0.22, 0.32, 0.40],
            HiddenKind::Alimony => [0.55, 0.17, 0.17, 0.11],
            HiddenKind::Capital if o.owner => [0.55, 0.17, 0.16, 0.12],
            HiddenKind::Capital => [0.80, 0.09, 0.07, 0.04],
            HiddenKind::Informal if o.couple || o.hosted => [0.88, 0.06, 0.04, 0.02],
            HiddenKind::Informal => [0.82, 0.08, 0.06, 0.04],
        };
        let separation = if o.separable {
            0.06 + 0.04 * b(o.age < 35)
        } else {
            0.0
        };
        let away = if o.hosted && o.age < 30 {
            0.08
        } else if o.age >= 65 {
            0.04
        } else {
            0.025
        };
        Prior {
            stigma,
            offline,
            resource,
            situation: [1.0 - separation - away, separation, away],
        }
    }
    pub fn p(&self, h: Hidden) -> f64 {
        self.stigma[h.stigma as usize]
            * if h.offline {
                self.offline
            } else {
                1.0 - self.offline
            }
            * self.resource[h.resource as usize]
            * self.situation[h.situation as usize]
    }
}

/// What the files show that depends on the hidden state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Signals {
    /// Housing aid: 0 none, 1 held for a while, 2 opened in the last 4 months.
    pub al: u8,
    /// ASF: 0 none, 1 held for a while, 2 opened in the last 4 months.
    pub asf: u8,
    pub css: bool,
    /// The porteur used the online account in the last 12 months.
    pub online: bool,
    /// An RSA or PPA right ended in the last year (seen only when the unit receives neither).
    pub ended: bool,
}

const STIGMA_SIGNAL: [f64; 3] = [0.0, 0.7, 1.6];

pub(crate) fn al_law(o: &UnitObs, h: Hidden) -> [f64; 3] {
    if o.al_theorique <= 0.0 {
        return [1.0, 0.0, 0.0];
    }
    let sep = h.situation == SEPARATED;
    let p = sigmoid(1.8 - STIGMA_SIGNAL[h.stigma as usize] - 0.5 * b(h.offline) + 1.0 * b(sep));
    let recent = if sep { 0.75 } else { 0.06 };
    [1.0 - p, p * (1.0 - recent), p * recent]
}

pub(crate) fn asf_law(o: &UnitObs, h: Hidden) -> [f64; 3] {
    if o.asf_amount <= 0.0 || (o.couple && !o.separable) {
        return [1.0, 0.0, 0.0];
    }
    if o.couple {
        if h.situation != SEPARATED {
            return [1.0, 0.0, 0.0];
        }
        let p = sigmoid(0.4 - STIGMA_SIGNAL[h.stigma as usize]);
        return [1.0 - p, 0.0, p];
    }
    let p = if h.resource > 0 {
        0.04
    } else {
        sigmoid(1.6 - 1.1 * STIGMA_SIGNAL[h.stigma as usize])
    };
    [1.0 - p, 0.9 * p, 0.1 * p]
}

/// Hidden resource of the unit for a state (monthly).
pub(crate) fn hidden_amount(o: &UnitObs, h: Hidden) -> f64 {
    o.kind.amounts()[h.resource as usize]
}

pub(crate) fn css_law(o: &UnitObs, h: Hidden) -> f64 {
    let sep = h.situation == SEPARATED;
    let income = o.income_visible + hidden_amount(o, h) - if sep { o.partner_income } else { 0.0 };
    let n = o.size - usize::from(sep);
    if income < 1000.0 + 450.0 * (n as f64 - 1.0) {
        sigmoid(1.0 - STIGMA_SIGNAL[h.stigma as usize] - 0.5 * b(h.offline))
    } else {
        0.02
    }
}

pub(crate) fn online_law(h: Hidden) -> f64 {
    if h.offline { 0.05 } else { 0.72 }
}

/// Whether the ended-spell signal is observed: working-age units receiving neither RSA
/// nor PPA.
pub(crate) fn ended_observed(o: &UnitObs, receiving: [bool; 3]) -> bool {
    o.oldest < 65 && !receiving[PPA] && !receiving[RSA]
}

pub(crate) fn ended_law(h: Hidden) -> f64 {
    0.03 + 0.07 * b(h.stigma == 0) + 0.06 * b(h.resource == 1 || h.resource == 2)
}

/// Likelihood of the observed signals under a hidden state (the ended spell and the online
/// account only when they are observed).
pub(crate) fn signals_likelihood(
    o: &UnitObs,
    h: Hidden,
    s: &Signals,
    ended_seen: bool,
    online_seen: bool,
) -> f64 {
    let bern = |p: f64, x: bool| if x { p } else { 1.0 - p };
    let mut l = al_law(o, h)[s.al as usize] * asf_law(o, h)[s.asf as usize];
    // One product, as when the online account is always seen (the same rounding).
    let online = if online_seen {
        bern(online_law(h), s.online)
    } else {
        1.0
    };
    l *= bern(css_law(o, h), s.css) * online;
    if ended_seen {
        l *= bern(ended_law(h), s.ended);
    }
    l
}

/// True monthly entitlements (PPA, RSA, ASPA) of the unit for a (hidden resource,
/// situation) pair, given the observed signals (housing aid and ASF are counted as the law
/// counts them): the project's formulas (`entitlement.rs`) on observed + hidden resources.
#[allow(clippy::too_many_arguments)]
pub(crate) fn entitlements(
    bareme: &Bareme,
    ppa_params: &[PpaMonthParams],
    h: &Household,
    u: &Unit,
    o: &UnitObs,
    s: &Signals,
    law: usize,
) -> [f64; 3] {
    let state = Hidden::from_index(law);
    if state.situation == AWAY {
        return [0.0; 3];
    }
    let sep = state.situation == SEPARATED;
    let hidden = hidden_amount(o, state);
    let adults: Vec<usize> = if sep {
        vec![u.adults[0]]
    } else {
        u.adults.clone()
    };
    let (q, r) = ((-4, -2), (-3, -1));
    let member = |j: usize| {
        let p = &h.persons[adults[j]];
        let mine = if j == o.holder { hidden } else { 0.0 };
        let (act, other) = if o.kind.is_activity() {
            (mine, 0.0)
        } else {
            (0.0, mine)
        };
        let ass = (q.0..=q.1).map(|k| p.ass_in(k)).sum::<f64>() / 3.0;
        MemberResources {
            age: p.age,
            activite: p.brm_average(q.0, q.1, Nature::is_activity) + act,
            autres: p.brm_average(q.0, q.1, |n| !n.is_activity()) + other + ass,
            ressources_aspa: p.brm_average(r.0, r.1, |_| true) + mine,
        }
    };
    let monthly = |j: usize, k: i32, activity: bool| {
        let p = &h.persons[adults[j]];
        let mine = if j == o.holder && o.kind.is_activity() == activity {
            hidden
        } else {
            0.0
        };
        p.brm_in(k, |n| n.is_activity() == activity)
            + mine
            + if activity { 0.0 } else { p.ass_in(k) }
    };
    let ppa_months = ppa_params
        .iter()
        .zip(q.0..=q.1)
        .map(|(params, k)| PpaMonth {
            params: params.clone(),
            activite: [0, 1].map(|j| {
                if j < adults.len() {
                    monthly(j, k, true)
                } else {
                    0.0
                }
            }),
            autres: (0..adults.len()).map(|j| monthly(j, k, false)).sum(),
        })
        .collect();
    let aah: f64 = adults
        .iter()
        .filter(|&&i| h.persons[i].aah)
        .map(|_| AAH_FULL)
        .sum();
    let main = !u.hosted;
    let situation = Situation {
        demandeur: member(0),
        conjoint: (adults.len() == 2).then(|| member(1)),
        enfants: u.children.iter().map(|&i| h.persons[i].age).collect(),
        statut: Some(if u.hosted {
            Statut::HebergeGratuit
        } else {
            h.statut
        }),
        aide_logement: if main && s.al > 0 {
            o.al_theorique
        } else {
            0.0
        },
        prestations_comptees: if main { h.af } else { 0.0 }
            + if s.asf > 0 { o.asf_amount } else { 0.0 }
            + aah,
        ppa_months,
    };
    let e = entitlement::estimate(bareme, &situation);
    [e.ppa.montant, e.rsa.montant, e.aspa.montant]
}

/// Logit of claiming (before the benefit's intercept) for an entitled unit.
pub(crate) fn claim_logit(benefit: usize, o: &UnitObs, h: Hidden, s: &Signals, amount: f64) -> f64 {
    // Steep fall of claiming for small amounts (the first reason given for PPA; ASPA 77 %
    // non-take-up under 100 € vs 22 % at 500-600 €).
    let (depth, scale) = [(2.6, 70.0), (2.2, 110.0), (3.8, 160.0)][benefit];
    let mut x = -depth * (-amount / scale).exp();
    let stigma = [0.0, -0.9, -2.0][h.stigma as usize];
    // Stigma weighs more on couples without children (RSA 49 % non-take-up).
    x += if benefit == RSA && o.couple && o.children == 0 {
        1.5 * stigma
    } else {
        stigma
    };
    // Digital exclusion: claims are online first; it matters more with age.
    if h.offline {
        x += if benefit == ASPA {
            -0.4
        } else if o.age >= 60 {
            -1.4
        } else if o.age >= 45 {
            -0.8
        } else {
            -0.3
        };
    }
    if benefit == ASPA {
        // Recovery on the estate deters owners, the more so after 75.
        if o.owner {
            x += if o.oldest >= 75 { -1.7 } else { -0.5 };
        } else if !o.hosted {
            x += 0.4;
        }
        if o.female {
            x -= 0.2;
        }
        if o.oldest >= 85 {
            x -= 0.4;
        }
        if o.retired_recent {
            x -= 0.7;
        }
        return x;
    }
    // Contact with the caisse through housing aid (RSA 18 % with AL vs 57 % without).
    if s.al > 0 {
        x += 0.9;
    }
    if o.hosted {
        x -= 0.8;
    }
    if o.age < 30 {
        x -= 0.4;
    }
    if o.job_loss_recent {
        x -= 0.7;
    }
    if o.birth_recent {
        x -= 0.5;
    }
    if h.situation == SEPARATED {
        x -= 1.0;
    }
    if benefit == RSA {
        if o.are_end_recent {
            x -= 0.8;
        }
        if o.owner {
            x -= 0.9;
        } else if o.hlm {
            x += 0.6;
        }
        if o.single_parent && o.female {
            x += 0.8;
        }
        if o.rural {
            x -= 0.3;
        }
    } else {
        if o.self_employed {
            x -= 0.6;
        }
        if o.wage_cv > 0.25 {
            x -= 0.6;
        }
    }
    x
}
