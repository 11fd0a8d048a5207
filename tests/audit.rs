//! Reproducible runs for auditors: the manifest, `verify` (match, then a changed output and
//! a changed input named), and `explain`.

use crate::common::*;

fn flip_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn verify_matches_an_untouched_run_and_names_a_changed_output_or_input() {
    let dir = scratch("verify");
    let data = dir.join("data");
    generate_with(&data, 8000, 23, "parquet", &["--learning", "4000"]);
    let cfg = write_config_with(
        &dir,
        &data,
        "parquet",
        0.01,
        "[training]\nalphas = [1.0, 10.0]\n",
    );
    let run = dir.join("run");
    let o = recours(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["schema_version"], 1);
    assert_eq!(manifest["volatile_fields"][0], "stages[].seconds");
    for t in manifest["inputs"].as_array().unwrap() {
        let (i, k, r) = (
            t["rows_in"].as_u64().unwrap(),
            t["rows_kept"].as_u64().unwrap(),
            t["rows_rejected"].as_u64().unwrap(),
        );
        assert_eq!(i, k + r, "row accounting of {}", t["table"]);
        assert!(
            t["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["blake3"].as_str().unwrap().len() == 64)
        );
    }
    assert_eq!(manifest["stages"].as_array().unwrap().len(), 8);
    assert_eq!(manifest["models"].as_object().unwrap().len(), 3);
    // Each stage records its fingerprint, and the rows of its Parquet outputs.
    for stage in manifest["stages"].as_array().unwrap() {
        assert_eq!(stage["fingerprint"].as_str().unwrap().len(), 64);
        for o in stage["outputs"].as_array().unwrap() {
            let path = o["path"].as_str().unwrap();
            if path.ends_with(".parquet") {
                let rows = read_parquet(&run.join(path)).height() as u64;
                assert_eq!(o["rows"].as_u64(), Some(rows), "{path}");
            } else {
                assert!(o.get("rows").is_none(), "{path}");
            }
        }
    }
    assert!(manifest["source_hash"].as_str().unwrap().len() == 16);

    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        0,
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("MISMATCH"));

    let list = run.join("lists/decisions.parquet");
    let original = std::fs::read(&list).unwrap();
    flip_byte(&list);
    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("MISMATCH  output lists/decisions.parquet")
    );
    std::fs::write(&list, original).unwrap();

    flip_byte(&data.join("droits.parquet"));
    let o = recours(&["verify", run.to_str().unwrap()]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("MISMATCH  input droits") && l.ends_with("droits.parquet")),
        "{out}"
    );
}

#[test]
fn explain_gives_the_data_the_terms_and_the_decision() {
    let run = sample_run();
    let csv = std::fs::read_to_string(run.join("lists/CAF33/contacts-rfc4180.csv")).unwrap();
    let person = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    let o = recours(&["explain", run.to_str().unwrap(), "--person", &person]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "Données utilisées et leur source",
        "BRM — ressources mensuelles",
        "rang dans la liste 1",
        "inscrite sur la liste",
        "Le sexe n'est pas utilisé",
    ] {
        assert!(text.contains(needle), "missing «{needle}»:\n{text}");
    }
    let o = recours(&[
        "explain",
        run.to_str().unwrap(),
        "--person",
        &person,
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for b in e["prestations"].as_array().unwrap() {
        let z: f64 = b["constante"].as_f64().unwrap()
            + b["termes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["contribution"].as_f64().unwrap())
                .sum::<f64>();
        let p = 1.0 / (1.0 + (-z).exp());
        assert!(
            (p - b["probabilite"].as_f64().unwrap()).abs() < 1e-9,
            "the terms add up to the score"
        );
    }
    assert_eq!(e["decisions"][0]["caisse"], "CAF33");
    assert!(
        e["donnees"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["values"].get("sexe").is_none())
    );
    // A listed person's monthly resources, found through its row in
    // ingest/personnes.parquet: as many as its rows in the sample's files less its rejected
    // ones, never the row number itself.
    let rows_of = |df: &polars::prelude::DataFrame, person: &str| {
        texts(df, "pseudo_id")
            .iter()
            .filter(|id| **id == person)
            .count()
    };
    let mut inputs = Vec::new();
    for month in std::fs::read_dir(repo().join("data-samples/ressources")).unwrap() {
        for file in std::fs::read_dir(month.unwrap().path()).unwrap() {
            inputs.push(read_parquet(&file.unwrap().path()));
        }
    }
    let rejects = read_parquet(&run.join("rejects/ressources.parquet"));
    let (with_resources, expected) = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .map(|p| {
            let n: usize = inputs.iter().map(|df| rows_of(df, p)).sum();
            (p, n - rows_of(&rejects, p))
        })
        .find(|(_, n)| *n > 0)
        .expect("a listed person with monthly resources");
    let o = recours(&[
        "explain",
        run.to_str().unwrap(),
        "--person",
        with_resources,
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let brm: Vec<&serde_json::Value> = e["donnees"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"].as_str().unwrap().starts_with("BRM"))
        .collect();
    assert_eq!(brm.len(), expected);
    for d in brm {
        let v = &d["values"];
        assert!(
            v.get("montant_net_social").is_some() && v.get("mois").is_some(),
            "{v}"
        );
        assert!(
            v.get("personne").is_none() && v.get("pseudo_id").is_none(),
            "{v}"
        );
    }

    let o = recours(&[
        "explain",
        run.to_str().unwrap(),
        "--person",
        &"0".repeat(64),
    ]);
    assert_eq!(code(&o), 2);
}
