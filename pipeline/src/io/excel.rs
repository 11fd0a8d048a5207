//! Cells of the files a person opens in a spreadsheet: the one escaping of text cells (CSV
//! and XLSX alike), the two CSV dialects recours writes, and French number formatting for
//! amounts shown inside text.

use std::borrow::Cow;
use std::io::Write;

/// Escapes a text cell that a spreadsheet would read as a formula (OWASP CSV injection):
/// a leading `=`, `+`, `-`, `@`, tab or carriage return gets a leading apostrophe, but for
/// a plain signed number (`-0.1234`, `-12,5`, `+2`, `-1e-3`), which a spreadsheet reads as
/// the number it is. Every text cell recours writes to a CSV or XLSX file goes through here.
pub(crate) fn escape_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('-' | '+') if is_plain_number(&s[1..]) => Cow::Borrowed(s),
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// Digits, at most one decimal point or comma between digits, and an optional exponent:
/// nothing a spreadsheet could compute.
fn is_plain_number(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.find(['.', ',']) {
        Some(i) => digits(&mantissa[..i]) && digits(&mantissa[i + 1..]),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

/// A CSV dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dialect {
    pub sep: char,
    pub decimal_comma: bool,
    pub bom: bool,
}

/// What Excel and LibreOffice in a French locale open with a double click: UTF-8 with a
/// byte-order mark, `;` between fields, decimal comma, CRLF. Every CSV meant for a person.
pub(crate) const EXCEL_FR: Dialect = Dialect {
    sep: ';',
    decimal_comma: true,
    bom: true,
};

/// RFC 4180 for programs: UTF-8 without a byte-order mark, `,`, decimal point, CRLF.
pub(crate) const RFC4180: Dialect = Dialect {
    sep: ',',
    decimal_comma: false,
    bom: false,
};

/// One value of a CSV row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Int(u64),
    /// A number with this many decimals.
    Num(f64, usize),
    Empty,
}

impl Dialect {
    /// A number with `decimals` decimals, no thousands separator (a spreadsheet reads it
    /// as a number).
    pub fn number(&self, x: f64, decimals: usize) -> String {
        let s = format!("{x:.decimals$}");
        if self.decimal_comma {
            s.replace('.', ",")
        } else {
            s
        }
    }

    /// A field: text escaped ([`escape_cell`]), then quoted when it holds the separator, a
    /// quote or a line break.
    pub fn field(&self, cell: &Cell) -> String {
        match cell {
            Cell::Text(s) => {
                let s = escape_cell(s);
                if s.contains(self.sep) || s.contains('"') || s.contains('\n') || s.contains('\r') {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.into_owned()
                }
            }
            Cell::Int(n) => n.to_string(),
            Cell::Num(x, d) => self.number(*x, *d),
            Cell::Empty => String::new(),
        }
    }

    /// Writes a header and rows, each line ended by CRLF, with the byte-order mark first
    /// when the dialect has one.
    pub fn write(
        &self,
        w: &mut dyn Write,
        header: &[&str],
        rows: impl IntoIterator<Item = Vec<Cell>>,
    ) -> std::io::Result<()> {
        if self.bom {
            w.write_all("\u{feff}".as_bytes())?;
        }
        let sep = self.sep.to_string();
        let header: Vec<String> = header
            .iter()
            .map(|h| self.field(&Cell::Text(h.to_string())))
            .collect();
        w.write_all(header.join(&sep).as_bytes())?;
        w.write_all(b"\r\n")?;
        for row in rows {
            let fields: Vec<String> = row.iter().map(|c| self.field(c)).collect();
            w.write_all(fields.join(&sep).as_bytes())?;
            w.write_all(b"\r\n")?;
        }
        Ok(())
    }
}

/// Text folded for matching what a person typed: trimmed, without a leading byte-order
/// mark, lower case, without accents (precomposed or combining), inner spaces collapsed.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim_start_matches('\u{feff}').trim().chars() {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => {
                'a'
            }
            'ç' | 'Ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ÿ' | 'Ÿ' => 'y',
            'œ' | 'Œ' => {
                out.push('o');
                'e'
            }
            'æ' | 'Æ' => {
                out.push('a');
                'e'
            }
            // Combining diacritical marks (text in decomposed form).
            '\u{300}'..='\u{36f}' => continue,
            '\u{a0}' | '\u{202f}' | '\t' => ' ',
            c => c,
        };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_escaped() {
        assert_eq!(escape_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for s in [
            "+1+2", "+A1", "-2+3", "-A1", "-", "+", "-1,", "-1e", "-1.2.3", "@SUM", "\tx", "\rx",
        ] {
            assert!(escape_cell(s).starts_with('\''), "{s}");
        }
        for s in ["-2", "+2", "-0.1234", "-12,5", "-1e-3", "-3E+2"] {
            assert_eq!(escape_cell(s), s, "a plain number");
        }
        assert_eq!(escape_cell("revenus faibles"), "revenus faibles");
        let text = |s: &str| Cell::Text(s.to_string());
        assert_eq!(EXCEL_FR.field(&text("a;b")), "\"a;b\"");
        assert_eq!(RFC4180.field(&text("dit \"x\"")), "\"dit \"\"x\"\"\"");
        assert_eq!(EXCEL_FR.field(&text("=1;2")), "\"'=1;2\"");
        assert_eq!(EXCEL_FR.field(&Cell::Num(1234.5, 2)), "1234,50");
        assert_eq!(RFC4180.field(&Cell::Num(1234.5, 2)), "1234.50");
    }

    #[test]
    fn csv_dialects_write_bom_separator_and_crlf() {
        let mut fr = Vec::new();
        EXCEL_FR
            .write(
                &mut fr,
                &["Caisse", "Montant"],
                [vec![Cell::Text("CAF33".into()), Cell::Num(4380.61, 2)]],
            )
            .unwrap();
        assert_eq!(fr, "\u{feff}Caisse;Montant\r\nCAF33;4380,61\r\n".as_bytes());
        let mut rfc = Vec::new();
        RFC4180
            .write(&mut rfc, &["a", "b"], [vec![Cell::Int(3), Cell::Empty]])
            .unwrap();
        assert_eq!(rfc, b"a,b\r\n3,\r\n");
    }

    #[test]
    fn folding_ignores_case_accents_and_spaces() {
        assert_eq!(
            fold("  Probabilité de NON-recours "),
            "probabilite de non-recours"
        );
        assert_eq!(fold("\u{feff}De\u{301}cision"), "decision");
        assert_eq!(
            fold("Droit\u{a0}ouvert   (oui/non)"),
            "droit ouvert (oui/non)"
        );
    }
}
