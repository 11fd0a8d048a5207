//! The ingest stage against the data contract: every kind of violation gets its reason
//! code and the documented exit code; every row is kept or rejected, never lost.

use std::path::Path;

use crate::common::*;

const OK: i32 = 0;
const USAGE: i32 = 2;
const DATA_REJECTED: i32 = 3;
const PRIVACY_STOP: i32 = 4;

fn csv_population(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(name);
    let data = dir.join("data");
    generate(&data, 1500, 3, "csv");
    (dir, data)
}

fn set(rows: &mut [Vec<String>], row: usize, column: &str, value: &str) {
    let c = col(rows, column);
    rows[row][c] = value.to_string();
}

/// Rows rejected for a reason code in a table's rejects file.
fn rejected_with(run: &Path, table: &str, rule: &str) -> usize {
    let df = read_parquet(&run.join("rejects").join(format!("{table}.parquet")));
    df.column("motifs")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .filter(|m| m.is_some_and(|m| m.split('|').any(|r| r == rule)))
        .count()
}

#[test]
fn every_contract_violation_gets_its_reason_code_and_rows_are_accounted_for() {
    let (dir, data) = csv_population("contract_violations");
    let mut victim = String::new();
    edit_csv(&data.join("personnes.csv"), |r| {
        set(r, 1, "naissance", "2025-13");
        set(r, 2, "naissance", "2030-01");
        set(r, 3, "departement", "99");
        set(r, 4, "sexe", "X");
        let dup = r[5].clone();
        r.push(dup);
        let upper = r[6][0].to_uppercase();
        set(r, 6, "pseudo_id", &upper);
        set(r, 7, "regime", "");
        victim = r[1][0].clone();
    });
    edit_csv(&data.join("foyers.csv"), |r| {
        let mut orphan = r[1].clone();
        orphan[col(r, "pseudo_id")] = "f".repeat(64);
        r.push(orphan);
        let c = col(r, "role");
        let conjoint = (100..r.len()).find(|&i| r[i][c] == "conjoint").unwrap();
        set(r, conjoint, "role", "demandeur");
    });
    edit_csv(&data.join("logements.csv"), |r| {
        set(r, 1, "foyer_id", &"e".repeat(64))
    });
    edit_csv(&data.join("droits.csv"), |r| {
        set(r, 1, "organisme", "CAF00");
        set(r, 2, "debut", "2025-06");
        set(r, 2, "fin", "2025-01");
        set(r, 3, "montant_mensuel", "-5.00");
        let mut cascade = r[4].clone();
        cascade[0] = victim.clone();
        r.push(cascade);
    });
    edit_csv(&data.join("ressources.csv"), |r| {
        set(r, 1, "montant_net_social", "abc");
        set(r, 2, "mois", "");
        set(r, 3, "montant_net_social", "-120.50");
    });
    edit_csv(&data.join("contacts.csv"), |r| {
        set(r, 1, "mobile", "peut-etre")
    });
    edit_csv(&data.join("apprentissage.csv"), |r| {
        set(r, 1, "non_recours", "2")
    });

    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let run = dir.join("run");
    for (table, rule) in [
        ("personnes", "mois_invalide"),
        ("personnes", "naissance_hors_bornes"),
        ("personnes", "departement_inconnu"),
        ("personnes", "code_inconnu"),
        ("personnes", "identifiant_invalide"),
        ("personnes", "valeur_manquante"),
        ("foyers", "personne_inconnue"),
        ("foyers", "foyer_plusieurs_demandeurs"),
        ("logements", "foyer_inconnu"),
        ("droits", "caisse_inconnue"),
        ("droits", "fin_avant_debut"),
        ("droits", "montant_negatif"),
        ("droits", "personne_rejetee"),
        ("ressources", "montant_invalide"),
        ("ressources", "valeur_manquante"),
        ("contacts", "booleen_invalide"),
        ("apprentissage", "valeur_0_1_invalide"),
    ] {
        assert!(
            rejected_with(&run, table, rule) >= 1,
            "{table}: no row rejected for {rule}"
        );
    }
    // Both copies of a duplicated person are rejected.
    assert_eq!(rejected_with(&run, "personnes", "identifiant_en_double"), 2);
    // Members of a foyer with two demandeurs lose their foyer, so their person rows too.
    assert!(rejected_with(&run, "personnes", "personne_sans_foyer") >= 2);
    // A negative wage is a regularisation, not an error.
    assert_eq!(rejected_with(&run, "ressources", "montant_negatif"), 0);

    // Row accounting: rows in = kept + rejected; the files agree with quality.json.
    let q = quality(&run);
    for table in TABLES {
        let t = &q["tables"][table];
        let (rows_in, kept, rejected) = (
            t["rows_in"].as_u64().unwrap(),
            t["rows_kept"].as_u64().unwrap(),
            t["rows_rejected"].as_u64().unwrap(),
        );
        assert_eq!(rows_in, kept + rejected, "{table}");
        let kept_file =
            read_parquet(&run.join("ingest").join(format!("{table}.parquet"))).height() as u64;
        let rejected_file =
            read_parquet(&run.join("rejects").join(format!("{table}.parquet"))).height() as u64;
        assert_eq!((kept_file, rejected_file), (kept, rejected), "{table}");
        let source = std::fs::read_to_string(data.join(format!("{table}.csv"))).unwrap();
        assert_eq!(
            source.lines().count() as u64 - 1,
            rows_in,
            "{table}: every input row is counted"
        );
    }
    // Rejects name the file and the row, and keep the original value.
    let rejects = read_parquet(&run.join("rejects/ressources.parquet"));
    let first = rejects.head(Some(1));
    assert_eq!(
        first.column("ligne").unwrap().u32().unwrap().get(0),
        Some(1)
    );
    assert_eq!(
        first
            .column("montant_net_social")
            .unwrap()
            .str()
            .unwrap()
            .get(0),
        Some("abc")
    );
    assert!(
        first
            .column("fichier")
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .ends_with("ressources.csv")
    );
    // Past the rejected rows the run goes on: rights and contacts name their person by the
    // row the ingest walked to (debug assertions check each against its id), and give the
    // same outputs as persons looked up by id (a run resumed after the ingest).
    let through = dir.join("run-through");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            cfg.to_str().unwrap(),
            "--output",
            through.to_str().unwrap(),
            "run",
        ];
        a.extend_from_slice(extra);
        recours(&a)
    };
    let o = args(&[]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let in_memory = hash_tree(&through);
    let o = args(&["--from", "eligibility"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    assert_eq!(hash_tree(&through), in_memory);
}

#[test]
fn nir_in_any_column_is_a_privacy_stop_and_nothing_is_written() {
    let (dir, data) = csv_population("privacy_stop");
    edit_csv(&data.join("ressources.csv"), |r| {
        r[0].push("commentaire".into());
        for (i, row) in r.iter_mut().enumerate().skip(1) {
            row.push(if i == 7 {
                "1 85 05 78 006 084 36".into()
            } else {
                "ok".into()
            });
        }
    });
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), PRIVACY_STOP, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("table ressources") && err.contains("column commentaire"),
        "{err}"
    );
    assert!(
        !err.contains("006 084"),
        "the value must never be shown: {err}"
    );
    assert!(
        !dir.join("run").exists(),
        "nothing may be written downstream"
    );

    // A 13-digit NIR in a numeric parquet column is caught too.
    let (dir2, data2) = csv_population("privacy_stop_numeric");
    edit_csv(&data2.join("logements.csv"), |r| {
        set(r, 3, "loyer_mensuel", "2850578006084")
    });
    let cfg = write_config(&dir2, &data2, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), PRIVACY_STOP, "{}", stderr(&o));
    assert!(stderr(&o).contains("column loyer_mensuel"));
}

#[test]
fn truncated_parquet_file_is_rejected_naming_the_table() {
    let dir = scratch("truncated_parquet");
    let data = dir.join("data");
    generate(&data, 800, 4, "parquet");
    let path = data.join("droits.parquet");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let cfg = write_config(&dir, &data, "parquet", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    assert!(stderr(&o).contains("table droits"), "{}", stderr(&o));
    assert!(!dir.join("run").join("ingest").exists());
}

#[test]
fn missing_required_column_is_rejected_naming_it() {
    let (dir, data) = csv_population("missing_column");
    edit_csv(&data.join("personnes.csv"), |r| {
        let c = col(r, "sexe");
        for row in r.iter_mut() {
            row.remove(c);
        }
    });
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("table personnes") && err.contains("missing: sexe"),
        "{err}"
    );
}

#[test]
fn malformed_csv_is_rejected_naming_the_table() {
    let (dir, data) = csv_population("malformed_csv");
    let path = data.join("foyers.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\"unterminated,quote\n");
    text.push_str("a,b,c,d,e,f\n");
    std::fs::write(&path, text).unwrap();
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    assert!(stderr(&o).contains("table foyers"), "{}", stderr(&o));
}

#[test]
fn wrong_column_type_in_parquet_is_rejected_naming_the_column() {
    use polars::prelude::*;
    let dir = scratch("wrong_type");
    let data = dir.join("data");
    generate(&data, 800, 4, "parquet");
    let path = data.join("personnes.parquet");
    let n = read_parquet(&path).height();
    replace_parquet_column(&path, Column::new("naissance".into(), vec![196001i64; n]));
    let cfg = write_config(&dir, &data, "parquet", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("table personnes") && err.contains("column naissance"),
        "{err}"
    );
}

#[test]
fn clean_parquet_tables_are_kept_as_their_files_and_others_rewritten() {
    use polars::prelude::*;
    let dir = scratch("ingest_copies");
    let data = dir.join("data");
    generate(&data, 800, 6, "parquet");
    // One impossible birth month: that person's row is rejected, and with it the rows
    // naming that person elsewhere.
    let path = data.join("personnes.parquet");
    let mut naissance = opt_texts(&read_parquet(&path), "naissance");
    naissance[3] = Some("2025-13".into());
    replace_parquet_column(&path, Column::new("naissance".into(), naissance));
    let cfg = write_config(&dir, &data, "parquet", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let run = dir.join("run");
    assert!(
        !run.join(".partial").exists(),
        "validate stages its outputs and moves them into place"
    );
    let q = quality(&run);
    let mut copied = 0;
    for table in TABLES {
        let source = data.join(format!("{table}.parquet"));
        let kept = run.join("ingest").join(format!("{table}.parquet"));
        if !source.is_file() {
            continue; // a folder of files (ressources): always rewritten
        }
        let same_bytes = std::fs::read(&source).unwrap() == std::fs::read(&kept).unwrap();
        let clean = q["tables"][table]["rows_rejected"] == 0;
        assert_eq!(same_bytes, clean, "{table}");
        copied += usize::from(same_bytes);
        // Copied or rewritten, the file holds the kept rows, typed.
        let rows = q["tables"][table]["rows_kept"].as_u64().unwrap() as usize;
        assert_eq!(read_parquet(&kept).height(), rows, "{table}");
    }
    assert_eq!(q["tables"]["personnes"]["rows_rejected"], 1);
    assert!(copied >= 2, "clean tables are copied: {copied}");
}

#[test]
fn rejected_share_above_tolerance_stops_the_run_after_reporting() {
    let (dir, data) = csv_population("tolerance");
    edit_csv(&data.join("ressources.csv"), |r| {
        let c = col(r, "nature");
        for row in r.iter_mut().skip(1).step_by(40) {
            row[c] = "loterie".into();
        }
    });
    let cfg = write_config(&dir, &data, "csv", 0.01);
    let o = recours(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("table ressources") && err.contains("code_inconnu"),
        "{err}"
    );
    let run = dir.join("run");
    assert_eq!(quality(&run)["passed"], false);
    assert!(rejected_with(&run, "ressources", "code_inconnu") > 0);
    assert!(!run.join("ingest").exists(), "no stage output after a stop");
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let (dir, data) = csv_population("config_errors");
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let text = std::fs::read_to_string(&cfg).unwrap();

    let bad = dir.join("unknown_key.toml");
    std::fs::write(
        &bad,
        text.replace("[validation]", "colour = \"blue\"\n[validation]"),
    )
    .unwrap();
    let o = recours(&["--config", bad.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), USAGE);
    assert!(stderr(&o).contains("colour"), "{}", stderr(&o));

    let bad = dir.join("missing_file.toml");
    std::fs::write(&bad, text.replace("droits.csv", "droits-absent.csv")).unwrap();
    let o = recours(&["--config", bad.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), USAGE);
    assert!(
        stderr(&o).contains("[inputs.droits]") && stderr(&o).contains("droits-absent.csv"),
        "{}",
        stderr(&o)
    );

    let bad = dir.join("no_bareme.toml");
    std::fs::write(
        &bad,
        text.replace("month = \"2025-09\"", "month = \"2023-06\""),
    )
    .unwrap();
    let o = recours(&["--config", bad.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), USAGE);
    assert!(
        stderr(&o).contains("no RSA barème in force for 2023-06"),
        "{}",
        stderr(&o)
    );

    let o = recours(&["generate", "--people", "10"]);
    assert_eq!(code(&o), USAGE);
}

#[test]
fn sample_config_reads_parquet_hive_folders_and_french_csv() {
    let o = recours(&["validate"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let q = quality(&repo().join("runs/sample"));
    assert_eq!(q["passed"], true);
    for table in TABLES {
        assert_eq!(q["tables"][table]["rows_rejected"], 0, "{table}");
    }
    // ressources arrive as 15 monthly partitions.
    assert_eq!(
        q["tables"]["ressources"]["sources"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
}

/// A month of the twelve before the run month without any row of resources, or without
/// the rows of one source, is a month or a feed missing from the extract: the ingest stops
/// (exit 3), quality.json names the month and the sources, and nothing is kept under
/// ingest/. A month older than that is not needed.
#[test]
fn a_month_or_a_feed_missing_from_the_resources_stops_the_ingest() {
    use polars::prelude::*;
    // (partition, sources removed from it, what quality.json then says is missing)
    let cases: [(&str, Option<&str>, serde_json::Value); 3] = [
        (
            "2025-03",
            None,
            serde_json::json!([{"mois": "2025-03", "sources": ["DSN", "PASRAU"]}]),
        ),
        (
            "2025-04",
            Some("PASRAU"),
            serde_json::json!([{"mois": "2025-04", "sources": ["PASRAU"]}]),
        ),
        ("2024-07", None, serde_json::json!([])),
    ];
    for (month, source, missing) in cases {
        let dir = scratch(&format!("missing_month_{month}"));
        let data = dir.join("data");
        copy_dir(&repo().join("data-samples"), &data);
        let partition = data.join("ressources").join(format!("mois={month}"));
        match source {
            None => std::fs::remove_dir_all(&partition).unwrap(),
            Some(source) => {
                let file = partition.join("part-0.parquet");
                let df = read_parquet(&file);
                let keep = df
                    .column("source")
                    .unwrap()
                    .str()
                    .unwrap()
                    .not_equal(source);
                let mut kept = df.filter(&keep).unwrap();
                assert!(kept.height() < df.height());
                let mut f = std::fs::File::create(&file).unwrap();
                ParquetWriter::new(&mut f).finish(&mut kept).unwrap();
            }
        }
        let samples = format!("{}/", repo().join("data-samples").display());
        let config =
            sample_config_absolute(None).replace(&samples, &format!("{}/", data.display()));
        let (run, o) = run_with_config(&dir, &config, &["validate"]);
        let q = quality(&run);
        assert_eq!(q["missing_resource_months"], missing, "{month}");
        if missing.as_array().unwrap().is_empty() {
            assert_eq!(code(&o), OK, "{}", stderr(&o));
            assert_eq!(q["passed"], true);
            continue;
        }
        assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
        let sources = missing[0]["sources"].as_array().unwrap();
        let sources: Vec<&str> = sources.iter().map(|s| s.as_str().unwrap()).collect();
        assert!(
            stderr(&o).contains(&format!(
                "table ressources, columns mois and source: no kept row for {month} ({}): the \
                 run month 2025-09 needs each of the twelve months before it (2024-09 to \
                 2025-08) from every source",
                sources.join(", ")
            )),
            "{}",
            stderr(&o)
        );
        assert_eq!(q["passed"], false);
        assert!(!run.join("ingest").exists());
    }
}

#[test]
fn run_shows_its_plan_and_progress() {
    let dir = scratch("run_progress");
    let data = dir.join("data");
    generate_with(&data, 8000, 3, "csv", &["--learning", "4000"]);
    let cfg = write_config(&dir, &data, "csv", 0.01);
    let o = recours(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("[1/") && err.contains("ingest done"), "{err}");
    assert!(err.contains("plan:\n  ingest       run"), "{err}");
    assert!(err.contains("[8/8] report done"), "{err}");
}

/// The monthly resources are streamed after the other tables: a NIR in them is still a
/// privacy stop when another table has a problem that stops the ingest first.
#[test]
fn nir_in_the_streamed_table_comes_before_another_tables_problem() {
    let (dir, data) = csv_population("privacy_before_problems");
    edit_csv(&data.join("ressources.csv"), |r| {
        set(r, 3, "montant_net_social", "1850578006084");
    });
    // contacts loses a required column: an input problem of another table.
    edit_csv(&data.join("contacts.csv"), |r| {
        let c = col(r, "opposition");
        for row in r.iter_mut() {
            row.remove(c);
        }
    });
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), PRIVACY_STOP, "{}", stderr(&o));
    assert!(stderr(&o).contains("table ressources"), "{}", stderr(&o));
    assert!(!dir.join("run").exists(), "nothing may be written");
}

#[test]
fn an_unknown_caisse_in_capacity_by_caisse_stops_validate_with_exit_2_naming_the_key() {
    let (dir, data) = csv_population("unknown_caisse");
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let bad = dir.join("unknown_caisse.toml");
    std::fs::write(
        &bad,
        format!("{text}\n[lists.capacity_by_caisse.CAF-INCONNUE]\nsms = 5\n"),
    )
    .unwrap();
    let o = recours(&["--config", bad.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), USAGE);
    assert!(
        stderr(&o).contains("[lists.capacity_by_caisse.CAF-INCONNUE]")
            && stderr(&o).contains("not a caisse of the reference map"),
        "{}",
        stderr(&o)
    );
    // Stopped by the config check: the ingest did not run.
    assert!(!dir.join("run").join("quality.json").exists());
}

/// Digits of the NIR the privacy tests plant, as they could be written out.
const NIR_TRACES: [&str; 6] = [
    "0608436",
    "006084",
    "006 084",
    "006.084",
    "006-084",
    "006\u{a0}084",
];

/// Nothing under `dir` (hidden files, names and Parquet values included) holds a trace of
/// the planted NIR.
fn assert_no_nir_written(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let shown = p.display().to_string();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let mut texts = vec![name];
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_some_and(|e| e == "parquet") {
                texts.extend(parquet_texts(&p));
            } else {
                texts.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
            }
            for t in &texts {
                for n in NIR_TRACES {
                    assert!(!t.contains(n), "{shown} holds a NIR ({n})");
                }
            }
        }
    }
}

/// A NIR however it is written (dots, dashes, blanks around it, a tab, a line end,
/// non-breaking spaces, inside free text), in any column, in a column's name or in a file
/// or partition folder's name, is a privacy stop (exit 4) naming the table and where,
/// never the value; nothing holding it is written (no rejects, no manifest, no hash cache).
#[test]
fn nir_written_any_way_anywhere_is_a_privacy_stop_and_never_written() {
    let base = scratch("privacy_any_way");
    let generated = base.join("generated");
    generate(&generated, 600, 5, "csv");
    let nbsp = "1\u{a0}85\u{a0}05\u{a0}78\u{a0}006\u{a0}084\u{a0}36";
    type Edit = Box<dyn Fn(&Path)>;
    let value = |table: &'static str, column: &'static str, v: String| -> Edit {
        Box::new(move |data: &Path| {
            edit_csv(&data.join(format!("{table}.csv")), |r| {
                set(r, 2, column, &v)
            })
        })
    };
    let cases: Vec<(&str, &str, &str, Edit)> = vec![
        (
            "dots",
            "personnes",
            "column pseudo_id",
            value("personnes", "pseudo_id", "1.85.05.78.006.084.36".into()),
        ),
        (
            "leading_space",
            "contacts",
            "column pseudo_id",
            value("contacts", "pseudo_id", " 185057800608436".into()),
        ),
        (
            "tab",
            "droits",
            "column organisme",
            value("droits", "organisme", "185057800608436\t".into()),
        ),
        (
            "line_end",
            "foyers",
            "column role",
            value("foyers", "role", "\"185057800608436\n\"".into()),
        ),
        (
            "nbsp",
            "ressources",
            "column nature",
            value("ressources", "nature", nbsp.into()),
        ),
        (
            "dashes",
            "retours",
            "column canal",
            value("retours", "canal", "1-85-05-78-006-084-36".into()),
        ),
        (
            "free_text",
            "logements",
            "column commentaire",
            Box::new(|data: &Path| {
                edit_csv(&data.join("logements.csv"), |r| {
                    r[0].push("commentaire".into());
                    for (i, row) in r.iter_mut().enumerate().skip(1) {
                        row.push(if i == 4 {
                            "rappeler; NIR 2-85-05-2A-006-084 avant lundi".into()
                        } else {
                            "rien a signaler".into()
                        });
                    }
                })
            }),
        ),
        (
            "column_name",
            "apprentissage",
            "column names (a column name)",
            Box::new(|data: &Path| {
                edit_csv(&data.join("apprentissage.csv"), |r| {
                    r[0].push("nir_185057800608436".into());
                    for row in r.iter_mut().skip(1) {
                        row.push("x".into());
                    }
                })
            }),
        ),
        (
            "partition_folder",
            "ressources",
            "names (a file or folder name)",
            Box::new(|data: &Path| {
                let folder = data.join("ressources").join("lot=185057800608436");
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::rename(data.join("ressources.csv"), folder.join("part-0.csv")).unwrap();
            }),
        ),
        (
            "file_name",
            "droits",
            "names (a file or folder name)",
            Box::new(|data: &Path| {
                let folder = data.join("droits");
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::rename(
                    data.join("droits.csv"),
                    folder.join("1.85.05.78.006.084.36.csv"),
                )
                .unwrap();
            }),
        ),
    ];
    for (name, table, column, edit) in cases {
        let dir = base.join(name);
        let data = dir.join("data");
        copy_dir(&generated, &data);
        edit(&data);
        let cfg = write_config(&dir, &data, "csv", 0.5);
        // A table moved into a folder: its files are CSV.
        for table in TABLES {
            let folder = format!("path = \"{}\"\n", data.join(table).display());
            let text = std::fs::read_to_string(&cfg).unwrap();
            std::fs::write(
                &cfg,
                text.replace(&folder, &format!("{folder}format = \"csv\"\n")),
            )
            .unwrap();
        }
        for command in ["validate", "run"] {
            let o = recours(&["--config", cfg.to_str().unwrap(), command]);
            let err = stderr(&o);
            assert_eq!(code(&o), PRIVACY_STOP, "{name} {command}: {err}");
            assert!(
                err.contains(&format!("table {table}")) && err.contains(column),
                "{name} {command}: {err}"
            );
            for n in NIR_TRACES {
                assert!(
                    !err.contains(n),
                    "{name} {command}: the value is shown: {err}"
                );
            }
            assert_no_nir_written(&dir.join("run"));
            assert!(
                !dir.join("run").join("rejects").exists(),
                "{name} {command}: no rejects after a privacy stop"
            );
        }
    }
}

/// Parquet columns of every type that can hold a NIR (categorical, list, binary, decimal,
/// struct, integer) are scanned; a column of a type the scan cannot read would be refused,
/// never let through.
#[test]
fn nir_in_parquet_columns_of_any_type_is_a_privacy_stop() {
    use polars::prelude::*;
    let base = scratch("privacy_parquet_types");
    let generated = base.join("generated");
    generate(&generated, 600, 5, "parquet");
    let n = read_parquet(&generated.join("personnes.parquet")).height();
    let texts: Vec<String> = (0..n)
        .map(|i| {
            if i == 3 {
                "1 85 05 78 006 084 36".into()
            } else {
                "rien".into()
            }
        })
        .collect();
    let text = Series::new("note".into(), texts.clone());
    let numbers = Series::new(
        "note".into(),
        (0..n)
            .map(|i| if i == 3 { 185057800608436i64 } else { i as i64 })
            .collect::<Vec<_>>(),
    );
    let list = Series::new(
        "note".into(),
        texts
            .iter()
            .map(|t| Series::new("".into(), [t.as_str(), "autre"]))
            .collect::<Vec<_>>(),
    );
    let structs = StructChunked::from_series(
        "note".into(),
        n,
        [text.clone(), numbers.clone().with_name("n".into())].iter(),
    )
    .unwrap()
    .into_series();
    let cases: [(&str, Series); 6] = [
        (
            "categorical",
            text.cast(&DataType::from_categories(Categories::global()))
                .unwrap(),
        ),
        ("list", list),
        ("binary", text.cast(&DataType::Binary).unwrap()),
        ("decimal", numbers.cast(&DataType::Decimal(18, 0)).unwrap()),
        ("struct", structs),
        ("integer", numbers.clone()),
    ];
    for (name, column) in cases {
        let dir = base.join(name);
        let data = dir.join("data");
        copy_dir(&generated, &data);
        let path = data.join("personnes.parquet");
        let mut df = read_parquet(&path);
        df.with_column(column.with_name("note".into()).into_column())
            .unwrap();
        let mut f = std::fs::File::create(&path).unwrap();
        ParquetWriter::new(&mut f).finish(&mut df).unwrap();
        let cfg = write_config(&dir, &data, "parquet", 0.5);
        let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
        let err = stderr(&o);
        assert_eq!(code(&o), PRIVACY_STOP, "{name}: {err}");
        assert!(
            err.contains("table personnes, column note"),
            "{name}: {err}"
        );
        assert!(!dir.join("run").exists(), "{name}: nothing written");
    }
}

/// Amounts shipped as Parquet decimals (`Decimal(12,2)`, an ordinary way to send money)
/// are read as euros; an amount beyond the contract's bound (100 000 € a month) or
/// non-finite is rejected with its reason code, so it can never reach the features.
#[test]
fn decimal_amounts_are_read_as_money_and_amounts_are_bounded() {
    use polars::prelude::*;
    let dir = scratch("decimal_amounts");
    let data = dir.join("data");
    generate(&data, 600, 7, "parquet");
    let path = data.join("droits.parquet");
    let original = read_parquet(&path);
    let amounts: Vec<Option<f64>> = original
        .column("montant_mensuel")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    let with_amount = amounts.iter().position(Option::is_some).unwrap();
    // Rounded to the cent, as a decimal of two places holds them.
    let cents: Vec<Option<f64>> = amounts
        .iter()
        .map(|v| v.map(|x| (x * 100.0).round() / 100.0))
        .collect();
    let decimal = Column::new("montant_mensuel".into(), cents.clone())
        .cast(&DataType::Decimal(12, 2))
        .unwrap();
    replace_parquet_column(&path, decimal);
    assert!(
        read_parquet(&path)
            .column("montant_mensuel")
            .unwrap()
            .dtype()
            .is_decimal()
    );
    // A rent and a resource beyond the bound, and an infinite one.
    let logements = data.join("logements.parquet");
    let mut loyers: Vec<Option<f64>> = read_parquet(&logements)
        .column("loyer_mensuel")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    loyers[1] = Some(1e308);
    loyers[2] = Some(f64::INFINITY);
    replace_parquet_column(&logements, Column::new("loyer_mensuel".into(), loyers));
    let cfg = write_config(&dir, &data, "parquet", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let run = dir.join("run");
    let q = quality(&run);
    assert_eq!(
        q["tables"]["droits"]["rows_rejected"], 0,
        "{}",
        q["tables"]["droits"]
    );
    let kept = read_parquet(&run.join("ingest/droits.parquet"));
    let read: Vec<Option<f64>> = kept
        .column("montant_mensuel")
        .unwrap()
        .f64()
        .expect("read as euros (f64)")
        .iter()
        .collect();
    assert_eq!(read.len(), cents.len());
    for (r, c) in read.iter().zip(&cents) {
        match (r, c) {
            (Some(r), Some(c)) => assert!((r - c).abs() < 1e-9, "{r} {c}"),
            _ => assert_eq!(r.is_some(), c.is_some()),
        }
    }
    assert!(read[with_amount].is_some());
    assert_eq!(rejected_with(&run, "logements", "montant_hors_bornes"), 1);
    assert_eq!(rejected_with(&run, "logements", "montant_invalide"), 1);
    assert!(q["rules"]["montant_hors_bornes"].is_string());

    // The same bound in CSV text, on the resources (negative regularisations included).
    let (dir, data) = csv_population("amount_bound_csv");
    edit_csv(&data.join("ressources.csv"), |r| {
        set(r, 1, "montant_net_social", &format!("1{}", "0".repeat(308)));
        set(r, 2, "montant_net_social", "-250000.00");
        set(r, 3, "montant_net_social", "99999.99");
    });
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let run = dir.join("run");
    assert_eq!(rejected_with(&run, "ressources", "montant_hors_bornes"), 2);
}

/// A required table with no kept row (an empty delivery, or every row rejected) stops the
/// run (exit 3) naming it, instead of listing every current beneficiary.
#[test]
fn an_empty_required_table_stops_the_run() {
    let (dir, data) = csv_population("empty_required");
    edit_csv(&data.join("droits.csv"), |r| r.truncate(1));
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("table droits: the extract holds no row; a required table cannot be empty"),
        "{}",
        stderr(&o)
    );
    let run = dir.join("run");
    let q = quality(&run);
    assert_eq!(q["passed"], false);
    assert_eq!(q["empty_required_tables"], serde_json::json!(["droits"]));
    assert!(!run.join("ingest").exists());
    assert!(!run.join("lists").exists());
    // An optional table may be empty.
    let (dir, data) = csv_population("empty_optional");
    edit_csv(&data.join("retours.csv"), |r| r.truncate(1));
    let cfg = write_config(&dir, &data, "csv", 0.5);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    assert_eq!(
        quality(&dir.join("run"))["empty_required_tables"],
        serde_json::json!([])
    );
}

/// A contact row with `opposition = true` whose id is rejected (upper case, blanks around
/// it) still protects its person: matched by the id as it was meant, the person is not
/// listed. An objection that matches no person is counted in quality.json.
#[test]
fn an_objection_is_kept_whatever_else_is_wrong_with_its_row() {
    let sample = sample_run();
    let decisions = read_parquet(&sample.join("lists/decisions.parquet"));
    let ids = opt_texts(&decisions, "pseudo_id");
    let listed: Vec<String> = opt_texts(&decisions, "decision")
        .iter()
        .zip(&ids)
        .filter(|(d, _)| d.as_deref() == Some("liste"))
        .map(|(_, id)| id.clone().unwrap())
        .collect();
    let dir = scratch("objection_kept");
    let data = dir.join("data");
    copy_dir(&repo().join("data-samples"), &data);
    let contacts = data.join("csv/contacts.csv");
    let text = std::fs::read_to_string(&contacts).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(';').collect();
    let (c_id, c_opp) = (
        header.iter().position(|h| *h == "pseudo_id").unwrap(),
        header.iter().position(|h| *h == "opposition").unwrap(),
    );
    // The first listed person with a contact row: every row of theirs objects, with the id
    // in upper case and followed by a blank.
    let person = listed
        .iter()
        .find(|p| {
            lines
                .iter()
                .any(|l| l.split(';').nth(c_id) == Some(p.as_str()))
        })
        .expect("a listed person with a contact row")
        .clone();
    let template = lines[1].clone();
    for line in lines.iter_mut().skip(1) {
        let mut cells: Vec<String> = line.split(';').map(str::to_string).collect();
        if cells[c_id] == person {
            cells[c_id] = format!("{} ", person.to_uppercase());
            cells[c_opp] = "true".into();
            *line = cells.join(";");
        }
    }
    // Two objections of no known person.
    for unknown in ["f".repeat(64), "pas-un-identifiant".to_string()] {
        let mut cells: Vec<String> = template.split(';').map(str::to_string).collect();
        cells[c_id] = unknown;
        cells[c_opp] = "true".into();
        lines.push(cells.join(";"));
    }
    std::fs::write(&contacts, lines.join("\n") + "\n").unwrap();
    let samples = format!("{}/", repo().join("data-samples").display());
    let config = sample_config_absolute(None).replace(&samples, &format!("{}/", data.display()));
    let (run, o) = run_with_config(&dir, &config, &["run"]);
    assert_eq!(code(&o), OK, "{}", stderr(&o));
    let q = quality(&run);
    assert_eq!(q["schema_version"], 4);
    assert_eq!(q["unmatched_oppositions"], 2);
    assert!(q["tables"]["contacts"]["rows_rejected"].as_u64().unwrap() >= 3);
    let decisions = read_parquet(&run.join("lists/decisions.parquet"));
    let theirs: Vec<Option<String>> = opt_texts(&decisions, "decision")
        .into_iter()
        .zip(opt_texts(&decisions, "pseudo_id"))
        .filter(|(_, id)| id.as_deref() == Some(person.as_str()))
        .map(|(d, _)| d)
        .collect();
    assert!(!theirs.is_empty(), "the person is still a candidate");
    assert!(
        theirs.iter().all(|d| d.as_deref() == Some("opposition")),
        "{theirs:?}"
    );
}
