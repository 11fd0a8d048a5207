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
    let (amount, expected, prob) = (
        floats(&d, "montant_estime"),
        floats(&d, "montant_attendu"),
        floats(&d, "probabilite"),
    );
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
        if dec == "droit_estime_nul" {
            assert_eq!(amount[i], 0.0, "only a nil estimate is droit_estime_nul");
        }
        if dec != "liste" {
            assert!(canal[i].is_none());
            continue;
        }
        assert!(amount[i] > 0.0, "nobody is listed on a nil estimate");
        assert!(
            (prob[i] * amount[i] - expected[i]).abs() < 1e-6,
            "montant_attendu = probabilite × montant_estime"
        );
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

use recours::stages::lists::exports::{self, A_JOINDRE, CONTACTS, Kind};

/// The caisse with the longest list, and every caisse's count of each decision.
fn decisions_per_caisse(
    run: &std::path::Path,
) -> (String, BTreeMap<String, BTreeMap<String, usize>>) {
    let d = read_parquet(&run.join("lists/decisions.parquet"));
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (c, dec) in opt_texts(&d, "caisse")
        .into_iter()
        .zip(opt_texts(&d, "decision"))
    {
        *counts
            .entry(c.unwrap())
            .or_default()
            .entry(dec.unwrap())
            .or_default() += 1;
    }
    let listed = |c: &BTreeMap<String, usize>| c.get("liste").copied().unwrap_or(0);
    let caisse = counts
        .iter()
        .max_by_key(|(c, n)| (listed(n), std::cmp::Reverse((*c).clone())))
        .unwrap()
        .0
        .clone();
    (caisse, counts)
}

/// A Parquet export's rows as text: numbers to four decimals, nulls empty.
fn parquet_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let pq = read_parquet(path);
    (0..pq.height())
        .map(|i| {
            pq.columns()
                .iter()
                .map(|c| match c.dtype() {
                    DataType::String => c.str().unwrap().get(i).unwrap_or("").to_string(),
                    DataType::UInt32 => c
                        .u32()
                        .unwrap()
                        .get(i)
                        .map_or(String::new(), |n| n.to_string()),
                    DataType::Float64 => c
                        .f64()
                        .unwrap()
                        .get(i)
                        .map_or(String::new(), |x| format!("{x:.4}")),
                    DataType::Boolean => c
                        .bool()
                        .unwrap()
                        .get(i)
                        .map_or(String::new(), |b| b.to_string()),
                    other => panic!("unexpected column type {other}"),
                })
                .collect()
        })
        .collect()
}

/// A CSV export's rows, numbers normalised as in [`parquet_rows`]; its header apart.
fn csv_rows(bytes: &[u8], sep: u8, names: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().delimiter(sep).from_reader(bytes);
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| {
            x.unwrap()
                .iter()
                .zip(names)
                .map(|(v, n)| match exports::column(n).kind {
                    Kind::Euros | Kind::Percent | Kind::Points if !v.is_empty() => {
                        format!("{:.4}", v.replace(',', ".").parse::<f64>().unwrap())
                    }
                    _ => v.to_string(),
                })
                .collect()
        })
        .collect();
    (header, rows)
}

fn xlsx_rows(
    wb: &mut Xlsx<std::io::BufReader<std::fs::File>>,
    sheet: &str,
    names: &[&str],
) -> (Vec<String>, Vec<Vec<String>>) {
    let range = wb.worksheet_range(sheet).unwrap();
    let mut rows = range.rows();
    let header = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    let rows = rows
        .map(|row| {
            row.iter()
                .zip(names)
                .map(|(cell, n)| {
                    let kind = exports::column(n).kind;
                    match cell {
                        Data::String(v) => {
                            assert!(matches!(kind, Kind::Text), "{n} must not be text");
                            v.clone()
                        }
                        Data::Float(f) if kind == Kind::Int => format!("{f}"),
                        Data::Float(f) => format!("{f:.4}"),
                        Data::Empty => String::new(),
                        other => panic!("unexpected cell {other:?}"),
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn exports_read_back_identically_in_every_format() {
    let run = sample_run();
    let (caisse, _) = decisions_per_caisse(run);
    let dir = run.join("lists").join(&caisse);
    let french: Vec<String> = CONTACTS
        .iter()
        .map(|n| exports::column(n).header.to_string())
        .collect();
    let technical: Vec<String> = CONTACTS.iter().map(|n| n.to_string()).collect();
    let expected = parquet_rows(&dir.join("contacts.parquet"));
    assert!(!expected.is_empty());

    // French Excel CSV: BOM, ';', decimal comma, CRLF, French headers.
    let bytes = std::fs::read(dir.join("contacts.csv")).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    assert!(bytes.windows(2).filter(|w| w == b"\r\n").count() == expected.len() + 1);
    let (header, fr) = csv_rows(&bytes[3..], b';', CONTACTS);
    assert_eq!(header, french, "excel-fr CSV header");
    assert_eq!(fr, expected, "excel-fr CSV");
    assert!(
        String::from_utf8_lossy(&bytes).contains(','),
        "decimal comma"
    );
    for h in &header {
        assert!(exports::technical_name(h).is_some(), "{h} reads back");
    }

    let bytes = std::fs::read(dir.join("contacts-rfc4180.csv")).unwrap();
    let (header, rfc) = csv_rows(&bytes, b',', CONTACTS);
    assert_eq!(header, technical, "RFC 4180 header");
    assert_eq!(rfc, expected, "RFC 4180 CSV");

    let mut wb: Xlsx<_> = open_workbook(dir.join("contacts.xlsx")).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec![
            "Contacts".to_string(),
            "À joindre autrement".to_string(),
            "Lisez-moi".to_string()
        ]
    );
    let (header, rows) = xlsx_rows(&mut wb, "Contacts", CONTACTS);
    assert_eq!(header, french, "XLSX header");
    assert_eq!(rows, expected, "XLSX");
    let readme = wb.worksheet_range("Lisez-moi").unwrap();
    let text: Vec<String> = readme.rows().map(|r| r[0].to_string()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("Identifiant de l'exécution"))
    );
    assert!(text.iter().any(|l| l.contains("Groupe témoin")));

    // Every row adds up as printed: the benefits' amounts to the total, the probability
    // shown times the total to the expected amount.
    let at = |n: &str| CONTACTS.iter().position(|c| *c == n).unwrap();
    let num = |v: &str| {
        if v.is_empty() {
            0.0
        } else {
            v.parse::<f64>().unwrap()
        }
    };
    for r in &expected {
        let parts =
            num(&r[at("montant_ppa")]) + num(&r[at("montant_rsa")]) + num(&r[at("montant_aspa")]);
        let total = num(&r[at("montant_estime")]);
        assert!((parts - total).abs() < 0.005, "{r:?}");
        assert!(total > 0.0, "nobody is listed on a nil amount: {r:?}");
        let expected_amount = num(&r[at("probabilite")]) / 100.0 * total;
        assert!(
            (expected_amount - num(&r[at("montant_attendu")])).abs() <= 0.005 + 1e-9,
            "{r:?}"
        );
        assert!(OUTCOMES_EMPTY(r), "outcome columns are empty: {r:?}");
        assert!(
            !r[at("raison_1")].contains("espace en ligne")
                || r[at("raison_1")].contains("n'utilise pas"),
            "being online is no reason to call: {r:?}"
        );
    }

    // Every file meant for Excel in the same dialect, French headers.
    for file in ["summary.csv", "campaign-feedback.csv"] {
        let bytes = std::fs::read(run.join("lists").join(file)).unwrap();
        assert!(bytes.starts_with("\u{feff}".as_bytes()), "{file} BOM");
        let text = String::from_utf8_lossy(&bytes[3..]).to_string();
        let header = text.lines().next().unwrap();
        assert!(
            header.contains(';') && !header.contains(','),
            "{file}: {header}"
        );
        for h in header.split(';') {
            assert!(exports::technical_name(h).is_some(), "{file}: {h}");
        }
    }
    let summary = std::fs::read_to_string(run.join("lists/summary.csv")).unwrap();
    assert!(summary.starts_with(
        "\u{feff}Caisse;Prestations;Décision;Canal;Personnes;Montant attendu (€/mois)\r\n"
    ));
    assert!(summary.contains(";groupe témoin;"));
    assert!(summary.contains(";à joindre par un autre moyen;"));
    let json = std::fs::read_to_string(run.join("lists/campaign-feedback.json")).unwrap();
    for number in json.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        if let Some((_, decimals)) = number.split_once('.') {
            assert!(decimals.len() <= 6, "campaign-feedback.json: {number}");
        }
    }
}

#[allow(non_snake_case)]
fn OUTCOMES_EMPTY(r: &[String]) -> bool {
    exports::OUTCOMES
        .iter()
        .all(|n| r[CONTACTS.iter().position(|c| c == n).unwrap()].is_empty())
}

/// The sheet XML of a workbook, read from the zip.
fn sheet_xml(path: &std::path::Path, part: &str) -> String {
    use std::io::Read;
    let mut zip = ::zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut s = String::new();
    zip.by_name(part).unwrap().read_to_string(&mut s).unwrap();
    s
}

#[test]
fn xlsx_sheets_are_set_up_for_printing_on_a4() {
    let run = sample_run();
    let (caisse, _) = decisions_per_caisse(run);
    let path = run.join("lists").join(&caisse).join("contacts.xlsx");
    let element = |xml: &str, tag: &str| -> String {
        let start = xml
            .find(&format!("<{tag}"))
            .unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
        xml[start..start + xml[start..].find('>').unwrap() + 1].to_string()
    };
    for (part, orientation) in [
        ("xl/worksheets/sheet1.xml", "landscape"),
        ("xl/worksheets/sheet2.xml", "landscape"),
        ("xl/worksheets/sheet3.xml", "portrait"),
    ] {
        let xml = sheet_xml(&path, part);
        let setup = element(&xml, "pageSetup ");
        assert!(setup.contains("paperSize=\"9\""), "{part} A4: {setup}");
        assert!(
            setup.contains("fitToHeight=\"0\""),
            "{part} as long as needed: {setup}"
        );
        if orientation == "landscape" {
            assert!(
                setup.contains("orientation=\"landscape\""),
                "{part}: {setup}"
            );
        } else {
            assert!(!setup.contains("landscape"), "{part}: {setup}");
        }
        assert!(
            xml.contains("<pageSetUpPr fitToPage=\"1\"/>"),
            "{part} fit to width"
        );
        assert!(xml.contains("&amp;P / &amp;N"), "{part} page numbers");
        assert!(xml.contains("<col "), "{part} column widths");
        if part != "xl/worksheets/sheet3.xml" {
            let pane = element(&xml, "pane ");
            assert!(
                pane.contains("ySplit=\"1\"") && pane.contains("state=\"frozen\""),
                "{part}: {pane}"
            );
        }
    }
    let workbook = sheet_xml(&path, "xl/workbook.xml");
    for sheet in ["Contacts", "'À joindre autrement'"] {
        assert!(
            workbook.contains(&format!("{sheet}!$1:$1</definedName>")),
            "header row repeated on every page of {sheet}: {workbook}"
        );
    }
    assert!(
        sheet_xml(&path, "xl/styles.xml").contains("wrapText=\"1\""),
        "wrapped text"
    );
}

#[test]
fn people_without_a_channel_are_listed_to_reach_by_other_means() {
    let run = sample_run();
    let (_, counts) = decisions_per_caisse(run);
    let (mut unreached, mut empty_lists) = (0, 0);
    for (caisse, decisions) in &counts {
        let dir = run.join("lists").join(caisse);
        let n = decisions.get("aucun_canal").copied().unwrap_or(0);
        let rows = parquet_rows(&dir.join("a-joindre.parquet"));
        assert_eq!(
            rows.len(),
            n,
            "{caisse}: every aucun_canal person is in a-joindre"
        );
        let at = |c: &str| A_JOINDRE.iter().position(|x| *x == c).unwrap();
        for r in &rows {
            assert!(
                !r[at("canaux_ailleurs")].is_empty() && !r[at("motif_sans_canal")].is_empty(),
                "{r:?}"
            );
            assert!(r[at("montant_estime")].parse::<f64>().unwrap() > 0.0);
        }
        let bytes = std::fs::read(dir.join("a-joindre.csv")).unwrap();
        assert_eq!(
            csv_rows(&bytes[3..], b';', A_JOINDRE).1,
            rows,
            "{caisse} a-joindre.csv"
        );
        let readme = std::fs::read_to_string(dir.join("LISEZ-MOI.txt")).unwrap();
        assert!(readme.contains(&format!("Personnes à joindre par un autre moyen (feuille « À joindre autrement », fichier a-joindre.csv) : {n}\r\n")), "{caisse}");
        for name in CONTACTS.iter().chain(A_JOINDRE) {
            let c = exports::column(name);
            assert!(
                readme.contains(&format!("  {} — {name} : ", c.header)),
                "{caisse} glossary: {name}"
            );
        }
        if decisions.get("liste").copied().unwrap_or(0) == 0 {
            empty_lists += 1;
            assert!(
                readme.contains("Aucune personne à contacter ce mois-ci"),
                "{caisse} says why its list is empty"
            );
        }
        assert!(!readme.contains("CNAV (CNAV"), "{caisse}");
        unreached += n;
    }
    assert!(
        unreached > 0 && empty_lists > 0,
        "the sample has both: {unreached}, {empty_lists}"
    );
    if let Ok(cnav) = std::fs::read_to_string(run.join("lists/CNAV/LISEZ-MOI.txt")) {
        assert!(
            cnav.starts_with("Listes de contacts : CNAV (Île-de-France)\r\n"),
            "{cnav}"
        );
    }
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
        montants: vec![100.0],
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
    let unreached = exports::Unreached {
        entry: &entry,
        motif: "-".into(),
        ailleurs: "=1+1".into(),
    };
    let readme = exports::ReadMe {
        caisse: "CAF33",
        libelle: "CAF de la Gironde",
        run_id: "test",
        month: recours::domain::month::Month::parse(RUN_MONTH).unwrap(),
        models: vec![],
        rules: vec![],
        decisions: vec![(Decision::Liste, 1), (Decision::AucunCanal, 1)],
    };
    exports::write_caisse(&dir, &[&entry], &[unreached], &readme).unwrap();
    let mut wb: Xlsx<_> = open_workbook(dir.join("contacts.xlsx")).unwrap();
    let range = wb.worksheet_range("Contacts").unwrap();
    let at = |n: &str| CONTACTS.iter().position(|c| *c == n).unwrap() as u32;
    assert_eq!(
        range.get((1, at("raison_1") as usize)),
        Some(&Data::String("'=HYPERLINK(\"http://x\";\"clic\")".into()))
    );
    assert_eq!(
        range.get((1, at("raison_2") as usize)),
        Some(&Data::String("'+33 6".into()))
    );
    let other = wb.worksheet_range("À joindre autrement").unwrap();
    let ailleurs = A_JOINDRE
        .iter()
        .position(|c| *c == "canaux_ailleurs")
        .unwrap();
    assert_eq!(
        other.get((1, ailleurs)),
        Some(&Data::String("'=1+1".into()))
    );
    for sheet in ["Contacts", "À joindre autrement"] {
        let formulas = wb.worksheet_formula(sheet).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formula in the workbook"
        );
    }
    let mut r = csv::Reader::from_path(dir.join("contacts-rfc4180.csv")).unwrap();
    let row = r.records().next().unwrap().unwrap();
    assert_eq!(
        &row[at("raison_1") as usize],
        "'=HYPERLINK(\"http://x\";\"clic\")"
    );
    assert_eq!(&row[at("raison_3") as usize], "'@SUM(A1)");
    let text = std::fs::read_to_string(dir.join("a-joindre.csv")).unwrap();
    assert!(text.contains(";'-;'=1+1;"), "{text}");
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
        "reading the models' columns of the rows (floor)",
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
        assert_eq!(
            rates.len(),
            3,
            "best, median, and median per processor second: {line}"
        );
        assert!(rates.iter().all(|r| r.is_finite() && *r >= 0.0), "{line}");
    }
}

/// `lists/decisions.parquet` carries each benefit's amount as the lists do: a row's
/// `montant_ppa`, `montant_rsa` and `montant_aspa` are set exactly for the benefits it
/// names, in cents, and add up to its `montant_estime`; a listed person's amounts are the
/// ones their caisse's list shows.
#[test]
fn decisions_carry_the_per_benefit_amounts_of_the_lists() {
    let run = sample_run();
    let d = read_parquet(&run.join("lists/decisions.parquet"));
    let prestations = opt_texts(&d, "prestations");
    let estimate = d.column("montant_estime").unwrap().f64().unwrap();
    let columns = [
        ("PPA", "montant_ppa"),
        ("RSA", "montant_rsa"),
        ("ASPA", "montant_aspa"),
    ];
    let amounts: Vec<Vec<Option<f64>>> = columns
        .iter()
        .map(|(_, c)| d.column(c).unwrap().f64().unwrap().iter().collect())
        .collect();
    let mut merged = 0;
    for i in 0..d.height() {
        let named: Vec<String> = prestations[i]
            .as_deref()
            .unwrap()
            .split('+')
            .map(str::to_string)
            .collect();
        merged += usize::from(named.len() > 1);
        let mut sum = 0.0;
        for (k, (b, c)) in columns.iter().enumerate() {
            let v = amounts[k][i];
            assert_eq!(v.is_some(), named.iter().any(|n| n == b), "row {i}: {c}");
            if let Some(v) = v {
                assert!(((v * 100.0).round() - v * 100.0).abs() < 1e-6, "cents");
                sum += v;
            }
        }
        assert!(
            (sum - estimate.get(i).unwrap()).abs() <= 0.01 * named.len() as f64,
            "row {i}: {sum} against {}",
            estimate.get(i).unwrap()
        );
    }
    assert!(merged > 0, "the sample has rows for two benefits");

    // The list of the caisse with the longest list shows the same amounts.
    let (caisse, _) = decisions_per_caisse(run);
    let list = read_parquet(&run.join(format!("lists/{caisse}/contacts.parquet")));
    let ids = opt_texts(&d, "pseudo_id");
    let caisses = opt_texts(&d, "caisse");
    let row_of: HashMap<String, usize> = (0..d.height())
        .filter(|&i| caisses[i].as_deref() == Some(caisse.as_str()))
        .map(|i| (ids[i].clone().unwrap(), i))
        .collect();
    for (j, id) in opt_texts(&list, "pseudo_id").into_iter().enumerate() {
        let i = row_of[&id.unwrap()];
        for (k, (_, c)) in columns.iter().enumerate() {
            assert_eq!(
                list.column(c).unwrap().f64().unwrap().get(j),
                amounts[k][i],
                "{caisse} row {j}: {c}"
            );
        }
    }
}
