//! The `report` stage: `report/index.html` (one self-contained file: inline SVG, no script,
//! no network), each chart's data as CSV and its SVG beside it, the model card of each
//! benefit with its fairness findings and the contact rules, and the Jupyter notebooks of
//! the run (`notebooks-export/`). Tables that leave the national team carry no cell under
//! `[evaluation] min_cell` people.

pub mod figures;
pub(crate) mod modelcard;
pub mod notebooks;
pub mod svg;

use std::collections::BTreeMap;

use std::fmt::Write as _;
use std::path::Path;

use recours_models::train::ModelArtefact;
use serde_json::Value;

use crate::config::RunConfig;
use crate::domain::codes::Canal;
use crate::domain::disclosure;
use crate::domain::fr;
use crate::error::{RecoursError, Result};
use crate::io::excel::{Cell, RFC4180};
use crate::io::output;
use crate::stages::eligibility;
use crate::stages::evaluate;
use crate::stages::evaluate::fairness::{self, SuppressedRow};
use crate::stages::features::dictionary as features;
use crate::stages::ingest;
use crate::stages::lists;
use crate::stages::report::figures::{Chart, Figures};
use crate::stages::report::modelcard::{CardContext, rate_fr};
use crate::stages::report::svg::{Series, esc};
use crate::stages::score;
use crate::stages::stage::{Declaration, Fingerprint, Need, RunContext, Stage};
use crate::stages::train;
use crate::tables::manifest::{FileRecord, Manifest};
use crate::tables::run_folder::names;
use serde_json::json;

/// One line of a report CSV (RFC 4180): every cell escaped and quoted by
/// [`crate::io::excel`], as every CSV recours writes.
fn csv_line(cells: &[String]) -> String {
    let mut s = cells
        .iter()
        .map(|c| RFC4180.field(&Cell::Text(c.clone())))
        .collect::<Vec<_>>()
        .join(",");
    s.push_str("\r\n");
    s
}

fn csv_of(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = csv_line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        s.push_str(&csv_line(r));
    }
    s
}

/// A count as it may leave the national team (`None`: suppressed).
fn shown(v: Option<usize>) -> String {
    v.map_or(disclosure::HIDDEN.to_string(), |v| v.to_string())
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

/// A count as it may leave the national team, French formatted.
fn shown_fr(v: Option<usize>) -> String {
    v.map_or(disclosure::HIDDEN.to_string(), fr::count)
}

/// The charts of one benefit.
fn benefit_charts(b: &str, a: &ModelArtefact, fig: &Figures) -> Vec<Chart> {
    let mut charts = Vec::new();
    let held = &a.metrics.test;
    let truth = fig
        .evaluation
        .as_ref()
        .and_then(|e| e.benefits.get(b))
        .map(|e| &e.model);
    let min = fig.fairness.min_cell;
    let held_curve = coarsen(held, min);
    let truth_curve = truth.map(|t| coarsen(t, min));
    let curves: Vec<(&str, &Vec<recours_models::metrics::CurvePoint>)> =
        std::iter::once(("apprentissage (test)", &held_curve))
            .chain(
                truth_curve
                    .as_ref()
                    .map(|c| ("population, contre la vérité", c)),
            )
            .collect();
    let curve_csv = |f: &dyn Fn(&recours_models::metrics::CurvePoint) -> Vec<String>| {
        let mut rows = Vec::new();
        for (name, c) in &curves {
            for p in c.iter() {
                let mut r = vec![name.to_string()];
                r.extend(f(p));
                rows.push(r);
            }
        }
        rows
    };
    let series = |f: &dyn Fn(&recours_models::metrics::CurvePoint) -> (f64, f64)| -> Vec<Series> {
        curves
            .iter()
            .map(|(name, c)| Series {
                name: name.to_string(),
                points: c.iter().map(f).collect(),
                dashed: false,
            })
            .collect()
    };
    // ROC
    let mut roc = series(&|p| (p.fpr, p.tpr));
    roc.push(diagonal_series());
    charts.push(Chart {
        id: format!("{b}-roc"),
        title: format!(
            "{b} — courbe ROC (AUC {})",
            fr::or_nd(held.auc, |v| fr::number(v, 4))
        ),
        svg: svg::lines(
            &format!(
                "{b} — courbe ROC (AUC {})",
                fr::or_nd(held.auc, |v| fr::number(v, 4))
            ),
            "taux de faux positifs",
            "taux de vrais positifs (rappel)",
            (0.0, 1.0),
            (0.0, 1.0),
            &roc,
            &[],
        ),
        csv: csv_of(
            &["donnees", "part_contactee", "taux_faux_positifs", "rappel"],
            &curve_csv(&|p| vec![f4(p.share), f4(p.fpr), f4(p.tpr)]),
        ),
    });
    // Precision-recall
    let pr = series(&|p| (p.tpr, p.precision));
    charts.push(Chart {
        id: format!("{b}-precision-rappel"),
        title: format!("{b} — précision et rappel"),
        svg: svg::lines(
            &format!(
                "{b} — précision-rappel (PR-AUC {})",
                fr::or_nd(held.pr_auc, |v| fr::number(v, 4))
            ),
            "rappel",
            "précision",
            (0.0, 1.0),
            (0.0, 1.0),
            &pr,
            &[],
        ),
        csv: csv_of(
            &["donnees", "part_contactee", "rappel", "precision"],
            &curve_csv(&|p| vec![f4(p.share), f4(p.tpr), f4(p.precision)]),
        ),
    });
    // Cumulative gain and lift, top 3 % marked.
    let mut gain = series(&|p| (p.share, p.tpr));
    gain.push(diagonal_series());
    let top3 = vec![(0.03, format!("top 3{}%", fr::UNIT_SPACE))];
    charts.push(Chart {
        id: format!("{b}-gain"),
        title: format!("{b} — gain cumulé"),
        svg: svg::lines(
            &format!("{b} — gain cumulé"),
            "part de la population contactée (par score décroissant)",
            "part des non-recourants atteints",
            (0.0, 1.0),
            (0.0, 1.0),
            &gain,
            &top3,
        ),
        csv: csv_of(
            &["donnees", "part_contactee", "part_non_recourants_atteints"],
            &curve_csv(&|p| vec![f4(p.share), f4(p.tpr)]),
        ),
    });
    let base = |c: &Vec<recours_models::metrics::CurvePoint>| c.last().map_or(0.0, |p| p.precision);
    // Before the first published point the curve holds that point's value: the lift of
    // the first published group as a whole (finer points would reveal small counts).
    let lift: Vec<Series> = curves
        .iter()
        .map(|(name, c)| {
            let points: Vec<(f64, f64)> = c
                .iter()
                .filter(|p| p.share > 0.0)
                .map(|p| (p.share, p.precision / base(c).max(1e-12)))
                .collect();
            Series {
                name: name.to_string(),
                points: points
                    .first()
                    .map(|&(_, l)| (0.0, l))
                    .into_iter()
                    .chain(points)
                    .collect(),
                dashed: false,
            }
        })
        .collect();
    let max_lift = lift
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    charts.push(Chart {
        id: format!("{b}-lift"),
        title: format!("{b} — lift"),
        svg: svg::lines(
            &format!("{b} — lift (précision / taux de base)"),
            "part de la population contactée (palier : premier groupe publié)",
            "lift",
            (0.0, 1.0),
            (0.0, max_lift * 1.05),
            &lift,
            &top3,
        ),
        csv: csv_of(
            &["donnees", "part_contactee", "lift"],
            &curves
                .iter()
                .flat_map(|(name, c)| {
                    c.iter().filter(|p| p.share > 0.0).map(move |p| {
                        vec![
                            name.to_string(),
                            f4(p.share),
                            f4(p.precision / base(c).max(1e-12)),
                        ]
                    })
                })
                .collect::<Vec<_>>(),
        ),
    });
    // Calibration by decile: the observed rate reveals the positives of the decile, which
    // are suppressed like any count.
    let cal = &held.calibration;
    let min = fig.fairness.min_cell;
    let positives: Vec<usize> = cal
        .iter()
        .map(|c| (c.observed_rate * c.count as f64).round() as usize)
        .collect();
    let shown_pos = disclosure::suppress_counts(&positives, min);
    charts.push(Chart {
        id: format!("{b}-calibration"),
        title: format!("{b} — calibration par décile"),
        svg: svg::columns(
            &format!("{b} — calibration par décile (échantillon de test)"),
            "décile de probabilité prédite (taux observés masqués sous 11 positifs)",
            "taux",
            &cal.iter().map(|c| c.decile.to_string()).collect::<Vec<_>>(),
            &[
                (
                    "prédit".into(),
                    cal.iter().map(|c| c.mean_predicted).collect(),
                ),
                (
                    "observé".into(),
                    cal.iter()
                        .zip(&shown_pos)
                        .map(|(c, p)| if p.is_some() { c.observed_rate } else { 0.0 })
                        .collect(),
                ),
            ],
        ),
        csv: csv_of(
            &["decile", "lignes", "predit_moyen", "positifs", "observe"],
            &cal.iter()
                .zip(&shown_pos)
                .map(|(c, p)| {
                    vec![
                        c.decile.to_string(),
                        c.count.to_string(),
                        f4(c.mean_predicted),
                        shown(*p),
                        p.map_or(String::new(), |_| f4(c.observed_rate)),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    });
    // Score distribution over the scoring population.
    if let Some(s) = fig.scores.get(b) {
        let labels: Vec<String> = (0..20).map(|i| fr::number(i as f64 * 0.05, 2)).collect();
        let bins = disclosure::suppress_counts(&s.bins, fig.fairness.min_cell);
        charts.push(Chart {
            id: format!("{b}-distribution-scores"),
            title: format!("{b} — distribution des scores"),
            svg: svg::columns(
                &format!("{b} — distribution des scores ({} personnes)", fr::count(s.rows)),
                "probabilité de non-recours (borne basse de la classe ; classes de moins de 11 non dessinées)",
                "personnes",
                &labels,
                &[(
                    "personnes".into(),
                    bins.iter().map(|n| n.unwrap_or(0) as f64).collect(),
                )],
            ),
            csv: csv_of(
                &["classe_basse", "classe_haute", "personnes"],
                &(0..20)
                    .map(|i| {
                        vec![
                            format!("{:.2}", i as f64 * 0.05),
                            format!("{:.2}", (i + 1) as f64 * 0.05),
                            shown(bins[i]),
                        ]
                    })
                    .collect::<Vec<_>>(),
            ),
        });
    }
    // Coefficients with their 95 % intervals.
    let coefs = a.coefficients_by_weight();
    charts.push(Chart {
        id: format!("{b}-coefficients"),
        title: format!("{b} — coefficients"),
        svg: svg::intervals(
            &format!("{b} — coefficients par écart-type, intervalle à 95 %"),
            "log-odds par écart-type de la variable",
            &coefs
                .iter()
                .map(|c| modelcard::meaning(&c.name).to_string())
                .collect::<Vec<_>>(),
            &coefs
                .iter()
                .map(|c| (c.standardized, c.ci95_low, c.ci95_high))
                .collect::<Vec<_>>(),
            0.0,
            ["augmente la probabilité de non-recours", "la diminue"],
        ),
        csv: csv_of(
            &[
                "variable",
                "signification",
                "coefficient",
                "ic95_bas",
                "ic95_haut",
                "erreur_type",
                "odds_ratio",
            ],
            &coefs
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        modelcard::meaning(&c.name).to_string(),
                        f4(c.standardized),
                        f4(c.ci95_low),
                        f4(c.ci95_high),
                        f4(c.std_error),
                        f4(c.odds_ratio_per_sd),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    });
    // Recall by group (suppressed cells left out).
    let rows: Vec<SuppressedRow> = fig
        .suppressed(b)
        .into_iter()
        .filter(|r| r.dimension != "departement" && r.rappel.is_some())
        .collect();
    if fig.fairness.reference.is_some() && !rows.is_empty() {
        let overall = fig
            .evaluation
            .as_ref()
            .map(|_| {
                let g = &fig.fairness.benefits[b];
                let (tp, pos) =
                    g.iter()
                        .filter(|r| r.dimension == "sexe")
                        .fold((0, 0), |(t, p), r| {
                            (
                                t + r.vrais_positifs.unwrap_or(0),
                                p + r.non_recours.unwrap_or(0),
                            )
                        });
                tp as f64 / pos.max(1) as f64
            })
            .unwrap_or(0.0);
        charts.push(Chart {
            id: format!("{b}-rappel-par-groupe"),
            title: format!("{b} — rappel par groupe"),
            svg: svg::intervals(
                &format!(
                    "{b} — rappel par groupe (IC 95 %), trait : ensemble {}",
                    fr::percent(overall)
                ),
                "part des non-recourants du groupe qui sont sur une liste",
                &rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{}{}",
                            if r.alerte { "⚠ " } else { "" },
                            fairness::group_words(&r.dimension, &r.groupe)
                        )
                    })
                    .collect::<Vec<_>>(),
                &rows
                    .iter()
                    .filter_map(|r| {
                        r.rappel
                            .as_ref()
                            .map(|x| (x.value, x.ci95_low, x.ci95_high))
                    })
                    .collect::<Vec<_>>(),
                overall,
                ["rappel au moins égal à l'ensemble", "rappel inférieur"],
            ),
            csv: fairness::to_csv(b, &rows),
        });
    }
    charts
}

/// The curve points that may leave the national team: from one kept point to the next,
/// the positives and the negatives added are each 0 or at least `min_cell` (a step adds
/// some), so that no step reveals a small count. Of the curve's points (one per distinct
/// score, `metrics::curve`), the most that can be kept so: a longest chain of publishable
/// steps from the first point to the last (the last is kept in any case: it is the whole
/// set), the earliest such chain when several are as long.
pub(crate) fn coarsen(
    e: &recours_models::metrics::Evaluation,
    min_cell: usize,
) -> Vec<recours_models::metrics::CurvePoint> {
    let pos = e.positives as f64;
    let neg = (e.rows - e.positives) as f64;
    let counts: Vec<(usize, usize)> = e
        .curve
        .iter()
        .map(|p| {
            (
                (p.tpr * pos).round() as usize,
                (p.fpr * neg).round() as usize,
            )
        })
        .collect();
    let n = counts.len();
    if n < 2 {
        return e.curve.clone();
    }
    let publishable = |n: usize| n == 0 || n >= min_cell;
    let step = |i: usize, j: usize| {
        let (tp, fp) = (
            counts[j].0.saturating_sub(counts[i].0),
            counts[j].1.saturating_sub(counts[i].1),
        );
        publishable(tp) && publishable(fp) && (tp, fp) != (0, 0)
    };
    // longest[j]: points on the longest chain from the first point to j (0: none).
    let mut longest = vec![0usize; n];
    let mut before = vec![0usize; n];
    longest[0] = 1;
    for j in 1..n {
        for i in 0..j {
            if longest[i] > 0 && longest[i] + 1 > longest[j] && step(i, j) {
                longest[j] = longest[i] + 1;
                before[j] = i;
            }
        }
    }
    if longest[n - 1] == 0 {
        // No chain reaches the whole set: the first point, then the whole set.
        before[n - 1] = 0;
    }
    let mut kept = vec![n - 1];
    while let Some(&j) = kept.last()
        && j > 0
    {
        kept.push(before[j]);
    }
    kept.iter().rev().map(|&k| e.curve[k].clone()).collect()
}

fn diagonal_series() -> Series {
    Series {
        name: "hasard".into(),
        points: vec![(0.0, 0.0), (1.0, 1.0)],
        dashed: true,
    }
}

/// Charts of the whole run: quality, lists, campaign feedback.
fn run_charts(fig: &Figures) -> Vec<Chart> {
    let mut charts = Vec::new();
    if let Some(tables) = fig.quality["tables"].as_object() {
        let names: Vec<String> = tables.keys().cloned().collect();
        let get = |t: &Value, k: &str| t[k].as_u64().unwrap_or(0);
        let kept: Vec<f64> = tables
            .values()
            .map(|t| get(t, "rows_kept") as f64)
            .collect();
        let rejected: Vec<f64> = tables
            .values()
            .map(|t| get(t, "rows_rejected") as f64)
            .collect();
        let mut rows = Vec::new();
        for (n, t) in tables {
            let rules = t["issues_by_rule"].as_object();
            let by_rule = rules
                .map(|r| {
                    r.iter()
                        .map(|(k, v)| format!("{k}: {}", v.as_u64().unwrap_or(0)))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            rows.push(vec![
                n.clone(),
                get(t, "rows_in").to_string(),
                get(t, "rows_kept").to_string(),
                get(t, "rows_rejected").to_string(),
                by_rule,
            ]);
        }
        charts.push(Chart {
            id: "qualite-donnees".into(),
            title: "Qualité des données".into(),
            svg: svg::bars(
                "Lignes gardées et rejetées par table",
                "lignes",
                &names,
                &[("gardées".into(), kept), ("rejetées".into(), rejected)],
            ),
            csv: csv_of(
                &[
                    "table",
                    "lignes_lues",
                    "gardees",
                    "rejetees",
                    "problemes_par_regle",
                ],
                &rows,
            ),
        });
    }
    // List sizes per caisse and channel: the 30 longest lists drawn, every caisse in the CSV.
    let channels: Vec<String> = fig.channels.keys().cloned().collect();
    // Caisses with at least one person listed.
    let listing = fig
        .per_caisse
        .values()
        .filter(|m| m.values().sum::<usize>() > 0)
        .count();
    let min = fig.fairness.min_cell;
    // Caisses × (channels, total): rows add up to each caisse's total and columns to the
    // national channel totals, both published: suppressed on both margins.
    let matrix: Vec<Vec<usize>> = fig
        .per_caisse
        .values()
        .map(|m| {
            let mut v: Vec<usize> = channels
                .iter()
                .map(|ch| m.get(ch).copied().unwrap_or(0))
                .collect();
            v.push(v.iter().sum());
            v
        })
        .collect();
    let cells: BTreeMap<&String, Vec<Option<usize>>> = fig
        .per_caisse
        .keys()
        .zip(disclosure::suppress_table(&matrix, min))
        .collect();
    // Drawn: the 30 longest lists whose total is published, ranked by that total; a bar's
    // channels whose counts are hidden are one grey segment (their sum is the total less
    // the shown channels, both published), so every bar has its number and every number
    // its bar.
    let total_col = channels.len();
    let mut drawn: Vec<(&String, usize)> = cells
        .iter()
        .filter_map(|(c, v)| v[total_col].filter(|t| *t > 0).map(|t| (*c, t)))
        .collect();
    drawn.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let not_drawn = listing - drawn.len();
    let top: Vec<&String> = drawn.iter().take(30).map(|(c, _)| *c).collect();
    let mut series: Vec<(String, Vec<f64>)> = channels
        .iter()
        .enumerate()
        .map(|(k, ch)| {
            (
                Canal::label_of(ch).to_string(),
                top.iter()
                    .map(|c| cells[*c][k].unwrap_or(0) as f64)
                    .collect(),
            )
        })
        .collect();
    let hidden: Vec<f64> = top
        .iter()
        .map(|c| {
            let v = &cells[*c];
            let shown: usize = v[..total_col].iter().flatten().sum();
            v[total_col].unwrap_or(0).saturating_sub(shown) as f64
        })
        .collect();
    // The palette's last colour is grey: kept for the hidden segment.
    let mut colors: Vec<&str> = (0..channels.len())
        .map(|k| svg::COLORS[k % (svg::COLORS.len() - 1)])
        .collect();
    if hidden.iter().any(|h| *h > 0.0) {
        series.push(("canal non diffusé".into(), hidden));
        colors.push(svg::HIDDEN_COLOR);
    }
    charts.push(Chart {
        id: "listes-par-caisse".into(),
        title: format!(
            "Taille des listes par caisse et canal : les {} plus longues listes publiées{}",
            top.len(),
            if not_drawn > 0 {
                format!(
                    " ; {not_drawn} caisses dont la liste compte moins de {min} personnes (ou est masquée) ne sont pas dessinées"
                )
            } else {
                String::new()
            }
        ),
        svg: svg::bars_labelled(
            &format!(
                "Personnes à contacter par caisse et canal ({} listes sur {})",
                top.len(),
                listing
            ),
            &format!(
                "personnes (en gris : canaux de moins de {min} personnes, non détaillés)"
            ),
            &top.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            &series,
            Some(
                &top.iter()
                    .map(|c| shown_fr(cells[*c][total_col]))
                    .collect::<Vec<_>>(),
            ),
            &colors,
        ),
        csv: csv_of(
            &["caisse", "canal", "personnes"],
            &cells
                .iter()
                .flat_map(|(c, v)| {
                    channels
                        .iter()
                        .map(String::as_str)
                        .chain(std::iter::once("total"))
                        .zip(v)
                        .map(move |(ch, n)| vec![c.to_string(), ch.to_string(), shown(*n)])
                })
                .collect::<Vec<_>>(),
        ),
    });
    // Campaign feedback: rights opened by channel, against the control group.
    if let Some(fb) = &fig.feedback {
        let national = &fb["national"];
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut rows = Vec::new();
        let outcome = |o: &Value| {
            (
                o["personnes"].as_u64().unwrap_or(0) as usize,
                o["droits_ouverts"].as_u64().unwrap_or(0) as usize,
            )
        };
        let mut groups: Vec<(String, usize, usize)> = Vec::new();
        if let Some(m) = national["par_canal"].as_object() {
            for (canal, o) in m {
                if canal != "aucun" {
                    let (n, k) = outcome(o);
                    groups.push((Canal::label_of(canal).to_string(), n, k));
                }
            }
        }
        let arms = groups.len();
        let (n, k) = outcome(&national["temoins"]);
        groups.push(("groupe témoin".into(), n, k));
        let min = fig.fairness.min_cell;
        let mut people =
            disclosure::suppress_counts(&groups.iter().map(|g| g.1).collect::<Vec<_>>(), min);
        let mut opened =
            disclosure::suppress_counts(&groups.iter().map(|g| g.2).collect::<Vec<_>>(), min);
        // All the people contacted, whatever the channel: published when it is not small
        // and does not give back a single hidden arm by difference.
        let (n, k) = outcome(&national["contactes"]);
        let one_hidden =
            |v: &[Option<usize>]| v[..arms].iter().filter(|x| x.is_none()).count() == 1;
        let all_shown = disclosure::suppress_counts(&[n], min)[0].is_some()
            && disclosure::suppress_counts(&[k], min)[0].is_some()
            && !one_hidden(&people)
            && !one_hidden(&opened);
        groups.push(("ensemble des contactés".into(), n, k));
        people.push(all_shown.then_some(n));
        opened.push(all_shown.then_some(k));
        let mut control = f64::NAN;
        let control_at = arms;
        for (i, (name, n, k)) in groups.iter().enumerate() {
            let r = fairness::wilson(*k, *n).filter(|_| people[i].is_some() && opened[i].is_some());
            rows.push(vec![
                name.clone(),
                shown(people[i]),
                shown(opened[i]),
                r.as_ref().map_or(String::new(), |r| f4(r.value)),
                r.as_ref().map_or(String::new(), |r| f4(r.ci95_low)),
                r.as_ref().map_or(String::new(), |r| f4(r.ci95_high)),
            ]);
            if let Some(r) = r {
                if i == control_at {
                    control = r.value;
                }
                names.push(name.clone());
                values.push((r.value, r.ci95_low, r.ci95_high));
            }
        }
        // The effect against the control group is shown only when no arm has a hidden cell
        // (it would give the hidden counts back).
        let effect = national["effet"]["difference"]
            .as_f64()
            .filter(|_| people.iter().chain(&opened).all(Option::is_some));
        let hidden_arms: Vec<&str> = groups
            .iter()
            .enumerate()
            .filter(|(i, _)| people[*i].is_none() || opened[*i].is_none())
            .map(|(_, g)| g.0.as_str())
            .collect();
        let caption = format!(
            "Campagne précédente : part des personnes contactées dont le droit a été ouvert, par canal{}{}{}",
            if control.is_finite() {
                " ; trait vertical : taux du groupe témoin (non contacté)"
            } else {
                " ; groupe témoin non dessiné : moins de 11 droits ouverts ou personnes"
            },
            match effect {
                Some(e) => format!(" ; effet du contact {} points", fr::signed(100.0 * e, 1)),
                None =>
                    " ; effet du contact non diffusé (il permettrait de retrouver un nombre masqué)"
                        .into(),
            },
            if hidden_arms.is_empty() {
                String::new()
            } else {
                format!(" ; non dessinés (n.d.) : {}", hidden_arms.join(", "))
            }
        );
        charts.push(Chart {
            id: "campagne-retours".into(),
            title: caption,
            svg: svg::intervals(
                &format!(
                    "Droits ouverts par canal, IC 95 %{}",
                    effect.map_or(String::new(), |e| format!(
                        " — effet du contact {} points",
                        fr::signed(100.0 * e, 1)
                    ))
                ),
                "part des personnes avec un droit ouvert",
                &names,
                &values,
                control,
                if control.is_finite() {
                    [
                        "au moins le taux du groupe témoin",
                        "moins que le groupe témoin",
                    ]
                } else {
                    ["taux de droits ouverts", ""]
                },
            ),
            csv: csv_of(
                &[
                    "canal",
                    "personnes",
                    "droits_ouverts",
                    "taux",
                    "ic95_bas",
                    "ic95_haut",
                ],
                &rows,
            ),
        });
    }
    charts
}

/// The fairness table as the report shows it (the département rows are in the CSV).
fn fairness_rows(rows: &[SuppressedRow]) -> Vec<Vec<String>> {
    let share = |v: Option<f64>| fr::or_nd(v, fr::percent);
    rows.iter()
        .filter(|r| r.dimension != "departement")
        .map(|r| {
            vec![
                fairness::dimension_label(&r.dimension).to_string(),
                fairness::group_label(&r.dimension, &r.groupe).to_string(),
                shown_fr(r.population),
                share(r.part_population),
                shown_fr(r.listes),
                share(r.part_liste),
                r.non_recours.map_or(fr::ND.to_string(), shown_fr),
                rate_fr(r.precision.as_ref()),
                rate_fr(r.rappel.as_ref()),
                share(r.rappel_autres),
                if r.alerte {
                    "⚠ oui".into()
                } else {
                    "non".into()
                },
                shown_fr(r.campagne_contactes),
                rate_fr(r.campagne_taux.as_ref()),
            ]
        })
        .collect()
}

/// A number, a percentage, an amount or `n.d.`: right-aligned in tables (text is left).
fn is_number_cell(c: &str) -> bool {
    c == fr::ND
        || c.strip_prefix(['+', '-'])
            .unwrap_or(c)
            .starts_with(|ch: char| ch.is_ascii_digit())
            && c.chars().all(|ch| {
                ch.is_ascii_digit()
                    || matches!(
                        ch,
                        ',' | '+' | '-' | '%' | '€' | '[' | ']' | ';' | '–' | ' '
                    )
                    || ch == fr::UNIT_SPACE
                    || ch == '\u{202f}'
            })
}

/// A table whose number cells are right-aligned (`class="n"`); the header row repeats on
/// each printed page (`thead`).
fn table_html(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    let numeric: Vec<bool> = (0..header.len())
        .map(|k| {
            let cells: Vec<&str> = rows
                .iter()
                .filter_map(|r| r.get(k).map(String::as_str))
                .filter(|c| !c.is_empty())
                .collect();
            !cells.is_empty() && cells.iter().all(|c| is_number_cell(c))
        })
        .collect();
    for (k, h) in header.iter().enumerate() {
        let class = if numeric[k] { " class=\"n\"" } else { "" };
        let _ = write!(s, "<th{class}>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for (k, c) in r.iter().enumerate() {
            let class = if numeric.get(k).copied().unwrap_or(false) {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(s, "<td{class}>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A cell of a CSV this module wrote, as people read it: counts grouped by thousands,
/// decimal comma.
fn fr_cell(c: &str) -> String {
    if let Ok(n) = c.parse::<usize>() {
        fr::count(n)
    } else if let Ok(v) = c.parse::<f64>()
        && let Some((_, frac)) = c.split_once('.')
    {
        fr::number(v, frac.len())
    } else {
        c.to_string()
    }
}

fn markdown_html(md: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let mut out = String::new();
    html::push_html(&mut out, Parser::new_ext(md, Options::ENABLE_TABLES));
    out
}

fn figure(c: &Chart) -> String {
    format!(
        "<figure id=\"{id}\">{svg}<figcaption>{t}. Données : <a href=\"{id}.csv\">{id}.csv</a>.</figcaption></figure>\n",
        id = esc(&c.id),
        svg = c.svg,
        t = esc(&c.title)
    )
}

/// What changed since the previous run, and only that: the configuration, the reference
/// files and the inputs, then the held-out AUC, coefficients and list sizes that moved
/// (at the precision shown). The rows are French formatted; `unchanged` counts the
/// comparisons left out because nothing moved.
struct Changes {
    previous: String,
    settings: Vec<[String; 3]>,
    rows: Vec<[String; 4]>,
    unchanged: usize,
}

fn changes(fig: &Figures) -> Option<Changes> {
    let p = fig.previous.as_ref()?;
    let mut rows = Vec::new();
    let mut unchanged = 0;
    let f4 = |v: f64| fr::number(v, 4);
    // Moved at the 4 decimals shown.
    let moved = |a: f64, b: f64| f4(a) != f4(b);
    for (b, a) in &fig.models {
        if let Some(old) = p.models.get(b) {
            let (n, o) = (a.metrics.test.auc, old.metrics.test.auc);
            match (n, o) {
                (Some(n), Some(o)) if !moved(n, o) => unchanged += 1,
                _ => rows.push([
                    format!("{b} : AUC (test)"),
                    fr::or_nd(o, f4),
                    fr::or_nd(n, f4),
                    match (n, o) {
                        (Some(n), Some(o)) => fr::signed(n - o, 4),
                        _ => fr::ND.into(),
                    },
                ]),
            }
            let olds: BTreeMap<&str, f64> = old
                .coefficients
                .iter()
                .map(|c| (c.name.as_str(), c.standardized))
                .collect();
            let news: std::collections::BTreeSet<&str> =
                a.coefficients.iter().map(|c| c.name.as_str()).collect();
            for c in &a.coefficients {
                let label = format!("{b} : coefficient « {} »", modelcard::meaning(&c.name));
                match olds.get(c.name.as_str()).copied() {
                    Some(o) if !moved(o, c.standardized) => unchanged += 1,
                    Some(o) => rows.push([
                        label,
                        f4(o),
                        f4(c.standardized),
                        fr::signed(c.standardized - o, 4),
                    ]),
                    None => rows.push([label, "absent".into(), f4(c.standardized), fr::ND.into()]),
                }
            }
            for c in old
                .coefficients
                .iter()
                .filter(|c| !news.contains(c.name.as_str()))
            {
                rows.push([
                    format!("{b} : coefficient « {} »", modelcard::meaning(&c.name)),
                    f4(c.standardized),
                    "absent".into(),
                    fr::ND.into(),
                ]);
            }
        }
    }
    let now: BTreeMap<&String, usize> = fig
        .per_caisse
        .iter()
        .map(|(c, m)| (c, m.values().sum()))
        .collect();
    let all: Vec<&String> = now
        .keys()
        .copied()
        .chain(p.per_caisse.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let min = fig.fairness.min_cell;
    let before: Vec<usize> = all
        .iter()
        .map(|c| p.per_caisse.get(*c).copied().unwrap_or(0))
        .collect();
    let after: Vec<usize> = all
        .iter()
        .map(|c| now.get(*c).copied().unwrap_or(0))
        .collect();
    let (sb, sa) = (
        disclosure::suppress_counts(&before, min),
        disclosure::suppress_counts(&after, min),
    );
    for (i, c) in all.iter().enumerate() {
        match (sb[i], sa[i]) {
            (Some(o), Some(n)) if o == n => unchanged += 1,
            // Both hidden: whether it moved is not published either.
            (None, None) => unchanged += 1,
            (o, n) => rows.push([
                format!("liste {c}"),
                shown_fr(o),
                shown_fr(n),
                match (o, n) {
                    (Some(o), Some(n)) => fr::signed(n as f64 - o as f64, 0),
                    _ => fr::ND.into(),
                },
            ]),
        }
    }
    Some(Changes {
        previous: p.run_id.clone(),
        settings: p.settings.clone(),
        rows,
        unchanged,
    })
}

/// The `report` stage.
pub static STAGE: Declaration = Declaration {
    name: "report",
    describe: "run report (HTML, charts and their data), model cards, notebooks",
    reads: &[
        &ingest::STAGE,
        &eligibility::STAGE,
        &crate::stages::features::STAGE,
        &train::STAGE,
        &score::STAGE,
        &lists::STAGE,
        &evaluate::STAGE,
    ],
    needs: &[Need::Features, Need::Models],
    outputs: &[names::REPORT, names::NOTEBOOKS],
};

pub struct Report;

impl Stage for Report {
    fn declaration(&self) -> &'static Declaration {
        &STAGE
    }
    fn own_inputs(&self, f: &mut Fingerprint<'_>) -> Result<serde_json::Value> {
        // The previous run as the report reads it: its id, models and list decisions
        // (not its timings, which change when it is merely resumed).
        let cfg: &RunConfig = f.config;
        let previous = match &cfg.previous {
            Some(p) => {
                let m = Manifest::read(&p.path)?;
                let lists: Vec<&FileRecord> = m
                    .outputs()
                    .into_iter()
                    .filter(|o| o.path == names::DECISIONS)
                    .collect();
                Some(json!({ "run_id": m.run_id, "models": m.models, "lists": lists }))
            }
            None => None,
        };
        Ok(json!({ "previous": previous }))
    }
    fn run(&self, ctx: &mut RunContext) -> Result<String> {
        let fig = Figures::gather(ctx)?;
        let dir = ctx.out.report();
        let f = &ctx.config.features;
        let selection = features::select(&f.exclude, &f.allow_protected);

        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>recours — rapport {id}</title><style>{CSS}</style></head><body>\n<h1>recours — rapport de la campagne {month}</h1>\n<p>Exécution <code>{id}</code>, recours {v}. Fichier autonome : aucun script, aucune ressource externe. Les données de chaque graphique sont dans le fichier CSV nommé sous le graphique (séparateur virgule, point décimal, pour être relues par un programme). Les cellules de moins de {min} personnes, et celles qui permettraient de les retrouver par différence, sont masquées.</p>\n<p class=\"note\">{nd}.</p>\n",
            id = esc(&fig.run_id),
            month = esc(&fig.month),
            v = env!("CARGO_PKG_VERSION"),
            min = fig.fairness.min_cell,
            nd = esc(fr::ND_NOTE),
        );
        html.push_str("<nav><a href=\"#qualite\">Qualité des données</a>");
        for b in fig.models.keys() {
            let _ = write!(html, " · <a href=\"#{b}\">{b}</a>");
        }
        html.push_str(" · <a href=\"#listes\">Listes</a> · <a href=\"#campagne\">Campagne précédente</a> · <a href=\"#equite\">Équité</a> · <a href=\"#evolution\">Évolution</a> · <a href=\"#fiches\">Fiches modèles</a></nav>\n");

        let run_charts = run_charts(&fig);
        let mut all_charts: Vec<&Chart> = Vec::new();
        let chart = |id: &str| run_charts.iter().find(|c| c.id == id);

        html.push_str("<h2 id=\"qualite\">Qualité des données</h2>\n");
        if let Some(c) = chart("qualite-donnees") {
            let rows: Vec<Vec<String>> = c
                .csv
                .lines()
                .skip(1)
                .map(|l| split_csv(l).iter().map(|c| fr_cell(c)).collect())
                .collect();
            html.push_str(&table_html(
                &[
                    "table",
                    "lignes lues",
                    "gardées",
                    "rejetées",
                    "problèmes par règle",
                ],
                &rows,
            ));
            html.push_str(&figure(c));
        }

        let mut per_benefit = BTreeMap::new();
        for (b, a) in &fig.models {
            per_benefit.insert(b.clone(), benefit_charts(b, a, &fig));
        }
        for (b, a) in &fig.models {
            let _ = writeln!(html, "<h2 id=\"{b}\">{b}</h2>");
            let m = &a.metrics.test;
            let mut rows = vec![metric_row(
                "échantillon de test (table d'apprentissage)",
                m,
                a.metrics.test_auc_eligibility_only,
                fig.fairness.min_cell,
            )];
            if let Some(e) = fig.evaluation.as_ref().and_then(|e| e.benefits.get(b)) {
                rows.push(metric_row(
                    "population à scorer, contre la vérité (synthétique)",
                    &e.model,
                    e.auc_eligibility_only,
                    fig.fairness.min_cell,
                ));
            }
            html.push_str(&table_html(
                &[
                    "mesuré sur",
                    "lignes",
                    "positifs",
                    "AUC",
                    "AUC du droit estimé seul",
                    "PR-AUC",
                    "log-loss",
                    "Brier",
                    "précision top 3 %",
                    "lift top 3 %",
                ],
                &rows,
            ));
            if let Some((n, amount)) = fig.listed_by_benefit.get(b)
                && disclosure::suppress_counts(&[*n], fig.fairness.min_cell)[0].is_some()
            {
                let _ = writeln!(
                    html,
                    "<p>{} personnes sur les listes pour {b} ; montant mensuel attendu cumulé {}.</p>",
                    fr::count(*n),
                    fr::euros(*amount)
                );
            }
            html.push_str("<div class=\"grid\">");
            for c in &per_benefit[b] {
                if !c.id.ends_with("rappel-par-groupe") {
                    html.push_str(&figure(c));
                }
            }
            html.push_str("</div>\n");
        }

        html.push_str("<h2 id=\"listes\">Listes de contact</h2>\n");
        let min = fig.fairness.min_cell;
        // Rows keyed by code, shown in words.
        let counts = |m: &BTreeMap<String, usize>, words: &dyn Fn(&str) -> String| {
            let shown_counts =
                disclosure::suppress_counts(&m.values().copied().collect::<Vec<_>>(), min);
            m.keys()
                .zip(shown_counts)
                .map(|(k, n)| vec![words(k), shown_fr(n)])
                .collect::<Vec<_>>()
        };
        let rows = counts(&fig.decisions, &|code| {
            lists::select::Decision::from_code(code)
                .map_or_else(|| code.to_string(), |d| d.label().to_string())
        });
        html.push_str("<p>Décisions par personne et caisse :</p>");
        html.push_str(&table_html(&["décision", "personnes × caisse"], &rows));
        let rows = counts(&fig.channels, &|code| Canal::label_of(code).to_string());
        html.push_str(&table_html(&["canal", "personnes listées"], &rows));
        html.push_str("<p>Règles appliquées :</p><ul>");
        for r in &fig.rules {
            let _ = write!(html, "<li>{}</li>", esc(r));
        }
        html.push_str("</ul>");
        if let Some(c) = chart("listes-par-caisse") {
            html.push_str(&figure(c));
        }

        html.push_str("<h2 id=\"campagne\">Campagne précédente : retours</h2>\n");
        match chart("campagne-retours") {
            Some(c) => html.push_str(&figure(c)),
            None => html.push_str("<p>Pas de table <code>retours</code> dans cette exécution.</p>"),
        }

        html.push_str("<h2 id=\"equite\">Audit d'équité</h2>\n");
        let _ = writeln!(
            html,
            "<p>Par prestation et par groupe : part de la population à scorer, part des listes{}. Un groupe est signalé (⚠) quand son rappel est inférieur de plus de {:.0} points à celui du reste de la population. Cellules de moins de {} personnes masquées.</p>",
            match &fig.fairness.reference {
                Some(r) => format!(", précision et rappel mesurés contre <code>{}</code> avec intervalles de Wilson à 95 %, et taux de droits ouverts après contact lors de la campagne précédente (<code>retours</code>)", esc(r)),
                None => " et taux de droits ouverts après contact lors de la campagne précédente (<code>retours</code>, la mesure de précision en production ; pas de vérité terrain pour le rappel)".into(),
            },
            100.0 * fig.fairness.recall_margin,
            fig.fairness.min_cell
        );
        let mut fairness_csv: Vec<(String, String)> = Vec::new();
        for b in fig.fairness.benefits.keys() {
            let rows = fig.suppressed(b);
            fairness_csv.push((format!("fairness-{b}.csv"), fairness::to_csv(b, &rows)));
            let _ = writeln!(html, "<h3>{b}</h3>");
            if let Some(n) = fig.fairness.non_recours_hors_population.get(b.as_str()) {
                let _ = writeln!(
                    html,
                    "<p>Hors de la population à scorer (filtres légaux) : {} personnes en non-recours, qu'aucune liste ne peut atteindre.</p>",
                    disclosure::suppress_counts(&[*n], fig.fairness.min_cell)[0]
                        .map_or(format!("moins de {}", fig.fairness.min_cell), |n| n
                            .to_string())
                );
            }
            let flagged: Vec<&SuppressedRow> = rows.iter().filter(|r| r.alerte).collect();
            if fig.fairness.reference.is_some() {
                if flagged.is_empty() {
                    html.push_str("<p>Aucun groupe signalé.</p>");
                } else {
                    html.push_str("<ul>");
                    for r in flagged {
                        let _ = write!(
                            html,
                            "<li>⚠ {} — {}.</li>",
                            esc(&fairness::group_words(&r.dimension, &r.groupe)),
                            esc(&modelcard::flag_evidence(r))
                        );
                    }
                    html.push_str("</ul>");
                }
            }
            html.push_str(&table_html(
                &[
                    "dimension",
                    "groupe",
                    "population",
                    "part",
                    "listés",
                    "part des listes",
                    "non-recours",
                    "précision [IC 95 %]",
                    "rappel [IC 95 %]",
                    "rappel des autres",
                    "alerte",
                    "campagne : contactés",
                    "campagne : droits ouverts [IC 95 %]",
                ],
                &fairness_rows(&rows),
            ));
            let _ = writeln!(
                html,
                "<p>Par département : <a href=\"fairness-{b}.csv\">fairness-{b}.csv</a>.</p>"
            );
            if let Some(c) = per_benefit[b.as_str()]
                .iter()
                .find(|c| c.id.ends_with("rappel-par-groupe"))
            {
                html.push_str(&figure(c));
            }
        }

        html.push_str("<h2 id=\"evolution\">Évolution depuis l'exécution précédente</h2>\n");
        let change = changes(&fig);
        match &change {
            Some(c) => {
                let _ = writeln!(
                    html,
                    "<p>Comparée à l'exécution <code>{}</code>. Seul ce qui a changé est montré.</p>",
                    esc(&c.previous)
                );
                if c.settings.is_empty() {
                    html.push_str(
                        "<p>Configuration, fichiers de référence et entrées : inchangés.</p>",
                    );
                } else {
                    html.push_str("<p>Ce qui a changé dans la configuration, les fichiers de référence et les entrées :</p>");
                    html.push_str(&table_html(
                        &["paramètre ou fichier", "avant", "maintenant"],
                        &c.settings.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                    ));
                }
                if c.rows.is_empty() {
                    html.push_str(
                        "<p>Aucun résultat n'a changé (AUC, coefficients, tailles des listes).</p>",
                    );
                } else {
                    html.push_str("<p>Résultats qui ont changé :</p>");
                    html.push_str(&table_html(
                        &["quoi", "avant", "maintenant", "écart"],
                        &c.rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                    ));
                }
                let _ = writeln!(
                    html,
                    "<p>{} comparaisons sans changement ne sont pas montrées (valeurs égales aux décimales affichées, ou masquées des deux côtés).</p>",
                    fr::count(c.unchanged)
                );
            }
            None => html.push_str(
                "<p>Aucune exécution précédente nommée (<code>[report] previous</code>).</p>",
            ),
        }

        html.push_str("<h2 id=\"fiches\">Fiches modèles</h2>\n");
        let mut cards = Vec::new();
        let worlds = modelcard::cross_world()?;
        for (b, a) in &fig.models {
            let rows = fig.suppressed(b);
            let card = modelcard::model_card(
                a,
                &selection,
                &fig.run_id,
                &CardContext {
                    fairness: &rows,
                    fairness_reference: fig.fairness.reference.as_deref(),
                    recall_margin: fig.fairness.recall_margin,
                    min_cell: fig.fairness.min_cell,
                    rules: &fig.rules,
                },
                &worlds,
            );
            let _ = writeln!(
                html,
                "<section class=\"card\">{}</section>",
                markdown_html(&card)
            );
            cards.push((format!("model-card-{b}.md"), card));
        }
        html.push_str("</body></html>\n");

        for c in run_charts.iter().chain(per_benefit.values().flatten()) {
            all_charts.push(c);
        }
        for c in &all_charts {
            write_text(&dir.join(format!("{}.svg", c.id)), &c.svg)?;
            write_text(&dir.join(format!("{}.csv", c.id)), &c.csv)?;
        }
        for (name, text) in fairness_csv.iter().chain(&cards) {
            write_text(&dir.join(name), text)?;
        }
        if let Some(c) = &change {
            let rows: Vec<Vec<String>> = c
                .settings
                .iter()
                .map(|r| vec![r[0].clone(), r[1].clone(), r[2].clone(), String::new()])
                .chain(c.rows.iter().map(|r| r.to_vec()))
                .collect();
            write_text(
                &dir.join("evolution.csv"),
                &csv_of(&["quoi", "avant", "maintenant", "ecart"], &rows),
            )?;
        }
        write_text(&dir.join("index.html"), &html)?;
        let notebooks =
            crate::stages::report::notebooks::write(&ctx.out.notebooks(), &fig, &all_charts)?;
        Ok(format!(
            "report/index.html with {} charts, {} model cards, {notebooks} notebooks",
            all_charts.len(),
            cards.len()
        ))
    }
}

fn metric_row(
    what: &str,
    m: &recours_models::metrics::Evaluation,
    eligibility_only: Option<f64>,
    min_cell: usize,
) -> Vec<String> {
    // Precision and lift at the top 3 % reveal the people in non-take-up among those
    // contacted: shown only when that count and the contacted are not small.
    let top3 = m.top.iter().find(|t| {
        let tp = (t.precision * t.contacted as f64).round() as usize;
        (t.share - 0.03).abs() < 1e-9 && t.contacted >= min_cell && (tp == 0 || tp >= min_cell)
    });
    let f4 = |v: f64| fr::number(v, 4);
    vec![
        what.to_string(),
        fr::count(m.rows),
        fr::count(m.positives),
        fr::or_nd(m.auc, f4),
        fr::or_nd(eligibility_only, f4),
        fr::or_nd(m.pr_auc, f4),
        f4(m.log_loss),
        f4(m.brier),
        top3.map_or(disclosure::HIDDEN.into(), |t| fr::percent(t.precision)),
        top3.map_or(disclosure::HIDDEN.into(), |t| fr::number(t.lift, 2)),
    ]
}

/// Splits one line of the CSV this module writes (quoted cells may hold commas).
pub(crate) fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    output::write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(RecoursError::io(format!("writing {}", path.display())))
    })
}

/// Screen and print: on A4 each section starts a page, tables split between pages with
/// their header row repeated, rows, charts and model cards' tables are not cut, wide tables
/// wrap their cells (numbers at their spaces, words whole unless longer than the column: a
/// word broken anywhere would let the table squeeze its text columns to a few letters) and
/// charts shrink to the page width.
pub(crate) const CSS: &str = "body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{border-bottom:2px solid #1f5fa8;padding-bottom:.2em;margin-top:2em}\
nav{background:#f3f5f8;padding:.6em;border-radius:4px}.note{font-size:.85em;color:#555}\
table{border-collapse:collapse;margin:.8em 0;font-size:.85em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#eef2f7}td.n,th.n{text-align:right;white-space:nowrap}\
.grid{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0 0 1em 0}figcaption{font-size:.8em;color:#555;max-width:640px}\
.card{border:1px solid #ddd;padding:0 1em;margin:1em 0;border-radius:4px}code{background:#f3f3f3;padding:0 .2em;overflow-wrap:anywhere}\
@page{size:A4;margin:12mm}\
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}nav{display:none}\
h2{break-before:page;margin-top:0}h2,h3{break-after:avoid}\
table{width:100%;font-size:7.5pt;page-break-inside:auto}thead{display:table-header-group}\
tr,figure,svg{break-inside:avoid;page-break-inside:avoid}td,th{overflow-wrap:break-word;padding:.15em .3em}td.n,th.n{white-space:normal;overflow-wrap:normal}\
svg{max-width:100%;height:auto}\
.grid{display:flex;flex-wrap:wrap;gap:0 2%}.grid figure{width:49%}figure{margin:0 0 .6em 0}.card{border:none;padding:0;break-before:page}.card h2{break-before:auto;margin-top:1em}\
a{color:inherit;text-decoration:none}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_round_trip() {
        let cells = vec![
            "a".to_string(),
            "b, c".into(),
            "d \"e\"".into(),
            String::new(),
        ];
        assert_eq!(split_csv(csv_line(&cells).trim_end()), cells);
    }

    #[test]
    fn curves_keep_the_longest_chain_of_publishable_steps() {
        // 44 positives ranked first, then a negative, 10 positives, 200 negatives. Taking
        // the earliest publishable step each time keeps (11, 0) … (44, 0), then no step
        // can hold the last 10 positives: the tail is one step (6 points). The longest
        // chain stops at (33, 0), takes the 21 next positives with 11 negatives, then
        // the tail 11 negatives at a time.
        let labels: Vec<bool> = (0..44)
            .map(|_| true)
            .chain([false])
            .chain((0..10).map(|_| true))
            .chain((0..200).map(|_| false))
            .collect();
        let scores: Vec<f64> = (0..labels.len()).rev().map(|i| i as f64).collect();
        let e = recours_models::metrics::evaluate(
            &scores
                .iter()
                .map(|s| s / labels.len() as f64)
                .collect::<Vec<_>>(),
            &labels,
        );
        let kept = coarsen(&e, 11);
        let (pos, neg) = (54.0, 201.0);
        let counts: Vec<(i64, i64)> = kept
            .iter()
            .map(|p| ((p.tpr * pos).round() as i64, (p.fpr * neg).round() as i64))
            .collect();
        assert_eq!(counts.first(), Some(&(0, 0)));
        assert_eq!(counts.last(), Some(&(54, 201)));
        for w in counts.windows(2) {
            let (tp, fp) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            assert!(tp == 0 || tp >= 11, "{counts:?}");
            assert!(fp == 0 || fp >= 11, "{counts:?}");
            assert!(tp + fp > 0, "{counts:?}");
        }
        assert!(kept.len() > 20, "{counts:?}");
        assert_eq!(&counts[..5], &[(0, 0), (11, 0), (22, 0), (33, 0), (54, 11)]);
    }

    #[test]
    fn score_bins() {
        use crate::stages::report::figures::bin;
        assert_eq!(bin(0.0), 0);
        assert_eq!(bin(0.049), 0);
        assert_eq!(bin(0.05), 1);
        assert_eq!(bin(0.999), 19);
        assert_eq!(bin(1.0), 19);
    }
}
