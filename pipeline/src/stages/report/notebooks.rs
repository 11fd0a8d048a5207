//! `notebooks-export/`: Jupyter notebooks (nbformat 4.5) of a run — an overview and one per
//! benefit — with their outputs already rendered (the figures recours computed, and the
//! report's chart of the same data), and code cells that recompute them from the run's
//! Parquet and model files with polars and draw them again with matplotlib: executing a
//! notebook reproduces the values of its stored outputs (`tests/notebooks/check_notebooks.py`
//! compares them number by number).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::domain::disclosure;
use crate::error::Result;
use crate::io::output;
use crate::stages::features::dictionary;
use crate::stages::report::figures::{Chart, Figures};

const SETUP: &str = "import json\nimport os\nfrom pathlib import Path\n\nimport matplotlib.pyplot as plt\nimport polars as pl\n\n# The run folder: this notebook's parent folder unless RECOURS_RUN says otherwise.\nRUN = Path(os.environ.get(\"RECOURS_RUN\", \"..\")).resolve()\nMIN_CELL = 11\n\n\ndef suppress(values, min_cell=MIN_CELL):\n    \"\"\"The report's small-cell rule: counts of 1 to min_cell - 1 hidden (None), and when only\n    one is hidden, the smallest other non-zero count too.\"\"\"\n    shown = [None if 0 < v < min_cell else v for v in values]\n    if sum(v is None for v in shown) == 1:\n        others = [(v, i) for i, v in enumerate(values) if shown[i] is not None and v > 0]\n        if others:\n            shown[min(others)[1]] = None\n    return shown\n\n\ndef shown(v):\n    return \"n.d.\" if v is None else str(v)";

struct Notebook {
    cells: Vec<Value>,
}

impl Notebook {
    fn new() -> Notebook {
        Notebook { cells: Vec::new() }
    }
    fn id(&self) -> String {
        format!("cell-{}", self.cells.len() + 1)
    }
    fn markdown(&mut self, text: &str) {
        let id = self.id();
        self.cells.push(json!({
            "cell_type": "markdown",
            "id": id,
            "metadata": {},
            "source": text,
        }));
    }
    fn code(&mut self, source: &str, outputs: Vec<Value>) {
        let id = self.id();
        let n = self
            .cells
            .iter()
            .filter(|c| c["cell_type"] == "code")
            .count()
            + 1;
        self.cells.push(json!({
            "cell_type": "code",
            "execution_count": n,
            "id": id,
            "metadata": {},
            "outputs": outputs,
            "source": source,
        }));
    }
    fn value(self, title: &str, run_id: &str) -> Value {
        json!({
            "cells": self.cells,
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
                "recours": {"run_id": run_id, "title": title},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        })
    }
}

fn stdout(text: &str) -> Value {
    json!({"name": "stdout", "output_type": "stream", "text": text})
}

fn svg(svg: &str) -> Value {
    json!({
        "data": {"image/svg+xml": svg, "text/plain": "<IPython.core.display.SVG object>"},
        "metadata": {},
        "output_type": "display_data",
    })
}

/// The report's chart `id`, shown as the stored output of the cell that redraws it.
fn chart_output(charts: &[&Chart], id: &str) -> Vec<Value> {
    charts
        .iter()
        .find(|c| c.id == id)
        .map(|c| svg(&c.svg))
        .into_iter()
        .collect()
}

/// Writes the notebooks into `dir`, with `charts` (the report's) as the stored pictures of
/// the cells that redraw them. Returns how many were written.
pub fn write(dir: &Path, fig: &Figures, charts: &[&Chart]) -> Result<usize> {
    let mut written = 0;
    // Overview.
    let mut nb = Notebook::new();
    nb.markdown(&format!(
        "# recours — vue d'ensemble de l'exécution `{}`\n\nMois {}. Les sorties de ce carnet ont été calculées par recours ; \
         l'exécuter les recalcule à partir des fichiers de l'exécution (polars) et doit donner les mêmes lignes. \
         `RUN` est le dossier d'exécution (le dossier parent de ce carnet, ou la variable d'environnement `RECOURS_RUN`).",
        fig.run_id, fig.month
    ));
    nb.code(SETUP, vec![]);
    let mut q = String::new();
    if let Some(tables) = fig.quality["tables"].as_object() {
        for (t, v) in tables {
            let g = |k: &str| v[k].as_u64().unwrap_or(0);
            let _ = writeln!(
                q,
                "{t}: {} lues, {} gardées, {} rejetées",
                g("rows_in"),
                g("rows_kept"),
                g("rows_rejected")
            );
        }
    }
    nb.code(
        "quality = json.loads((RUN / \"quality.json\").read_text(encoding=\"utf-8\"))\nfor table, q in sorted(quality[\"tables\"].items()):\n    print(f\"{table}: {q['rows_in']} lues, {q['rows_kept']} gardées, {q['rows_rejected']} rejetées\")",
        vec![stdout(&q)],
    );
    let mut s = String::new();
    for (b, sc) in &fig.scores {
        let _ = writeln!(
            s,
            "{b}: {} personnes scorées, probabilité moyenne {:.4}",
            sc.rows, sc.mean
        );
    }
    nb.code(
        "scores = pl.read_parquet(RUN / \"scores.parquet\")\nby_benefit = (\n    scores.group_by(\"prestation\")\n    .agg(pl.len().alias(\"lignes\"), pl.col(\"probabilite\").mean().alias(\"moyenne\"))\n    .sort(\"prestation\")\n)\nfor r in by_benefit.iter_rows(named=True):\n    print(f\"{r['prestation']}: {r['lignes']} personnes scorées, probabilité moyenne {r['moyenne']:.4f}\")",
        vec![stdout(&s)],
    );
    let mut d = String::new();
    for (code, n) in &fig.decisions {
        let _ = writeln!(d, "{code}: {n}");
    }
    for (canal, n) in &fig.channels {
        let _ = writeln!(d, "canal {canal}: {n}");
    }
    nb.code(
        "decisions = pl.read_parquet(RUN / \"lists\" / \"decisions.parquet\")\nfor r in decisions.group_by(\"decision\").len().sort(\"decision\").iter_rows(named=True):\n    print(f\"{r['decision']}: {r['len']}\")\nlisted = decisions.filter(pl.col(\"decision\") == \"liste\")\nfor r in listed.group_by(\"canal\").len().sort(\"canal\").iter_rows(named=True):\n    print(f\"canal {r['canal']}: {r['len']}\")",
        vec![stdout(&d)],
    );
    let channels: Vec<usize> = fig.channels.values().copied().collect();
    let shown_channels = disclosure::suppress_counts(&channels, fig.fairness.min_cell);
    let mut c = String::new();
    for ((canal, _), n) in fig.channels.iter().zip(&shown_channels) {
        let _ = writeln!(
            c,
            "{canal}: {}",
            n.map_or(disclosure::HIDDEN.to_string(), |n| n.to_string())
        );
    }
    nb.code(
        "listed = pl.read_parquet(RUN / \"lists\" / \"decisions.parquet\").filter(pl.col(\"decision\") == \"liste\")\nby_channel = listed.group_by(\"canal\").len().sort(\"canal\")\nnames = by_channel[\"canal\"].to_list()\ncounts = suppress(by_channel[\"len\"].to_list())\nfor name, n in zip(names, counts):\n    print(f\"{name}: {shown(n)}\")\nfig, ax = plt.subplots(figsize=(7, 2.5))\nax.barh(names, [n or 0 for n in counts], color=\"#1f5fa8\")\nax.set_xlabel(\"personnes listées (canaux de moins de 11 non dessinés)\")\nax.set_title(\"Personnes listées par canal\")\nplt.show()",
        vec![stdout(&c)],
    );
    write_notebook(
        &dir.join("overview.ipynb"),
        nb.value("vue d'ensemble", &fig.run_id),
    )?;
    written += 1;

    for (b, a) in &fig.models {
        let mut nb = Notebook::new();
        nb.markdown(&format!(
            "# recours — {b} dans l'exécution `{}`\n\nMétriques du modèle, coefficients, distribution des scores et listes pour {b}. \
             Exécuter le carnet recalcule chaque sortie à partir des fichiers de l'exécution.",
            fig.run_id
        ));
        nb.code(SETUP, vec![]);
        let t = &a.metrics.test;
        if let (Some(auc), Some(pr)) = (t.auc, t.pr_auc) {
            nb.code(
                &format!(
                    "model = json.loads((RUN / \"models\" / \"{b}.json\").read_text(encoding=\"utf-8\"))\ntest = model[\"metrics\"][\"test\"]\nprint(f\"AUC (test) {{test['auc']:.4f}}, PR-AUC {{test['pr_auc']:.4f}}, log-loss {{test['log_loss']:.4f}}, Brier {{test['brier']:.4f}}\")"
                ),
                vec![stdout(&format!(
                    "AUC (test) {auc:.4}, PR-AUC {pr:.4}, log-loss {:.4}, Brier {:.4}\n",
                    t.log_loss, t.brier
                ))],
            );
        }
        let coefs = a.coefficients_by_weight();
        let mut c = String::new();
        for k in coefs.iter().take(10) {
            let _ = writeln!(
                c,
                "{}: {:+.4} [{:+.4} ; {:+.4}]",
                k.name, k.standardized, k.ci95_low, k.ci95_high
            );
        }
        // The features' meanings, from the dictionary, label the chart.
        let meanings: serde_json::Map<String, Value> = coefs
            .iter()
            .map(|k| {
                (
                    k.name.clone(),
                    Value::from(
                        dictionary::feature(&k.name).map_or(k.name.as_str(), |d| d.meaning),
                    ),
                )
            })
            .collect();
        let mut outputs = vec![stdout(&c)];
        outputs.extend(chart_output(charts, &format!("{b}-coefficients")));
        nb.code(
            &format!(
                "MEANING = {meaning}\nmodel = json.loads((RUN / \"models\" / \"{b}.json\").read_text(encoding=\"utf-8\"))\ncoefs = sorted(model[\"coefficients\"], key=lambda c: (-abs(c[\"standardized\"]), c[\"name\"]))\nfor c in coefs[:10]:\n    print(f\"{{c['name']}}: {{c['standardized']:+.4f}} [{{c['ci95_low']:+.4f}} ; {{c['ci95_high']:+.4f}}]\")\nfig, ax = plt.subplots(figsize=(8, 0.3 * len(coefs) + 1))\nfor i, c in enumerate(coefs):\n    color = \"#1f5fa8\" if c[\"standardized\"] >= 0 else \"#d1495b\"\n    ax.plot([c[\"ci95_low\"], c[\"ci95_high\"]], [i, i], color=color)\n    ax.plot([c[\"standardized\"]], [i], \"o\", color=color)\nax.set_yticks(range(len(coefs)), [MEANING.get(c[\"name\"], c[\"name\"])[:52] for c in coefs], fontsize=8)\nax.invert_yaxis()\nax.axvline(0, color=\"#333\")\nax.set_xlabel(\"log-odds par écart-type (bleu : augmente la probabilité de non-recours, rouge : la diminue)\")\nax.set_title(\"{b} — coefficients, intervalle à 95 %\")\nplt.show()",
                meaning = Value::Object(meanings)
            ),
            outputs,
        );
        if let Some(sc) = fig.scores.get(b) {
            let bins: Vec<String> = disclosure::suppress_counts(&sc.bins, fig.fairness.min_cell)
                .iter()
                .map(|n| n.map_or(disclosure::HIDDEN.to_string(), |n| n.to_string()))
                .collect();
            let mut outputs = vec![stdout(&format!(
                "{} personnes scorées, probabilité moyenne {:.4}\npar classe de 0,05 : {}\n",
                sc.rows,
                sc.mean,
                bins.join(" ")
            ))];
            outputs.extend(chart_output(charts, &format!("{b}-distribution-scores")));
            nb.code(
                &format!(
                    "s = pl.read_parquet(RUN / \"scores.parquet\").filter(pl.col(\"prestation\") == \"{b}\")\nclasses = (\n    s.select((pl.col(\"probabilite\") * 20).floor().clip(0, 19).cast(pl.Int64).alias(\"classe\"))\n    .group_by(\"classe\").len().sort(\"classe\")\n)\ncounts = dict(classes.iter_rows())\nbins = suppress([counts.get(i, 0) for i in range(20)])\nprint(f\"{{s.height}} personnes scorées, probabilité moyenne {{s['probabilite'].mean():.4f}}\")\nprint(\"par classe de 0,05 :\", \" \".join(shown(n) for n in bins))\nfig, ax = plt.subplots(figsize=(8, 3))\nax.bar([i * 0.05 for i in range(20)], [n or 0 for n in bins], width=0.045, align=\"edge\", color=\"#1f5fa8\")\nax.set_xlabel(\"probabilité de non-recours (classes de moins de 11 non dessinées)\")\nax.set_ylabel(\"personnes\")\nax.set_title(\"{b} — distribution des scores\")\nplt.show()"
                ),
                outputs,
            );
        }
        let (n, amount) = fig.listed_by_benefit.get(b).copied().unwrap_or((0, 0.0));
        nb.code(
            &format!(
                "d = pl.read_parquet(RUN / \"lists\" / \"decisions.parquet\").filter(\n    (pl.col(\"decision\") == \"liste\") & pl.col(\"prestations\").str.split(\"+\").list.contains(\"{b}\")\n)\nprint(f\"{{d.height}} personnes sur les listes, montant mensuel attendu cumulé {{d['montant_attendu'].sum():.2f}} €\")"
            ),
            vec![stdout(&format!(
                "{n} personnes sur les listes, montant mensuel attendu cumulé {amount:.2} €\n"
            ))],
        );
        write_notebook(&dir.join(format!("{b}.ipynb")), nb.value(b, &fig.run_id))?;
        written += 1;
    }
    Ok(written)
}

fn write_notebook(path: &Path, nb: Value) -> Result<()> {
    output::write_atomic(path, |w| {
        use std::io::Write;
        serde_json::to_writer_pretty(&mut *w, &nb).map_err(|e| {
            crate::error::RecoursError::Internal(format!("{}: {e}", path.display()))
        })?;
        w.write_all(b"\n")
            .map_err(crate::error::RecoursError::io(format!(
                "writing {}",
                path.display()
            )))
    })
}
