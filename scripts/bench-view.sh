#!/usr/bin/env bash
# Issue 19's page target: a release server on SQLite, a view whose dashboard
# has 10 indicators (sums, counts, averages, extremes, a filtered sum, ratios
# of metrics, a distinct count, a ratio across the fact and its dimension)
# over FACTS sales rows (default 1,000,000) in POLYGONS municipalities
# (default 6,000 rings of 160 vertices), both loaded with `locus data load`.
# The view is opened in headless Chromium (Debian's chromium and
# chromium-driver; selenium from PyPI): once right after the load, RUNS times
# more in the same browser (default 10: warm), then once after a restart of
# the server (nothing in memory), RUNS times again, and RUNS times opened at
# sea, where no polygon is in sight (the page's floor: everything but the
# features' tiles). Each time is the page's own, from
# navigation until the map has drawn and the panel shows every value.
# Between the two, TILES (default 500) vector tiles at random zooms from 4
# to 14 over the municipalities are asked one after another, twice.
#   scripts/bench-view.sh [FACTS] [POLYGONS] [RUNS] [TILES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
FACTS=${1:-1000000}
POLYGONS=${2:-6000}
RUNS=${3:-10}
TILES=${4:-500}
command -v chromedriver >/dev/null || { echo "install chromium and chromium-driver first (.ci/run does)" >&2; exit 1; }
duckdb_venv
"$VENV/bin/python" -c 'import selenium' 2>/dev/null || "$VENV/bin/pip" install --quiet "selenium==4.*"
release_bench_project view
"$VENV/bin/python" scripts/bench-view.py generate "$WORK" "$FACTS" "$POLYGONS"
"$VENV/bin/python" scripts/bench-view.py metadata "$BASE" "$BEARER" "$PROJECT"
for dataset in munis sales; do
  "$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset "$dataset" "$WORK/$dataset.csv" >/dev/null 2>&1
done
echo "$FACTS sales rows in $POLYGONS municipalities, 10 indicators"
open_view() { "$VENV/bin/python" scripts/bench-view.py open "$BASE" "$PROJECT" bench@example.org Bench-operator-1 "$@"; }
open_view 1 "cold, right after the load"
open_view "$RUNS" "warm"
"$VENV/bin/python" scripts/bench-view.py tiles "$BASE" "$BEARER" "$PROJECT" "$TILES"
kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$WORK" --listen 127.0.0.1:0 2>"$WORK/server-2.log" &
SERVER_PID=$!
BASE="http://$(listening_address "$WORK/server-2.log" "$SERVER_PID")"
open_view 1 "cold, after a restart"
open_view "$RUNS" "warm, after the restart"
# The floor: the same page, values and layer summary, at sea (no polygon in sight).
open_view "$RUNS" "warm, at sea (no feature in sight)" "#map=8.00/0/-30"
