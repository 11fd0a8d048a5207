//! Entitlements against OpenFisca-France: `tests/fixtures/openfisca_cases.json` holds
//! households computed by openfisca-france 176.1.8 (script: tests/oracle/). The target is
//! agreement within 1 € on at least 95 % of the cases the simplified rules cover; the cases
//! outside that domain are the known differences listed in ARCHITECTURE.md and
//! tests/oracle/README.md.
//!
//! Benefit units: the host unit is the demandeur, the conjoint and the enfants under 25; each
//! hosted adult (an `autre_adulte`, or an `enfant` of 25 or more) is a unit of its own, as in
//! law and as in the fixture (an OpenFisca famille of its own in the host's ménage): one
//! person, own resources, no children, no housing aid, no family benefits, and the forfait
//! logement of a person housed free of charge (`heberge_gratuit`).

use std::collections::BTreeMap;

use recours::domain::bareme::Baremes;
use recours::domain::entitlement::{self, MemberResources, PpaMonth, Situation, Statut};
use recours::domain::month::Month;
use serde::Deserialize;

use crate::common::repo;

#[derive(Deserialize)]
struct Fixture {
    generator: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    kind: String,
    month: Month,
    statut: String,
    aide_logement: f64,
    prestations_familiales: f64,
    members: Vec<FixtureMember>,
    /// The host unit's values (OpenFisca famille 0).
    expected: BTreeMap<String, f64>,
    /// Present only when the household has hosted adults: the expected values of every
    /// unit, host (famille 0) first.
    #[serde(default)]
    units: Vec<FixtureUnit>,
}

#[derive(Deserialize)]
struct FixtureUnit {
    famille: usize,
    expected: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct FixtureMember {
    role: String,
    age: i32,
    resources: BTreeMap<String, BTreeMap<String, f64>>,
    /// The member's unit (0 = host) in households with hosted adults.
    #[serde(default)]
    famille: Option<usize>,
}

impl FixtureMember {
    /// An adult who forms a unit of their own: an `autre_adulte`, or an `enfant` of 25+.
    fn is_hosted(&self) -> bool {
        self.role == "autre_adulte" || (self.role == "enfant" && self.age >= 25)
    }
}

/// One benefit unit of a case, as the Rust side builds it.
struct Unit<'a> {
    famille: usize,
    /// The adults of the unit: demandeur [+ conjoint], or the hosted adult alone.
    adults: Vec<&'a FixtureMember>,
    /// Ages of the unit's children (the host's enfants under 25; none for a hosted adult).
    enfants: Vec<i32>,
    /// The housing status OpenFisca's forfait logement reads: the ménage's.
    statut_menage: &'a str,
    aide_logement: f64,
    prestations_familiales: f64,
    expected: &'a BTreeMap<String, f64>,
}

impl Unit<'_> {
    fn hosted(&self) -> bool {
        self.famille > 0
    }
    /// The statut the recours rule gives the unit: the ménage's for the host, `heberge_gratuit`
    /// for a hosted adult (forfait logement of a person housed free of charge, R262-9 CASF).
    fn statut_loi(&self) -> &str {
        if self.hosted() {
            "heberge_gratuit"
        } else {
            self.statut_menage
        }
    }
}

fn units(c: &Case) -> Vec<Unit<'_>> {
    let host = Unit {
        famille: 0,
        adults: c
            .members
            .iter()
            .filter(|m| m.role == "demandeur" || m.role == "conjoint")
            .collect(),
        enfants: c
            .members
            .iter()
            .filter(|m| m.role == "enfant" && !m.is_hosted())
            .map(|m| m.age)
            .collect(),
        statut_menage: &c.statut,
        aide_logement: c.aide_logement,
        prestations_familiales: c.prestations_familiales,
        expected: &c.expected,
    };
    assert_eq!(host.adults[0].role, "demandeur", "{}", c.id);
    let hosted: Vec<&FixtureMember> = c.members.iter().filter(|m| m.is_hosted()).collect();
    assert_eq!(
        c.units.len(),
        if hosted.is_empty() {
            0
        } else {
            hosted.len() + 1
        },
        "{}: one unit per hosted adult plus the host's",
        c.id
    );
    if let Some(u) = c.units.first() {
        assert_eq!((u.famille, &u.expected), (0, &c.expected), "{}", c.id);
    }
    let mut out = vec![host];
    for (k, m) in hosted.into_iter().enumerate() {
        let u = &c.units[k + 1];
        assert_eq!((u.famille, m.famille), (k + 1, Some(k + 1)), "{}", c.id);
        out.push(Unit {
            famille: k + 1,
            adults: vec![m],
            enfants: Vec::new(),
            statut_menage: &c.statut,
            aide_logement: 0.0,
            prestations_familiales: 0.0,
            expected: &u.expected,
        });
    }
    out
}

/// Reference quarter OpenFisca uses: M-4..M-2 from 2024-10 (the experimentation's start in
/// OpenFisca), M-3..M-1 before. A data team running such a month sets `rsa_ppa_quarter`.
fn rsa_quarter(month: Month) -> (i32, i32) {
    if month >= Month::parse("2024-10").unwrap() {
        (-4, -2)
    } else {
        (-3, -1)
    }
}

fn average(
    m: &FixtureMember,
    month: Month,
    (from, to): (i32, i32),
    pred: impl Fn(&str) -> bool,
) -> f64 {
    month
        .window(from, to)
        .map(|k| {
            m.resources.get(&k.to_string()).map_or(0.0, |r| {
                r.iter().filter(|(n, _)| pred(n)).map(|(_, a)| a).sum()
            })
        })
        .sum::<f64>()
        / (to - from + 1) as f64
}

fn situation(c: &Case, u: &Unit, statut: &str, baremes: &Baremes) -> Situation {
    let q = rsa_quarter(c.month);
    let params = baremes.ppa_quarter(c.month, q).unwrap();
    let at = |m: &FixtureMember, k: Month, salaire: bool| {
        m.resources.get(&k.to_string()).map_or(0.0, |r| {
            r.iter()
                .filter(|(n, _)| (n.as_str() == "salaire") == salaire)
                .map(|(_, a)| a)
                .sum()
        })
    };
    let ppa_months = params
        .into_iter()
        .zip(c.month.window(q.0, q.1))
        .map(|(params, k)| PpaMonth {
            params,
            activite: [0, 1].map(|j| u.adults.get(j).map_or(0.0, |m| at(m, k, true))),
            autres: u.adults.iter().map(|m| at(m, k, false)).sum(),
        })
        .collect();
    let member = |m: &FixtureMember| MemberResources {
        age: m.age,
        activite: average(m, c.month, q, |n| n == "salaire"),
        autres: average(m, c.month, q, |n| n != "salaire"),
        ressources_aspa: average(m, c.month, (-3, -1), |_| true),
    };
    Situation {
        demandeur: member(u.adults[0]),
        conjoint: u.adults.get(1).map(|m| member(m)),
        enfants: u.enfants.clone(),
        statut: Statut::from_code(statut),
        aide_logement: u.aide_logement,
        prestations_comptees: u.prestations_familiales,
        ppa_months,
    }
}

/// Units outside the simplified rules' domain (see ARCHITECTURE.md, "Known differences"):
/// sick pay, which OpenFisca counts as activity income in some months; ASPA units with
/// wages, where the law disregards earnings up to a SMIC-based allowance; PPA units whose
/// only wages in the quarter fall in M-4 (OpenFisca requires work in M-3..M-1).
fn unit_outside_domain(c: &Case, u: &Unit) -> Option<&'static str> {
    let has = |nature: &str| {
        u.adults.iter().any(|m| {
            m.resources
                .values()
                .any(|r| r.get(nature).is_some_and(|a| *a != 0.0))
        })
    };
    let old = u.adults.iter().any(|m| m.age >= 65);
    if has("ij") {
        return Some("sick pay");
    }
    if old && has("salaire") {
        return Some("ASPA earnings allowance");
    }
    let recent_work = u.adults.iter().any(|m| {
        c.month.window(-3, -1).any(|k| {
            m.resources
                .get(&k.to_string())
                .is_some_and(|r| r.get("salaire").is_some_and(|a| *a > 0.0))
        })
    });
    if has("salaire") && !recent_work {
        return Some("PPA without work in M-3..M-1");
    }
    None
}

/// OpenFisca reads the forfait logement's housing status from the famille's demandeur's
/// ménage, i.e. the host's: a hosted adult gets it only when the host owns the dwelling or
/// is housed free itself. The law (R262-9 CASF, CE 6 April 2018 n° 405870) gives it to
/// anyone housed free of charge, also by a tenant. Differs from the recours rule exactly
/// when the host is a tenant (or without a home).
fn openfisca_hosted_forfait_differs(u: &Unit) -> bool {
    u.hosted() && !matches!(u.statut_menage, "proprietaire" | "heberge_gratuit")
}

/// Why a case is outside the domain: the first reason of any of its units.
fn outside_domain(c: &Case, us: &[Unit]) -> Option<&'static str> {
    us.iter()
        .find_map(|u| unit_outside_domain(c, u))
        .or_else(|| {
            us.iter()
                .any(openfisca_hosted_forfait_differs)
                .then_some("hosted adult in a tenant's home (OpenFisca: no forfait logement)")
        })
}

/// Agreement on the households with hosted adults, reported apart.
#[derive(Default)]
struct HostedTally {
    households: usize,
    in_domain: usize,
    agree_in_domain: usize,
    agree: usize,
    /// Households agreeing when the hosted units take the ménage's statut, as OpenFisca does.
    agree_menage: usize,
    units: usize,
    units_agree: usize,
    units_agree_menage: usize,
}

type Amounts = [(&'static str, f64); 3];

/// Our amounts for a unit under a given statut, and whether they agree within 1 €.
fn compare(c: &Case, u: &Unit, statut: &str, baremes: &Baremes) -> (Amounts, bool) {
    let b = baremes.in_force(c.month).unwrap();
    let e = entitlement::estimate(&b, &situation(c, u, statut, baremes));
    let ours = [
        ("rsa", e.rsa.montant),
        ("ppa", e.ppa.montant),
        ("aspa", e.aspa.montant),
    ];
    let ok = ours.iter().all(|(k, v)| (v - u.expected[*k]).abs() <= 1.0);
    (ours, ok)
}

#[test]
fn entitlements_agree_with_openfisca_within_one_euro() {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/openfisca_cases.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert!(fixture.generator.contains("openfisca-france 176.1.8"));
    assert!(fixture.cases.len() >= 300);
    let baremes = Baremes::load(&repo().join("config/baremes.toml")).unwrap();

    let (mut in_domain, mut agree, mut all_agree) = (0usize, 0usize, 0usize);
    let mut disagreements = Vec::new();
    let mut outside: BTreeMap<&str, usize> = BTreeMap::new();
    let mut hosted = HostedTally::default();
    let mut forfait_gaps = Vec::new();
    for c in &fixture.cases {
        let us = units(c);
        let results: Vec<(Amounts, bool)> = us
            .iter()
            .map(|u| compare(c, u, u.statut_loi(), &baremes))
            .collect();
        let ok = results.iter().all(|(_, ok)| *ok);
        let with_hosted = us.len() > 1;
        if with_hosted {
            hosted.households += 1;
            hosted.agree += usize::from(ok);
            let menage_ok = us
                .iter()
                .all(|u| compare(c, u, u.statut_menage, &baremes).1);
            hosted.agree_menage += usize::from(menage_ok);
            for (u, (ours, uok)) in us.iter().zip(&results).skip(1) {
                hosted.units += 1;
                hosted.units_agree += usize::from(*uok);
                let (theirs, mok) = compare(c, u, u.statut_menage, &baremes);
                hosted.units_agree_menage += usize::from(mok);
                if !uok && openfisca_hosted_forfait_differs(u) {
                    forfait_gaps.push(format!(
                        "{} unit {} ({}): ours {:?}, with the ménage's statut {:?}, OpenFisca {:?}",
                        c.id, u.famille, u.statut_menage, ours, theirs, u.expected
                    ));
                }
            }
        }
        match outside_domain(c, &us) {
            Some(reason) => {
                *outside.entry(reason).or_default() += 1;
                all_agree += usize::from(ok);
            }
            None => {
                in_domain += 1;
                hosted.in_domain += usize::from(with_hosted);
                if ok {
                    agree += 1;
                    all_agree += 1;
                    hosted.agree_in_domain += usize::from(with_hosted);
                } else {
                    for (u, (ours, uok)) in us.iter().zip(&results) {
                        if !uok {
                            disagreements.push(format!(
                                "{} {} {} unit {}: ours {:?} vs {:?}",
                                c.id, c.kind, c.month, u.famille, ours, u.expected
                            ));
                        }
                    }
                }
            }
        }
    }
    let share = agree as f64 / in_domain as f64;
    eprintln!(
        "OpenFisca agreement: {agree}/{in_domain} cases in domain within 1 € ({:.1} %); {all_agree}/{} of all cases; \
         outside the domain: {outside:?}",
        100.0 * share,
        fixture.cases.len()
    );
    for d in &disagreements {
        eprintln!("  {d}");
    }
    eprintln!(
        "Households with hosted adults: {}/{} in domain within 1 €; {}/{} of all of them \
         (hosted units: {}/{}); with the hosted units given the ménage's statut as OpenFisca \
         does: {}/{} households, {}/{} hosted units",
        hosted.agree_in_domain,
        hosted.in_domain,
        hosted.agree,
        hosted.households,
        hosted.units_agree,
        hosted.units,
        hosted.agree_menage,
        hosted.households,
        hosted.units_agree_menage,
        hosted.units
    );
    for d in &forfait_gaps {
        eprintln!("  forfait logement of a hosted adult: {d}");
    }
    assert!(
        hosted.households >= 40,
        "{} households with hosted adults",
        hosted.households
    );
    assert!(
        hosted.agree_in_domain as f64 >= 0.95 * hosted.in_domain as f64,
        "hosted adults in domain: {}/{}",
        hosted.agree_in_domain,
        hosted.in_domain
    );
    // The tenant-home difference is OpenFisca's reading of the forfait logement and nothing
    // else: with the ménage's statut every hosted unit agrees.
    assert_eq!(
        hosted.units_agree_menage, hosted.units,
        "hosted units with OpenFisca's statut"
    );
    assert!(in_domain >= 300, "the domain covers {in_domain} cases");
    assert!(share >= 0.95, "{:.1} % within 1 €", 100.0 * share);
    // The three reference values of domain.md are exact.
    for id in ["case-0001", "case-0002", "case-0003"] {
        assert!(
            !disagreements.iter().any(|d| d.starts_with(id)),
            "{id} must agree"
        );
    }
}
