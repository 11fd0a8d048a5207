//! `models/model-card-<BENEFIT>.md`: what an auditor reads first — intended use, learning
//! data, the feature dictionary of the features used, the variables left out and why, the
//! scorecard, held-out metrics, fairness findings, the contact rules, solver and known
//! limits. Written by the report stage (`report/model-card-<BENEFIT>.md`, also shown in
//! `report/index.html`).

use std::fmt::Write;

use recours_models::train::ModelArtefact;

use crate::stages::evaluate::fairness::SuppressedRow;
use crate::stages::features::dictionary::{self as features, FeatureSelection, Protected};

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// What the model card says of the fairness audit and the contact rules (the report stage
/// has both).
pub struct CardContext<'a> {
    /// The benefit's audit, small cells already suppressed.
    pub fairness: &'a [SuppressedRow],
    /// What precision and recall were measured against, if anything.
    pub fairness_reference: Option<&'a str>,
    pub recall_margin: f64,
    pub min_cell: usize,
    /// The list rules, as printed in each list's read-me.
    pub rules: &'a [String],
}

pub fn model_card(
    a: &ModelArtefact,
    selection: &FeatureSelection,
    run_id: &str,
    ctx: &CardContext,
) -> String {
    let mut s = String::new();
    let b = &a.benefit;
    let _ = writeln!(s, "# Model card — non-take-up of {b}\n");
    let _ = writeln!(
        s,
        "Run `{run_id}`; artefact `models/{b}.json` (schema version {}).\n",
        a.schema_version
    );
    let _ = writeln!(s, "## Intended use\n");
    let _ = writeln!(
        s,
        "Ranks people who do not receive {b} and pass its legal pre-filters by their probability of being \
         entitled without claiming (non-take-up), so that a caisse contacts the most likely first. It informs a \
         contact; it never decides a right: the caisse checks the entitlement with the person. Users: national \
         data teams (scoring), local caisses (contact lists), auditors.\n"
    );
    let t = &a.training_data;
    let _ = writeln!(s, "## Learning data\n");
    let _ = writeln!(
        s,
        "{} labelled rows from the learning table (`apprentissage`), {} in non-take-up ({}); seeded stratified \
         split: {} for training, {} held out. Digest (BLAKE3 of features and labels): `{}`.\n",
        t.rows,
        t.positives,
        pct(t.label_rate),
        t.train_rows,
        t.test_rows,
        t.digest
    );
    let _ = writeln!(s, "## Features used\n");
    let _ = writeln!(
        s,
        "| feature | meaning | source | transformation | protected |\n|---|---|---|---|---|"
    );
    for f in &a.features {
        if let Some(d) = features::feature(&f.name) {
            let p = match d.protected {
                Protected::No => "",
                Protected::Age => "age (allowed by config)",
                Protected::Disability => "disability (allowed by config)",
            };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {p} |",
                d.name, d.meaning, d.sources, d.transform
            );
        }
    }
    let _ = writeln!(s, "\n## Interactions retained by cross-validation\n");
    if a.interactions.is_empty() {
        let _ = writeln!(
            s,
            "None: no candidate lowered the cross-validated log-loss enough."
        );
    } else {
        let _ = writeln!(
            s,
            "Candidates enter one at a time while the mean cross-validated log-loss falls by at least {:e}.\n\n\
             | interaction | log-loss before | after |\n|---|---|---|",
            recours_models::train::MIN_GAIN
        );
        for i in &a.interactions {
            let _ = writeln!(
                s,
                "| `{}` | {:.5} | {:.5} |",
                i.name, i.mean_log_loss_before, i.mean_log_loss_after
            );
        }
    }
    let _ = writeln!(
        s,
        "\nHow this model compares with a gradient-boosting reference and the exact posterior on other \
         synthetic worlds: `BENCHMARKS.md`, \"Model quality across worlds\"."
    );
    let _ = writeln!(s, "\n## Variables left out\n");
    let _ = writeln!(s, "- `sexe`: never a feature (fairness audits only).");
    for (name, why) in &selection.excluded {
        let _ = writeln!(s, "- `{name}`: {why}.");
    }
    for d in &a.dropped {
        let _ = writeln!(s, "- `{}`: {} (dropped in training).", d.name, d.reason);
    }
    let _ = writeln!(s, "\n## Scorecard\n");
    let _ = writeln!(
        s,
        "Logistic regression, L2 strength alpha = {} (chosen by {}-fold cross-validation among {:?}). \
         Coefficients per standard deviation of the feature; standard errors: {}.\n",
        a.alpha, a.config.folds, a.config.alphas, a.standard_errors
    );
    let _ = writeln!(
        s,
        "Intercept {:+.4} (s.e. {:.4}).\n",
        a.intercept, a.intercept_std_error
    );
    let _ = writeln!(
        s,
        "| feature | coef (per sd) | s.e. | z | 95 % interval | odds ratio per sd | coef per unit |\n|---|---|---|---|---|---|---|"
    );
    let coefs = a.coefficients_by_weight();
    for c in coefs {
        let _ = writeln!(
            s,
            "| `{}` | {:+.4} | {:.4} | {:+.2} | [{:+.4}, {:+.4}] | {:.3} | {:+.6} |",
            c.name,
            c.standardized,
            c.std_error,
            c.z,
            c.ci95_low,
            c.ci95_high,
            c.odds_ratio_per_sd,
            c.original
        );
    }
    let m = &a.metrics;
    let e = &m.test;
    let f = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    let _ = writeln!(
        s,
        "\n## Held-out metrics ({} rows, {} positives)\n",
        e.rows, e.positives
    );
    let _ = writeln!(
        s,
        "AUC {} (estimated entitlement alone: {}), PR-AUC {}, log-loss {:.4}, Brier {:.4}; training AUC {}.\n",
        f(e.auc),
        f(m.test_auc_eligibility_only),
        f(e.pr_auc),
        e.log_loss,
        e.brier,
        f(m.train_auc)
    );
    let _ = writeln!(
        s,
        "| top share | contacted | precision | recall | lift |\n|---|---|---|---|---|"
    );
    // Rows of fewer than `min_cell` people are suppressed like every table that leaves
    // the national team.
    let hidden = crate::stages::evaluate::fairness::HIDDEN.to_string();
    let small = |n: usize| n > 0 && n < ctx.min_cell;
    for k in &e.top {
        // The people in non-take-up among those contacted are a count too.
        let tp = (k.precision * k.contacted as f64).round() as usize;
        if small(k.contacted) || small(tp) {
            let _ = writeln!(s, "| {} | {hidden} | | | |", pct(k.share));
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} |",
            pct(k.share),
            k.contacted,
            pct(k.precision),
            pct(k.recall),
            k.lift
        );
    }
    let _ = writeln!(
        s,
        "\n| decile | rows | mean predicted | observed |\n|---|---|---|---|"
    );
    // The observed rate reveals the decile's positives: suppressed like any count.
    let positives: Vec<usize> = e
        .calibration
        .iter()
        .map(|c| (c.observed_rate * c.count as f64).round() as usize)
        .collect();
    let shown_pos = crate::stages::evaluate::fairness::suppress_counts(&positives, ctx.min_cell);
    for (c, p) in e.calibration.iter().zip(&shown_pos) {
        if small(c.count) {
            let _ = writeln!(s, "| {} | {hidden} | | |", c.decile);
            continue;
        }
        if p.is_none() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {hidden} positives |",
                c.decile,
                c.count,
                pct(c.mean_predicted)
            );
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c.decile,
            c.count,
            pct(c.mean_predicted),
            pct(c.observed_rate)
        );
    }
    fairness_section(&mut s, ctx);
    let _ = writeln!(s, "## Contact rules\n");
    for r in ctx.rules {
        let _ = writeln!(s, "- {r}");
    }
    let c = &a.convergence;
    let _ = writeln!(
        s,
        "\n## Solver\n\nL-BFGS (argmin) on a fused cost/gradient, then Newton polishing: {} iterations + {} Newton \
         step(s), gradient norm of the mean objective {:.2e} (converged: {}; tolerance {:.0e}). Seed {}.\n",
        c.iterations,
        c.newton_steps,
        c.gradient_norm,
        c.converged,
        a.config.solver.convergence_tolerance,
        a.config.seed
    );
    let _ = writeln!(
        s,
        "## Known limits\n\n\
         - BRM does not see every resource (self-employment, alimony, capital income): the entitlement estimate \
         and the score are wrong for people who have them.\n\
         - The learning table's labels come from a survey and past campaigns; they carry noise and their own \
         selection.\n\
         - ASPA: recovery on the estate deters claims; the earnings allowance of the ASPA is not modelled.\n\
         - A high score is a reason to offer help, not evidence about a person.\n"
    );
    s
}

fn fairness_section(s: &mut String, ctx: &CardContext) {
    let _ = writeln!(s, "\n## Fairness findings\n");
    let hidden = crate::stages::evaluate::fairness::HIDDEN.to_string();
    match ctx.fairness_reference {
        Some(r) => {
            let _ = writeln!(
                s,
                "Precision and recall of the contact lists by group, measured against `{r}`. A group is flagged when \
                 its recall falls more than {:.0} points below everyone else's. Cells under {} people are suppressed.\n",
                100.0 * ctx.recall_margin,
                ctx.min_cell
            );
        }
        None => {
            let _ = writeln!(
                s,
                "No ground truth in this run: the table shows each group's share of the scoring population and of \
                 the lists, and the share of the people the past campaign contacted whose right was opened (the \
                 measure of precision in production; recall needs a ground truth). Cells under {} people are \
                 suppressed.\n",
                ctx.min_cell
            );
        }
    }
    let flagged: Vec<&SuppressedRow> = ctx.fairness.iter().filter(|r| r.alerte).collect();
    if ctx.fairness_reference.is_some() {
        if flagged.is_empty() {
            let _ = writeln!(s, "No group flagged.\n");
        } else {
            for r in &flagged {
                let _ = writeln!(
                    s,
                    "- **Flag**: {} = {}: recall {} against {} for everyone else.",
                    r.dimension,
                    r.groupe,
                    r.rappel.as_ref().map_or(hidden.clone(), |x| pct(x.value)),
                    r.rappel_autres.map_or("n/a".into(), pct)
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "| dimension | group | scoring population | share | listed | share of list | precision | recall | past campaign: contacted | rights opened |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let n = |v: Option<usize>| v.map_or(hidden.clone(), |v| v.to_string());
    let p = |v: Option<f64>| v.map_or(hidden.clone(), pct);
    for r in ctx.fairness.iter().filter(|r| r.dimension != "departement") {
        let rate =
            |x: &Option<crate::stages::evaluate::fairness::Rate>| match (x, ctx.fairness_reference)
            {
                (_, None) => "n/a".to_string(),
                (None, Some(_)) => hidden.clone(),
                (Some(x), Some(_)) => format!(
                    "{} [{}–{}]",
                    pct(x.value),
                    pct(x.ci95_low),
                    pct(x.ci95_high)
                ),
            };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.dimension,
            r.groupe,
            n(r.population),
            p(r.part_population),
            n(r.listes),
            p(r.part_liste),
            rate(&r.precision),
            rate(&r.rappel),
            n(r.campagne_contactes),
            r.campagne_taux.as_ref().map_or(
                if r.campagne_contactes == Some(0) {
                    "n/a".to_string()
                } else {
                    hidden.clone()
                },
                |x| format!(
                    "{} [{}–{}]",
                    pct(x.value),
                    pct(x.ci95_low),
                    pct(x.ci95_high)
                )
            )
        );
    }
    let _ = writeln!(s, "\nBy département: `report/fairness-<BENEFIT>.csv`.\n");
}
