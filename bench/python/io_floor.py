#!/usr/bin/env python3
"""I/O floor of a recours run (issue 8): the time polars alone needs to read every input
named by a recours config and to write as many bytes as the recours run folder holds.

    python io_floor.py --config CONFIG.toml --run RECOURS_RUN_FOLDER --out DIR

1. read: every input table, every column (parquet files, hive folders, French CSV), fully
   collected into memory, as recours' ingest does;
2. write: parquet files until their total size reaches the size of the *.parquet files of
   the recours run folder, then CSV files (`;`, decimal comma) until the size of every
   other file of the run folder (CSV, XLSX, JSON, text) is reached. The data written are
   the input tables themselves, cycled and sliced, so they compress like recours' outputs
   (most of a run folder's bytes are its ingest/ copies of the inputs).

Nothing else is computed. Prints the read, write and total seconds and the byte counts as
JSON on the last line of stdout and writes them to DIR/io-floor.json. recours' total
divided by this total says how far recours is from the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import tomllib
from pathlib import Path

import polars as pl


def scan(spec: dict, base: Path, table: str) -> pl.LazyFrame:
    p = Path(spec["path"])
    p = p if p.is_absolute() else base / p
    fmt = spec.get("format") or ("csv" if p.suffix.lower() == ".csv" else "parquet")
    if fmt == "csv":
        src = str(p / "**" / "*.csv") if p.is_dir() else str(p)
        return pl.scan_csv(src, separator=spec.get("separator", ","),
                           decimal_comma=bool(spec.get("decimal_comma", False)),
                           infer_schema_length=10_000)
    if p.is_dir():
        return pl.scan_parquet(str(p / "**" / "*.parquet"), hive_partitioning=True,
                               hive_schema={"mois": pl.String} if table == "ressources" else None)
    return pl.scan_parquet(str(p))


def run_folder_bytes(run: Path) -> tuple[int, int]:
    """(bytes of *.parquet, bytes of every other file) in a recours run folder."""
    parquet = other = 0
    for root, _, files in os.walk(run):
        for f in files:
            n = os.path.getsize(os.path.join(root, f))
            if f.endswith(".parquet"):
                parquet += n
            else:
                other += n
    return parquet, other


def write_until(frames: list[pl.DataFrame], target: int, out: Path, kind: str) -> tuple[int, int]:
    """Writes slices of `frames` in turn until `target` bytes are written; returns
    (bytes, files)."""
    written = files = 0
    i = 0
    bytes_per_row: dict[int, float] = {}
    while written < target and frames:
        k = i % len(frames)
        df = frames[k]
        i += 1
        if df.height == 0:
            continue
        remaining = target - written
        # Bytes per row: measured on this table's previous file, else its in-memory size.
        per_row = bytes_per_row.get(k, df.estimated_size() / df.height)
        rows = max(1, min(df.height, int(remaining / per_row) + 1))
        part = df.head(rows)
        path = out / f"{kind}-{files:04d}.{kind}"
        if kind == "parquet":
            part.write_parquet(path)
        else:
            part.write_csv(path, separator=";", decimal_comma=True)
        n = path.stat().st_size
        bytes_per_row[k] = n / part.height
        written += n
        files += 1
    return written, files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--run", required=True, type=Path, help="recours run folder (for the output size)")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    cfg = tomllib.loads(args.config.read_text(encoding="utf-8"))
    base = args.config.resolve().parent
    target_parquet, target_other = run_folder_bytes(args.run)
    data = args.out / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)

    t0 = time.perf_counter()
    names = list(cfg["inputs"])
    frames = pl.collect_all([scan(cfg["inputs"][n], base, n) for n in names])
    t_read = time.perf_counter() - t0
    rows = {n: f.height for n, f in zip(names, frames)}

    t1 = time.perf_counter()
    # Largest tables first: they dominate a run folder's ingest/ copies.
    order = sorted(frames, key=lambda f: -f.estimated_size())
    pq_bytes, pq_files = write_until(order, target_parquet, data, "parquet")
    csv_bytes, csv_files = write_until(order, target_other, data, "csv")
    t_write = time.perf_counter() - t1

    result = {
        "seconds": {"read": round(t_read, 3), "write": round(t_write, 3),
                    "total": round(t_read + t_write, 3)},
        "rows_read": rows,
        "target_bytes": {"parquet": target_parquet, "other": target_other},
        "written_bytes": {"parquet": pq_bytes, "csv": csv_bytes},
        "files_written": pq_files + csv_files,
        "polars": pl.__version__,
        "threads": pl.thread_pool_size(),
    }
    shutil.rmtree(data)
    (args.out / "io-floor.json").write_text(json.dumps(result, indent=1))
    print(f"read {t_read:.2f} s, write {t_write:.2f} s ({(pq_bytes + csv_bytes) / 1e6:.0f} MB)", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
