//! The `features` stage: one row per person and benefit in the scoring population (people
//! who pass the benefit's legal pre-filters and do not receive it), with the features of
//! the dictionary below. Each feature is one entry of [`DICTIONARY`]: its name, meaning,
//! sources, transformation, one-hot group, protection, the benefits whose model may use it,
//! the plain-French reason shown to a caisse when it pushes a score up, and the function
//! that computes it. The dictionary is printed in the model card.

use rustc_hash::FxHashMap as HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::domain::entitlement::Statut;
use crate::domain::month::Month;
use crate::error::{RecoursError, Result};
use crate::stages::eligibility::estimate::NON_SALARIED_REGIMES;
use crate::tables::eligibility::EligibilityRow;
use crate::tables::extracts::Extracts;
use crate::tables::features::{ColumnsBuilder, FeatureTable};
use crate::tables::households::{HISTORY, Households, Person};

/// Why a feature is protected: used for fairness audits, a model feature only when the
/// configuration allows it explicitly (and the model card then says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Protected {
    No,
    Age,
    Disability,
}

/// The benefits whose model may use a feature (a set of [`crate::domain::contract::SCORED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Benefits(u8);

impl Benefits {
    pub const PPA: Benefits = Benefits(1);
    pub const RSA: Benefits = Benefits(2);
    pub const ASPA: Benefits = Benefits(4);
    pub(crate) const ALL: Benefits = Benefits(7);
    pub(crate) const RSA_PPA: Benefits = Benefits(3);

    pub fn applies(self, prestation: &str) -> bool {
        let bit = match prestation {
            "PPA" => 1,
            "RSA" => 2,
            "ASPA" => 4,
            _ => 0,
        };
        self.0 & bit != 0
    }

    /// The benefits' codes, in `SCORED` order.
    pub fn codes(self) -> Vec<&'static str> {
        crate::domain::contract::SCORED
            .iter()
            .copied()
            .filter(|b| self.applies(b))
            .collect()
    }
}

impl Serialize for Benefits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.codes().serialize(s)
    }
}

/// What a feature's compute function sees of one row: the eligibility estimate, the
/// person, the members of their benefit unit, the unit's wages and contact signals.
pub(crate) struct FeatureInput<'a> {
    pub row: &'a EligibilityRow,
    pub run: Month,
    pub person: &'a Person,
    /// Adults of the row's benefit unit (the demandeur and conjoint, or a hosted adult).
    pub unit: Vec<&'a Person>,
    /// Ages of the unit's dependent children.
    pub children: Vec<i32>,
    pub statut: Option<Statut>,
    /// The unit is a hosted adult's (see [`crate::tables::households::is_hosted`]).
    pub hosted: bool,
    /// The unit's monthly wages, M-12..M-1.
    pub wages: [f64; HISTORY],
    /// Online account used, digital channel known (any caisse).
    pub online: bool,
    pub digital: bool,
}

impl FeatureInput<'_> {
    fn age(&self) -> i32 {
        self.person.age
    }
    fn age_in(&self, lo: i32, hi: i32) -> f64 {
        flag(self.age() >= lo && self.age() <= hi)
    }
    fn statut_is(&self, s: Option<Statut>) -> f64 {
        flag(self.statut == s)
    }
    /// The unit's average monthly amount of one resource nature over 12 months.
    fn nature_mean(&self, nature: &str) -> f64 {
        let by_month: [f64; HISTORY] =
            std::array::from_fn(|k| self.unit.iter().map(|p| p.nature(nature)[k]).sum());
        mean(&by_month)
    }
    fn wages_mean(&self) -> f64 {
        mean(&self.wages)
    }
    /// The unit's average monthly wages over months M-`from`..M-`to` (1 ≤ to ≤ from ≤ 12).
    fn wages_between(&self, from: usize, to: usize) -> f64 {
        mean(&self.wages[HISTORY - from..=HISTORY - to])
    }
    fn wages_volatility(&self) -> f64 {
        let m = self.wages_mean();
        if m <= 0.0 {
            return 0.0;
        }
        let var = self.wages.iter().map(|w| (w - m).powi(2)).sum::<f64>() / HISTORY as f64;
        var.sqrt() / m
    }
    fn holds(&self, prestation: &str) -> bool {
        self.unit.iter().any(|p| p.receives(prestation, self.run))
    }
    /// A right of the unit to `prestation` ended within the last `months` months and is not
    /// held now.
    fn ended_within(&self, prestation: &str, months: i32) -> bool {
        self.unit.iter().any(|p| {
            p.droits.iter().any(|d| {
                d.prestation == prestation
                    && d.fin
                        .is_some_and(|f| f < self.run && f >= self.run.plus(-months))
            }) && !p.receives(prestation, self.run)
        })
    }
    /// A right of the unit to `prestation` that is held now started within the last
    /// `months` months.
    fn started_within(&self, prestation: &str, months: i32) -> bool {
        self.unit.iter().any(|p| {
            p.droits.iter().any(|d| {
                d.prestation == prestation
                    && d.covers(self.run)
                    && d.debut >= self.run.plus(-months)
            })
        })
    }
    /// A couple whose rights show a separation: ASF (paid to a lone parent only) or housing
    /// aid opened in the last 6 months.
    fn separation_signal(&self) -> bool {
        self.row.couple && (self.holds("ASF") || self.started_within("AL", 6))
    }
    /// The unit receives the other household benefit (PPA for an RSA row, RSA for a PPA row).
    fn other_paid(&self) -> bool {
        match self.row.prestation {
            "RSA" => self.holds("PPA"),
            "PPA" => self.holds("RSA"),
            _ => false,
        }
    }
    fn rights_held(&self) -> f64 {
        let mut held: Vec<&str> = self
            .unit
            .iter()
            .flat_map(|p| p.droits.iter().filter(|d| d.covers(self.run)))
            .map(|d| d.prestation)
            .collect();
        held.sort_unstable();
        held.dedup();
        held.len() as f64
    }
    fn regime_is(&self, regime: &str) -> f64 {
        flag(self.person.regime == regime)
    }
    fn non_salaried(&self) -> bool {
        self.unit
            .iter()
            .any(|p| NON_SALARIED_REGIMES.contains(&p.regime))
    }
    fn montant(&self) -> f64 {
        self.row.montant_estime
    }
    fn log_montant(&self) -> f64 {
        self.montant().max(0.0).ln_1p()
    }
    /// Ceiling of the complémentaire santé solidaire with a contribution for the unit's
    /// size (monthly; 13 724 € a year for one person in 2025, ×1.5 for two, ×1.8 for three,
    /// ×2.1 for four, +0.4 per further person).
    fn plafond_css(&self) -> f64 {
        let n = f64::from(self.row.taille_foyer.max(1));
        let scale = match n as u32 {
            1 => 1.0,
            2 => 1.5,
            3 => 1.8,
            _ => 2.1 + 0.4 * (n - 4.0),
        };
        13_724.0 / 12.0 * scale
    }
    fn marge(&self) -> f64 {
        self.row.montant_forfaitaire - self.row.ressources - self.row.forfait_logement
    }
}

fn flag(x: bool) -> f64 {
    f64::from(u8::from(x))
}

fn within(x: f64, lo: f64, hi: f64) -> f64 {
    flag(x >= lo && x < hi)
}

/// One feature: everything about it in one place.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct FeatureDef {
    pub name: &'static str,
    pub meaning: &'static str,
    pub sources: &'static str,
    pub transform: &'static str,
    /// One-hot group: when a group's levels add up to 1 on every training row, training
    /// drops its most frequent level as the reference.
    pub group: Option<&'static str>,
    pub protected: Protected,
    /// The benefits whose model may use it.
    pub benefits: Benefits,
    /// An interaction: it enters a model only when cross-validation retains it.
    pub interaction: bool,
    /// Reason shown when the feature raises the score through a high value…
    pub reason_high: &'static str,
    /// …and through a low value.
    pub reason_low: &'static str,
    #[serde(skip)]
    pub compute: fn(&FeatureInput) -> f64,
}

impl FeatureDef {
    const fn protected(self, protected: Protected) -> FeatureDef {
        FeatureDef { protected, ..self }
    }
    const fn only(self, benefits: Benefits) -> FeatureDef {
        FeatureDef { benefits, ..self }
    }
    const fn candidate(self) -> FeatureDef {
        FeatureDef {
            interaction: true,
            ..self
        }
    }
}

const fn def(
    name: &'static str,
    meaning: &'static str,
    sources: &'static str,
    transform: &'static str,
    reason_high: &'static str,
    reason_low: &'static str,
    compute: fn(&FeatureInput) -> f64,
) -> FeatureDef {
    FeatureDef {
        name,
        meaning,
        sources,
        transform,
        group: None,
        protected: Protected::No,
        benefits: Benefits::ALL,
        interaction: false,
        reason_high,
        reason_low,
        compute,
    }
}

/// A yes/no feature whose reason is shown when it is true.
const fn yes(
    name: &'static str,
    meaning: &'static str,
    sources: &'static str,
    reason: &'static str,
    compute: fn(&FeatureInput) -> f64,
) -> FeatureDef {
    def(
        name,
        meaning,
        sources,
        "1 si vrai, sinon 0",
        reason,
        "",
        compute,
    )
}

/// A level of a one-hot group.
const fn level(
    name: &'static str,
    group: &'static str,
    meaning: &'static str,
    sources: &'static str,
    reason: &'static str,
    compute: fn(&FeatureInput) -> f64,
) -> FeatureDef {
    FeatureDef {
        group: Some(group),
        ..def(
            name,
            meaning,
            sources,
            "1 si vrai, sinon 0",
            reason,
            "",
            compute,
        )
    }
}

const NAISSANCE: &str = "personnes.naissance";
const ELIG: &str = "eligibility";
const SALAIRES: &str = "ressources (salaire)";

/// The feature dictionary. `sexe` is never a feature and is not listed.
pub(crate) const DICTIONARY: &[FeatureDef] = &[
    def(
        "age",
        "âge de la personne en années révolues au mois de référence",
        NAISSANCE,
        "années",
        "âge avancé",
        "jeune âge",
        |c| c.age() as f64,
    )
    .protected(Protected::Age),
    level("age_moins_25", "tranche_age", "moins de 25 ans", NAISSANCE, "moins de 25 ans", |c| {
        c.age_in(0, 24)
    })
    .protected(Protected::Age),
    level("age_25_29", "tranche_age", "25 à 29 ans", NAISSANCE, "25 à 29 ans", |c| {
        c.age_in(25, 29)
    })
    .protected(Protected::Age),
    level("age_30_39", "tranche_age", "30 à 39 ans", NAISSANCE, "30 à 39 ans", |c| {
        c.age_in(30, 39)
    })
    .protected(Protected::Age),
    level("age_40_49", "tranche_age", "40 à 49 ans", NAISSANCE, "40 à 49 ans", |c| {
        c.age_in(40, 49)
    })
    .protected(Protected::Age),
    level("age_50_59", "tranche_age", "50 à 59 ans", NAISSANCE, "50 à 59 ans", |c| {
        c.age_in(50, 59)
    })
    .protected(Protected::Age),
    level("age_60_64", "tranche_age", "60 à 64 ans", NAISSANCE, "60 à 64 ans", |c| {
        c.age_in(60, 64)
    })
    .protected(Protected::Age),
    level("age_65_69", "tranche_age", "65 à 69 ans", NAISSANCE, "65 à 69 ans", |c| {
        c.age_in(65, 69)
    })
    .protected(Protected::Age),
    level("age_70_74", "tranche_age", "70 à 74 ans", NAISSANCE, "70 à 74 ans", |c| {
        c.age_in(70, 74)
    })
    .protected(Protected::Age),
    level("age_75_84", "tranche_age", "75 à 84 ans", NAISSANCE, "75 à 84 ans", |c| {
        c.age_in(75, 84)
    })
    .protected(Protected::Age),
    level("age_85_plus", "tranche_age", "85 ans ou plus", NAISSANCE, "85 ans ou plus", |c| {
        c.age_in(85, 200)
    })
    .protected(Protected::Age),
    def(
        "couple",
        "la personne vit en couple",
        "foyers.role",
        "1 si conjoint, sinon 0",
        "vit en couple",
        "vit sans conjoint",
        |c| flag(c.row.couple),
    ),
    def(
        "nb_enfants",
        "enfants à charge (moins de 25 ans) dans le foyer",
        "foyers.role, personnes.naissance",
        "nombre",
        "enfants à charge",
        "sans enfant à charge",
        |c| c.children.len() as f64,
    ),
    def(
        "taille_foyer",
        "personnes du foyer (adultes et enfants à charge)",
        "foyers",
        "nombre",
        "foyer nombreux",
        "foyer d'une personne",
        |c| f64::from(c.row.taille_foyer),
    ),
    yes(
        "parent_isole",
        "adulte seul avec enfants à charge",
        "foyers",
        "parent isolé",
        |c| flag(!c.row.couple && !c.children.is_empty()),
    ),
    yes(
        "enfant_moins_3_ans",
        "plus jeune enfant de moins de 3 ans",
        "foyers, personnes.naissance",
        "jeune enfant de moins de 3 ans",
        |c| flag(c.children.iter().any(|a| *a < 3)),
    ),
    yes(
        "naissance_recente",
        "naissance d'un enfant dans les 12 derniers mois (événement de vie)",
        "foyers, personnes.naissance",
        "naissance récente",
        |c| flag(c.children.contains(&0)),
    ),
    level(
        "logement_proprietaire",
        "logement",
        Statut::Proprietaire.label(),
        "logements.statut",
        Statut::Proprietaire.label(),
        |c| c.statut_is(Some(Statut::Proprietaire)),
    ),
    level(
        "logement_locataire_prive",
        "logement",
        Statut::LocatairePrive.label(),
        "logements.statut",
        Statut::LocatairePrive.label(),
        |c| c.statut_is(Some(Statut::LocatairePrive)),
    ),
    level(
        "logement_locataire_hlm",
        "logement",
        Statut::LocataireHlm.label(),
        "logements.statut",
        "locataire HLM",
        |c| c.statut_is(Some(Statut::LocataireHlm)),
    ),
    level(
        "logement_heberge_gratuit",
        "logement",
        "hébergé gratuitement (par son foyer d'accueil pour un adulte hébergé)",
        "logements.statut, foyers.role",
        Statut::HebergeGratuit.label(),
        |c| c.statut_is(Some(Statut::HebergeGratuit)),
    ),
    level(
        "logement_sans_domicile",
        "logement",
        Statut::SansDomicile.label(),
        "logements.statut",
        Statut::SansDomicile.label(),
        |c| c.statut_is(Some(Statut::SansDomicile)),
    ),
    level(
        "logement_inconnu",
        "logement",
        "logement inconnu (pas de ligne logements)",
        "logements",
        Statut::UNKNOWN_LABEL,
        |c| c.statut_is(None),
    ),
    def(
        "revenus_activite_12m",
        "salaires mensuels moyens du foyer sur les 12 derniers mois",
        SALAIRES,
        "euros par mois",
        "revenus d'activité élevés",
        "revenus d'activité faibles",
        |c| c.wages_mean(),
    ),
    def(
        "revenus_activite_trimestre",
        "salaires mensuels moyens du foyer sur le trimestre de référence",
        SALAIRES,
        "euros par mois",
        "revenus d'activité récents élevés",
        "revenus d'activité récents faibles",
        |c| c.row.revenus_activite,
    ),
    def(
        "volatilite_revenus",
        "irrégularité des salaires mensuels du foyer sur 12 mois (coefficient de variation)",
        SALAIRES,
        "écart-type / moyenne, 0 sans salaire",
        "revenus d'activité irréguliers",
        "revenus d'activité stables",
        |c| c.wages_volatility(),
    ),
    def(
        "mois_sans_salaire",
        "mois sans salaire parmi les 12 derniers",
        SALAIRES,
        "nombre de 0 à 12",
        "mois sans salaire",
        "travail régulier",
        |c| c.wages.iter().filter(|w| **w <= 0.0).count() as f64,
    ),
    def(
        "chomage_12m",
        "allocations chômage mensuelles moyennes du foyer sur 12 mois",
        "ressources (chomage)",
        "euros par mois",
        "indemnités chômage",
        "pas d'indemnités chômage",
        |c| c.nature_mean("chomage"),
    ),
    def(
        "retraite_12m",
        "pensions de retraite mensuelles moyennes du foyer sur 12 mois",
        "ressources (retraite)",
        "euros par mois",
        "pension de retraite élevée",
        "petite pension de retraite",
        |c| c.nature_mean("retraite"),
    ),
    def(
        "ij_12m",
        "indemnités journalières maladie mensuelles moyennes du foyer sur 12 mois",
        "ressources (ij)",
        "euros par mois",
        "indemnités journalières maladie",
        "",
        |c| c.nature_mean("ij"),
    ),
    def(
        "invalidite_12m",
        "pension d'invalidité mensuelle moyenne du foyer sur 12 mois",
        "ressources (invalidite)",
        "euros par mois",
        "pension d'invalidité",
        "",
        |c| c.nature_mean("invalidite"),
    ),
    def(
        "droit_al",
        "le foyer perçoit une aide au logement",
        "droits",
        "1 si vrai, sinon 0",
        "perçoit une aide au logement",
        "ne perçoit pas d'aide au logement",
        |c| flag(c.holds("AL")),
    ),
    yes(
        "droit_af",
        "le foyer perçoit des allocations familiales",
        "droits",
        "perçoit des allocations familiales",
        |c| flag(c.holds("AF")),
    ),
    yes(
        "droit_asf",
        "le foyer perçoit l'allocation de soutien familial",
        "droits",
        "perçoit l'allocation de soutien familial",
        |c| flag(c.holds("ASF")),
    ),
    def(
        "droit_css",
        "le foyer bénéficie de la complémentaire santé solidaire",
        "droits",
        "1 si vrai, sinon 0",
        "bénéficie de la complémentaire santé solidaire",
        "sans complémentaire santé solidaire",
        |c| flag(c.holds("CSS")),
    ),
    yes(
        "droit_rsa",
        "le foyer perçoit le RSA",
        "droits (RSA)",
        "perçoit le RSA",
        |c| flag(c.holds("RSA")),
    )
    .only(Benefits(Benefits::PPA.0 | Benefits::ASPA.0)),
    yes(
        "droit_ppa",
        "le foyer perçoit la prime d'activité",
        "droits (PPA)",
        "perçoit la prime d'activité",
        |c| flag(c.holds("PPA")),
    )
    .only(Benefits(Benefits::RSA.0 | Benefits::ASPA.0)),
    yes(
        "droit_aspa",
        "un adulte du foyer perçoit l'ASPA",
        "droits (ASPA)",
        "un membre du foyer perçoit l'ASPA",
        |c| flag(c.holds("ASPA")),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "droit_aah",
        "un membre du foyer perçoit l'allocation aux adultes handicapés",
        "droits",
        "perçoit l'AAH",
        |c| flag(c.holds("AAH")),
    )
    .protected(Protected::Disability),
    yes(
        "droit_are",
        "un membre du foyer est indemnisé par l'assurance chômage",
        "droits",
        "indemnisé par France Travail",
        |c| flag(c.holds("ARE")),
    ),
    yes(
        "droit_ass",
        "un membre du foyer perçoit l'allocation de solidarité spécifique",
        "droits",
        "perçoit l'allocation de solidarité spécifique",
        |c| flag(c.holds("ASS")),
    ),
    yes(
        "droit_retraite",
        "un membre du foyer a un droit à pension de retraite",
        "droits",
        "retraité",
        |c| flag(c.holds("RETRAITE")),
    ),
    yes(
        "droit_invalidite",
        "un membre du foyer a un droit à pension d'invalidité",
        "droits",
        "pension d'invalidité",
        |c| flag(c.holds("INVALIDITE")),
    ),
    yes(
        "fin_droit_meme_prestation",
        "la même prestation a pris fin pour le foyer dans les 12 derniers mois",
        "droits",
        "droit à cette prestation terminé récemment",
        |c| flag(c.ended_within(c.row.prestation, 12)),
    ),
    yes(
        "fin_are_6m",
        "fin des droits au chômage dans les 6 derniers mois (événement de vie)",
        "droits (ARE)",
        "fin de droits au chômage récente",
        |c| flag(c.ended_within("ARE", 6)),
    ),
    yes(
        "atteint_65_ans",
        "a eu 65 ans dans les 12 derniers mois (événement de vie)",
        NAISSANCE,
        "a eu 65 ans cette année",
        |c| flag(c.age() == 65),
    )
    .protected(Protected::Age),
    def(
        "eligible_estime",
        "le calcul à partir des ressources connues estime un droit au moins égal au minimum versé",
        ELIG,
        "1 si le montant estimé est positif, sinon 0",
        "ressources sous le seuil de la prestation",
        "ressources au-dessus du seuil",
        |c| flag(c.montant() > 0.0),
    ),
    def(
        "montant_estime",
        "droit mensuel estimé à partir des ressources connues",
        ELIG,
        "euros par mois",
        "droit estimé élevé",
        "droit estimé faible",
        |c| c.montant(),
    ),
    def(
        "marge_ressources",
        "écart au seuil : montant forfaitaire ou plafond ASPA − ressources − forfait logement",
        ELIG,
        "euros par mois, négatif au-dessus du seuil",
        "ressources sous le plafond",
        "ressources au-dessus du plafond",
        |c| c.marge(),
    ),
    def(
        "espace_en_ligne",
        "a utilisé un espace en ligne dans les 12 derniers mois",
        "contacts",
        "1 si une caisse l'indique, sinon 0",
        "utilise son espace en ligne",
        "n'utilise pas d'espace en ligne",
        |c| flag(c.online),
    ),
    def(
        "canal_numerique_connu",
        "un mobile ou un e-mail est connu d'une caisse",
        "contacts",
        "1 si au moins un, sinon 0",
        "joignable par SMS ou e-mail",
        "pas de mobile ni d'e-mail connu",
        |c| flag(c.digital),
    ),
    // The amount at stake, in bands: claiming falls steeply for small amounts (DREES: 77 %
    // of ASPA non-take-up under 100 €, 22 % at 500–600 €), which a linear term cannot bend.
    level(
        "montant_nul",
        "tranche_montant",
        "aucun droit estimé à partir des ressources connues",
        ELIG,
        "aucun droit estimé sur les ressources connues",
        |c| flag(c.montant() <= 0.0),
    ),
    level(
        "montant_moins_50",
        "tranche_montant",
        "droit estimé de moins de 50 € par mois",
        ELIG,
        "petit droit estimé (moins de 50 €)",
        |c| within(c.montant(), 1e-9, 50.0),
    ),
    level(
        "montant_50_100",
        "tranche_montant",
        "droit estimé de 50 à 100 € par mois",
        ELIG,
        "droit estimé de 50 à 100 €",
        |c| within(c.montant(), 50.0, 100.0),
    ),
    level(
        "montant_100_200",
        "tranche_montant",
        "droit estimé de 100 à 200 € par mois",
        ELIG,
        "droit estimé de 100 à 200 €",
        |c| within(c.montant(), 100.0, 200.0),
    ),
    level(
        "montant_200_350",
        "tranche_montant",
        "droit estimé de 200 à 350 € par mois",
        ELIG,
        "droit estimé de 200 à 350 €",
        |c| within(c.montant(), 200.0, 350.0),
    ),
    level(
        "montant_350_500",
        "tranche_montant",
        "droit estimé de 350 à 500 € par mois",
        ELIG,
        "droit estimé de 350 à 500 €",
        |c| within(c.montant(), 350.0, 500.0),
    ),
    level(
        "montant_500_plus",
        "tranche_montant",
        "droit estimé de 500 € par mois ou plus",
        ELIG,
        "droit estimé de 500 € ou plus",
        |c| flag(c.montant() >= 500.0),
    ),
    def(
        "log_montant_estime",
        "logarithme du droit mensuel estimé plus un euro",
        ELIG,
        "ln(1 + euros par mois)",
        "droit estimé élevé",
        "droit estimé faible",
        |c| c.montant().max(0.0).ln_1p(),
    ),
    // The distance to the threshold, in bands: a household just above it may be entitled
    // through a resource BRM overstates, one far above it rarely is.
    level(
        "marge_moins_300",
        "tranche_marge",
        "ressources connues dépassant le seuil de plus de 300 €",
        ELIG,
        "ressources nettement au-dessus du seuil",
        |c| flag(c.marge() < -300.0),
    ),
    level(
        "marge_300_100",
        "tranche_marge",
        "ressources connues dépassant le seuil de 100 à 300 €",
        ELIG,
        "ressources au-dessus du seuil de 100 à 300 €",
        |c| within(c.marge(), -300.0, -100.0),
    ),
    level(
        "marge_100_0",
        "tranche_marge",
        "ressources connues dépassant le seuil de moins de 100 €",
        ELIG,
        "ressources juste au-dessus du seuil",
        |c| within(c.marge(), -100.0, 0.0),
    ),
    level(
        "marge_0_150",
        "tranche_marge",
        "ressources connues sous le seuil de moins de 150 €",
        ELIG,
        "ressources juste sous le seuil",
        |c| within(c.marge(), 0.0, 150.0),
    ),
    level(
        "marge_150_400",
        "tranche_marge",
        "ressources connues sous le seuil de 150 à 400 €",
        ELIG,
        "ressources sous le seuil de 150 à 400 €",
        |c| within(c.marge(), 150.0, 400.0),
    ),
    level(
        "marge_400_plus",
        "tranche_marge",
        "ressources connues sous le seuil de 400 € ou plus",
        ELIG,
        "ressources très en dessous du seuil",
        |c| flag(c.marge() >= 400.0),
    ),
    // Activity income in bands (RSA and PPA): the PPA rises then falls with earnings.
    level(
        "salaire_nul",
        "tranche_salaire",
        "aucun salaire sur le trimestre de référence",
        SALAIRES,
        "aucun salaire récent connu",
        |c| flag(c.row.revenus_activite <= 0.0),
    )
    .only(Benefits::RSA_PPA),
    level(
        "salaire_moins_500",
        "tranche_salaire",
        "salaires du foyer de moins de 500 € par mois sur le trimestre",
        SALAIRES,
        "petits salaires (moins de 500 €)",
        |c| within(c.row.revenus_activite, 1e-9, 500.0),
    )
    .only(Benefits::RSA_PPA),
    level(
        "salaire_500_1000",
        "tranche_salaire",
        "salaires du foyer de 500 à 1 000 € par mois sur le trimestre",
        SALAIRES,
        "salaires de 500 à 1 000 €",
        |c| within(c.row.revenus_activite, 500.0, 1000.0),
    )
    .only(Benefits::RSA_PPA),
    level(
        "salaire_1000_1500",
        "tranche_salaire",
        "salaires du foyer de 1 000 à 1 500 € par mois sur le trimestre",
        SALAIRES,
        "salaires de 1 000 à 1 500 €",
        |c| within(c.row.revenus_activite, 1000.0, 1500.0),
    )
    .only(Benefits::RSA_PPA),
    level(
        "salaire_1500_2000",
        "tranche_salaire",
        "salaires du foyer de 1 500 à 2 000 € par mois sur le trimestre",
        SALAIRES,
        "salaires de 1 500 à 2 000 €",
        |c| within(c.row.revenus_activite, 1500.0, 2000.0),
    )
    .only(Benefits::RSA_PPA),
    level(
        "salaire_2000_plus",
        "tranche_salaire",
        "salaires du foyer de 2 000 € par mois ou plus sur le trimestre",
        SALAIRES,
        "salaires de 2 000 € ou plus",
        |c| flag(c.row.revenus_activite >= 2000.0),
    )
    .only(Benefits::RSA_PPA),
    // Pensions in bands (ASPA): small pensions are the ASPA's core population.
    level(
        "retraite_nulle",
        "tranche_retraite",
        "aucune pension de retraite connue",
        "ressources (retraite)",
        "aucune pension de retraite connue",
        |c| flag(c.nature_mean("retraite") <= 0.0),
    )
    .only(Benefits::ASPA),
    level(
        "retraite_moins_300",
        "tranche_retraite",
        "pensions de retraite du foyer de moins de 300 € par mois",
        "ressources (retraite)",
        "très petite pension (moins de 300 €)",
        |c| within(c.nature_mean("retraite"), 1e-9, 300.0),
    )
    .only(Benefits::ASPA),
    level(
        "retraite_300_600",
        "tranche_retraite",
        "pensions de retraite du foyer de 300 à 600 € par mois",
        "ressources (retraite)",
        "petite pension (300 à 600 €)",
        |c| within(c.nature_mean("retraite"), 300.0, 600.0),
    )
    .only(Benefits::ASPA),
    level(
        "retraite_600_900",
        "tranche_retraite",
        "pensions de retraite du foyer de 600 à 900 € par mois",
        "ressources (retraite)",
        "pension de 600 à 900 €",
        |c| within(c.nature_mean("retraite"), 600.0, 900.0),
    )
    .only(Benefits::ASPA),
    level(
        "retraite_900_plus",
        "tranche_retraite",
        "pensions de retraite du foyer de 900 € par mois ou plus",
        "ressources (retraite)",
        "pension de 900 € ou plus",
        |c| flag(c.nature_mean("retraite") >= 900.0),
    )
    .only(Benefits::ASPA),
    // Who the unit is.
    yes(
        "adulte_heberge",
        "adulte hébergé par un autre foyer (autre adulte, ou enfant de 25 ans ou plus) : un foyer à lui seul pour le RSA et la prime d'activité",
        "foyers.role, personnes.naissance",
        "adulte hébergé par un proche",
        |c| flag(c.hosted),
    ),
    yes(
        "couple_sans_enfant",
        "couple sans enfant à charge",
        "foyers",
        "couple sans enfant",
        |c| flag(c.row.couple && c.children.is_empty()),
    )
    .only(Benefits::RSA_PPA),
    level(
        "regime_general",
        "regime",
        "régime général",
        "personnes.regime",
        "régime général",
        |c| c.regime_is("general"),
    ),
    level(
        "regime_agricole",
        "regime",
        "régime agricole (MSA)",
        "personnes.regime",
        "régime agricole",
        |c| c.regime_is("agricole"),
    ),
    level(
        "regime_independant",
        "regime",
        "travailleur indépendant",
        "personnes.regime",
        "travailleur indépendant",
        |c| c.regime_is("independant"),
    ),
    yes(
        "non_salarie_sans_salaire",
        "un adulte non salarié (indépendant ou agricole) dont aucun salaire n'est connu sur 12 mois : revenus d'activité invisibles dans BRM",
        "personnes.regime, ressources (salaire)",
        "revenus d'activité non salariés non connus",
        |c| flag(c.non_salaried() && c.wages_mean() <= 0.0),
    )
    .only(Benefits::RSA_PPA),
    // Life events (DREES, IGAS: rights opened by an event people do not know of yet).
    yes(
        "perte_emploi_recente",
        "salaires il y a 7 à 12 mois, aucun sur les 3 derniers mois (événement de vie)",
        SALAIRES,
        "perte d'emploi récente",
        |c| flag(c.wages_between(12, 7) > 0.0 && c.wages_between(3, 1) <= 0.0),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "reprise_emploi_recente",
        "aucun salaire il y a 7 à 12 mois, des salaires sur les 3 derniers mois (événement de vie)",
        SALAIRES,
        "reprise d'emploi récente",
        |c| flag(c.wages_between(12, 7) <= 0.0 && c.wages_between(3, 1) > 0.0),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "baisse_salaires",
        "salaires des 3 derniers mois inférieurs de moitié à ceux d'il y a 7 à 12 mois",
        SALAIRES,
        "baisse récente des salaires",
        |c| {
            let before = c.wages_between(12, 7);
            flag(before > 0.0 && c.wages_between(3, 1) < 0.5 * before)
        },
    )
    .only(Benefits::RSA_PPA),
    yes(
        "debut_al_6m",
        "aide au logement ouverte dans les 6 derniers mois (déménagement, séparation)",
        "droits (AL)",
        "aide au logement ouverte récemment",
        |c| flag(c.started_within("AL", 6)),
    ),
    yes(
        "debut_asf_12m",
        "allocation de soutien familial ouverte dans les 12 derniers mois (séparation)",
        "droits (ASF)",
        "séparation récente (soutien familial ouvert)",
        |c| flag(c.started_within("ASF", 12)),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "debut_retraite_12m",
        "pension de retraite ouverte dans les 12 derniers mois (départ à la retraite)",
        "droits (RETRAITE)",
        "départ à la retraite récent",
        |c| flag(c.started_within("RETRAITE", 12)),
    )
    .only(Benefits::ASPA),
    yes(
        "fin_rsa_12m",
        "un droit au RSA a pris fin dans les 12 derniers mois",
        "droits (RSA)",
        "RSA terminé récemment",
        |c| flag(c.ended_within("RSA", 12)),
    ),
    yes(
        "fin_ppa_12m",
        "un droit à la prime d'activité a pris fin dans les 12 derniers mois",
        "droits (PPA)",
        "prime d'activité terminée récemment",
        |c| flag(c.ended_within("PPA", 12)),
    ),
    def(
        "nb_droits",
        "nombre de prestations différentes perçues par le foyer (contact avec les caisses)",
        "droits",
        "nombre",
        "déjà en contact avec plusieurs caisses",
        "peu ou pas de prestations perçues",
        |c| c.rights_held(),
    ),
    yes(
        "locataire_sans_al",
        "locataire sans aide au logement (aucun contact avec la CAF pour le logement)",
        "logements.statut, droits (AL)",
        "locataire sans aide au logement",
        |c| {
            flag(
                matches!(c.statut, Some(Statut::LocatairePrive | Statut::LocataireHlm))
                    && !c.holds("AL"),
            )
        },
    ),
    // What the RSA or the PPA the unit is paid tells about its resources: the paying caisse
    // knows the quarterly resources declared, BRM may miss some (self-employment income,
    // alimony, capital income); eligibility finds the extra resource that explains the amount
    // paid and re-estimates the other benefit with it (eligibility::estimate::revise).
    yes(
        "autre_droit_confirme",
        "le foyer perçoit le RSA ou la prime d'activité au montant calculé sur ses ressources connues : ses ressources connues sont complètes",
        "eligibility, droits (RSA, PPA)",
        "ressources connues confirmées par une prestation versée",
        |c| flag(c.row.ressources_revelees == Some(0.0)),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "droit_revise_positif",
        "droit positif une fois recalculé avec les ressources que révèle le RSA ou la prime d'activité versé au foyer",
        "eligibility, droits (RSA, PPA)",
        "droit confirmé par le montant d'une autre prestation versée",
        |c| flag(c.row.montant_revise.is_some_and(|m| m > 0.0)),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "droit_revise_nul",
        "aucun droit une fois recalculé avec les ressources que révèle le RSA ou la prime d'activité versé au foyer",
        "eligibility, droits (RSA, PPA)",
        "ressources déclarées à la caisse au-dessus du seuil",
        |c| flag(c.row.montant_revise.is_some_and(|m| m <= 0.0)),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "autre_droit_inexplique",
        "le foyer perçoit le RSA ou la prime d'activité à un montant qu'aucune ressource supplémentaire n'explique",
        "eligibility, droits (RSA, PPA)",
        "montant d'une autre prestation versée différent du calcul",
        |c| flag(c.other_paid() && c.row.montant_revise.is_none()),
    )
    .only(Benefits::RSA_PPA),
    def(
        "log_montant_revise",
        "logarithme plus un euro du droit recalculé avec les ressources que révèle le RSA ou la prime d'activité versé au foyer (0 sans cette prestation)",
        "eligibility, droits (RSA, PPA)",
        "ln(1 + euros par mois), 0 sans recalcul",
        "droit recalculé élevé",
        "droit recalculé faible",
        |c| c.row.montant_revise.unwrap_or(0.0).max(0.0).ln_1p(),
    )
    .only(Benefits::RSA_PPA),
    def(
        "log_revenu_non_salarie_limite",
        "logarithme plus un euro du revenu d'activité non salarié (invisible dans BRM) jusqu'auquel le droit reste ouvert, pour un foyer avec un adulte indépendant ou agricole (0 sinon)",
        "eligibility, personnes.regime",
        "ln(1 + euros par mois), 0 sans adulte non salarié",
        "droit ouvert même avec un revenu non salarié élevé",
        "droit fermé dès un petit revenu non salarié",
        |c| c.row.revenu_non_salarie_limite.unwrap_or(0.0).ln_1p(),
    )
    .only(Benefits::RSA_PPA),
    // A separation the household links do not show yet: the ASF goes to a lone parent only,
    // housing aid is often opened on moving out.
    yes(
        "droit_seul_couple",
        "couple à qui le calcul pour le demandeur seul avec les enfants donne un droit : ses propres ressources sont faibles, le droit s'ouvrirait à une séparation que les liens du foyer ne montrent pas encore",
        "eligibility, foyers",
        "droit ouvert pour le demandeur en vivant seul",
        |c| flag(c.row.montant_seul.is_some_and(|m| m > 0.0)),
    )
    .only(Benefits::RSA_PPA),
    yes(
        "droit_seul_sans_droit_couple",
        "couple sans droit estimé sur les ressources du couple, à qui le calcul pour le demandeur seul avec les enfants donne un droit : seule une séparation ouvrirait le droit",
        "eligibility, foyers",
        "aucun droit en couple, un droit en vivant seul",
        |c| flag(c.montant() <= 0.0 && c.row.montant_seul.is_some_and(|m| m > 0.0)),
    )
    .only(Benefits::RSA),
    yes(
        "separation_droit_seul",
        "couple dont les droits montrent une séparation possible (allocation de soutien familial, ou aide au logement ouverte dans les 6 derniers mois) et à qui le calcul pour le demandeur seul donne un droit",
        "eligibility, foyers, droits (ASF, AL)",
        "séparation possible, droit en vivant seul",
        |c| flag(c.separation_signal() && c.row.montant_seul.is_some_and(|m| m > 0.0)),
    )
    .only(Benefits::RSA_PPA),
    def(
        "log_montant_seul_separation",
        "logarithme plus un euro du droit calculé pour le demandeur seul avec les enfants, pour un couple dont les droits montrent une séparation possible (0 sinon)",
        "eligibility, foyers, droits (ASF, AL)",
        "ln(1 + euros par mois) si un signe de séparation, sinon 0",
        "droit élevé en vivant seul après une séparation possible",
        "",
        |c| {
            let seul = c.row.montant_seul.unwrap_or(0.0).max(0.0);
            seul.ln_1p() * flag(c.separation_signal())
        },
    )
    .only(Benefits::RSA_PPA),
    // Interactions with a published meaning.
    yes(
        "hors_ligne_60_plus",
        "60 ans ou plus sans usage d'un espace en ligne (fracture numérique)",
        "personnes.naissance, contacts",
        "60 ans ou plus, sans usage en ligne",
        |c| flag(c.age() >= 60 && !c.online),
    )
    .protected(Protected::Age),
    yes(
        "proprietaire_75_plus",
        "propriétaire de 75 ans ou plus (récupération de l'ASPA sur la succession)",
        "logements.statut, personnes.naissance",
        "propriétaire de 75 ans ou plus",
        |c| flag(c.age() >= 75 && c.statut == Some(Statut::Proprietaire)),
    )
    .protected(Protected::Age)
    .only(Benefits::ASPA),
    yes(
        "petit_montant_hors_ligne",
        "droit estimé de moins de 100 € et pas d'usage d'un espace en ligne",
        "eligibility, contacts",
        "petit droit, sans usage en ligne",
        |c| flag(c.montant() > 0.0 && c.montant() < 100.0 && !c.online),
    ),
    yes(
        "sans_css_sous_plafond",
        "ressources connues sous le plafond de la complémentaire santé solidaire, sans la percevoir",
        "eligibility, droits (CSS)",
        "sans complémentaire santé solidaire malgré de faibles ressources",
        |c| flag(c.row.ressources < c.plafond_css() && !c.holds("CSS")),
    ),
    // Interaction candidates: each enters a model only when cross-validation retains it
    // (models::train::MAX_INTERACTIONS, MIN_GAIN). The estimated amount's weight may differ
    // where BRM misses resources (non-salaried work, alimony) or where claiming is harder.
    def(
        "x_montant_non_salarie",
        "droit estimé (logarithme) chez un non-salarié sans salaire connu",
        "eligibility, personnes.regime, ressources (salaire)",
        "ln(1 + euros par mois) si non-salarié sans salaire, sinon 0",
        "droit estimé élevé malgré des revenus non salariés inconnus",
        "",
        |c| c.log_montant() * flag(c.non_salaried() && c.wages_mean() <= 0.0),
    )
    .only(Benefits::RSA_PPA)
    .candidate(),
    def(
        "x_montant_heberge",
        "droit estimé (logarithme) d'un adulte hébergé",
        "eligibility, foyers.role",
        "ln(1 + euros par mois) si hébergé, sinon 0",
        "droit estimé élevé d'un adulte hébergé",
        "",
        |c| c.log_montant() * flag(c.hosted),
    )
    .candidate(),
    def(
        "x_montant_couple_sans_enfant",
        "droit estimé (logarithme) d'un couple sans enfant",
        "eligibility, foyers",
        "ln(1 + euros par mois) si couple sans enfant, sinon 0",
        "droit estimé élevé d'un couple sans enfant",
        "",
        |c| c.log_montant() * flag(c.row.couple && c.children.is_empty()),
    )
    .only(Benefits::RSA_PPA)
    .candidate(),
    def(
        "x_montant_parent_isole",
        "droit estimé (logarithme) d'un parent isolé",
        "eligibility, foyers",
        "ln(1 + euros par mois) si parent isolé, sinon 0",
        "droit estimé élevé d'un parent isolé",
        "",
        |c| c.log_montant() * flag(!c.row.couple && !c.children.is_empty()),
    )
    .only(Benefits::RSA_PPA)
    .candidate(),
    def(
        "x_montant_proprietaire",
        "droit estimé (logarithme) d'un propriétaire de son logement",
        "eligibility, logements.statut",
        "ln(1 + euros par mois) si propriétaire, sinon 0",
        "droit estimé élevé d'un propriétaire",
        "",
        |c| c.log_montant() * c.statut_is(Some(Statut::Proprietaire)),
    )
    .candidate(),
    def(
        "x_montant_css",
        "droit estimé (logarithme) d'un bénéficiaire de la complémentaire santé solidaire",
        "eligibility, droits (CSS)",
        "ln(1 + euros par mois) si CSS, sinon 0",
        "droit estimé élevé et complémentaire santé solidaire",
        "",
        |c| c.log_montant() * flag(c.holds("CSS")),
    )
    .candidate(),
    def(
        "x_montant_al",
        "droit estimé (logarithme) d'un foyer qui perçoit une aide au logement",
        "eligibility, droits (AL)",
        "ln(1 + euros par mois) si aide au logement, sinon 0",
        "droit estimé élevé et aide au logement",
        "",
        |c| c.log_montant() * flag(c.holds("AL")),
    )
    .candidate(),
    def(
        "x_montant_hors_ligne",
        "droit estimé (logarithme) sans usage d'un espace en ligne",
        "eligibility, contacts",
        "ln(1 + euros par mois) si aucun espace en ligne utilisé, sinon 0",
        "droit estimé élevé, sans usage en ligne",
        "",
        |c| c.log_montant() * flag(!c.online),
    )
    .candidate(),
    def(
        "x_montant_volatilite",
        "droit estimé (logarithme) × irrégularité des salaires",
        "eligibility, ressources (salaire)",
        "ln(1 + euros par mois) × coefficient de variation des salaires",
        "droit estimé élevé et revenus irréguliers",
        "",
        |c| c.log_montant() * c.wages_volatility(),
    )
    .only(Benefits::RSA_PPA)
    .candidate(),
    def(
        "x_montant_age",
        "droit estimé (logarithme) × âge au-delà de 65 ans",
        "eligibility, personnes.naissance",
        "ln(1 + euros par mois) × (âge − 65, au moins 0)",
        "droit estimé élevé à un âge avancé",
        "",
        |c| c.log_montant() * f64::from((c.age() - 65).max(0)),
    )
    .protected(Protected::Age)
    .only(Benefits::ASPA)
    .candidate(),
    yes(
        "x_couple_debut_al",
        "couple dont l'aide au logement vient d'être ouverte (séparation possible)",
        "foyers, droits (AL)",
        "aide au logement ouverte récemment pour un couple",
        |c| flag(c.row.couple && c.started_within("AL", 6)),
    )
    .only(Benefits::RSA_PPA)
    .candidate(),
    yes(
        "x_parent_isole_sans_asf",
        "parent isolé sans allocation de soutien familial (pension alimentaire possible)",
        "foyers, droits (ASF)",
        "parent isolé sans soutien familial",
        |c| flag(!c.row.couple && !c.children.is_empty() && !c.holds("ASF")),
    )
    .only(Benefits::RSA_PPA)
    .candidate(),
];

pub fn feature(name: &str) -> Option<&'static FeatureDef> {
    DICTIONARY.iter().find(|f| f.name == name)
}

/// The dictionary's name of the feature `name` (how `features.parquet` is read back:
/// [`FeatureTable::read`]).
pub(crate) fn feature_name(name: &str) -> Option<&'static str> {
    feature(name).map(|f| f.name)
}

/// The features a run uses: the dictionary minus excluded and not-allowed protected ones.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FeatureSelection {
    pub active: Vec<&'static str>,
    pub excluded: Vec<(&'static str, String)>,
    /// The whole dictionary: meaning, sources, transformation, protection, reasons.
    pub dictionary: &'static [FeatureDef],
}

/// The names of `[features] exclude` that are neither a feature nor a one-hot group of the
/// dictionary (a typo would leave the feature in the models without a word).
pub fn unknown_exclusions(exclude: &[String]) -> Vec<&str> {
    exclude
        .iter()
        .filter(|e| {
            !DICTIONARY
                .iter()
                .any(|f| f.name == e.as_str() || f.group == Some(e.as_str()))
        })
        .map(String::as_str)
        .collect()
}

pub fn select(exclude: &[String], allow_protected: &[String]) -> FeatureSelection {
    let mut active = Vec::new();
    let mut excluded = Vec::new();
    for f in DICTIONARY {
        let allowed = |key: &str| allow_protected.iter().any(|a| a == key || a == f.name);
        if exclude
            .iter()
            .any(|e| e == f.name || Some(e.as_str()) == f.group)
        {
            excluded.push((f.name, "exclue par [features] exclude".to_string()));
        } else if f.protected == Protected::Age && !allowed("age") {
            excluded.push((
                f.name,
                "attribut protégé (âge), non autorisé par [features] allow_protected".to_string(),
            ));
        } else if f.protected == Protected::Disability && !allowed("disability") {
            excluded.push((
                f.name,
                "attribut protégé (handicap), non autorisé par [features] allow_protected"
                    .to_string(),
            ));
        } else {
            active.push(f.name);
        }
    }
    FeatureSelection {
        active,
        excluded,
        dictionary: DICTIONARY,
    }
}

/// Contact signals by person row in `h.persons`: (online account used, digital channel
/// (mobile or e-mail) known), from every contact row of the person, any caisse. Rows are
/// matched to persons in parallel; a row naming no person of `h` is left out.
pub(crate) fn contact_signals(x: &Extracts, h: &Households) -> Result<Vec<(bool, bool)>> {
    let mut out = vec![(false, false); h.persons.len()];
    let Some(c) = x.table("contacts") else {
        return Ok(out);
    };
    let col = |n: &str| crate::io::frame::bool_col(c, "contacts", n);
    let ids = crate::io::frame::str_col(c, "contacts", "pseudo_id")?;
    let (online, mobile, email) = (col("espace_en_ligne")?, col("mobile")?, col("email")?);
    // Each contact row's person: from the ingest of this run, or looked up by id.
    let rows = x.person_rows_of("contacts");
    let found: Vec<(u32, bool, bool)> = (0..c.height())
        .into_par_iter()
        .with_min_len(1 << 16)
        .filter_map(|i| {
            let id = ids.get(i)?;
            let person = match rows {
                Some(rows) => crate::tables::extracts::person_at(rows, i)?,
                None => h.person(id)?,
            };
            debug_assert_eq!(h.persons[person].pseudo_id, id, "the ingest's person row");
            let digital = mobile.get(i).unwrap_or(false) || email.get(i).unwrap_or(false);
            Some((person as u32, online.get(i).unwrap_or(false), digital))
        })
        .collect();
    for (person, online, digital) in found {
        let e = &mut out[person as usize];
        e.0 |= online;
        e.1 |= digital;
    }
    Ok(out)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Rows computed together before they are stored column by column (16 MB of values at
/// 128 features).
const COMPUTE_BATCH: usize = 1 << 14;

/// Features of every eligibility row whose person does not receive the benefit.
///
/// Every value is finite: the extracts' amounts are bounded at the ingest, so a value that
/// is not is a data error, named by person, feature and the tables it is computed from
/// (exit 3), before it can reach a model.
pub(crate) fn compute(
    h: &Households,
    rows: &[EligibilityRow],
    contacts: &[(bool, bool)],
    names: &[&'static str],
) -> Result<FeatureTable> {
    let defs: Vec<&'static FeatureDef> = names
        .iter()
        .map(|n| feature(n).unwrap_or_else(|| unreachable!("feature {n} is in the dictionary")))
        .collect();
    let run = h.run_month;
    let selected: Vec<&EligibilityRow> = rows.iter().filter(|r| !r.recoit).collect();
    // Rows estimated in this run know their person and foyer; rows read back from
    // eligibility.parquet are found by id (maps of every person and foyer).
    let foyer_of = selected.iter().any(|r| r.at.is_none()).then(|| {
        h.foyers
            .iter()
            .enumerate()
            .map(|(i, f)| (f.foyer_id.as_str(), i))
            .collect::<HashMap<&str, usize>>()
    });
    let locate = |r: &EligibilityRow| match (r.at, &foyer_of) {
        (Some((person, foyer)), _) => (person as usize, foyer as usize),
        (None, Some(foyer_of)) => (
            h.person(&r.pseudo_id)
                .expect("an eligibility row names a person"),
            foyer_of[r.foyer_id.as_str()],
        ),
        (None, None) => unreachable!("the foyers' map is built when a row is not located"),
    };
    // Each row's (person, foyer), found once.
    let located: Vec<(u32, u32)> = selected
        .par_iter()
        .map(|r| {
            let (person, foyer) = locate(r);
            (person as u32, foyer as u32)
        })
        .collect();
    let p = names.len();
    // Computed a batch of rows at a time (rows in parallel, row-major), each batch then
    // stored column by column: the whole table is never held as f64 values.
    let mut columns = ColumnsBuilder::new(p, selected.len());
    let mut values = vec![0.0; COMPUTE_BATCH.min(selected.len()) * p];
    for (selected, located) in selected
        .chunks(COMPUTE_BATCH)
        .zip(located.chunks(COMPUTE_BATCH))
    {
        let values = &mut values[..selected.len() * p];
        values
            .par_chunks_mut(p.max(1))
            .zip(selected.par_iter().zip(located.par_iter()))
            .for_each(|(out, (r, &(person_row, foyer)))| {
                let person_row = person_row as usize;
                let (person, foyer) = (&h.persons[person_row], &h.foyers[foyer as usize]);
                debug_assert!(
                    person.pseudo_id == r.pseudo_id && foyer.foyer_id == r.foyer_id,
                    "an eligibility row is located in the households it was estimated from"
                );
                let unit = h.unit_of(foyer, person_row);
                let adults: Vec<&Person> = unit.adults.iter().map(|&p| &h.persons[p]).collect();
                let unit_wages: Vec<[f64; HISTORY]> = adults.iter().map(|p| p.activite()).collect();
                let (online, digital) = contacts[person_row];
                let input = FeatureInput {
                    row: r,
                    run,
                    person,
                    children: unit.children.iter().map(|&c| h.persons[c].age).collect(),
                    statut: unit.statut,
                    hosted: unit.hosted,
                    wages: std::array::from_fn(|k| unit_wages.iter().map(|w| w[k]).sum()),
                    unit: adults,
                    online,
                    digital,
                };
                for (o, f) in out.iter_mut().zip(&defs) {
                    *o = (f.compute)(&input);
                }
            });
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            let (row, f) = (selected[at / p], defs[at % p]);
            return Err(not_finite(row, f, values[at], run));
        }
        columns.push_rows(values);
    }
    Ok(FeatureTable {
        month: run,
        names: names.to_vec(),
        pseudo_id: selected.iter().map(|r| r.pseudo_id.clone()).collect(),
        prestation: selected.iter().map(|r| r.prestation).collect(),
        montant_estime: selected.iter().map(|r| r.montant_estime).collect(),
        candidat_deterministe: selected.iter().map(|r| r.candidat_deterministe).collect(),
        columns: columns.finish(),
        person: Some(located.into_iter().map(|(person, _)| person).collect()),
    })
}

/// The data error of a feature that is not finite: the person (pseudonymised id), the
/// benefit, the feature and the tables it is computed from.
fn not_finite(row: &EligibilityRow, f: &FeatureDef, value: f64, month: Month) -> RecoursError {
    RecoursError::Input {
        table: f.sources.to_string(),
        message: format!(
            "feature {} of person {} ({}, month {month}) is {value}, not a finite number: \
             amounts of these tables add up beyond what can be computed; check them for \
             this person (the bounds are [validation] max_monthly_amount)",
            f.name, row.pseudo_id, row.prestation
        ),
    }
}

/// The features of `names` that `prestation`'s model may use, in `names`' order, with their
/// positions in `names`.
pub(crate) fn for_benefit(names: &[&'static str], prestation: &str) -> Vec<(usize, &'static str)> {
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| feature(n).is_some_and(|f| f.benefits.applies(prestation)))
        .map(|(j, n)| (j, *n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every entry documents itself, has a unique name, and computes a finite value on a
    /// plain row; a group's levels are exclusive and exhaustive.
    #[test]
    fn every_feature_computes_and_documents() {
        let mut seen = BTreeSet::new();
        for f in DICTIONARY {
            assert!(seen.insert(f.name), "{} is listed twice", f.name);
            assert!(!f.meaning.is_empty() && !f.sources.is_empty() && !f.transform.is_empty());
            assert!(!f.reason_high.is_empty(), "{} has no reason", f.name);
            assert!(
                !f.benefits.codes().is_empty(),
                "{} applies to no benefit",
                f.name
            );
        }
        let person = |age: i32, regime: &'static str| Person {
            pseudo_id: format!("{age:064x}"),
            sexe: "F",
            departement: "33",
            regime,
            age,
            par_nature: vec![(
                "salaire",
                std::array::from_fn(|k| if k < 6 { 900.0 } else { 0.0 }),
            )],
            droits: vec![],
        };
        let row = |montant: f64, marge: f64| EligibilityRow {
            pseudo_id: "0".repeat(64),
            foyer_id: "1".repeat(64),
            prestation: "RSA",
            role_porteur: "demandeur",
            taille_foyer: 1,
            couple: false,
            nb_enfants: 0,
            majoration_isolement: false,
            statut_logement: None,
            aide_logement: 0.0,
            prestations_comptees: 0.0,
            revenus_activite: 0.0,
            ressources: 0.0,
            aspa_comptee: 0.0,
            forfait_logement: 0.0,
            montant_forfaitaire: marge,
            part_revenus_activite: 0.0,
            bonifications: 0.0,
            montant_calcule: montant,
            atteint_minimum: montant > 0.0,
            montant_estime: montant,
            recoit: false,
            candidat_deterministe: false,
            motif_deterministe: None,
            ressources_revelees: None,
            montant_revise: None,
            revenu_non_salarie_limite: None,
            montant_seul: None,
            ppa_mois: Vec::new(),
            at: None,
        };
        let people = [person(30, "general"), person(80, "independant")];
        for (k, p) in people.iter().enumerate() {
            for (montant, marge) in [(0.0, -500.0), (30.0, -50.0), (420.0, 420.0), (900.0, 80.0)] {
                let r = row(montant, marge);
                let input = FeatureInput {
                    row: &r,
                    run: Month::parse("2025-09").unwrap(),
                    person: p,
                    unit: vec![p],
                    children: vec![],
                    statut: [None, Some(Statut::Proprietaire)][k],
                    hosted: k == 1,
                    wages: p.activite(),
                    online: false,
                    digital: k == 0,
                };
                let mut groups: std::collections::BTreeMap<&str, f64> = Default::default();
                for f in DICTIONARY {
                    let v = (f.compute)(&input);
                    assert!(v.is_finite(), "{} = {v}", f.name);
                    if let Some(g) = f.group {
                        *groups.entry(g).or_default() += v;
                    }
                }
                for (g, total) in groups {
                    assert_eq!(total, 1.0, "group {g}: levels add up to {total}");
                }
                let value = |n: &str| (feature(n).unwrap().compute)(&input);
                assert_eq!(value("perte_emploi_recente"), 1.0);
                assert_eq!(value("montant_estime"), montant);
                assert_eq!(value("adulte_heberge"), k as f64);
                assert_eq!(value("proprietaire_75_plus"), k as f64);
                assert_eq!(value("non_salarie_sans_salaire"), 0.0);
            }
        }
        assert!(!Benefits::ASPA.applies("PPA") && Benefits::RSA_PPA.applies("PPA"));
        let names: Vec<&'static str> = DICTIONARY.iter().map(|f| f.name).collect();
        let group = |n: &str| feature(n).and_then(|f| f.group);
        assert!(
            for_benefit(&names, "ASPA")
                .iter()
                .all(|(_, n)| group(n) != Some("tranche_salaire"))
        );
        assert!(
            for_benefit(&names, "PPA")
                .iter()
                .all(|(_, n)| group(n) != Some("tranche_retraite"))
        );
        assert!(
            for_benefit(&names, "PPA")
                .iter()
                .any(|(_, n)| group(n) == Some("tranche_salaire"))
        );
    }

    #[test]
    fn protected_features_need_explicit_permission() {
        let none = select(&[], &[]);
        assert!(!none.active.contains(&"age") && !none.active.contains(&"droit_aah"));
        let age = select(&[], &["age".into()]);
        assert!(age.active.contains(&"age") && age.active.contains(&"age_85_plus"));
        assert!(!age.active.contains(&"droit_aah"));
        let ex = select(&["logement".into(), "couple".into()], &[]);
        assert!(
            !ex.active
                .iter()
                .any(|f| f.starts_with("logement_") || *f == "couple")
        );
        assert!(
            DICTIONARY.iter().all(|f| f.name != "sexe"),
            "sexe is never a feature"
        );
    }
}
