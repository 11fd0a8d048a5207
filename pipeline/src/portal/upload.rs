//! Outcomes sent back by a caisse: its list, exported in XLSX or CSV, with the outcome
//! columns filled (`joint`, `demande`, `droit_ouvert`, `montant_mensuel`, `date_contact`).
//! The file is read whole, each row that carries an outcome is checked against the
//! `retours` contract (the ingest's own row checks, `RowCheck`) and against the caisse's
//! list, and only a file without any error is stored: `<store>/<caisse>/<YYYY-MM>.parquet`,
//! replacing an earlier upload of the same caisse and month. A run whose
//! `[inputs.retours] path` is the store reads every caisse's outcomes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::domain::contract::{self, Rule};
use crate::domain::month::Month;
use crate::domain::reference::Reference;
use crate::error::Result;
use crate::stages::ingest::validate::RowCheck;
use crate::stages::lists::exports;

/// The technical name of a column header: the exports' own mapping (technical name or
/// French header, whatever the case, accents and spaces), plus the `retours` contract's
/// `mois_contact`, which the exports do not carry.
pub fn technical_name(header: &str) -> Option<&'static str> {
    exports::technical_name(header).or_else(|| {
        matches!(
            crate::io::excel::fold(header).as_str(),
            "mois_contact" | "mois de contact"
        )
        .then_some("mois_contact")
    })
}

/// A table as uploaded: its header and its rows of text, with each row's line number in
/// the file (1 = the header).
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Errors in French, each naming its row and column; nothing is stored when there is one.
#[derive(Debug)]
pub(crate) struct Rejected(pub Vec<String>);

/// Reads a CSV upload: `;` (the excel-fr export, decimal comma, BOM) or `,` (RFC 4180),
/// told by the header line.
pub(crate) fn read_csv(bytes: &[u8]) -> std::result::Result<Table, Rejected> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Rejected(vec![
            "le fichier CSV n'est pas en UTF-8 (enregistrez-le en « CSV UTF-8 »)".into(),
        ])
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("");
    let sep = if first.contains(';') { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table::default();
    for (i, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| Rejected(vec![format!("ligne {} : CSV illisible ({e})", i + 1)]))?;
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if i == 0 {
            table.header = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((i + 1, cells));
        }
    }
    Ok(table)
}

/// Reads an XLSX upload: the first sheet whose first row names `pseudo_id`.
pub(crate) fn read_xlsx(bytes: &[u8]) -> std::result::Result<Table, Rejected> {
    use calamine::{Data, Reader, Xlsx};
    let unreadable = |e: String| Rejected(vec![format!("classeur XLSX illisible ({e})")]);
    let mut book: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(bytes.to_vec())).map_err(|e| unreadable(e.to_string()))?;
    for sheet in book.sheet_names() {
        let range = book
            .worksheet_range(&sheet)
            .map_err(|e| unreadable(e.to_string()))?;
        let first_row = range.start().map_or(0, |(r, _)| r as usize);
        let mut rows = range.rows();
        let Some(header) = rows.next() else { continue };
        let header: Vec<String> = header.iter().map(cell_text).collect();
        if !header
            .iter()
            .any(|h| technical_name(h) == Some("pseudo_id"))
        {
            continue;
        }
        let mut table = Table {
            header,
            rows: Vec::new(),
        };
        for (i, r) in rows.enumerate() {
            let cells: Vec<String> = r.iter().map(cell_text).collect();
            if cells.iter().any(|c| !c.trim().is_empty()) {
                table.rows.push((first_row + i + 2, cells));
            }
        }
        return Ok(table);
    }

    fn cell_text(d: &Data) -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Data::Float(f) => f.to_string(),
            Data::Int(i) => i.to_string(),
            Data::Bool(b) => b.to_string(),
            // A date typed in Excel: its serial number (days since 1899-12-30).
            Data::DateTime(d) => {
                let (y, m, day) =
                    crate::domain::month::civil_from_days(d.as_f64().floor() as i64 - 25_569);
                format!("{y:04}-{m:02}-{day:02}")
            }
            Data::Error(_) => "#ERREUR".into(),
        }
    }
    Err(Rejected(vec![
        "aucune feuille du classeur n'a de colonne « pseudo_id » en première ligne".into(),
    ]))
}

/// Reads an upload by its content: XLSX (a zip archive) or CSV.
pub(crate) fn read_upload(bytes: &[u8]) -> std::result::Result<Table, Rejected> {
    if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(bytes)
    } else {
        read_csv(bytes)
    }
}

/// `oui`/`non` and the like as the contract's booleans (the exports' reading of an outcome
/// cell); anything else is left for the contract check to name.
fn normalise_bool(s: &str) -> String {
    match exports::flag_from_text(s) {
        Some(b) => b.to_string(),
        None => s.trim().to_lowercase(),
    }
}

/// A channel as the lists write it (`téléphone`, `SMS`, …) as its contract code; anything
/// else is left for the contract check to name.
fn normalise_canal(s: &str) -> String {
    match exports::canal_from_text(s) {
        Some(c) => c.code().to_string(),
        None => s.trim().to_string(),
    }
}

/// The month of a contact date: `AAAA-MM-JJ`, `JJ/MM/AAAA` or `AAAA-MM`.
fn month_of_date(s: &str) -> Option<String> {
    let s = s.trim();
    let month = if let Some((d, rest)) = s.split_once('/') {
        let (m, y) = rest.split_once('/')?;
        let (d, m, y): (u32, u32, i32) = (d.parse().ok()?, m.parse().ok()?, y.parse().ok()?);
        (1..=31).contains(&d).then(|| Month::new(y, m))??
    } else if s.len() >= 10 {
        let day: u32 = s.get(8..10)?.parse().ok()?;
        (1..=31)
            .contains(&day)
            .then(|| Month::parse(s.get(..7)?))??
    } else {
        Month::parse(s)?
    };
    Some(month.to_string())
}

/// What a rule means, in French, for the person who filled the file.
fn motif(rule: Rule) -> &'static str {
    match rule {
        Rule::MissingValue => "valeur obligatoire absente",
        Rule::InvalidId => "identifiant invalide (64 caractères hexadécimaux attendus)",
        Rule::InvalidMonth => "mois invalide (AAAA-MM attendu)",
        Rule::UnknownCode => "valeur inconnue (voir les valeurs admises dans le LISEZ-MOI)",
        Rule::InvalidAmount => "montant illisible (par exemple 612,50)",
        Rule::AmountOutOfBounds => "montant au-delà de 100 000 € par mois",
        Rule::NegativeAmount => "montant négatif",
        Rule::InvalidBool => "réponse illisible (oui ou non attendu)",
        _ => rule.code(),
    }
}

/// What is checked an upload against.
pub(crate) struct Context<'a> {
    pub reference: &'a Reference,
    /// The run month of the list: the default contact month.
    pub month: Month,
    /// The people of the caisse's list.
    pub listed: &'a BTreeSet<String>,
    /// The run's largest monthly amounts (the outcome amounts).
    pub amount_bounds: &'a crate::config::AmountBounds,
}

const OUTCOMES: [&str; 4] = ["joint", "demande", "droit_ouvert", "montant_mensuel"];

/// The `retours` rows of an upload, checked; every error at once, or the rows.
pub fn check(table: &Table, ctx: &Context) -> std::result::Result<DataFrame, Rejected> {
    let spec = contract::table("retours");
    let mut errors = Vec::new();
    let position: Vec<Option<&'static str>> =
        table.header.iter().map(|h| technical_name(h)).collect();
    let find = |name: &str| position.iter().position(|p| *p == Some(name));
    let mut needed = vec!["pseudo_id", "canal"];
    needed.extend(OUTCOMES);
    for n in &needed {
        if find(n).is_none() {
            errors.push(format!("colonne « {n} » absente de la première ligne"));
        }
    }
    let prestation = find("prestation").or_else(|| find("prestations"));
    if prestation.is_none() {
        errors.push(
            "colonne « prestation » (ou « prestations ») absente de la première ligne".into(),
        );
    }
    if !errors.is_empty() {
        return Err(Rejected(errors));
    }
    let cell = |row: &[String], name: &str| -> String {
        find(name)
            .and_then(|i| row.get(i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    // One contract row per person and benefit; `lines[i]` is the file line of row i.
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); spec.columns.len()];
    let mut lines = Vec::new();
    let mut seen = BTreeSet::new();
    for (line, row) in &table.rows {
        let row = row.as_slice();
        let filled = OUTCOMES
            .iter()
            .chain(["date_contact", "mois_contact"].iter())
            .any(|n: &&str| !cell(row, n).is_empty());
        if !filled {
            // A person the caisse has not worked yet.
            continue;
        }
        let id = cell(row, "pseudo_id");
        if !ctx.listed.contains(&id) {
            errors.push(format!(
                "ligne {line}, colonne « pseudo_id » : cette personne ne figure pas sur la liste de la caisse pour ce mois"
            ));
        }
        let month = match (cell(row, "mois_contact"), cell(row, "date_contact")) {
            (m, _) if !m.is_empty() => m,
            (_, d) if !d.is_empty() => month_of_date(&d).unwrap_or_else(|| {
                errors.push(format!(
                    "ligne {line}, colonne « date_contact » : date illisible (AAAA-MM-JJ ou JJ/MM/AAAA attendu)"
                ));
                String::new()
            }),
            _ => ctx.month.to_string(),
        };
        let benefits = prestation
            .and_then(|i| row.get(i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        for benefit in benefits.split('+').map(str::trim) {
            if !seen.insert((id.clone(), benefit.to_string())) {
                errors.push(format!(
                    "ligne {line} : la personne et la prestation {benefit} figurent déjà plus haut"
                ));
            }
            for (ci, c) in spec.columns.iter().enumerate() {
                let v = match c.name {
                    "prestation" => benefit.to_string(),
                    "mois_contact" => month.clone(),
                    "joint" | "demande" | "droit_ouvert" => normalise_bool(&cell(row, c.name)),
                    "canal" => normalise_canal(&cell(row, c.name)),
                    name => cell(row, name),
                };
                columns[ci].push(v);
            }
            lines.push(*line);
        }
    }
    if lines.is_empty() && errors.is_empty() {
        return Err(Rejected(vec![
            "aucune ligne ne porte de résultat (colonnes joint, demande, droit_ouvert, montant_mensuel vides)".into(),
        ]));
    }
    let df = DataFrame::new(
        lines.len(),
        spec.columns
            .iter()
            .zip(&columns)
            .map(|(c, v)| Column::new(c.name.into(), v))
            .collect(),
    )
    .map_err(|e| Rejected(vec![format!("erreur interne : {e}")]))?;
    let checker = RowCheck {
        table: spec,
        reference: ctx.reference,
        run_month: ctx.month,
        decimal_comma: true,
        file: "fichier déposé",
        amount_bounds: ctx.amount_bounds,
    };
    let mut issues = Vec::new();
    let typed = checker
        .check(&df, &mut issues)
        .map_err(|e| Rejected(vec![e.to_string()]))?;
    issues.sort();
    for issue in issues {
        let column = issue.column.map_or("", |c| spec.columns[c as usize].name);
        errors.push(format!(
            "ligne {}, colonne « {column} » : {}",
            lines[issue.row as usize],
            motif(issue.rule)
        ));
    }
    if !errors.is_empty() {
        return Err(Rejected(errors));
    }
    DataFrame::new(lines.len(), typed).map_err(|e| Rejected(vec![format!("erreur interne : {e}")]))
}

/// Where a caisse's outcomes for a month are stored.
pub(crate) fn stored_path(store: &Path, caisse: &str, month: Month) -> PathBuf {
    store.join(caisse).join(format!("{month}.parquet"))
}

/// Stores checked outcomes (under a temporary name, then renamed); returns the path.
pub fn store(store: &Path, caisse: &str, month: Month, df: &mut DataFrame) -> Result<PathBuf> {
    let path = stored_path(store, caisse, month);
    crate::io::output::write_parquet(&path, df)?;
    Ok(path)
}

/// The people of a caisse's list (`lists/<caisse>/contacts.parquet`).
pub(crate) fn listed_people(contacts: &Path) -> Result<BTreeSet<String>> {
    let df = crate::io::frame::read_parquet(contacts)?;
    let ids = crate::io::frame::str_col(&df, "contacts", "pseudo_id")?;
    Ok(ids.iter().flatten().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_answers_are_normalised() {
        assert_eq!(
            technical_name("Droit ouvert (oui/non)"),
            Some("droit_ouvert")
        );
        assert_eq!(technical_name("\u{feff}pseudo_id"), Some("pseudo_id"));
        assert_eq!(technical_name(" DATE DU CONTACT "), Some("date_contact"));
        assert_eq!(technical_name("Mois de contact"), Some("mois_contact"));
        assert_eq!(technical_name("colonne inconnue"), None);
        assert_eq!(normalise_canal("Téléphone"), "telephone");
        assert_eq!(normalise_canal("aucun"), "aucun");
        assert_eq!(normalise_bool(" Oui "), "true");
        assert_eq!(normalise_bool("NON"), "false");
        assert_eq!(normalise_bool("peut-être"), "peut-être");
        assert_eq!(month_of_date("2025-10-03").as_deref(), Some("2025-10"));
        assert_eq!(month_of_date("03/10/2025").as_deref(), Some("2025-10"));
        assert_eq!(month_of_date("2025-10").as_deref(), Some("2025-10"));
        assert_eq!(month_of_date("demain"), None);
    }

    #[test]
    fn csv_separator_is_told_by_the_header() {
        let t = read_csv("\u{feff}pseudo_id;joint\r\na;oui\r\n;\r\n".as_bytes()).unwrap();
        assert_eq!(t.header, ["pseudo_id", "joint"]);
        assert_eq!(t.rows, vec![(2, vec!["a".to_string(), "oui".to_string()])]);
        let t = read_csv(b"pseudo_id,joint\n\"a,b\",non\n").unwrap();
        assert_eq!(t.rows[0].1[0], "a,b");
    }
}
