//! `models/model-card-<BENEFIT>.md`, in French: what an auditor reads first — intended use,
//! learning data, the feature dictionary of the features used, the variables left out and
//! why, the scorecard, held-out metrics, fairness findings, the contact rules, solver and
//! known limits. Numbers are French formatted (`domain::fr`); a value not published or not
//! defined reads `n.d.`, explained once at the end. Written by the report stage (`report/model-card-<BENEFIT>.md`, also shown in
//! `report/index.html`).

use std::fmt::Write;

use recours_models::train::ModelArtefact;

use crate::stages::evaluate::fairness::{self, Rate, SuppressedRow};
use crate::stages::features::dictionary::{self as features, FeatureSelection, Protected};

use crate::domain::fr;

fn pct(x: f64) -> String {
    fr::percent(x)
}

/// A rate with its 95 % interval, `n.d.` when not published or not defined.
pub(crate) fn rate_fr(r: Option<&Rate>) -> String {
    r.map_or(fr::ND.to_string(), |r| {
        format!(
            "{} [{}–{}]",
            fr::percent(r.value),
            fr::number(100.0 * r.ci95_low, 1),
            fr::number(100.0 * r.ci95_high, 1)
        )
    })
}

/// What a flagged group's recall is measured as: its recall against everyone else's, or,
/// where the audit's numbers may not be published, that they are not.
pub(crate) fn flag_evidence(r: &SuppressedRow) -> String {
    match (&r.rappel, r.rappel_autres) {
        (Some(x), Some(o)) => format!(
            "rappel {} contre {} pour les autres groupes",
            pct(x.value),
            pct(o)
        ),
        _ => "rappel inférieur à celui des autres groupes selon l'audit national ; les deux rappels ne sont pas diffusés (ils permettraient de retrouver un nombre de moins de 11 personnes)".into(),
    }
}

/// What the model card says of the fairness audit and the contact rules (the report stage
/// has both).
pub(crate) struct CardContext<'a> {
    /// The benefit's audit, small cells already suppressed.
    pub fairness: &'a [SuppressedRow],
    /// What precision and recall were measured against, if anything.
    pub fairness_reference: Option<&'a str>,
    pub recall_margin: f64,
    pub min_cell: usize,
    /// The list rules, as printed in each list's read-me.
    pub rules: &'a [String],
}

pub(crate) fn model_card(
    a: &ModelArtefact,
    selection: &FeatureSelection,
    run_id: &str,
    ctx: &CardContext,
) -> String {
    let mut s = String::new();
    let b = &a.benefit;
    let f4 = |v: f64| fr::number(v, 4);
    let (the, to) = articles(b);
    let _ = writeln!(s, "# Fiche modèle — non-recours {to}{b}\n");
    let _ = writeln!(
        s,
        "Exécution `{run_id}` ; modèle `models/{b}.json` (version de schéma {}).\n",
        a.schema_version
    );
    let _ = writeln!(s, "## Usage prévu\n");
    let _ = writeln!(
        s,
        "Classe les personnes qui ne perçoivent pas {the}{b} et passent ses filtres légaux par leur probabilité d'y \
         avoir droit sans le demander (non-recours), pour qu'une caisse contacte d'abord les plus probables. Le \
         score motive un contact ; il ne décide jamais d'un droit : la caisse vérifie le droit avec la personne. \
         Utilisateurs : équipes nationales de données (score), caisses locales (listes de contact), auditeurs.\n"
    );
    let t = &a.training_data;
    let _ = writeln!(s, "## Données d'apprentissage\n");
    let _ = writeln!(
        s,
        "{} lignes étiquetées de la table d'apprentissage (`apprentissage`), dont {} en non-recours ({}) ; \
         partage stratifié à graine fixe : {} pour l'apprentissage, {} mises de côté pour le test. Empreinte \
         (BLAKE3 des variables et des étiquettes) : `{}`.\n",
        fr::count(t.rows),
        fr::count(t.positives),
        pct(t.label_rate),
        fr::count(t.train_rows),
        fr::count(t.test_rows),
        t.digest
    );
    let _ = writeln!(s, "## Variables utilisées\n");
    let _ = writeln!(
        s,
        "| variable | source | transformation | attribut protégé | nom technique (glossaire) |\n|:---|:---|:---|:---|:---|"
    );
    for f in &a.features {
        if let Some(d) = features::feature(&f.name) {
            let p = match d.protected {
                Protected::No => "non",
                Protected::Age => "âge (autorisé par la configuration)",
                Protected::Disability => "handicap (autorisé par la configuration)",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {p} | `{}` |",
                d.meaning, d.sources, d.transform, d.name
            );
        }
    }
    let _ = writeln!(s, "\n## Interactions retenues par validation croisée\n");
    if a.interactions.is_empty() {
        let _ = writeln!(
            s,
            "Aucune : aucun candidat n'a assez fait baisser la log-loss de validation croisée."
        );
    } else {
        let _ = writeln!(
            s,
            "Les candidats entrent un par un tant que la log-loss moyenne de validation croisée baisse d'au moins {}.\n\n\
             | interaction | log-loss avant | après | nom technique (glossaire) |\n|:---|---:|---:|:---|",
            fr::number(recours_models::train::MIN_GAIN, 4)
        );
        for i in &a.interactions {
            let _ = writeln!(
                s,
                "| {} | {} | {} | `{}` |",
                meaning(&i.name),
                fr::number(i.mean_log_loss_before, 5),
                fr::number(i.mean_log_loss_after, 5),
                i.name
            );
        }
    }
    let _ = writeln!(
        s,
        "\nComparaison de ce modèle avec une référence par gradient boosting et avec la probabilité exacte sur \
         d'autres mondes synthétiques : `BENCHMARKS.md`, « Model quality across worlds »."
    );
    let _ = writeln!(s, "\n## Variables écartées\n");
    let _ = writeln!(
        s,
        "- `sexe` : jamais une variable du modèle (seulement pour l'audit d'équité)."
    );
    for (name, why) in &selection.excluded {
        let _ = writeln!(s, "- {} — `{name}` : {why}.", meaning(name));
    }
    for d in &a.dropped {
        let _ = writeln!(
            s,
            "- {} — `{}` : {} (écartée à l'apprentissage).",
            meaning(&d.name),
            d.name,
            d.reason
        );
    }
    let _ = writeln!(s, "\n## Grille de score\n");
    let alphas: Vec<String> = a.config.alphas.iter().map(|x| fr::tick(*x)).collect();
    let _ = writeln!(
        s,
        "Régression logistique, pénalité L2 alpha = {} (choisie par validation croisée en {} plis parmi {}). \
         Coefficients par écart-type de la variable ; erreurs types : {}.\n",
        fr::tick(a.alpha),
        a.config.folds,
        alphas.join(" ; "),
        a.standard_errors
    );
    let _ = writeln!(
        s,
        "Constante {} (erreur type {}).\n",
        fr::signed(a.intercept, 4),
        f4(a.intercept_std_error)
    );
    let _ = writeln!(
        s,
        "| variable | coef. (par écart-type) | erreur type | z | intervalle à 95 % | odds ratio par écart-type | coef. par unité | nom technique (glossaire) |\n|:---|---:|---:|---:|---:|---:|---:|:---|"
    );
    let coefs = a.coefficients_by_weight();
    for c in coefs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | [{} ; {}] | {} | {} | `{}` |",
            meaning(&c.name),
            fr::signed(c.standardized, 4),
            f4(c.std_error),
            fr::signed(c.z, 2),
            fr::signed(c.ci95_low, 4),
            fr::signed(c.ci95_high, 4),
            fr::number(c.odds_ratio_per_sd, 3),
            fr::signed(c.original, 6),
            c.name
        );
    }
    let m = &a.metrics;
    let e = &m.test;
    let f = |x: Option<f64>| fr::or_nd(x, f4);
    let _ = writeln!(
        s,
        "\n## Mesures sur l'échantillon de test ({} lignes, {} positifs)\n",
        fr::count(e.rows),
        fr::count(e.positives)
    );
    let _ = writeln!(
        s,
        "AUC {} (droit estimé seul : {}), PR-AUC {}, log-loss {}, Brier {} ; AUC sur l'apprentissage {}.\n",
        f(e.auc),
        f(m.test_auc_eligibility_only),
        f(e.pr_auc),
        f4(e.log_loss),
        f4(e.brier),
        f(m.train_auc)
    );
    let _ = writeln!(
        s,
        "| part contactée | contactés | précision | rappel | lift |\n|---:|---:|---:|---:|---:|"
    );
    // Rows of fewer than `min_cell` people are suppressed like every table that leaves
    // the national team.
    let hidden = crate::domain::disclosure::HIDDEN.to_string();
    let small = |n: usize| n > 0 && n < ctx.min_cell;
    for k in &e.top {
        // The people in non-take-up among those contacted are a count too.
        let tp = (k.precision * k.contacted as f64).round() as usize;
        if small(k.contacted) || small(tp) {
            let _ = writeln!(
                s,
                "| {} | {hidden} | {hidden} | {hidden} | {hidden} |",
                pct(k.share)
            );
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            pct(k.share),
            fr::count(k.contacted),
            pct(k.precision),
            pct(k.recall),
            fr::number(k.lift, 2)
        );
    }
    let _ = writeln!(
        s,
        "\n| décile | lignes | probabilité prédite moyenne | taux observé |\n|---:|---:|---:|---:|"
    );
    // The observed rate reveals the decile's positives: suppressed like any count.
    let positives: Vec<usize> = e
        .calibration
        .iter()
        .map(|c| (c.observed_rate * c.count as f64).round() as usize)
        .collect();
    let shown_pos = crate::domain::disclosure::suppress_counts(&positives, ctx.min_cell);
    for (c, p) in e.calibration.iter().zip(&shown_pos) {
        if small(c.count) {
            let _ = writeln!(s, "| {} | {hidden} | {hidden} | {hidden} |", c.decile);
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c.decile,
            fr::count(c.count),
            pct(c.mean_predicted),
            if p.is_none() {
                hidden.clone()
            } else {
                pct(c.observed_rate)
            }
        );
    }
    fairness_section(&mut s, ctx);
    let _ = writeln!(s, "## Règles de contact\n");
    for r in ctx.rules {
        let _ = writeln!(s, "- {r}");
    }
    let c = &a.convergence;
    let _ = writeln!(
        s,
        "\n## Solveur\n\nL-BFGS (argmin) sur un calcul conjoint du coût et du gradient, puis pas de Newton : {} itérations + \
         {} pas de Newton, norme du gradient de l'objectif moyen {} (convergence : {} ; tolérance {}). Graine {}.\n",
        c.iterations,
        c.newton_steps,
        sci(c.gradient_norm),
        if c.converged { "oui" } else { "non" },
        sci(a.config.solver.convergence_tolerance),
        a.config.seed
    );
    let _ = writeln!(
        s,
        "## Limites connues\n\n\
         - Le BRM ne voit pas toutes les ressources (revenus d'indépendant, pensions alimentaires, revenus du \
         capital) : l'estimation du droit et le score sont faux pour les personnes qui en ont.\n\
         - Les étiquettes de la table d'apprentissage viennent d'une enquête et des campagnes passées : elles \
         ont leur bruit et leur propre sélection.\n\
         - ASPA : la récupération sur succession dissuade de demander ; l'abattement sur les revenus \
         d'activité de l'ASPA n'est pas modélisé.\n\
         - Un score élevé est une raison de proposer de l'aide, pas une information sur une personne.\n"
    );
    let _ = writeln!(s, "---\n\n{}.", fr::ND_NOTE);
    s
}

/// A feature's French meaning from the dictionary (its technical name when it has none).
pub(crate) fn meaning(name: &str) -> &str {
    features::feature(name).map_or(name, |d| d.meaning)
}

/// The benefit with its article: (`la `, `à la `) for PPA, (`le `, `au `) for RSA, (`l'`,
/// `à l'`) for ASPA.
fn articles(b: &str) -> (&'static str, &'static str) {
    match b {
        "PPA" => ("la ", "à la "),
        "RSA" => ("le ", "au "),
        _ => ("l'", "à l'"),
    }
}

/// `2,3e-9` style: a small number in scientific notation, decimal comma.
fn sci(v: f64) -> String {
    format!("{v:.1e}").replace('.', ",")
}

fn fairness_section(s: &mut String, ctx: &CardContext) {
    let _ = writeln!(s, "\n## Équité\n");
    match ctx.fairness_reference {
        Some(r) => {
            let _ = writeln!(
                s,
                "Précision et rappel des listes de contact par groupe, mesurés contre `{r}`. Un groupe est signalé \
                 quand son rappel est inférieur de plus de {} points à celui du reste de la population. Cellules de moins de {} personnes masquées.\n",
                fr::number(100.0 * ctx.recall_margin, 0),
                ctx.min_cell
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Pas de vérité terrain dans cette exécution : le tableau donne la part de chaque groupe dans la \
                 population à scorer et dans les listes, et la part des personnes contactées lors de la campagne \
                 précédente dont le droit a été ouvert (la mesure de la précision en production ; le rappel demande \
                 une vérité terrain). Cellules de moins de {} personnes masquées.\n",
                ctx.min_cell
            );
        }
    }
    let flagged: Vec<&SuppressedRow> = ctx.fairness.iter().filter(|r| r.alerte).collect();
    if ctx.fairness_reference.is_some() {
        if flagged.is_empty() {
            let _ = writeln!(s, "Aucun groupe signalé.\n");
        } else {
            for r in &flagged {
                let _ = writeln!(
                    s,
                    "- **Signalé** : {} — {}.",
                    fairness::group_words(&r.dimension, &r.groupe),
                    flag_evidence(r)
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "| dimension | groupe | population à scorer | part | listés | part des listes | précision [IC 95 %] | rappel [IC 95 %] | campagne précédente : contactés | droits ouverts [IC 95 %] |\n|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let hidden = crate::domain::disclosure::HIDDEN.to_string();
    let n = |v: Option<usize>| v.map_or(hidden.clone(), fr::count);
    let p = |v: Option<f64>| v.map_or(hidden.clone(), pct);
    let rate = |x: &Option<Rate>| rate_fr(x.as_ref());
    for r in ctx.fairness.iter().filter(|r| r.dimension != "departement") {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fairness::dimension_label(&r.dimension),
            fairness::group_label(&r.dimension, &r.groupe),
            n(r.population),
            p(r.part_population),
            n(r.listes),
            p(r.part_liste),
            rate(&r.precision),
            rate(&r.rappel),
            n(r.campagne_contactes),
            rate(&r.campagne_taux)
        );
    }
    let _ = writeln!(
        s,
        "\nPar département : `report/fairness-<PRESTATION>.csv`.\n"
    );
}
