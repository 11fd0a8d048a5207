//! The `eligibility` stage: for each person who could be scored for a benefit, the
//! entitlement estimated from BRM resources and RNCPS rights with the barème in force, every
//! intermediate quantity an auditor needs to redo the sum, whether the person already
//! receives the benefit, and the deterministic candidates (IGAS §250: "approches
//! déterministes").

use rayon::prelude::*;

use crate::config::Quarters;
use crate::domain::bareme::{Bareme, PpaMonthParams};
use crate::domain::entitlement::{self, Estimates, Role, Situation, round2};
use crate::io::frame::id_head;
use crate::tables::eligibility::EligibilityRow;
use crate::tables::households::{Households, Unit};

pub(crate) struct EligibilityConfig {
    pub quarters: Quarters,
    /// PPA parameters of each month of the RSA/PPA reference quarter.
    pub ppa_params: Vec<PpaMonthParams>,
    pub deterministic_min_amount: f64,
}

/// Which of a foyer's members can be scored for which benefit (legal pre-filters), with
/// their estimates, unit by unit ([`Households::units`]): the foyer's own, then each hosted
/// adult's (a foyer of their own for RSA and PPA, housed free). RSA: the unit has no member
/// aged 65+ (ASPA comes first) and meets the age condition. PPA: some activity income in
/// the reference quarter, or an adult whose activity income BRM cannot see (régime
/// `independant` or `agricole`: the model, not a pre-filter, weighs them). ASPA: each adult
/// of the unit aged 65+.
/// `foyer` is `f`'s row in `h.foyers`.
pub(crate) fn foyer_rows(
    h: &Households,
    foyer: usize,
    b: &Bareme,
    cfg: &EligibilityConfig,
) -> Vec<EligibilityRow> {
    let f = &h.foyers[foyer];
    let mut rows = Vec::new();
    for u in h.units(f) {
        unit_rows(h, foyer, &u, b, cfg, &mut rows);
    }
    for r in &mut rows {
        if r.montant_estime > 0.0 && !r.recoit && r.montant_estime >= cfg.deterministic_min_amount {
            r.candidat_deterministe = true;
            r.motif_deterministe =
                Some(format!("droit estimé à {:.0} € par mois", r.montant_estime));
        }
    }
    rows
}

/// Régimes whose members' activity income BRM does not see (no DSN wages).
pub(crate) const NON_SALARIED_REGIMES: &[&str] = &["independant", "agricole"];

fn unit_rows(
    h: &Households,
    foyer: usize,
    u: &Unit,
    b: &Bareme,
    cfg: &EligibilityConfig,
    rows: &mut Vec<EligibilityRow>,
) {
    let f = &h.foyers[foyer];
    let s = h.unit_situation(u, cfg.quarters, &cfg.ppa_params);
    let e: Estimates = entitlement::estimate(b, &s);
    let run = h.run_month;
    let statut = u.statut.map(|s| s.code());
    let unit = &u.adults;
    let receives = |p: &[usize], prest: &str| p.iter().any(|&i| h.persons[i].receives(prest, run));
    let base = |prestation: &'static str, person: usize, role: &'static str| EligibilityRow {
        pseudo_id: h.persons[person].pseudo_id.clone(),
        foyer_id: f.foyer_id.clone(),
        prestation,
        role_porteur: role,
        taille_foyer: s.household_size() as u32,
        couple: s.conjoint.is_some(),
        nb_enfants: s.enfants.len() as u32,
        majoration_isolement: false,
        statut_logement: statut,
        aide_logement: round2(s.aide_logement),
        prestations_comptees: round2(s.prestations_comptees),
        revenus_activite: round2(
            s.demandeur.activite + s.conjoint.as_ref().map_or(0.0, |c| c.activite),
        ),
        ressources: 0.0,
        aspa_comptee: 0.0,
        forfait_logement: 0.0,
        montant_forfaitaire: 0.0,
        part_revenus_activite: 0.0,
        bonifications: 0.0,
        montant_calcule: 0.0,
        atteint_minimum: false,
        montant_estime: 0.0,
        recoit: false,
        candidat_deterministe: false,
        motif_deterministe: None,
        ressources_revelees: None,
        montant_revise: None,
        revenu_non_salarie_limite: None,
        montant_seul: None,
        ppa_mois: Vec::new(),
        at: Some((person as u32, foyer as u32)),
    };
    let carrier_role = u.carrier_role.code();
    let oldest = unit.iter().map(|&p| h.persons[p].age).max().unwrap_or(0);
    let non_salaried = |p: usize| {
        let person = &h.persons[p];
        person.age >= 18 && person.age < 65 && NON_SALARIED_REGIMES.contains(&person.regime)
    };
    let unseen_activity = unit.iter().any(|&p| non_salaried(p));
    // The resources BRM misses are a non-salaried adult's activity income when there is
    // one, other income of the demandeur otherwise.
    let activity_of = unit.iter().position(|&p| non_salaried(p));
    // A couple's estimates for the demandeur alone with the children.
    let alone = (unit.len() == 2).then(|| {
        let alone = Unit {
            adults: vec![unit[0]],
            children: u.children.clone(),
            ..*u
        };
        entitlement::estimate(b, &h.unit_situation(&alone, cfg.quarters, &cfg.ppa_params))
    });
    // Only for rows that are scored (the unit does not receive the benefit itself).
    let revised = |row: EligibilityRow, other: &str, this: fn(&Estimates) -> f64| {
        if receives(unit, row.prestation) {
            return row;
        }
        let limite = activity_of.map(|j| round2(activity_limit(b, &s, j, this)));
        let seul = alone.as_ref().map(|a| round2(this(a)));
        let row = EligibilityRow {
            revenu_non_salarie_limite: limite,
            montant_seul: seul,
            ..row
        };
        let paid: f64 = unit
            .iter()
            .map(|&p| h.persons[p].right_amount(&[other], run, 0, 0))
            .sum();
        if paid <= 0.0 {
            return row;
        }
        let other_of: fn(&Estimates) -> f64 = if other == "PPA" {
            |e| e.ppa.montant
        } else {
            |e| e.rsa.montant
        };
        match revise(b, &s, paid, activity_of, other_of, this) {
            Some(r) => EligibilityRow {
                ressources_revelees: Some(round2(r.extra)),
                montant_revise: Some(round2(r.amount)),
                ..row
            },
            None => row,
        }
    };
    if oldest < 65 && e.rsa.age_ok {
        let r = &e.rsa;
        rows.push(EligibilityRow {
            majoration_isolement: r.majoration_isolement,
            ressources: round2(r.ressources),
            aspa_comptee: round2(e.aspa.montant),
            forfait_logement: round2(r.forfait_logement),
            montant_forfaitaire: round2(r.montant_forfaitaire),
            montant_calcule: round2(r.montant_calcule),
            atteint_minimum: r.atteint_minimum,
            montant_estime: round2(r.montant),
            recoit: receives(unit, "RSA"),
            ..revised(base("RSA", u.carrier, carrier_role), "PPA", |e| {
                e.rsa.montant
            })
        });
    }
    if e.ppa.revenus_activite > 0.0 || unseen_activity {
        let p = &e.ppa;
        rows.push(EligibilityRow {
            majoration_isolement: p.majoration_isolement,
            ressources: round2(p.ressources),
            aspa_comptee: round2(e.aspa.montant),
            forfait_logement: round2(p.forfait_logement),
            montant_forfaitaire: round2(p.montant_forfaitaire),
            part_revenus_activite: round2(p.part_revenus_activite),
            bonifications: round2(p.bonifications),
            montant_calcule: round2(p.montant_calcule),
            atteint_minimum: p.atteint_minimum,
            montant_estime: round2(p.montant),
            recoit: receives(unit, "PPA"),
            ppa_mois: {
                let mut months = Vec::with_capacity(cfg.ppa_params.len());
                entitlement::ppa_months(b, &s, e.aspa.montant, |m, _| {
                    months.push(crate::tables::eligibility::ppa_month_values(&m));
                });
                months
            },
            ..revised(base("PPA", u.carrier, carrier_role), "RSA", |e| {
                e.ppa.montant
            })
        });
    }
    for &p in unit.iter().filter(|&&p| h.persons[p].age >= 65) {
        let a = &e.aspa;
        let person = &h.persons[p];
        // A couple's household ASPA is shared between its eligible members.
        let share = a.montant / a.nb_eligibles.max(1) as f64;
        let role = if p == u.carrier {
            u.carrier_role
        } else {
            Role::Conjoint
        };
        rows.push(EligibilityRow {
            ressources: round2(a.ressources),
            montant_forfaitaire: round2(a.plafond),
            montant_calcule: round2(share),
            atteint_minimum: share > 0.0,
            montant_estime: round2(share),
            recoit: person.receives("ASPA", run),
            ..base("ASPA", p, role.code())
        });
    }
}

/// Extra monthly resources revealed by a benefit the unit is paid, and the other benefit
/// re-estimated with them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Revision {
    pub extra: f64,
    pub amount: f64,
}

/// The unit's situation with `extra` monthly resources BRM does not show: activity income
/// of adult `activity_of` (index in the unit), or else other income of the demandeur, in
/// every month of the reference quarter. One copy of the situation is kept and only the
/// changed amounts are rewritten from the original at each call (the bisections below
/// estimate the unit some twenty times).
struct WithExtra<'a> {
    base: &'a Situation,
    work: Situation,
    activity_of: Option<usize>,
}

impl<'a> WithExtra<'a> {
    fn new(base: &'a Situation, activity_of: Option<usize>) -> WithExtra<'a> {
        WithExtra {
            base,
            work: base.clone(),
            activity_of,
        }
    }

    fn estimate(&mut self, b: &Bareme, extra: f64) -> Estimates {
        let (base, work) = (self.base, &mut self.work);
        match self.activity_of {
            Some(j) => {
                if j == 0 {
                    work.demandeur.activite = base.demandeur.activite + extra;
                } else if let (Some(w), Some(c)) = (work.conjoint.as_mut(), &base.conjoint) {
                    w.activite = c.activite + extra;
                }
                for (w, m) in work.ppa_months.iter_mut().zip(&base.ppa_months) {
                    w.activite[j.min(1)] = m.activite[j.min(1)] + extra;
                }
            }
            None => {
                work.demandeur.autres = base.demandeur.autres + extra;
                for (w, m) in work.ppa_months.iter_mut().zip(&base.ppa_months) {
                    w.autres = m.autres + extra;
                }
            }
        }
        entitlement::estimate(b, work)
    }
}

/// What the amount `paid` of one household benefit (`other`, RSA or PPA) tells about the
/// unit's resources: the caisse that pays it knows the quarterly resources declared, BRM
/// may not (self-employment income, alimony, capital income). Finds the extra monthly
/// resource (0 to 6 000 €, by bisection: the benefit falls as that resource rises) under which
/// the barème gives the amount paid (within 1 €), and re-estimates `this` benefit with it.
/// `None` when no extra resource explains the amount (it is above the estimate on BRM's
/// resources, or below the estimate with 6 000 € more). The PPA first rises with activity
/// income, then falls: for a PPA paid to a unit with a non-salaried adult and no wages the
/// search (which starts at a cent of activity income, where the PPA is under its minimum)
/// finds none unless BRM's amount is the one paid.
pub(crate) fn revise(
    b: &Bareme,
    s: &Situation,
    paid: f64,
    activity_of: Option<usize>,
    other: fn(&Estimates) -> f64,
    this: fn(&Estimates) -> f64,
) -> Option<Revision> {
    const TOLERANCE: f64 = 1.0;
    let mut with = WithExtra::new(s, activity_of);
    let mut at = |extra: f64| with.estimate(b, extra);
    let on_brm = entitlement::estimate(b, s);
    if (other(&on_brm) - paid).abs() <= TOLERANCE {
        return Some(Revision {
            extra: 0.0,
            amount: this(&on_brm),
        });
    }
    // Activity income starts at a cent: no activity income at all gives no PPA.
    let (lo, hi) = (if activity_of.is_some() { 0.01 } else { 0.0 }, 6000.0);
    if other(&at(lo)) < paid - TOLERANCE || other(&at(hi)) > paid + TOLERANCE {
        return None;
    }
    let extra = bisect(lo, hi, |x| other(&at(x)) > paid);
    let found = at(extra);
    ((other(&found) - paid).abs() <= TOLERANCE).then(|| Revision {
        extra,
        amount: this(&found),
    })
}

/// The point in `lo..hi` where `above` turns false (it is true at `lo`, false at `hi` and
/// turns once), within 1 cent on 6 000 € (20 halvings).
fn bisect(mut lo: f64, mut hi: f64, mut above: impl FnMut(f64) -> bool) -> f64 {
    for _ in 0..20 {
        let mid = 0.5 * (lo + hi);
        if above(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The monthly activity income of the unit's non-salaried adult `j` (whose income BRM
/// cannot see) up to which `this` benefit stays due, between 0 (not due with any such
/// income) and 6 000 €: how much self-employment or farm income the unit may have and
/// still be entitled. The RSA falls as activity income rises; the PPA rises first (61 % of
/// activity income while resources are under the montant forfaitaire) then falls, so it is
/// due on one stretch of incomes and this is that stretch's end.
pub(crate) fn activity_limit(
    b: &Bareme,
    s: &Situation,
    j: usize,
    this: fn(&Estimates) -> f64,
) -> f64 {
    let mut with = WithExtra::new(s, Some(j));
    let mut due = |x: f64| this(&with.estimate(b, x)) > 0.0;
    // Without any activity income the PPA is nil, and it then rises by 61 % of that income:
    // under its minimum for the first 25 € or so. The search starts at 50 € then.
    let hi = 6000.0;
    let Some(lo) = [0.01, 50.0].into_iter().find(|&x| due(x)) else {
        return 0.0;
    };
    if due(hi) {
        hi
    } else {
        bisect(lo, hi, &mut due)
    }
}

pub(crate) fn estimate_all(
    h: &Households,
    b: &Bareme,
    cfg: &EligibilityConfig,
) -> Vec<EligibilityRow> {
    let mut rows: Vec<EligibilityRow> = h
        .foyers
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, _)| foyer_rows(h, i, b, cfg))
        .collect();
    // In (benefit, id) order: small keys (the id's head inline) sorted in parallel, ties
    // kept in their order as a stable sort would, then the rows moved into that order in
    // place (a row is some 250 bytes: moved once rather than at every merge).
    let mut keys: Vec<(&'static str, u64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.prestation, id_head(&r.pseudo_id), i as u32))
        .collect();
    keys.par_sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| {
                rows[a.2 as usize]
                    .pseudo_id
                    .cmp(&rows[b.2 as usize].pseudo_id)
            })
            .then(a.2.cmp(&b.2))
    });
    let order: Vec<u32> = keys.into_iter().map(|k| k.2).collect();
    permute(&mut rows, &order);
    rows
}

/// Puts `order[k]`'s element at position `k`, in place, following the permutation's cycles.
fn permute<T>(items: &mut [T], order: &[u32]) {
    debug_assert_eq!(items.len(), order.len());
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        let mut at = start;
        while !placed[at] {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bareme::Baremes;
    use crate::domain::entitlement::{MemberResources, Statut};
    use crate::domain::month::Month;

    fn bareme() -> Bareme {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/baremes.toml");
        Baremes::load(&path)
            .unwrap()
            .in_force(Month::parse("2025-09").unwrap())
            .unwrap()
    }

    fn single(activite: f64, autres: f64) -> Situation {
        Situation {
            demandeur: MemberResources {
                age: 40,
                activite,
                autres,
                ressources_aspa: activite + autres,
            },
            conjoint: None,
            enfants: vec![],
            statut: Some(Statut::LocatairePrive),
            aide_logement: 0.0,
            prestations_comptees: 0.0,
            ppa_months: vec![],
        }
    }

    const RSA: fn(&Estimates) -> f64 = |e| e.rsa.montant;
    const PPA: fn(&Estimates) -> f64 = |e| e.ppa.montant;

    #[test]
    fn the_amount_paid_reveals_the_resources_brm_misses() {
        let b = bareme();
        // BRM shows 1 000 € of wages; the caisse pays the PPA computed with 200 € more of
        // other income: revise finds the 200 € and the RSA with them.
        let brm = single(1000.0, 0.0);
        let truth = entitlement::estimate(&b, &single(1000.0, 200.0));
        let r = revise(&b, &brm, truth.ppa.montant, None, PPA, RSA).unwrap();
        assert!((r.extra - 200.0).abs() < 0.05, "{r:?}");
        assert_eq!(r.amount, truth.rsa.montant);
        // Paid what BRM gives: nothing hidden.
        let on_brm = entitlement::estimate(&b, &brm);
        let r = revise(&b, &brm, on_brm.ppa.montant, None, PPA, RSA).unwrap();
        assert_eq!(r.extra, 0.0);
        // Paid more than BRM's resources allow: no extra resource explains it.
        assert_eq!(
            revise(&b, &brm, on_brm.ppa.montant + 50.0, None, PPA, RSA),
            None
        );
        // A self-employed person without wages paid the RSA computed with 300 € of
        // activity income: the PPA re-estimated with it is the PPA of 300 € earned.
        let truth = entitlement::estimate(&b, &single(300.0, 0.0));
        let r = revise(&b, &single(0.0, 0.0), truth.rsa.montant, Some(0), RSA, PPA).unwrap();
        assert!((r.extra - 300.0).abs() < 0.05, "{r:?}");
        assert!((r.amount - truth.ppa.montant).abs() < 0.05, "{r:?}");
    }

    #[test]
    fn activity_limit_is_where_the_benefit_stops() {
        let b = bareme();
        let s = single(0.0, 0.0);
        for this in [RSA, PPA] {
            let limit = activity_limit(&b, &s, 0, this);
            assert!(limit > 0.0 && limit < 6000.0, "{limit}");
            assert!(this(&entitlement::estimate(&b, &single(limit - 1.0, 0.0))) > 0.0);
            assert_eq!(
                this(&entitlement::estimate(&b, &single(limit + 1.0, 0.0))),
                0.0
            );
        }
        // The RSA stops well before the PPA.
        assert!(activity_limit(&b, &s, 0, RSA) < activity_limit(&b, &s, 0, PPA));
    }

    #[test]
    fn rows_are_moved_into_the_order_given() {
        // Every permutation of five items, applied in place, gives what indexing gives.
        let items = ["a", "b", "c", "d", "e"];
        let mut order: Vec<u32> = (0..5).collect();
        let mut count = 0;
        loop {
            let mut moved = items.to_vec();
            permute(&mut moved, &order);
            let expected: Vec<&str> = order.iter().map(|&i| items[i as usize]).collect();
            assert_eq!(moved, expected, "{order:?}");
            count += 1;
            // The next permutation in lexicographic order.
            let Some(i) = (0..4).rev().find(|&i| order[i] < order[i + 1]) else {
                break;
            };
            let j = (i + 1..5).rev().find(|&j| order[j] > order[i]).unwrap();
            order.swap(i, j);
            order[i + 1..].reverse();
        }
        assert_eq!(count, 120);
    }
}
