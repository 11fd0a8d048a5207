//! `notebooks-export/`: Jupyter notebooks (nbformat 4.5) of a run — an overview and one per
//! benefit — with their outputs already rendered (the figures recours computed and the
//! report's SVG charts), and code cells that reload the run's files with polars and print
//! the same lines: executing a notebook reproduces its stored outputs.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::error::Result;
use crate::io::output;
use crate::stages::report::figures::Figures;

const SETUP: &str = "import json\nimport os\nfrom pathlib import Path\n\nimport polars as pl\nfrom IPython.display import SVG, display\n\n# The run folder: this notebook's parent folder unless RECOURS_RUN says otherwise.\nRUN = Path(os.environ.get(\"RECOURS_RUN\", \"..\")).resolve()";

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

fn show_chart(nb: &mut Notebook, run: &Path, id: &str) {
    let path = run.join("report").join(format!("{id}.svg"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        nb.code(
            &format!("display(SVG(filename=str(RUN / \"report\" / \"{id}.svg\")))"),
            vec![svg(&text)],
        );
    }
}

/// Writes the notebooks into `dir`; the report's SVG files are read from `report_root`
/// (the folder holding `report/`, written just before). Returns how many were written.
pub fn write_with(dir: &Path, report_root: &Path, fig: &Figures) -> Result<usize> {
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
    show_chart(&mut nb, report_root, "listes-par-caisse");
    show_chart(&mut nb, report_root, "campagne-retours");
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
        nb.code(
            &format!(
                "model = json.loads((RUN / \"models\" / \"{b}.json\").read_text(encoding=\"utf-8\"))\ncoefs = sorted(model[\"coefficients\"], key=lambda c: (-abs(c[\"standardized\"]), c[\"name\"]))[:10]\nfor c in coefs:\n    print(f\"{{c['name']}}: {{c['standardized']:+.4f}} [{{c['ci95_low']:+.4f}} ; {{c['ci95_high']:+.4f}}]\")"
            ),
            vec![stdout(&c)],
        );
        if let Some(sc) = fig.scores.get(b) {
            let bins: Vec<String> = sc.bins.iter().map(usize::to_string).collect();
            nb.code(
                &format!(
                    "s = pl.read_parquet(RUN / \"scores.parquet\").filter(pl.col(\"prestation\") == \"{b}\")\nclasses = (\n    s.select((pl.col(\"probabilite\") * 20).floor().clip(0, 19).cast(pl.Int64).alias(\"classe\"))\n    .group_by(\"classe\").len().sort(\"classe\")\n)\ncounts = dict(classes.iter_rows())\nprint(f\"{{s.height}} personnes scorées, probabilité moyenne {{s['probabilite'].mean():.4f}}\")\nprint(\"par classe de 0,05 :\", \" \".join(str(counts.get(i, 0)) for i in range(20)))"
                ),
                vec![stdout(&format!(
                    "{} personnes scorées, probabilité moyenne {:.4}\npar classe de 0,05 : {}\n",
                    sc.rows,
                    sc.mean,
                    bins.join(" ")
                ))],
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
        for id in [
            "roc",
            "gain",
            "distribution-scores",
            "coefficients",
            "rappel-par-groupe",
        ] {
            show_chart(&mut nb, report_root, &format!("{b}-{id}"));
        }
        write_notebook(&dir.join(format!("{b}.ipynb")), nb.value(b, &fig.run_id))?;
        written += 1;
    }
    Ok(written)
}

/// Notebooks of the stage being written: `dir` is `<stage folder>/notebooks-export`.
pub fn write(dir: &Path, fig: &Figures) -> Result<usize> {
    let root = dir.parent().unwrap_or(Path::new("."));
    write_with(dir, root, fig)
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
