#!/usr/bin/env bash
# Writes the run configuration of issue 22's portal target: a 1 M-people run in which one
# caisse has a list of 10 000 rows. A caisse of the real map lists at most ~2 000 people at
# 1 M (CNAV, the largest pool), so the reference map is changed for this benchmark only:
# CAF59 pays the CAF benefits of every département, with a capacity of 2 500 per channel;
# the CAF rows of `droits` and `contacts` are rewritten to CAF59 to match (a copy in
# OUT_DIR/data; the other tables are linked). Needs Python with polars
# (bench/python/requirements.txt).
#
#   bench/portal-1m-config.sh DATA_DIR OUT_DIR     (DATA_DIR: `recours generate --people 1000000`)
#
# Then: recours --config OUT_DIR/run.toml run, and bench/portal.sh OUT_DIR/run CAF59.
set -euo pipefail
data=$(realpath "$1")
mkdir -p "$2"
out=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
# départements: column 5 (caf) becomes CAF59 everywhere.
awk -F, 'BEGIN{OFS=","} NR==1{print; next} {$5="CAF59"; print}' \
  "$repo/config/departements.csv" > "$out/departements.csv"
# caisses: one CAF, CAF59, over every département; the other branches unchanged.
all=$(awk -F, 'NR>1{printf "%s%s", sep, $1; sep=" "}' "$repo/config/departements.csv")
awk -F, -v all="$all" 'NR==1{print; next} /^CAF59,/{print "CAF59,CAF,CAF du Nord," all; next} /^CAF/{next} {print}' \
  "$repo/config/caisses.csv" > "$out/caisses.csv"
cp "$repo/config/baremes.toml" "$out/baremes.toml"
mkdir -p "$out/data/csv"
for f in "$data"/*; do
  case "$(basename "$f")" in
    droits.parquet|csv) ;;
    *) ln -sfn "$f" "$out/data/$(basename "$f")" ;;
  esac
done
ln -sfn "$data/csv/logements.csv" "$out/data/csv/logements.csv"
python3 - "$data" "$out/data" <<'PY'
import sys
import polars as pl
src, dst = sys.argv[1], sys.argv[2]
caf = pl.col("organisme").str.replace(r"^CAF[0-9AB]+$", "CAF59")
pl.read_parquet(f"{src}/droits.parquet").with_columns(caf).write_parquet(f"{dst}/droits.parquet")
# The configuration reads contacts from the CSV extract (";", as generated).
pl.read_csv(f"{src}/csv/contacts.csv", separator=";", infer_schema=False).with_columns(
    caf
).write_csv(f"{dst}/csv/contacts.csv", separator=";")
PY
data="$out/data"
sed -e "s#^output = .*#output = \"run\"#" \
  -e "s#\"\\.\\./data-samples/#\"$data/#" \
  -e '/^\[lists.capacity_by_caisse.CAF33\]/,$d' \
  "$repo/config/sample.toml" > "$out/run.toml"
cat >> "$out/run.toml" <<TOML

[lists.capacity_by_caisse.CAF59]
telephone = 2500
sms = 2500
email = 2500
courrier = 2500
TOML
echo "$out/run.toml"
