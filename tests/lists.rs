//! Scoring and contact lists on the bundled sample: the rules, the exports read back by
//! other programs, and byte-identical reruns.

use std::collections::{BTreeMap, HashMap, HashSet};

use calamine::{Data, Reader, Xlsx, open_workbook};
use polars::prelude::*;

use crate::common::*;

#[test]
fn lists_follow_the_contact_rules() {
    let run = sample_run();
    let d = read_parquet(&run.join("lists/decisions.parquet"));
    let contacts = read_parquet(&run.join("ingest/contacts.parquet"));
    let personnes = read_parquet(&run.join("ingest/personnes.parquet"));
    let month = recours::domain::month::Month::parse(RUN_MONTH).unwrap();
    let age: HashMap<String, i32> = opt_texts(&personnes, "pseudo_id")
        .into_iter()
        .zip(opt_texts(&personnes, "naissance"))
        .map(|(id, n)| {
            (
                id.unwrap(),
                recours::domain::month::Month::parse(&n.unwrap())
                    .unwrap()
                    .age_at(month),
            )
        })
        .collect();
    let (c_id, c_org, c_last) = (
        opt_texts(&contacts, "pseudo_id"),
        opt_texts(&contacts, "organisme"),
        opt_texts(&contacts, "dernier_contact"),
    );
    let (c_opp, c_online) = (
        bools(&contacts, "opposition"),
        bools(&contacts, "espace_en_ligne"),
    );
    let mut opposed = HashSet::new();
    let mut recent = HashSet::new();
    let mut online = HashSet::new();
    for i in 0..contacts.height() {
        let id = c_id[i].clone().unwrap();
        if c_opp[i] {
            opposed.insert(id.clone());
        }
        if c_last[i].as_ref().is_some_and(|m| {
            month.months_since(recours::domain::month::Month::parse(m).unwrap()) < 6
        }) {
            recent.insert(id.clone());
        }
        if c_online[i] {
            online.insert((id, c_org[i].clone().unwrap()));
        }
    }
    let (caisse, id, decision, canal, prest) = (
        opt_texts(&d, "caisse"),
        opt_texts(&d, "pseudo_id"),
        opt_texts(&d, "decision"),
        opt_texts(&d, "canal"),
        opt_texts(&d, "prestations"),
    );
    let deterministic = bools(&d, "candidat_deterministe");
    let mut per_channel: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut seen = HashSet::new();
    let (mut listed, mut control, mut merged, mut drawn) = (0, 0, 0, 0);
    for i in 0..d.height() {
        let (c, p) = (caisse[i].clone().unwrap(), id[i].clone().unwrap());
        assert!(
            seen.insert((c.clone(), p.clone())),
            "one row per caisse and person"
        );
        let dec = decision[i].as_deref().unwrap();
        if prest[i].as_deref() == Some("PPA+RSA") {
            merged += 1;
        }
        if dec == "groupe_temoin" {
            control += 1;
        }
        // The control group is drawn among the people who would be contacted (reachable,
        // within capacity); it does not use capacity.
        if matches!(dec, "groupe_temoin" | "liste") {
            drawn += 1;
        }
        if deterministic[i] {
            assert_ne!(
                dec, "score_insuffisant",
                "deterministic candidates are listed whatever the score"
            );
        }
        if dec != "liste" {
            assert!(canal[i].is_none());
            continue;
        }
        listed += 1;
        assert!(!opposed.contains(&p), "an opposition is never listed");
        assert!(!recent.contains(&p), "a recent contact is not listed again");
        let ch = canal[i].clone().unwrap();
        if ch == "sms" || ch == "email" {
            assert!(
                age[&p] < 75 && online.contains(&(p.clone(), c.clone())),
                "offline or 75+ never gets {ch}"
            );
        }
        *per_channel.entry((c, ch)).or_default() += 1;
    }
    for ((c, ch), n) in &per_channel {
        let cap = match (c.as_str(), ch.as_str()) {
            ("CAF33", "telephone") => 60,
            (_, "telephone") => 40,
            (_, "courrier") => 60,
            _ => 300,
        };
        assert!(*n <= cap, "{c} {ch}: {n} listed for a capacity of {cap}");
    }
    assert!(merged > 0, "PPA and RSA for one person make one contact");
    let share = control as f64 / drawn as f64;
    assert!((share - 0.10).abs() < 0.03, "control group share {share}");
    assert!(listed > 300);
}

fn number(text: &str) -> f64 {
    text.replace(',', ".").parse().unwrap()
}

#[test]
fn exports_read_back_identically_in_every_format() {
    let run = sample_run();
    let summary = std::fs::read_to_string(run.join("lists/summary.csv")).unwrap();
    assert!(summary.starts_with("caisse,prestations,canal_ou_decision,personnes\r\n"));
    assert!(summary.contains(",groupe_temoin,"));
    // The caisse with the longest list.
    let d = read_parquet(&run.join("lists/decisions.parquet"));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (c, dec) in opt_texts(&d, "caisse")
        .into_iter()
        .zip(opt_texts(&d, "decision"))
    {
        if dec.as_deref() == Some("liste") {
            *counts.entry(c.unwrap()).or_default() += 1;
        }
    }
    let caisse = counts
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse((*c).clone())))
        .unwrap()
        .0
        .clone();
    let dir = run.join("lists").join(&caisse);
    let pq = read_parquet(&dir.join("contacts.parquet"));
    let expected: Vec<Vec<String>> = (0..pq.height())
        .map(|i| {
            pq.columns()
                .iter()
                .map(|c| match c.dtype() {
                    DataType::String => c.str().unwrap().get(i).unwrap().to_string(),
                    DataType::UInt32 => c.u32().unwrap().get(i).unwrap().to_string(),
                    _ => format!("{:.4}", c.f64().unwrap().get(i).unwrap()),
                })
                .collect()
        })
        .collect();
    assert!(!expected.is_empty());
    let normalise = |row: Vec<String>| -> Vec<String> {
        row.into_iter()
            .enumerate()
            .map(|(j, v)| {
                if (4..=6).contains(&j) {
                    format!("{:.4}", number(&v))
                } else {
                    v
                }
            })
            .collect()
    };

    // French Excel CSV: BOM, ';', decimal comma, CRLF.
    let bytes = std::fs::read(dir.join("contacts.csv")).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    assert!(
        String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap()
            .ends_with('\r')
            || bytes.windows(2).any(|w| w == b"\r\n")
    );
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&bytes[3..]);
    let fr: Vec<Vec<String>> = r
        .records()
        .map(|x| normalise(x.unwrap().iter().map(str::to_string).collect()))
        .collect();
    assert_eq!(fr, expected, "excel-fr CSV");
    assert!(
        String::from_utf8_lossy(&bytes).contains(','),
        "decimal comma"
    );

    let mut r = csv::Reader::from_path(dir.join("contacts-rfc4180.csv")).unwrap();
    let rfc: Vec<Vec<String>> = r
        .records()
        .map(|x| normalise(x.unwrap().iter().map(str::to_string).collect()))
        .collect();
    assert_eq!(rfc, expected, "RFC 4180 CSV");

    let mut wb: Xlsx<_> = open_workbook(dir.join("contacts.xlsx")).unwrap();
    let sheets = wb.sheet_names();
    assert_eq!(
        sheets,
        vec!["Contacts".to_string(), "Lisez-moi".to_string()]
    );
    let range = wb.worksheet_range("Contacts").unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .skip(1)
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, cell)| match cell {
                    Data::String(v) => {
                        assert!(
                            j != 0 && !(4..=6).contains(&j),
                            "column {j} must be a number"
                        );
                        v.clone()
                    }
                    Data::Float(f) if j == 0 => format!("{f}"),
                    Data::Float(f) => format!("{f:.4}"),
                    other => panic!("unexpected cell {other:?}"),
                })
                .collect()
        })
        .collect();
    assert_eq!(rows, expected, "XLSX");
    let readme = wb.worksheet_range("Lisez-moi").unwrap();
    let text: Vec<String> = readme.rows().map(|r| r[0].to_string()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("Identifiant de l'exécution"))
    );
    assert!(text.iter().any(|l| l.contains("Groupe témoin")));
}

#[test]
fn formula_like_text_comes_back_as_text() {
    use recours::domain::codes::Canal;
    use recours::stages::lists::select::{Decision, ListEntry};
    let dir = scratch("formula_injection");
    let entry = ListEntry {
        caisse: "CAF33".into(),
        pseudo_id: "a".repeat(64),
        prestations: vec!["RSA"],
        probabilite: 0.5,
        montant_estime: 100.0,
        montant_attendu: 50.0,
        priorite: 50.0,
        candidat_deterministe: false,
        raisons: vec![
            "=HYPERLINK(\"http://x\";\"clic\")".into(),
            "+33 6".into(),
            "@SUM(A1)".into(),
        ],
        decision: Decision::Liste,
        rang_priorite: 1,
        rang_liste: Some(1),
        canal: Some(Canal::Telephone),
        person: 0,
    };
    let readme = recours::stages::lists::exports::ReadMe {
        caisse: "CAF33",
        libelle: "CAF de la Gironde",
        run_id: "test",
        month: recours::domain::month::Month::parse(RUN_MONTH).unwrap(),
        models: vec![],
        rules: vec![],
        listed: 1,
    };
    recours::stages::lists::exports::write_caisse(&dir, &[&entry], &readme).unwrap();
    let mut wb: Xlsx<_> = open_workbook(dir.join("contacts.xlsx")).unwrap();
    let range = wb.worksheet_range("Contacts").unwrap();
    assert_eq!(
        range.get((1, 7)),
        Some(&Data::String("'=HYPERLINK(\"http://x\";\"clic\")".into()))
    );
    assert_eq!(range.get((1, 8)), Some(&Data::String("'+33 6".into())));
    let formulas = wb.worksheet_formula("Contacts").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no formula in the workbook"
    );
    let mut r = csv::Reader::from_path(dir.join("contacts-rfc4180.csv")).unwrap();
    let row = r.records().next().unwrap().unwrap();
    assert_eq!(&row[7], "'=HYPERLINK(\"http://x\";\"clic\")");
    assert_eq!(&row[9], "'@SUM(A1)");
}

#[test]
fn same_config_gives_byte_identical_outputs_with_one_or_two_threads_from_another_folder() {
    let run = sample_run();
    let dir = scratch("determinism_threads");
    let other = dir.join("run");
    // One thread, started from another working directory.
    let config = repo().join("config/sample.toml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recours"))
        .args(["--config", config.to_str().unwrap()])
        .args(["--threads", "1", "--output", other.to_str().unwrap(), "run"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let a = hash_tree(run);
    let b = hash_tree(&other);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x, y,
            "{} differs between a 2-thread and a 1-thread run",
            x.0
        );
    }
}

#[test]
fn bench_score_repeats_the_scoring_passes_of_a_finished_run() {
    let run = sample_run();
    let o = recours(&["bench-score", run.to_str().unwrap(), "--repeat", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let scored = read_parquet(&run.join("scores.parquet")).height();
    assert!(
        text.starts_with(&format!("{scored} rows, ")),
        "every score row is scored again:\n{text}"
    );
    for pass in [
        "probabilities",
        "top contributions",
        "with ids, reasons and ordering",
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(pass))
            .unwrap_or_else(|| panic!("no line for {pass}:\n{text}"));
        let rates: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(rates.len(), 2, "best and median: {line}");
        assert!(rates.iter().all(|r| r.is_finite() && *r >= 0.0), "{line}");
    }
}
