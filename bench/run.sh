#!/usr/bin/env bash
# Side-by-side benchmark of `recours run` (issue 8): recours, the Python reference pipeline
# (polars + scikit-learn, bench/python/reference_pipeline.py) and the I/O floor
# (bench/python/io_floor.py), on the same generated population and the same machine.
#
# Usage:
#   bench/run.sh [--people N] [--binary PATH] [--work DIR] [--data DIR] [--reuse-data]
#                [--python PY] [--skip-python] [--skip-floor]
#
#   --people N      population size (default 1000000; the issue asks for 1000000 and 10000000)
#   --binary PATH   recours binary to measure (default: `cargo build --release` in the
#                   repository, then target/release/recours)
#   --work DIR      work folder for configs, run folders and logs (default /tmp/recours-bench)
#   --data DIR      population folder (default WORK/pN)
#   --reuse-data    do not generate when DATA already holds a population (personnes.parquet,
#                   or a personnes/ folder of shards)
#   --python PY     Python with bench/python/requirements.txt installed (default: $PYTHON,
#                   else python3)
#   --skip-python, --skip-floor   leave out the Python reference or the I/O floor
#   --python-args "..."   extra arguments for reference_pipeline.py; from 5 000 000 people
#                   --stream-resources is added (keeps `ressources` out of memory: about
#                   2.7 GB peak per million people instead of 4)
#
# Steps:
#   a. `recours generate --people N --month 2025-09 --seed 2025 --out DATA
#      --shards ⌈N / 1 000 000⌉ --csv-copies logements,contacts` (timed, not part of the
#      comparison; one shard in memory at a time, ~4 GB);
#   b. WORK/pN.toml: config/sample.toml with absolute paths to DATA and config/, the run
#      folder WORK/recours-pN, and channel capacities scaled by N / 20000;
#   c. `recours --config WORK/pN.toml run` under /usr/bin/time -v: wall, CPU (user + sys),
#      peak RSS, and the per-stage seconds of the run's manifest.json (stages[].seconds);
#   d. the Python reference on the same config under /usr/bin/time -v, with
#      --compare WORK/recours-pN (top-k overlap of the lists and of the scores); its own
#      wall/CPU/peak figures stop before the comparison;
#   e. the I/O floor: polars reads every input and writes as many bytes as recours' run
#      folder holds;
#   f. bench/results/N.json and bench/results/N.md: the table recours vs Python per stage and
#      in total, ratios, peak memory, input/output sizes, I/O floor and recours/floor.
#
# Timings are wall-clock on a shared machine: rerun when another job was busy (the
# markdown records the load average before and after). Each timed step starts after a
# `sync`, so that the previous step's writes are not flushed during it.
#
# Python set-up, once:
#   python3 -m venv /opt/recours-bench && /opt/recours-bench/bin/pip install -r bench/python/requirements.txt
#   PYTHON=/opt/recours-bench/bin/python bench/run.sh --people 1000000

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEOPLE=1000000
BINARY=""
WORK=/tmp/recours-bench
DATA=""
REUSE=0
PY="${PYTHON:-python3}"
SKIP_PY=0
SKIP_FLOOR=0
PY_ARGS=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --people) PEOPLE="$2"; shift 2 ;;
        --binary) BINARY="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        --reuse-data) REUSE=1; shift ;;
        --python) PY="$2"; shift 2 ;;
        --skip-python) SKIP_PY=1; shift ;;
        --skip-floor) SKIP_FLOOR=1; shift ;;
        --python-args) PY_ARGS="$2"; shift 2 ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! [[ "$PEOPLE" =~ ^[0-9]+$ ]] || [[ "$PEOPLE" -lt 1000 ]]; then
    echo "--people must be a whole number ≥ 1000" >&2; exit 2
fi
if [[ "$PEOPLE" -ge 5000000 && "$PY_ARGS" != *--stream-resources* ]]; then
    PY_ARGS="$PY_ARGS --stream-resources"
fi
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
DATA="${DATA:-$WORK/p$PEOPLE}"
CONFIG="$WORK/p$PEOPLE.toml"
RUN="$WORK/recours-p$PEOPLE"
PYOUT="$WORK/python-p$PEOPLE"
FLOOR="$WORK/floor-p$PEOPLE"
LOGS="$WORK/logs-p$PEOPLE"
RESULTS="$REPO/bench/results"
mkdir -p "$LOGS" "$RESULTS"

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# /usr/bin/time (GNU time) for wall, CPU and peak RSS.
if ! [[ -x /usr/bin/time ]]; then
    log "installing GNU time"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

# The recours binary: given, or built from this repository.
if [[ -z "$BINARY" ]]; then
    log "cargo build --release (the first build takes about 15 minutes on 2 cores)"
    (cd "$REPO" && cargo build --release --quiet)
    BINARY="$REPO/target/release/recours"
fi
[[ -x "$BINARY" ]] || { echo "no recours binary at $BINARY" >&2; exit 2; }
BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"

if [[ $SKIP_PY -eq 0 || $SKIP_FLOOR -eq 0 ]]; then
    "$PY" -c "import polars, sklearn, blake3, threadpoolctl" 2>/dev/null || {
        echo "$PY lacks the Python packages: $PY -m pip install -r $REPO/bench/python/requirements.txt" >&2
        exit 2
    }
fi

# a. Population.
GEN_SECONDS=null
if [[ $REUSE -eq 1 && -e "$DATA/personnes.parquet" || $REUSE -eq 1 && -d "$DATA/personnes" ]]; then
    log "reusing the population in $DATA"
else
    log "generating $PEOPLE people into $DATA"
    rm -rf "$DATA"
    t0=$(date +%s%N)
    # One shard per million people: the generator holds one shard at a time (~4 GB).
    SHARDS=$(( (PEOPLE + 999999) / 1000000 ))
    "$BINARY" generate --people "$PEOPLE" --month 2025-09 --seed 2025 --out "$DATA" \
        --shards "$SHARDS" --csv-copies logements,contacts 2>"$LOGS/generate.log"
    GEN_SECONDS=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
fi

# b. Config: config/sample.toml with absolute paths and capacities scaled by N / 20000.
"$PY" - "$REPO/config/sample.toml" "$CONFIG" "$DATA" "$RUN" "$REPO/config" "$PEOPLE" <<'EOF'
import os, re, sys
src, dst, data, run, confdir, people = sys.argv[1:]
scale = int(people) / 20000
text = open(src, encoding="utf-8").read()
text = re.sub(r'(?m)^output = ".*"$', f'output = "{run}"', text)
text = text.replace('"../data-samples/', f'"{data}/')
# A sharded population (`generate --shards`): each table is a folder of part files.
def shard_folder(m):
    path = m.group(2)
    stem = re.sub(r"\.(parquet|csv)$", "", path)
    if not os.path.exists(path) and os.path.isdir(stem):
        path = stem
    return f'{m.group(1)}"{path}"'
text = re.sub(r'(?m)^((?:path|verite) = )"([^"]+)"', shard_folder, text)
for ref in ("departements", "caisses", "baremes"):
    text = re.sub(rf'(?m)^{ref} = "([^"/]+)"$', lambda m: f'{ref} = "{confdir}/{m.group(1)}"', text)
out, section = [], ""
for line in text.splitlines():
    s = re.match(r"^\[(.*)\]$", line)
    if s:
        section = s.group(1)
    m = re.match(r"^(telephone|sms|email|courrier) = (\d+)$", line)
    if m and section.startswith("lists.capacity"):
        line = f"{m.group(1)} = {max(1, round(int(m.group(2)) * scale))}"
    out.append(line)
header = f"# Benchmark config for {people} people, written by bench/run.sh from config/sample.toml\n"
open(dst, "w", encoding="utf-8").write(header + "\n".join(out) + "\n")
EOF
log "config $CONFIG"

# Parses a GNU time -v report into JSON: wall, user, sys, peak RSS.
time_json() {
    "$PY" - "$1" <<'EOF'
import json, re, sys
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
def num(label):
    m = re.search(re.escape(label) + r":\s*([0-9.:]+)", t)
    return m.group(1) if m else None
wall = num("Elapsed (wall clock) time (h:mm:ss or m:ss)")
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
user, sys_ = float(num("User time (seconds)")), float(num("System time (seconds)"))
print(json.dumps({"wall_s": round(secs, 3), "cpu_user_s": user, "cpu_sys_s": sys_,
                  "cpu_s": round(user + sys_, 3),
                  "peak_rss_kb": int(num("Maximum resident set size (kbytes)")),
                  "exit_status": int(num("Exit status") or 0)}))
EOF
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# Runs a command under /usr/bin/time -v: LOGS/NAME.{out,err,time,time.json}.
timed() {
    local name=$1; shift
    # Dirty pages of the step before (the generated population, the previous run folder)
    # are written out first, so that their writeback does not slow this step down.
    sync
    /usr/bin/time -v -o "$LOGS/$name.time" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" || {
        echo "$name failed: see $LOGS/$name.err" >&2; exit 1; }
    time_json "$LOGS/$name.time" >"$LOGS/$name.time.json"
}

# c. recours.
log "recours run ($BINARY)"
rm -rf "$RUN"
timed recours "$BINARY" --config "$CONFIG" --output "$RUN" run

# d. Python reference, with the comparison.
if [[ $SKIP_PY -eq 0 ]]; then
    log "Python reference pipeline"
    rm -rf "$PYOUT"
    timed python "$PY" "$REPO/bench/python/reference_pipeline.py" \
        --config "$CONFIG" --out "$PYOUT" --compare "$RUN" $PY_ARGS
fi

# e. I/O floor.
if [[ $SKIP_FLOOR -eq 0 ]]; then
    log "I/O floor"
    rm -rf "$FLOOR"
    timed floor "$PY" "$REPO/bench/python/io_floor.py" --config "$CONFIG" --run "$RUN" --out "$FLOOR"
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# f. Results.
"$PY" "$REPO/bench/python/bench_report.py" \
    --people "$PEOPLE" --binary "$BINARY" --config "$CONFIG" --data "$DATA" --run "$RUN" \
    --python-out "$PYOUT" --floor-out "$FLOOR" --logs "$LOGS" --generate-seconds "$GEN_SECONDS" \
    --load-before "$LOAD_BEFORE" --load-after "$LOAD_AFTER" \
    --json "$RESULTS/$PEOPLE.json" --markdown "$RESULTS/$PEOPLE.md"
log "results: $RESULTS/$PEOPLE.md"
