//! Contact lists as the caisses open them: `contacts.xlsx` (typed cells, ids as text,
//! frozen header, autofilter, a "Lisez-moi" sheet), `contacts.csv` in the French Excel
//! dialect (UTF-8 with BOM, `;`, decimal comma, CRLF), `contacts-rfc4180.csv` (UTF-8, `,`,
//! decimal point, CRLF) and `contacts.parquet`. Text cells that a spreadsheet could take
//! for a formula are escaped. Rows come in list order.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};

use crate::error::{RecoursError, Result};
use crate::io::output;
use crate::stages::lists::select::ListEntry;

/// The columns of a contact list and what they mean (the read-me prints this).
pub const COLUMNS: &[(&str, &str)] = &[
    (
        "rang",
        "rang dans la liste : les premiers sont à contacter en priorité",
    ),
    (
        "pseudo_id",
        "identifiant pseudonymisé de la personne (à rapprocher du dossier dans le système de la caisse)",
    ),
    (
        "prestations",
        "prestation(s) auxquelles la personne pourrait avoir droit, séparées par « + »",
    ),
    (
        "canal",
        "canal de contact proposé : telephone, sms, email ou courrier",
    ),
    ("probabilite", "probabilité estimée de non-recours (0 à 1)"),
    (
        "montant_estime",
        "droit mensuel estimé à partir des ressources connues, en euros",
    ),
    (
        "montant_attendu",
        "probabilité × droit estimé, en euros par mois",
    ),
    ("raison_1", "première raison de la priorité, en clair"),
    ("raison_2", "deuxième raison"),
    ("raison_3", "troisième raison"),
    (
        "candidat_deterministe",
        "oui si le droit estimé dépasse le seuil du calcul déterministe",
    ),
];

/// Escapes a text cell that a spreadsheet would read as a formula (OWASP CSV injection):
/// a leading `=`, `+`, `-`, `@`, tab or carriage return gets a leading apostrophe.
pub fn escape_formula(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// The typed values of one row.
struct Row<'a> {
    rang: usize,
    pseudo_id: &'a str,
    prestations: String,
    canal: &'static str,
    probabilite: f64,
    montant_estime: f64,
    montant_attendu: f64,
    raisons: [&'a str; 3],
    deterministe: &'static str,
}

fn rows<'a>(entries: &[&'a ListEntry]) -> Vec<Row<'a>> {
    entries
        .iter()
        .map(|e| Row {
            rang: e.rang_liste.unwrap_or(0),
            pseudo_id: &e.pseudo_id,
            prestations: e.prestations.join("+"),
            canal: e.canal.map_or("", |c| c.code()),
            probabilite: (e.probabilite * 10_000.0).round() / 10_000.0,
            montant_estime: (e.montant_estime * 100.0).round() / 100.0,
            montant_attendu: (e.montant_attendu * 100.0).round() / 100.0,
            raisons: [0, 1, 2].map(|i| e.raisons.get(i).map_or("", |r| r.as_ref())),
            deterministe: if e.candidat_deterministe {
                "oui"
            } else {
                "non"
            },
        })
        .collect()
}

/// A CSV field: quoted when it holds the separator, a quote or a line break.
fn csv_field(s: &str, sep: char) -> String {
    if s.contains(sep) || s.contains('"') || s.contains('\n') || s.contains('\r') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Clone, Copy)]
struct Dialect {
    sep: char,
    decimal_comma: bool,
    bom: bool,
}

fn write_csv(path: &Path, rows: &[Row], d: Dialect) -> Result<()> {
    let num = |x: f64, decimals: usize| {
        let s = format!("{x:.decimals$}");
        if d.decimal_comma {
            s.replace('.', ",")
        } else {
            s
        }
    };
    output::write_atomic(path, |w| {
        let io = |e| RecoursError::io(format!("writing {}", path.display()))(e);
        if d.bom {
            w.write_all("\u{feff}".as_bytes()).map_err(io)?;
        }
        let header: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        w.write_all(header.join(&d.sep.to_string()).as_bytes())
            .map_err(io)?;
        w.write_all(b"\r\n").map_err(io)?;
        for r in rows {
            let text = |s: &str| csv_field(&escape_formula(s), d.sep);
            let fields = [
                r.rang.to_string(),
                text(r.pseudo_id),
                text(&r.prestations),
                text(r.canal),
                num(r.probabilite, 4),
                num(r.montant_estime, 2),
                num(r.montant_attendu, 2),
                text(r.raisons[0]),
                text(r.raisons[1]),
                text(r.raisons[2]),
                text(r.deterministe),
            ];
            w.write_all(fields.join(&d.sep.to_string()).as_bytes())
                .map_err(io)?;
            w.write_all(b"\r\n").map_err(io)?;
        }
        Ok(())
    })
}

fn write_parquet(path: &Path, rows: &[Row]) -> Result<()> {
    let mut df = DataFrame::new_infer_height(vec![
        Column::new(
            "rang".into(),
            rows.iter().map(|r| r.rang as u32).collect::<Vec<_>>(),
        ),
        Column::new(
            "pseudo_id".into(),
            rows.iter().map(|r| r.pseudo_id).collect::<Vec<_>>(),
        ),
        Column::new(
            "prestations".into(),
            rows.iter()
                .map(|r| r.prestations.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "canal".into(),
            rows.iter().map(|r| r.canal).collect::<Vec<_>>(),
        ),
        Column::new(
            "probabilite".into(),
            rows.iter().map(|r| r.probabilite).collect::<Vec<_>>(),
        ),
        Column::new(
            "montant_estime".into(),
            rows.iter().map(|r| r.montant_estime).collect::<Vec<_>>(),
        ),
        Column::new(
            "montant_attendu".into(),
            rows.iter().map(|r| r.montant_attendu).collect::<Vec<_>>(),
        ),
        Column::new(
            "raison_1".into(),
            rows.iter().map(|r| r.raisons[0]).collect::<Vec<_>>(),
        ),
        Column::new(
            "raison_2".into(),
            rows.iter().map(|r| r.raisons[1]).collect::<Vec<_>>(),
        ),
        Column::new(
            "raison_3".into(),
            rows.iter().map(|r| r.raisons[2]).collect::<Vec<_>>(),
        ),
        Column::new(
            "candidat_deterministe".into(),
            rows.iter().map(|r| r.deterministe).collect::<Vec<_>>(),
        ),
    ])
    .map_err(RecoursError::polars("contacts.parquet"))?;
    output::write_parquet(path, &mut df)
}

/// What the read-me says about the run.
pub struct ReadMe<'a> {
    pub caisse: &'a str,
    pub libelle: &'a str,
    pub run_id: &'a str,
    pub month: crate::domain::month::Month,
    /// Benefit and model artefact digest.
    pub models: Vec<(String, String)>,
    pub rules: Vec<String>,
    pub listed: usize,
}

impl ReadMe<'_> {
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec![
            format!(
                "Liste de contacts de la caisse {} ({})",
                self.caisse, self.libelle
            ),
            format!("Mois de la situation : {}", self.month),
            format!("Identifiant de l'exécution : {}", self.run_id),
            format!("Personnes listées : {}", self.listed),
            String::new(),
            "Modèles utilisés (empreinte du fichier du modèle) :".to_string(),
        ];
        v.extend(self.models.iter().map(|(b, d)| format!("  {b} : {d}")));
        v.push(String::new());
        v.push("Règles de constitution de la liste :".to_string());
        v.extend(self.rules.iter().map(|r| format!("  - {r}")));
        v.push(String::new());
        v.push("Colonnes :".to_string());
        v.extend(COLUMNS.iter().map(|(c, m)| format!("  {c} : {m}")));
        v.push(String::new());
        v.push(
            "Le score est une estimation : la caisse vérifie le droit avec la personne. Les textes qui commencent par \
             =, +, -, @ sont précédés d'une apostrophe pour qu'un tableur ne les prenne pas pour des formules."
                .to_string(),
        );
        v
    }
}

fn write_xlsx(path: &Path, rows: &[Row], readme: &ReadMe) -> Result<()> {
    let x = |e: rust_xlsxwriter::XlsxError| {
        RecoursError::Internal(format!("writing {}: {e}", path.display()))
    };
    let mut wb = Workbook::new();
    // A fixed creation date (the run month) keeps the file byte-identical across runs.
    let created = ExcelDateTime::from_ymd(
        readme.month.year() as u16,
        readme.month.month_of_year() as u8,
        1,
    )
    .map_err(x)?;
    wb.set_properties(
        &DocProperties::new()
            .set_creation_datetime(&created)
            .set_title("Liste de contacts recours"),
    );
    let bold = Format::new().set_bold();
    let euros = Format::new().set_num_format("#,##0.00 €");
    let prob = Format::new().set_num_format("0.0%");
    {
        let ws = wb.add_worksheet();
        ws.set_name("Contacts").map_err(x)?;
        for (j, (name, _)) in COLUMNS.iter().enumerate() {
            ws.write_string_with_format(0, j as u16, *name, &bold)
                .map_err(x)?;
        }
        for (i, r) in rows.iter().enumerate() {
            let row = (i + 1) as u32;
            ws.write_number(row, 0, r.rang as f64).map_err(x)?;
            ws.write_string(row, 1, escape_formula(r.pseudo_id))
                .map_err(x)?;
            ws.write_string(row, 2, escape_formula(&r.prestations))
                .map_err(x)?;
            ws.write_string(row, 3, escape_formula(r.canal))
                .map_err(x)?;
            ws.write_number_with_format(row, 4, r.probabilite, &prob)
                .map_err(x)?;
            ws.write_number_with_format(row, 5, r.montant_estime, &euros)
                .map_err(x)?;
            ws.write_number_with_format(row, 6, r.montant_attendu, &euros)
                .map_err(x)?;
            for k in 0..3 {
                ws.write_string(row, 7 + k as u16, escape_formula(r.raisons[k]))
                    .map_err(x)?;
            }
            ws.write_string(row, 10, escape_formula(r.deterministe))
                .map_err(x)?;
        }
        ws.set_freeze_panes(1, 0).map_err(x)?;
        ws.autofilter(0, 0, rows.len() as u32, (COLUMNS.len() - 1) as u16)
            .map_err(x)?;
        for (j, w) in [
            6.0, 66.0, 12.0, 11.0, 11.0, 14.0, 15.0, 40.0, 40.0, 40.0, 10.0,
        ]
        .iter()
        .enumerate()
        {
            ws.set_column_width(j as u16, *w).map_err(x)?;
        }
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("Lisez-moi").map_err(x)?;
        for (i, line) in readme.lines().iter().enumerate() {
            ws.write_string(i as u32, 0, escape_formula(line))
                .map_err(x)?;
        }
        ws.set_column_width(0, 140).map_err(x)?;
    }
    let bytes = wb.save_to_buffer().map_err(x)?;
    output::write_atomic(path, |w| {
        w.write_all(&bytes)
            .map_err(RecoursError::io(format!("writing {}", path.display())))
    })
}

/// Writes one caisse's list in every format, and its read-me.
pub fn write_caisse(dir: &Path, entries: &[&ListEntry], readme: &ReadMe) -> Result<()> {
    let rows = rows(entries);
    write_xlsx(&dir.join("contacts.xlsx"), &rows, readme)?;
    write_csv(
        &dir.join("contacts.csv"),
        &rows,
        Dialect {
            sep: ';',
            decimal_comma: true,
            bom: true,
        },
    )?;
    write_csv(
        &dir.join("contacts-rfc4180.csv"),
        &rows,
        Dialect {
            sep: ',',
            decimal_comma: false,
            bom: false,
        },
    )?;
    write_parquet(&dir.join("contacts.parquet"), &rows)?;
    let text = readme.lines().join("\r\n") + "\r\n";
    output::write_atomic(&dir.join("LISEZ-MOI.txt"), |w| {
        w.write_all(text.as_bytes())
            .map_err(RecoursError::io(format!("writing {}", dir.display())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_escaped() {
        assert_eq!(escape_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for s in ["+1", "-2", "@SUM", "\tx", "\rx"] {
            assert!(escape_formula(s).starts_with('\''), "{s}");
        }
        assert_eq!(escape_formula("revenus faibles"), "revenus faibles");
        assert_eq!(csv_field("a;b", ';'), "\"a;b\"");
        assert_eq!(csv_field("dit \"x\"", ','), "\"dit \"\"x\"\"\"");
    }
}
