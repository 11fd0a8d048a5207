//! Entitlement formulas for RSA, prime d'activité (PPA) and ASPA, on a household situation
//! summarised over the reference quarters. One implementation serves the generator (on the
//! true resources) and the eligibility stage (on what BRM and RNCPS show), so that the two
//! can only differ through the data they see.

use serde::Serialize;

use crate::domain::bareme::{Bareme, PpaMonthParams};
use crate::domain::month::Month;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Demandeur,
    Conjoint,
    Enfant,
    AutreAdulte,
}

impl Role {
    pub(crate) const ALL: [Role; 4] = [
        Role::Demandeur,
        Role::Conjoint,
        Role::Enfant,
        Role::AutreAdulte,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Role::Demandeur => "demandeur",
            Role::Conjoint => "conjoint",
            Role::Enfant => "enfant",
            Role::AutreAdulte => "autre_adulte",
        }
    }
    pub fn from_code(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Statut {
    LocatairePrive,
    LocataireHlm,
    Proprietaire,
    HebergeGratuit,
    SansDomicile,
}

impl Statut {
    pub(crate) const ALL: [Statut; 5] = [
        Statut::LocatairePrive,
        Statut::LocataireHlm,
        Statut::Proprietaire,
        Statut::HebergeGratuit,
        Statut::SansDomicile,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Statut::LocatairePrive => "locataire_prive",
            Statut::LocataireHlm => "locataire_hlm",
            Statut::Proprietaire => "proprietaire",
            Statut::HebergeGratuit => "heberge_gratuit",
            Statut::SansDomicile => "sans_domicile",
        }
    }
    pub fn from_code(s: &str) -> Option<Statut> {
        Statut::ALL.into_iter().find(|r| r.code() == s)
    }
    /// The status in words: the one French label of the report, the model cards, the
    /// feature dictionary's housing levels and the letter of `explain`.
    pub const fn label(self) -> &'static str {
        match self {
            Statut::LocatairePrive => "locataire du parc privé",
            Statut::LocataireHlm => "locataire du parc social (HLM)",
            Statut::Proprietaire => "propriétaire de son logement",
            Statut::HebergeGratuit => "hébergé gratuitement",
            Statut::SansDomicile => "sans domicile",
        }
    }
    /// The label of a status code (`logements.statut`), [`Statut::UNKNOWN_LABEL`] without
    /// one; a code recours does not know is shown as it is.
    pub fn label_of(code: Option<&str>) -> &str {
        match code {
            Some(c) => Statut::from_code(c).map_or(c, |s| s.label()),
            None => Statut::UNKNOWN_LABEL,
        }
    }
    /// No housing row: the status is not known.
    pub const UNKNOWN_LABEL: &'static str = "logement inconnu";
}

/// One member of the benefit unit (demandeur, conjoint, children), with resources already
/// averaged over the reference quarters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberResources {
    pub age: i32,
    /// Average monthly activity income (wages) over the RSA/PPA reference quarter.
    pub activite: f64,
    /// Average monthly other income (unemployment, sick pay, pensions…) over the same quarter.
    pub autres: f64,
    /// Average monthly resources of every kind over the ASPA reference quarter.
    pub ressources_aspa: f64,
}

/// One month of the PPA reference quarter: that month's parameters and resources.
#[derive(Clone, Debug, PartialEq)]
pub struct PpaMonth {
    pub params: PpaMonthParams,
    /// Activity income of the demandeur and of the conjoint (0 when none).
    pub activite: [f64; 2],
    /// Other income of the unit (unemployment, pensions, sick pay…).
    pub autres: f64,
}

/// What the formulas need to know about a household.
#[derive(Clone, Debug, PartialEq)]
pub struct Situation {
    pub demandeur: MemberResources,
    pub conjoint: Option<MemberResources>,
    /// Ages of the dependent children (under 25).
    pub enfants: Vec<i32>,
    /// `None` when the extract has no housing row for the household.
    pub statut: Option<Statut>,
    /// Monthly housing aid received (AL), 0 when none.
    pub aide_logement: f64,
    /// Other benefits counted as resources for RSA and PPA (family benefits, AAH…).
    pub prestations_comptees: f64,
    /// The PPA reference quarter month by month. When empty, the PPA is computed once on
    /// the quarter's averages with the run month's parameters.
    pub ppa_months: Vec<PpaMonth>,
}

impl Situation {
    fn adults(&self) -> impl Iterator<Item = &MemberResources> {
        std::iter::once(&self.demandeur).chain(self.conjoint.iter())
    }
    pub(crate) fn household_size(&self) -> usize {
        1 + usize::from(self.conjoint.is_some()) + self.enfants.len()
    }
    fn activity_income(&self) -> f64 {
        self.adults().map(|m| m.activite).sum()
    }
    fn rsa_resources_before_aspa(&self) -> f64 {
        self.adults().map(|m| m.activite + m.autres).sum::<f64>() + self.prestations_comptees
    }
    fn has_forfait_logement(&self) -> bool {
        self.aide_logement > 0.0
            || matches!(
                self.statut,
                Some(Statut::Proprietaire | Statut::HebergeGratuit)
            )
    }
}

/// Rounds an amount to the cent.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Scale of the household relative to one person (art. R262-1 CASF): +50 % for the second
/// person, +30 % for each further person, raised to +40 % for each child from the third.
pub(crate) fn household_rate(b: &Bareme, adults: usize, children: usize) -> f64 {
    let f = &b.foyer;
    let persons = adults + children;
    let from_third_child = children.saturating_sub(2);
    let others = persons.saturating_sub(2) - from_third_child.min(persons.saturating_sub(2));
    1.0 + if persons >= 2 {
        f.taux_deuxieme_personne
    } else {
        0.0
    } + others as f64 * f.taux_troisieme_ou_quatrieme_personne
        + from_third_child as f64 * f.taux_personne_supplementaire
}

/// The household's montant forfaitaire for a one-person amount `base`: the isolated-parent
/// majoration while the youngest child is young, the household scale otherwise.
fn montant_forfaitaire(b: &Bareme, s: &Situation, base: f64) -> (f64, bool) {
    let f = &b.foyer;
    let isolated_parent = s.conjoint.is_none()
        && s.enfants
            .iter()
            .any(|&a| a < f.majoration_isolement_age_max_enfant);
    if isolated_parent {
        let rate = f.majoration_isolement_base
            + f.majoration_isolement_par_enfant * s.enfants.len() as f64;
        (base * rate, true)
    } else {
        let adults = 1 + usize::from(s.conjoint.is_some());
        (base * household_rate(b, adults, s.enfants.len()), false)
    }
}

/// Forfait logement for a one-person amount `base` (art. R262-9 and R262-10 CASF).
fn forfait_logement(b: &Bareme, s: &Situation, base: f64) -> f64 {
    if !s.has_forfait_logement() {
        return 0.0;
    }
    let f = &b.foyer;
    let forfait = match s.household_size() {
        1 => f.forfait_logement_une_personne * base,
        2 => f.forfait_logement_deux_personnes * base * household_rate(b, 2, 0),
        _ => f.forfait_logement_trois_personnes_ou_plus * base * household_rate(b, 3, 0),
    };
    if s.aide_logement > 0.0 {
        forfait.min(s.aide_logement)
    } else {
        forfait
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AspaEstimate {
    /// Members aged 65 or more (0, 1 or 2).
    pub nb_eligibles: u8,
    pub couple: bool,
    pub plafond: f64,
    pub ressources: f64,
    /// Household amount (the sum of the members' ASPA).
    pub montant: f64,
}

/// ASPA (art. L815-1 CSS): ceiling minus the last 3 months' average resources, capped at
/// the maximum; a couple with one eligible member is tested against the couple ceiling but
/// gets at most the single maximum.
pub fn aspa(b: &Bareme, s: &Situation) -> AspaEstimate {
    let nb = s.adults().filter(|m| m.age >= 65).count() as u8;
    let couple = s.conjoint.is_some();
    let ressources: f64 = s.adults().map(|m| m.ressources_aspa).sum();
    let (plafond, maximum) = match (couple, nb) {
        (false, _) => (b.aspa.plafond_seul, b.aspa.plafond_seul),
        (true, 2) => (b.aspa.plafond_couple, b.aspa.plafond_couple),
        (true, _) => (b.aspa.plafond_couple, b.aspa.plafond_seul),
    };
    let montant = if nb == 0 {
        0.0
    } else {
        (plafond - ressources).clamp(0.0, maximum)
    };
    AspaEstimate {
        nb_eligibles: nb,
        couple,
        plafond,
        ressources,
        montant,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RsaEstimate {
    pub age_ok: bool,
    pub taille_foyer: usize,
    pub majoration_isolement: bool,
    pub montant_forfaitaire: f64,
    /// Household resources over the reference quarter, including the ASPA due (RSA is
    /// subsidiary) and the benefits counted as resources.
    pub ressources: f64,
    pub forfait_logement: f64,
    /// Before the minimum paid.
    pub montant_calcule: f64,
    pub atteint_minimum: bool,
    /// What would be paid: 0 under the minimum or when the age condition fails.
    pub montant: f64,
}

/// RSA (art. L262-2 CASF): montant forfaitaire minus resources and forfait logement.
/// From age 25 (art. L262-4), or younger with a child.
pub fn rsa(b: &Bareme, s: &Situation, aspa_due: f64) -> RsaEstimate {
    let base = b.rsa.montant_forfaitaire;
    let (mf, majoration) = montant_forfaitaire(b, s, base);
    let fl = forfait_logement(b, s, base);
    let ressources = s.rsa_resources_before_aspa() + aspa_due;
    let calcule = (mf - ressources - fl).max(0.0);
    let age_ok = s.adults().any(|m| m.age >= 25) || !s.enfants.is_empty();
    let atteint = calcule >= b.foyer.minimum_verse_rsa;
    RsaEstimate {
        age_ok,
        taille_foyer: s.household_size(),
        majoration_isolement: majoration,
        montant_forfaitaire: mf,
        ressources,
        forfait_logement: fl,
        montant_calcule: calcule,
        atteint_minimum: atteint,
        montant: if atteint && age_ok { calcule } else { 0.0 },
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PpaEstimate {
    pub taille_foyer: usize,
    pub majoration_isolement: bool,
    pub montant_forfaitaire: f64,
    pub revenus_activite: f64,
    pub part_revenus_activite: f64,
    pub bonifications: f64,
    pub ressources: f64,
    pub forfait_logement: f64,
    pub montant_calcule: f64,
    pub atteint_minimum: bool,
    pub montant: f64,
}

/// Individual bonus of one earner (art. D843-2 CSS): linear between the two thresholds in
/// SMIC hours, then flat at its maximum.
pub(crate) fn ppa_bonification(
    p: &crate::domain::bareme::PpaParams,
    smic_horaire_brut: f64,
    activite: f64,
) -> f64 {
    let low = p.bonification_seuil_bas_heures * smic_horaire_brut;
    let high = p.bonification_seuil_haut_heures * smic_horaire_brut;
    let share = ((activite - low) / (high - low)).clamp(0.0, 1.0);
    share * p.bonification_taux_max * p.montant_forfaitaire
}

/// One month of the PPA reference quarter, as [`ppa`] computes it: every figure of the
/// month's formula, so that the average can be shown and redone month by month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PpaMonthFigures {
    pub month: Month,
    pub montant_forfaitaire: f64,
    /// Activity income of the unit's adults in the month.
    pub revenus_activite: f64,
    pub part_revenus_activite: f64,
    pub bonifications: f64,
    /// Every resource of the month: activity and other income, counted benefits, ASPA due.
    pub ressources: f64,
    pub forfait_logement: f64,
    /// The month's amount: montant forfaitaire + part + bonuses − the larger of the montant
    /// forfaitaire and resources + forfait logement, 0 when negative.
    pub montant: f64,
}

/// Calls `each` with every month of the PPA reference quarter (art. L842-3 CSS), each with
/// that month's parameters (forfait logement included); the quarter's averages when the
/// situation has no months.
pub fn ppa_months(
    b: &Bareme,
    s: &Situation,
    aspa_due: f64,
    mut each: impl FnMut(PpaMonthFigures, bool),
) {
    let averaged;
    let months: &[PpaMonth] = if s.ppa_months.is_empty() {
        averaged = [PpaMonth {
            params: PpaMonthParams {
                month: b.month,
                ppa: b.ppa.clone(),
                smic_horaire_brut: b.smic_horaire_brut,
            },
            activite: [
                s.demandeur.activite,
                s.conjoint.as_ref().map_or(0.0, |c| c.activite),
            ],
            autres: s.adults().map(|m| m.autres).sum(),
        }];
        &averaged
    } else {
        &s.ppa_months
    };
    for m in months {
        let p = &m.params.ppa;
        let (mf, majoration) = montant_forfaitaire(b, s, p.montant_forfaitaire);
        let activite: f64 = m.activite.iter().sum();
        let part = p.taux_revenus_activite * activite;
        let bonus: f64 = m
            .activite
            .iter()
            .map(|a| ppa_bonification(p, m.params.smic_horaire_brut, *a))
            .sum();
        let ressources = activite + m.autres + s.prestations_comptees + aspa_due;
        let fl = forfait_logement(b, s, p.montant_forfaitaire);
        each(
            PpaMonthFigures {
                month: m.params.month,
                montant_forfaitaire: mf,
                revenus_activite: activite,
                part_revenus_activite: part,
                bonifications: bonus,
                ressources,
                forfait_logement: fl,
                montant: (mf + part + bonus - mf.max(ressources + fl)).max(0.0),
            },
            majoration,
        );
    }
}

/// Prime d'activité (art. L842-3 CSS): montant forfaitaire + share of activity income +
/// bonuses − max(montant forfaitaire, resources + forfait logement), computed for each month
/// of the reference quarter with that month's parameters ([`ppa_months`]) and averaged.
/// From age 18, with activity income.
pub fn ppa(b: &Bareme, s: &Situation, aspa_due: f64) -> PpaEstimate {
    let mut n = 0.0;
    let (mut mf_sum, mut part_sum, mut bonus_sum, mut res_sum, mut amount_sum) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut fl_sum = 0.0;
    let mut majoration = false;
    ppa_months(b, s, aspa_due, |m, maj| {
        n += 1.0;
        majoration = maj;
        fl_sum += m.forfait_logement;
        mf_sum += m.montant_forfaitaire;
        part_sum += m.part_revenus_activite;
        bonus_sum += m.bonifications;
        res_sum += m.ressources;
        amount_sum += m.montant;
    });
    let calcule = amount_sum / n;
    let activite = s.activity_income();
    let eligible = activite > 0.0 && s.adults().any(|m| m.age >= 18);
    let atteint = calcule >= b.foyer.minimum_verse_ppa;
    PpaEstimate {
        taille_foyer: s.household_size(),
        majoration_isolement: majoration,
        montant_forfaitaire: mf_sum / n,
        revenus_activite: activite,
        part_revenus_activite: part_sum / n,
        bonifications: bonus_sum / n,
        ressources: res_sum / n,
        forfait_logement: fl_sum / n,
        montant_calcule: calcule,
        atteint_minimum: atteint,
        montant: if atteint && eligible { calcule } else { 0.0 },
    }
}

/// All three estimates for a household, ASPA first since RSA and PPA count it as a resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimates {
    pub aspa: AspaEstimate,
    pub rsa: RsaEstimate,
    pub ppa: PpaEstimate,
}

pub fn estimate(b: &Bareme, s: &Situation) -> Estimates {
    let aspa = aspa(b, s);
    let rsa = rsa(b, s, aspa.montant);
    let ppa = ppa(b, s, aspa.montant);
    Estimates { aspa, rsa, ppa }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bareme::Baremes;
    use crate::domain::month::Month;
    use std::path::Path;

    fn bareme(month: &str) -> Bareme {
        Baremes::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/baremes.toml"))
            .unwrap()
            .in_force(Month::parse(month).unwrap())
            .unwrap()
    }

    fn adult(age: i32, activite: f64, autres: f64) -> MemberResources {
        MemberResources {
            age,
            activite,
            autres,
            ressources_aspa: activite + autres,
        }
    }

    fn single(m: MemberResources) -> Situation {
        Situation {
            demandeur: m,
            conjoint: None,
            enfants: vec![],
            statut: Some(Statut::LocatairePrive),
            aide_logement: 0.0,
            prestations_comptees: 0.0,
            ppa_months: vec![],
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 0.01, "{a} != {b}");
    }

    #[test]
    fn domain_reference_values_2025_09() {
        let b = bareme("2025-09");
        close(
            estimate(&b, &single(adult(40, 0.0, 0.0))).rsa.montant,
            646.52,
        );
        close(
            estimate(&b, &single(adult(40, 1000.0, 0.0))).ppa.montant,
            307.76,
        );
        // OpenFisca gives 434.29 through float32 rounding.
        close(
            estimate(&b, &single(adult(70, 0.0, 600.0))).aspa.montant,
            434.28,
        );
    }

    #[test]
    fn household_scale_by_adults_and_children() {
        let b = bareme("2025-09");
        // (adults, children, rate): +50 % second person, +30 % further persons, +40 % from
        // the third child (OpenFisca-France agrees: fixture cases single_parent).
        for (a, c, rate) in [
            (1, 0, 1.0),
            (2, 0, 1.5),
            (1, 1, 1.5),
            (2, 1, 1.8),
            (1, 2, 1.8),
            (2, 2, 2.1),
            (1, 3, 2.2),
            (2, 3, 2.5),
            (1, 4, 2.6),
            (2, 4, 2.9),
        ] {
            assert!(
                (household_rate(&b, a, c) - rate).abs() < 1e-12,
                "{a} adults, {c} children"
            );
        }
        // Couple with two children, no income, private tenant without housing aid.
        let mut s = single(adult(35, 0.0, 0.0));
        s.conjoint = Some(adult(34, 0.0, 0.0));
        s.enfants = vec![5, 8];
        close(rsa(&b, &s, 0.0).montant, 646.52 * 2.1);
    }

    #[test]
    fn isolated_parent_majoration_while_youngest_under_three() {
        let b = bareme("2025-09");
        let mut s = single(adult(28, 0.0, 0.0));
        s.enfants = vec![1];
        close(rsa(&b, &s, 0.0).montant, 646.52 * (1.28412 + 0.42804));
        s.enfants = vec![4];
        close(rsa(&b, &s, 0.0).montant, 646.52 * 1.5);
    }

    #[test]
    fn forfait_logement_and_housing_aid() {
        let b = bareme("2025-09");
        let mut s = single(adult(40, 0.0, 0.0));
        s.statut = Some(Statut::Proprietaire);
        close(rsa(&b, &s, 0.0).forfait_logement, 0.12 * 646.52);
        s.statut = Some(Statut::LocatairePrive);
        s.aide_logement = 50.0;
        close(rsa(&b, &s, 0.0).forfait_logement, 50.0);
        s.conjoint = Some(adult(40, 0.0, 0.0));
        s.aide_logement = 300.0;
        close(rsa(&b, &s, 0.0).forfait_logement, 0.16 * 646.52 * 1.5);
    }

    #[test]
    fn revaluation_month_changes_the_amount() {
        let s = single(adult(40, 0.0, 0.0));
        close(rsa(&bareme("2025-03"), &s, 0.0).montant, 635.71);
        close(rsa(&bareme("2025-04"), &s, 0.0).montant, 646.52);
    }

    #[test]
    fn aspa_couples() {
        let b = bareme("2025-09");
        let mut s = single(adult(70, 0.0, 500.0));
        s.conjoint = Some(adult(68, 0.0, 300.0));
        let e = aspa(&b, &s);
        assert_eq!(e.nb_eligibles, 2);
        close(e.montant, 1605.73 - 800.0);
        // One member under 65: couple ceiling, single maximum.
        s.conjoint = Some(adult(60, 0.0, 0.0));
        s.demandeur = adult(70, 0.0, 100.0);
        close(aspa(&b, &s).montant, 1034.28);
        s.demandeur = adult(70, 0.0, 800.0);
        close(aspa(&b, &s).montant, 1605.73 - 800.0);
    }

    #[test]
    fn minimum_paid_thresholds() {
        let b = bareme("2025-09");
        // RSA of 5 € is not paid; PPA under 15 € is not paid.
        let r = rsa(&b, &single(adult(40, 0.0, 646.52 - 5.0)), 0.0);
        assert!(!r.atteint_minimum && r.montant == 0.0);
        let r = rsa(&b, &single(adult(40, 0.0, 646.52 - 7.0)), 0.0);
        close(r.montant, 7.0);
        let young = rsa(&b, &single(adult(22, 0.0, 0.0)), 0.0);
        assert!(!young.age_ok && young.montant == 0.0);
    }
}
