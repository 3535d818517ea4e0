#!/usr/bin/env bash
# Issue 16's load benchmark: a generated CSV (default 10,000,000 sales rows,
# 363 MB) loaded end to end with `locus data load` into a release server on
# SQLite (upload, parse, type and key checks, Parquet, version switch), beside
# DuckDB's read_csv into a native table (2 threads) on the same file.
# DuckDB runs after the server has stopped, into memory and into a database
# file.
#   scripts/bench-load.sh [ROWS [sales|places]]
# LOAD_ARGS adds options to `locus data load`. PROFILE=1 also records `perf`
# of the server (PERF_HZ samples a second, default 499; PERF_CALLS, default
# -g, e.g. "--call-graph dwarf,16384" for call chains through mimalloc and
# the kernel).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
ROWS=${1:-10000000}
# `places` is the 8-column shape of the issue's target (strings, a quoted
# address, lat/lng; 95 bytes a row); `sales` the star schema's fact table.
SHAPE=${2:-sales}
"${SHAPE}_bench_project" load "$ROWS"
if [[ ${PROFILE:-0} == 1 ]]; then
  perf record -F ${PERF_HZ:-499} ${PERF_CALLS:--g} -p "$SERVER_PID" -o target/locus-load.perf.data 2>/dev/null &
  PERF=$!
fi
echo "locus data load, $ROWS rows:"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
minor_faults() { awk '{print $10}' "/proc/$SERVER_PID/stat"; }
# Transparent huge pages the kernel zeroed (machine-wide: the load runs alone).
huge_faults() { awk '/^thp_fault_alloc /{print $2}' /proc/vmstat; }
TICKS=$(cpu_ticks) FAULTS=$(minor_faults) HUGE=$(huge_faults)
/usr/bin/time -f "  %e s wall" "$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset "$SHAPE" ${LOAD_ARGS:-} "$DIR/$SHAPE.csv" >/dev/null
if [[ ${PROFILE:-0} == 1 ]]; then kill -INT "$PERF"; wait "$PERF" || true; fi
echo "  server CPU $(( $(cpu_ticks) - TICKS )) ticks of $(getconf CLK_TCK)/s, $(( $(minor_faults) - FAULTS )) page faults ($(( $(huge_faults) - HUGE )) of 2 MiB); peak $(grep VmHWM /proc/$SERVER_PID/status)"
# The load's job, from its record: queued after the upload, then running.
curl -sf "$BASE/rest/jobs/history?projectId=$PROJECT" -H "Authorization: Bearer $BEARER" | python3 -c "
import json, sys
job = json.load(sys.stdin)['content'][0]
print(f\"  job: queued {job['startDate'] - job['createdDate']} ms, ran {job['endDate'] - job['startDate']} ms\")"
curl -sf "$BASE/rest/projects/$PROJECT/dwh/datasets/$SHAPE/versions" -H "Authorization: Bearer $BEARER" |
  python3 -c "import json, sys; print(f\"  Parquet: {json.load(sys.stdin)['content'][0]['bytes'] / 1e6:.1f} MB\")"
# DuckDB runs alone: the idle server still returns freed memory for a while.
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
"$VENV/bin/python" - "$DIR/$SHAPE.csv" <<'PY'
import duckdb, sys, time
con = duckdb.connect()
con.execute("SET threads=2")
t = time.perf_counter()
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{sys.argv[1]}', header = true)")
print(f"duckdb read_csv into a table: {time.perf_counter() - t:.2f} s wall")
PY
# The same into a table of a database file, which, like a Locus load, ends
# with the rows compressed on disk (DuckDB writes them at the commit's
# checkpoint); fsync is DuckDB's own.
DB=$(mktemp -d)
"$VENV/bin/python" - "$DIR/$SHAPE.csv" "$DB/bench.duckdb" <<'PY'
import duckdb, os, sys, time
con = duckdb.connect(sys.argv[2])
con.execute("SET threads=2")
t = time.perf_counter()
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{sys.argv[1]}', header = true)")
con.execute("CHECKPOINT")
print(f"duckdb read_csv into a table of a database file: {time.perf_counter() - t:.2f} s wall, {os.path.getsize(sys.argv[2]) / 1e6:.1f} MB")
PY
rm -rf "$DB"
