"""The ceiling of a generated `realiste` world: AUC and precision of the top 3 % of
`verite.p_oracle` per benefit, among people in the legal scope who do not receive the
benefit (the learning sample and oppositions left out, as in issue 20's measure), with the
realised non-take-up rates and the oracle's calibration.

    python3 bench/python/oracle_auc.py /work/worlds/realiste-200k [RUN_FOLDER]

With a run folder of `recours run` on that world, its scores (`scores.parquet`,
`probabilite`) are measured on the same people, 0 for people it did not score.

Needs pandas, pyarrow and scikit-learn.
"""

import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score


def auc_and_precision(pool: pd.DataFrame, score: str) -> tuple[float, float]:
    k = max(1, int(round(0.03 * len(pool))))
    top = pool.sort_values(score, ascending=False, kind="mergesort").head(k)
    return roc_auc_score(pool["eligible"].astype(int), pool[score]), top["eligible"].mean()


def main(folder: Path, run: Path | None) -> None:
    verite = pd.read_parquet(folder / "verite.parquet")
    learning = pd.read_parquet(folder / "apprentissage.parquet")
    contacts = pd.read_parquet(folder / "contacts.parquet")
    opposed = set(contacts.loc[contacts["opposition"], "pseudo_id"])
    learned = set(learning["pseudo_id"])

    print(f"{len(verite)} verite rows, {verite['pseudo_id'].nunique()} people")
    print(
        "benefit  entitled  non-take-up  scope-non-receivers  positives  "
        "mean-p  share  AUC     top3%-precision"
    )
    for benefit in ["PPA", "RSA", "ASPA"]:
        v = verite[(verite["prestation"] == benefit) & verite["porteur"]]
        entitled = v[v["eligible"]]
        rate = 1.0 - entitled["recourt"].mean()
        pool = v[v["champ"] & ~v["recourt"]]
        pool = pool[~pool["pseudo_id"].isin(learned | opposed)]
        y = pool["eligible"].astype(int)
        p = pool["p_oracle"]
        auc, precision = auc_and_precision(pool, "p_oracle")
        line = (
            f"{benefit:<8} {len(entitled):>8}  {rate:>10.1%}  {len(pool):>19}  "
            f"{y.sum():>9}  {p.mean():.4f}  {y.mean():.4f}  {auc:.4f}  {precision:.3f}"
        )
        if run is not None:
            scores = pd.read_parquet(run / "scores.parquet", columns=["pseudo_id", "prestation", "probabilite"])
            scores = scores[scores["prestation"] == benefit].drop(columns="prestation")
            scored = pool.merge(scores, on="pseudo_id", how="left")
            share_scored = scored["probabilite"].notna().mean()
            scored["probabilite"] = scored["probabilite"].fillna(0.0)
            r_auc, r_precision = auc_and_precision(scored, "probabilite")
            line += f"   recours {r_auc:.4f} / {r_precision:.3f} ({share_scored:.0%} scored)"
        print(line)
    hosted = verite[(verite["unite"] == "hebergee") & verite["porteur"] & verite["eligible"]]
    share = hosted.groupby("prestation")["recourt"].apply(lambda r: (~r).sum())
    total = verite[verite["porteur"] & verite["eligible"] & ~verite["recourt"]]
    total = total.groupby("prestation").size()
    print("share of non-take-up in hosted units:", (share / total).round(3).to_dict())


if __name__ == "__main__":
    main(
        Path(sys.argv[1] if len(sys.argv) > 1 else "/work/worlds/realiste-200k"),
        Path(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
