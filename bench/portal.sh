#!/usr/bin/env bash
# The caisse portal under load (issue 22's targets): the time the portal takes to start (it
# hashes the run against its manifest), 100 concurrent downloads of one caisse's XLSX list,
# the caisse page's times during those downloads and over 200 sequential requests. Not a
# test: prints figures for BENCHMARKS.md. Loopback only. For the target's 10 000-row list
# of a 1 M-people run, see bench/portal-1m-config.sh.
#
#   bench/portal.sh RUN_FOLDER [CAISSE]
#
# Needs a release build (target/release/recours, or RECOURS=path) and curl. Creates its own
# accounts, log and store in a temporary folder; the portal it starts is stopped at the end.
set -euo pipefail
run=$(realpath "$1")
caisse=${2:-}
recours=${RECOURS:-target/release/recours}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -z "$caisse" ]; then
  # The caisse with the largest XLSX list.
  caisse=$(ls -S "$run"/lists/*/contacts.xlsx | head -1 | xargs dirname | xargs basename)
fi
pw="mot-de-passe-du-banc-d-essai"
echo "$pw" | "$recours" user add --accounts "$work/acces.toml" --name banc --role caisse --caisse "$caisse"
port=$((20000 + RANDOM % 20000))
cat > "$work/portail.toml" <<TOML
listen = "127.0.0.1:$port"
runs = ["$run"]
accounts = "acces.toml"
audit_log = "journal.jsonl"
outcomes = "retours"
list_months = 2
current_month = "$(python3 -c "import json,sys;print(json.load(open('$run/manifest.json'))['config']['month'])")"
TOML
started=$(date +%s.%N)
"$recours" serve --portal "$work/portail.toml" 2> "$work/serve.log" &
pid=$!
base="http://127.0.0.1:$port"
# The portal answers once every output of the run is hashed against the manifest.
for _ in $(seq 600); do
  curl -s -o /dev/null "$base/connexion" && break
  sleep 0.1
done
echo "portal ready (run hashed against its manifest) in $(python3 -c "print(round($(date +%s.%N)-$started,2))") s"
jar="$work/cookies"
csrf=$(curl -s -c "$jar" "$base/connexion" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
curl -s -b "$jar" -c "$jar" -o /dev/null -d "name=banc&password=$pw&csrf=$csrf" "$base/connexion"
page="$base/caisses/$caisse"
xlsx=$(curl -s -b "$jar" "$page" | grep -o '/runs/[^"]*/fichiers/[0-9a-f]*">Excel' | head -1 | sed 's/">Excel//')
rows=$(python3 - "$run/lists/$caisse/contacts.parquet" <<'PY' 2>/dev/null || echo "?"
import sys
try:
    import pyarrow.parquet as pq
    print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)
except Exception:
    print("?")
PY
)
size=$(stat -c %s "$run/lists/$caisse/contacts.xlsx")
echo "caisse $caisse: contacts.xlsx $size bytes, $rows rows"
start=$(date +%s.%N)
seq 100 | xargs -P 100 -I{} curl -s -b "$jar" -o /dev/null -w '%{http_code} %{time_total}\n' "$base$xlsx" > "$work/downloads" &
loader=$!
# The caisse page while the downloads run: what an agent waits for meanwhile.
sleep 0.05
while kill -0 "$loader" 2>/dev/null; do
  curl -s -b "$jar" -o /dev/null -w '%{time_total}\n' "$page"
done | sort -n > "$work/pages-under-load"
wait "$loader"
end=$(date +%s.%N)
ok=$(grep -c '^200 ' "$work/downloads" || true)
echo "100 concurrent downloads: $ok × 200, wall $(python3 -c "print(round($end-$start,3))") s, median $(cut -d' ' -f2 "$work/downloads" | sort -n | sed -n 50p) s, slowest $(cut -d' ' -f2 "$work/downloads" | sort -n | tail -1) s"
n=$(wc -l < "$work/pages-under-load")
echo "caisse page during the downloads: $n requests, median $(sed -n "$(( (n + 1) / 2 ))p" "$work/pages-under-load") s, slowest $(tail -1 "$work/pages-under-load") s"
for _ in $(seq 200); do
  curl -s -b "$jar" -o /dev/null -w '%{time_total}\n' "$page"
done | sort -n > "$work/pages"
echo "caisse page, 200 sequential requests: median $(sed -n 100p "$work/pages") s, p95 $(sed -n 190p "$work/pages") s"
"$recours" audit-log verify "$work/journal.jsonl"
