#!/usr/bin/env python3
"""Collects what bench/run.sh measured into bench/results/<N>.json and <N>.md: recours vs
the Python reference per stage and in total, ratios, CPU, peak memory, input and output
sizes, the top-k overlap of the lists, the I/O floor and the issue's targets."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tomllib
from pathlib import Path

# recours stage → the Python reference stages doing the same work.
STAGES = [
    ("ingest", ["read"], "read and check the extracts"),
    ("eligibility", ["join_households", "entitlement"], "households, resources, RSA/PPA/ASPA estimates"),
    ("features", ["features"], "feature dictionary of the scoring population"),
    ("train", ["train"], "logistic models (split, 5-fold CV over 4 alphas, final fit)"),
    ("evaluate", [], "ground truth (synthetic data only; no Python counterpart)"),
    ("score", ["score"], "probabilities and reasons"),
    ("lists", ["rank", "export"], "per-caisse lists, capacity, control group, exports"),
]


def load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def folder_bytes(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    total = 0
    for root, _, files in os.walk(p):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def machine(load_before: str, load_after: str) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    except OSError:
        mem_kb = 0
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "load_before": load_before, "load_after": load_after}


def fmt(x, nd=1):
    return "—" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main() -> None:
    ap = argparse.ArgumentParser()
    for a in ("--people", "--binary", "--config", "--data", "--run", "--python-out", "--floor-out", "--logs",
              "--generate-seconds", "--load-before", "--load-after", "--json", "--markdown"):
        ap.add_argument(a, required=True)
    a = ap.parse_args()
    logs, run, pyout, floor = Path(a.logs), Path(a.run), Path(a.python_out), Path(a.floor_out)
    people = int(a.people)

    manifest = load(run / "manifest.json") or {}
    r_stages = {s["name"]: s["seconds"] for s in manifest.get("stages", [])}
    r_summary = {s["name"]: s.get("summary", "") for s in manifest.get("stages", [])}
    r_time = load(logs / "recours.time.json")
    py = load(pyout / "timings.json")
    py_time = load(logs / "python.time.json")
    fl = load(floor / "io-floor.json")
    fl_time = load(logs / "floor.time.json")

    cfg = tomllib.loads(Path(a.config).read_text())
    base = Path(a.config).parent
    inputs = {}
    for name, spec in cfg.get("inputs", {}).items():
        p = Path(spec["path"])
        inputs[name] = folder_bytes(p if p.is_absolute() else base / p)
    # "N rows scored: probabilities X M rows/s, top contributions Z M rows/s, with ids,
    # reasons and ordering Y M rows/s"
    m = re.search(r"probabilities ([0-9.]+) M rows/s", r_summary.get("score", ""))
    score_rate = float(m.group(1)) * 1e6 if m else None
    m = re.search(r"top contributions ([0-9.]+) M rows/s", r_summary.get("score", ""))
    score_rate_top = float(m.group(1)) * 1e6 if m else None
    m = re.search(r"ordering ([0-9.]+) M rows/s", r_summary.get("score", ""))
    score_rate_all = float(m.group(1)) * 1e6 if m else None

    rows = []
    for rname, pnames, what in STAGES:
        r = r_stages.get(rname)
        p = sum(py["stages"][n] for n in pnames) if py and pnames else None
        rows.append({"recours_stage": rname, "python_stages": pnames, "what": what,
                     "recours_s": r, "python_s": p, "python_over_recours": ratio(p, r)})
    r_total = sum(r_stages.values()) if r_stages else None
    r_total_no_eval = (r_total - r_stages.get("evaluate", 0.0)) if r_total is not None else None
    p_total = py["stages"]["total"] if py else None
    floor_total = fl["seconds"]["total"] if fl else None
    r_wall = r_time["wall_s"] if r_time else None
    r_wall_no_eval = r_wall - r_stages.get("evaluate", 0.0) if r_wall is not None else None

    result = {
        "people": people,
        "machine": machine(a.load_before, a.load_after),
        "recours": {
            "binary": a.binary, "version": manifest.get("recours_version"),
            "git_commit": manifest.get("git_commit"), "stages_s": r_stages,
            "stages_total_s": r_total, "stages_total_without_evaluate_s": r_total_no_eval,
            "process": r_time, "score_probabilities_rows_per_s": score_rate,
            "score_top_contributions_rows_per_s": score_rate_top,
            "score_rows_per_s_with_reasons": score_rate_all,
            "summaries": r_summary,
        },
        "python": None if not py else {
            "stages_s": py["stages"], "process_until_export": py.get("process"),
            "process_with_compare": py_time, "versions": py.get("versions"), "info": py.get("info"),
        },
        "compare": py.get("compare") if py else None,
        "io_floor": None if not fl else {**fl, "process": fl_time},
        "sizes_bytes": {"inputs": inputs, "inputs_total": sum(inputs.values()),
                        "recours_run_folder": folder_bytes(run),
                        "python_out_folder": folder_bytes(pyout) if pyout.exists() else None},
        "generate_s": None if a.generate_seconds in ("", "null") else float(a.generate_seconds),
        "table": rows,
        "ratios": {
            "python_over_recours_total_stages": ratio(p_total, r_total_no_eval),
            "recours_wall_over_io_floor": ratio(r_wall, floor_total),
            "recours_wall_without_evaluate_over_io_floor": ratio(r_wall_no_eval, floor_total),
        },
    }
    Path(a.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))

    # Markdown.
    mc = result["machine"]
    L = [f"# Benchmark: {people:,} people".replace(",", " "), ""]
    L.append(f"Machine: {mc['cpu']}, {mc['cores']} cores, {mc['memory_gib']} GiB, Linux {mc['kernel']}; "
             f"load average before {mc['load_before']}, after {mc['load_after']}.")
    L.append(f"recours {result['recours']['version']} ({a.binary}); "
             + (f"Python {py['versions']['python']}, polars {py['versions']['polars']}, "
                f"scikit-learn {py['versions']['scikit-learn']}, numpy {py['versions']['numpy']}."
                if py else "Python reference not run."))
    L.append(f"Command: `bench/run.sh --people {people}` (config `{a.config}`, run folder `{a.run}`).")
    if py:
        opts = py.get("options", {})
        L.append(f"Python reference options: {json.dumps(opts)}; threads {py.get('threads')}; peak RSS (GiB) "
                 "at the end of each stage: " + ", ".join(
                     f"{k} {v / 2**20:.2f}" for k, v in py.get("peak_rss_kb_after_stage", {}).items()) + ".")
    L.append("")
    L.append("## Per stage (wall seconds)")
    L.append("")
    L.append("| recours stage | Python stages | recours s | Python s | Python / recours |")
    L.append("|---|---|---:|---:|---:|")
    for r in rows:
        L.append(f"| {r['recours_stage']} | {' + '.join(r['python_stages']) or '—'} | {fmt(r['recours_s'], 2)} | "
                 f"{fmt(r['python_s'], 2)} | {fmt(r['python_over_recours'], 2)} |")
    L.append(f"| **sum of stages** (recours without evaluate) | total | {fmt(r_total, 2)} ({fmt(r_total_no_eval, 2)}) | "
             f"{fmt(p_total, 2)} | {fmt(ratio(p_total, r_total_no_eval), 2)} |")
    L.append("")
    L.append("## Whole process")
    L.append("")
    L.append("| | wall s | CPU s (user + sys) | peak RSS GiB |")
    L.append("|---|---:|---:|---:|")
    if r_time:
        L.append(f"| recours run (`/usr/bin/time -v`) | {fmt(r_time['wall_s'], 1)} | {fmt(r_time['cpu_s'], 1)} | "
                 f"{fmt(r_time['peak_rss_kb'] / 2**20, 2)} |")
    if py and py.get("process"):
        pp = py["process"]
        L.append(f"| Python reference, up to its export (imports included) | {fmt(pp['wall_s'], 1)} | "
                 f"{fmt(pp['cpu_user_s'] + pp['cpu_sys_s'], 1)} | {fmt(pp['peak_rss_kb'] / 2**20, 2)} |")
    if py_time:
        L.append(f"| Python reference with `--compare` (`/usr/bin/time -v`) | {fmt(py_time['wall_s'], 1)} | "
                 f"{fmt(py_time['cpu_s'], 1)} | {fmt(py_time['peak_rss_kb'] / 2**20, 2)} |")
    if fl:
        L.append(f"| I/O floor: read {fmt(fl['seconds']['read'], 1)} s + write {fmt(fl['seconds']['write'], 1)} s "
                 f"| {fmt(floor_total, 1)} | {fmt(fl_time['cpu_s'], 1) if fl_time else '—'} | "
                 f"{fmt(fl_time['peak_rss_kb'] / 2**20, 2) if fl_time else '—'} |")
    L.append("")
    sz = result["sizes_bytes"]
    L.append(f"Inputs {sz['inputs_total'] / 1e6:.0f} MB ("
             + ", ".join(f"{k} {v / 1e6:.0f}" for k, v in sz["inputs"].items())
             + f"); recours run folder {sz['recours_run_folder'] / 1e6:.0f} MB"
             + (f"; Python output {sz['python_out_folder'] / 1e6:.0f} MB" if sz["python_out_folder"] else "")
             + (f"; I/O floor wrote {(fl['written_bytes']['parquet'] + fl['written_bytes']['csv']) / 1e6:.0f} MB"
                if fl else "") + ".")
    if result["generate_s"] is not None:
        L.append(f"Generation (not compared): {result['generate_s']:.0f} s.")
    L.append("")
    L.append("## Targets (issue 8)")
    L.append("")
    rw = result["ratios"]
    slower = [r["recours_stage"] for r in rows
              if r["python_over_recours"] is not None and r["recours_stage"] != "train" and r["python_over_recours"] < 2]
    L.append(f"- ≥ 2× faster than Python, total and every stage but training: total "
             f"{fmt(rw['python_over_recours_total_stages'], 2)}×; stages under 2×: {', '.join(slower) or 'none'}.")
    L.append(f"- Within 2× of the I/O floor: recours wall / floor = {fmt(rw['recours_wall_over_io_floor'], 2)} "
             f"({fmt(rw['recours_wall_without_evaluate_over_io_floor'], 2)} without evaluate).")
    L.append(f"- Scoring ≥ 20 M rows/s: {fmt(score_rate / 1e6 if score_rate else None, 2)} M rows/s for the "
             f"probabilities; the reasons' pass (top contributions) "
             f"{fmt(score_rate_top / 1e6 if score_rate_top else None, 2)} M rows/s; everything with ids, "
             f"reasons and ordering {fmt(score_rate_all / 1e6 if score_rate_all else None, 2)} M rows/s "
             "(recours' score summary; writing scores.parquet not included; `recours bench-score RUN` "
             "repeats these passes alone).")
    if r_time:
        L.append(f"- 10 M people in ≤ 10 min and ≤ 16 GB (applies at 10 M): wall {r_time['wall_s'] / 60:.1f} min, "
                 f"peak {r_time['peak_rss_kb'] / 2**20:.2f} GiB.")
    c = result["compare"]
    if c:
        L.append("")
        L.append("## Agreement of the Python reference with recours")
        L.append("")
        lk = c.get("lists_top_k", {})
        if lk.get("caisses"):
            L.append(f"- Lists, top k per caisse with k = recours' list size ({lk['caisses']} caisses, "
                     f"{lk['listed_recours']} people): pooled overlap {lk['pooled_overlap']:.1%}, median per caisse "
                     f"{lk['median_overlap_per_caisse']:.1%}, lowest {lk['min_overlap_per_caisse']:.1%}.")
        lr = c.get("lists_top_k_with_recours_models")
        if lr and lr.get("caisses"):
            L.append(f"- Same, Python scoring with recours' own model artefacts (isolates training): pooled "
                     f"{lr['pooled_overlap']:.1%}, median {lr['median_overlap_per_caisse']:.1%}.")
        if "scores" in c:
            parts = [f"{b} {v['top_3%_by_probabilite']['overlap']:.1%} (k = {v['top_3%_by_probabilite']['k']})"
                     for b, v in c["scores"].items()]
            L.append(f"- Scores, top 3 % by probability per benefit: {', '.join(parts)}; pooled "
                     f"{c['scores_top_share_pooled_overlap']:.1%}.")
        if "eligibility" in c:
            e = c["eligibility"]
            L.append(f"- Eligibility rows: {e['rows_recours']} in recours, {e['rows_python']} in Python, "
                     f"{e['rows_in_both']} in both; estimated amounts differing: {e['montant_estime_differing']}.")
        L.append("- Remaining differences come from training: scikit-learn draws the stratified split and the "
                 "CV folds with its own generator (recours: ChaCha8), so the coefficients differ slightly; see "
                 "the docstring of bench/python/reference_pipeline.py.")
    L.append("")
    Path(a.markdown).write_text("\n".join(L), encoding="utf-8")


if __name__ == "__main__":
    main()
