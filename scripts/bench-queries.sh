#!/usr/bin/env bash
# The query benchmark of issue 17, Locus beside DuckDB in one run:
#   scripts/bench-queries.sh [ROWS] [RUNS]   (default 10000000 rows, 5 runs)
# Generates the star schema (DuckDB, seeded) once into target/bench-queries,
# runs the ten questions through Locus's compiler in process (release build,
# 2 partitions, after loading the CSVs through the real loader), then through
# DuckDB on native tables with 2 threads, and prints both medians side by side,
# with each viewer question's first run (the first one filters the viewer's
# fact rows, which the engine keeps for the questions after it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
ROWS=${1:-10000000}
RUNS=${2:-5}
DIR=$PWD/target/bench-queries  # absolute: cargo bench runs in the crate directory
duckdb_venv
star_schema_csv "$DIR" "$ROWS"
cargo bench -p locus-bench --bench queries -- "$DIR" "$RUNS" > "$DIR/locus.jsonl"
"$VENV/bin/python" scripts/bench-queries.py duckdb "$DIR" "$RUNS" > "$DIR/duckdb.jsonl"
"$VENV/bin/python" - "$DIR" <<'PY'
import json, math, sys
d = sys.argv[1]
locus = [json.loads(l) for l in open(f"{d}/locus.jsonl")]
duck = {r["name"]: r for r in map(json.loads, open(f"{d}/duckdb.jsonl"))}
print(f"{'question':<24} {'DuckDB ms':>10} {'Locus ms':>9} {'ratio':>6} {'viewer ms':>10} {'viewer/admin':>12} {'viewer 1st ms':>13}")
ratios = []
for admin in (r for r in locus if r["who"] == "admin"):
    viewer = next(r for r in locus if r["who"] == "viewer" and r["name"] == admin["name"])
    ratio = admin["median_ms"] / duck[admin["name"]]["median_ms"]
    ratios.append(ratio)
    print(f"{admin['name']:<24} {duck[admin['name']]['median_ms']:>10.1f} {admin['median_ms']:>9.1f} {ratio:>6.2f} "
          f"{viewer['median_ms']:>10.1f} {viewer['median_ms'] / admin['median_ms']:>12.2f} {viewer['first_ms']:>13.1f}")
print(f"geometric mean of the ratios: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
PY
