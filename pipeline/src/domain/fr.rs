//! French number formatting for everything people read (report, model cards, chart
//! labels): decimal comma, thousands grouped by a narrow no-break space (U+202F), a
//! no-break space (U+00A0) before `€` and `%` so that a unit never starts a line —
//! `22 621,25 €`, `53,6 %`, `0,10`. Files meant for programs (the charts' CSV data) keep
//! the decimal point.

/// Groups thousands (U+202F).
const THOUSANDS: char = '\u{202f}';
/// Before a unit (U+00A0).
pub(crate) const UNIT_SPACE: char = '\u{a0}';
/// What a table or a chart shows instead of a value it may not or cannot show; every
/// people-facing text explains it once (see `ND_NOTE`).
pub(crate) const ND: &str = "n.d.";
/// The one explanation of `ND`.
pub(crate) const ND_NOTE: &str = "n.d. : non diffusé (moins de 11 personnes, ou valeur qui permettrait de retrouver un tel nombre par différence) ou non défini (aucune personne concernée, pas de vérité terrain)";

/// `v` with `decimals` digits after the comma: `-1 956,20`.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return ND.to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let negative = v < 0.0 && s.bytes().any(|b| (b'1'..=b'9').contains(&b));
    let mut out = String::with_capacity(s.len() + 4);
    if negative {
        out.push('-');
    }
    out.push_str(&group(int));
    if !frac.is_empty() {
        out.push(',');
        out.push_str(frac);
    }
    out
}

fn group(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3 * 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(THOUSANDS);
        }
        out.push(c);
    }
    out
}

/// A count: `12 345`.
pub fn count(n: usize) -> String {
    group(&n.to_string())
}

/// An amount in euros with cents: `22 621,25 €`.
pub fn euros(v: f64) -> String {
    format!("{}{UNIT_SPACE}€", number(v, 2))
}

/// An amount in whole euros: `589 €`.
pub(crate) fn euros_whole(v: f64) -> String {
    format!("{}{UNIT_SPACE}€", number(v, 0))
}

/// The months' names, January first.
pub(crate) const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// A month in words: `septembre 2025`.
pub fn month(m: super::month::Month) -> String {
    format!("{} {}", MONTHS[m.month_of_year() as usize - 1], m.year())
}

/// An ISO date (`2026-12-08`) in words: `8 décembre 2026`; `None` when it is not one.
pub(crate) fn date(iso: &str) -> Option<String> {
    let mut parts = iso.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let (y, m, d): (u32, usize, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let name = MONTHS.get(m.checked_sub(1)?)?;
    (1..=31).contains(&d).then(|| format!("{d} {name} {y}"))
}

/// A share (0–1) as a percentage with one decimal: `53,6 %`.
pub fn percent(share: f64) -> String {
    format!("{}{UNIT_SPACE}%", number(100.0 * share, 1))
}

/// A number with its sign: `+0,0123`, `-2`.
pub(crate) fn signed(v: f64, decimals: usize) -> String {
    let n = number(v, decimals);
    if n.starts_with('-') || !v.is_finite() {
        n
    } else {
        format!("+{n}")
    }
}

/// A value that may be missing: `ND` when it is.
pub(crate) fn or_nd(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| ND.to_string(), f)
}

/// A chart's tick: as few decimals as the value needs (at most 2), French formatted.
pub(crate) fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 || (v - v.round()).abs() < 1e-9 {
        number(v, 0)
    } else if (v * 10.0 - (v * 10.0).round()).abs() < 1e-9 {
        number(v, 1)
    } else {
        number(v, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_numbers() {
        assert_eq!(euros(22621.25), "22\u{202f}621,25\u{a0}€");
        assert_eq!(percent(0.5359), "53,6\u{a0}%");
        assert_eq!(number(0.1, 2), "0,10");
        assert_eq!(number(-1956.2, 2), "-1\u{202f}956,20");
        assert_eq!(number(-0.0001, 2), "0,00");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(1_234_567.0, 0), "1\u{202f}234\u{202f}567");
        assert_eq!(count(1000), "1\u{202f}000");
        assert_eq!(euros_whole(588.69), "589\u{a0}€");
        assert_eq!(
            month(crate::domain::month::Month::parse("2025-09").unwrap()),
            "septembre 2025"
        );
        assert_eq!(date("2026-12-08").as_deref(), Some("8 décembre 2026"));
        assert_eq!(date("2026-13-08"), None);
        assert_eq!(date("2026-12"), None);
        assert_eq!(signed(0.1003 * 100.0, 1), "+10,0");
        assert_eq!(signed(-0.5, 1), "-0,5");
        assert_eq!(tick(0.1), "0,1");
        assert_eq!(tick(0.25), "0,25");
        assert_eq!(tick(2000.0), "2\u{202f}000");
        assert_eq!(or_nd(None, percent), "n.d.");
        assert_eq!(number(f64::NAN, 2), "n.d.");
    }
}
