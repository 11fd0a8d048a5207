//! Reading `lists/decisions.parquet` back: who was listed, and the columns the report uses.

use rustc_hash::FxHashSet as HashSet;

use crate::error::Result;
use crate::io::frame::{f64_col, str_col};
use crate::tables::run_folder::RunFolder;

/// (pseudo_id, benefit) of everyone on a contact list of the run in `run_dir`.
pub fn listed(run: &RunFolder) -> Result<HashSet<(String, String)>> {
    let d = Decisions::read(run)?;
    let mut out = HashSet::default();
    for (i, id) in d.listed_ids.iter() {
        for b in d.prestations[*i].split('+') {
            out.insert((id.clone(), b.to_string()));
        }
    }
    Ok(out)
}

/// `lists/decisions.parquet`, the columns the report uses: codes interned (a few hundred
/// distinct values for millions of rows), ids of the listed rows only.
pub(crate) struct Decisions {
    pub caisse: Vec<&'static str>,
    pub prestations: Vec<&'static str>,
    pub decision: Vec<&'static str>,
    pub canal: Vec<Option<&'static str>>,
    pub montant_attendu: Vec<f64>,
    /// (row, pseudo_id) of the rows whose decision is `liste`, in row order.
    pub listed_ids: Vec<(usize, String)>,
}

impl Decisions {
    /// Reads the six columns it needs, a slice at a time (not the reasons' text).
    pub fn read(run: &RunFolder) -> Result<Decisions> {
        const T: &str = "lists/decisions.parquet";
        const COLUMNS: [&str; 6] = [
            "caisse",
            "pseudo_id",
            "prestations",
            "decision",
            "canal",
            "montant_attendu",
        ];
        let slices = crate::io::frame::ParquetSlices::open(
            &run.decisions(),
            Some(&COLUMNS),
            crate::io::frame::READ_SLICE_ROWS,
        )?;
        let mut d = Decisions {
            caisse: Vec::with_capacity(slices.rows()),
            prestations: Vec::with_capacity(slices.rows()),
            decision: Vec::with_capacity(slices.rows()),
            canal: Vec::with_capacity(slices.rows()),
            montant_attendu: Vec::with_capacity(slices.rows()),
            listed_ids: Vec::new(),
        };
        for df in slices {
            let df = df?;
            let code = |c: &str| -> Result<Vec<&'static str>> {
                let col = str_col(&df, T, c)?;
                Ok(col
                    .iter()
                    .map(|v| crate::io::frame::intern(v.unwrap_or_default()))
                    .collect())
            };
            let start = d.decision.len();
            let decision = code("decision")?;
            let ids = str_col(&df, T, "pseudo_id")?;
            for (k, id) in ids.iter().enumerate() {
                if decision[k] == "liste" {
                    d.listed_ids
                        .push((start + k, id.unwrap_or_default().to_string()));
                }
            }
            d.decision.extend(decision);
            d.caisse.extend(code("caisse")?);
            d.prestations.extend(code("prestations")?);
            let canal = str_col(&df, T, "canal")?;
            d.canal
                .extend(canal.iter().map(|v| v.map(crate::io::frame::intern)));
            let amount = f64_col(&df, T, "montant_attendu")?;
            d.montant_attendu
                .extend(amount.iter().map(|v| v.unwrap_or(0.0)));
        }
        Ok(d)
    }
}
