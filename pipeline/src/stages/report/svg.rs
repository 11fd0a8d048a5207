//! Inline SVG charts for the run report and the notebooks: no script, no network, the same
//! bytes for the same data. Four shapes cover every chart: lines (ROC, precision-recall,
//! gain, lift), columns (score distribution, calibration), horizontal bars (list sizes,
//! quality, campaign outcomes) and intervals (coefficients, recall by group).

use std::fmt::Write;

const W: f64 = 640.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 52.0;
/// Legends sit between the title and the plot.
const LEGEND_Y: f64 = 38.0;
pub(crate) const COLORS: [&str; 6] = [
    "#1f5fa8", "#d1495b", "#2a9d8f", "#7b4ea3", "#e9a03b", "#6c757d",
];

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Round tick steps (1, 2, 5 × 10^k) for a range.
pub(crate) fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn label(v: f64) -> String {
    crate::domain::fr::tick(v)
}

fn open(s: &mut String, h: f64, title: &str) {
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="{t}" font-family="sans-serif" font-size="12"><rect width="{W}" height="{h}" fill="#ffffff"/><text x="{x}" y="20" font-size="14" font-weight="bold">{t}</text>"##,
        t = esc(title),
        x = LEFT
    );
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    h: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0).max(1e-12) * (W - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        self.h - BOTTOM - (y - self.y0) / (self.y1 - self.y0).max(1e-12) * (self.h - TOP - BOTTOM)
    }
    fn axes(&self, s: &mut String, x_label: &str, y_label: &str, x_ticks: bool) {
        let (l, r, t, b) = (LEFT, W - RIGHT, TOP, self.h - BOTTOM);
        for v in ticks(self.y0, self.y1, 5) {
            let y = self.py(v);
            let _ = write!(
                s,
                r##"<line x1="{l}" x2="{r}" y1="{y:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                l - 6.0,
                y + 4.0,
                label(v)
            );
        }
        if x_ticks {
            for v in ticks(self.x0, self.x1, 6) {
                let x = self.px(v);
                let _ = write!(
                    s,
                    r##"<line x1="{x:.1}" x2="{x:.1}" y1="{b}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                    b + 4.0,
                    b + 17.0,
                    label(v)
                );
            }
        }
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" stroke="#333"/><line x1="{l}" x2="{l}" y1="{t}" y2="{b}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
            (l + r) / 2.0,
            self.h - 12.0,
            esc(x_label),
            (t + b) / 2.0,
            esc(y_label)
        );
    }
}

fn legend(s: &mut String, names: &[&str], y: f64) {
    let entries: Vec<(&str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, COLORS[i % COLORS.len()]))
        .collect();
    legend_colored(s, &entries, y);
}

fn legend_colored(s: &mut String, entries: &[(&str, &str)], y: f64) {
    let mut x = LEFT + 8.0;
    for (n, c) in entries {
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            y - 9.0,
            x + 14.0,
            y,
            esc(n)
        );
        x += 24.0 + 6.5 * n.chars().count() as f64;
    }
}

/// Room for the longest row label (about 8.5 px per character at 11–12 px, capitals included).
fn label_margin(labels: &[String], min: f64) -> f64 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (14.0 + 8.5 * longest as f64).clamp(min, W / 2.0)
}

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// Lines over `x` and `y` ranges; `marks` draws a labelled vertical line (e.g. top 3 %).
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    x: (f64, f64),
    y: (f64, f64),
    series: &[Series],
    marks: &[(f64, String)],
) -> String {
    let h = 360.0;
    let f = Frame {
        x0: x.0,
        x1: x.1,
        y0: y.0,
        y1: y.1,
        h,
    };
    let mut s = String::new();
    open(&mut s, h, title);
    f.axes(&mut s, x_label, y_label, true);
    for (x, text) in marks {
        let px = f.px(*x);
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{:.1}" stroke="#444" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="#444">{}</text>"##,
            h - BOTTOM,
            px + 4.0,
            h - BOTTOM - 6.0,
            esc(text)
        );
    }
    let mut solid = 0;
    for sr in series {
        let c = if sr.dashed {
            "#888888"
        } else {
            solid += 1;
            COLORS[(solid - 1) % COLORS.len()]
        };
        let pts: Vec<String> = sr
            .points
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| format!("{:.1},{:.1}", f.px(*a), f.py(*b)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="{c}" stroke-width="2"{} points="{}"/>"##,
            if sr.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            },
            pts.join(" ")
        );
    }
    let names: Vec<&str> = series
        .iter()
        .filter(|s| !s.dashed)
        .map(|s| s.name.as_str())
        .collect();
    legend(&mut s, &names, LEGEND_Y);
    s.push_str("</svg>");
    s
}

/// Vertical columns, grouped by series, one group per label.
pub fn columns(
    title: &str,
    x_label: &str,
    y_label: &str,
    labels: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let h = 340.0;
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let top = ticks(0.0, max * 1.05, 5)
        .last()
        .copied()
        .unwrap_or(max)
        .max(max);
    let f = Frame {
        x0: 0.0,
        x1: labels.len() as f64,
        y0: 0.0,
        y1: top * 1.02,
        h,
    };
    let mut s = String::new();
    open(&mut s, h, title);
    f.axes(&mut s, x_label, y_label, false);
    let slot = (W - LEFT - RIGHT) / labels.len().max(1) as f64;
    let bw = (slot * 0.8) / series.len().max(1) as f64;
    let every = labels.len().div_ceil(12).max(1);
    for (i, l) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        for (k, (_, v)) in series.iter().enumerate() {
            let val = v.get(i).copied().unwrap_or(0.0);
            let (y, y0) = (f.py(val), f.py(0.0));
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{y:.1}" width="{bw:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"##,
                x + slot * 0.1 + bw * k as f64,
                (y0 - y).max(0.0),
                COLORS[k % COLORS.len()],
                esc(l),
                label(val)
            );
        }
        if i % every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
                x + slot / 2.0,
                h - BOTTOM + 14.0,
                esc(l)
            );
        }
    }
    if series.len() > 1 {
        let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
        legend(&mut s, &names, LEGEND_Y);
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one row per category; several series are stacked. `row_labels`, when
/// given, replaces the sum printed at the end of each row (e.g. a suppressed total).
pub(crate) fn bars(
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    bars_labelled(title, x_label, categories, series, None, &COLORS)
}

/// Grey: the part of a bar whose breakdown is not published (suppressed cells).
pub(crate) const HIDDEN_COLOR: &str = "#b8b8b8";

/// `bars` with each series' colour given (`colors[k]` for series `k`, cycling).
pub(crate) fn bars_labelled(
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    row_labels: Option<&[String]>,
    colors: &[&str],
) -> String {
    let color = |k: usize| colors[k % colors.len().max(1)];
    let row = 18.0;
    let h = TOP + 24.0 + row * categories.len() as f64 + BOTTOM;
    let totals: Vec<f64> = (0..categories.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0f64, f64::max).max(1e-12);
    let left = label_margin(categories, 90.0);
    let scale = (W - left - RIGHT - 40.0) / max;
    let mut s = String::new();
    open(&mut s, h, title);
    if series.len() > 1 {
        let entries: Vec<(&str, &str)> = series
            .iter()
            .enumerate()
            .map(|(k, (n, _))| (n.as_str(), color(k)))
            .collect();
        legend_colored(&mut s, &entries, LEGEND_Y);
    }
    for (i, c) in categories.iter().enumerate() {
        let y = TOP + 20.0 + row * i as f64;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 6.0,
            y + 12.0,
            esc(c)
        );
        let mut x = left;
        for (k, (n, v)) in series.iter().enumerate() {
            let val = v.get(i).copied().unwrap_or(0.0);
            let w = val * scale;
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{} — {}: {}</title></rect>"##,
                row - 4.0,
                color(k),
                esc(c),
                esc(n),
                label(val)
            );
            x += w;
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"##,
            x + 4.0,
            y + 11.0,
            row_labels
                .and_then(|l| l.get(i).cloned())
                .unwrap_or_else(|| label(totals[i]))
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></svg>"##,
        (left + W - RIGHT) / 2.0,
        h - 16.0,
        esc(x_label)
    );
    s
}

/// Row labels of `intervals` are cut to this many characters (the full text is in the
/// point's tooltip and in the chart's CSV).
const INTERVAL_LABEL_CHARS: usize = 52;

/// A label cut to `max` characters, `…` marking the cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t = t.trim_end().to_string();
        t.push('…');
        t
    }
}

/// A point and its interval per row (coefficients with their 95 % interval, recall by group),
/// with a reference line at `reference`; points at or above it are blue, below red, and
/// `legend` says what each colour means (above, below).
pub fn intervals(
    title: &str,
    x_label: &str,
    names: &[String],
    values: &[(f64, f64, f64)],
    reference: f64,
    legend: [&str; 2],
) -> String {
    let row = 18.0;
    let h = TOP + 20.0 + row * names.len() as f64 + BOTTOM;
    let shown: Vec<String> = names.iter().map(|n| cut(n, INTERVAL_LABEL_CHARS)).collect();
    let anchor = if reference.is_finite() {
        reference
    } else {
        0.0
    };
    let lo = values.iter().map(|v| v.1).fold(anchor, f64::min);
    let hi = values.iter().map(|v| v.2).fold(anchor, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-6);
    // About 6.2 px per character at 11 px.
    let longest = shown.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let left = (14.0 + 6.2 * longest as f64).clamp(120.0, W * 0.55);
    let (x0, x1) = (lo - pad, hi + pad);
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (W - left - RIGHT);
    let mut s = String::new();
    open(&mut s, h, title);
    let entries: Vec<(&str, &str)> = [(legend[0], COLORS[0]), (legend[1], COLORS[1])]
        .into_iter()
        .filter(|(l, _)| !l.is_empty())
        .collect();
    legend_colored(&mut s, &entries, LEGEND_Y);
    let bottom = h - BOTTOM;
    for t in ticks(x0, x1, 6) {
        let x = px(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{bottom:.1}" stroke="#eeeeee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 16.0,
            label(t)
        );
    }
    // No reference line when there is none to show (e.g. a suppressed control group).
    if reference.is_finite() {
        let r = px(reference);
        let _ = write!(
            s,
            r##"<line x1="{r:.1}" x2="{r:.1}" y1="{TOP}" y2="{bottom:.1}" stroke="#333"/>"##
        );
    }
    for (i, ((n, full), (v, l, u))) in shown.iter().zip(names).zip(values).enumerate() {
        let y = TOP + 16.0 + row * i as f64;
        let c = if !reference.is_finite() || *v >= reference {
            COLORS[0]
        } else {
            COLORS[1]
        };
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text><line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{c}" stroke-width="2"/><circle cx="{:.1}" cy="{y:.1}" r="4" fill="{c}"><title>{}: {} [{} ; {}]</title></circle>"##,
            left - 6.0,
            y + 4.0,
            esc(n),
            px(*l),
            px(*u),
            px(*v),
            esc(full),
            label(*v),
            label(*l),
            label(*u)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></svg>"##,
        (left + W - RIGHT) / 2.0,
        h - 16.0,
        esc(x_label)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(0.0, 950.0, 5), vec![0.0, 200.0, 400.0, 600.0, 800.0]);
    }

    #[test]
    fn charts_are_well_formed_and_escaped() {
        let svg = lines(
            "ROC <AUC>",
            "x",
            "y",
            (0.0, 1.0),
            (0.0, 1.0),
            &[Series {
                name: "a & b".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                dashed: false,
            }],
            &[(0.03, "top 3 %".into())],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("ROC &lt;AUC&gt;") && svg.contains("a &amp; b"));
        let b = bars("t", "x", &["CAF33".into()], &[("sms".into(), vec![3.0])]);
        assert!(b.contains("CAF33") && b.ends_with("</svg>"));
    }
}
