//! Contract checks. Row checks parse every value of one source file into a typed column and
//! record an issue for each bad value; table rules (uniqueness, one demandeur per foyer,
//! references between tables) run on the typed table. Every problem is recorded, not only
//! the first of a row.

use polars::prelude::*;

use crate::domain::contract::{ColumnSpec, Kind, Rule, TableSpec};
use crate::domain::month::Month;
use crate::domain::reference::Reference;
use crate::error::{RecoursError, Result};

/// One problem found: the row (0-based; within its file until the table's files are stacked), the column
/// (index in the contract; `None` for a rule on the whole row) and the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Issue {
    pub row: u32,
    pub column: Option<u16>,
    pub rule: Rule,
}

/// A NIR (13 digits, or 15 with its key), possibly written with spaces between groups,
/// first digit 1, 2, 7 or 8; `2A`/`2B` allowed as the département of persons born in
/// Corsica. Checked without allocating: it runs on every text value of every extract.
fn is_nir_like(s: &str) -> bool {
    // Fewer than 13 bytes cannot hold 13 digits; codes are rejected on length alone, ids
    // (64 characters) at their first letter or 16th digit.
    if s.len() < 13 || s.starts_with(' ') {
        return false;
    }
    let mut n = 0usize;
    let mut previous = 0u8;
    for b in s.bytes() {
        if b == b' ' {
            continue;
        }
        let ok = match n {
            0 => matches!(b, b'1' | b'2' | b'7' | b'8'),
            // Persons born in Corsica have 2A or 2B as département (positions 6 and 7).
            6 => b.is_ascii_digit() || (previous == b'2' && matches!(b, b'A' | b'B' | b'a' | b'b')),
            _ => b.is_ascii_digit(),
        };
        if !ok || n == 15 {
            return false;
        }
        previous = b;
        n += 1;
    }
    n == 13 || n == 15
}

/// A whole positive number of 13 or 15 digits whose first digit is 1, 2, 7 or 8.
fn is_nir_like_number(x: f64) -> bool {
    let digits = |lo: f64| x >= lo && x < lo * 10.0;
    x.fract() == 0.0 && (digits(1e12) || digits(1e14)) && {
        let first = (x / if x < 1e13 { 1e12 } else { 1e14 }).floor() as u8;
        matches!(first, 1 | 2 | 7 | 8)
    }
}

/// Counts the NIR-like values of a column (text or integer or float), whatever the column.
pub fn count_nir_like(col: &Column) -> usize {
    match col.dtype() {
        DataType::String => col
            .str()
            .map(|ca| ca.iter().flatten().filter(|s| is_nir_like(s)).count())
            .unwrap_or(0),
        dt if dt.is_integer() || dt.is_float() => col
            .cast(&DataType::Float64)
            .ok()
            .and_then(|c| {
                c.f64().ok().map(|ca| {
                    ca.iter()
                        .flatten()
                        .filter(|x| is_nir_like_number(*x))
                        .count()
                })
            })
            .unwrap_or(0),
        _ => 0,
    }
}

fn is_hex64(s: &str) -> bool {
    // A fixed 64 bytes folded without a branch: the compiler checks them 16 at a time
    // (SSE2; more with a wider target) where a table lookup per byte did not vectorise.
    let Ok(bytes) = <&[u8; 64]>::try_from(s.as_bytes()) else {
        return false;
    };
    bytes.iter().fold(true, |ok, &b| {
        ok & ((b.wrapping_sub(b'0') < 10) | (b.wrapping_sub(b'a') < 6))
    })
}

/// A source column as it arrived.
enum Raw<'a> {
    Text(&'a StringChunked),
    Number(Float64Chunked),
    Boolean(&'a BooleanChunked),
}

fn raw_column<'a>(table: &str, spec: &ColumnSpec, col: &'a Column, file: &str) -> Result<Raw<'a>> {
    let dt = col.dtype();
    let wrong = || RecoursError::Input {
        table: table.into(),
        message: format!(
            "file {file}, column {}: type {dt} does not fit the contract ({})",
            spec.name,
            match spec.kind {
                Kind::Decimal { .. } => "a decimal amount",
                Kind::Bool => "a boolean",
                Kind::ZeroOne => "0 or 1",
                _ => "text",
            }
        ),
    };
    let text = || col.str().map(Raw::Text).map_err(|_| wrong());
    match (spec.kind, dt) {
        (_, DataType::String) => text(),
        (Kind::Decimal { .. } | Kind::ZeroOne, dt)
            if dt.is_primitive_numeric() || dt.is_decimal() =>
        {
            let c = col.cast(&DataType::Float64).map_err(|_| wrong())?;
            Ok(Raw::Number(c.f64().map_err(|_| wrong())?.clone()))
        }
        (Kind::Bool | Kind::ZeroOne, DataType::Boolean) => {
            Ok(Raw::Boolean(col.bool().map_err(|_| wrong())?))
        }
        // An all-null column read from CSV or parquet has no useful type: treat as text.
        (_, DataType::Null) => Err(wrong()),
        _ => Err(wrong()),
    }
}

fn parse_decimal(s: &str, decimal_comma: bool) -> Option<f64> {
    let t = s.trim();
    // The comma becomes a point in a buffer on the stack (amounts are short; a longer
    // value takes the allocating path).
    let mut buf = [0u8; 32];
    let owned;
    let t = if decimal_comma && t.contains(',') {
        if t.len() <= buf.len() {
            for (o, b) in buf.iter_mut().zip(t.bytes()) {
                *o = if b == b',' { b'.' } else { b };
            }
            std::str::from_utf8(&buf[..t.len()]).ok()?
        } else {
            owned = t.replace(',', ".");
            owned.as_str()
        }
    } else {
        t
    };
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "True" | "TRUE" | "1" => Some(true),
        "false" | "False" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

/// Context of the row checks of one file.
pub struct RowCheck<'a> {
    pub table: &'a TableSpec,
    pub reference: &'a Reference,
    pub run_month: Month,
    pub decimal_comma: bool,
    pub file: &'a str,
}

impl RowCheck<'_> {
    /// Parses every contract column of `df` into its typed column, recording issues.
    pub fn check(&self, df: &DataFrame, issues: &mut Vec<Issue>) -> Result<Vec<Column>> {
        let mut typed = Vec::with_capacity(self.table.columns.len());
        for (ci, spec) in self.table.columns.iter().enumerate() {
            let col = df
                .column(spec.name)
                .map_err(|_| RecoursError::Internal(format!("column {} vanished", spec.name)))?;
            let raw = raw_column(self.table.name, spec, col, self.file)?;
            let mut issue = |row: usize, rule: Rule| {
                issues.push(Issue {
                    row: row as u32,
                    column: Some(ci as u16),
                    rule,
                })
            };
            let name: PlSmallStr = spec.name.into();
            let column = match spec.kind {
                Kind::Hex64 | Kind::Month | Kind::Code(_) | Kind::Departement | Kind::Caisse => {
                    let Raw::Text(ca) = raw else {
                        unreachable!("text kinds accept only text columns")
                    };
                    // Codes, months and départements repeat from row to row (a hive
                    // partition column is one value): the last value's verdict is reused.
                    let memo = !matches!(spec.kind, Kind::Hex64);
                    let mut last: Option<(&str, Option<Rule>)> = None;
                    let mut empty = false;
                    for (row, v) in ca.iter().enumerate() {
                        let rule = match v {
                            None | Some("") => {
                                empty |= v.is_some();
                                (!spec.nullable).then_some(Rule::MissingValue)
                            }
                            Some(v) => match last {
                                Some((l, rule)) if memo && l == v => rule,
                                _ => {
                                    let rule = self.text_rule(spec, v);
                                    last = Some((v, rule));
                                    rule
                                }
                            },
                        };
                        if let Some(rule) = rule {
                            issue(row, rule);
                        }
                    }
                    // Empty strings in a nullable column become nulls.
                    if spec.nullable && empty {
                        let cleaned: StringChunked =
                            ca.iter().map(|v| v.filter(|s| !s.is_empty())).collect();
                        cleaned.with_name(name).into_column()
                    } else {
                        // Required values are either valid or the row is rejected: no copy.
                        ca.clone().with_name(name).into_column()
                    }
                }
                Kind::Decimal { min } => {
                    let mut values: Vec<Option<f64>> = Vec::new();
                    match &raw {
                        // Numbers are checked in place and kept as they came (no copy).
                        Raw::Number(ca) => {
                            for (row, v) in ca.iter().enumerate() {
                                match v {
                                    None if !spec.nullable => issue(row, Rule::MissingValue),
                                    Some(x) if !x.is_finite() => issue(row, Rule::InvalidAmount),
                                    Some(x) if min.is_some_and(|m| x < m) => {
                                        issue(row, Rule::NegativeAmount)
                                    }
                                    _ => {}
                                }
                            }
                            typed.push(ca.clone().with_name(name).into_column());
                            continue;
                        }
                        Raw::Text(ca) => {
                            values.reserve(df.height());
                            for (row, v) in ca.iter().enumerate() {
                                let s = v.map(str::trim).filter(|s| !s.is_empty());
                                let parsed = s.and_then(|s| parse_decimal(s, self.decimal_comma));
                                if s.is_some() && parsed.is_none() {
                                    issue(row, Rule::InvalidAmount);
                                }
                                values.push(parsed);
                            }
                        }
                        Raw::Boolean(_) => unreachable!("booleans are refused for decimals"),
                    }
                    let invalid_text = |row: usize| match &raw {
                        Raw::Text(ca) => ca.get(row).is_some_and(|s| !s.trim().is_empty()),
                        _ => false,
                    };
                    for (row, v) in values.iter().enumerate() {
                        match v {
                            None if !spec.nullable && !invalid_text(row) => {
                                issue(row, Rule::MissingValue)
                            }
                            Some(x) if !x.is_finite() => issue(row, Rule::InvalidAmount),
                            Some(x) if min.is_some_and(|m| *x < m) => {
                                issue(row, Rule::NegativeAmount)
                            }
                            _ => {}
                        }
                    }
                    Column::new(name, values)
                }
                Kind::Bool => {
                    let values: Vec<Option<bool>> = match &raw {
                        Raw::Boolean(ca) => ca.iter().collect(),
                        Raw::Text(ca) => ca
                            .iter()
                            .map(|v| {
                                v.map(str::trim)
                                    .filter(|s| !s.is_empty())
                                    .map(|s| parse_bool(s).ok_or(()))
                            })
                            .enumerate()
                            .map(|(row, r)| match r {
                                Some(Err(())) => {
                                    issue(row, Rule::InvalidBool);
                                    None
                                }
                                Some(Ok(b)) => Some(b),
                                None => {
                                    if !spec.nullable {
                                        issue(row, Rule::MissingValue);
                                    }
                                    None
                                }
                            })
                            .collect(),
                        Raw::Number(_) => unreachable!("numbers are refused for booleans"),
                    };
                    if matches!(raw, Raw::Boolean(_)) && !spec.nullable {
                        for (row, v) in values.iter().enumerate() {
                            if v.is_none() {
                                issue(row, Rule::MissingValue);
                            }
                        }
                    }
                    Column::new(name, values)
                }
                Kind::ZeroOne => {
                    let values: Vec<Option<i32>> = match &raw {
                        Raw::Boolean(ca) => ca.iter().map(|v| v.map(i32::from)).collect(),
                        Raw::Number(ca) => ca
                            .iter()
                            .map(|v| {
                                v.map(|x| {
                                    if x == 0.0 {
                                        0
                                    } else if x == 1.0 {
                                        1
                                    } else {
                                        -1
                                    }
                                })
                            })
                            .collect(),
                        Raw::Text(ca) => ca
                            .iter()
                            .map(|v| {
                                v.map(str::trim).filter(|s| !s.is_empty()).map(|s| match s {
                                    "0" => 0,
                                    "1" => 1,
                                    _ => -1,
                                })
                            })
                            .collect(),
                    };
                    for (row, v) in values.iter().enumerate() {
                        match v {
                            None => issue(row, Rule::MissingValue),
                            Some(-1) => issue(row, Rule::InvalidZeroOne),
                            _ => {}
                        }
                    }
                    Column::new(
                        name,
                        values
                            .into_iter()
                            .map(|v| v.filter(|x| *x >= 0))
                            .collect::<Vec<_>>(),
                    )
                }
            };
            typed.push(column);
        }
        Ok(typed)
    }

    fn text_rule(&self, spec: &ColumnSpec, v: &str) -> Option<Rule> {
        match spec.kind {
            Kind::Hex64 => (!is_hex64(v)).then_some(Rule::InvalidId),
            Kind::Month => match Month::parse(v) {
                None => Some(Rule::InvalidMonth),
                Some(m) if spec.name == "mois_reference" => {
                    (m > self.run_month).then_some(Rule::ReferenceAfterRunMonth)
                }
                Some(m) if spec.name == "naissance" => {
                    let lo = Month::new(1900, 1).expect("valid month");
                    (m < lo || m > self.run_month).then_some(Rule::BirthOutOfRange)
                }
                Some(_) => None,
            },
            Kind::Code(codes) => (!codes.contains(&v)).then_some(Rule::UnknownCode),
            Kind::Departement => self
                .reference
                .departement_index(v)
                .is_none()
                .then_some(Rule::UnknownDepartement),
            Kind::Caisse => (!self.reference.is_caisse(v)).then_some(Rule::UnknownCaisse),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_with_a_comma_or_a_point() {
        assert_eq!(parse_decimal("1234,56", true), Some(1234.56));
        assert_eq!(parse_decimal(" -3,5 ", true), Some(-3.5));
        assert_eq!(parse_decimal("1234.56", true), Some(1234.56));
        assert_eq!(parse_decimal("1234.56", false), Some(1234.56));
        assert_eq!(parse_decimal("1234,56", false), None);
        assert_eq!(parse_decimal("1,2,3", true), None);
        assert_eq!(parse_decimal("12a", true), None);
        assert_eq!(parse_decimal("", true), None);
        // Longer than the stack buffer: the allocating path gives the same answer.
        let long = format!("{}1,25", "0".repeat(40));
        assert_eq!(parse_decimal(&long, true), Some(1.25));
    }

    #[test]
    fn hex_ids() {
        assert!(is_hex64(&"0123456789abcdef".repeat(4)));
        assert!(!is_hex64(&"0123456789ABCDEF".repeat(4)));
        assert!(!is_hex64(&"0123456789abcdeg".repeat(4)));
        assert!(!is_hex64(&"a".repeat(63)));
        assert!(!is_hex64(&"a".repeat(65)));
        assert!(!is_hex64(&format!("{}é", "a".repeat(62))));
        // Every ASCII character at every position, against the definition.
        for p in 0..64 {
            for c in 0u8..128 {
                let mut id = vec![b'7'; 64];
                id[p] = c;
                let id = String::from_utf8(id).unwrap();
                let hex = c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
                assert_eq!(is_hex64(&id), hex, "{p} {c}");
            }
        }
    }

    #[test]
    fn nir_like_values_including_corsica() {
        for v in [
            "1850578006084",
            "185057800608436",
            "1 85 05 78 006 084 36",
            "185052A006084",
            "2850520b00608412",
        ] {
            assert_eq!(is_nir_like(v), v != "2850520b00608412", "{v}");
        }
        for v in [
            "3850578006084",
            "18505780060",
            "a850578006084",
            "2025-09",
            &"f".repeat(64),
        ] {
            assert!(!is_nir_like(v), "{v}");
        }
        assert!(is_nir_like_number(2850578006084.0));
        assert!(is_nir_like_number(785057800608436.0));
        assert!(!is_nir_like_number(385057800608436.0));
        assert!(!is_nir_like_number(28505780060840.0));
        assert!(!is_nir_like(&"1".repeat(16)));
        assert!(is_nir_like("1 8 5 0 5 7 8 0 0 6 0 8 4 3 6"));
        assert!(!is_nir_like_number(1234.56));
    }
}
