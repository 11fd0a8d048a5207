//! The run report, the model cards, the fairness audit and the notebooks on the bundled
//! sample: snapshot tests of the report's tables and the model cards' text
//! (`RECOURS_UPDATE_SNAPSHOTS=1 cargo test` rewrites them after a deliberate change), the
//! report's self-containment, small-cell suppression, and nbformat 4 validity of the
//! notebooks (re-executed with Jupyter where `RECOURS_JUPYTER_PYTHON` names a Python that
//! has it).

use std::path::Path;

use crate::common::*;

/// Report files compared byte for byte with `tests/snapshots/`.
const SNAPSHOTS: &[&str] = &[
    "qualite-donnees.csv",
    "listes-par-caisse.csv",
    "campagne-retours.csv",
    "PPA-calibration.csv",
    "RSA-coefficients.csv",
    "ASPA-distribution-scores.csv",
    "fairness-PPA.csv",
    "fairness-RSA.csv",
    "fairness-ASPA.csv",
    "model-card-PPA.md",
    "model-card-RSA.md",
    "model-card-ASPA.md",
];

#[test]
fn report_tables_and_model_cards_match_their_snapshots() {
    let report = sample_run().join("report");
    let snapshots = repo().join("tests/snapshots");
    let update = std::env::var_os("RECOURS_UPDATE_SNAPSHOTS").is_some();
    // The run id carries a hash of recours' sources: snapshots hold a placeholder instead.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample_run().join("manifest.json")).unwrap())
            .unwrap();
    let run_id = manifest["run_id"].as_str().unwrap().to_string();
    let mut differ = Vec::new();
    for name in SNAPSHOTS {
        let now = without_cross_world(
            &std::fs::read_to_string(report.join(name))
                .unwrap_or_else(|_| panic!("{name}"))
                .replace(&run_id, "<run id>"),
        );
        let path = snapshots.join(name);
        if update {
            std::fs::write(&path, &now).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != now {
            let line = expected
                .lines()
                .zip(now.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(now.lines().count()));
            differ.push(format!(
                "{name}: first difference at line {}:\n  snapshot: {}\n  now:      {}",
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                now.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "report differs from tests/snapshots (RECOURS_UPDATE_SNAPSHOTS=1 to accept):\n{}",
        differ.join("\n")
    );
}

const CROSS_WORLD_HEADING: &str = "## Qualité mesurée sur des mondes synthétiques";

/// A model card with its cross-world section as a placeholder: that section renders
/// `bench/results/cross-world.json`, which `cross_world.py` rewrites when the project measures
/// again; `model_cards_show_the_cross_world_summary` checks it against the file.
fn without_cross_world(card: &str) -> String {
    match (card.find(CROSS_WORLD_HEADING), card.find("## Équité")) {
        (Some(a), Some(b)) if a < b => format!(
            "{}{CROSS_WORLD_HEADING}\n\n<bench/results/cross-world.json>\n\n{}",
            &card[..a],
            &card[b..]
        ),
        _ => card.to_string(),
    }
}

/// Each model card shows, for every world of `bench/results/cross-world.json`, the file's
/// AUC, top-3 % precision, ECE and calibration slope of recours' model, the gradient-boosting
/// reference and the exact posterior, with the commit measured.
#[test]
fn model_cards_show_the_cross_world_summary() {
    let report = sample_run().join("report");
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("bench/results/cross-world.json")).unwrap(),
    )
    .unwrap();
    let worlds = file["worlds"].as_array().unwrap();
    assert!(worlds.len() >= 2);
    let number = |cell: &str| -> f64 {
        french_number(cell)
            .trim_end_matches('%')
            .replace(',', ".")
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {cell}"))
    };
    for b in ["PPA", "RSA", "ASPA"] {
        let card = std::fs::read_to_string(report.join(format!("model-card-{b}.md"))).unwrap();
        let section =
            &card[card.find(CROSS_WORLD_HEADING).unwrap()..card.find("## Équité").unwrap()];
        assert!(section.contains("ne viennent pas des données de cette exécution"));
        for w in worlds {
            let label = w["label"].as_str().unwrap();
            let start = section
                .find(&format!("### Monde `{label}`"))
                .unwrap_or_else(|| panic!("{b}: world {label} missing"));
            let part = &section[start..];
            let part = &part[..part[4..].find("### ").map_or(part.len(), |k| k + 4)];
            assert!(part.contains(&format!("`{}`", w["commit"].as_str().unwrap())));
            for (key, row) in [
                ("recours", "| modèle recours"),
                ("gbm", "| référence : gradient boosting"),
                ("oracle", "| plafond : probabilité exacte"),
            ] {
                let m = &w["benefits"][b]["scores"][key];
                let line = part
                    .lines()
                    .find(|l| l.starts_with(row))
                    .unwrap_or_else(|| panic!("{b} {label}: no {key} row"));
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let close = |cell: &str, v: f64, tol: f64| {
                    assert!(
                        (number(cell) - v).abs() <= tol,
                        "{b} {label} {key}: {cell} vs {v} in {line}"
                    );
                };
                close(cells[2], m["auc"].as_f64().unwrap(), 0.0005);
                let top3 = cells[4].split(" (").next().unwrap();
                close(
                    top3,
                    100.0 * m["top"]["3%"]["precision"].as_f64().unwrap(),
                    0.05,
                );
                close(cells[8], m["ece"].as_f64().unwrap(), 0.0005);
                if let Some(slope) = m["calibration_slope"].as_f64() {
                    close(cells[9], slope, 0.005);
                }
            }
        }
    }
}

#[test]
fn report_is_one_self_contained_file_with_every_chart_and_its_data() {
    let report = sample_run().join("report");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no script");
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !without_ns.contains("http://") && !without_ns.contains("https://"),
        "no network address"
    );
    assert!(!html.contains(" src="), "nothing loaded from elsewhere");
    // Every chart is inline, its SVG and CSV are beside the report, and its CSV has data.
    let mut charts = 0;
    for part in html.split("<figure id=\"").skip(1) {
        let id = &part[..part.find('"').unwrap()];
        assert!(part.contains("<svg"), "{id} is drawn inline");
        let csv = std::fs::read_to_string(report.join(format!("{id}.csv"))).unwrap();
        assert!(csv.lines().count() > 1, "{id}.csv has rows");
        assert!(report.join(format!("{id}.svg")).exists());
        charts += 1;
    }
    // Quality, lists, campaign; per benefit ROC, PR, gain, lift, calibration, scores,
    // coefficients and recall by group.
    assert_eq!(charts, 3 + 3 * 8, "charts in the report");
    for section in [
        "id=\"qualite\"",
        "id=\"PPA\"",
        "id=\"listes\"",
        "id=\"campagne\"",
        "id=\"equite\"",
        "id=\"evolution\"",
        "id=\"fiches\"",
        "<h2>Équité</h2>",
        "Règles de contact",
        "@media print",
        "@page{size:A4",
        "thead{display:table-header-group}",
    ] {
        assert!(html.contains(section), "report lacks {section}");
    }
    // One convention for missing values, French numbers (decimal comma, a no-break space
    // before % and €).
    assert!(!html.contains("n/a"), "missing values read n.d.");
    assert!(html.contains("n.d. : non diffusé"), "n.d. is explained");
    assert!(html.contains("courbe ROC (AUC 0,"), "decimal comma");
    assert!(html.contains("\u{a0}%") && html.contains("\u{a0}€"));
    assert!(html.contains("contre la vérité"));
    // Dimensions, groups, decisions and channels in words: outside `<code>` (a technical
    // name shown as such, in the model cards' glossary columns) no code of the extracts or
    // of the lists is left.
    let mut words = String::new();
    for (k, part) in html.split("<code>").enumerate() {
        words.push_str(if k == 0 {
            part
        } else {
            part.split_once("</code>").map_or(part, |p| p.1)
        });
    }
    for code in [
        "statut_logement",
        "tranche_age",
        "type_foyer",
        "heberge_gratuit",
        "locataire_prive",
        "locataire_hlm",
        "sans_domicile",
        "canal_numerique_connu",
        "aucun_canal",
        "groupe_temoin",
        "contact_recent",
        ">telephone<",
        ">email<",
        "sexe : F",
    ] {
        assert!(!words.contains(code), "the report reads {code} as a code");
    }
    assert!(words.contains("logement : hébergé gratuitement") && words.contains("femmes"));
    // Coefficient charts name the features by their meaning and say what colours mean.
    let coefs = std::fs::read_to_string(report.join("PPA-coefficients.svg")).unwrap();
    assert!(coefs.contains("augmente la probabilité de non-recours"));
    assert!(!coefs.contains(">canal_numerique_connu<"));
    // The ROC data: from (0, 0) to (1, 1), recall never decreasing.
    let roc = std::fs::read_to_string(report.join("PPA-roc.csv")).unwrap();
    let held: Vec<(f64, f64)> = roc
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("apprentissage (test)"))
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[2].parse().unwrap(), c[3].parse().unwrap())
        })
        .collect();
    // One point per distinct score, kept as the small-cell rule allows (the longest chain
    // of publishable steps): on the sample's held-out set of 425 rows, at least 10.
    assert!(held.len() >= 10, "{held:?}");
    assert_eq!(held[0], (0.0, 0.0));
    assert_eq!(held[held.len() - 1], (1.0, 1.0));
    // Coarsened for the small-cell rule: each step adds 0 or at least 11 positives and 0 or
    // at least 11 negatives of the held-out set, so no step reveals a small count.
    let model: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sample_run().join("models/PPA.json")).unwrap(),
    )
    .unwrap();
    let pos = model["metrics"]["test"]["positives"].as_f64().unwrap();
    let neg = model["metrics"]["test"]["rows"].as_f64().unwrap() - pos;
    for w in held.windows(2) {
        let (dfp, dtp) = ((w[1].0 - w[0].0) * neg, (w[1].1 - w[0].1) * pos);
        let publishable = |n: f64| !(0.5..10.5).contains(&n);
        assert!(
            publishable(dtp) && publishable(dfp) && dtp + dfp >= 10.5,
            "a step of {dtp:.1} positives and {dfp:.1} negatives"
        );
    }
    assert!(
        held.windows(2)
            .all(|w| w[1].1 >= w[0].1 && w[1].0 >= w[0].0)
    );
    // Against the truth (14 476 rows scored), every benefit's lift curve has at least 20
    // points and starts within the top 1 %, so that the top-3 % marker falls between
    // points of its own.
    for b in ["PPA", "RSA", "ASPA"] {
        let lift = std::fs::read_to_string(report.join(format!("{b}-lift.csv"))).unwrap();
        let shares: Vec<f64> = lift
            .lines()
            .filter(|l| l.starts_with("\"population, contre la vérité\""))
            .map(|l| split_quoted(l)[1].parse().unwrap())
            .collect();
        assert!(shares.len() >= 20, "{b}: {shares:?}");
        assert!(shares[0] <= 0.01, "{b}: {shares:?}");
        assert!(
            shares.iter().any(|s| (0.02..=0.04).contains(s)),
            "{b}: {shares:?}"
        );
    }
}

/// A table cell as a plain number when it is one French formatted (`1 234` → `1234`).
fn french_number(cell: &str) -> String {
    cell.trim().replace(['\u{202f}', '\u{a0}'], "")
}

/// Count columns of the fairness CSV: population, listes, non_recours (after the
/// dimension and group as codes and in words).
fn fairness_counts(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .flat_map(|l| {
            let c = split_quoted(l);
            [c[5].clone(), c[7].clone(), c[9].clone()]
        })
        .collect()
}

fn split_quoted(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in line.trim_end_matches('\r').chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().unwrap().push(ch),
        }
    }
    out
}

#[test]
fn no_cell_under_eleven_people_leaves_in_the_fairness_tables_or_model_cards() {
    let run = sample_run();
    let report = run.join("report");
    let audit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("fairness.json")).unwrap()).unwrap();
    assert_eq!(audit["min_cell"], 11);
    let mut small_groups = 0;
    for b in ["PPA", "RSA", "ASPA"] {
        // The internal audit has small groups (départements): they are what gets hidden.
        small_groups += audit["benefits"][b]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| (1..11).contains(&g["listes"].as_u64().unwrap()))
            .count();
        let csv = std::fs::read_to_string(report.join(format!("fairness-{b}.csv"))).unwrap();
        let counts = fairness_counts(&csv);
        assert!(
            counts.iter().any(|c| c == "n.d."),
            "{b}: something is suppressed"
        );
        for c in &counts {
            if let Ok(n) = c.parse::<u64>() {
                assert!(
                    n == 0 || n >= 11,
                    "{b}: a count of {n} left in fairness-{b}.csv"
                );
            }
        }
        // A group with a suppressed listed count has no precision either.
        for l in csv.lines().skip(1) {
            let c = split_quoted(l);
            if c[7] == "n.d." {
                assert!(c[8].is_empty() && c[10].is_empty(), "{l}");
            }
        }
        let card = std::fs::read_to_string(report.join(format!("model-card-{b}.md"))).unwrap();
        let section =
            &card[card.find("## Équité").unwrap()..card.find("## Règles de contact").unwrap()];
        for row in section
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| dimension"))
        {
            let cells: Vec<String> = row.split('|').map(french_number).collect();
            for i in [3, 5, 9] {
                if let Ok(n) = cells[i].parse::<u64>() {
                    assert!(
                        n == 0 || n >= 11,
                        "{b}: {n} people in a model card cell: {row}"
                    );
                }
            }
        }
    }
    for b in ["PPA", "RSA", "ASPA"] {
        // Held-out tables: people contacted at the top shares, rows per decile.
        let card = std::fs::read_to_string(report.join(format!("model-card-{b}.md"))).unwrap();
        let held = &card[card.find("## Mesures sur l'échantillon de test").unwrap()
            ..card.find("## Équité").unwrap()];
        for row in held.lines().filter(|l| {
            l.starts_with("| ") && !l.starts_with("| part") && !l.starts_with("| décile")
        }) {
            let cells: Vec<String> = row.split('|').map(french_number).collect();
            if let Ok(n) = cells[2].parse::<u64>() {
                assert!(
                    n == 0 || n >= 11,
                    "{b}: {n} people in a held-out table: {row}"
                );
            }
        }
    }
    // Every other table of counts under report/: (file, count columns).
    let mut tables: Vec<(String, Vec<usize>)> = vec![
        ("listes-par-caisse.csv".into(), vec![2]),
        ("campagne-retours.csv".into(), vec![1, 2]),
    ];
    for b in ["PPA", "RSA", "ASPA"] {
        tables.push((format!("{b}-distribution-scores.csv"), vec![2]));
        tables.push((format!("{b}-calibration.csv"), vec![1, 3]));
    }
    let mut hidden = 0;
    for (file, columns) in &tables {
        let csv = std::fs::read_to_string(report.join(file)).unwrap();
        for l in csv.lines().skip(1) {
            let c = split_quoted(l);
            for &i in columns {
                hidden += usize::from(c[i] == "n.d.");
                if let Ok(n) = c[i].parse::<u64>() {
                    assert!(n == 0 || n >= 11, "{file}: a count of {n}: {l}");
                }
            }
        }
    }
    assert!(hidden > 0, "the sample's report has small cells to hide");
    assert!(small_groups > 0, "the sample has small groups to suppress");
}

/// The text a notebook prints, as stored in it.
fn stored_text(path: &Path) -> String {
    let nb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["outputs"].as_array().cloned().unwrap_or_default())
        .filter_map(|o| o["text"].as_str().map(str::to_string))
        .collect()
}

fn check_notebook(path: &Path) -> usize {
    let nb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let name = path.display();
    assert_eq!(nb["nbformat"], 4, "{name}");
    assert!(nb["nbformat_minor"].as_u64().unwrap() >= 4);
    assert_eq!(nb["metadata"]["kernelspec"]["language"], "python");
    let cells = nb["cells"].as_array().unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let mut parquet_reads = 0;
    let mut outputs = 0;
    for c in cells {
        let id = c["id"].as_str().unwrap();
        assert!(
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'),
            "{name}: cell id {id}"
        );
        assert!(ids.insert(id.to_string()), "{name}: duplicate cell id {id}");
        assert!(c["metadata"].is_object() && c["source"].is_string());
        match c["cell_type"].as_str().unwrap() {
            "markdown" => assert!(c.get("outputs").is_none()),
            "code" => {
                assert!(c["execution_count"].is_u64());
                let source = c["source"].as_str().unwrap();
                parquet_reads += usize::from(source.contains("pl.read_parquet"));
                // Figures are drawn again from the data, not reloaded from the report.
                assert!(!source.contains(".svg"), "{name}: {source}");
                for o in c["outputs"].as_array().unwrap() {
                    outputs += 1;
                    match o["output_type"].as_str().unwrap() {
                        "stream" => {
                            assert_eq!(o["name"], "stdout");
                            assert!(!o["text"].as_str().unwrap().is_empty());
                        }
                        "display_data" => {
                            assert!(o["metadata"].is_object());
                            assert!(
                                o["data"]["image/svg+xml"]
                                    .as_str()
                                    .unwrap()
                                    .starts_with("<svg")
                            );
                        }
                        other => panic!("{name}: output type {other}"),
                    }
                }
            }
            other => panic!("{name}: cell type {other}"),
        }
    }
    assert!(
        parquet_reads >= 2,
        "{name}: code cells reload the run's parquet files"
    );
    outputs
}

#[test]
fn notebooks_are_valid_nbformat_4_with_rendered_outputs_and_reproduce_their_figures() {
    let run = sample_run();
    let dir = run.join("notebooks-export");
    let mut found = Vec::new();
    for name in ["overview", "PPA", "RSA", "ASPA"] {
        let path = dir.join(format!("{name}.ipynb"));
        assert!(
            check_notebook(&path) >= 4,
            "{name}: figures and tables rendered"
        );
        found.push(name);
    }
    // The overview's stored figures are those of the run's files.
    let all = stored_text(&dir.join("overview.ipynb"));
    let decisions = read_parquet(&run.join("lists/decisions.parquet"));
    let listed = texts(&decisions, "decision")
        .iter()
        .filter(|d| **d == "liste")
        .count();
    assert!(all.contains(&format!("liste: {listed}\n")), "{all}");
    let scores = read_parquet(&run.join("scores.parquet"));
    let ppa = texts(&scores, "prestation")
        .iter()
        .filter(|p| **p == "PPA")
        .count();
    assert!(all.contains(&format!("PPA: {ppa} personnes scorées")));

    // The benefit notebooks' figures are the report's: AUC, log-loss, Brier of the model
    // file within the printed precision, and the score classes as the report's CSV has them.
    for b in ["PPA", "RSA", "ASPA"] {
        let text = stored_text(&dir.join(format!("{b}.ipynb")));
        let model: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join(format!("models/{b}.json"))).unwrap(),
        )
        .unwrap();
        let after = |label: &str| -> f64 {
            let at = text
                .find(label)
                .unwrap_or_else(|| panic!("{b}: {label} in {text}"))
                + label.len();
            text[at..]
                .trim_start()
                .split([',', ' ', '\n'])
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let test = &model["metrics"]["test"];
        for (label, key) in [
            ("AUC (test)", "auc"),
            ("log-loss", "log_loss"),
            ("Brier", "brier"),
        ] {
            let v = test[key].as_f64().unwrap();
            assert!(
                (after(label) - v).abs() <= 5e-5,
                "{b}: {label} {} against {v}",
                after(label)
            );
        }
        let csv = std::fs::read_to_string(run.join(format!("report/{b}-distribution-scores.csv")))
            .unwrap();
        let classes: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect();
        assert!(
            text.contains(&format!("par classe de 0,05 : {}", classes.join(" "))),
            "{b}: {text}"
        );
    }

    // Re-execution where Jupyter is installed (tests/notebooks/requirements.txt).
    if let Some(python) = std::env::var_os("RECOURS_JUPYTER_PYTHON") {
        let o = std::process::Command::new(python)
            .arg(repo().join("tests/notebooks/check_notebooks.py"))
            .arg(run)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).matches("ok ").count(),
            found.len()
        );
    } else {
        eprintln!(
            "RECOURS_JUPYTER_PYTHON not set: notebooks checked against nbformat 4 in Rust only"
        );
    }
}

#[test]
fn report_shows_what_changed_since_the_previous_run() {
    let dir = scratch("report_previous");
    // The sample configuration without a control group, compared with the sample run (a
    // lower minimum score lengthens no list of the sample: the people it adds are
    // estimated at 0 €, never listed).
    let sample =
        sample_config_absolute(None).replace("control_share = 0.10", "control_share = 0.0");
    let config = format!(
        "{sample}\n[report]\nprevious = \"{}\"\n",
        sample_run().display()
    );
    let (run, o) = run_with_config(&dir, &config, &["run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let csv = std::fs::read_to_string(run.join("report/evolution.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(split_quoted).collect();
    // The setting that changed is named, with its values before and now; nothing else of
    // the configuration or the inputs changed.
    assert!(
        rows.iter()
            .any(|r| r[0] == "configuration : lists.control_share"
                && r[1] == "0,1"
                && r[2] == "0,0"),
        "{csv}"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r[0].starts_with("configuration") || r[0].starts_with("entrée"))
            .count(),
        1,
        "{csv}"
    );
    // Same learning data: same AUC and coefficients, not shown since they did not change.
    assert!(
        !rows
            .iter()
            .any(|r| r[0].contains("AUC") || r[0].contains("coefficient")),
        "{csv}"
    );
    // No control group: longer lists somewhere, never shorter; only lists that changed.
    let lists: Vec<i64> = rows
        .iter()
        .filter(|r| r[0].starts_with("liste ") && r[3] != "n.d.")
        .map(|r| french_number(&r[3]).parse().unwrap())
        .collect();
    assert!(!lists.contains(&0), "{lists:?}");
    assert!(
        lists.iter().any(|d| *d > 0) && lists.iter().all(|d| *d >= 0),
        "{lists:?}"
    );
    // Lists of fewer than 11 people on either side show no difference.
    for r in rows
        .iter()
        .filter(|r| r[0].starts_with("liste ") && (r[1] == "n.d." || r[2] == "n.d."))
    {
        assert_eq!(r[3], "n.d.", "{r:?}");
    }
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(html.contains("Comparée à l'exécution"));
    assert!(html.contains("comparaisons sans changement ne sont pas montrées"));
}
