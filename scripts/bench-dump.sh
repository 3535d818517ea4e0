#!/usr/bin/env bash
# A dataset's dump and its download: the 10 M-row sales CSV of the load
# benchmark loaded into a release server on SQLite, then `locus data dump`
# three times (the dataDump job, Parquet to CSV, and the download) and the
# dump's file downloaded three times more with curl.
#   scripts/bench-dump.sh [ROWS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
ROWS=${1:-10000000}
sales_bench_project dump "$ROWS"
"$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset sales "$DIR/sales.csv" >/dev/null 2>&1
OUT=$WORK/dump.csv
for _ in 1 2 3; do
  /usr/bin/time -f "locus data dump, end to end: %e s" "$BIN" data dump --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset sales -o "$OUT"
done
URL=$(curl -sf -H "Authorization: Bearer $BEARER" "$BASE/rest/jobs/history?projectId=$PROJECT" | python3 -c '
import json, sys
jobs = json.load(sys.stdin)["content"]
print(next(j["result"]["dumpUrl"] for j in jobs if j["type"] == "dataDump"))')
for _ in 1 2 3; do
  curl -sf -o /dev/null -w "download: %{time_total} s, %{size_download} bytes\n" \
    -H "Authorization: Bearer $BEARER" -H "Accept: text/csv" "$BASE$URL"
done
