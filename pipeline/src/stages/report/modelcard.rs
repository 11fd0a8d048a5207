//! `models/model-card-<BENEFIT>.md`, in French: what an auditor reads first — intended use,
//! learning data, the feature dictionary of the features used, the variables left out and
//! why, the scorecard, held-out metrics, the quality the project measured on synthetic
//! worlds (`bench/results/cross-world.json`, embedded), fairness findings, the contact
//! rules, solver and known limits. Numbers are French formatted (`domain::fr`); a value not published or not
//! defined reads `n.d.`, explained once at the end. Written by the report stage (`report/model-card-<BENEFIT>.md`, also shown in
//! `report/index.html`).

use std::collections::BTreeMap;
use std::fmt::Write;

use recours_models::train::ModelArtefact;
use serde::Deserialize;

use crate::stages::evaluate::fairness::{self, Rate, SuppressedRow};
use crate::stages::features::dictionary::{self as features, FeatureSelection, Protected};

use crate::domain::fr;
use crate::domain::month::Month;
use crate::error::{RecoursError, Result};

/// Where the cross-world summary lives in the repository, as the cards name it.
pub(crate) const CROSS_WORLD_PATH: &str = "bench/results/cross-world.json";

/// The cross-world evaluation summary, written by `bench/python/cross_world.py --summary`
/// only and embedded at build time: its figures describe the models recours builds at a
/// commit, measured by the project on synthetic worlds, not a run's data — so they travel
/// with the binary (whose commit and source hash the manifest records; `build.rs` hashes
/// this file too) instead of being a setting a run could point elsewhere.
const CROSS_WORLD: &str = include_str!("../../../../bench/results/cross-world.json");

/// The cross-world summary (`bench/results/cross-world.json`).
#[derive(Debug, Deserialize)]
pub(crate) struct CrossWorld {
    pub worlds: Vec<WorldRecord>,
}

/// One synthetic world: how it was generated, when and at which commit it was measured.
#[derive(Debug, Deserialize)]
pub(crate) struct WorldRecord {
    pub label: String,
    /// The generator and its options (`realiste`, …).
    pub world: String,
    pub seed: u64,
    pub people: usize,
    pub run_month: String,
    /// recours' commit the run was built from (`-dirty` when it had uncommitted changes).
    pub commit: Option<String>,
    /// ISO date of the measure.
    pub measured: String,
    pub benefits: BTreeMap<String, WorldBenefit>,
}

/// One benefit on one world: the evaluation population and each score's figures.
#[derive(Debug, Deserialize)]
pub(crate) struct WorldBenefit {
    pub population: usize,
    pub positives: usize,
    pub prevalence: f64,
    /// `recours`, `gbm`, `logistic`, `oracle`.
    pub scores: BTreeMap<String, WorldScore>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WorldScore {
    pub auc: f64,
    pub brier: f64,
    /// Expected calibration error over the score's deciles.
    pub ece: f64,
    pub calibration_slope: Option<f64>,
    /// Precision and lift in the top shares (`1%`, `3%`, `5%`, `10%`).
    pub top: BTreeMap<String, TopShare>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TopShare {
    pub precision: f64,
    pub lift: Option<f64>,
}

/// The top shares the cards show, in order.
const TOP_SHARES: [&str; 4] = ["1%", "3%", "5%", "10%"];

/// The scores the cards show, with their French names.
const CROSS_WORLD_SCORES: [(&str, &str); 3] = [
    ("recours", "modèle recours (même forme que ce modèle)"),
    ("gbm", "référence : gradient boosting"),
    ("oracle", "plafond : probabilité exacte"),
];

/// The embedded summary, parsed (an unreadable one is a defect of the build: internal).
pub(crate) fn cross_world() -> Result<CrossWorld> {
    serde_json::from_str(CROSS_WORLD)
        .map_err(|e| RecoursError::Internal(format!("{CROSS_WORLD_PATH} embedded: {e}")))
}

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
    worlds: &CrossWorld,
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
         partage stratifié à graine fixe : {} pour l'apprentissage, {} mises de côté pour le test. {} Empreinte \
         (BLAKE3 des variables et des étiquettes) : `{}`.\n",
        fr::count(t.rows),
        fr::count(t.positives),
        pct(t.label_rate),
        fr::count(t.train_rows),
        fr::count(t.test_rows),
        fitted_on(t),
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
        "AUC {} (droit estimé seul : {}), PR-AUC {}, log-loss {}, Brier {} ; AUC sur les lignes d'estimation du modèle déployé {}.\n",
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
    cross_world_section(&mut s, b, worlds);
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

/// What the project measured on synthetic worlds for benefit `b`: one table per world, the
/// model of this form trained and tested there against the gradient-boosting reference and
/// the exact posterior.
pub(crate) fn cross_world_section(s: &mut String, b: &str, cw: &CrossWorld) {
    let (the, _) = articles(b);
    let _ = writeln!(s, "\n## Qualité mesurée sur des mondes synthétiques\n");
    let _ = writeln!(
        s,
        "Ces chiffres ne viennent pas des données de cette exécution : le projet les a mesurés sur des mondes \
         synthétiques (`recours generate`), où la vérité est connue, avec le code du commit indiqué. Sur chaque \
         monde, un modèle de la même forme que celui-ci est entraîné sur la table d'apprentissage de ce monde, \
         puis évalué sur les personnes du champ légal qui ne perçoivent pas {the}{b} (personnes de la table \
         d'apprentissage et oppositions exclues). Référence : gradient boosting (scikit-learn \
         `HistGradientBoostingClassifier`) sur les mêmes variables et les mêmes lignes étiquetées. Plafond : la \
         probabilité exacte de non-recours sachant tout ce que les fichiers montrent, que le générateur calcule. \
         Le générateur `realiste` est celui sur lequel les modèles ont été construits ; `realiste-variante` est le \
         même générateur réglé autrement (lois de recours plus marquées, plus d'adultes hébergés et \
         d'indépendants, contacts manquants, enquête plus petite et plus bruitée), sur lequel ils ne l'ont pas \
         été. Source : `{CROSS_WORLD_PATH}`, écrit par `bench/python/cross_world.py`.\n"
    );
    let mut shown = 0;
    for w in &cw.worlds {
        let Some(r) = w.benefits.get(b) else {
            continue;
        };
        shown += 1;
        let month = Month::parse(&w.run_month).map_or_else(|| w.run_month.clone(), fr::month);
        let measured = fr::date(&w.measured).unwrap_or_else(|| w.measured.clone());
        let commit = w.commit.as_deref().unwrap_or(fr::ND);
        let _ = writeln!(
            s,
            "### Monde `{}` : générateur `{}`, graine {}, {} personnes, mois {month}\n\n\
             Mesuré le {measured} au commit `{commit}`. Population évaluée : {} personnes, dont {} en \
             non-recours ({}).\n",
            w.label,
            w.world,
            w.seed,
            fr::count(w.people),
            fr::count(r.population),
            fr::count(r.positives),
            pct(r.prevalence)
        );
        let _ = writeln!(
            s,
            "| score | AUC | précision (lift) 1 % | 3 % | 5 % | 10 % | Brier | ECE | pente de calibration |\n\
             |:---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (key, name) in CROSS_WORLD_SCORES {
            let Some(m) = r.scores.get(key) else {
                continue;
            };
            let tops: Vec<String> = TOP_SHARES
                .iter()
                .map(|t| {
                    m.top.get(*t).map_or(fr::ND.to_string(), |x| {
                        format!(
                            "{} ({})",
                            pct(x.precision),
                            fr::or_nd(x.lift, |v| fr::number(v, 2))
                        )
                    })
                })
                .collect();
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} |",
                fr::number(m.auc, 3),
                tops.join(" | "),
                fr::number(m.brier, 4),
                fr::number(m.ece, 3),
                fr::or_nd(m.calibration_slope, |v| fr::number(v, 2))
            );
        }
        let _ = writeln!(s);
    }
    if shown == 0 {
        let _ = writeln!(s, "Aucun monde mesuré pour {the}{b}.\n");
    }
    let _ = writeln!(
        s,
        "Précision : part de personnes en non-recours parmi les premiers 1, 3, 5 ou 10 % du classement ; lift : \
         cette précision divisée par la part en non-recours de toute la population évaluée. ECE : écart moyen, \
         pondéré par décile du score, entre la probabilité prédite et le taux observé. Pente de calibration : 1 \
         quand l'étalement des probabilités est juste, moins de 1 quand elles sont trop extrêmes, plus de 1 \
         quand elles sont trop resserrées. Les listes suivent le classement (AUC, précision) ; la calibration dit \
         si une probabilité de 30 % correspond à 30 % de personnes en non-recours dans la population évaluée, \
         que la table d'apprentissage, où les allocataires sont sur-représentés, ne reproduit pas.\n"
    );
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

/// Which rows the deployed coefficients come from, and what the test part then measures.
fn fitted_on(t: &recours_models::train::TrainingData) -> String {
    if t.fitted_rows == t.rows && t.test_rows > 0 {
        format!(
            "Les variables, les interactions et la force de régularisation sont choisies sur la partie \
             apprentissage ; le modèle déployé (coefficients ci-dessous) est ensuite estimé de nouveau sur les {} \
             lignes étiquetées. Les mesures sur l'échantillon de test décrivent la même procédure estimée sur la \
             partie apprentissage seule : une estimation prudente du modèle déployé.",
            fr::count(t.rows)
        )
    } else {
        format!(
            "Le modèle déployé est estimé sur les {} lignes de la partie apprentissage ; l'échantillon de test n'a \
             servi qu'aux mesures.",
            fr::count(t.train_rows)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded summary parses, and every world has the three benefits with the
    /// scores the cards show (the file is only written by `bench/python/cross_world.py`).
    #[test]
    fn cross_world_summary_parses_and_has_every_benefit() {
        let cw = cross_world().unwrap();
        assert!(cw.worlds.len() >= 2, "{} worlds", cw.worlds.len());
        for w in &cw.worlds {
            assert!(
                fr::date(&w.measured).is_some(),
                "{}: {}",
                w.label,
                w.measured
            );
            assert!(Month::parse(&w.run_month).is_some(), "{}", w.label);
            assert!(w.commit.is_some(), "{}: no commit", w.label);
            for b in ["PPA", "RSA", "ASPA"] {
                let r = &w.benefits[b];
                assert!(r.positives > 0 && r.positives < r.population);
                for (key, _) in CROSS_WORLD_SCORES {
                    let m = &r.scores[key];
                    assert!((0.5..=1.0).contains(&m.auc), "{} {b} {key}", w.label);
                    for t in TOP_SHARES {
                        assert!((0.0..=1.0).contains(&m.top[t].precision));
                    }
                }
            }
        }
    }

    /// The section shows the file's figures in French: AUC to three decimals, precision as a
    /// percentage with its lift, ECE and calibration slope, the world, its commit and date.
    #[test]
    fn cross_world_section_renders_the_figures_in_french() {
        let text = r#"{"worlds": [{"label": "w1", "world": "realiste", "seed": 7,
            "people": 200000, "run_month": "2026-09", "commit": "abc123", "measured": "2026-12-08",
            "benefits": {"RSA": {"population": 49635, "positives": 3222, "prevalence": 0.064914,
              "scores": {
                "recours": {"auc": 0.98212, "brier": 0.02401, "ece": 0.0312, "calibration_slope": 0.874,
                  "top": {"1%": {"precision": 0.998, "lift": 15.37}, "3%": {"precision": 0.92, "lift": 14.17},
                          "5%": {"precision": 0.831, "lift": 12.8}, "10%": {"precision": 0.585, "lift": 9.01}}},
                "oracle": {"auc": 0.995, "brier": 0.0137, "ece": 0.002, "calibration_slope": null,
                  "top": {"1%": {"precision": 1.0, "lift": 15.4}, "3%": {"precision": 0.975, "lift": 15.02},
                          "5%": {"precision": 0.923, "lift": 14.2}, "10%": {"precision": 0.634, "lift": 9.77}}}}}}}]}"#;
        let cw: CrossWorld = serde_json::from_str(text).unwrap();
        let mut s = String::new();
        cross_world_section(&mut s, "RSA", &cw);
        for expected in [
            "### Monde `w1` : générateur `realiste`, graine 7, 200\u{202f}000 personnes, mois septembre 2026",
            "Mesuré le 8 décembre 2026 au commit `abc123`",
            "49\u{202f}635 personnes, dont 3\u{202f}222 en non-recours (6,5\u{a0}%)",
            "| modèle recours (même forme que ce modèle) | 0,982 | 99,8\u{a0}% (15,37) | 92,0\u{a0}% (14,17) | 83,1\u{a0}% (12,80) | 58,5\u{a0}% (9,01) | 0,0240 | 0,031 | 0,87 |",
            "| plafond : probabilité exacte | 0,995 | 100,0\u{a0}% (15,40) |",
            "| 0,0137 | 0,002 | n.d. |",
            "ne viennent pas des données de cette exécution",
        ] {
            assert!(s.contains(expected), "{expected}\nnot in:\n{s}");
        }
        // No gradient-boosting row when the file has none; no world for another benefit.
        assert!(!s.contains("gradient boosting |"));
        let mut other = String::new();
        cross_world_section(&mut other, "PPA", &cw);
        assert!(other.contains("Aucun monde mesuré pour la PPA."));
    }
}
