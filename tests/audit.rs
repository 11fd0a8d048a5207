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
    let o = recours(&[
        "explain",
        run.to_str().unwrap(),
        "--person",
        &person,
        "--detail",
    ]);
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
    assert_eq!(code(&o), 7, "an unknown person has its own exit code");
    assert!(stderr(&o).contains("personne inconnue"), "{}", stderr(&o));
    // A NIR pasted by mistake is not repeated in the message.
    let o = recours(&[
        "explain",
        run.to_str().unwrap(),
        "--person",
        "1 85 07 75 123 456",
    ]);
    assert_eq!(code(&o), 7);
    assert!(!stderr(&o).contains("123 456"), "{}", stderr(&o));
}

/// The listed person at the top of a caisse's list, from `lists/decisions.parquet`.
fn first_listed(run: &std::path::Path, caisse: &str) -> String {
    let d = read_parquet(&run.join("lists/decisions.parquet"));
    let ids = texts(&d, "pseudo_id");
    let caisses = texts(&d, "caisse");
    let decisions = texts(&d, "decision");
    let ranks: Vec<Option<u32>> = d
        .column("rang_liste")
        .unwrap()
        .cast(&polars::prelude::DataType::UInt32)
        .unwrap()
        .u32()
        .unwrap()
        .iter()
        .collect();
    (0..d.height())
        .find(|&i| caisses[i] == caisse && decisions[i] == "liste" && ranks[i] == Some(1))
        .map(|i| ids[i].to_string())
        .expect("a first listed person")
}

#[test]
fn explain_answers_the_person_concerned_in_french_on_one_page() {
    use recours::domain::fr;
    let run = sample_run();
    let person = first_listed(run, "CAF33");
    // Pasted from a spreadsheet: capitals and spaces around it.
    let pasted = format!("  {}\t", person.to_uppercase());
    let o = recours(&["explain", run.to_str().unwrap(), "--person", &pasted]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // No-break spaces (French typography) read as spaces for the comparisons below.
    let plain = |s: &str| s.replace(['\u{a0}', '\u{202f}'], " ");
    let letter = plain(&String::from_utf8_lossy(&o.stdout));
    assert!(letter.lines().count() <= 70, "one page:\n{letter}");
    // The words, whatever the line breaks.
    let flat = letter.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "R311-3-1-2",
        "1. Ce que le traitement a retenu",
        "2. Les données utilisées et leur source",
        "Répertoire national commun de la protection sociale (RNCPS)",
        "Base ressources mensuelles (BRM)",
        "3. Le montant estimé",
        "4. La probabilité et ce qui a le plus pesé",
        "5. Ce que vous pouvez faire",
        "La CAF de la Gironde prévoit de vous contacter",
        "mes-droits-sociaux.gouv.fr",
        "caf.fr",
        "droit d'opposition",
        "délégué à la protection des données de la CAF de la Gironde",
        "Votre sexe figure au répertoire mais n'est pas utilisé",
    ] {
        assert!(flat.contains(needle), "missing «{needle}»:\n{letter}");
    }
    // Known answers from the run's own tables: each benefit's probability as a French
    // percentage, its three reasons, its estimated amount in French euros.
    let scores = read_parquet(&run.join("scores.parquet"));
    let ids = texts(&scores, "pseudo_id");
    let benefits = texts(&scores, "prestation");
    let p = floats(&scores, "probabilite");
    let amounts = floats(&scores, "montant_estime");
    let mut seen = 0;
    for i in (0..scores.height()).filter(|&i| ids[i] == person) {
        seen += 1;
        assert!(
            flat.contains(&plain(&fr::percent(p[i]))),
            "{}:\n{letter}",
            benefits[i]
        );
        if amounts[i] > 0.0 {
            assert!(
                flat.contains(&plain(&format!(
                    "droit estimé à {} par mois",
                    fr::euros(amounts[i])
                ))),
                "{}:\n{letter}",
                benefits[i]
            );
        }
        for k in 1..=3 {
            if let Some(r) = opt_texts(&scores, &format!("raison_{k}"))[i].clone() {
                assert!(flat.contains(&format!("« {r} » (poids ")), "{r}:\n{letter}");
            }
        }
    }
    assert!(seen > 0);
    // The sample's run month is 2025-09 and its RSA/PPA quarter M-4..M-2.
    assert!(flat.contains("mai, juin et juillet 2025"), "{letter}");

    // The barème lines add up to the amount computed, with the months they come from.
    let o = recours(&[
        "explain",
        run.to_str().unwrap(),
        "--person",
        &person,
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["schema_version"], 1);
    let ppa = e["prestations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["prestation"] == "PPA")
        .expect("the CAF33 first listed person is scored for PPA");
    let m = &ppa["montant"];
    let sum: f64 = m["lignes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["montant"].as_f64().unwrap())
        .sum();
    assert!(
        (sum - m["montant_calcule"].as_f64().unwrap()).abs() < 0.01,
        "{m}"
    );
    assert_eq!(
        m["mois_reference"],
        serde_json::json!(["2025-05", "2025-06", "2025-07"])
    );
    assert_eq!(ppa["raisons"].as_array().unwrap().len(), 3);

    // No formula, no raw column name, no decimal point, no other person's id.
    for bad in [
        " × ",
        "écart-type",
        "coefficient",
        "constante",
        "pseudo_id",
        "montant_",
    ] {
        assert!(!letter.contains(bad), "«{bad}» in:\n{letter}");
    }
    assert!(!letter.contains('_'), "a raw name in:\n{letter}");
    let b = letter.as_bytes();
    assert!(
        !(1..b.len() - 1)
            .any(|i| b[i] == b'.' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit()),
        "a decimal point in:\n{letter}"
    );
    let foyers = read_parquet(&repo().join("data-samples/foyers.parquet"));
    let (fids, pids) = (texts(&foyers, "foyer_id"), texts(&foyers, "pseudo_id"));
    let foyer = (0..foyers.height())
        .find(|&i| pids[i] == person)
        .map(|i| fids[i])
        .unwrap();
    let others: Vec<&str> = (0..foyers.height())
        .filter(|&i| fids[i] == foyer && pids[i] != person)
        .map(|i| pids[i])
        .collect();
    let detail = String::from_utf8_lossy(
        &recours(&[
            "explain",
            run.to_str().unwrap(),
            "--person",
            &person,
            "--detail",
        ])
        .stdout,
    )
    .to_string();
    let json = String::from_utf8_lossy(&o.stdout).to_string();
    for out in [&letter, &detail, &json] {
        assert!(!out.contains(foyer), "the foyer's id is shown");
        for other in &others {
            assert!(!out.contains(other), "another member's id is shown");
        }
    }
}

/// The letter of a hosted adult (a unit of their own within someone else's foyer) says why
/// their RSA/PPA is estimated for one person and which forfait logement was deducted; the
/// letter of a person whose benefit is estimated at 0 € never invites them to claim it.
#[test]
fn explain_tells_a_hosted_adult_why_and_never_invites_claiming_a_nil_benefit() {
    let run = sample_run();
    // The words of the letter, whatever the line breaks; the letter on one page.
    let letter = |person: &str| {
        let o = recours(&["explain", run.to_str().unwrap(), "--person", person]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout).replace(['\u{a0}', '\u{202f}'], " ");
        assert!(text.lines().count() <= 70, "one page:\n{text}");
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let scores = read_parquet(&run.join("scores.parquet"));
    let (ids, benefits) = (texts(&scores, "pseudo_id"), texts(&scores, "prestation"));
    let amounts = floats(&scores, "montant_estime");
    let e = read_parquet(&run.join("eligibility.parquet"));
    let (e_ids, e_benefits) = (texts(&e, "pseudo_id"), texts(&e, "prestation"));
    let roles = texts(&e, "role_porteur");
    let scored: std::collections::HashSet<(&str, &str)> = (0..scores.height())
        .map(|i| (ids[i], benefits[i]))
        .collect();
    // A hosted adult with an amount (its barème lines are in the letter).
    let e_amounts = floats(&e, "montant_estime");
    let hosted = (0..e.height())
        .find(|&i| {
            matches!(roles[i], "autre_adulte" | "enfant")
                && e_benefits[i] != "ASPA"
                && e_amounts[i] > 0.0
                && scored.contains(&(e_ids[i], e_benefits[i]))
        })
        .map(|i| e_ids[i])
        .expect("the sample scores a hosted adult for RSA or PPA");
    let text = letter(hosted);
    for needle in [
        "un foyer à vous seul(e)",
        "Montant forfaitaire (vous seul(e))",
    ] {
        assert!(text.contains(needle), "«{needle}» missing:\n{text}");
    }
    assert!(
        text.contains("forfait logement de") || text.contains("sans forfait logement"),
        "the forfait logement applied:\n{text}"
    );
    assert!(!text.contains("foyer de 1 personne"), "{text}");

    let nil = (0..scores.height())
        .find(|&i| amounts[i] == 0.0)
        .expect("the sample scores someone with a nil estimate");
    let text = letter(ids[nil]);
    let (article, short) = match benefits[nil] {
        "PPA" => ("la prime d'activité", "la prime d'activité"),
        "RSA" => ("le revenu de solidarité active (RSA)", "le RSA"),
        _ => (
            "l'allocation de solidarité aux personnes âgées (ASPA)",
            "l'ASPA",
        ),
    };
    assert!(
        !text.contains(&format!("Demander {article}")),
        "a nil benefit proposed to claim:\n{text}"
    );
    let at = text
        .find("droit estimé nul, aucune démarche proposée")
        .unwrap_or_else(|| panic!("no word on the nil benefit:\n{text}"));
    let from = text[..at].rfind("Pour ").unwrap();
    assert!(text[from..at].contains(short), "{text}");
}

/// An amount as the letter writes it (`1 139,78 €`, no-break spaces) as a number.
fn letter_amount(cell: &str) -> Option<f64> {
    let digits = cell
        .trim()
        .strip_suffix('€')?
        .trim_end_matches(['\u{a0}', '\u{202f}', ' '])
        .replace(['\u{a0}', '\u{202f}', ' '], "")
        .replace(',', ".");
    digits.parse().ok()
}

/// The calculation rows of section 3 of a letter: (sign, label, amounts at the end of its
/// last line), a row's label spread over its lines.
fn calculation_rows(letter: &str) -> Vec<(char, String, Vec<f64>)> {
    let section = &letter
        [letter.find("3. Le montant estimé").unwrap()..letter.find("4. La probabilité").unwrap()];
    let mut rows = Vec::new();
    let mut open: Option<(char, String)> = None;
    for line in section.lines().skip(1) {
        let chars: Vec<char> = line.chars().collect();
        if chars.len() < 5 || !line.starts_with("   ") || !" +−=".contains(chars[3]) {
            open = None;
            continue;
        }
        let (sign, text) = match &open {
            Some((sign, label)) => (*sign, format!("{label} {}", line.trim())),
            None => (chars[3], line[3 + chars[3].len_utf8()..].trim().to_string()),
        };
        // Cells are the trailing amounts, set apart from the label by two spaces or more.
        let parts: Vec<&str> = text
            .split("  ")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let cells: Vec<f64> = parts
            .iter()
            .rev()
            .map_while(|p| letter_amount(p))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if cells.is_empty() {
            open = Some((sign, text));
            continue;
        }
        let label = parts[..parts.len() - cells.len()].join(" ");
        rows.push((sign, label, cells));
        open = None;
    }
    rows
}

/// Every amount of section 3 is recomputed from the lines above it: a benefit's lines add
/// up to its "=" line; the PPA month by month (each month's deduction the larger of the
/// montant forfaitaire and resources + forfait logement, its amount 0 when negative), then
/// the average of the months. Returns the totals checked.
fn check_calculation(letter: &str) -> usize {
    let mut checked = 0;
    let mut total: Option<Vec<f64>> = None;
    let mut forfaitaire: Vec<f64> = Vec::new();
    let mut months: Option<Vec<f64>> = None;
    let (mut resources, mut forfait): (Option<Vec<f64>>, Option<Vec<f64>>) = (None, None);
    for (sign, label, cells) in calculation_rows(letter) {
        let context = format!("{sign} {label} {cells:?} in:\n{letter}");
        let table = cells.len() > 1;
        match sign {
            ' ' if label.starts_with("Montant forfaitaire") || label.starts_with("Plafond") => {
                forfaitaire = cells.clone();
                total = Some(cells);
            }
            ' ' if label.starts_with("Ressources") => resources = Some(cells),
            ' ' if label.starts_with("Forfait logement") => forfait = Some(cells),
            '+' | '−' => {
                if sign == '−' && table {
                    // The forfait logement is a line of its own, or in the label when it is
                    // the same every month.
                    let fl = forfait.clone().unwrap_or_else(|| {
                        let at = label.find("forfait logement de ").expect(&context) + 20;
                        vec![letter_amount(&label[at..]).expect(&context); cells.len()]
                    });
                    let res = resources.as_ref().expect(&context);
                    for k in 0..cells.len() {
                        assert!(
                            (cells[k] - forfaitaire[k].max(res[k] + fl[k])).abs() < 0.015,
                            "the deduction is not the larger of the two: {context}"
                        );
                    }
                }
                let t = total.as_mut().expect(&context);
                let s = if sign == '+' { 1.0 } else { -1.0 };
                for (t, c) in t.iter_mut().zip(&cells) {
                    *t += s * c;
                }
            }
            '=' => {
                match total.take() {
                    Some(t) if t.len() == cells.len() => {
                        for (t, c) in t.iter().zip(&cells) {
                            // A month's amount is 0 when negative; its figures are each
                            // rounded to the cent, so their sum may be a cent or two apart.
                            let expected = if table { t.max(0.0) } else { *t };
                            assert!((expected - c).abs() < 0.025, "{context}");
                        }
                        if table {
                            months = Some(cells);
                        }
                    }
                    None if !table => {
                        let m = months.take().expect(&context);
                        let mean = m.iter().sum::<f64>() / m.len() as f64;
                        assert!((mean - cells[0]).abs() < 0.015, "{context}");
                        (resources, forfait) = (None, None);
                    }
                    _ => panic!("a total without its lines: {context}"),
                }
                checked += 1;
            }
            _ => {}
        }
    }
    checked
}

/// The letter's amounts can be redone by hand from its lines, for a PPA single person with
/// wages, a couple, a hosted adult, the RSA and the ASPA of a single person and of a couple;
/// `--json` carries the PPA's months, whose amounts average to the amount computed.
#[test]
fn explain_letters_amounts_add_up_from_the_lines_above_them() {
    let run = sample_run();
    let scores = read_parquet(&run.join("scores.parquet"));
    let scored: std::collections::HashSet<(&str, &str)> = texts(&scores, "pseudo_id")
        .into_iter()
        .zip(texts(&scores, "prestation"))
        .collect();
    let e = read_parquet(&run.join("eligibility.parquet"));
    let (ids, benefits, roles) = (
        texts(&e, "pseudo_id"),
        texts(&e, "prestation"),
        texts(&e, "role_porteur"),
    );
    let (couple, amount) = (bools(&e, "couple"), floats(&e, "montant_estime"));
    let wages = floats(&e, "revenus_activite");
    let find = |what: &str, keep: &dyn Fn(usize) -> bool| -> &str {
        (0..e.height())
            .find(|&i| amount[i] > 0.0 && scored.contains(&(ids[i], benefits[i])) && keep(i))
            .map(|i| ids[i])
            .unwrap_or_else(|| panic!("the sample has {what}"))
    };
    let people = [
        find("a PPA single person with wages", &|i| {
            benefits[i] == "PPA" && !couple[i] && roles[i] == "demandeur" && wages[i] > 0.0
        }),
        find("a PPA couple", &|i| benefits[i] == "PPA" && couple[i]),
        find("a hosted adult's PPA", &|i| {
            benefits[i] == "PPA" && roles[i] == "autre_adulte"
        }),
        find("an RSA single person", &|i| {
            benefits[i] == "RSA" && !couple[i]
        }),
        find("an ASPA single person", &|i| {
            benefits[i] == "ASPA" && !couple[i]
        }),
        find("an ASPA couple", &|i| benefits[i] == "ASPA" && couple[i]),
    ];
    for person in people {
        let o = recours(&["explain", run.to_str().unwrap(), "--person", person]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let letter = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            check_calculation(&letter) > 0,
            "nothing checked in:\n{letter}"
        );
        let o = recours(&[
            "explain",
            run.to_str().unwrap(),
            "--person",
            person,
            "--json",
        ]);
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for b in json["prestations"].as_array().unwrap() {
            let Some(m) = b["montant"].as_object() else {
                continue;
            };
            let calc = m["montant_calcule"].as_f64().unwrap();
            let sum: f64 = m["lignes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["montant"].as_f64().unwrap())
                .sum();
            assert!((sum - calc).abs() < 0.01, "{person}: {m:?}");
            let months = m["ppa_mois"].as_array().unwrap();
            if b["prestation"] == "PPA" {
                assert_eq!(months.len(), 3, "{person}: {m:?}");
                let mean = months
                    .iter()
                    .map(|x| x["montant"].as_f64().unwrap())
                    .sum::<f64>()
                    / 3.0;
                assert!((mean - calc).abs() < 0.01, "{person}: {m:?}");
            } else {
                assert!(months.is_empty());
            }
        }
    }
    // The deduction line says what it is, not the wording of a single sum it is not.
    let letter = String::from_utf8_lossy(
        &recours(&["explain", run.to_str().unwrap(), "--person", people[0]]).stdout,
    )
    .replace(['\u{a0}', '\u{202f}'], " ");
    assert!(
        letter.contains("Droit du mois (0 € s'il est négatif)"),
        "{letter}"
    );
    assert!(!letter.contains("le plus élevé du montant forfaitaire ou des ressources"));
}

#[test]
fn help_lists_every_exit_code_and_the_stages_and_only_the_options_a_command_uses() {
    let o = recours(&["--help"]);
    let help = String::from_utf8_lossy(&o.stdout).to_string();
    for code in ["0 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "70 "] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(code)),
            "exit code {code}missing:\n{help}"
        );
    }
    let run = String::from_utf8_lossy(&recours(&["run", "--help"]).stdout).to_string();
    for stage in STAGES {
        assert!(
            run.lines().any(|l| l.trim_start().starts_with(stage)),
            "{stage} missing:\n{run}"
        );
    }
    for command in ["explain", "verify", "bench-score"] {
        let h = String::from_utf8_lossy(&recours(&[command, "--help"]).stdout).to_string();
        // verify's text tells how to give `recours --config` for a moved run folder.
        assert!(
            (command == "verify" || !h.contains("--config")) && !h.contains("--output"),
            "{h}"
        );
    }
    let generate = String::from_utf8_lossy(&recours(&["generate", "--help"]).stdout).to_string();
    assert!(
        generate.contains("--out ") && !generate.contains("--output"),
        "{generate}"
    );
    let fit = String::from_utf8_lossy(&recours(&["bench-fit", "--help"]).stdout).to_string();
    assert!(fit.contains("Seed of the synthetic design matrix"), "{fit}");
    // Given to a command that does not use them, they are an error, not ignored.
    let o = recours(&["--output", "/nowhere", "explain", "x", "--person", "y"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--output applies to run and validate only"));
}
