//! Campaign feedback: the outcomes the caisses sent back (`retours`) summarised per caisse
//! and channel, and the effect of contact measured against the random control group
//! (`canal = aucun`): the difference in the share of rights opened, with its 95 %
//! confidence interval (normal approximation for a difference of proportions).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::codes::Canal;
use crate::domain::reference::Reference;
use crate::error::Result;
use crate::stages::lists::exports::{FEEDBACK, Table, Value};
use crate::stages::lists::select::caisse_for;
use crate::tables::extracts::Extracts;

/// One row of the past campaign's outcomes (`retours`).
pub(crate) struct Outcome {
    pub pseudo_id: String,
    pub prestation: String,
    /// Contacted (any channel but `aucun`, the control group).
    pub contacte: bool,
    pub droit_ouvert: bool,
    /// The person's row in the run's households, when the ingest of this run found it.
    pub person: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Outcomes {
    pub personnes: usize,
    pub joints: usize,
    pub demandes: usize,
    pub droits_ouverts: usize,
    #[serde(serialize_with = "cents")]
    pub montant_total: f64,
}

/// Euros written to the cent (a sum of amounts carries binary noise: `4380.610000000001`).
fn cents<S: serde::Serializer>(x: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64((x * 100.0).round() / 100.0)
}

/// Rates and their differences written to six decimals.
fn six_decimals<S: serde::Serializer>(x: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64((x * 1e6).round() / 1e6)
}

impl Outcomes {
    pub fn rate(&self) -> f64 {
        if self.personnes == 0 {
            0.0
        } else {
            self.droits_ouverts as f64 / self.personnes as f64
        }
    }
    fn add(&mut self, joint: bool, demande: bool, ouvert: bool, montant: Option<f64>) {
        self.personnes += 1;
        self.joints += usize::from(joint);
        self.demandes += usize::from(demande);
        self.droits_ouverts += usize::from(ouvert);
        if ouvert {
            self.montant_total += montant.unwrap_or(0.0);
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Effect {
    /// Rate of rights opened among the contacted minus among the control group.
    #[serde(serialize_with = "six_decimals")]
    pub difference: f64,
    #[serde(serialize_with = "six_decimals")]
    pub ci95_low: f64,
    #[serde(serialize_with = "six_decimals")]
    pub ci95_high: f64,
}

pub(crate) fn effect(contacted: &Outcomes, control: &Outcomes) -> Option<Effect> {
    if contacted.personnes == 0 || control.personnes == 0 {
        return None;
    }
    let (p1, n1) = (contacted.rate(), contacted.personnes as f64);
    let (p0, n0) = (control.rate(), control.personnes as f64);
    let d = p1 - p0;
    let se = (p1 * (1.0 - p1) / n1 + p0 * (1.0 - p0) / n0).sqrt();
    Some(Effect {
        difference: d,
        ci95_low: d - 1.959_963_984_540_054 * se,
        ci95_high: d + 1.959_963_984_540_054 * se,
    })
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct CaisseFeedback {
    /// By channel (`aucun` is the control group).
    pub par_canal: BTreeMap<String, Outcomes>,
    pub contactes: Outcomes,
    pub temoins: Outcomes,
    pub effet: Option<Effect>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Feedback {
    pub national: CaisseFeedback,
    pub par_caisse: BTreeMap<String, CaisseFeedback>,
    /// Rows whose person could not be routed to a caisse (unknown person).
    pub non_rattaches: usize,
}

/// Persons' (département, regime), for routing outcomes to caisses.
/// The past campaign's rows as the fairness audit counts them (empty without `retours`).
pub fn outcomes(x: &Extracts) -> Result<Vec<Outcome>> {
    let Some(r) = x.table("retours") else {
        return Ok(Vec::new());
    };
    let rows = x.person_rows_of("retours");
    let s = |n: &str| crate::io::frame::str_col(r, "retours", n);
    let (ids, prest, canal) = (s("pseudo_id")?, s("prestation")?, s("canal")?);
    let ouvert = crate::io::frame::bool_col(r, "retours", "droit_ouvert")?;
    Ok((0..r.height())
        .filter_map(|i| {
            Some(Outcome {
                pseudo_id: ids.get(i)?.to_string(),
                prestation: prest.get(i)?.to_string(),
                contacte: canal.get(i)? != "aucun",
                droit_ouvert: ouvert.get(i).unwrap_or(false),
                person: rows
                    .and_then(|r| crate::tables::extracts::person_at(r, i))
                    .map(|p| p as u32),
            })
        })
        .collect())
}

/// `persons(row, id)` gives the département and regime of the person named on row `row` of
/// `retours`.
pub(crate) fn summarise(
    x: &Extracts,
    reference: &Reference,
    persons: &dyn Fn(usize, &str) -> Option<(&'static str, &'static str)>,
) -> Result<Option<Feedback>> {
    let Some(r) = x.table("retours") else {
        return Ok(None);
    };
    let s = |n: &str| crate::io::frame::str_col(r, "retours", n);
    let b = |n: &str| crate::io::frame::bool_col(r, "retours", n);
    let (ids, prest, canal) = (s("pseudo_id")?, s("prestation")?, s("canal")?);
    let (joint, demande, ouvert) = (b("joint")?, b("demande")?, b("droit_ouvert")?);
    let montant = crate::io::frame::f64_col(r, "retours", "montant_mensuel")?;
    let mut fb = Feedback::default();
    for i in 0..r.height() {
        let (Some(id), Some(p), Some(c)) = (ids.get(i), prest.get(i), canal.get(i)) else {
            continue;
        };
        let Some(caisse) = persons(i, id).and_then(|(dep, reg)| caisse_for(reference, p, dep, reg))
        else {
            fb.non_rattaches += 1;
            continue;
        };
        let values = (
            joint.get(i).unwrap_or(false),
            demande.get(i).unwrap_or(false),
            ouvert.get(i).unwrap_or(false),
            montant.get(i),
        );
        for target in [&mut fb.national, fb.par_caisse.entry(caisse).or_default()] {
            target
                .par_canal
                .entry(c.to_string())
                .or_default()
                .add(values.0, values.1, values.2, values.3);
            let group = if c == "aucun" {
                &mut target.temoins
            } else {
                &mut target.contactes
            };
            group.add(values.0, values.1, values.2, values.3);
        }
    }
    for f in std::iter::once(&mut fb.national).chain(fb.par_caisse.values_mut()) {
        f.effet = effect(&f.contactes, &f.temoins);
    }
    Ok(Some(fb))
}

/// The feedback as a table for `campaign-feedback.csv`: one line per caisse and channel,
/// all caisses first; rates and effects in percentage points.
pub fn table(fb: &Feedback) -> Table {
    let mut rows = Vec::new();
    let mut block = |name: &str, f: &CaisseFeedback| {
        for (canal, o) in &f.par_canal {
            let mean = if o.droits_ouverts > 0 {
                Value::Num((o.montant_total / o.droits_ouverts as f64 * 100.0).round() / 100.0)
            } else {
                Value::Empty
            };
            let effect = match (&f.effet, canal.as_str()) {
                (Some(_), c) if c != "aucun" => effect(o, &f.temoins),
                _ => None,
            };
            let points = |x: Option<f64>| {
                x.map_or(Value::Empty, |x| Value::Num((1000.0 * x).round() / 10.0))
            };
            let canal = if canal == "aucun" {
                "aucun (groupe témoin)".to_string()
            } else {
                Canal::label_of(canal).to_string()
            };
            rows.push(vec![
                Value::Text(name.to_string()),
                Value::Text(canal),
                Value::Int(o.personnes as u64),
                Value::Int(o.joints as u64),
                Value::Int(o.demandes as u64),
                Value::Int(o.droits_ouverts as u64),
                points(Some(o.rate())),
                mean,
                points(effect.as_ref().map(|e| e.difference)),
                points(effect.as_ref().map(|e| e.ci95_low)),
                points(effect.as_ref().map(|e| e.ci95_high)),
            ]);
        }
    };
    block("toutes caisses", &fb.national);
    for (c, f) in &fb.par_caisse {
        block(c, f);
    }
    Table::new(FEEDBACK, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effect_known_answer() {
        let contacted = Outcomes {
            personnes: 1000,
            droits_ouverts: 200,
            ..Default::default()
        };
        let control = Outcomes {
            personnes: 100,
            droits_ouverts: 5,
            ..Default::default()
        };
        let e = effect(&contacted, &control).unwrap();
        assert!((e.difference - 0.15).abs() < 1e-12);
        let se = (0.2f64 * 0.8 / 1000.0 + 0.05 * 0.95 / 100.0).sqrt();
        assert!((e.ci95_low - (0.15 - 1.959_963_984_540_054 * se)).abs() < 1e-12);
    }

    #[test]
    fn amounts_and_rates_are_written_rounded() {
        let o = Outcomes {
            personnes: 3,
            droits_ouverts: 2,
            montant_total: 4380.610000000001,
            ..Default::default()
        };
        let e = effect(&o, &o).unwrap();
        let json = serde_json::to_string(&(
            o,
            Effect {
                difference: 1.0 / 3.0,
                ..e
            },
        ))
        .unwrap();
        assert!(
            json.contains("4380.61}") && json.contains("0.333333,"),
            "{json}"
        );
    }
}
