//! The eligibility stage on a generated population: the BRM-based estimate equals the
//! generator's truth where every resource is visible, and departs from it where some are
//! hidden (self-employment, alimony, capital income).

use std::collections::HashMap;

use crate::common::*;

#[test]
fn eligibility_matches_truth_when_resources_are_visible_and_not_when_hidden() {
    let dir = scratch("eligibility_truth");
    let data = dir.join("data");
    generate(&data, 20_000, 21, "parquet");
    let cfg = write_config(&dir, &data, "parquet", 0.01);
    let o = recours(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let elig = read_parquet(&dir.join("run/eligibility.parquet"));
    let verite = read_parquet(&data.join("verite.parquet"));
    let mut truth: HashMap<(String, String), (f64, bool)> = HashMap::new();
    let (vid, vp, vm, vh) = (
        opt_texts(&verite, "pseudo_id"),
        opt_texts(&verite, "prestation"),
        floats(&verite, "montant_droit"),
        bools(&verite, "ressources_cachees"),
    );
    for i in 0..verite.height() {
        truth.insert(
            (vid[i].clone().unwrap(), vp[i].clone().unwrap()),
            (vm[i], vh[i]),
        );
    }
    let (eid, ep, em, est) = (
        opt_texts(&elig, "pseudo_id"),
        opt_texts(&elig, "prestation"),
        floats(&elig, "montant_estime"),
        opt_texts(&elig, "statut_logement"),
    );
    let role = opt_texts(&elig, "role_porteur");
    let (mut visible, mut visible_equal, mut hidden_eligible, mut hidden_differ) = (0, 0, 0, 0);
    let mut hosted = 0;
    for i in 0..elig.height() {
        let key = (eid[i].clone().unwrap(), ep[i].clone().unwrap());
        // The simple world's truth covers the foyers' own units; a hosted adult's unit of
        // their own (an autre_adulte, an enfant of 25 or more) has no truth there.
        let Some(&(true_amount, has_hidden)) = truth.get(&key) else {
            assert!(
                matches!(role[i].as_deref(), Some("autre_adulte" | "enfant")),
                "a row of the foyer's own unit without truth: {key:?}"
            );
            hosted += 1;
            continue;
        };
        if has_hidden {
            if true_amount > 0.0 || em[i] > 0.0 {
                hidden_eligible += 1;
                hidden_differ += usize::from((true_amount - em[i]).abs() > 1.0);
            }
        } else if est[i].is_some() {
            visible += 1;
            visible_equal += usize::from((true_amount - em[i]).abs() <= 0.01);
        }
    }
    eprintln!(
        "visible: {visible_equal}/{visible} equal; hidden: {hidden_differ}/{hidden_eligible} differ by more than 1 €"
    );
    assert!(visible > 5_000);
    assert!(hosted > 0, "hosted adults are units of their own");
    assert_eq!(
        visible_equal, visible,
        "every fully visible household is estimated exactly"
    );
    assert!(hidden_eligible > 100);
    assert!(
        hidden_differ as f64 > 0.5 * hidden_eligible as f64,
        "hidden resources make the estimate wrong"
    );

    // Deterministic candidates: estimated eligible, not receiving, above the configured amount.
    let cand = bools(&elig, "candidat_deterministe");
    let recoit = bools(&elig, "recoit");
    let motif = opt_texts(&elig, "motif_deterministe");
    for i in 0..elig.height() {
        assert_eq!(cand[i], em[i] >= 100.0 && !recoit[i], "row {i}");
        assert_eq!(motif[i].is_some(), cand[i]);
    }
    assert!(
        motif
            .iter()
            .flatten()
            .any(|m| m.starts_with("droit estimé à "))
    );
}
