#!/usr/bin/env python3
"""Build tests/fixtures/openfisca_cases.json: RSA / PPA / ASPA computed by OpenFisca-France.

The fixture is an independent oracle for the Rust pipeline "recours": a list of
deterministic households (no randomness), each with its run month M, housing
status, forced housing aid / family benefits, members with ages and net monthly
resources for M-4..M-1, and the famille-level monthly `rsa`, `ppa`, `aspa`
OpenFisca computes for month M (rounded to 2 decimals).

Run (from the repo root, with the pinned versions of tests/oracle/requirements.txt):

    /root/ofvenv/bin/python tests/oracle/make_openfisca_fixture.py

Modelling choices (also listed in tests/oracle/README.md):

* Entities: one individu per member, one famille (parents = demandeur[+conjoint],
  enfants), one foyer fiscal (declarants = parents, personnes a charge = enfants),
  one menage (personne de reference = demandeur, conjoint, enfants) per case.
  All cases of the same run month go into one multi-household simulation.
* Reference quarter: famille `departement_experimentation_rsa` = True for every
  month M-12..M, so the RSA / PPA reference quarter is M-4..M-2.
* Resource natures -> OpenFisca input variables (individu, monthly):
    salaire    -> salaire_net      (+ the same amount in salaire_de_base, because
                                    OpenFisca's ASPA resource base reads
                                    salaire_de_base, not salaire_net)
    chomage    -> chomage_net
    retraite   -> retraite_nette   (+ the same amount in retraite_brute, because
                                    OpenFisca's ASPA resource base reads
                                    retraite_brute, a pure input; this is how the
                                    domain.md reference ASPA 434.29 is reproduced)
    ij         -> indemnites_journalieres_maladie (sick-pay IJSS; OpenFisca sums it
                                    into indemnites_journalieres)
    invalidite -> pensions_invalidite
  Every one of these variables is given explicitly (0 when absent) for every month
  M-12..M so no OpenFisca formula (salaire_net from salaire_de_base, chomage_net
  from chomage_brut, ...) fills a month.
* Months outside M-4..M-1: months M-12..M-5 repeat the M-4 amounts (a long-
  standing situation before the window), month M repeats the M-1 amounts (the
  situation continues; otherwise OpenFisca's "revenus interrompus au mois M"
  neutralisation would drop an income present at M-1 and absent at M).
  Consequence for IJ: IJ maladie count as *activity* income for RSA/PPA in a month
  only if that month has a salary, or IJ were 0 three months before (recent
  stoppage, date_arret_de_travail left undefined); a long-standing IJ with no
  wage is a replacement income.
* Ages: date_naissance = 1st day of (M - age years - 6 months), so the stated
  integer age holds for every month M-6..M+5 (the whole reference window).
* Housing: menage statut_occupation_logement over M-12..M from `statut`:
  locataire_prive -> locataire_vide, locataire_hlm -> locataire_hlm,
  proprietaire -> proprietaire, heberge_gratuit -> loge_gratuitement,
  sans_domicile -> sans_domicile. loyer and participation_frais left at 0/False
  (so owners and people housed free get the forfait logement).
  famille aide_logement forced to the case's `aide_logement` for M-12..M
  (the fixture documents the M-4..M part).
* Family benefits forced for M-12..M: af = af_base = `prestations_familiales`
  (both, because OpenFisca counts min(af_base, af)); cf, cf_non_majore_avant_cumul,
  asf, paje_base, paje_prepare = 0; ars = 0 for the calendar years involved.
  (paje_clca / paje_colca ended in 2017 and evaluate to 0.)
* Other benefits forced to 0 for every member and month M-12..M: aah, caah, ass,
  asi, and asi_eligibilite = False (otherwise an invalidity pensioner under 65
  would get an ASI that leaks into RSA/PPA and changes the ASPA couple rules).
  ASPA itself is left computed: OpenFisca counts it as a resource of RSA and PPA.
* Hosted adults (an `autre_adulte`, or an `enfant` of 25 or more): each is a famille
  of its own (parents = that person, no enfants, aide_logement and family benefits
  forced to 0, departement_experimentation_rsa True) and a foyer fiscal of its own,
  in the host's menage (role enfants for an adult child, autres otherwise). Such
  cases carry a `famille` index per member (0 = host) and `units` with the expected
  values of every famille; `expected` stays the host's. OpenFisca's forfait logement
  reads famille.demandeur.menage's statut_occupation_logement, i.e. the host's: a
  hosted adult in a tenant's home gets no forfait (see tests/oracle/README.md).
* Outputs: famille `rsa`, `ppa`, `aspa` for month M, rounded to 2 decimals
  (OpenFisca computes in float32, so expect +-1 cent against exact arithmetic).

Behaviours of OpenFisca-France 176.1.8 worth knowing when comparing:
* The M-4..M-2 quarter exists only from 2024-10 (formula_2024_10 of rsa / ppa);
  for a run month before 2024-10 (2024-06, 2024-09 here) OpenFisca uses M-3..M-1
  whatever departement_experimentation_rsa says.
* PPA: computed for each reference month with that month's barème, then
  averaged; PPA is 0 unless some parent has activity income in M-1, M-2 or M-3
  (ppa_eligibilite_apprenants), even when the reference quarter has some.
* ASPA: resources of M-3..M-1; wages are counted after a quarterly abattement of
  0.9 (single) / 1.5 (couple) x the 1 January gross monthly SMIC; no minimum paid.
* RSA and PPA count the household's ASPA of month M (PPA: of each reference
  month) as a resource.
"""

import json
import os
import sys
import time
from importlib.metadata import version

from openfisca_france import FranceTaxBenefitSystem
from openfisca_core.simulation_builder import SimulationBuilder

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "openfisca_cases.json")

NATURES = {
    # nature key -> list of OpenFisca variables receiving the amount
    "salaire": ["salaire_net", "salaire_de_base"],
    "chomage": ["chomage_net"],
    "retraite": ["retraite_nette", "retraite_brute"],
    "ij": ["indemnites_journalieres_maladie"],
    "invalidite": ["pensions_invalidite"],
}
STATUTS = {
    "locataire_prive": "locataire_vide",
    "locataire_hlm": "locataire_hlm",
    "proprietaire": "proprietaire",
    "heberge_gratuit": "loge_gratuitement",
    "sans_domicile": "sans_domicile",
}
INDIV_ZERO = ["aah", "caah", "ass", "asi"]
FAM_ZERO = ["cf", "cf_non_majore_avant_cumul", "asf", "paje_base", "paje_prepare"]

RUN_MONTHS = ["2024-06", "2024-12", "2025-01", "2025-03", "2025-04",
              "2025-09", "2026-01", "2026-03", "2026-04", "2026-07"]


# ---------------------------------------------------------------- month helpers
def ym(s):
    y, m = s.split("-")
    return int(y), int(m)


def shift(month, k):
    y, m = ym(month)
    t = y * 12 + (m - 1) + k
    return "%04d-%02d" % (t // 12, t % 12 + 1)


def window(month):
    """The four resource months M-4..M-1, oldest first."""
    return [shift(month, k) for k in (-4, -3, -2, -1)]


# ---------------------------------------------------------------- case builders
def res(month, *per_month):
    """Resources for M-4..M-1. Either one dict (same every month) or four dicts."""
    if len(per_month) == 1:
        per_month = per_month * 4
    assert len(per_month) == 4
    out = {}
    for mo, d in zip(window(month), per_month):
        out[mo] = {k: float(v) for k, v in d.items() if v}
    return out


def adult(role, age, month, *per_month):
    if not per_month:
        per_month = ({},)
    return {"role": role, "age": age, "resources": res(month, *per_month)}


def child(age, month):
    return {"role": "enfant", "age": age, "resources": res(month, {})}


CASES = []


def is_hosted(member):
    """A hosted adult: an autre_adulte, or an enfant of 25 or more living with the parents.
    In law each one is a foyer of its own for RSA / PPA and is assessed alone for ASPA."""
    return member["role"] == "autre_adulte" or (member["role"] == "enfant" and member["age"] >= 25)


def add(kind, month, statut, members, al=0.0, pf=0.0):
    assert statut in STATUTS
    case = {
        "id": "case-%04d" % (len(CASES) + 1),
        "kind": kind,
        "month": month,
        "statut": statut,
        "aide_logement": float(al),
        "prestations_familiales": float(pf),
        "members": members,
    }
    if any(is_hosted(mem) for mem in members):
        # Benefit units (OpenFisca familles): 0 = the host unit (demandeur, conjoint,
        # enfants under 25), then one unit per hosted adult, in member order. Cases
        # without hosted adults keep the original shape (no `famille`, no `units`).
        k = 0
        for mem in members:
            if is_hosted(mem):
                k += 1
                mem["famille"] = k
            else:
                mem["famille"] = 0
        case["units"] = [{"famille": f} for f in range(k + 1)]
    CASES.append(case)


def W(x):
    return {"salaire": x}


# Approximate monthly AF amounts for 2, 3, 4 children (2025); only used as
# forced inputs, so exactness does not matter.
AF = {1: 0.0, 2: 151.05, 3: 344.58, 4: 538.11}


def build_cases():
    # --- the three domain.md reference values (month 2025-09)
    m = "2025-09"
    add("ref_rsa", m, "locataire_prive", [adult("demandeur", 40, m)])
    add("ref_ppa", m, "locataire_prive", [adult("demandeur", 40, m, W(1000))])
    add("ref_aspa", m, "locataire_prive", [adult("demandeur", 70, m, {"retraite": 600})])

    # --- single, wage levels x every run month (private tenant, no housing aid)
    wages = [0, 300, 700, 1000, 1400, 1800, 2500]
    for i, m in enumerate(RUN_MONTHS):
        for j, w in enumerate(wages):
            age = 26 + (3 * i + 5 * j) % 35
            kind = "single_no_income" if w == 0 else "single_wage"
            add(kind, m, "locataire_prive", [adult("demandeur", age, m, W(w))])

    # --- housing status variants, single person
    housing = [("locataire_prive", 0), ("locataire_prive", 250), ("locataire_prive", 40),
               ("locataire_hlm", 0), ("locataire_hlm", 300), ("proprietaire", 0),
               ("heberge_gratuit", 0), ("sans_domicile", 0)]
    for m in ["2025-03", "2025-09", "2026-04"]:
        for w in [0, 700]:
            for st, al in housing:
                add("single_housing", m, st, [adult("demandeur", 45, m, W(w))], al=al)

    # --- couples without children
    couple_wages = [(0, 0), (300, 0), (1000, 0), (1400, 700), (1800, 1800), (2500, 0), (700, 700)]
    couple_housing = [("locataire_prive", 0), ("locataire_hlm", 280), ("proprietaire", 0),
                      ("locataire_prive", 350)]
    for i, m in enumerate(["2024-06", "2024-12", "2025-09", "2026-07"]):
        for j, (w1, w2) in enumerate(couple_wages):
            st, al = couple_housing[(i + j) % len(couple_housing)]
            add("couple_no_child", m, st,
                [adult("demandeur", 30 + 4 * j, m, W(w1)), adult("conjoint", 28 + 3 * j, m, W(w2))],
                al=al)

    # --- couples with 1-4 children
    kids_by_n = {1: [5], 2: [2, 7], 3: [1, 4, 9], 4: [3, 6, 10, 14]}
    cw = [(0, 0), (700, 0), (1400, 0), (2500, 0), (1000, 1000)]
    for i, m in enumerate(["2025-04", "2026-01"]):
        for n, ages in kids_by_n.items():
            for j, (w1, w2) in enumerate(cw):
                st, al = [("locataire_hlm", 0), ("locataire_hlm", 420), ("locataire_prive", 380),
                          ("proprietaire", 0)][(i + n + j) % 4]
                pf = AF[n] if (j + i) % 2 == 0 else 0.0
                members = [adult("demandeur", 38, m, W(w1)), adult("conjoint", 36, m, W(w2))]
                members += [child(a, m) for a in ages]
                add("couple_children", m, st, members, al=al, pf=pf)

    # --- single parents: youngest under 3 (majoration) or not
    sp_children = {
        (1, True): [1], (1, False): [6],
        (2, True): [0, 4], (2, False): [5, 9],
        (3, True): [2, 6, 11], (3, False): [4, 8, 12],
    }
    sp_months = ["2024-06", "2025-09", "2026-04", "2025-01"]
    k = 0
    for (n, young), ages in sp_children.items():
        for w in [0, 700, 1000, 1400]:
            m = sp_months[k % len(sp_months)]
            st, al = [("locataire_hlm", 0), ("locataire_prive", 310), ("locataire_hlm", 260),
                      ("heberge_gratuit", 0), ("locataire_prive", 0)][k % 5]
            pf = AF[n] if k % 3 == 0 else 0.0
            kind = "single_parent_under3" if young else "single_parent"
            add(kind, m, st, [adult("demandeur", 31 + k % 9, m, W(w))] + [child(a, m) for a in ages],
                al=al, pf=pf)
            k += 1

    # --- young people 18-24
    for i, age in enumerate([18, 19, 21, 23, 24]):
        for w in [0, 700, 1400]:
            m = RUN_MONTHS[(i + w // 700) % len(RUN_MONTHS)]
            add("young_no_child", m, "locataire_prive" if w else "heberge_gratuit",
                [adult("demandeur", age, m, W(w))])
    for i, (age, w, ages, couple) in enumerate([
            (19, 0, [0], False), (20, 700, [1], False), (22, 0, [4], False), (24, 1000, [2], False),
            (21, 0, [1], True), (23, 1200, [0], True), (18, 0, [2], False), (24, 1400, [3, 6], True)]):
        m = ["2025-09", "2026-04", "2025-03", "2026-07"][i % 4]
        members = [adult("demandeur", age, m, W(w))]
        if couple:
            members.append(adult("conjoint", age + 1, m))
        members += [child(a, m) for a in ages]
        add("young_with_child", m, "locataire_hlm", members, al=150 if i % 2 else 0)

    # --- age boundaries around 25 and 65 (no income)
    for m in ["2025-09", "2026-04"]:
        for age in [24, 25, 64, 65, 66]:
            add("age_boundary", m, "locataire_prive", [adult("demandeur", age, m)])

    # --- part-time / variable wages across the four months
    patterns = [
        (0, 400, 800, 600), (500, 700, 300, 900), (1200, 1200, 0, 0), (0, 0, 0, 900),
        (900, 0, 0, 0), (300, 300, 1500, 1500), (1100, 950, 1250, 1000), (0, 600, 0, 600),
    ]
    var_months = ["2025-09", "2026-03", "2025-06", "2026-06"]  # 2025-06 / 2026-06: April inside the quarter
    for i, p in enumerate(patterns):
        for j, m in enumerate(var_months[:3] if i % 2 else var_months):
            kind = "variable_wage_reval_in_quarter" if m in ("2025-06", "2026-06") else "variable_wage"
            add(kind, m, "locataire_prive", [adult("demandeur", 33 + i, m, *[W(x) for x in p])])
    # before 2024-10 OpenFisca has no experimentation formula: quarter M-3..M-1
    for i, p in enumerate([(0, 0, 0, 900), (900, 0, 0, 0), (0, 400, 800, 600), (1100, 950, 1250, 1000)]):
        for m in ["2024-06", "2024-09", "2024-10"]:
            add("variable_wage_quarter_switch", m, "locataire_prive",
                [adult("demandeur", 44 + i, m, *[W(x) for x in p])])
    for i, (p1, p2) in enumerate([((0, 500, 500, 0), (1000, 1000, 1000, 1000)),
                                  ((800, 800, 200, 200), (0, 0, 0, 0)),
                                  ((1500, 0, 1500, 0), (400, 400, 400, 400)),
                                  ((0, 0, 700, 700), (600, 0, 600, 0))]):
        for m in ["2025-01", "2026-07"]:
            add("couple_variable_wage", m, "locataire_hlm",
                [adult("demandeur", 41, m, *[W(x) for x in p1]),
                 adult("conjoint", 39, m, *[W(x) for x in p2])], al=200 if i % 2 else 0)

    # --- unemployment benefit
    for i, (c, w) in enumerate([(600, 0), (900, 0), (1200, 0), (400, 300), (700, 600), (1500, 0)]):
        for m in ["2024-12", "2025-09"]:
            add("unemployment", m, "locataire_prive" if i % 2 else "locataire_hlm",
                [adult("demandeur", 35 + 3 * i, m, {"chomage": c, "salaire": w})])
    for m in ["2025-04", "2026-03", "2026-07"]:
        add("couple_unemployment", m, "locataire_hlm",
            [adult("demandeur", 44, m, {"chomage": 850}), adult("conjoint", 42, m, W(1000))],
            al=0)
        add("couple_unemployment", m, "locataire_prive",
            [adult("demandeur", 50, m, {"chomage": 600}), adult("conjoint", 47, m),
             child(8, m), child(12, m)], al=330, pf=AF[2])

    # --- single pensioners 65-95
    sp_ages = [65, 67, 70, 75, 80, 85, 90, 95]
    pensions = [0, 300, 600, 900, 1000, 1034, 1200, 1600]
    pen_months = ["2024-12", "2025-01", "2025-09", "2026-01", "2026-03"]
    pen_housing = [("locataire_prive", 0), ("proprietaire", 0), ("locataire_hlm", 220),
                   ("heberge_gratuit", 0), ("locataire_prive", 180)]
    k = 0
    for a_i, age in enumerate(sp_ages):
        for p_i, p in enumerate(pensions):
            if (a_i + p_i) % 2:
                continue
            m = pen_months[k % len(pen_months)]
            st, al = pen_housing[k % len(pen_housing)]
            add("single_pension", m, st, [adult("demandeur", age, m, {"retraite": p})], al=al)
            k += 1
    # a few with a month-to-month pension change
    for m in ["2025-01", "2026-01"]:
        add("single_pension_varying", m, "locataire_prive",
            [adult("demandeur", 72, m, {"retraite": 500}, {"retraite": 500}, {"retraite": 520}, {"retraite": 520})])
        add("single_pension_varying", m, "proprietaire",
            [adult("demandeur", 81, m, {"retraite": 800}, {"retraite": 800}, {"retraite": 800}, {"retraite": 830})])

    # --- couples of pensioners: both over 65, or one only
    couple_p = [(0, 0), (600, 300), (900, 700), (1200, 0), (1600, 400), (800, 800), (400, 400), (1000, 500)]
    couple_ages = [(70, 68), (67, 60), (82, 79), (66, 62), (90, 88), (75, 55)]
    k = 0
    for c_i, (a1, a2) in enumerate(couple_ages):
        for p_i, (p1, p2) in enumerate(couple_p):
            if (c_i + p_i) % 2:
                continue
            m = ["2024-06", "2025-01", "2025-09", "2026-01", "2026-07"][k % 5]
            st, al = [("proprietaire", 0), ("locataire_prive", 0), ("locataire_hlm", 260),
                      ("heberge_gratuit", 0)][k % 4]
            kind = "couple_pension_both65" if a2 >= 65 else "couple_pension_one65"
            add(kind, m, st, [adult("demandeur", a1, m, {"retraite": p1}),
                              adult("conjoint", a2, m, {"retraite": p2})], al=al)
            k += 1
    # pensioner with a working younger partner
    for m in ["2025-09", "2026-04"]:
        add("couple_pension_wage", m, "locataire_prive",
            [adult("demandeur", 68, m, {"retraite": 700}), adult("conjoint", 58, m, W(900))])
        add("couple_pension_wage", m, "locataire_hlm",
            [adult("demandeur", 66, m, {"retraite": 300}), adult("conjoint", 61, m, W(1400))], al=150)
        add("pension_wage", m, "locataire_prive",
            [adult("demandeur", 67, m, {"retraite": 500, "salaire": 400})])
        add("pension_wage", m, "locataire_hlm",
            [adult("demandeur", 69, m, {"retraite": 300, "salaire": 800})], al=120)

    # --- sick pay (IJ maladie)
    for i, (ij, w) in enumerate([(600, 0), (900, 0), (1200, 0), (500, 600), (800, 300)]):
        for m in ["2025-03", "2025-09"]:
            add("sick_pay", m, "locataire_prive", [adult("demandeur", 37 + i, m, {"ij": ij, "salaire": w})])
    for m in ["2025-09", "2026-04"]:
        # IJ started recently after a wage (wage M-4..M-3, IJ M-2..M-1)
        add("sick_pay_recent", m, "locataire_hlm",
            [adult("demandeur", 43, m, W(1100), W(1100), {"ij": 700}, {"ij": 700})])
        add("sick_pay_recent", m, "locataire_prive",
            [adult("demandeur", 29, m, {}, {"ij": 500}, {"ij": 500}, {"ij": 500})])

    # --- invalidity pension
    for i, (inv, w) in enumerate([(400, 0), (700, 0), (1000, 0), (300, 800), (600, 500)]):
        for m in ["2024-12", "2026-01"]:
            add("invalidity", m, "locataire_prive" if i % 2 else "proprietaire",
                [adult("demandeur", 48 + 3 * i, m, {"invalidite": inv, "salaire": w})])
    for m in ["2025-09", "2026-07"]:
        add("couple_invalidity", m, "locataire_hlm",
            [adult("demandeur", 55, m, {"invalidite": 650}), adult("conjoint", 52, m, W(700))], al=240)

    # --- family benefits tested explicitly (same household, with / without AF)
    for m in ["2025-09", "2026-04"]:
        for pf in [0.0, AF[2], 300.0]:
            add("family_benefits", m, "locataire_hlm",
                [adult("demandeur", 34, m, W(900)), child(4, m), child(8, m)], al=0, pf=pf)
            add("family_benefits", m, "locataire_prive",
                [adult("demandeur", 40, m), adult("conjoint", 38, m), child(6, m), child(10, m),
                 child(13, m)], al=0, pf=pf)


def build_hosted_cases():
    """Households with hosted adults (an `autre_adulte`, or an `enfant` of 25 or more): each
    one is a famille and a foyer fiscal of its own, in the host's menage. Appended after the
    original cases so that their ids and values do not move."""
    # Half the hosts own their home (OpenFisca then gives the hosted adult the forfait
    # logement); in a tenant's home OpenFisca does not (see the README).
    host_homes = [("locataire_prive", 0), ("proprietaire", 0), ("locataire_hlm", 280),
                  ("proprietaire", 0), ("locataire_prive", 240), ("proprietaire", 0)]

    # --- a single host and a hosted adult (friend, relative, lodger) with wages
    k = 0
    for w in [0, 500, 900, 1300, 1800]:
        for host_w in [0, 1500]:
            m = RUN_MONTHS[1 + (k * 3) % 9]
            st, al = host_homes[k % len(host_homes)]
            add("hosted_adult_wage", m, st,
                [adult("demandeur", 45 + k % 7, m, W(host_w)),
                 adult("autre_adulte", 28 + 3 * k % 25, m, W(w))],
                al=al if host_w == 0 else 0)
            k += 1

    # --- hosted adult with unemployment benefit (with or without a small wage)
    for i, (c, w) in enumerate([(450, 0), (800, 0), (1100, 0), (500, 400), (300, 700)]):
        for j, m in enumerate(["2025-03", "2026-01"]):
            st, al = host_homes[(i + 2 * j) % len(host_homes)]
            add("hosted_adult_unemployment", m, st,
                [adult("demandeur", 52, m, W(1200)), adult("conjoint", 50, m),
                 adult("autre_adulte", 33 + 4 * i, m, {"chomage": c, "salaire": w})], al=al)

    # --- adult child of 25 or more living with a couple (wages or none, younger siblings)
    for i, (age, w) in enumerate([(25, 0), (26, 600), (27, 1100), (29, 0), (31, 1500), (25, 350)]):
        for j, m in enumerate(["2024-12", "2025-09", "2026-07"]):
            if (i + j) % 3 == 2:
                continue
            st, al = host_homes[(i + j) % len(host_homes)]
            members = [adult("demandeur", age + 27, m, W([0, 1400, 2100][j])),
                       adult("conjoint", age + 25, m, W([0, 0, 900][(i + j) % 3]))]
            members.append(adult("enfant", age, m, W(w)))
            if i % 2:
                members.append(child(15 + i, m))
            pf = 0.0
            add("hosted_adult_child", m, st, members, al=al if j == 0 else 0, pf=pf)

    # --- a hosted parent of 65 or more with a small pension (ASPA individual)
    for i, (age, p) in enumerate([(66, 0), (68, 300), (71, 550), (74, 800), (79, 950), (83, 200),
                                  (88, 650), (70, 1100)]):
        m = ["2025-01", "2025-09", "2026-03", "2026-04"][i % 4]
        st, al = host_homes[i % len(host_homes)]
        members = [adult("demandeur", 45, m, W([0, 1700][i % 2])),
                   adult("conjoint", 43, m, W([0, 800, 0][i % 3]))]
        if i % 3 == 0:
            members.append(child(9, m))
        members.append(adult("autre_adulte", age, m, {"retraite": p}))
        add("hosted_elder_pension", m, st, members, al=al if i % 2 == 0 else 0)
    # a hosted pensioner living with a single pensioner (both alone for ASPA)
    for i, m in enumerate(["2025-09", "2026-07"]):
        add("hosted_elder_pension", m, ["proprietaire", "locataire_hlm"][i],
            [adult("demandeur", 72, m, {"retraite": 700}),
             adult("autre_adulte", 76 + i, m, {"retraite": 400 + 200 * i})], al=0)

    # --- young hosted adult (18-24): no RSA, PPA from 18
    for i, (age, w) in enumerate([(19, 700), (22, 1100), (24, 0)]):
        m = ["2025-04", "2026-01", "2026-07"][i]
        add("hosted_young_adult", m, host_homes[i + 1][0],
            [adult("demandeur", 50, m, W(1600)), adult("autre_adulte", age, m, W(w))],
            al=host_homes[i + 1][1])

    # --- two hosted adults in one household, host housed free of charge itself or not
    for i, m in enumerate(["2025-03", "2025-09", "2026-04", "2026-07"]):
        st, al = [("locataire_prive", 300), ("proprietaire", 0), ("heberge_gratuit", 0),
                  ("locataire_hlm", 0)][i]
        add("two_hosted_adults", m, st,
            [adult("demandeur", 55, m, W(1100)),
             adult("enfant", 27 + i, m, W([0, 800, 400, 1300][i])),
             adult("autre_adulte", 67 + 3 * i, m, {"retraite": [0, 350, 700, 900][i]}),
             child(17, m)], al=al)

    # --- a single parent host with young children and a hosted adult
    for i, m in enumerate(["2025-01", "2025-09", "2026-03", "2026-07"]):
        st, al = host_homes[(i + 3) % len(host_homes)]
        add("hosted_adult_single_parent_host", m, st,
            [adult("demandeur", 34, m, W([0, 900][i % 2])), child(2, m), child(6, m),
             adult("autre_adulte", 40 + 5 * i, m, W([0, 650, 1000, 0][i]))],
            al=al, pf=AF[2] if i % 2 else 0.0)

    # --- variable wages of the hosted adult over the four months
    for i, p in enumerate([(0, 400, 800, 600), (1200, 1200, 0, 0), (500, 700, 300, 900)]):
        for j, m in enumerate(["2025-09", "2026-04"]):
            st, al = host_homes[(i + j + 1) % len(host_homes)]
            add("hosted_adult_variable_wage", m, st,
                [adult("demandeur", 60, m, {"retraite": 0, "salaire": 1900}),
                 adult("autre_adulte", 37 + i, m, *[W(x) for x in p])], al=al)


# ---------------------------------------------------------------- OpenFisca run
def birth_date(month, age):
    return shift(month, -12 * age - 6) + "-01"


def months_span(month):
    return [shift(month, k) for k in range(-12, 1)]


def case_monthly_resources(case, member):
    """Nature amounts for every month M-12..M, filled as the docstring says."""
    m = case["month"]
    win = window(m)
    r = member["resources"]
    out = {}
    for mo in months_span(m):
        if mo in r:
            src = r[mo]
        elif mo < win[0]:
            src = r[win[0]]
        else:  # month M
            src = r[win[-1]]
        out[mo] = src
    return out


def build_situation(cases):
    indiv, fams, foyers, menages = {}, {}, {}, {}
    for c in cases:
        m = c["month"]
        span = months_span(m)
        years = sorted({mo[:4] for mo in span})
        parents, enfants = [], []
        conjoint = []
        hosted = []  # (famille id, individu id, menage role)
        for i, mem in enumerate(c["members"]):
            pid = "%s-p%d" % (c["id"], i)
            p = {"date_naissance": {"ETERNITY": birth_date(m, mem["age"])}}
            monthly = case_monthly_resources(c, mem)
            for nature, variables in NATURES.items():
                for var in variables:
                    p[var] = {mo: monthly[mo].get(nature, 0.0) for mo in span}
            for var in INDIV_ZERO:
                p[var] = {mo: 0.0 for mo in span}
            p["asi_eligibilite"] = {mo: False for mo in span}
            indiv[pid] = p
            if is_hosted(mem):
                hosted.append(("%s-f%d" % (c["id"], mem["famille"]), pid,
                               "enfants" if mem["role"] == "enfant" else "autres"))
            elif mem["role"] == "enfant":
                enfants.append(pid)
            else:
                parents.append(pid)
                if mem["role"] == "conjoint":
                    conjoint.append(pid)
        assert c["members"][0]["role"] == "demandeur"
        fam = {"parents": parents, "enfants": enfants,
               "departement_experimentation_rsa": {mo: True for mo in span},
               "aide_logement": {mo: c["aide_logement"] for mo in span},
               "af": {mo: c["prestations_familiales"] for mo in span},
               "af_base": {mo: c["prestations_familiales"] for mo in span},
               "ars": {y: 0.0 for y in years}}
        for var in FAM_ZERO:
            fam[var] = {mo: 0.0 for mo in span}
        fams[c["id"]] = fam
        foyers[c["id"]] = {"declarants": parents, "personnes_a_charge": enfants}
        menages[c["id"]] = {
            "personne_de_reference": [parents[0]],
            "conjoint": conjoint,
            "enfants": enfants + [pid for _, pid, r in hosted if r == "enfants"],
            "autres": [pid for _, pid, r in hosted if r == "autres"],
            "statut_occupation_logement": {mo: STATUTS[c["statut"]] for mo in span},
        }
        # Each hosted adult: a famille of their own (single parent-less adult, no
        # housing aid, no family benefits) and a foyer fiscal of their own, in the
        # host's menage. OpenFisca reads the forfait logement's housing status from
        # famille.demandeur.menage, i.e. the host's statut (see the README).
        for fid, pid, _ in hosted:
            hfam = {"parents": [pid], "enfants": [],
                    "departement_experimentation_rsa": {mo: True for mo in span},
                    "aide_logement": {mo: 0.0 for mo in span},
                    "af": {mo: 0.0 for mo in span},
                    "af_base": {mo: 0.0 for mo in span},
                    "ars": {y: 0.0 for y in years}}
            for var in FAM_ZERO:
                hfam[var] = {mo: 0.0 for mo in span}
            fams[fid] = hfam
            foyers[fid] = {"declarants": [pid], "personnes_a_charge": []}
    return {"individus": indiv, "familles": fams, "foyers_fiscaux": foyers, "menages": menages}


def compute(tbs, cases):
    by_month = {}
    for c in cases:
        by_month.setdefault(c["month"], []).append(c)
    for m, group in sorted(by_month.items()):
        sim = SimulationBuilder().build_from_entities(tbs, build_situation(group))
        ids = list(sim.populations["famille"].ids)
        vals = {v: sim.calculate(v, m) for v in ("rsa", "ppa", "aspa")}
        for c in group:
            i = ids.index(c["id"])
            c["expected"] = {v: round(float(vals[v][i]), 2) for v in ("rsa", "ppa", "aspa")}
            for u in c.get("units", []):
                fid = c["id"] if u["famille"] == 0 else "%s-f%d" % (c["id"], u["famille"])
                j = ids.index(fid)
                u["expected"] = {v: round(float(vals[v][j]), 2) for v in ("rsa", "ppa", "aspa")}


def main():
    t0 = time.time()
    build_cases()
    build_hosted_cases()
    tbs = FranceTaxBenefitSystem()
    compute(tbs, CASES)
    doc = {
        "generator": "openfisca-france %s / openfisca-core %s" % (version("openfisca-france"),
                                                                  version("openfisca-core")),
        "script": "tests/oracle/make_openfisca_fixture.py",
        "cases": CASES,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    refs = {c["kind"]: c["expected"] for c in CASES[:3]}
    print("%d cases written to %s in %.1f s" % (len(CASES), os.path.relpath(OUT, REPO), time.time() - t0))
    print("ref_rsa  rsa  = %.2f (domain.md 646.52)" % refs["ref_rsa"]["rsa"])
    print("ref_ppa  ppa  = %.2f (domain.md 307.76)" % refs["ref_ppa"]["ppa"])
    print("ref_aspa aspa = %.2f (domain.md 434.29)" % refs["ref_aspa"]["aspa"])
    ok = (refs["ref_rsa"]["rsa"] == 646.52 and refs["ref_ppa"]["ppa"] == 307.76
          and refs["ref_aspa"]["aspa"] == 434.29)
    if not ok:
        print("ERROR: reference values differ from domain.md", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
