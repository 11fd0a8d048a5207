//! Contract checks. Row checks parse every value of one source file into a typed column and
//! record an issue for each bad value; table rules (uniqueness, one demandeur per foyer,
//! references between tables) run on the typed table. Every problem is recorded, not only
//! the first of a row.

use polars::prelude::*;

use crate::config::AmountBounds;
use crate::domain::contract::{AmountNature, ColumnSpec, Kind, Rule, TableSpec, amount_nature};
use crate::domain::month::Month;
use crate::domain::nir::{is_hex64, is_nir_like, is_nir_like_number};
use crate::domain::reference::Reference;
use crate::error::{RecoursError, Result};

/// One problem found: the row (0-based; within its file until the table's files are stacked), the column
/// (index in the contract; `None` for a rule on the whole row) and the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Issue {
    pub row: u32,
    pub column: Option<u16>,
    pub rule: Rule,
}

/// Counts the NIR-like values of a column, whatever its type: text and binary values
/// (binary read as UTF-8, invalid bytes as separators), whole numbers (integers, floats,
/// decimals), categories (their text), lists and structs (every value inside). Booleans,
/// nulls and dates (numbers of days or time units, not written by a person) hold none.
/// An error for a type the scan cannot read: such a column is refused rather than let
/// through unscanned.
pub(crate) fn count_nir_like(col: &Column) -> PolarsResult<usize> {
    count_series(col.as_materialized_series())
}

fn count_series(s: &Series) -> PolarsResult<usize> {
    let dt = s.dtype();
    Ok(match dt {
        DataType::String => s.str()?.iter().flatten().filter(|v| is_nir_like(v)).count(),
        DataType::Binary => count_binary(s.binary()?),
        DataType::BinaryOffset => count_binary(s.cast(&DataType::Binary)?.binary()?),
        DataType::Boolean | DataType::Null => 0,
        dt if dt.is_temporal() => 0,
        // The common numeric types are read in place: a cast would write a copy of the
        // whole column first (80 MB per column of the monthly resources at 1 M people).
        // `as f64` is the cast's own conversion.
        DataType::Float64 => count_numbers(s.f64()?.iter().flatten()),
        DataType::Float32 => count_numbers(s.f32()?.iter().flatten().map(f64::from)),
        DataType::Int64 => count_numbers(s.i64()?.iter().flatten().map(|v| v as f64)),
        DataType::Int32 => count_numbers(s.i32()?.iter().flatten().map(f64::from)),
        DataType::UInt64 => count_numbers(s.u64()?.iter().flatten().map(|v| v as f64)),
        DataType::UInt32 => count_numbers(s.u32()?.iter().flatten().map(f64::from)),
        dt if dt.is_primitive_numeric() || dt.is_decimal() => {
            count_numbers(s.cast(&DataType::Float64)?.f64()?.iter().flatten())
        }
        DataType::List(_) => count_series(&s.explode(ExplodeOptions {
            empty_as_null: false,
            keep_nulls: false,
        })?)?,
        DataType::Struct(_) => {
            let mut n = 0;
            for field in s.struct_()?.fields_as_series() {
                n += count_series(&field)?;
            }
            n
        }
        dt if dt.is_categorical() || dt.is_enum() => count_series(&s.cast(&DataType::String)?)?,
        dt => polars_bail!(ComputeError: "type {dt} cannot be checked for NIR-like values"),
    })
}

fn count_numbers(values: impl Iterator<Item = f64>) -> usize {
    values.filter(|x| is_nir_like_number(*x)).count()
}

fn count_binary(ca: &BinaryChunked) -> usize {
    ca.iter()
        .flatten()
        .filter(|b| is_nir_like(&String::from_utf8_lossy(b)))
        .count()
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
pub(crate) struct RowCheck<'a> {
    pub table: &'a TableSpec,
    pub reference: &'a Reference,
    pub run_month: Month,
    pub decimal_comma: bool,
    pub file: &'a str,
    /// The largest monthly amount of each nature (in absolute value: regularisations are
    /// negative); a row beyond it is rejected (`montant_hors_bornes`) instead of reaching
    /// the features, where sums of such amounts could overflow.
    pub amount_bounds: &'a AmountBounds,
}

impl RowCheck<'_> {
    /// The largest monthly amount of each row of `df`'s amounts: one value when every
    /// row has the same (`None`), else one per row, by the row's nature as it came (an
    /// unreadable nature takes the default bound; its row is rejected for it anyway).
    fn amount_bounds(&self, df: &DataFrame) -> (f64, Option<Vec<f64>>) {
        let bounds = self.amount_bounds;
        match amount_nature(self.table.name) {
            Some(AmountNature::Fixed(nature)) => (bounds.of(Some(nature)), None),
            Some(AmountNature::Column(column)) if !bounds.is_uniform() => {
                let per_row = match df.column(column).ok().and_then(|c| c.str().ok()) {
                    Some(natures) => natures
                        .iter()
                        .map(|n| bounds.of(n.map(str::trim)))
                        .collect(),
                    None => vec![bounds.default; df.height()],
                };
                (bounds.default, Some(per_row))
            }
            _ => (bounds.default, None),
        }
    }

    /// Parses every contract column of `df` into its typed column, recording issues.
    pub fn check(&self, df: &DataFrame, issues: &mut Vec<Issue>) -> Result<Vec<Column>> {
        let mut typed = Vec::with_capacity(self.table.columns.len());
        let (uniform_bound, row_bounds) = self.amount_bounds(df);
        let bound = |row: usize| row_bounds.as_ref().map_or(uniform_bound, |b| b[row]);
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
                                    Some(x) if x.abs() > bound(row) => {
                                        issue(row, Rule::AmountOutOfBounds)
                                    }
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
                            Some(x) if x.abs() > bound(row) => issue(row, Rule::AmountOutOfBounds),
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

    #[test]
    fn nir_written_any_way_or_inside_text_is_caught() {
        for v in [
            "1.85.05.78.006.084.36",
            " 185057800608436",
            "185057800608436 ",
            "\t1850578006084",
            "185057800608436\n",
            "\r\n185057800608436\r\n",
            "1\u{a0}85\u{a0}05\u{a0}78\u{a0}006\u{a0}084\u{a0}36",
            "1\u{202f}85\u{202f}05\u{202f}78\u{202f}006\u{202f}084\u{202f}36",
            "1-85-05-78-006-084-36",
            "1/85/05/78/006/084",
            "rappeler, NIR 2-85-05-2A-006-084 avant lundi",
            "né(e) : 1 85 05 78 006 084 36.",
            "NIR185057800608436",
            "nir_185057800608436",
            "voir dossier 12 puis 185057800608436",
            "\u{FF11}\u{FF18}\u{FF15}\u{FF10}\u{FF15}\u{FF17}\u{FF18}\u{FF10}\u{FF10}\u{FF16}\u{FF10}\u{FF18}\u{FF14}",
            "185052b006084",
            "departement=185057800608436",
            // Glued to a short word of hexadecimal letters: text, not a hash id.
            "dossier de185057800608436",
            "cafe185057800608436",
            "185057800608436abc",
            "ref:ab1850578006084",
        ] {
            assert!(is_nir_like(v), "{v:?}");
        }
        for v in [
            // Amounts, months, dates, phone-like groups, counts, too many digits.
            "2025-09",
            "1234,56",
            "-120.50",
            "2025-09-01 12:30:00.123",
            "06 12 34 56 78",
            "06 12 34 56 78 06 12 34 56 79",
            "1850578006084361",
            "0185057800608436",
            "3 85 05 78 006 084 36",
            "185057800608A36",
            "locataire_prive",
            "CARSAT-AQUITAINE",
            "",
        ] {
            assert!(!is_nir_like(v), "{v:?}");
        }
        // Pseudonymised ids never match, whatever digits they hold, lower or upper case,
        // with blanks around them.
        let ids = [
            format!("{}{}", "1850578006084", "f".repeat(51)),
            format!("{}{}", "e".repeat(49), "185057800608436"),
            format!("{}185057800608436{}", "a".repeat(20), "b".repeat(29)),
            format!("{}1850522a0060843{}", "c".repeat(20), "d".repeat(29)),
            "7".repeat(64),
        ];
        // Shorter hash ids (MD5: 32 characters, SHA-1: 40) neither.
        for id in [
            format!("{}1850578006084{}", "ab".repeat(5), "cd".repeat(5)),
            format!("{}185057800608436cdcdcdcdcdcdc", "ab".repeat(6)).to_uppercase(),
        ] {
            assert!(!is_nir_like(&id), "{id}");
        }
        for id in &ids {
            assert_eq!(id.len(), 64);
            for v in [
                id.clone(),
                id.to_uppercase(),
                format!("{id} "),
                format!(" {}", id.to_uppercase()),
            ] {
                assert!(!is_nir_like(&v), "{v}");
            }
        }
    }

    #[test]
    fn every_column_type_that_can_hold_a_nir_is_scanned() {
        let nir = "1 85 05 78 006 084 36";
        let count = |c: Column| count_nir_like(&c).unwrap();
        let text = Column::new("t".into(), [Some("ok"), Some(nir), None]);
        assert_eq!(count(text.clone()), 1);
        assert_eq!(
            count(
                text.cast(&DataType::from_categories(Categories::global()))
                    .unwrap()
            ),
            1
        );
        assert_eq!(count(text.cast(&DataType::Binary).unwrap()), 1);
        let binary = Column::new(
            "b".into(),
            [
                Some(b"\xff185057800608436\xfe".as_slice()),
                Some(b"ok".as_slice()),
            ],
        );
        assert_eq!(count(binary), 1);
        let list = Series::new("l".into(), [Some("a"), Some(nir)])
            .implode()
            .unwrap()
            .into_column();
        assert_eq!(count(list), 1);
        let whole = Column::new("n".into(), [185057800608436i64, 12]);
        assert_eq!(count(whole.clone()), 1);
        assert_eq!(count(whole.cast(&DataType::Decimal(18, 2)).unwrap()), 1);
        assert_eq!(count(whole.cast(&DataType::Float64).unwrap()), 1);
        assert_eq!(count(whole.cast(&DataType::UInt64).unwrap()), 1);
        // Read in place by type: the same answers as through a cast to f64.
        let small = Column::new("m".into(), [2_850_578_006_084i64, 385_057_800_608_436, 7]);
        assert_eq!(count(small.clone()), 1);
        assert_eq!(count(small.cast(&DataType::UInt64).unwrap()), 1);
        assert_eq!(count(small.cast(&DataType::Float32).unwrap()), 1);
        assert_eq!(count(Column::new("i".into(), [2_000_000_000i32, 7])), 0);
        assert_eq!(count(Column::new("u".into(), [4_000_000_000u32, 7])), 0);
        let fields = [
            Series::new("x".into(), ["ok", nir]),
            Series::new("y".into(), [1i32, 2]),
        ];
        let structs = StructChunked::from_series("s".into(), 2, fields.iter())
            .unwrap()
            .into_column();
        assert_eq!(count(structs), 1);
        // Dates and booleans hold none (a date in milliseconds has 13 digits).
        let dates = Column::new("d".into(), [1_733_000_000_000i64])
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap();
        assert_eq!(count(dates), 0);
        assert_eq!(count(Column::new("f".into(), [true, false])), 0);
    }
}
