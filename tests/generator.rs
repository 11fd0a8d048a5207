//! The synthetic population: determinism, the committed sample, and calibration against
//! domain.md.

use std::collections::HashMap;

use crate::common::*;

#[test]
fn generator_is_deterministic_for_a_seed() {
    let a = scratch("gen_det_a");
    let b = scratch("gen_det_b");
    let c = scratch("gen_det_c");
    generate(&a, 3000, 7, "parquet");
    generate(&b, 3000, 7, "parquet");
    generate(&c, 3000, 8, "parquet");
    assert_eq!(hash_tree(&a), hash_tree(&b));
    assert_ne!(hash_tree(&a), hash_tree(&c));
}

#[test]
fn generator_population_size_is_exact_and_ids_are_hex64() {
    let dir = scratch("gen_size");
    generate(&dir, 1234, 1, "csv");
    let text = std::fs::read_to_string(dir.join("personnes.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 1234);
    let id = lines[1].split(',').next().unwrap();
    assert_eq!(id.len(), 64);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
}

/// The committed sample is what its documented command makes (data-samples/README.md).
#[test]
fn committed_sample_regenerates_identically() {
    let dir = scratch("gen_sample");
    let o = recours(&[
        "generate",
        "--people",
        "20000",
        "--month",
        "2025-09",
        "--seed",
        "2025",
        "--out",
        dir.to_str().unwrap(),
        "--csv-copies",
        "logements,contacts",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let committed: Vec<(String, String)> = hash_tree(&repo().join("data-samples"))
        .into_iter()
        .filter(|(p, _)| p != "README.md")
        .collect();
    assert_eq!(hash_tree(&dir), committed);
}

/// Non-take-up rate of a group: (non-claimers, eligible).
#[derive(Default, Clone, Copy, Debug)]
struct Rate(f64, f64);
impl Rate {
    fn add(&mut self, non_take_up: bool) {
        self.0 += f64::from(u8::from(non_take_up));
        self.1 += 1.0;
    }
    fn get(self) -> f64 {
        assert!(self.1 >= 20.0, "group too small to compare: {self:?}");
        self.0 / self.1
    }
}

/// domain.md: RSA 34 %, PPA about 26–30 %, ASPA 50 %, within 3 points, and every listed
/// determinant in the right direction.
#[test]
fn generator_non_take_up_rates_follow_domain_md() {
    let dir = scratch("gen_calibration");
    generate(&dir, 60_000, 11, "parquet");
    let verite = read_parquet(&dir.join("verite.parquet"));
    let personnes = read_parquet(&dir.join("personnes.parquet"));
    let foyers = read_parquet(&dir.join("foyers.parquet"));
    let logements = read_parquet(&dir.join("logements.parquet"));
    let droits = read_parquet(&dir.join("droits.parquet"));

    let run = recours::domain::month::Month::parse(RUN_MONTH).unwrap();
    let mut age = HashMap::new();
    let mut female = HashMap::new();
    let mut rural = HashMap::new();
    let reference = recours::domain::reference::Reference::load(
        &repo().join("config/departements.csv"),
        &repo().join("config/caisses.csv"),
    )
    .unwrap();
    for ((id, n), (s, d)) in texts(&personnes, "pseudo_id")
        .into_iter()
        .zip(texts(&personnes, "naissance"))
        .zip(
            texts(&personnes, "sexe")
                .into_iter()
                .zip(texts(&personnes, "departement")),
        )
    {
        age.insert(
            id,
            recours::domain::month::Month::parse(n).unwrap().age_at(run),
        );
        female.insert(id, s == "F");
        let dep = &reference.departements[reference.departement_index(d).unwrap()];
        rural.insert(id, dep.population < 500_000);
    }
    let mut foyer_of = HashMap::new();
    let mut members: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for ((f, id), role) in texts(&foyers, "foyer_id")
        .into_iter()
        .zip(texts(&foyers, "pseudo_id"))
        .zip(texts(&foyers, "role"))
    {
        foyer_of.insert(id, f);
        members.entry(f).or_default().push((id, role));
    }
    let statut: HashMap<&str, &str> = texts(&logements, "foyer_id")
        .into_iter()
        .zip(texts(&logements, "statut"))
        .collect();
    let with_al: std::collections::HashSet<&str> = texts(&droits, "pseudo_id")
        .into_iter()
        .zip(texts(&droits, "prestation"))
        .filter(|(_, p)| *p == "AL")
        .map(|(id, _)| id)
        .collect();

    let mut overall: HashMap<&str, Rate> = HashMap::new();
    let mut groups: HashMap<(&str, &str), Rate> = HashMap::new();
    let ids = texts(&verite, "pseudo_id");
    let prest = texts(&verite, "prestation");
    let eligible = bools(&verite, "eligible");
    let claiming = bools(&verite, "recourt");
    let porteur = bools(&verite, "porteur");
    let montant = floats(&verite, "montant_droit");
    for i in 0..verite.height() {
        if !eligible[i] || !porteur[i] {
            continue;
        }
        let (id, b, nr) = (ids[i], prest[i], !claiming[i]);
        overall.entry(b).or_default().add(nr);
        let f = foyer_of[id];
        let st = statut.get(f).copied().unwrap_or("inconnu");
        let mut g = |name: &'static str| groups.entry((b, name)).or_default().add(nr);
        match b {
            "RSA" => {
                let m = &members[f];
                let couple = m.iter().any(|(_, r)| *r == "conjoint");
                let children = m.iter().any(|(_, r)| *r == "enfant");
                if couple && !children {
                    g("couple_sans_enfant");
                }
                if !couple && children && female[id] {
                    g("mere_isolee");
                }
                match st {
                    "proprietaire" => g("proprietaire"),
                    "locataire_prive" => g("locataire_prive"),
                    "locataire_hlm" => g("locataire_hlm"),
                    _ => {}
                }
                g(if with_al.contains(id) {
                    "avec_al"
                } else {
                    "sans_al"
                });
                g(if age[id] < 30 { "jeune" } else { "pas_jeune" });
                g(if rural[id] { "rural" } else { "urbain" });
            }
            "PPA" => {
                if montant[i] < 100.0 {
                    g("petit_montant")
                } else if montant[i] >= 200.0 {
                    g("gros_montant")
                }
            }
            _ => {
                if montant[i] < 100.0 {
                    g("moins_100");
                } else if (500.0..600.0).contains(&montant[i]) {
                    g("500_600");
                }
                match st {
                    "proprietaire" => g("proprietaire"),
                    "locataire_prive" | "locataire_hlm" => g("locataire"),
                    _ => {}
                }
                g(if female[id] { "femme" } else { "homme" });
                if age[id] >= 85 {
                    g("85_plus");
                } else if age[id] < 70 {
                    g("65_69");
                }
            }
        }
    }
    let rate = |b: &str| overall[b].get();
    assert!((rate("RSA") - 0.34).abs() <= 0.03, "RSA {}", rate("RSA"));
    assert!((rate("PPA") - 0.28).abs() <= 0.03, "PPA {}", rate("PPA"));
    assert!((rate("ASPA") - 0.50).abs() <= 0.03, "ASPA {}", rate("ASPA"));
    let higher = |b: &'static str, hi: &'static str, lo: &'static str| {
        let (h, l) = (groups[&(b, hi)].get(), groups[&(b, lo)].get());
        assert!(h > l, "{b}: {hi} ({h:.3}) should exceed {lo} ({l:.3})");
    };
    higher("RSA", "couple_sans_enfant", "mere_isolee");
    higher("RSA", "proprietaire", "locataire_prive");
    higher("RSA", "locataire_prive", "locataire_hlm");
    higher("RSA", "sans_al", "avec_al");
    higher("RSA", "jeune", "pas_jeune");
    higher("RSA", "rural", "urbain");
    higher("PPA", "petit_montant", "gros_montant");
    higher("ASPA", "moins_100", "500_600");
    higher("ASPA", "proprietaire", "locataire");
    higher("ASPA", "femme", "homme");
    higher("ASPA", "85_plus", "65_69");
}

/// domain.md: CAF knows a usable e-mail or mobile for 81–88 % of people, CPAM 35–48 %;
/// online-account use falls with age; a small share of oppositions.
#[test]
fn generator_contact_channels_follow_domain_md() {
    let dir = scratch("gen_contacts");
    generate(&dir, 20_000, 5, "parquet");
    let contacts = read_parquet(&dir.join("contacts.parquet"));
    let personnes = read_parquet(&dir.join("personnes.parquet"));
    let run = recours::domain::month::Month::parse(RUN_MONTH).unwrap();
    let age: HashMap<&str, i32> = texts(&personnes, "pseudo_id")
        .into_iter()
        .zip(texts(&personnes, "naissance"))
        .map(|(id, n)| {
            (
                id,
                recours::domain::month::Month::parse(n).unwrap().age_at(run),
            )
        })
        .collect();
    let org = texts(&contacts, "organisme");
    let ids = texts(&contacts, "pseudo_id");
    let mobile = bools(&contacts, "mobile");
    let email = bools(&contacts, "email");
    let online = bools(&contacts, "espace_en_ligne");
    let opposition = bools(&contacts, "opposition");
    let share = |pred: &dyn Fn(usize) -> bool, sel: &dyn Fn(usize) -> bool| {
        let n = (0..contacts.height()).filter(|&i| sel(i)).count() as f64;
        (0..contacts.height())
            .filter(|&i| sel(i) && pred(i))
            .count() as f64
            / n
    };
    let digital = |i: usize| mobile[i] || email[i];
    let caf = share(&digital, &|i| org[i].starts_with("CAF"));
    let cpam = share(&digital, &|i| org[i].starts_with("CPAM"));
    assert!((0.81..=0.88).contains(&caf), "CAF {caf}");
    assert!((0.35..=0.48).contains(&cpam), "CPAM {cpam}");
    let young = share(&|i| online[i], &|i| age[ids[i]] < 40);
    let old = share(&|i| online[i], &|i| age[ids[i]] >= 75);
    assert!(young > old + 0.3, "online use {young} (<40) vs {old} (75+)");
    let opp = share(&|i| opposition[i], &|_| true);
    assert!((0.005..0.03).contains(&opp), "oppositions {opp}");
}

/// `generate --shards`: each shard is an independent population (shard 0 is what
/// `--people N/shards` alone gives), ids never collide, and the folders of part files read
/// as one population.
#[test]
fn sharded_generation_reads_as_one_population() {
    let dir = scratch("gen_shards");
    let data = dir.join("data");
    generate_with(&data, 3000, 7, "parquet", &["--shards", "3"]);
    // A quarter of 3000 people are labelled by default: 250 per shard.
    let alone = dir.join("alone");
    generate_with(&alone, 1000, 7, "parquet", &["--learning", "250"]);
    for t in ["personnes", "foyers", "droits", "verite", "apprentissage"] {
        assert_eq!(
            std::fs::read(data.join(t).join("part-000.parquet")).unwrap(),
            std::fs::read(alone.join(format!("{t}.parquet"))).unwrap(),
            "{t}: shard 0 differs from the population generated alone"
        );
    }
    let mut ids = std::collections::BTreeSet::new();
    for s in 0..3 {
        let df = read_parquet(&data.join("personnes").join(format!("part-{s:03}.parquet")));
        assert_eq!(df.height(), 1000);
        let col = df.column("pseudo_id").unwrap().str().unwrap().clone();
        ids.extend(col.iter().flatten().map(str::to_string));
    }
    assert_eq!(ids.len(), 3000, "ids collide between shards");
    assert!(
        data.join("ressources")
            .join("mois=2025-08")
            .join("part-002.parquet")
            .exists()
    );
    let cfg = write_config(&dir, &data, "parquet", 0.0);
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let q = quality(&dir.join("run"));
    assert_eq!(q["tables"]["personnes"]["rows_in"], 3000);
    assert_eq!(
        q["tables"]["personnes"]["sources"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(q["tables"]["ressources"]["rows_rejected"], 0);
}
