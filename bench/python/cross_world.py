#!/usr/bin/env python3
"""Cross-world evaluation of recours' lists against reference models and the ceiling
(issue 20, items 4 and 5).

For one synthetic world (a data folder with `verite`) and one recours run on it, per
benefit (PPA, RSA, ASPA), compares on the same evaluation population:

  recours    the probability of recours' model (`scores.parquet`, column `probabilite`);
  gbm        scikit-learn HistGradientBoostingClassifier trained on the learning table
             (`apprentissage`) joined to the run's `features.parquet` (same rows, same
             feature columns as recours' model of that benefit), seeded, no early
             stopping; learning_rate x max_leaf_nodes x number of trees chosen by a
             stratified 5-fold CV on log-loss;
  logistic   scikit-learn LogisticRegression on the same features, standardised (median
             imputation with missing indicators if a column has nulls), C chosen by the
             same 5-fold CV on log-loss (a careful linear reference);
  gbm_truth  a diagnostic, not a deployable model: the same GBM trained on verite's truth
             for every feature row of the evaluation population, 2-fold cross-fitted by
             pseudo_id (fixed parameters). What the feature table can tell at best with
             plentiful labels: recours -> gbm_truth is model form and label scarcity,
             gbm_truth -> oracle the information the feature table does not carry;
  oracle     `verite.p_oracle` when the world has it: the exact posterior
             P(entitled and not claiming | every observable), the ceiling.

Evaluation population of benefit B: the people of `verite` for B who carry the benefit's
unit (`porteur`: verite has a row per adult of the unit, with the unit's truth; recours
scores the one who would claim), are in its legal scope (`champ`, when verite has the
column) and do not receive it (`recourt` false, or not eligible),
less every person of the learning table (any benefit)
and every person with an opposition in `contacts`. Truth = eligible and not claiming.
People that recours does not score (absent from `scores.parquet` for B, hence never
listable) get the lowest score (below 0) for recours, gbm and logistic, which score the
rows of `features.parquet` only; their number is reported, by role in the foyer
(`foyers`), by regime (`personnes`) and by kind of unit (`verite.unite`, when present).

Metrics per score: AUC (ties count one half) over the population, and over the people
recours scores only (`auc_scored`); precision and lift (precision / prevalence)
in the top 1, 3, 5 and 10 % of the population (sorted by score, ties broken by
pseudo_id); calibration over the population: Brier score (unscored people at p = 0),
expected vs observed non-take-up by decile of the score, the expected calibration error over
those deciles (`ece`) and the calibration slope (logistic recalibration on logit p); counts.

Usage (Python with bench/python/requirements.txt):

    python bench/python/cross_world.py --data data-samples --run runs/sample \
        --label sample --out bench/results/cross-world/sample.json

    recours generate --people 200000 --month 2026-09 --seed 11 --out W/simple-200k
    # config: a copy of config/sample.toml whose inputs, verite, reference files and
    # output point at that folder (paths are relative to the config file)
    recours --config simple-200k.toml --output W/runs/simple-200k run
    python bench/python/cross_world.py --data W/simple-200k \
        --run W/runs/simple-200k --label simple-200k \
        --out bench/results/cross-world/simple-200k.json

Writes FILE.json (sorted keys, rounded to 6 decimals: identical from run to run) and
prints a Markdown table on stdout. With `--summary bench/results/cross-world.json --world
realiste --seed 7`, also replaces this world's entry (by label) in the summary the model
cards embed at build time: per benefit, AUC, precision and lift at 1/3/5/10 %, Brier, ECE
and calibration slope of recours, gbm, logistic and oracle, with the world's generator,
seed, size and run month, recours' commit (from the run's manifest) and the date measured.
This script is the only writer of that file. Single-threaded by default; 1.5-3 minutes on the bundled
sample and 3-5 on 200 000 people (most of it the GBM grid: 4 settings x 5 folds x 3 benefits).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

# One thread by default (OpenMP of HistGradientBoosting, BLAS), set before they load: on a
# shared 2-core machine, 2 OpenMP threads made a small fit 60x slower (spin-waiting against
# other processes) and the learning tables are small. Override with OMP_NUM_THREADS.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

BENEFITS = ("PPA", "RSA", "ASPA")
TOPS = (0.01, 0.03, 0.05, 0.10)
SEED = 2025
FOLDS = 5
# GBM grid: learning rate x leaves; the number of trees (1..MAX_TREES) is chosen on the
# same folds from the staged predictions, so early stopping is not needed.
GBM_LEARNING_RATES = (0.03, 0.1)
GBM_LEAVES = (7, 31)
GBM_MAX_TREES = 500
GBM_MIN_LEAF = 20
LOGIT_CS = tuple(float(c) for c in np.logspace(-4, 3, 15))
ID_COLUMNS = ("pseudo_id", "prestation")


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------
def parquet_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise SystemExit(f"no Parquet file under {path}")
        return files
    return [path]


def read_table(data: Path, name: str, columns: list[str] | None = None,
               required: bool = True) -> pl.DataFrame | None:
    """`name.parquet` or a folder `name/` of Parquet files (a sharded world)."""
    for candidate in (data / f"{name}.parquet", data / name):
        if candidate.exists():
            frames = [pl.read_parquet(f, columns=columns, hive_partitioning=False)
                      for f in parquet_files(candidate)]
            return pl.concat(frames, how="vertical_relaxed")
    if required:
        raise SystemExit(f"{name}: neither {name}.parquet nor {name}/ in {data}")
    return None


def read_contacts_opposition(data: Path) -> tuple[set[str], str]:
    df = read_table(data, "contacts", ["pseudo_id", "opposition"], required=False)
    source = "contacts.parquet"
    if df is None:
        csv = data / "csv" / "contacts.csv"
        if not csv.exists():
            return set(), "none"
        df = pl.read_csv(csv, separator=";", columns=["pseudo_id", "opposition"],
                         schema_overrides={"pseudo_id": pl.String})
        source = "csv/contacts.csv"
    opp = df.filter(pl.col("opposition").cast(pl.String).str.to_lowercase()
                    .is_in(["true", "1"]))
    return set(opp["pseudo_id"].to_list()), source


def recours_commit(run: Path) -> str | None:
    """The commit recours was built from (manifest.json), for the record."""
    manifest = run / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text()).get("git_commit")
    return None


def run_month(run: Path, labels: pl.DataFrame) -> str:
    manifest = run / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        for key in ("month", "run_month"):
            if isinstance(m.get(key), str):
                return m[key]
        cfg = m.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("month"), str):
            return cfg["month"]
    # Fall back to the latest labelled month.
    return max(labels["mois_reference"].to_list())


def model_features(run: Path, benefit: str, table_columns: list[str]) -> list[str]:
    """The feature names of recours' model of `benefit` (models/<B>.json) that the feature
    table has; every numeric column of the table when the artefact does not say."""
    path = run / "models" / f"{benefit}.json"
    names: list[str] = []
    if path.exists():
        art = json.loads(path.read_text())
        for key in ("features", "feature_names"):
            v = art.get(key)
            if isinstance(v, list) and v:
                names = [x if isinstance(x, str) else x.get("name") for x in v]
                break
    if not names:
        names = [c for c in table_columns if c not in ID_COLUMNS]
    return [n for n in names if n in table_columns]


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------
def folds_of(y: np.ndarray):
    from sklearn.model_selection import StratifiedKFold
    return list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(
        np.zeros(len(y)), y))


def log_loss_sum(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).sum())


def fit_gbm(x: np.ndarray, y: np.ndarray):
    from sklearn.ensemble import HistGradientBoostingClassifier

    def make(lr, leaves, trees):
        return HistGradientBoostingClassifier(
            learning_rate=lr, max_leaf_nodes=leaves, max_iter=trees,
            min_samples_leaf=GBM_MIN_LEAF, l2_regularization=0.0, early_stopping=False,
            random_state=SEED)

    folds = folds_of(y)
    grid = []
    for lr in GBM_LEARNING_RATES:
        for leaves in GBM_LEAVES:
            loss = np.zeros(GBM_MAX_TREES)
            for tr, te in folds:
                m = make(lr, leaves, GBM_MAX_TREES).fit(x[tr], y[tr])
                for k, p in enumerate(m.staged_predict_proba(x[te])):
                    loss[k] += log_loss_sum(y[te], p[:, 1])
            k = int(np.argmin(loss))
            grid.append({"learning_rate": lr, "max_leaf_nodes": leaves, "trees": k + 1,
                         "cv_log_loss": float(loss[k] / len(y))})
    best = min(grid, key=lambda g: (round(g["cv_log_loss"], 12), g["trees"]))
    model = make(best["learning_rate"], best["max_leaf_nodes"], best["trees"]).fit(x, y)
    return model, {"chosen": best, "grid": grid}


def fit_logistic(x: np.ndarray, y: np.ndarray):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def make(c):
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=c, solver="lbfgs", max_iter=10_000, tol=1e-8))

    folds = folds_of(y)
    grid = []
    for c in LOGIT_CS:
        loss = 0.0
        for tr, te in folds:
            m = make(c).fit(x[tr], y[tr])
            loss += log_loss_sum(y[te], m.predict_proba(x[te])[:, 1])
        grid.append({"C": c, "cv_log_loss": loss / len(y)})
    best = min(grid, key=lambda g: (round(g["cv_log_loss"], 12), g["C"]))
    model = make(best["C"]).fit(x, y)
    return model, {"chosen": best, "grid": grid}


def fit_feature_ceiling(fb: pl.DataFrame, x_all: np.ndarray, pop: pl.DataFrame,
                        model_scores: pl.DataFrame):
    """What the feature table can tell at best: a GBM trained on verite's truth (eligible and
    not claiming) for every feature row in the population, 2-fold cross-fitted by pseudo_id
    (each row is scored by the model of the other half: no row sees its own label). Fixed
    parameters, no CV: the labels are plentiful. A diagnostic, not a deployable model: the gap
    recours -> gbm_truth is the model form and the scarcity of labels, gbm_truth -> oracle
    the information the feature table does not carry."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    truth = pop.select("pseudo_id", (pl.col("eligible") & ~pl.col("recourt"))
                       .cast(pl.Int64).alias("t"))
    rows = fb.select("pseudo_id").with_row_index("row").join(truth, on="pseudo_id",
                                                              how="left")
    half = (rows["pseudo_id"].str.slice(0, 8).str.to_integer(base=16, strict=False)
            .fill_null(0) % 2).to_numpy()
    labelled = rows["t"].is_not_null().to_numpy()
    t = rows["t"].fill_null(0).to_numpy()
    pred = np.zeros(len(rows))
    for k in (0, 1):
        train = labelled & (half != k)
        m = HistGradientBoostingClassifier(
            learning_rate=0.1, max_leaf_nodes=31, max_iter=300, min_samples_leaf=50,
            l2_regularization=1.0, early_stopping=False, random_state=SEED)
        m.fit(x_all[train], t[train])
        pred[half == k] = m.predict_proba(x_all[half == k])[:, 1]
    info = {"rows": int(labelled.sum()), "positives": int(t[labelled].sum()),
            "params": "learning_rate 0.1, max_leaf_nodes 31, 300 trees, min_samples_leaf 50, "
                      "l2 1.0, 2-fold cross-fit by pseudo_id"}
    return model_scores.with_columns(pl.Series("gbm_truth", pred)), info


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------
def auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from scipy.stats import rankdata
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    r = rankdata(s)  # average ranks: ties count one half
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def metrics(y: np.ndarray, s: np.ndarray, ids: np.ndarray, p: np.ndarray | None,
            scored: np.ndarray) -> dict:
    """s: ranking score (unscored people below every probability); p: probability for
    calibration (unscored people at 0), None when the score is not a probability."""
    n = len(y)
    prevalence = float(y.mean()) if n else 0.0
    # Descending score, ties by pseudo_id: a deterministic order.
    order = np.lexsort((ids, -s))
    ys = y[order]
    # auc_scored: among the people recours scores only (how well the score ranks the
    # population it sees; `auc` also pays for the people it never scores).
    out = {"auc": auc(y, s), "auc_scored": auc(y[scored], s[scored]), "top": {}}
    for t in TOPS:
        k = max(1, int(math.ceil(t * n)))
        prec = float(ys[:k].mean())
        out["top"][f"{round(t * 100)}%"] = {
            "k": k, "precision": prec,
            "lift": prec / prevalence if prevalence > 0 else None,
            "recall": float(ys[:k].sum() / y.sum()) if y.sum() else None,
        }
    if p is not None:
        out["brier"] = float(np.mean((p - y) ** 2))
        out["mean_probability"] = float(p.mean())
        deciles = []
        # Decile 1 = the highest scores; same order as above.
        bounds = np.linspace(0, n, 11).round().astype(int)
        ps = p[order]
        for d in range(10):
            a, b = bounds[d], bounds[d + 1]
            deciles.append({"decile": d + 1, "n": int(b - a),
                            "expected": float(ps[a:b].mean()) if b > a else None,
                            "observed": float(ys[a:b].mean()) if b > a else None})
        out["calibration_deciles"] = deciles
        # Expected calibration error over those deciles: the mean gap between predicted and
        # observed rates, weighted by the deciles' sizes (0 = calibrated on this population).
        out["ece"] = float(sum(d["n"] * abs(d["expected"] - d["observed"])
                               for d in deciles if d["n"] > 0) / n) if n else None
        out["calibration_slope"] = calibration_slope(y, p)
    return out


def calibration_slope(y: np.ndarray, p: np.ndarray) -> float | None:
    """Slope b of the logistic recalibration y ~ a + b * logit(p), unpenalised (1 =
    calibrated spread; below 1 the probabilities are too extreme, above 1 too timid).
    Probabilities of exactly 0 or 1 (unscored people, a certain posterior) are clipped to
    1e-6 from the bounds so that their logit is finite."""
    from sklearn.linear_model import LogisticRegression
    if y.min() == y.max():
        return None
    q = np.clip(p, 1e-6, 1 - 1e-6)
    z = np.log(q / (1 - q)).reshape(-1, 1)
    m = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=10_000, tol=1e-10).fit(z, y)
    return float(m.coef_[0, 0])


def rounded(x):
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------
def evaluate_benefit(b: str, verite: pl.DataFrame, labels: pl.DataFrame,
                     features: pl.DataFrame, scores: pl.DataFrame, learning_ids: set[str],
                     opposed: set[str], roles: pl.DataFrame | None,
                     regimes: pl.DataFrame | None, run: Path,
                     log, feature_ceiling: bool = True) -> dict:
    t0 = time.perf_counter()
    fb = features.filter(pl.col("prestation") == b).sort("pseudo_id")
    names = model_features(run, b, fb.columns)
    if fb.height == 0 or not names:
        return {"skipped": "no feature rows"}
    fb = fb.unique("pseudo_id", keep="first", maintain_order=True)
    x_all = fb.select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()

    # Learning rows: the labels of B joined to the feature rows (as recours trains).
    lb = (labels.filter(pl.col("prestation") == b)
          .select("pseudo_id", pl.col("non_recours").cast(pl.Int64))
          .unique("pseudo_id", keep="first", maintain_order=True))
    train = (fb.select("pseudo_id").with_row_index("row")
             .join(lb, on="pseudo_id", how="inner").sort("pseudo_id"))
    rows = train["row"].to_numpy()
    y_train = train["non_recours"].to_numpy()
    x_train = x_all[rows]
    info = {"features": names, "feature_rows": fb.height,
            "labels": lb.height, "labels_used": int(len(rows)),
            "labels_used_positive": int(y_train.sum())}
    log(f"{b}: {fb.height} feature rows, {len(rows)} labelled rows "
        f"({int(y_train.sum())} positive), {len(names)} features")

    gbm, gbm_info = fit_gbm(x_train, y_train)
    log(f"{b}: gbm {gbm_info['chosen']} ({time.perf_counter() - t0:.1f} s)")
    logit, logit_info = fit_logistic(x_train, y_train)
    log(f"{b}: logistic C={logit_info['chosen']['C']:.4g} ({time.perf_counter() - t0:.1f} s)")
    model_scores = fb.select("pseudo_id").with_columns(
        pl.Series("gbm", gbm.predict_proba(x_all)[:, 1]),
        pl.Series("logistic", logit.predict_proba(x_all)[:, 1]))

    # Evaluation population.
    vb_all = verite.filter(pl.col("prestation") == b)
    # verite has a row per adult of the benefit unit; `porteur` marks the one who carries
    # (claims) it: one row per unit, the person recours scores. Without the column, every
    # row counts.
    vb = vb_all.filter(pl.col("porteur")) if "porteur" in vb_all.columns else vb_all
    # `champ` (when verite has it): the benefit's legal scope on observables.
    n_out_of_scope = n_out_of_scope_positive = 0
    if "champ" in vb.columns:
        out = vb.filter(~pl.col("champ").fill_null(False))
        n_out_of_scope = out.height
        n_out_of_scope_positive = out.filter(pl.col("eligible") & ~pl.col("recourt")).height
        vb = vb.filter(pl.col("champ").fill_null(False))
    not_receiving = vb.filter(~pl.col("recourt") | ~pl.col("eligible"))
    pop = not_receiving.unique("pseudo_id", keep="first", maintain_order=True)
    n_scope = pop.height
    if feature_ceiling:
        model_scores, ceiling_info = fit_feature_ceiling(fb, x_all, pop, model_scores)
        log(f"{b}: feature-table ceiling {ceiling_info} ({time.perf_counter() - t0:.1f} s)")
    in_learning = pop["pseudo_id"].is_in(list(learning_ids))
    opp = pop["pseudo_id"].is_in(list(opposed))
    pop = pop.filter(~in_learning & ~opp).sort("pseudo_id")
    counts = {
        "verite_rows": vb_all.height,
        "verite_rows_not_porteur": vb_all.height - vb.height,
        "verite_rows_porteur_in_scope": vb.height,
        "left_out_not_in_champ": n_out_of_scope,
        "left_out_not_in_champ_positive": n_out_of_scope_positive,
        "not_receiving": n_scope,
        "left_out_learning_table": int(in_learning.sum()),
        "left_out_opposition": int((opp & ~in_learning).sum()),
        "not_eligible_but_recourt": int(vb.filter(~pl.col("eligible") & pl.col("recourt")).height),
    }
    sb = (scores.filter(pl.col("prestation") == b).select("pseudo_id", "probabilite")
          .unique("pseudo_id", keep="first", maintain_order=True))
    extra = [c for c in ("p_oracle", "ressources_cachees", "unite") if c in pop.columns]
    cols = ["pseudo_id", "eligible", "recourt"] + extra
    ev = (pop.select(cols)
          .join(sb, on="pseudo_id", how="left")
          .join(model_scores, on="pseudo_id", how="left")
          .with_columns(((pl.col("eligible") & ~pl.col("recourt")).cast(pl.Int64)).alias("y"))
          .sort("pseudo_id"))
    y = ev["y"].to_numpy()
    ids = ev["pseudo_id"].to_numpy()
    absent = ev["probabilite"].is_null().to_numpy()
    absent_features = ev["gbm"].is_null().to_numpy()
    counts.update({
        "population": ev.height, "positives": int(y.sum()),
        "prevalence": float(y.mean()) if len(y) else None,
        "absent_from_scores": int(absent.sum()),
        "absent_from_scores_positive": int(y[absent].sum()),
        "absent_from_features": int(absent_features.sum()),
        "scores_not_in_population": int(sb.height - (~absent).sum()),
    })
    if "ressources_cachees" in ev.columns:
        hidden = ev["ressources_cachees"].fill_null(False).to_numpy()
        counts["absent_positive_ressources_cachees"] = int((absent & hidden & (y == 1)).sum())
    if "p_oracle" in ev.columns:
        counts["p_oracle_missing"] = int(ev["p_oracle"].is_null().sum())
    # Who is never scored: by role in the foyer, by regime, by verite's unit kind.
    unites = ev.select("pseudo_id", "unite") if "unite" in ev.columns else None
    for key, table in (("role", roles), ("regime", regimes), ("unite", unites)):
        if table is None or not absent.any():
            continue
        ab = (ev.filter(pl.Series(absent)).select("pseudo_id", "y")
              .join(table, on="pseudo_id", how="left")
              .with_columns(pl.col(key).fill_null("inconnu"))
              .group_by(key).agg(pl.len().alias("absent"),
                                 pl.col("y").sum().alias("absent_positive"))
              .sort(key))
        counts[f"absent_by_{key}"] = {r[key]: {"absent": r["absent"],
                                              "absent_positive": r["absent_positive"]}
                                     for r in ab.iter_rows(named=True)}

    if feature_ceiling:
        info["feature_ceiling"] = ceiling_info
    result = {"counts": counts, "training": info,
              "gbm_cv": gbm_info, "logistic_cv": logit_info, "scores": {}}
    for name, col in (("recours", "probabilite"), ("gbm", "gbm"), ("logistic", "logistic"),
                      ("gbm_truth", "gbm_truth")):
        if col not in ev.columns:
            continue
        p = ev[col].fill_null(0.0).to_numpy()
        s = ev[col].fill_null(-1.0).to_numpy()
        result["scores"][name] = metrics(y, s, ids, p, ~absent)
    if "p_oracle" in ev.columns:
        p = ev["p_oracle"].cast(pl.Float64).fill_null(0.0).to_numpy()
        result["scores"]["oracle"] = metrics(y, p, ids, p, ~absent)
    result["seconds"] = time.perf_counter() - t0
    return result


def ordered(benefits: dict):
    """PPA, RSA, ASPA first (the JSON file sorts its keys)."""
    rank = lambda b: (BENEFITS.index(b) if b in BENEFITS else len(BENEFITS), b)
    return sorted(benefits.items(), key=lambda kv: rank(kv[0]))


def markdown(label: str, res: dict) -> str:
    names = ["recours", "gbm", "logistic", "gbm_truth", "oracle"]
    lines = [f"### {label}", "",
             "AUC / precision in the top 3 %:", "",
             "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for b, r in ordered(res["benefits"]):
        if "scores" not in r:
            continue
        cells = []
        for n in names:
            m = r["scores"].get(n)
            cells.append("–" if m is None else
                         f"{m['auc']:.3f} / {m['top']['3%']['precision']:.3f}")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines += ["", "Details (unscored: people recours does not score, at the lowest score):", ""]
    head = "| benefit | population | positives | unscored (positives) | score | AUC | " \
           "AUC scored | prec. 1 % | prec. 3 % | prec. 5 % | prec. 10 % | lift 3 % | Brier |"
    lines += [head, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b, r in ordered(res["benefits"]):
        if "scores" not in r:
            continue
        c = r["counts"]
        first = True
        for n in names:
            m = r["scores"].get(n)
            if m is None:
                continue
            t = m["top"]
            f = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
            cells = [b, str(c["population"]), str(c["positives"]),
                     f"{c['absent_from_scores']} ({c['absent_from_scores_positive']})"] \
                if first else ["", "", "", ""]
            cells += [n, f(m["auc"]), f(m["auc_scored"]), f(t["1%"]["precision"]), f(t["3%"]["precision"]),
                      f(t["5%"]["precision"]), f(t["10%"]["precision"]),
                      f(t["3%"]["lift"], 2), f(m.get("brier"), 4)]
            lines.append("| " + " | ".join(cells) + " |")
            first = False
    lines.append("")
    lines.append("Calibration (top decile / decile 5 / bottom decile: expected → observed):")
    lines.append("")
    for b, r in ordered(res["benefits"]):
        if "scores" not in r:
            continue
        parts = []
        for n in names:
            m = r["scores"].get(n)
            if m is None:
                continue
            d = m["calibration_deciles"]
            parts.append(f"{n} " + ", ".join(
                f"{d[i]['expected']:.3f}→{d[i]['observed']:.3f}" for i in (0, 4, 9)))
        lines.append(f"- {b}: " + "; ".join(parts))
    return "\n".join(lines)


# What the summary keeps of each score (the model cards show it).
SUMMARY_SCORES = ("recours", "gbm", "logistic", "oracle")
SUMMARY_DESCRIPTION = (
    "Cross-world evaluation summary written by bench/python/cross_world.py --summary (its only "
    "writer): per synthetic world and benefit, recours' model trained and tested on that "
    "world against scikit-learn references on the same features and the exact posterior. "
    "The model cards embed this file at build time.")


def summary_entry(args, res: dict, people: int) -> dict:
    """One world's entry of the summary file: what was measured, on what, at which commit."""
    benefits = {}
    for b, r in ordered(res["benefits"]):
        if "scores" not in r:
            continue
        c = r["counts"]
        scores = {}
        for name in SUMMARY_SCORES:
            m = r["scores"].get(name)
            if m is None:
                continue
            scores[name] = {
                "auc": m["auc"], "brier": m["brier"], "ece": m["ece"],
                "calibration_slope": m["calibration_slope"],
                "mean_probability": m["mean_probability"],
                "top": {k: {"precision": v["precision"], "lift": v["lift"]}
                        for k, v in m["top"].items()},
            }
        benefits[b] = {"population": c["population"], "positives": c["positives"],
                       "prevalence": c["prevalence"], "scores": scores}
    import datetime
    return {
        "label": args.label,
        "world": args.world,
        "seed": args.seed,
        "people": people,
        "run_month": res["run_month"],
        "commit": res["recours_git_commit"],
        "measured": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "benefits": benefits,
    }


def write_summary(path: Path, entry: dict) -> None:
    """Replaces this world's entry (same label) in the summary file, keeps the others, worlds
    in label order; written under a temporary name then renamed, under an exclusive lock
    (`FILE.lock`) so that evaluations of two worlds finishing together keep both entries."""
    import fcntl
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        worlds = []
        if path.exists():
            worlds = [w for w in json.loads(path.read_text())["worlds"]
                      if w["label"] != entry["label"]]
        worlds.append(entry)
        worlds.sort(key=lambda w: w["label"])
        text = json.dumps(rounded({"description": SUMMARY_DESCRIPTION, "worlds": worlds}),
                          indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path,
                    help="data folder: apprentissage, verite, contacts, foyers")
    ap.add_argument("--run", required=True, type=Path,
                    help="recours run folder: features.parquet, scores.parquet, models/")
    ap.add_argument("--label", required=True, help="name of the world in the outputs")
    ap.add_argument("--out", required=True, type=Path, help="JSON file written")
    ap.add_argument("--benefits", default=",".join(BENEFITS))
    ap.add_argument("--no-feature-ceiling", action="store_true",
                    help="leave out gbm_truth (a GBM trained on verite's truth, cross-fitted)")
    ap.add_argument("--summary", type=Path,
                    help="also record this world in the cross-world summary the model cards "
                         "embed (bench/results/cross-world.json): needs --world and --seed")
    ap.add_argument("--world", help="how the world was generated, for the summary "
                                    "(e.g. realiste, or the generator's options)")
    ap.add_argument("--seed", type=int, help="the generator's seed, for the summary")
    args = ap.parse_args()
    if args.summary is not None and (args.world is None or args.seed is None):
        ap.error("--summary needs --world and --seed")
    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr)

    verite = read_table(args.data, "verite")
    labels = read_table(args.data, "apprentissage")
    month = run_month(args.run, labels)
    labels_month = labels.filter(pl.col("mois_reference") == month)
    learning_ids = set(labels["pseudo_id"].to_list())
    opposed, contacts_source = read_contacts_opposition(args.data)
    foyers = read_table(args.data, "foyers", ["pseudo_id", "role"], required=False)
    roles = foyers.unique("pseudo_id", keep="first") if foyers is not None else None
    personnes = read_table(args.data, "personnes", ["pseudo_id", "regime"], required=False)
    people = personnes.height if personnes is not None else None
    regimes = personnes.unique("pseudo_id", keep="first") if personnes is not None else None
    features = pl.read_parquet(args.run / "features.parquet")
    scores = pl.read_parquet(args.run / "scores.parquet", columns=["pseudo_id", "prestation",
                                                                   "probabilite"])
    log(f"read: verite {verite.height}, labels {labels.height} ({labels_month.height} at "
        f"{month}), features {features.height}, scores {scores.height}, "
        f"{len(opposed)} opposed")

    import sklearn
    res = {
        "label": args.label,
        "data": args.data.resolve().name, "run": args.run.resolve().name, "run_month": month,
        "recours_git_commit": recours_commit(args.run),
        "has_p_oracle": "p_oracle" in verite.columns,
        "contacts": contacts_source,
        "settings": {"seed": SEED, "folds": FOLDS, "tops": list(TOPS),
                     "gbm": {"learning_rates": list(GBM_LEARNING_RATES),
                             "max_leaf_nodes": list(GBM_LEAVES),
                             "max_trees": GBM_MAX_TREES, "min_samples_leaf": GBM_MIN_LEAF},
                     "logistic_Cs": list(LOGIT_CS),
                     "sklearn": sklearn.__version__, "polars": pl.__version__},
        "benefits": {},
    }
    for b in [x.strip() for x in args.benefits.split(",") if x.strip()]:
        if verite.filter(pl.col("prestation") == b).height == 0:
            continue
        res["benefits"][b] = evaluate_benefit(b, verite, labels_month, features, scores,
                                              learning_ids, opposed, roles, regimes, args.run,
                                              log, not args.no_feature_ceiling)
    seconds = time.perf_counter() - t0
    for r in res["benefits"].values():
        r.pop("seconds", None)
    out = rounded(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(markdown(args.label, out))
    if args.summary is not None:
        write_summary(args.summary, summary_entry(args, out, people))
        log(f"summary: {args.label} recorded in {args.summary}")
    log(f"done in {seconds:.1f} s → {args.out}")


if __name__ == "__main__":
    main()
