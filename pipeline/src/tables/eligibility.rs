//! `eligibility.parquet`: one row per (person, benefit) the eligibility stage estimated,
//! its columns written and read back here, and the fairness audit's narrower read of it.

use polars::prelude::*;

use crate::error::{RecoursError, Result};

/// One row of `eligibility.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EligibilityRow {
    pub pseudo_id: String,
    pub foyer_id: String,
    pub prestation: &'static str,
    /// Role of the carrier in the foyer: RSA and PPA are household benefits carried by the
    /// demandeur; ASPA is individual.
    pub role_porteur: &'static str,
    pub taille_foyer: u32,
    pub couple: bool,
    pub nb_enfants: u32,
    pub majoration_isolement: bool,
    pub statut_logement: Option<&'static str>,
    pub aide_logement: f64,
    pub prestations_comptees: f64,
    pub revenus_activite: f64,
    /// Household resources the formula subtracts (RSA/PPA: activity + other + counted
    /// benefits + ASPA due; ASPA: the couple's or person's resources).
    pub ressources: f64,
    pub aspa_comptee: f64,
    pub forfait_logement: f64,
    /// RSA/PPA: household montant forfaitaire; ASPA: ceiling applied.
    pub montant_forfaitaire: f64,
    pub part_revenus_activite: f64,
    pub bonifications: f64,
    pub montant_calcule: f64,
    pub atteint_minimum: bool,
    pub montant_estime: f64,
    pub recoit: bool,
    pub candidat_deterministe: bool,
    pub motif_deterministe: Option<String>,
    /// RSA/PPA of a unit that receives the other of the two (PPA/RSA): the extra monthly
    /// resources that explain the amount it is paid (0 when that amount is the one computed
    /// from BRM), see `eligibility::estimate::revise`; `None` otherwise or when no extra resource explains it.
    pub ressources_revelees: Option<f64>,
    /// The benefit's amount re-estimated with those resources.
    pub montant_revise: Option<f64>,
    /// RSA/PPA of a unit with a non-salaried adult (whose activity income BRM cannot see):
    /// the monthly activity income of that adult up to which the benefit stays due
    /// (`eligibility::estimate::activity_limit`).
    pub revenu_non_salarie_limite: Option<f64>,
    /// RSA/PPA of a couple: the benefit estimated for the demandeur alone with the children
    /// (a separation the household links do not show yet).
    pub montant_seul: Option<f64>,
    /// PPA: each month of the reference quarter, in order, its figures as
    /// [`PPA_MONTH_COLUMNS`] names them, cent-rounded (empty for other benefits).
    pub ppa_mois: Vec<[f64; PPA_MONTH_COLUMNS.len()]>,
    /// Where the person and the foyer are in the [`Households`](crate::tables::households::Households) the row was estimated
    /// from (rows in `persons`, `foyers`), so that later stages find them without a map
    /// of ids; `None` for rows read back from `eligibility.parquet`.
    pub at: Option<(u32, u32)>,
}

/// The list columns of a PPA row: one value per month of the reference quarter, the
/// figures of `entitlement::ppa_months` in this order.
pub(crate) const PPA_MONTH_COLUMNS: [&str; 7] = [
    "ppa_mois_montant_forfaitaire",
    "ppa_mois_revenus_activite",
    "ppa_mois_part_revenus_activite",
    "ppa_mois_bonifications",
    "ppa_mois_ressources",
    "ppa_mois_forfait_logement",
    "ppa_mois_montant",
];

/// A month's figures in the order of [`PPA_MONTH_COLUMNS`], cent-rounded.
pub(crate) fn ppa_month_values(
    m: &crate::domain::entitlement::PpaMonthFigures,
) -> [f64; PPA_MONTH_COLUMNS.len()] {
    [
        m.montant_forfaitaire,
        m.revenus_activite,
        m.part_revenus_activite,
        m.bonifications,
        m.ressources,
        m.forfait_logement,
        m.montant,
    ]
    .map(crate::domain::entitlement::round2)
}

/// Column `k` of [`PPA_MONTH_COLUMNS`]: a list per row, null for a row without months.
fn ppa_month_column(rows: &[EligibilityRow], k: usize) -> Column {
    let mut b = ListPrimitiveChunkedBuilder::<Float64Type>::new(
        PPA_MONTH_COLUMNS[k].into(),
        rows.len(),
        rows.iter().map(|r| r.ppa_mois.len()).sum(),
        DataType::Float64,
    );
    let mut month = Vec::new();
    for r in rows {
        if r.ppa_mois.is_empty() {
            b.append_null();
        } else {
            month.clear();
            month.extend(r.ppa_mois.iter().map(|m| m[k]));
            b.append_slice(&month);
        }
    }
    b.finish().into_series().into_column()
}

pub(crate) fn to_frame(rows: &[EligibilityRow]) -> Result<DataFrame> {
    macro_rules! col {
        ($name:literal, $f:expr) => {
            crate::io::frame::column($name, rows.iter().map($f).collect::<Vec<_>>())
        };
    }
    DataFrame::new_infer_height(
        vec![
            col!("pseudo_id", |r| r.pseudo_id.as_str()),
            col!("foyer_id", |r| r.foyer_id.as_str()),
            col!("prestation", |r| r.prestation),
            col!("role_porteur", |r| r.role_porteur),
            col!("taille_foyer", |r| r.taille_foyer),
            col!("couple", |r| r.couple),
            col!("nb_enfants", |r| r.nb_enfants),
            col!("majoration_isolement", |r| r.majoration_isolement),
            col!("statut_logement", |r| r.statut_logement),
            col!("aide_logement", |r| r.aide_logement),
            col!("prestations_comptees", |r| r.prestations_comptees),
            col!("revenus_activite", |r| r.revenus_activite),
            col!("ressources", |r| r.ressources),
            col!("aspa_comptee", |r| r.aspa_comptee),
            col!("forfait_logement", |r| r.forfait_logement),
            col!("montant_forfaitaire", |r| r.montant_forfaitaire),
            col!("part_revenus_activite", |r| r.part_revenus_activite),
            col!("bonifications", |r| r.bonifications),
            col!("montant_calcule", |r| r.montant_calcule),
            col!("atteint_minimum", |r| r.atteint_minimum),
            col!("montant_estime", |r| r.montant_estime),
            col!("recoit", |r| r.recoit),
            col!("candidat_deterministe", |r| r.candidat_deterministe),
            col!("motif_deterministe", |r| r.motif_deterministe.as_deref()),
            col!("ressources_revelees", |r| r.ressources_revelees),
            col!("montant_revise", |r| r.montant_revise),
            col!("revenu_non_salarie_limite", |r| r.revenu_non_salarie_limite),
            col!("montant_seul", |r| r.montant_seul),
        ]
        .into_iter()
        .chain((0..PPA_MONTH_COLUMNS.len()).map(|k| ppa_month_column(rows, k)))
        .collect(),
    )
    .map_err(RecoursError::polars("eligibility.parquet"))
}

/// Reads back `eligibility.parquet` (a run resumed after this stage).
/// Reads `eligibility.parquet` a slice at a time (never the whole file decoded next to the
/// rows built from it).
pub fn read(path: &std::path::Path) -> Result<Vec<EligibilityRow>> {
    let slices =
        crate::io::frame::ParquetSlices::open(path, None, crate::io::frame::READ_SLICE_ROWS)?;
    let mut rows = Vec::with_capacity(slices.rows());
    for df in slices {
        rows.extend(from_frame(&df?)?);
    }
    Ok(rows)
}

pub(crate) fn from_frame(df: &DataFrame) -> Result<Vec<EligibilityRow>> {
    use crate::io::frame::{bool_col, f64_col, intern, str_col, u32_col};
    const T: &str = "eligibility.parquet";
    let s = |c: &str| str_col(df, T, c);
    let f = |c: &str| f64_col(df, T, c);
    let b = |c: &str| bool_col(df, T, c);
    let u = |c: &str| u32_col(df, T, c);
    let (pseudo_id, foyer_id, prestation, role, statut, motif) = (
        s("pseudo_id")?,
        s("foyer_id")?,
        s("prestation")?,
        s("role_porteur")?,
        s("statut_logement")?,
        s("motif_deterministe")?,
    );
    let (taille, enfants) = (u("taille_foyer")?, u("nb_enfants")?);
    let (couple, isolement, minimum, recoit, candidat) = (
        b("couple")?,
        b("majoration_isolement")?,
        b("atteint_minimum")?,
        b("recoit")?,
        b("candidat_deterministe")?,
    );
    let floats = [
        "aide_logement",
        "prestations_comptees",
        "revenus_activite",
        "ressources",
        "aspa_comptee",
        "forfait_logement",
        "montant_forfaitaire",
        "part_revenus_activite",
        "bonifications",
        "montant_calcule",
        "montant_estime",
    ]
    .map(f);
    let mut fl = Vec::new();
    for c in floats {
        fl.push(c?);
    }
    let x = |k: usize, i: usize| fl[k].get(i).unwrap_or(0.0);
    let (revelees, revise, limite, seul) = (
        f("ressources_revelees")?,
        f("montant_revise")?,
        f("revenu_non_salarie_limite")?,
        f("montant_seul")?,
    );
    // Each list column read once, its values in one vector and each row's range in it.
    let mut months: Vec<(Vec<f64>, Vec<(usize, usize)>)> = Vec::new();
    for name in PPA_MONTH_COLUMNS {
        let lists = df
            .column(name)
            .and_then(|c| c.list().cloned())
            .map_err(RecoursError::polars(format!("{T}: {name}")))?;
        let (mut values, mut ranges) = (Vec::new(), Vec::with_capacity(df.height()));
        for list in lists.amortized_iter() {
            let start = values.len();
            if let Some(list) = list {
                let v = list
                    .as_ref()
                    .f64()
                    .map_err(RecoursError::polars(format!("{T}: {name}")))?;
                values.extend(v.iter().map(|x| x.unwrap_or(0.0)));
            }
            ranges.push((start, values.len()));
        }
        months.push((values, ranges));
    }
    // A row's months: the m-th value of each column's list.
    let ppa_mois = |i: usize| -> Vec<[f64; PPA_MONTH_COLUMNS.len()]> {
        let n = months
            .iter()
            .map(|(_, r)| r[i].1 - r[i].0)
            .min()
            .unwrap_or(0);
        (0..n)
            .map(|m| std::array::from_fn(|k| months[k].0[months[k].1[i].0 + m]))
            .collect()
    };
    Ok((0..df.height())
        .map(|i| EligibilityRow {
            pseudo_id: pseudo_id.get(i).unwrap_or_default().to_string(),
            foyer_id: foyer_id.get(i).unwrap_or_default().to_string(),
            prestation: intern(prestation.get(i).unwrap_or_default()),
            role_porteur: intern(role.get(i).unwrap_or_default()),
            taille_foyer: taille.get(i).unwrap_or(0),
            couple: couple.get(i).unwrap_or(false),
            nb_enfants: enfants.get(i).unwrap_or(0),
            majoration_isolement: isolement.get(i).unwrap_or(false),
            statut_logement: statut.get(i).map(intern),
            aide_logement: x(0, i),
            prestations_comptees: x(1, i),
            revenus_activite: x(2, i),
            ressources: x(3, i),
            aspa_comptee: x(4, i),
            forfait_logement: x(5, i),
            montant_forfaitaire: x(6, i),
            part_revenus_activite: x(7, i),
            bonifications: x(8, i),
            montant_calcule: x(9, i),
            atteint_minimum: minimum.get(i).unwrap_or(false),
            montant_estime: x(10, i),
            recoit: recoit.get(i).unwrap_or(false),
            candidat_deterministe: candidat.get(i).unwrap_or(false),
            motif_deterministe: motif.get(i).map(str::to_string),
            ressources_revelees: revelees.get(i),
            montant_revise: revise.get(i),
            revenu_non_salarie_limite: limite.get(i),
            montant_seul: seul.get(i),
            ppa_mois: ppa_mois(i),
            at: None,
        })
        .collect())
}

/// What the fairness audit needs of a (person, benefit) eligibility row: its key and the
/// foyer's type and housing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FoyerFacts {
    pub pseudo_id: String,
    pub prestation: &'static str,
    pub couple: bool,
    pub nb_enfants: u32,
    pub statut_logement: Option<&'static str>,
}

/// Reads the [`FoyerFacts`] of every row of `eligibility.parquet` (five of its columns, a
/// slice at a time), in the file's (benefit, id) order.
pub(crate) fn read_foyer_facts(path: &std::path::Path) -> Result<Vec<FoyerFacts>> {
    use crate::io::frame::{bool_col, intern, str_col, u32_col};
    const T: &str = "eligibility.parquet";
    const COLUMNS: [&str; 5] = [
        "pseudo_id",
        "prestation",
        "couple",
        "nb_enfants",
        "statut_logement",
    ];
    let slices = crate::io::frame::ParquetSlices::open(
        path,
        Some(&COLUMNS),
        crate::io::frame::READ_SLICE_ROWS,
    )?;
    let mut rows = Vec::with_capacity(slices.rows());
    for df in slices {
        let df = df?;
        let (id, prestation, statut) = (
            str_col(&df, T, "pseudo_id")?,
            str_col(&df, T, "prestation")?,
            str_col(&df, T, "statut_logement")?,
        );
        let (couple, enfants) = (bool_col(&df, T, "couple")?, u32_col(&df, T, "nb_enfants")?);
        rows.extend((0..df.height()).map(|i| FoyerFacts {
            pseudo_id: id.get(i).unwrap_or_default().to_string(),
            prestation: intern(prestation.get(i).unwrap_or_default()),
            couple: couple.get(i).unwrap_or(false),
            nb_enfants: enfants.get(i).unwrap_or(0),
            statut_logement: statut.get(i).map(intern),
        }));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppa_months_are_written_and_read_back_row_by_row() {
        let row = |prestation: &'static str, ppa_mois: Vec<[f64; 7]>| EligibilityRow {
            pseudo_id: format!("{prestation}-id"),
            foyer_id: "f".into(),
            prestation,
            role_porteur: "demandeur",
            taille_foyer: 1,
            couple: false,
            nb_enfants: 0,
            majoration_isolement: false,
            statut_logement: Some("locataire_prive"),
            aide_logement: 0.0,
            prestations_comptees: 0.0,
            revenus_activite: 370.58,
            ressources: 370.58,
            aspa_comptee: 0.0,
            forfait_logement: 0.0,
            montant_forfaitaire: 633.21,
            part_revenus_activite: 221.79,
            bonifications: 34.82,
            montant_calcule: 71.77,
            atteint_minimum: true,
            montant_estime: 71.77,
            recoit: false,
            candidat_deterministe: false,
            motif_deterministe: None,
            ressources_revelees: None,
            montant_revise: None,
            revenu_non_salarie_limite: None,
            montant_seul: None,
            ppa_mois,
            at: None,
        };
        let months = vec![
            [633.21, 0.0, 0.0, 0.0, 0.0, 75.99, 0.0],
            [633.21, 1111.74, 665.38, 104.46, 1111.74, 75.99, 215.32],
            [633.21, 0.0, 0.0, 0.0, 0.0, 75.99, 0.0],
        ];
        let rows = vec![
            row("ASPA", vec![]),
            row("PPA", months.clone()),
            row("RSA", vec![]),
            row("PPA", months[1..].to_vec()),
        ];
        let back = from_frame(&to_frame(&rows).unwrap()).unwrap();
        assert_eq!(back, rows);
    }
}
