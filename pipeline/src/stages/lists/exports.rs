//! Contact lists as the caisses open, print and send back: `contacts.xlsx` (a "Contacts"
//! sheet, an "À joindre autrement" sheet and a "Lisez-moi" sheet, each set up for printing
//! on A4), `contacts.csv` and `a-joindre.csv` in the French Excel dialect, their RFC 4180
//! and Parquet twins, and `LISEZ-MOI.txt`. Every column of every file recours writes for
//! the caisses — the lists, the national summary, the campaign feedback — is one entry of
//! [`COLUMNS`]: its technical name, its French header and its glossary text; a filled file
//! sent back is read through [`technical_name`]. Rows come in list order.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use rust_xlsxwriter::{
    DataValidation, DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet,
};

use crate::error::{RecoursError, Result};
use crate::io::excel::{self, Cell, Dialect, EXCEL_FR, RFC4180, escape_cell};
use crate::io::output;
use crate::stages::lists::select::{Decision, ListEntry};

/// What a column holds, which decides its CSV, XLSX and Parquet form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Int,
    Text,
    /// Euros, two decimals.
    Euros,
    /// A percentage from 0 to 100, one decimal (`98,0` in a CSV, `98,0 %` in the XLSX).
    Percent,
    /// Percentage points, one decimal.
    Points,
    /// oui / non, filled in by the caisse.
    Flag,
    /// A date, filled in by the caisse.
    Date,
}

/// One column of a file meant for a caisse.
#[derive(Debug)]
pub struct ColumnDef {
    /// The technical name: Parquet column, and the name the glossary gives.
    pub name: &'static str,
    /// The header a caisse agent reads.
    pub header: &'static str,
    /// What the column means (the read-me's glossary).
    pub glossary: &'static str,
    pub kind: Kind,
    /// Width in the XLSX, in characters.
    pub width: f64,
}

const fn col(
    name: &'static str,
    header: &'static str,
    kind: Kind,
    width: f64,
    glossary: &'static str,
) -> ColumnDef {
    ColumnDef {
        name,
        header,
        glossary,
        kind,
        width,
    }
}

/// Every column of the files written for the caisses: technical name, French header,
/// glossary. Headers are unique (also once folded: [`technical_name`] reads them back).
pub(crate) const COLUMNS: &[ColumnDef] = &[
    col(
        "rang",
        "Rang",
        Kind::Int,
        5.0,
        "ordre dans lequel contacter les personnes de la feuille : les premières d'abord",
    ),
    col(
        "pseudo_id",
        "Identifiant",
        Kind::Text,
        17.0,
        "identifiant pseudonymisé de la personne, à rapprocher de son dossier dans le système de la caisse",
    ),
    col(
        "prestations",
        "Prestations",
        Kind::Text,
        10.0,
        "prestation(s) auxquelles la personne pourrait avoir droit (PPA : prime d'activité ; RSA : revenu de solidarité active ; ASPA : allocation de solidarité aux personnes âgées), séparées par « + »",
    ),
    col(
        "canal",
        "Canal",
        Kind::Text,
        10.0,
        "canal de contact proposé : téléphone, SMS, e-mail ou courrier (dans les retours de campagne, « aucun » désigne le groupe témoin)",
    ),
    col(
        "probabilite",
        "Probabilité de non-recours (%)",
        Kind::Percent,
        11.0,
        "probabilité estimée par le modèle que la personne ne demande pas un droit qu'elle aurait, en pourcentage ; pour plusieurs prestations, leur moyenne pondérée par les droits estimés",
    ),
    col(
        "montant_ppa",
        "Droit PPA estimé (€/mois)",
        Kind::Euros,
        11.0,
        "prime d'activité mensuelle estimée à partir des ressources connues (vide si la ligne ne porte pas sur la PPA)",
    ),
    col(
        "montant_rsa",
        "Droit RSA estimé (€/mois)",
        Kind::Euros,
        11.0,
        "RSA mensuel estimé à partir des ressources connues (vide si la ligne ne porte pas sur le RSA)",
    ),
    col(
        "montant_aspa",
        "Droit ASPA estimé (€/mois)",
        Kind::Euros,
        11.0,
        "ASPA mensuelle estimée à partir des ressources connues (vide si la ligne ne porte pas sur l'ASPA)",
    ),
    col(
        "montant_estime",
        "Droit total estimé (€/mois)",
        Kind::Euros,
        11.0,
        "somme des droits estimés par prestation, en euros par mois",
    ),
    col(
        "montant_attendu",
        "Montant attendu (€/mois)",
        Kind::Euros,
        11.0,
        "probabilité de non-recours × droit total estimé, en euros par mois : ce qu'un contact peut rendre en moyenne (dans le récapitulatif : total des personnes de la ligne)",
    ),
    col(
        "raison_1",
        "Raison 1",
        Kind::Text,
        24.0,
        "première raison pour laquelle la personne est sur la liste, en clair",
    ),
    col("raison_2", "Raison 2", Kind::Text, 22.0, "deuxième raison"),
    col("raison_3", "Raison 3", Kind::Text, 22.0, "troisième raison"),
    col(
        "candidat_deterministe",
        "Droit calculé",
        Kind::Text,
        8.0,
        "oui quand le droit calculé à partir des ressources connues atteint le montant fixé dans les règles : la personne est alors sur la liste quel que soit son score",
    ),
    col(
        "motif_sans_canal",
        "Pourquoi pas de canal ici",
        Kind::Text,
        24.0,
        "ce qui manque à la caisse pour contacter la personne par téléphone, SMS, e-mail ou courrier",
    ),
    col(
        "canaux_ailleurs",
        "Canaux connus d'autres organismes",
        Kind::Text,
        30.0,
        "organismes du RNCPS qui connaissent une adresse, un mobile ou un e-mail de la personne (la valeur n'est pas transmise : la demander à l'organisme)",
    ),
    col(
        "joint",
        "Personne jointe (oui/non)",
        Kind::Flag,
        9.0,
        "à remplir après le contact : oui si la personne a été jointe",
    ),
    col(
        "demande",
        "Demande déposée (oui/non)",
        Kind::Flag,
        9.0,
        "à remplir : oui si la personne a déposé une demande",
    ),
    col(
        "droit_ouvert",
        "Droit ouvert (oui/non)",
        Kind::Flag,
        9.0,
        "à remplir : oui si un droit a été ouvert",
    ),
    col(
        "montant_mensuel",
        "Montant du droit ouvert (€/mois)",
        Kind::Euros,
        11.0,
        "à remplir : montant mensuel du droit ouvert, en euros",
    ),
    col(
        "date_contact",
        "Date du contact",
        Kind::Date,
        11.0,
        "à remplir : date du contact (jj/mm/aaaa)",
    ),
    col("caisse", "Caisse", Kind::Text, 12.0, "code de la caisse"),
    col(
        "decision",
        "Décision",
        Kind::Text,
        24.0,
        "ce que la liste a retenu pour ces personnes (listée, groupe témoin, à joindre par un autre moyen, etc.)",
    ),
    col(
        "personnes",
        "Personnes",
        Kind::Int,
        9.0,
        "nombre de personnes",
    ),
    col(
        "joints",
        "Personnes jointes",
        Kind::Int,
        9.0,
        "personnes jointes",
    ),
    col(
        "demandes",
        "Demandes déposées",
        Kind::Int,
        9.0,
        "personnes qui ont déposé une demande",
    ),
    col(
        "droits_ouverts",
        "Droits ouverts",
        Kind::Int,
        9.0,
        "personnes dont un droit a été ouvert",
    ),
    col(
        "taux_droits_ouverts",
        "Taux de droits ouverts (%)",
        Kind::Percent,
        9.0,
        "droits ouverts ÷ personnes, en pourcentage",
    ),
    col(
        "montant_moyen",
        "Montant moyen du droit ouvert (€/mois)",
        Kind::Euros,
        11.0,
        "montant mensuel moyen des droits ouverts",
    ),
    col(
        "effet_vs_temoin",
        "Effet contre le groupe témoin (points)",
        Kind::Points,
        11.0,
        "taux de droits ouverts des personnes contactées par ce canal moins celui du groupe témoin, en points de pourcentage",
    ),
    col(
        "effet_ic95_bas",
        "Effet : borne basse à 95 % (points)",
        Kind::Points,
        11.0,
        "borne basse de l'intervalle de confiance à 95 % de l'effet",
    ),
    col(
        "effet_ic95_haut",
        "Effet : borne haute à 95 % (points)",
        Kind::Points,
        11.0,
        "borne haute de l'intervalle de confiance à 95 % de l'effet",
    ),
];

/// The columns the caisse fills in after the campaign (the `retours` table's outcomes).
pub const OUTCOMES: &[&str] = &[
    "joint",
    "demande",
    "droit_ouvert",
    "montant_mensuel",
    "date_contact",
];

/// The columns of a contact list (`contacts.*`, sheet "Contacts").
pub const CONTACTS: &[&str] = &[
    "rang",
    "pseudo_id",
    "prestations",
    "canal",
    "probabilite",
    "montant_ppa",
    "montant_rsa",
    "montant_aspa",
    "montant_estime",
    "montant_attendu",
    "raison_1",
    "raison_2",
    "raison_3",
    "candidat_deterministe",
    "joint",
    "demande",
    "droit_ouvert",
    "montant_mensuel",
    "date_contact",
];

/// The columns of the people to reach by other means (`a-joindre.*`, sheet "À joindre
/// autrement").
pub const A_JOINDRE: &[&str] = &[
    "rang",
    "pseudo_id",
    "prestations",
    "probabilite",
    "montant_ppa",
    "montant_rsa",
    "montant_aspa",
    "montant_estime",
    "montant_attendu",
    "raison_1",
    "raison_2",
    "raison_3",
    "candidat_deterministe",
    "motif_sans_canal",
    "canaux_ailleurs",
    "joint",
    "demande",
    "droit_ouvert",
    "montant_mensuel",
    "date_contact",
];

/// The columns of `lists/summary.csv`.
pub(crate) const SUMMARY: &[&str] = &[
    "caisse",
    "prestations",
    "decision",
    "canal",
    "personnes",
    "montant_attendu",
];

/// The columns of `lists/campaign-feedback.csv`.
pub(crate) const FEEDBACK: &[&str] = &[
    "caisse",
    "canal",
    "personnes",
    "joints",
    "demandes",
    "droits_ouverts",
    "taux_droits_ouverts",
    "montant_moyen",
    "effet_vs_temoin",
    "effet_ic95_bas",
    "effet_ic95_haut",
];

/// The benefits with an amount column of their own, and that column.
const BENEFIT_AMOUNTS: [(&str, &str); 3] = [
    ("PPA", "montant_ppa"),
    ("RSA", "montant_rsa"),
    ("ASPA", "montant_aspa"),
];

/// The column named `name` in [`COLUMNS`].
pub fn column(name: &str) -> &'static ColumnDef {
    COLUMNS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is not in exports::COLUMNS"))
}

/// The technical name of a column from its header as a caisse sends a filled file back:
/// the French header or the technical name, whatever the case, accents and surrounding
/// spaces (and a leading byte-order mark). `None` for a header recours never wrote.
pub fn technical_name(header: &str) -> Option<&'static str> {
    let h = excel::fold(header);
    COLUMNS
        .iter()
        .find(|c| excel::fold(c.header) == h || excel::fold(c.name) == h)
        .map(|c| c.name)
}

/// A channel as a list writes it (`téléphone`, `SMS`, `e-mail`, `courrier`) or by its code,
/// read back from a filled file whatever the case and accents.
pub(crate) fn canal_from_text(text: &str) -> Option<crate::domain::codes::Canal> {
    let t = excel::fold(text);
    crate::domain::codes::Canal::ALL
        .into_iter()
        .find(|c| t == c.code() || t == excel::fold(c.label()))
}

/// An outcome cell (`joint`, `demande`, `droit_ouvert`) as a caisse fills it: oui / non
/// (also o / n, vrai / faux, 1 / 0, true / false); `None` when empty or anything else.
pub(crate) fn flag_from_text(text: &str) -> Option<bool> {
    match excel::fold(text).as_str() {
        "oui" | "o" | "vrai" | "1" | "true" => Some(true),
        "non" | "n" | "faux" | "0" | "false" => Some(false),
        _ => None,
    }
}

/// One value of a row; its form comes from its column's [`Kind`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Text(String),
    Num(f64),
    Empty,
}

/// A table written for the caisses: columns of [`COLUMNS`], rows of values.
pub(crate) struct Table {
    columns: Vec<&'static ColumnDef>,
    rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn new(names: &[&str], rows: Vec<Vec<Value>>) -> Table {
        let columns: Vec<&'static ColumnDef> = names.iter().map(|n| column(n)).collect();
        debug_assert!(rows.iter().all(|r| r.len() == columns.len()));
        Table { columns, rows }
    }

    fn cell(&self, j: usize, v: &Value) -> Cell {
        match v {
            Value::Int(n) => Cell::Int(*n),
            Value::Text(s) => Cell::Text(s.clone()),
            Value::Num(x) => Cell::Num(
                *x,
                match self.columns[j].kind {
                    Kind::Euros => 2,
                    Kind::Int => 0,
                    _ => 1,
                },
            ),
            Value::Empty => Cell::Empty,
        }
    }

    /// The table as a CSV file: French headers in the French Excel dialect, technical names
    /// in RFC 4180 (for programs).
    pub(crate) fn write_csv(&self, path: &Path, d: Dialect) -> Result<()> {
        let header: Vec<&str> = self
            .columns
            .iter()
            .map(|c| if d == EXCEL_FR { c.header } else { c.name })
            .collect();
        output::write_atomic(path, |w| {
            let rows = self.rows.iter().map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, v)| self.cell(j, v))
                    .collect::<Vec<_>>()
            });
            d.write(w, &header, rows)
                .map_err(RecoursError::io(format!("writing {}", path.display())))
        })
    }

    /// The table as Parquet, columns by their technical names and typed by their kind (the
    /// columns the caisse fills in: null).
    fn write_parquet(&self, path: &Path) -> Result<()> {
        let columns: Vec<Column> = self
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let values = self.rows.iter().map(|r| &r[j]);
                let name = c.name.into();
                match c.kind {
                    Kind::Int => Column::new(
                        name,
                        values
                            .map(|v| match v {
                                Value::Int(n) => Some(*n as u32),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                    Kind::Euros | Kind::Percent | Kind::Points => Column::new(
                        name,
                        values
                            .map(|v| match v {
                                Value::Num(x) => Some(*x),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                    Kind::Flag => {
                        Column::new(name, values.map(|_| None::<bool>).collect::<Vec<_>>())
                    }
                    Kind::Text | Kind::Date => Column::new(
                        name,
                        values
                            .map(|v| match v {
                                Value::Text(s) => Some(s.as_str()),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                }
            })
            .collect();
        let mut df = DataFrame::new_infer_height(columns)
            .map_err(RecoursError::polars(path.display().to_string()))?;
        output::write_parquet(path, &mut df)
    }

    /// The table as a worksheet set up for printing: French headers in bold on a repeated,
    /// frozen first row, typed cells, text wrapped in its column, the amount columns of
    /// benefits absent from the sheet hidden.
    fn write_sheet(&self, ws: &mut Worksheet, f: &Formats, title: &str) -> Result<()> {
        let x = xlsx_error;
        let last_row = self.rows.len() as u32;
        for (j, c) in self.columns.iter().enumerate() {
            let j = j as u16;
            ws.write_string_with_format(0, j, escape_cell(c.header), &f.header)
                .map_err(x)?;
            ws.set_column_width(j, c.width).map_err(x)?;
            let format = match c.kind {
                Kind::Int => &f.int,
                Kind::Text => &f.text,
                Kind::Euros => &f.euros,
                Kind::Percent => &f.percent,
                Kind::Points => &f.points,
                Kind::Flag => &f.flag,
                Kind::Date => &f.date,
            };
            // The columns the caisse fills in are typed and checked even while empty.
            if matches!(c.kind, Kind::Flag | Kind::Date) || OUTCOMES.contains(&c.name) {
                for i in 1..=last_row {
                    ws.write_blank(i, j, format).map_err(x)?;
                }
            }
            if c.kind == Kind::Flag && last_row > 0 {
                let yes_no = DataValidation::new()
                    .allow_list_strings(&["oui", "non"])
                    .map_err(x)?;
                ws.add_data_validation(1, j, last_row, j, &yes_no)
                    .map_err(x)?;
            }
            let benefit_absent = BENEFIT_AMOUNTS.iter().any(|(_, n)| *n == c.name)
                && self.rows.iter().all(|r| r[j as usize] == Value::Empty);
            if benefit_absent {
                ws.set_column_hidden(j).map_err(x)?;
            }
            for (i, r) in self.rows.iter().enumerate() {
                let row = i as u32 + 1;
                match &r[j as usize] {
                    Value::Int(n) => ws.write_number_with_format(row, j, *n as f64, format),
                    Value::Num(v) => ws.write_number_with_format(row, j, *v, format),
                    Value::Text(s) => ws.write_string_with_format(row, j, escape_cell(s), format),
                    Value::Empty => continue,
                }
                .map_err(x)?;
            }
        }
        // Rows as tall as their wrapped text: a spreadsheet that does not size them on
        // opening (LibreOffice printing the file) would print wrapped lines over the next row.
        let header: Vec<Value> = self
            .columns
            .iter()
            .map(|c| Value::Text(c.header.to_string()))
            .collect();
        for (i, r) in std::iter::once(&header).chain(&self.rows).enumerate() {
            let lines = self
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| match v {
                    Value::Text(t) if i == 0 || c.kind == Kind::Text => wrapped_lines(t, c.width),
                    _ => 1,
                })
                .max()
                .unwrap_or(1);
            ws.set_row_height(i as u32, LINE_HEIGHT * lines as f64)
                .map_err(x)?;
        }
        let last_col = (self.columns.len() - 1) as u16;
        ws.set_freeze_panes(1, 2).map_err(x)?;
        ws.autofilter(0, 0, last_row, last_col).map_err(x)?;
        ws.set_repeat_rows(0, 0).map_err(x)?;
        print_setup(ws, title, true);
        Ok(())
    }
}

/// Height of one line of the default 11-point font, in points.
const LINE_HEIGHT: f64 = 15.0;

/// Lines `text` takes when wrapped at spaces in a column `width` characters wide (a word
/// longer than the column is cut into as many lines as it needs). Column widths count the
/// digit `0` of the default font, wider than most letters: the estimate errs tall.
fn wrapped_lines(text: &str, width: f64) -> usize {
    let room = (width.floor() as usize).max(1);
    let mut lines = 0;
    for paragraph in text.split('\n') {
        let mut used = 0;
        lines += 1;
        for word in paragraph.split_whitespace() {
            let n = word.chars().count();
            if used > 0 && used + 1 + n <= room {
                used += 1 + n;
                continue;
            }
            if used > 0 {
                lines += 1;
            }
            lines += (n.max(1) - 1) / room;
            used = (n - 1) % room + 1;
        }
    }
    lines.max(1)
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> RecoursError {
    RecoursError::Internal(format!("writing an XLSX workbook: {e}"))
}

/// A4, fit to the page's width (as many pages long as needed), narrow margins, the title
/// in the header and the page number in the footer.
fn print_setup(ws: &mut Worksheet, title: &str, landscape: bool) {
    ws.set_paper_size(9);
    if landscape {
        ws.set_landscape();
    } else {
        ws.set_portrait();
    }
    ws.set_print_fit_to_pages(1, 0);
    ws.set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
    // `&` starts a header code: doubled to print as itself.
    ws.set_header(format!("&L{}", title.replace('&', "&&")));
    ws.set_footer("&CPage &P / &N");
}

struct Formats {
    header: Format,
    int: Format,
    text: Format,
    euros: Format,
    percent: Format,
    points: Format,
    flag: Format,
    date: Format,
}

impl Formats {
    fn new() -> Formats {
        let top = Format::new().set_align(FormatAlign::Top);
        Formats {
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Top)
                .set_background_color(0xD9D9D9),
            int: top.clone().set_num_format("0"),
            text: top.clone().set_text_wrap(),
            euros: top.clone().set_num_format("#,##0.00 \"€\""),
            percent: top.clone().set_num_format("0.0\" %\""),
            points: top.clone().set_num_format("+0.0;-0.0;0.0"),
            flag: top.clone(),
            date: top.set_num_format("dd/mm/yyyy"),
        }
    }
}

/// A person with no usable channel at the listing caisse, for the "à joindre par un autre
/// moyen" sheet: why, and which other caisses know a channel.
pub struct Unreached<'a> {
    pub entry: &'a ListEntry,
    pub motif: String,
    pub ailleurs: String,
}

/// The amounts a list shows for an entry: each benefit's (cents), their total (the sum of
/// what is shown), the probability as a percentage (one decimal), and the expected amount
/// as that percentage of that total, so that every row adds up as printed.
struct Amounts {
    by_benefit: [Option<f64>; 3],
    total: f64,
    percent: f64,
    expected: f64,
}

/// An entry's estimated monthly amount per benefit, in cents, for the columns of
/// [`BENEFIT_AMOUNTS`] (`None` for a benefit the entry is not listed for): the lists' and
/// `lists/decisions.parquet`'s `montant_ppa`, `montant_rsa`, `montant_aspa`.
pub fn benefit_amounts(e: &ListEntry) -> [Option<f64>; 3] {
    BENEFIT_AMOUNTS.map(|(b, _)| {
        e.prestations
            .iter()
            .position(|p| *p == b)
            .map(|k| cents(e.montants[k]))
    })
}

/// An amount rounded to the cent.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn amounts(e: &ListEntry) -> Amounts {
    let by_benefit = benefit_amounts(e);
    let total = cents(by_benefit.iter().flatten().sum());
    let percent = (e.probabilite * 1000.0).round() / 10.0;
    Amounts {
        by_benefit,
        total,
        percent,
        expected: cents(percent / 100.0 * total),
    }
}

/// The values of an entry for the columns `names` ([`CONTACTS`] or [`A_JOINDRE`]).
fn row(names: &[&str], rang: usize, e: &ListEntry, unreached: Option<&Unreached>) -> Vec<Value> {
    let a = amounts(e);
    let text = |s: &str| Value::Text(s.to_string());
    names
        .iter()
        .map(|n| match *n {
            "rang" => Value::Int(rang as u64),
            "pseudo_id" => text(&e.pseudo_id),
            "prestations" => text(&e.prestations.join("+")),
            "canal" => e.canal.map_or(Value::Empty, |c| text(c.label())),
            "probabilite" => Value::Num(a.percent),
            "montant_ppa" => a.by_benefit[0].map_or(Value::Empty, Value::Num),
            "montant_rsa" => a.by_benefit[1].map_or(Value::Empty, Value::Num),
            "montant_aspa" => a.by_benefit[2].map_or(Value::Empty, Value::Num),
            "montant_estime" => Value::Num(a.total),
            "montant_attendu" => Value::Num(a.expected),
            "raison_1" | "raison_2" | "raison_3" => {
                let k = n.as_bytes()[7] - b'1';
                e.raisons.get(k as usize).map_or(Value::Empty, |r| text(r))
            }
            "candidat_deterministe" => text(if e.candidat_deterministe {
                "oui"
            } else {
                "non"
            }),
            "motif_sans_canal" => unreached.map_or(Value::Empty, |u| text(&u.motif)),
            "canaux_ailleurs" => unreached.map_or(Value::Empty, |u| text(&u.ailleurs)),
            o if OUTCOMES.contains(&o) => Value::Empty,
            other => panic!("{other} is not a column of a contact list"),
        })
        .collect()
}

/// What the read-me says about the run and the caisse's lists.
pub struct ReadMe<'a> {
    pub caisse: &'a str,
    pub libelle: &'a str,
    pub run_id: &'a str,
    pub month: crate::domain::month::Month,
    /// Benefit and model artefact digest.
    pub models: Vec<(String, String)>,
    pub rules: Vec<String>,
    /// Everyone the caisse's lists considered, by decision (listed ones included).
    pub decisions: Vec<(Decision, usize)>,
}

impl ReadMe<'_> {
    fn count(&self, d: Decision) -> usize {
        self.decisions
            .iter()
            .filter(|(x, _)| *x == d)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn lines(&self) -> Vec<String> {
        let name = crate::stages::lists::select::caisse_name(self.caisse, self.libelle);
        let listed = self.count(Decision::Liste);
        let unreached = self.count(Decision::AucunCanal);
        let considered: usize = self.decisions.iter().map(|(_, n)| n).sum();
        let mut v = vec![
            format!("Listes de contacts : {name}"),
            format!(
                "Mois de la situation : {}",
                crate::domain::fr::month(self.month)
            ),
            format!("Identifiant de l'exécution : {}", self.run_id),
            format!(
                "Personnes à contacter (feuille « Contacts », fichier contacts.csv) : {listed}"
            ),
            format!(
                "Personnes à joindre par un autre moyen (feuille « À joindre autrement », fichier a-joindre.csv) : {unreached}"
            ),
            String::new(),
            format!("Personnes examinées pour la caisse ce mois-ci : {considered}, dont :"),
        ];
        v.extend(
            self.decisions
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(d, n)| format!("  - {} : {n} ({})", d.label(), d.explain())),
        );
        if listed == 0 {
            v.push(format!(
                "Aucune personne à contacter ce mois-ci : aucune des {considered} personnes examinées ne remplit toutes les règles ci-dessous (le détail par motif est juste au-dessus)."
            ));
        }
        v.push(String::new());
        v.push("À joindre par un autre moyen :".to_string());
        v.push(
            "  Ces personnes seraient à contacter, mais la caisse ne connaît aucun canal utilisable : ni mobile, ni adresse où leur écrire, ni e-mail avec usage de l'espace en ligne. La colonne « Pourquoi pas de canal ici » dit ce qui manque ; la colonne « Canaux connus d'autres organismes » nomme les organismes du RNCPS qui connaissent une adresse, un mobile ou un e-mail (sans la valeur, à leur demander). Elles ne comptent pas dans la capacité des canaux ni dans le groupe témoin."
                .to_string(),
        );
        v.push(String::new());
        v.push("Modèles utilisés (empreinte du fichier du modèle) :".to_string());
        v.extend(self.models.iter().map(|(b, d)| format!("  {b} : {d}")));
        v.push(String::new());
        v.push("Règles de constitution de la liste :".to_string());
        v.extend(self.rules.iter().map(|r| format!("  - {r}")));
        v.push(
            "  - Droit estimé nul : une personne dont le droit estimé à partir des ressources connues est nul n'est pas listée, quel que soit son score ; une prestation estimée à 0 € n'est pas nommée à côté d'une autre."
                .to_string(),
        );
        v.push(
            "  - Plusieurs prestations : une ligne par personne, un droit estimé par prestation et leur somme ; la probabilité est leur moyenne pondérée par les droits, si bien que montant attendu = probabilité × droit total estimé."
                .to_string(),
        );
        v.push(String::new());
        v.push("Colonnes (en-tête — nom technique : signification) :".to_string());
        let mut seen: Vec<&str> = Vec::new();
        for n in CONTACTS.iter().chain(A_JOINDRE) {
            if seen.contains(n) {
                continue;
            }
            seen.push(n);
            let c = column(n);
            v.push(format!("  {} — {} : {}", c.header, c.name, c.glossary));
        }
        v.push(String::new());
        v.push(
            "Retours de campagne : après les contacts, remplissez dans la feuille « Contacts » (ou « À joindre autrement ») les colonnes « Personne jointe », « Demande déposée », « Droit ouvert » (oui ou non), « Montant du droit ouvert » et « Date du contact », puis déposez le fichier, XLSX ou CSV, sur le portail recours. Les colonnes sont reconnues par leur en-tête ou leur nom technique ; ne changez pas la colonne « Identifiant »."
                .to_string(),
        );
        v.push(String::new());
        v.push(
            "Nombres : montants en euros par mois, probabilités en pourcentage. Le score est une estimation : la caisse vérifie le droit avec la personne. Les textes qui commencent par =, +, -, @ sont précédés d'une apostrophe pour qu'un tableur ne les prenne pas pour des formules."
                .to_string(),
        );
        v
    }
}

fn write_xlsx(path: &Path, contacts: &Table, unreached: &Table, readme: &ReadMe) -> Result<()> {
    let x = xlsx_error;
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
    let formats = Formats::new();
    let name = crate::stages::lists::select::caisse_name(readme.caisse, readme.libelle);
    let title = |what: &str| {
        format!(
            "{name} — {what} — {}",
            crate::domain::fr::month(readme.month)
        )
    };
    {
        let ws = wb.add_worksheet();
        ws.set_name("Contacts").map_err(x)?;
        contacts.write_sheet(ws, &formats, &title("personnes à contacter"))?;
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("À joindre autrement").map_err(x)?;
        unreached.write_sheet(ws, &formats, &title("à joindre par un autre moyen"))?;
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("Lisez-moi").map_err(x)?;
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        let bold = wrap.clone().set_bold();
        for (i, line) in readme.lines().iter().enumerate() {
            let f = if i == 0 { &bold } else { &wrap };
            ws.write_string_with_format(i as u32, 0, escape_cell(line), f)
                .map_err(x)?;
        }
        // Wrapped in a column that fits a portrait A4 page: nothing cut at the right edge.
        ws.set_column_width(0, 100).map_err(x)?;
        print_setup(ws, &title("lisez-moi"), false);
    }
    let bytes = wb.save_to_buffer().map_err(x)?;
    output::write_atomic(path, |w| {
        w.write_all(&bytes)
            .map_err(RecoursError::io(format!("writing {}", path.display())))
    })
}

/// Writes one caisse's lists in every format — the people to contact (`entries`, in list
/// order) and the people to reach by other means (`unreached`, in priority order) — and
/// its read-me.
/// One format of the files each caisse receives, named `<table><suffix>` (`contacts.xlsx`);
/// the portal lists a caisse's `contacts` file of each format under `label`, in this
/// order, and serves it as `mime`. **An export format for caisses is added here, as one
/// entry.**
pub(crate) struct ExportFormat {
    pub suffix: &'static str,
    /// What the portal's download page calls it (French).
    pub label: &'static str,
    pub mime: &'static str,
    write: Writer,
}

/// How a format is written into a caisse's folder.
enum Writer {
    /// One workbook (`contacts<suffix>`): the contacts, the people to reach otherwise and
    /// the read-me, one sheet each.
    Workbook,
    /// One file per table (`contacts<suffix>`, `a-joindre<suffix>`).
    EachTable(fn(&Table, &Path) -> Result<()>),
}

/// The formats of a caisse's lists, in the order the portal offers them.
pub(crate) const FORMATS: &[ExportFormat] = &[
    ExportFormat {
        suffix: ".xlsx",
        label: "Excel (XLSX)",
        mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        write: Writer::Workbook,
    },
    ExportFormat {
        suffix: ".csv",
        label: "CSV pour Excel (séparateur « ; », virgule décimale)",
        mime: "text/csv; charset=utf-8",
        write: Writer::EachTable(|t, path| t.write_csv(path, EXCEL_FR)),
    },
    ExportFormat {
        suffix: "-rfc4180.csv",
        label: "CSV standard (RFC 4180)",
        mime: "text/csv; charset=utf-8",
        write: Writer::EachTable(|t, path| t.write_csv(path, RFC4180)),
    },
    ExportFormat {
        suffix: ".parquet",
        label: "Parquet",
        mime: "application/vnd.apache.parquet",
        write: Writer::EachTable(Table::write_parquet),
    },
];

/// The stem of the contacts' files (`contacts.xlsx`, `contacts.csv`…).
pub(crate) const CONTACTS_FILE: &str = "contacts";
/// The read-me written beside the lists of each caisse.
pub(crate) const README_FILE: &str = "LISEZ-MOI.txt";

/// The format (its place in [`FORMATS`]) of a caisse's contacts file, by its name in the
/// caisse's folder.
pub(crate) fn format_of(file: &str) -> Option<usize> {
    FORMATS
        .iter()
        .position(|f| file.strip_prefix(CONTACTS_FILE) == Some(f.suffix))
}

pub fn write_caisse(
    dir: &Path,
    entries: &[&ListEntry],
    unreached: &[Unreached],
    readme: &ReadMe,
) -> Result<()> {
    let contacts = Table::new(
        CONTACTS,
        entries
            .iter()
            .map(|e| row(CONTACTS, e.rang_liste.unwrap_or(0), e, None))
            .collect(),
    );
    let others = Table::new(
        A_JOINDRE,
        unreached
            .iter()
            .enumerate()
            .map(|(i, u)| row(A_JOINDRE, i + 1, u.entry, Some(u)))
            .collect(),
    );
    for format in FORMATS {
        match format.write {
            Writer::Workbook => {
                let path = dir.join(format!("{CONTACTS_FILE}{}", format.suffix));
                write_xlsx(&path, &contacts, &others, readme)?;
            }
            Writer::EachTable(write) => {
                for (table, stem) in [(&contacts, CONTACTS_FILE), (&others, "a-joindre")] {
                    write(table, &dir.join(format!("{stem}{}", format.suffix)))?;
                }
            }
        }
    }
    let text = readme.lines().join("\r\n") + "\r\n";
    output::write_atomic(&dir.join(README_FILE), |w| {
        w.write_all(text.as_bytes())
            .map_err(RecoursError::io(format!("writing {}", dir.display())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_export_format_is_found_by_its_contacts_file() {
        for (i, f) in FORMATS.iter().enumerate() {
            let file = format!("{CONTACTS_FILE}{}", f.suffix);
            assert_eq!(format_of(&file), Some(i), "{file}");
        }
        assert_eq!(format_of(README_FILE), None);
        assert_eq!(format_of("a-joindre.csv"), None);
    }

    #[test]
    fn wrapped_lines_count_words_at_spaces_and_cut_long_ones() {
        assert_eq!(wrapped_lines("", 10.0), 1);
        assert_eq!(wrapped_lines("Rang", 5.0), 1);
        assert_eq!(wrapped_lines("droit PPA estimé à 758 € par mois", 10.0), 4);
        assert_eq!(wrapped_lines("a b", 3.0), 1);
        assert_eq!(wrapped_lines("a bc", 3.0), 2);
        // A 64-character id in a 17-character column: four lines.
        assert_eq!(wrapped_lines(&"0".repeat(64), 17.0), 4);
        assert_eq!(wrapped_lines("un\ndeux", 10.0), 2);
    }

    #[test]
    fn every_export_column_is_in_the_one_table_and_headers_read_back() {
        for n in CONTACTS
            .iter()
            .chain(A_JOINDRE)
            .chain(SUMMARY)
            .chain(FEEDBACK)
        {
            column(n);
        }
        assert!(CONTACTS.ends_with(OUTCOMES) && A_JOINDRE.ends_with(OUTCOMES));
        let mut folded: Vec<String> = COLUMNS
            .iter()
            .flat_map(|c| {
                let (h, n) = (excel::fold(c.header), excel::fold(c.name));
                // A header may be its technical name with a capital ("Caisse").
                if h == n { vec![h] } else { vec![h, n] }
            })
            .collect();
        folded.sort();
        let n = folded.len();
        folded.dedup();
        assert_eq!(folded.len(), n, "headers and names are unique once folded");
        for c in COLUMNS {
            assert_eq!(technical_name(c.name), Some(c.name));
            assert_eq!(technical_name(c.header), Some(c.name));
            assert_eq!(
                technical_name(&format!("  {}\u{a0}", c.header.to_uppercase())),
                Some(c.name)
            );
        }
        assert_eq!(technical_name("personne jointe (OUI/NON)"), Some("joint"));
        assert_eq!(
            technical_name("\u{feff}Date du contact "),
            Some("date_contact")
        );
        assert_eq!(
            technical_name("Montant du droit ouvert (€/mois)"),
            Some("montant_mensuel")
        );
        assert_eq!(
            technical_name("DROIT OUVERT (oui/non)"),
            Some("droit_ouvert")
        );
        assert_eq!(
            technical_name("Probabilite de non-recours (%)"),
            Some("probabilite")
        );
        assert_eq!(technical_name("commentaire"), None);
    }

    #[test]
    fn channels_and_flags_read_back_from_a_filled_file() {
        use crate::domain::codes::Canal;
        for c in Canal::ALL {
            assert_eq!(canal_from_text(c.label()), Some(c));
            assert_eq!(
                canal_from_text(&format!(" {} ", c.code().to_uppercase())),
                Some(c)
            );
        }
        assert_eq!(canal_from_text("Téléphone"), Some(Canal::Telephone));
        assert_eq!(canal_from_text("pigeon"), None);
        assert_eq!(flag_from_text(" OUI "), Some(true));
        assert_eq!(flag_from_text("Non"), Some(false));
        assert_eq!(flag_from_text(""), None);
    }

    #[test]
    fn a_merged_row_adds_up_as_printed() {
        let e = ListEntry {
            caisse: "CAF59".into(),
            pseudo_id: "p".into(),
            prestations: vec!["PPA", "RSA"],
            montants: vec![588.694, 82.061],
            probabilite: 0.9801,
            montant_estime: 670.755,
            montant_attendu: 657.4,
            priorite: 0.0,
            candidat_deterministe: true,
            raisons: vec![],
            decision: Decision::Liste,
            rang_priorite: 1,
            rang_liste: Some(1),
            canal: None,
            person: 0,
        };
        let a = amounts(&e);
        assert_eq!(a.by_benefit, [Some(588.69), Some(82.06), None]);
        assert_eq!(a.total, 670.75);
        assert_eq!(a.percent, 98.0);
        assert_eq!(a.expected, 657.34);
        let r = row(CONTACTS, 1, &e, None);
        assert_eq!(
            r[CONTACTS.iter().position(|c| *c == "montant_aspa").unwrap()],
            Value::Empty
        );
    }
}
