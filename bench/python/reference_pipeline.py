#!/usr/bin/env python3
"""Python reference pipeline for the side-by-side benchmark (issue 8).

Does the work of `recours run` on the same input files, the way a national data team
would write it with polars (lazy, vectorised expressions, no per-row Python loops) and
scikit-learn:

    read             scan every input named by the recours TOML config (parquet, hive
                     folders, French CSV), project the columns used, privacy (NIR) check
    join_households  people × households × rights × monthly resources → one row per foyer
                     with the benefit unit's resources over the reference quarters
    entitlement      RSA, PPA and ASPA estimates from the barèmes → eligibility.parquet
    features         the feature dictionary of recours (pipeline/src/features.rs) for the
                     scoring population → features.parquet
    train            one L2 logistic regression per benefit on the learning table
                     (apprentissage): stratified 75/25 split, 5-fold CV over the config's
                     alphas, standardisation, sklearn lbfgs, C = 1/alpha
    score            probability and top contributions for everyone in the scoring
                     population → scores.parquet
    rank             per caisse: merge benefits, priority = probability × amount,
                     exclusions (opposition, recent contact, min score), channels,
                     per-channel capacity, control group
    export           one CSV per caisse (lists/<caisse>.csv, French dialect), decisions,
                     national summary, campaign feedback

Per-stage wall times go to stdout (JSON on the last line) and to <out>/timings.json.
`--compare RUN` reads a recours run folder and reports the top-k overlap of the lists and
of the scores.

Specification followed: pipeline/src/{household,entitlement,eligibility,bareme,features,
training,scoring,lists,listing}.rs and models/src/train.rs of recours.

Fidelity. On the generated populations (20 000 and 1 000 000 people) eligibility.parquet is
identical to recours' (every row and column), features.parquet equal up to 5e-12 (see
below), and scoring the features with recours' own model artefacts gives the same lists
(every decision, rank, channel and reason of lists/decisions.parquet): `--compare` reports
that as `lists_top_k_with_recours_models`. Getting there took care where a quick notebook
would not bother: sums in recours' order (polars' sum_horizontal adds in another order),
divisions through numpy (polars multiplies by the reciprocal), rounding half away from zero.

Known simplifications (each one a possible source of imperfect overlap with recours):
  * Training (the one that matters): the stratified split and the CV folds are drawn
    with scikit-learn's generators (recours uses ChaCha8 streams), so the training rows
    differ, hence the coefficients and the probabilities differ slightly. The objective is
    the same (summed log-loss + alpha/2·||w||², intercept unpenalised, C = 1/alpha, lbfgs,
    gradient tolerance and iteration cap from the config); constant columns and the most
    frequent level of each complete one-hot group are dropped as recours does; alpha is
    chosen by 5-fold CV on mean log-loss over the config's alphas (`--alpha A` skips it).
    Standard errors, the scorecard, the model card and the calibration table are not
    computed; the held-out AUC is.
  * Validation: only the privacy stop (a NIR-like value in a string column) and the
    parsing of months are done; recours' per-row contract checks, rejects files and
    ingest/ copies are not reproduced (the generated data have no rejected rows), and an
    opposition carried by a *rejected* contact row (recours keeps it) cannot exist here.
  * Households: assumes the contract holds (one demandeur per foyer, at most one
    conjoint; recours takes the first conjoint by pseudo_id, as here). Several resource
    rows of one person, month and nature (two employers) are added in polars' order.
  * The 12-month means by nature (chomage_12m, retraite_12m, ij_12m, invalidite_12m) add
    months per person then members, recours members per month then months: the features
    differ in the last bits (≤ 5e-12 €), which changes no decision.
  * Exports: one `;`/decimal-comma CSV per caisse (lists/<caisse>.csv), decisions.parquet,
    summary.csv and the campaign feedback (national and per-caisse effect of contact vs
    control only); recours also writes XLSX, RFC 4180 CSV, parquet and a read-me per
    caisse, a manifest with BLAKE3 hashes of every input and output, model cards.
  * The `evaluate` stage of recours (ground truth, synthetic data only) has no
    counterpart: compare totals without it.
  * Threads: polars uses every core; BLAS is limited to one thread while training
    (`--blas-threads`), since OpenBLAS threads spinning beside polars' pool made the small
    fits about 15× slower on 2 cores.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()  # before the heavy imports: the process wall time counts them

import argparse
import functools
import json
import math
import operator
import os
import re
import resource
import struct
import sys
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import sklearn  # imported up front so that threadpool_limits sees every BLAS library
import sklearn.linear_model  # noqa: F401
from threadpoolctl import threadpool_limits

SCORED = ("ASPA", "PPA", "RSA")
ROLES = ("demandeur", "conjoint", "enfant", "autre_adulte")
STATUTS = ("locataire_prive", "locataire_hlm", "proprietaire", "heberge_gratuit", "sans_domicile")
HISTORY = 12
COUNTED_AS_RESOURCES = ("AF", "ASF", "AAH", "ASS")
HELD_RIGHTS = ("AL", "AF", "ASF", "CSS", "AAH", "ARE", "ASS", "RETRAITE", "INVALIDITE")
ENTITLEMENT_FEATURES = ("eligible_estime", "montant_estime", "marge_ressources")
CHANNELS = ("sms", "email", "telephone", "courrier")  # order of preference (lists.rs)
NIR_LIKE = r"^[1278](?:[0-9]{12}|[0-9]{14})$"
MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")

# The feature dictionary of pipeline/src/features.rs: name, one-hot group, protection,
# reason shown for a high value, reason for a low value ("" = none).
DICTIONARY = [
    ("age", None, "age", "âge avancé", "jeune âge"),
    ("age_moins_25", "tranche_age", "age", "moins de 25 ans", ""),
    ("age_25_29", "tranche_age", "age", "25 à 29 ans", ""),
    ("age_30_39", "tranche_age", "age", "30 à 39 ans", ""),
    ("age_40_49", "tranche_age", "age", "40 à 49 ans", ""),
    ("age_50_59", "tranche_age", "age", "50 à 59 ans", ""),
    ("age_60_64", "tranche_age", "age", "60 à 64 ans", ""),
    ("age_65_69", "tranche_age", "age", "65 à 69 ans", ""),
    ("age_70_74", "tranche_age", "age", "70 à 74 ans", ""),
    ("age_75_84", "tranche_age", "age", "75 à 84 ans", ""),
    ("age_85_plus", "tranche_age", "age", "85 ans ou plus", ""),
    ("couple", None, None, "vit en couple", "vit sans conjoint"),
    ("nb_enfants", None, None, "enfants à charge", "sans enfant à charge"),
    ("taille_foyer", None, None, "foyer nombreux", "foyer d'une personne"),
    ("parent_isole", None, None, "parent isolé", ""),
    ("enfant_moins_3_ans", None, None, "jeune enfant de moins de 3 ans", ""),
    ("naissance_recente", None, None, "naissance récente", ""),
    ("logement_proprietaire", "logement", None, "propriétaire de son logement", ""),
    ("logement_locataire_prive", "logement", None, "locataire du parc privé", ""),
    ("logement_locataire_hlm", "logement", None, "locataire HLM", ""),
    ("logement_heberge_gratuit", "logement", None, "hébergé gratuitement", ""),
    ("logement_sans_domicile", "logement", None, "sans domicile", ""),
    ("logement_inconnu", "logement", None, "logement inconnu", ""),
    ("revenus_activite_12m", None, None, "revenus d'activité élevés", "revenus d'activité faibles"),
    ("revenus_activite_trimestre", None, None, "revenus d'activité récents élevés",
     "revenus d'activité récents faibles"),
    ("volatilite_revenus", None, None, "revenus d'activité irréguliers", "revenus d'activité stables"),
    ("mois_sans_salaire", None, None, "mois sans salaire", "travail régulier"),
    ("chomage_12m", None, None, "indemnités chômage", "pas d'indemnités chômage"),
    ("retraite_12m", None, None, "pension de retraite élevée", "petite pension de retraite"),
    ("ij_12m", None, None, "indemnités journalières maladie", ""),
    ("invalidite_12m", None, None, "pension d'invalidité", ""),
    ("droit_al", None, None, "perçoit une aide au logement", "ne perçoit pas d'aide au logement"),
    ("droit_af", None, None, "perçoit des allocations familiales", ""),
    ("droit_asf", None, None, "perçoit l'allocation de soutien familial", ""),
    ("droit_css", None, None, "bénéficie de la complémentaire santé solidaire",
     "sans complémentaire santé solidaire"),
    ("droit_aah", None, "disability", "perçoit l'AAH", ""),
    ("droit_are", None, None, "indemnisé par France Travail", ""),
    ("droit_ass", None, None, "perçoit l'allocation de solidarité spécifique", ""),
    ("droit_retraite", None, None, "retraité", ""),
    ("droit_invalidite", None, None, "pension d'invalidité", ""),
    ("fin_droit_meme_prestation", None, None, "droit à cette prestation terminé récemment", ""),
    ("fin_are_6m", None, None, "fin de droits au chômage récente", ""),
    ("atteint_65_ans", None, None, "a eu 65 ans cette année", ""),
    ("eligible_estime", None, None, "ressources sous le seuil de la prestation", "ressources au-dessus du seuil"),
    ("montant_estime", None, None, "droit estimé élevé", "droit estimé faible"),
    ("marge_ressources", None, None, "ressources sous le plafond", "ressources au-dessus du plafond"),
    ("espace_en_ligne", None, None, "utilise son espace en ligne", "n'utilise pas d'espace en ligne"),
    ("canal_numerique_connu", None, None, "joignable par SMS ou e-mail", "pas de mobile ni d'e-mail connu"),
]
FEATURE_DEF = {d[0]: d for d in DICTIONARY}

# Columns of recours' eligibility.parquet, in order.
ELIGIBILITY_COLUMNS = [
    "pseudo_id", "foyer_id", "prestation", "role_porteur", "taille_foyer", "couple", "nb_enfants",
    "majoration_isolement", "statut_logement", "aide_logement", "prestations_comptees",
    "revenus_activite", "ressources", "aspa_comptee", "forfait_logement", "montant_forfaitaire",
    "part_revenus_activite", "bonifications", "montant_calcule", "atteint_minimum", "montant_estime",
    "recoit", "candidat_deterministe", "motif_deterministe",
]

# Column types of the data contract (shared/spec/extracts.md), used to read CSV extracts.
CONTRACT = {
    "personnes": {"pseudo_id": pl.String, "naissance": pl.String, "sexe": pl.String,
                  "departement": pl.String, "regime": pl.String},
    "foyers": {"foyer_id": pl.String, "pseudo_id": pl.String, "role": pl.String},
    "logements": {"foyer_id": pl.String, "statut": pl.String, "loyer_mensuel": pl.Float64},
    "droits": {"pseudo_id": pl.String, "organisme": pl.String, "prestation": pl.String,
               "debut": pl.String, "fin": pl.String, "montant_mensuel": pl.Float64},
    "ressources": {"pseudo_id": pl.String, "mois": pl.String, "nature": pl.String,
                   "source": pl.String, "montant_net_social": pl.Float64},
    "contacts": {"pseudo_id": pl.String, "organisme": pl.String, "mobile": pl.Boolean,
                 "email": pl.Boolean, "adresse": pl.Boolean, "espace_en_ligne": pl.Boolean,
                 "opposition": pl.Boolean, "dernier_contact": pl.String},
    "apprentissage": {"pseudo_id": pl.String, "prestation": pl.String,
                      "mois_reference": pl.String, "non_recours": pl.Int32, "origine": pl.String},
    "retours": {"pseudo_id": pl.String, "prestation": pl.String, "mois_contact": pl.String,
                "canal": pl.String, "joint": pl.Boolean, "demande": pl.Boolean,
                "droit_ouvert": pl.Boolean, "montant_mensuel": pl.Float64},
}
# Columns each stage needs (projection pushdown; `sexe`, `source`, `origine` are not used).
USED = {
    "personnes": ["pseudo_id", "naissance", "departement", "regime"],
    "foyers": ["foyer_id", "pseudo_id", "role"],
    "logements": ["foyer_id", "statut"],
    "droits": ["pseudo_id", "prestation", "debut", "fin", "montant_mensuel"],
    "ressources": ["pseudo_id", "mois", "nature", "montant_net_social"],
    "contacts": ["pseudo_id", "organisme", "mobile", "email", "adresse", "espace_en_ligne",
                 "opposition", "dernier_contact"],
    "apprentissage": ["pseudo_id", "prestation", "mois_reference", "non_recours"],
    "retours": ["pseudo_id", "prestation", "canal", "joint", "demande", "droit_ouvert",
                "montant_mensuel"],
}


# --------------------------------------------------------------------------------------
# Months, rounding, configuration, barèmes
# --------------------------------------------------------------------------------------

def month_num(s: str) -> int:
    """`YYYY-MM` → year·12 + month − 1 (recours' Month)."""
    return int(s[:4]) * 12 + int(s[5:7]) - 1


def month_str(m: int) -> str:
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def month_expr(col: str) -> pl.Expr:
    """A `YYYY-MM` column as a month number; null when not a valid month."""
    c = pl.col(col)
    ok = c.str.contains(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    return (pl.when(ok)
            .then(c.str.slice(0, 4).cast(pl.Int32, strict=False) * 12
                  + c.str.slice(5, 2).cast(pl.Int32, strict=False) - 1)
            .otherwise(None))


def round2(e: pl.Expr) -> pl.Expr:
    """Rounded to the cent, half away from zero (recours: (x·100).round()/100)."""
    return e.round(2, mode="half_away_from_zero")


def seq_sum(exprs) -> pl.Expr:
    """Sum in the order given, ((a + b) + c) + …, as Rust's `Iterator::sum` (polars'
    sum_horizontal adds in another order, which changes the last bits)."""
    exprs = list(exprs)
    return functools.reduce(operator.add, exprs[1:], exprs[0])


def div(e: pl.Expr, k: float) -> pl.Expr:
    """e / k correctly rounded. polars divides a float column by a scalar as a
    multiplication by its reciprocal, which is off by one ulp for about a third of the
    values, enough to move an amount across a half cent; numpy divides."""
    return e.map_batches(lambda s: pl.Series(s.name, s.to_numpy() / float(k)), return_dtype=pl.Float64)


class Config:
    def __init__(self, path: Path):
        self.file = path.resolve()
        self.base = self.file.parent
        raw = tomllib.loads(self.file.read_text(encoding="utf-8"))
        self.raw = raw
        self.month = month_num(raw["month"])
        ref = raw["reference"]
        self.departements = self.resolve(ref["departements"])
        self.caisses = self.resolve(ref["caisses"])
        self.baremes = self.resolve(ref["baremes"])
        self.inputs = {}
        for name, spec in raw.get("inputs", {}).items():
            p = self.resolve(spec["path"])
            fmt = spec.get("format")
            if fmt is None:
                fmt = "csv" if p.suffix.lower() == ".csv" else "parquet"
            self.inputs[name] = {
                "path": p,
                "format": fmt,
                "separator": spec.get("separator", ","),
                "decimal_comma": bool(spec.get("decimal_comma", False)),
            }
        el = raw.get("eligibility", {})
        self.q_rsa_ppa = tuple(el.get("rsa_ppa_quarter", [-4, -2]))
        self.q_aspa = tuple(el.get("aspa_quarter", [-3, -1]))
        self.deterministic_min_amount = float(el.get("deterministic_min_amount", 100.0))
        fe = raw.get("features", {})
        self.exclude = list(fe.get("exclude", []))
        self.allow_protected = list(fe.get("allow_protected", []))
        tr = raw.get("training", {})
        self.seed = int(tr.get("seed", 2025))
        self.test_share = float(tr.get("test_share", 0.25))
        self.folds = int(tr.get("folds", 5))
        self.alphas = [float(a) for a in tr.get("alphas", [0.1, 1.0, 10.0, 100.0])]
        self.max_iterations = int(tr.get("max_iterations", 500))
        self.gradient_tolerance = float(tr.get("gradient_tolerance", 1e-8))
        li = raw.get("lists", {})
        self.priority = li.get("priority", "montant_attendu")
        self.min_score = float(li.get("min_score", 0.2))
        self.recent_contact_months = int(li.get("recent_contact_months", 6))
        self.control_share = float(li.get("control_share", 0.1))
        self.list_seed = int(li.get("seed", 2025))
        self.offline_age = int(li.get("offline_age", 75))
        self.capacity = {c: int(v) for c, v in li.get("capacity", {}).items()}
        self.capacity_by_caisse = {k: {c: int(v) for c, v in m.items()}
                                   for k, m in li.get("capacity_by_caisse", {}).items()}

    def resolve(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else (self.base / q)

    def active_features(self) -> list[str]:
        """features::select: the dictionary minus excluded and not-allowed protected ones."""
        out = []
        for name, group, protected, _, _ in DICTIONARY:
            def allowed(key: str) -> bool:
                return any(a == key or a == name for a in self.allow_protected)
            if any(e == name or e == group for e in self.exclude):
                continue
            if protected == "age" and not allowed("age"):
                continue
            if protected == "disability" and not allowed("disability"):
                continue
            out.append(name)
        return out


class Baremes:
    """config/baremes.toml: dated series; the entry in force is the latest `depuis` ≤ month."""

    def __init__(self, path: Path):
        self.raw = tomllib.loads(path.read_text(encoding="utf-8"))

    def pick(self, series: str, month: int) -> dict:
        entries = [e for e in self.raw[series] if month_num(e["depuis"]) <= month]
        if not entries:
            raise SystemExit(f"no {series} barème in force for {month_str(month)}")
        e = max(entries, key=lambda e: month_num(e["depuis"]))
        if "jusqu_a" in e and month > month_num(e["jusqu_a"]):
            raise SystemExit(f"no {series} barème in force for {month_str(month)}")
        return e


# --------------------------------------------------------------------------------------
# read
# --------------------------------------------------------------------------------------

def scan_input(spec: dict, table: str) -> pl.LazyFrame:
    p: Path = spec["path"]
    if spec["format"] == "csv":
        src = str(p / "**" / "*.csv") if p.is_dir() else str(p)
        lf = pl.scan_csv(src, separator=spec["separator"], decimal_comma=spec["decimal_comma"],
                         schema_overrides=CONTRACT.get(table), infer_schema_length=10_000)
    else:
        if p.is_dir():
            lf = pl.scan_parquet(str(p / "**" / "*.parquet"), hive_partitioning=True,
                                 hive_schema={"mois": pl.String} if table == "ressources" else None)
        else:
            lf = pl.scan_parquet(str(p))
    return lf


def stage_read(cfg: Config, stream_resources: bool = False) -> dict:
    """Collects every table with the columns used; stops on a NIR-like value. With
    `stream_resources`, `ressources` (by far the largest table) stays a lazy scan: it is
    checked here in streaming and aggregated in streaming by the households stage, so that
    it never sits in memory whole (for populations of several million people)."""
    lfs = {}
    for table, spec in cfg.inputs.items():
        if table not in USED:
            continue
        lf = scan_input(spec, table)
        lf = lf.select(USED[table])
        lfs[table] = lf
    eager = [k for k in lfs if not (stream_resources and k == "ressources")]
    tables: dict = dict(zip(eager, pl.collect_all([lfs[k] for k in eager])))
    if stream_resources and "ressources" in lfs:
        tables["ressources"] = lfs["ressources"]
    # Privacy stop (extracts.md): a value that looks like a NIR in any string column.
    checks = []
    for table, df in tables.items():
        cols = [c for c, t in df.collect_schema().items() if t == pl.String]
        if cols:
            checks.append((table, df.lazy().select(
                [pl.col(c).str.contains(NIR_LIKE).any().alias(c) for c in cols])))
    for (table, _), res in zip(checks, pl.collect_all([c[1] for c in checks], engine="streaming")):
        bad = [c for c, v in res.row(0, named=True).items() if v]
        if bad:
            print(f"privacy stop: NIR-like value in {table}.{bad[0]}", file=sys.stderr)
            sys.exit(4)
    return tables


def load_reference(cfg: Config) -> pl.DataFrame:
    return pl.read_csv(cfg.departements, schema_overrides={"code": pl.String})


# --------------------------------------------------------------------------------------
# join / households
# --------------------------------------------------------------------------------------

def stage_households(t: dict[str, pl.DataFrame], cfg: Config, M: int) -> pl.DataFrame:
    """One row per foyer: the benefit unit (demandeur, conjoint), children, housing, the
    rights the members hold and their resources over the reference quarters, at month M.

    Aggregations are written as columns computed row-wise then plain sums/maxima per key
    (polars' fast path), the monthly resources one-pass with the streaming engine; the
    household wages month by month are twelve columns summed over the unit."""
    qa, qb = cfg.q_rsa_ppa
    sa, sb = cfg.q_aspa
    nq, ns = qb - qa + 1, sb - sa + 1

    persons = t["personnes"].lazy().select(
        "pseudo_id", "departement", "regime",
        age=((M - month_expr("naissance")) // 12).cast(pl.Int32),
    )

    # Monthly resources of each person, M-12..M-1 (several rows of a month add up): one
    # row per person with the sums the formulas and the features need.
    months = (t["ressources"].lazy().select(pl.col("mois").unique())
              .collect(engine="streaming")["mois"].to_list())
    offset = {m: month_num(m) - M for m in months if MONTH_RE.match(m or "")}
    r = (t["ressources"].lazy()
         .with_columns(k=pl.col("mois").replace_strict(offset, default=None, return_dtype=pl.Int32))
         .filter(pl.col("k").is_between(-HISTORY, -1)))
    k, amt, nature = pl.col("k"), pl.col("montant_net_social").fill_null(0.0), pl.col("nature")
    sal = nature == "salaire"
    z = pl.lit(0.0)
    cols = {f"w{i}": pl.when(sal & (k == i - HISTORY)).then(amt).otherwise(z) for i in range(HISTORY)}
    # Other income month by month over the union of the two reference quarters.
    aut_months = sorted(set(range(qa, qb + 1)) | set(range(sa, sb + 1)))
    cols |= {f"o{kk + HISTORY}": pl.when(~sal & (k == kk)).then(amt).otherwise(z)
             for kk in aut_months if -HISTORY <= kk < 0}
    cols |= {f"nat_{n}": pl.when(nature == n).then(amt).otherwise(z)
             for n in ("chomage", "retraite", "ij", "invalidite")}
    res_person = (r.select("pseudo_id", **cols).group_by("pseudo_id").agg(pl.all().sum())
                  .collect(engine="streaming").lazy())
    # Averages as recours computes them (household.rs: month by month, in month order,
    # wages and other income kept apart), so that amounts round to the same cent.
    def wage(kk: int) -> pl.Expr:
        return pl.col(f"w{kk + HISTORY}") if -HISTORY <= kk < 0 else pl.lit(0.0)

    def other(kk: int) -> pl.Expr:
        return pl.col(f"o{kk + HISTORY}") if -HISTORY <= kk < 0 else pl.lit(0.0)

    res_person = res_person.with_columns(
        *[wage(qa + j).alias(f"act_m{j}") for j in range(nq)],
        *[other(qa + j).alias(f"aut_m{j}") for j in range(nq)],
        act_q=div(seq_sum([wage(kk) for kk in range(qa, qb + 1)]), nq),
        aut_q=div(seq_sum([other(kk) for kk in range(qa, qb + 1)]), nq),
        res_aspa=div(seq_sum([wage(kk) + other(kk) for kk in range(sa, sb + 1)]), ns),
    )

    # Rights: held at M, amounts over the RSA/PPA quarter, rights ended recently.
    d = (t["droits"].lazy()
         .with_columns(debut=month_expr("debut"), fin=month_expr("fin"))
         .filter(pl.col("debut").is_not_null()))
    covers = (pl.col("debut") <= M) & (pl.col("fin").is_null() | (pl.col("fin") >= M))
    amount = pl.col("montant_mensuel").fill_null(0.0)

    def covers_month(m: int) -> pl.Expr:
        return (pl.col("debut") <= m) & (pl.col("fin").is_null() | (pl.col("fin") >= m))
    prest = pl.col("prestation")

    def ended(months: int) -> pl.Expr:
        return pl.col("fin").is_not_null() & (pl.col("fin") < M) & (pl.col("fin") >= M - months)

    dcols = {f"r_{p}": covers & (prest == p) for p in SCORED + HELD_RIGHTS}
    dcols |= {f"e12_{p}": ended(12) & (prest == p) for p in SCORED}
    dcols["e6_ARE"] = ended(6) & (prest == "ARE")
    flags = list(dcols)
    # Housing aid and benefits counted as resources: per month of the quarter, then averaged
    # (Person::right_amount).
    for j in range(nq):
        cov = covers_month(M + qa + j)
        dcols[f"al{j}"] = pl.when((prest == "AL") & cov).then(amount).otherwise(0.0)
        dcols[f"pc{j}"] = pl.when(prest.is_in(COUNTED_AS_RESOURCES) & cov).then(amount).otherwise(0.0)
    sums = [c for c in dcols if c not in flags]
    rights_person = (d.select("pseudo_id", **dcols).group_by("pseudo_id")
                     .agg(*[pl.col(c).max() for c in flags], *[pl.col(c).sum() for c in sums])
                     .with_columns(al_q=div(seq_sum([pl.col(f"al{j}") for j in range(nq)]), nq),
                                   prest_q=div(seq_sum([pl.col(f"pc{j}") for j in range(nq)]), nq))
                     .drop(sums))

    members = (t["foyers"].lazy()
               .join(persons, on="pseudo_id", how="inner")
               .join(res_person, on="pseudo_id", how="left")
               .join(rights_person, on="pseudo_id", how="left"))
    amounts = (["act_q", "aut_q", "res_aspa", "al_q", "prest_q"] + [f"w{i}" for i in range(HISTORY)]
               + [f"act_m{j}" for j in range(nq)] + [f"aut_m{j}" for j in range(nq)]
               + [c for c in cols if c.startswith("o")]
               + [f"nat_{n}" for n in ("chomage", "retraite", "ij", "invalidite")])
    members = members.with_columns(
        [pl.col(c).fill_null(0.0) for c in amounts] + [pl.col(c).fill_null(False) for c in flags]
    ).collect()
    role = pl.col("role")
    m = members.lazy()

    # Demandeur and conjoint: one row each per foyer (the contract: one demandeur; recours
    # takes the first conjoint by pseudo_id).
    own = ["pseudo_id", "age", "act_q", "aut_q", "res_aspa"] + [f"act_m{j}" for j in range(nq)]
    dem = (m.filter(role == "demandeur").sort("foyer_id", "pseudo_id").unique("foyer_id", keep="first")
           .select("foyer_id", "departement", "regime", *[pl.col(c).alias(f"dem_{c}") for c in own])
           .rename({"dem_pseudo_id": "dem_id"}))
    conj = (m.filter(role == "conjoint").sort("foyer_id", "pseudo_id").unique("foyer_id", keep="first")
            .select("foyer_id", *[pl.col(c).alias(f"conj_{c}") for c in own])
            .rename({"conj_pseudo_id": "conj_id"}))
    # Children under 25.
    kids = (m.filter((role == "enfant") & (pl.col("age") < 25)).group_by("foyer_id").agg(
        nb_enfants=pl.len().cast(pl.Int32), enfant_moins_3=(pl.col("age") < 3).any(),
        naissance_recente=(pl.col("age") == 0).any()))
    # Every member but other adults: housing aid and benefits counted as resources.
    counted = (m.filter(role != "autre_adulte").group_by("foyer_id")
               .agg(aide_logement=pl.col("al_q").sum(), prestations_comptees=pl.col("prest_q").sum()))
    # The unit (demandeur and conjoint): resources, rights held, rights ended.
    ucols = {"oldest": pl.col("age")}
    ucols |= {f"unit_aut_m{j}": pl.col(f"aut_m{j}") for j in range(nq)}
    ucols |= {f"uw{i}": pl.col(f"w{i}") for i in range(HISTORY)}
    ucols |= {f"{n}_12m": div(pl.col(f"nat_{n}"), HISTORY) for n in ("chomage", "retraite", "ij", "invalidite")}
    ucols |= {f"unit_r_{p}": pl.col(f"r_{p}") for p in SCORED + HELD_RIGHTS}
    ucols |= {f"fin12_{p}": pl.col(f"e12_{p}") & ~pl.col(f"r_{p}") for p in SCORED}
    ucols["fin_are_6m"] = pl.col("e6_ARE") & ~pl.col("r_ARE")
    maxed = ["oldest"] + [c for c in ucols if c.startswith(("unit_r_", "fin"))]
    unit = (m.filter(role.is_in(["demandeur", "conjoint"])).select("foyer_id", **ucols)
            .group_by("foyer_id").agg(*[pl.col(c).max() for c in maxed],
                                      *[pl.col(c).sum() for c in ucols if c not in maxed]))
    # Household wages month by month over 12 months: mean, volatility, months without.
    uw = [pl.col(f"uw{i}") for i in range(HISTORY)]
    w_mean = div(seq_sum(uw), HISTORY)
    unit = unit.with_columns(w_mean=w_mean).with_columns(
        w_sd=div(seq_sum([(c - pl.col("w_mean")) ** 2 for c in uw]), HISTORY).sqrt(),
        mois_sans_salaire=seq_sum([(c <= 0).cast(pl.Float64) for c in uw]),
    ).drop([f"uw{i}" for i in range(HISTORY)])

    housing = (t["logements"].lazy() if "logements" in t else
               pl.LazyFrame(schema={"foyer_id": pl.String, "statut": pl.String}))
    housing = (housing.select("foyer_id", statut=pl.when(pl.col("statut").is_in(STATUTS))
                              .then(pl.col("statut")))
               .unique("foyer_id", keep="last"))
    out = (dem.join(conj, on="foyer_id", how="left")
           .join(kids, on="foyer_id", how="left")
           .join(counted, on="foyer_id", how="left")
           .join(unit, on="foyer_id", how="left")
           .join(housing, on="foyer_id", how="left")
           .with_columns(couple=pl.col("conj_id").is_not_null(),
                         nb_enfants=pl.col("nb_enfants").fill_null(0),
                         enfant_moins_3=pl.col("enfant_moins_3").fill_null(False),
                         naissance_recente=pl.col("naissance_recente").fill_null(False),
                         **{f"conj_{c}": pl.col(f"conj_{c}").fill_null(0.0)
                            for c in own if c not in ("pseudo_id", "age")}))
    return out.collect()


# --------------------------------------------------------------------------------------
# entitlement
# --------------------------------------------------------------------------------------

def household_rate(fp: dict, adults: pl.Expr, children: pl.Expr) -> pl.Expr:
    persons = adults + children
    from_third_child = (children - 2).clip(lower_bound=0)
    rest = (persons - 2).clip(lower_bound=0)
    others = rest - pl.min_horizontal(from_third_child, rest)
    return (1.0 + pl.when(persons >= 2).then(fp["taux_deuxieme_personne"]).otherwise(0.0)
            + others * fp["taux_troisieme_ou_quatrieme_personne"]
            + from_third_child * fp["taux_personne_supplementaire"])


def stage_entitlement(f: pl.DataFrame, cfg: Config, bar: Baremes, M: int) -> pl.DataFrame:
    """RSA, PPA and ASPA estimates per foyer (entitlement.rs) and the eligibility rows
    (eligibility.rs), sorted by benefit then pseudo_id."""
    qa, qb = cfg.q_rsa_ppa
    fp = bar.pick("foyer", M)
    rsa_base = bar.pick("rsa", M)["montant_forfaitaire"]
    aspa_p = bar.pick("aspa", M)
    ppa_months = [(bar.pick("ppa", M + qa + j), bar.pick("smic_horaire_brut", M + qa + j)["montant"])
                  for j in range(qb - qa + 1)]

    couple = pl.col("couple")
    adults = 1 + couple.cast(pl.Int32)
    kids = pl.col("nb_enfants")
    size = adults + kids
    isolated = ~couple & pl.col("enfant_moins_3")  # youngest < majoration_isolement_age_max_enfant

    def mf(base: float) -> pl.Expr:
        return (pl.when(isolated)
                .then(base * (fp["majoration_isolement_base"] + fp["majoration_isolement_par_enfant"] * kids))
                .otherwise(base * household_rate(fp, adults, kids)))

    has_fl = ((pl.col("aide_logement") > 0)
              | pl.col("statut").is_in(["proprietaire", "heberge_gratuit"]))

    def fl(base: float) -> pl.Expr:
        v = (pl.when(size == 1).then(fp["forfait_logement_une_personne"] * base)
             .when(size == 2).then(fp["forfait_logement_deux_personnes"] * base
                                   * household_rate(fp, pl.lit(2), pl.lit(0)))
             .otherwise(fp["forfait_logement_trois_personnes_ou_plus"] * base
                        * household_rate(fp, pl.lit(3), pl.lit(0))))
        v = pl.when(pl.col("aide_logement") > 0).then(pl.min_horizontal(v, pl.col("aide_logement"))).otherwise(v)
        return pl.when(has_fl).then(v).otherwise(0.0)

    dem_age, conj_age = pl.col("dem_age"), pl.col("conj_age")
    conj_ok = couple & conj_age.is_not_null()
    # ASPA (household): ceiling minus the adults' resources, capped at the maximum.
    nb65 = (dem_age >= 65).cast(pl.Int32) + (conj_ok & (conj_age >= 65)).cast(pl.Int32)
    aspa_res = pl.col("dem_res_aspa") + pl.col("conj_res_aspa")
    plafond = pl.when(couple).then(aspa_p["plafond_couple"]).otherwise(aspa_p["plafond_seul"])
    maximum = pl.when(couple & (nb65 == 2)).then(aspa_p["plafond_couple"]).otherwise(aspa_p["plafond_seul"])
    aspa_amt = pl.when(nb65 == 0).then(0.0).otherwise((plafond - aspa_res).clip(0.0).clip(upper_bound=maximum))

    f = f.lazy().with_columns(
        adults=adults, size=size, isolated=isolated, nb65=nb65,
        aspa_plafond=plafond, aspa_ressources=aspa_res, aspa_montant=aspa_amt,
        revenus_activite=pl.col("dem_act_q") + pl.col("conj_act_q"),
    )
    # RSA.
    rsa_mf = mf(rsa_base)
    rsa_fl = fl(rsa_base)
    rsa_res = ((pl.col("dem_act_q") + pl.col("dem_aut_q")) + (pl.col("conj_act_q") + pl.col("conj_aut_q"))
               + pl.col("prestations_comptees") + pl.col("aspa_montant"))
    age_ok = (dem_age >= 25) | (conj_ok & (conj_age >= 25)) | (kids > 0)
    f = f.with_columns(rsa_mf=rsa_mf, rsa_fl=rsa_fl, rsa_res=rsa_res, rsa_age_ok=age_ok).with_columns(
        rsa_calc=(pl.col("rsa_mf") - pl.col("rsa_res") - pl.col("rsa_fl")).clip(0.0))
    f = f.with_columns(rsa_min=pl.col("rsa_calc") >= fp["minimum_verse_rsa"]).with_columns(
        rsa_montant=pl.when(pl.col("rsa_min") & pl.col("rsa_age_ok")).then(pl.col("rsa_calc")).otherwise(0.0))
    # PPA: each month of the quarter with that month's parameters, averaged.
    n = len(ppa_months)
    mf_s, part_s, bonus_s, res_s, fl_s, amt_s = [], [], [], [], [], []
    for j, (p, smic) in enumerate(ppa_months):
        base = p["montant_forfaitaire"]
        low = p["bonification_seuil_bas_heures"] * smic
        high = p["bonification_seuil_haut_heures"] * smic
        bonif = lambda a: ((a - low) / (high - low)).clip(0.0, 1.0) * p["bonification_taux_max"] * base
        a_d, a_c = pl.col(f"dem_act_m{j}"), pl.col(f"conj_act_m{j}")
        act = a_d + a_c
        m_mf, m_fl = mf(base), fl(base)
        part = p["taux_revenus_activite"] * act
        bonus = bonif(a_d) + bonif(a_c)
        res = act + pl.col(f"unit_aut_m{j}") + pl.col("prestations_comptees") + pl.col("aspa_montant")
        amt = (m_mf + part + bonus - pl.max_horizontal(m_mf, res + m_fl)).clip(0.0)
        mf_s.append(m_mf); part_s.append(part); bonus_s.append(bonus)
        res_s.append(res); fl_s.append(m_fl); amt_s.append(amt)
    avg = lambda xs: div(seq_sum(xs), n)
    adult18 = (dem_age >= 18) | (conj_ok & (conj_age >= 18))
    f = f.with_columns(ppa_mf=avg(mf_s), ppa_part=avg(part_s), ppa_bonus=avg(bonus_s),
                       ppa_res=avg(res_s), ppa_fl=avg(fl_s), ppa_calc=avg(amt_s))
    f = f.with_columns(ppa_min=pl.col("ppa_calc") >= fp["minimum_verse_ppa"]).with_columns(
        ppa_montant=pl.when(pl.col("ppa_min") & (pl.col("revenus_activite") > 0) & adult18)
        .then(pl.col("ppa_calc")).otherwise(0.0))

    common = [
        pl.col("foyer_id"), pl.col("size").cast(pl.UInt32).alias("taille_foyer"), couple.alias("couple"),
        kids.cast(pl.UInt32).alias("nb_enfants"), pl.col("statut").alias("statut_logement"),
        round2(pl.col("aide_logement")).alias("aide_logement"),
        round2(pl.col("prestations_comptees")).alias("prestations_comptees"),
        round2(pl.col("revenus_activite")).alias("revenus_activite"),
    ]
    zero = pl.lit(0.0)
    rsa_rows = f.filter((pl.col("oldest") < 65) & pl.col("rsa_age_ok")).select(
        pl.col("dem_id").alias("pseudo_id"), pl.lit("RSA").alias("prestation"),
        pl.lit("demandeur").alias("role_porteur"), *common,
        pl.col("isolated").alias("majoration_isolement"),
        round2(pl.col("rsa_res")).alias("ressources"), round2(pl.col("aspa_montant")).alias("aspa_comptee"),
        round2(pl.col("rsa_fl")).alias("forfait_logement"), round2(pl.col("rsa_mf")).alias("montant_forfaitaire"),
        zero.alias("part_revenus_activite"), zero.alias("bonifications"),
        round2(pl.col("rsa_calc")).alias("montant_calcule"), pl.col("rsa_min").alias("atteint_minimum"),
        round2(pl.col("rsa_montant")).alias("montant_estime"),
        (pl.col("unit_r_RSA")).alias("recoit"),
    )
    ppa_rows = f.filter(pl.col("revenus_activite") > 0).select(
        pl.col("dem_id").alias("pseudo_id"), pl.lit("PPA").alias("prestation"),
        pl.lit("demandeur").alias("role_porteur"), *common,
        pl.col("isolated").alias("majoration_isolement"),
        round2(pl.col("ppa_res")).alias("ressources"), round2(pl.col("aspa_montant")).alias("aspa_comptee"),
        round2(pl.col("ppa_fl")).alias("forfait_logement"), round2(pl.col("ppa_mf")).alias("montant_forfaitaire"),
        round2(pl.col("ppa_part")).alias("part_revenus_activite"), round2(pl.col("ppa_bonus")).alias("bonifications"),
        round2(pl.col("ppa_calc")).alias("montant_calcule"), pl.col("ppa_min").alias("atteint_minimum"),
        round2(pl.col("ppa_montant")).alias("montant_estime"),
        (pl.col("unit_r_PPA")).alias("recoit"),
    )
    share = pl.col("aspa_montant") / pl.max_horizontal(pl.col("nb65"), pl.lit(1))

    def aspa_rows(who: str, id_col: str, age_col: str) -> pl.LazyFrame:
        return f.filter(pl.col(age_col) >= 65).select(
            pl.col(id_col).alias("pseudo_id"), pl.lit("ASPA").alias("prestation"),
            pl.lit(who).alias("role_porteur"), *common,
            pl.lit(False).alias("majoration_isolement"),
            round2(pl.col("aspa_ressources")).alias("ressources"), zero.alias("aspa_comptee"),
            zero.alias("forfait_logement"), round2(pl.col("aspa_plafond")).alias("montant_forfaitaire"),
            zero.alias("part_revenus_activite"), zero.alias("bonifications"),
            round2(share).alias("montant_calcule"), (share > 0).alias("atteint_minimum"),
            round2(share).alias("montant_estime"),
            pl.col(id_col).alias("_id"),
        )

    # ASPA is individual: "recoit" is the member's own right, joined below.
    aspa = pl.concat([aspa_rows("demandeur", "dem_id", "dem_age"),
                      aspa_rows("conjoint", "conj_id", "conj_age")])
    return rsa_rows, ppa_rows, aspa


def det_reason(amount: pl.Expr) -> pl.Expr:
    """"droit estimé à N € par mois" (N rounded half to even, as Rust's `{:.0}`)."""
    return "droit estimé à " + amount.round(0, mode="half_to_even").cast(pl.Int64).cast(pl.String) + " € par mois"


def eligibility_rows(f: pl.DataFrame, aspa_recoit: pl.LazyFrame, cfg: Config, bar: Baremes, M: int) -> pl.DataFrame:
    rsa_rows, ppa_rows, aspa = stage_entitlement(f, cfg, bar, M)
    aspa = (aspa.join(aspa_recoit, left_on="_id", right_on="pseudo_id", how="left")
            .with_columns(recoit=pl.col("recoit").fill_null(False)).drop("_id"))
    rows = pl.concat([rsa_rows, ppa_rows, aspa], how="diagonal")
    det = (pl.col("montant_estime") > 0) & ~pl.col("recoit") & (pl.col("montant_estime") >= cfg.deterministic_min_amount)
    rows = rows.with_columns(
        candidat_deterministe=det,
        motif_deterministe=pl.when(det).then(
            det_reason(pl.col("montant_estime"))),
    ).sort("prestation", "pseudo_id")
    return rows.select(ELIGIBILITY_COLUMNS).collect()


def aspa_receivers(t: dict[str, pl.DataFrame], M: int) -> pl.LazyFrame:
    d = t["droits"].lazy().filter(pl.col("prestation") == "ASPA").with_columns(
        debut=month_expr("debut"), fin=month_expr("fin"))
    return (d.filter((pl.col("debut") <= M) & (pl.col("fin").is_null() | (pl.col("fin") >= M)))
            .select("pseudo_id").unique().with_columns(recoit=pl.lit(True)))


# --------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------

def contact_signals(t: dict[str, pl.DataFrame]) -> pl.LazyFrame:
    c = t["contacts"].lazy()
    return c.group_by("pseudo_id").agg(
        espace_en_ligne=pl.col("espace_en_ligne").fill_null(False).any(),
        canal_numerique_connu=(pl.col("mobile").fill_null(False) | pl.col("email").fill_null(False)).any(),
    )


def stage_features(elig: pl.DataFrame, f: pl.DataFrame, t: dict[str, pl.DataFrame],
                   signals: pl.LazyFrame, names: list[str], M: int) -> pl.DataFrame:
    ages = t["personnes"].lazy().select("pseudo_id", age=((M - month_expr("naissance")) // 12))
    fcols = ["foyer_id", "nb_enfants", "enfant_moins_3", "naissance_recente", "statut", "w_mean",
             "w_sd", "mois_sans_salaire", "chomage_12m", "retraite_12m", "ij_12m", "invalidite_12m",
             "fin_are_6m"] + [f"unit_r_{p}" for p in HELD_RIGHTS] + [f"fin12_{p}" for p in SCORED]
    x = (elig.lazy().filter(~pl.col("recoit"))
         .select("pseudo_id", "foyer_id", "prestation", "couple", "taille_foyer", "revenus_activite",
                 "montant_estime", "montant_forfaitaire", "ressources", "forfait_logement",
                 "candidat_deterministe")
         .join(f.lazy().select(fcols).rename({"nb_enfants": "n_enf"}), on="foyer_id", how="left")
         .join(ages, on="pseudo_id", how="left")
         .join(signals, on="pseudo_id", how="left"))
    b = lambda e: e.cast(pl.Float64)
    age = pl.col("age")
    band = lambda lo, hi: b(age.is_between(lo, hi))
    statut = pl.col("statut")
    exprs = {
        "age": b(age),
        "age_moins_25": band(0, 24), "age_25_29": band(25, 29), "age_30_39": band(30, 39),
        "age_40_49": band(40, 49), "age_50_59": band(50, 59), "age_60_64": band(60, 64),
        "age_65_69": band(65, 69), "age_70_74": band(70, 74), "age_75_84": band(75, 84),
        "age_85_plus": band(85, 200),
        "couple": b(pl.col("couple")),
        "nb_enfants": b(pl.col("n_enf")),
        "taille_foyer": b(pl.col("taille_foyer")),
        "parent_isole": b(~pl.col("couple") & (pl.col("n_enf") > 0)),
        "enfant_moins_3_ans": b(pl.col("enfant_moins_3")),
        "naissance_recente": b(pl.col("naissance_recente")),
        "logement_inconnu": b(statut.is_null()),
        "revenus_activite_12m": pl.col("w_mean"),
        "revenus_activite_trimestre": pl.col("revenus_activite"),
        "volatilite_revenus": pl.when(pl.col("w_mean") > 0).then(pl.col("w_sd") / pl.col("w_mean")).otherwise(0.0),
        "mois_sans_salaire": pl.col("mois_sans_salaire"),
        "chomage_12m": pl.col("chomage_12m"), "retraite_12m": pl.col("retraite_12m"),
        "ij_12m": pl.col("ij_12m"), "invalidite_12m": pl.col("invalidite_12m"),
        "fin_droit_meme_prestation": b(pl.when(pl.col("prestation") == "RSA").then(pl.col("fin12_RSA"))
                                       .when(pl.col("prestation") == "PPA").then(pl.col("fin12_PPA"))
                                       .otherwise(pl.col("fin12_ASPA"))),
        "fin_are_6m": b(pl.col("fin_are_6m")),
        "atteint_65_ans": b(age == 65),
        "eligible_estime": b(pl.col("montant_estime") > 0),
        "montant_estime": pl.col("montant_estime"),
        "marge_ressources": pl.col("montant_forfaitaire") - pl.col("ressources") - pl.col("forfait_logement"),
        "espace_en_ligne": b(pl.col("espace_en_ligne").fill_null(False)),
        "canal_numerique_connu": b(pl.col("canal_numerique_connu").fill_null(False)),
    }
    for s in STATUTS:
        exprs[f"logement_{s}"] = b(statut.fill_null("") == s)
    for p in HELD_RIGHTS:
        exprs[f"droit_{p.lower()}"] = b(pl.col(f"unit_r_{p}"))
    return x.select(
        "pseudo_id", "prestation", pl.lit(month_str(M)).alias("mois"),
        *[exprs[n].alias(n) for n in names],
        pl.col("montant_estime").alias("_montant_estime"),
        pl.col("candidat_deterministe").alias("_candidat_deterministe"),
    ).sort("prestation", "pseudo_id").collect()


def features_at(t, cfg, bar, signals, names, M):
    f = stage_households(t, cfg, M)
    elig = eligibility_rows(f, aspa_receivers(t, M), cfg, bar, M)
    return stage_features(elig, f, t, signals, names, M)


# --------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------

def choose_columns(X: np.ndarray, names: list[str]) -> tuple[list[int], list[str]]:
    """models/src/train.rs choose_columns: drop constant columns, and for a one-hot group
    whose levels cover every row, its most frequent level (the reference)."""
    keep = [j for j in range(X.shape[1]) if not np.all(X[:, j] == X[0, j])]
    dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
    groups = sorted({FEATURE_DEF[n][1] for n in names if FEATURE_DEF[n][1]})
    for g in groups:
        members = [j for j in keep if FEATURE_DEF[names[j]][1] == g]
        if len(members) < 2:
            continue
        if np.all(X[:, members].sum(axis=1) == 1.0):
            counts = [(int((X[:, j] == 1.0).sum()), -j) for j in members]
            ref = members[counts.index(max(counts))]
            keep.remove(ref)
            dropped.append(names[ref])
    return keep, dropped


def make_lr(alpha: float, cfg: Config):
    import sklearn
    from sklearn.linear_model import LogisticRegression
    kw = dict(C=1.0 / alpha, solver="lbfgs", tol=cfg.gradient_tolerance,
              max_iter=cfg.max_iterations, fit_intercept=True)
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        kw["l1_ratio"] = 0.0
    else:
        kw["penalty"] = "l2"
    return LogisticRegression(**kw)


def train_benefit(X: np.ndarray, y: np.ndarray, names: list[str], cfg: Config, alpha: float | None,
                  jobs: int | None) -> dict:
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=cfg.test_share, stratify=y, random_state=cfg.seed)
    tr.sort(); te.sort()
    keep, dropped = choose_columns(X[tr], names)
    Xk = X[:, keep]
    cv = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        if alpha is None:
            pipe = Pipeline([("scale", StandardScaler()), ("lr", make_lr(1.0, cfg))])
            grid = GridSearchCV(pipe, {"lr__C": [1.0 / a for a in cfg.alphas]}, scoring="neg_log_loss",
                                cv=StratifiedKFold(cfg.folds, shuffle=True, random_state=cfg.seed),
                                n_jobs=jobs, refit=False)
            grid.fit(Xk[tr], y[tr])
            losses = -grid.cv_results_["mean_test_score"]
            cv = [{"alpha": a, "mean_log_loss": float(l)} for a, l in zip(cfg.alphas, losses)]
            best = min(range(len(cfg.alphas)), key=lambda i: (losses[i], -cfg.alphas[i]))
            alpha = cfg.alphas[best]
        scaler = StandardScaler().fit(Xk[tr])
        lr = make_lr(alpha, cfg).fit(scaler.transform(Xk[tr]), y[tr])
    p_test = lr.predict_proba(scaler.transform(Xk[te]))[:, 1]
    sd = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return {
        "features": [names[j] for j in keep], "dropped": dropped,
        "mean": scaler.mean_.tolist(), "sd": sd.tolist(),
        "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]),
        "alpha": alpha, "cross_validation": cv, "n_iter": int(lr.n_iter_[0]),
        "rows": int(len(y)), "positives": int(y.sum()), "train_rows": int(len(tr)), "test_rows": int(len(te)),
        "test_auc": float(roc_auc_score(y[te], p_test)),
        "test_log_loss": float(log_loss(y[te], p_test)),
    }


def stage_train(t, cfg, bar, signals, names, feats: pl.DataFrame, M: int, alpha, jobs) -> dict:
    a = t["apprentissage"]
    months = sorted({month_num(m) for m in a["mois_reference"].drop_nulls().unique().to_list()})
    tables = {M: feats}
    for m in months:
        if m != M:
            tables[m] = features_at(t, cfg, bar, signals, names, m)
    labelled = []
    for m, ft in tables.items():
        labelled.append(
            a.lazy().filter(pl.col("mois_reference") == month_str(m), pl.col("prestation").is_in(SCORED))
            .join(ft.lazy().drop("mois"), on=["pseudo_id", "prestation"], how="inner",
                  maintain_order="left"))
    learn = pl.concat(labelled).collect()
    models = {}
    for bnf in SCORED:
        d = learn.filter(pl.col("prestation") == bnf)
        X = d.select(names).to_numpy().astype(np.float64)
        y = (d["non_recours"] == 1).to_numpy().astype(np.int64)
        models[bnf] = train_benefit(X, y, names, cfg, alpha, jobs)
        models[bnf]["labels"] = int(a.filter(pl.col("prestation") == bnf).height)
    return models


# --------------------------------------------------------------------------------------
# score
# --------------------------------------------------------------------------------------

TOP_REASONS = 6


def sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def score_matrix(X: np.ndarray, model: dict, chunk: int = 500_000):
    """Probability and the largest positive contributions (feature index, contribution,
    standardised value), largest first, `TOP_REASONS` at most (scoring.rs: z = b +
    Σ_j (w_j/sd_j)·(x_j − mean_j), added in feature order)."""
    mean, sd = np.asarray(model["mean"]), np.asarray(model["sd"])
    w = np.asarray(model["coef"]) / sd
    n = X.shape[0]
    prob = np.empty(n)
    k = min(TOP_REASONS, len(w))
    top_j = np.empty((n, k), dtype=np.int64)
    top_c = np.empty((n, k))
    top_z = np.empty((n, k))
    for s in range(0, n, chunk):
        centred = X[s:s + chunk] - mean
        C = centred * w
        z = np.full(C.shape[0], model["intercept"])
        for j in range(C.shape[1]):
            z += C[:, j]
        prob[s:s + chunk] = sigmoid(z)
        part = np.argpartition(-C, k - 1, axis=1)[:, :k]
        pc = np.take_along_axis(C, part, axis=1)
        order = np.argsort(-pc, axis=1, kind="stable")
        j = np.take_along_axis(part, order, axis=1)
        top_j[s:s + chunk] = j
        top_c[s:s + chunk] = np.take_along_axis(C, j, axis=1)
        top_z[s:s + chunk] = np.take_along_axis(centred / sd, j, axis=1)
    return prob, top_j, top_c, top_z


def stage_score(feats: pl.DataFrame, models: dict) -> pl.DataFrame:
    """Probabilities and, for each row, the largest positive contributions: feature index
    in v0…v5 turned into the feature's name and its plain-French reason (the phrase for a
    high value when the standardised value is ≥ 0 or no low phrase exists)."""
    parts = []
    for bnf in SCORED:
        m = models[bnf]
        d = feats.filter(pl.col("prestation") == bnf)
        X = d.select(m["features"]).to_numpy().astype(np.float64)
        prob, tj, tc, tz = score_matrix(X, m)
        names = dict(enumerate(m["features"]))
        high = {j: FEATURE_DEF[x][3] for j, x in names.items()}
        low = {j: FEATURE_DEF[x][4] for j, x in names.items()}
        k = tj.shape[1]
        cols = {"pseudo_id": d["pseudo_id"], "prestation": d["prestation"], "probabilite": prob,
                "montant_estime": d["_montant_estime"], "candidat_deterministe": d["_candidat_deterministe"]}
        for r in range(k):
            cols[f"j{r}"], cols[f"c{r}"], cols[f"z{r}"] = tj[:, r], tc[:, r], tz[:, r]
        exprs = []
        for r in range(k):
            j, c, zz = pl.col(f"j{r}"), pl.col(f"c{r}"), pl.col(f"z{r}")
            lo = j.replace_strict(low, return_dtype=pl.String)
            exprs += [
                pl.when(c > 0).then(j.replace_strict(names, return_dtype=pl.String)).alias(f"v{r}"),
                pl.when(c > 0).then(c).alias(f"c{r}"),
                pl.when(c > 0).then(pl.when((zz < 0) & (lo != "")).then(lo)
                                    .otherwise(j.replace_strict(high, return_dtype=pl.String))).alias(f"r{r}"),
            ]
        parts.append(pl.DataFrame(cols).with_columns(exprs).drop([f"j{r}" for r in range(k)]
                                                                  + [f"z{r}" for r in range(k)]))
    # `feats` is sorted by benefit then pseudo_id and SCORED is in alphabetical order.
    s = pl.concat(parts, how="diagonal")
    return s.with_columns(montant_attendu=pl.col("probabilite") * pl.col("montant_estime"))


def scores_frame(s: pl.DataFrame) -> pl.DataFrame:
    """The columns of recours' scores.parquet."""
    cols = ["pseudo_id", "prestation", "probabilite", "montant_estime", "montant_attendu", "candidat_deterministe"]
    extra = []
    for r in range(3):
        extra += [pl.col(f"v{r}").alias(f"variable_{r + 1}"), pl.col(f"c{r}").alias(f"contribution_{r + 1}"),
                  pl.col(f"r{r}").alias(f"raison_{r + 1}")]
    return s.select(*cols, *extra)


# --------------------------------------------------------------------------------------
# rank
# --------------------------------------------------------------------------------------

def control_draws(seed: int, caisses: list[str], ids: list[str]) -> np.ndarray:
    """lists.rs control_draw: BLAKE3(seed LE ‖ caisse ‖ 0 ‖ pseudo_id), first 8 bytes LE,
    top 53 bits / 2^53. Computed only for the (bounded) people who pass every exclusion."""
    from blake3 import blake3
    pre = struct.pack("<Q", seed)
    out = np.empty(len(ids))
    for i, (c, p) in enumerate(zip(caisses, ids)):
        v = int.from_bytes(blake3(pre + c.encode() + b"\0" + p.encode()).digest()[:8], "little")
        out[i] = (v >> 11) / float(1 << 53)
    return out


def capacity_frame(cfg: Config, caisses: list[str]) -> pl.DataFrame:
    rows = []
    for c in caisses:
        m = cfg.capacity_by_caisse.get(c, {})
        rows.append({"caisse": c, **{f"cap_{ch}": int(m.get(ch, cfg.capacity.get(ch, 0))) for ch in CHANNELS}})
    return pl.DataFrame(rows, schema={"caisse": pl.String, **{f"cap_{ch}": pl.Int64 for ch in CHANNELS}})


def stage_rank(scores: pl.DataFrame, t: dict[str, pl.DataFrame], deps: pl.DataFrame, cfg: Config,
               M: int) -> pl.DataFrame:
    """lists.rs build: one entry per (caisse, person), priority order, decision, channel."""
    persons = t["personnes"].lazy().select(
        "pseudo_id", "departement", "regime", age=((M - month_expr("naissance")) // 12))
    route = deps.lazy().select(pl.col("code").alias("departement"), "caf", "carsat", "msa")
    # `scores` is sorted by benefit then pseudo_id: the joins keep that order, which is the
    # order in which recours merges a person's benefits and reasons.
    s = (scores.lazy()
         .join(persons, on="pseudo_id", how="left", maintain_order="left")
         .join(route, on="departement", how="inner", maintain_order="left")
         .with_columns(caisse=pl.when(pl.col("regime") == "agricole").then(pl.col("msa"))
                       .when(pl.col("prestation") == "ASPA").then(pl.col("carsat"))
                       .otherwise(pl.col("caf"))))
    # Reasons: the deterministic one first, then the model's (without those restating the
    # estimate when there is a deterministic reason).
    det = pl.col("candidat_deterministe")
    k = sum(1 for c in scores.columns if c.startswith("r") and c[1:].isdigit())
    model_reasons = [pl.when(~(det & pl.col(f"v{r}").is_in(ENTITLEMENT_FEATURES))).then(pl.col(f"r{r}"))
                     for r in range(k)]
    s = s.with_columns(
        raisons=pl.concat_list(
            pl.when(det).then(det_reason(pl.col("montant_estime"))),
            *model_reasons).list.drop_nulls())
    merged = (s.group_by("caisse", "pseudo_id", maintain_order=True).agg(
                  prestations=pl.col("prestation").sort().str.join("+"),
                  probabilite=pl.col("probabilite").max(),
                  montant_estime=pl.col("montant_estime").sum(),
                  montant_attendu=(pl.col("probabilite") * pl.col("montant_estime")).sum(),
                  candidat_deterministe=det.any(),
                  raisons=pl.col("raisons").list.explode(keep_nulls=False, empty_as_null=False),
                  age=pl.col("age").first()))
    merged = merged.with_columns(
        raisons=pl.col("raisons").list.unique(maintain_order=True).list.head(3).list.join(" ; "),
        priorite=pl.col("montant_attendu") if cfg.priority == "montant_attendu" else pl.col("probabilite"),
    ).sort(["caisse", "priorite", "pseudo_id"], descending=[False, True, False])

    # Contact book.
    c = t["contacts"].lazy()
    opp = c.filter(pl.col("opposition").fill_null(False)).select("pseudo_id").unique().with_columns(opp=pl.lit(True))
    last = (c.with_columns(m=month_expr("dernier_contact")).group_by("pseudo_id")
            .agg(dernier=pl.col("m").max()))
    reach = c.group_by("pseudo_id", "organisme").agg(
        [pl.col(x).fill_null(False).any() for x in ("mobile", "email", "adresse", "espace_en_ligne")])
    e = (merged.join(opp, on="pseudo_id", how="left")
         .join(last, on="pseudo_id", how="left")
         .join(reach, left_on=["pseudo_id", "caisse"], right_on=["pseudo_id", "organisme"], how="left")
         .sort(["caisse", "priorite", "pseudo_id"], descending=[False, True, False])
         .with_columns(rang_priorite=(pl.int_range(pl.len()).over("caisse") + 1).cast(pl.UInt32)))
    digital = pl.col("espace_en_ligne").fill_null(False) & (pl.col("age") < cfg.offline_age)
    mobile = pl.col("mobile").fill_null(False)
    e = e.with_columns(
        ok_sms=digital & mobile, ok_email=digital & pl.col("email").fill_null(False),
        ok_telephone=mobile, ok_courrier=pl.col("adresse").fill_null(False),
        pre=pl.when(pl.col("opp").fill_null(False)).then(pl.lit("opposition"))
        .when((M - pl.col("dernier")) < cfg.recent_contact_months).then(pl.lit("contact_recent"))
        .when((pl.col("probabilite") < cfg.min_score) & ~pl.col("candidat_deterministe"))
        .then(pl.lit("score_insuffisant")),
    ).with_columns(
        pre=pl.when(pl.col("pre").is_null() & ~pl.any_horizontal([pl.col(f"ok_{ch}") for ch in CHANNELS]))
        .then(pl.lit("aucun_canal")).otherwise(pl.col("pre"))
    ).collect()

    # Control draw for the people still in the running (reachable, not excluded).
    cand = e["pre"].is_null().to_numpy()
    draw = np.ones(e.height)
    sub = e.filter(pl.col("pre").is_null())
    draw[cand] = control_draws(cfg.list_seed, sub["caisse"].to_list(), sub["pseudo_id"].to_list())
    caps = capacity_frame(cfg, e["caisse"].unique().to_list())
    e = e.with_columns(ctrl=pl.Series(draw) < cfg.control_share).join(caps, on="caisse", how="left",
                                                                        maintain_order="left")

    # Channel capacity, exactly as the sequential rule of lists.rs: channels are tried in a
    # fixed order (SMS, e-mail, telephone, letter) and capacity only fills up, so channel c
    # goes to the first cap_c people (in priority order) who may use it and did not get an
    # earlier channel; the control group uses no capacity.
    lf = e.lazy().with_columns(free=pl.col("pre").is_null() & ~pl.col("ctrl"))
    lf = lf.with_columns(left=pl.col("free"))
    for ch in CHANNELS:
        want = pl.col("left") & pl.col(f"ok_{ch}")
        lf = lf.with_columns(
            **{f"got_{ch}": want & (want.cast(pl.Int64).cum_sum().over("caisse") <= pl.col(f"cap_{ch}"))})
        lf = lf.with_columns(left=pl.col("left") & ~pl.col(f"got_{ch}"))
    # A control-group person is drawn when some allowed channel still has room at their turn.
    room = [pl.col(f"ok_{ch}") & ((pl.col(f"got_{ch}").cast(pl.Int64).cum_sum().over("caisse")
                                   - pl.col(f"got_{ch}").cast(pl.Int64)) < pl.col(f"cap_{ch}"))
            for ch in CHANNELS]
    canal = pl.when(pl.col("got_sms")).then(pl.lit("sms")).when(pl.col("got_email")).then(pl.lit("email")) \
        .when(pl.col("got_telephone")).then(pl.lit("telephone")).when(pl.col("got_courrier")).then(pl.lit("courrier"))
    lf = lf.with_columns(canal=canal).with_columns(
        decision=pl.when(pl.col("pre").is_not_null()).then(pl.col("pre"))
        .when(pl.col("canal").is_not_null()).then(pl.lit("liste"))
        .when(pl.col("ctrl") & pl.any_horizontal(room)).then(pl.lit("groupe_temoin"))
        .otherwise(pl.lit("capacite_atteinte")))
    lf = lf.with_columns(
        rang_liste=pl.when(pl.col("decision") == "liste")
        .then((pl.col("decision") == "liste").cast(pl.UInt32).cum_sum().over("caisse")))
    return lf.select("caisse", "pseudo_id", "prestations", "probabilite", "montant_estime", "montant_attendu",
                     "priorite", "rang_priorite", "decision", "rang_liste", "canal", "candidat_deterministe",
                     "raisons").collect()


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------

def campaign_feedback(t, deps, M) -> dict | None:
    if "retours" not in t:
        return None
    persons = t["personnes"].lazy().select("pseudo_id", "departement", "regime")
    route = deps.lazy().select(pl.col("code").alias("departement"), "caf", "carsat", "msa")
    r = (t["retours"].lazy().join(persons, on="pseudo_id", how="left").join(route, on="departement", how="left")
         .with_columns(caisse=pl.when(pl.col("regime") == "agricole").then(pl.col("msa"))
                       .when(pl.col("prestation") == "ASPA").then(pl.col("carsat")).otherwise(pl.col("caf")),
                       temoin=pl.col("canal") == "aucun"))
    agg = [pl.len().alias("personnes"), pl.col("droit_ouvert").fill_null(False).sum().alias("droits_ouverts")]

    def effect(g: pl.DataFrame) -> dict:
        d = {row["temoin"]: row for row in g.iter_rows(named=True)}
        if True not in d or False not in d:
            return {"effet": None}
        p1, n1 = d[False]["droits_ouverts"] / d[False]["personnes"], d[False]["personnes"]
        p0, n0 = d[True]["droits_ouverts"] / d[True]["personnes"], d[True]["personnes"]
        diff = p1 - p0
        se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        return {"effet": {"difference": diff, "ci95_low": diff - 1.959963984540054 * se,
                          "ci95_high": diff + 1.959963984540054 * se}}

    rr = r.filter(pl.col("caisse").is_not_null()).collect()
    national = effect(rr.group_by("temoin").agg(agg))
    per = rr.group_by("caisse", "temoin").agg(agg).sort("caisse")
    par_caisse = {c: effect(g) for (c,), g in per.group_by("caisse", maintain_order=True)}
    return {"national": national, "par_caisse": par_caisse,
            "non_rattaches": int(r.filter(pl.col("caisse").is_null()).select(pl.len()).collect().item())}


def stage_export(dec: pl.DataFrame, t, deps, out: Path, M: int) -> int:
    lists_dir = out / "lists"
    lists_dir.mkdir(parents=True, exist_ok=True)
    dec.write_parquet(lists_dir / "decisions.parquet")
    listed = (dec.filter(pl.col("decision") == "liste").sort("caisse", "rang_liste")
              .select("caisse", pl.col("rang_liste").alias("rang"), "pseudo_id", "prestations", "canal",
                      pl.col("probabilite").round(4), pl.col("montant_estime").round(2),
                      pl.col("montant_attendu").round(2),
                      *[pl.col("raisons").str.split(" ; ").list.get(i, null_on_oob=True).alias(f"raison_{i + 1}")
                        for i in range(3)],
                      pl.when(pl.col("candidat_deterministe")).then(pl.lit("oui")).otherwise(pl.lit("non"))
                      .alias("candidat_deterministe")))
    parts = listed.partition_by("caisse", as_dict=True)
    for caisse in dec["caisse"].unique().to_list():
        part = parts.get((caisse,), listed.clear())
        part.drop("caisse").write_csv(lists_dir / f"{caisse}.csv", separator=";", decimal_comma=True,
                                      include_bom=True, line_terminator="\r\n")
    summary = (dec.with_columns(canal_ou_decision=pl.coalesce("canal", "decision"))
               .group_by("caisse", "prestations", "canal_ou_decision").agg(personnes=pl.len())
               .sort("caisse", "prestations", "canal_ou_decision"))
    summary.write_csv(lists_dir / "summary.csv", line_terminator="\r\n")
    fb = campaign_feedback(t, deps, M)
    if fb is not None:
        (lists_dir / "campaign-feedback.json").write_text(json.dumps(fb, indent=1, ensure_ascii=False))
    return listed.height


# --------------------------------------------------------------------------------------
# compare with a recours run folder
# --------------------------------------------------------------------------------------

def compare(run: Path, out: Path, dec: pl.DataFrame, scores: pl.DataFrame, elig: pl.DataFrame | None,
            top_share: float = 0.03, recours_models_dec: pl.DataFrame | None = None) -> dict:
    res: dict = {"recours_run": str(run)}

    def list_overlap(py_dec: pl.DataFrame) -> dict:
        py = py_dec.filter(pl.col("decision") == "liste")
        per = []
        for d in sorted((run / "lists").iterdir()) if (run / "lists").is_dir() else []:
            f = d / "contacts.parquet"
            if not f.is_file():
                continue
            rc = pl.read_parquet(f, columns=["rang", "pseudo_id"]).sort("rang")
            kk = rc.height
            if kk == 0:
                continue
            top_py = py.filter(pl.col("caisse") == d.name).sort("rang_liste").head(kk)["pseudo_id"]
            inter = len(set(rc["pseudo_id"].to_list()) & set(top_py.to_list()))
            per.append((d.name, kk, inter, top_py.len()))
        if not per:
            return {"caisses": 0}
        shares = [i / k for _, k, i, _ in per]
        return {
            "caisses": len(per),
            "listed_recours": sum(k for _, k, _, _ in per),
            "listed_python_same_k": sum(n for *_, n in per),
            "listed_python_total": py.height,
            "pooled_overlap": sum(i for _, _, i, _ in per) / sum(k for _, k, _, _ in per),
            "median_overlap_per_caisse": float(np.median(shares)),
            "min_overlap_per_caisse": float(np.min(shares)),
            "worst_caisses": sorted(({"caisse": c, "k": k, "common": i} for c, k, i, _ in per),
                                    key=lambda x: x["common"] / x["k"])[:5],
        }

    res["lists_top_k"] = list_overlap(dec)
    if recours_models_dec is not None:
        res["lists_top_k_with_recours_models"] = list_overlap(recours_models_dec)

    sf = run / "scores.parquet"
    if sf.is_file():
        rs = pl.read_parquet(sf, columns=["pseudo_id", "prestation", "probabilite", "montant_estime", "montant_attendu"])
        per_b = {}
        for bnf in SCORED:
            r = rs.filter(pl.col("prestation") == bnf)
            p = scores.filter(pl.col("prestation") == bnf)
            if r.height == 0:
                continue
            kk = max(1, math.ceil(top_share * r.height))
            out_b = {"rows_recours": r.height, "rows_python": p.height}
            for key in ("probabilite", "montant_attendu"):
                a = set(r.sort([key, "pseudo_id"], descending=[True, False]).head(kk)["pseudo_id"].to_list())
                b = set(p.sort([key, "pseudo_id"], descending=[True, False]).head(kk)["pseudo_id"].to_list())
                out_b[f"top_{top_share:.0%}_by_{key}"] = {"k": kk, "overlap": len(a & b) / kk}
            j = r.join(p.select("pseudo_id", "probabilite", "montant_estime"), on="pseudo_id", how="inner",
                       suffix="_py")
            ra, pa = set(r["pseudo_id"].to_list()), set(p["pseudo_id"].to_list())
            out_b["population_jaccard"] = len(ra & pa) / max(1, len(ra | pa))
            if j.height > 1:
                out_b["probability_pearson"] = float(np.corrcoef(j["probabilite"], j["probabilite_py"])[0, 1])
                out_b["probability_spearman"] = float(np.corrcoef(j["probabilite"].rank(), j["probabilite_py"].rank())[0, 1])
                out_b["probability_max_abs_diff"] = float((j["probabilite"] - j["probabilite_py"]).abs().max())
                out_b["montant_estime_rows_differing"] = int(
                    ((j["montant_estime"] - j["montant_estime_py"]).abs() > 0.001).sum())
            per_b[bnf] = out_b
        res["scores"] = per_b
        pooled = [v[f"top_{top_share:.0%}_by_probabilite"] for v in per_b.values()]
        res["scores_top_share_pooled_overlap"] = (sum(x["overlap"] * x["k"] for x in pooled)
                                                  / max(1, sum(x["k"] for x in pooled)))
    ef = run / "eligibility.parquet"
    if ef.is_file() and elig is not None:
        re_ = pl.read_parquet(ef, columns=["pseudo_id", "prestation", "montant_estime", "recoit"])
        j = re_.join(elig.select("pseudo_id", "prestation", "montant_estime", "recoit"),
                     on=["pseudo_id", "prestation"], how="full", suffix="_py")
        both = j.filter(pl.col("pseudo_id").is_not_null() & pl.col("pseudo_id_py").is_not_null())
        res["eligibility"] = {
            "rows_recours": re_.height, "rows_python": elig.height, "rows_in_both": both.height,
            "montant_estime_differing": int(
                ((both["montant_estime"] - both["montant_estime_py"]).abs() > 0.001).sum()),
            "recoit_differing": int((both["recoit"] != both["recoit_py"]).sum()),
        }
    return res


def recours_models(run: Path) -> dict | None:
    out = {}
    for bnf in SCORED:
        f = run / "models" / f"{bnf}.json"
        if not f.is_file():
            return None
        a = json.loads(f.read_text())
        out[bnf] = {"features": [x["name"] for x in a["features"]], "mean": [x["mean"] for x in a["features"]],
                    "sd": [x["sd"] for x in a["features"]],
                    "coef": [c["standardized"] for c in a["coefficients"]], "intercept": a["intercept"],
                    "alpha": a["alpha"]}
    return out


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, type=Path, help="recours TOML config")
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--compare", type=Path, help="recours run folder to compare the top-k lists with")
    ap.add_argument("--alpha", type=float, help="fixed L2 strength (skips the cross-validation)")
    ap.add_argument("--jobs", type=int, default=None, help="joblib jobs for the CV (default: 1)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads while training (default 1: the fits are small, and OpenBLAS "
                         "threads spinning next to polars' pool made them ~15x slower on 2 cores)")
    ap.add_argument("--stream-resources", action="store_true",
                    help="keep `ressources` out of memory: streaming scan and aggregation "
                         "(for populations of several million people)")
    ap.add_argument("--no-intermediates", action="store_true",
                    help="do not write eligibility.parquet and features.parquet")
    args = ap.parse_args()

    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    peak_after: dict[str, int] = {}  # peak RSS (kB) of the process at the end of each stage
    info: dict = {}
    cfg = Config(args.config)
    bar = Baremes(cfg.baremes)
    M = cfg.month
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    names = cfg.active_features()

    def stage(name):
        class _T:
            def __enter__(self):
                self.t = time.perf_counter()
                print(f"[{name}] ...", file=sys.stderr, flush=True)

            def __exit__(self, *exc):
                timings[name] = time.perf_counter() - self.t
                peak_after[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                print(f"[{name}] {timings[name]:.2f} s", file=sys.stderr, flush=True)
        return _T()

    with stage("read"):
        t = stage_read(cfg, args.stream_resources)
        deps = load_reference(cfg)
        info["rows_read"] = {k: v.height for k, v in t.items() if isinstance(v, pl.DataFrame)}
    with stage("join_households"):
        f = stage_households(t, cfg, M)
        info["foyers"] = f.height
    with stage("entitlement"):
        elig = eligibility_rows(f, aspa_receivers(t, M), cfg, bar, M)
        if not args.no_intermediates:
            elig.write_parquet(out / "eligibility.parquet")
        info["eligibility_rows"] = elig.height
    with stage("features"):
        signals = contact_signals(t).collect()
        feats = stage_features(elig, f, t, signals.lazy(), names, M)
        if not args.no_intermediates:
            feats.drop("_montant_estime", "_candidat_deterministe").write_parquet(out / "features.parquet")
        info["feature_rows"], info["features"] = feats.height, len(names)
    with stage("train"):
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            models = stage_train(t, cfg, bar, signals.lazy(), names, feats, M, args.alpha, args.jobs)
        (out / "models.json").write_text(json.dumps(models, indent=1))
        info["models"] = {b: {k: m[k] for k in ("rows", "positives", "alpha", "test_auc", "n_iter")}
                          for b, m in models.items()}
    with stage("score"):
        scores = stage_score(feats, models)
        scores_frame(scores).write_parquet(out / "scores.parquet")
        info["scored_rows"] = scores.height
    with stage("rank"):
        dec = stage_rank(scores, t, deps, cfg, M)
    with stage("export"):
        info["listed"] = stage_export(dec, t, deps, out, M)
        info["caisses"] = dec["caisse"].n_unique()
    timings["total"] = time.perf_counter() - t_all
    # The process as /usr/bin/time would see it, up to here (the comparison below excluded).
    cpu = os.times()
    process = {"wall_s": round(time.perf_counter() - _T_START, 3),
               "cpu_user_s": round(cpu.user, 3), "cpu_sys_s": round(cpu.system, 3),
               "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}

    result = {"stages": {k: round(v, 4) for k, v in timings.items()}, "process": process,
              "peak_rss_kb_after_stage": peak_after, "info": info,
              "options": {"stream_resources": args.stream_resources, "alpha": args.alpha,
                          "blas_threads": args.blas_threads, "jobs": args.jobs,
                          "intermediates": not args.no_intermediates},
              "versions": {"python": sys.version.split()[0], "polars": pl.__version__,
                           "numpy": np.__version__, "scikit-learn": __import__("sklearn").__version__},
              "threads": pl.thread_pool_size()}
    if args.compare:
        t0 = time.perf_counter()
        rm = recours_models(args.compare)
        dec_rm = None
        if rm is not None:
            dec_rm = stage_rank(stage_score(feats, rm), t, deps, cfg, M)
        result["compare"] = compare(args.compare, out, dec, scores, elig, recours_models_dec=dec_rm)
        result["compare"]["seconds"] = round(time.perf_counter() - t0, 3)
    (out / "timings.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    for k, v in timings.items():
        print(f"{k:16s} {v:8.2f} s")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
