//! The input data contract (shared/spec/extracts.md) as data: tables, columns, kinds and
//! the reason codes of every rule the ingest stage applies.

/// What a column holds, and so how its values are checked and typed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// 64 lowercase hex characters (a keyed hash made upstream).
    Hex64,
    /// `YYYY-MM`.
    Month,
    /// One of a closed list of codes.
    Code(&'static [&'static str]),
    /// INSEE département code, from the shipped reference map.
    Departement,
    /// Caisse code, from the shipped reference map.
    Caisse,
    /// Euros with two decimals; `min` bounds it below when set.
    Decimal {
        min: Option<f64>,
    },
    Bool,
    /// 0 or 1.
    ZeroOne,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct TableSpec {
    pub name: &'static str,
    pub required: bool,
    pub columns: &'static [ColumnSpec],
}

impl TableSpec {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

const fn col(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        nullable: false,
    }
}
const fn opt(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        nullable: true,
    }
}
const MONEY: Kind = Kind::Decimal { min: Some(0.0) };

pub(crate) const PRESTATIONS: &[&str] = &[
    "PPA",
    "RSA",
    "ASPA",
    "AAH",
    "AL",
    "AF",
    "ASF",
    "CSS",
    "ARE",
    "ASS",
    "RETRAITE",
    "INVALIDITE",
];
pub(crate) const SCORED: &[&str] = &["PPA", "RSA", "ASPA"];

/// The natures of a `ressources` row.
pub(crate) const NATURES: &[&str] = &[
    "salaire",
    "chomage",
    "ij",
    "retraite",
    "invalidite",
    "autre",
];

/// The nature of the `logements` amount (the rent), for its bound.
pub(crate) const LOYER: &str = "loyer";

/// Where the nature of a table's amounts comes from, for their configured bound
/// (`[validation] max_monthly_amount_by_nature`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AmountNature {
    /// The row's value in this column: `ressources.nature`, the `prestation` of `droits`
    /// and `retours`.
    Column(&'static str),
    /// One nature for every row: the rent of `logements`.
    Fixed(&'static str),
}

/// The nature of the amounts of `table` (`None`: the table has no amount).
pub(crate) fn amount_nature(table: &str) -> Option<AmountNature> {
    match table {
        "ressources" => Some(AmountNature::Column("nature")),
        "droits" | "retours" => Some(AmountNature::Column("prestation")),
        "logements" => Some(AmountNature::Fixed(LOYER)),
        _ => None,
    }
}

/// Whether `key` names a nature of amounts: a `ressources` nature, a prestation or `loyer`.
pub(crate) fn is_amount_nature(key: &str) -> bool {
    key == LOYER || NATURES.contains(&key) || PRESTATIONS.contains(&key)
}

/// Tables in the order the ingest stage checks them (references point backwards).
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "personnes",
        required: true,
        columns: &[
            col("pseudo_id", Kind::Hex64),
            col("naissance", Kind::Month),
            col("sexe", Kind::Code(&["F", "M"])),
            col("departement", Kind::Departement),
            col(
                "regime",
                Kind::Code(&["general", "agricole", "independant"]),
            ),
        ],
    },
    TableSpec {
        name: "foyers",
        required: true,
        columns: &[
            col("foyer_id", Kind::Hex64),
            col("pseudo_id", Kind::Hex64),
            col(
                "role",
                Kind::Code(&["demandeur", "conjoint", "enfant", "autre_adulte"]),
            ),
        ],
    },
    TableSpec {
        name: "logements",
        required: false,
        columns: &[
            col("foyer_id", Kind::Hex64),
            col(
                "statut",
                Kind::Code(&[
                    "locataire_prive",
                    "locataire_hlm",
                    "proprietaire",
                    "heberge_gratuit",
                    "sans_domicile",
                ]),
            ),
            opt("loyer_mensuel", MONEY),
        ],
    },
    TableSpec {
        name: "droits",
        required: true,
        columns: &[
            col("pseudo_id", Kind::Hex64),
            col("organisme", Kind::Caisse),
            col("prestation", Kind::Code(PRESTATIONS)),
            col("debut", Kind::Month),
            opt("fin", Kind::Month),
            opt("montant_mensuel", MONEY),
        ],
    },
    TableSpec {
        name: "ressources",
        required: true,
        columns: &[
            col("pseudo_id", Kind::Hex64),
            col("mois", Kind::Month),
            col("nature", Kind::Code(NATURES)),
            col("source", Kind::Code(&["DSN", "PASRAU"])),
            // Negative values are regularisations and are allowed.
            col("montant_net_social", Kind::Decimal { min: None }),
        ],
    },
    TableSpec {
        name: "contacts",
        required: false,
        columns: &[
            col("pseudo_id", Kind::Hex64),
            col("organisme", Kind::Caisse),
            col("mobile", Kind::Bool),
            col("email", Kind::Bool),
            col("adresse", Kind::Bool),
            col("espace_en_ligne", Kind::Bool),
            col("opposition", Kind::Bool),
            opt("dernier_contact", Kind::Month),
        ],
    },
    TableSpec {
        name: "apprentissage",
        required: false,
        columns: &[
            col("pseudo_id", Kind::Hex64),
            col("prestation", Kind::Code(SCORED)),
            col("mois_reference", Kind::Month),
            col("non_recours", Kind::ZeroOne),
            col("origine", Kind::Code(&["enquete", "campagne"])),
        ],
    },
    TableSpec {
        name: "retours",
        required: false,
        columns: &[
            col("pseudo_id", Kind::Hex64),
            col("prestation", Kind::Code(SCORED)),
            col("mois_contact", Kind::Month),
            col(
                "canal",
                Kind::Code(&["telephone", "sms", "email", "courrier", "aucun"]),
            ),
            col("joint", Kind::Bool),
            col("demande", Kind::Bool),
            col("droit_ouvert", Kind::Bool),
            opt("montant_mensuel", MONEY),
        ],
    },
];

pub fn table(name: &str) -> &'static TableSpec {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .expect("table names come from the contract")
}

/// Reason codes written in `rejects/<table>.parquet` and counted in `quality.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rule {
    MissingValue,
    InvalidId,
    InvalidMonth,
    UnknownCode,
    UnknownDepartement,
    UnknownCaisse,
    InvalidAmount,
    AmountOutOfBounds,
    NegativeAmount,
    InvalidBool,
    InvalidZeroOne,
    BirthOutOfRange,
    ReferenceAfterRunMonth,
    EndBeforeStart,
    DuplicateId,
    DuplicateHousing,
    DuplicateLabel,
    UnknownPerson,
    RejectedPerson,
    UnknownHousehold,
    RejectedHousehold,
    PersonInSeveralHouseholds,
    HouseholdWithoutDemandeur,
    HouseholdWithSeveralDemandeurs,
    PersonWithoutHousehold,
}

/// The rules that may follow from another row's rejection (a person or a foyer row
/// rejected for its own values): listed after the root causes.
const CONSEQUENCES: [Rule; 4] = [
    Rule::RejectedPerson,
    Rule::RejectedHousehold,
    Rule::PersonWithoutHousehold,
    Rule::HouseholdWithoutDemandeur,
];

impl Rule {
    /// Whether the rule may follow from another row's rejection ([`CONSEQUENCES`]).
    pub(crate) fn may_be_a_consequence(self) -> bool {
        CONSEQUENCES.contains(&self)
    }

    /// Whether a reason code (as counted in `quality.json`) is one of a rule that may
    /// follow from another row's rejection.
    pub(crate) fn code_may_be_a_consequence(code: &str) -> bool {
        CONSEQUENCES.iter().any(|r| r.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Rule::MissingValue => "valeur_manquante",
            Rule::InvalidId => "identifiant_invalide",
            Rule::InvalidMonth => "mois_invalide",
            Rule::UnknownCode => "code_inconnu",
            Rule::UnknownDepartement => "departement_inconnu",
            Rule::UnknownCaisse => "caisse_inconnue",
            Rule::InvalidAmount => "montant_invalide",
            Rule::AmountOutOfBounds => "montant_hors_bornes",
            Rule::NegativeAmount => "montant_negatif",
            Rule::InvalidBool => "booleen_invalide",
            Rule::InvalidZeroOne => "valeur_0_1_invalide",
            Rule::BirthOutOfRange => "naissance_hors_bornes",
            Rule::ReferenceAfterRunMonth => "mois_reference_futur",
            Rule::EndBeforeStart => "fin_avant_debut",
            Rule::DuplicateId => "identifiant_en_double",
            Rule::DuplicateHousing => "logement_en_double",
            Rule::DuplicateLabel => "etiquette_en_double",
            Rule::UnknownPerson => "personne_inconnue",
            Rule::RejectedPerson => "personne_rejetee",
            Rule::UnknownHousehold => "foyer_inconnu",
            Rule::RejectedHousehold => "foyer_rejete",
            Rule::PersonInSeveralHouseholds => "personne_dans_plusieurs_foyers",
            Rule::HouseholdWithoutDemandeur => "foyer_sans_demandeur",
            Rule::HouseholdWithSeveralDemandeurs => "foyer_plusieurs_demandeurs",
            Rule::PersonWithoutHousehold => "personne_sans_foyer",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Rule::MissingValue => "a required value is empty",
            Rule::InvalidId => "not 64 lowercase hexadecimal characters",
            Rule::InvalidMonth => "not a month YYYY-MM",
            Rule::UnknownCode => "not one of the codes the contract lists",
            Rule::UnknownDepartement => "not a département of the reference map",
            Rule::UnknownCaisse => "not a caisse of the reference map",
            Rule::InvalidAmount => "not a decimal amount",
            Rule::AmountOutOfBounds => {
                "beyond the largest monthly amount of its nature in absolute value \
                 ([validation] max_monthly_amount, 100 000 euros unless configured)"
            }
            Rule::NegativeAmount => "negative where the contract requires >= 0",
            Rule::InvalidBool => "not a boolean (true/false)",
            Rule::InvalidZeroOne => "not 0 or 1",
            Rule::BirthOutOfRange => "birth month before 1900-01 or after the run month",
            Rule::ReferenceAfterRunMonth => "the label describes a month after the run month",
            Rule::EndBeforeStart => "fin is before debut",
            Rule::DuplicateId => "pseudo_id appears more than once (every copy is rejected)",
            Rule::DuplicateHousing => {
                "more than one housing row for the foyer (every copy is rejected)"
            }
            Rule::DuplicateLabel => {
                "same person, prestation and month labelled twice (every copy is rejected)"
            }
            Rule::UnknownPerson => "pseudo_id is not in personnes",
            Rule::RejectedPerson => "pseudo_id is in personnes but that row was rejected",
            Rule::UnknownHousehold => "foyer_id is not in foyers",
            Rule::RejectedHousehold => "foyer_id is in foyers but the foyer was rejected",
            Rule::PersonInSeveralHouseholds => "the person is a member of more than one foyer",
            Rule::HouseholdWithoutDemandeur => "the foyer has no demandeur",
            Rule::HouseholdWithSeveralDemandeurs => "the foyer has more than one demandeur",
            Rule::PersonWithoutHousehold => "the person belongs to no foyer",
        }
    }
}
