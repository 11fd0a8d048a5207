#!/usr/bin/env python3
"""Copies a generated population's learning table with `mois_reference` spread over the K
months that end at the run month (round-robin over the rows, in file order), for timing a
run whose labels span several months, as a national learning table's do (the generator
labels everyone at the run month). Labels keep their values: this measures cost, not
accuracy.

    python relabel_months.py --data DATA --month 2025-09 --months 6 --out DIR

DATA holds `apprentissage.parquet` or a folder `apprentissage/` of part files (sharded
populations); DIR receives the same layout. Point a run's `[inputs.apprentissage] path` at
DIR's copy (BENCHMARKS.md, "Labels over several months").
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import polars as pl


def months_back(month: str, k: int) -> list[str]:
    y, m = map(int, month.split("-"))
    n = y * 12 + m - 1
    return [f"{(n - i) // 12:04d}-{(n - i) % 12 + 1:02d}" for i in reversed(range(k))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--month", required=True, help="run month, YYYY-MM")
    ap.add_argument("--months", required=True, type=int)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    if args.out.resolve() == args.data.resolve():
        raise SystemExit("--out must differ from --data (the copy replaces its folder)")
    months = months_back(args.month, max(1, args.months))
    single = args.data / "apprentissage.parquet"
    sources = [single] if single.exists() else sorted((args.data / "apprentissage").glob("*.parquet"))
    if not sources:
        raise SystemExit(f"no learning table under {args.data}")
    target = args.out if single.exists() else args.out / "apprentissage"
    if target.exists() and not single.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    done = 0
    for src in sources:
        a = pl.read_parquet(src)
        mois = [months[(done + i) % len(months)] for i in range(a.height)]
        done += a.height
        a.with_columns(pl.Series("mois_reference", mois, dtype=pl.String)).write_parquet(target / src.name)
    print(f"{done} labels over {', '.join(months)} in {target}")


if __name__ == "__main__":
    main()
