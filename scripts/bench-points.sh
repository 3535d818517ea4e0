#!/usr/bin/env bash
# Issue 18's bulk point queries, end to end: a release server on SQLite, a
# generated point dataset (default 1,000,000 rows over Czechia), one job per
# line with N points (default 1000), timed from the submission to the job's
# end (the whole job: reading the request, every point, metering, the result).
#   scripts/bench-points.sh [ROWS] [POINTS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
ROWS=${1:-1000000}
POINTS=${2:-1000}
duckdb_venv
release_bench_project points
"$VENV/bin/python" -c "
import duckdb
duckdb.sql('''COPY (SELECT i AS id, 48.5 + (hash(i) % 100000) / 100000.0 * 2.5 AS lat,
  12.0 + (hash(i * 7) % 100000) / 100000.0 * 6.5 AS lng, (i % 1000)::DOUBLE AS revenue
  FROM range($ROWS) t(i)) TO '$WORK/pois.csv' (HEADER)''')
"
bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"pois","type":"dataset","title":"pois","ref":{"type":"dwh","subtype":"geometryPoint","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"lat","column":"lat","type":"latitude"},{"name":"lng","column":"lng","type":"longitude"},{"name":"revenue","column":"revenue","type":"decimal"}]}}' >/dev/null
"$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset pois "$WORK/pois.csv" >/dev/null 2>&1
python3 - "$BASE" "$BEARER" "$PROJECT" "$POINTS" "$ROWS" <<'PY'
import json, random, sys, time, urllib.request
base, bearer, pid, n, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
random.seed(1)
points = [{"id": str(i), "lat": 48.5 + random.random() * 2.5, "lng": 12 + random.random() * 6.5} for i in range(n)]
count = {"id": "n", "type": "function_count", "content": [{"type": "property", "value": "pois.id"}]}
revenue = {"id": "revenue", "type": "property", "value": "pois.revenue"}
cases = [
    ("nearest-5, ids and distances", {"type": "nearest", "dataset": "pois", "options": {"limit": 5}}),
    ("nearest-5, a property of each", {"type": "nearest", "dataset": "pois", "options": {"limit": 5}, "properties": [revenue]}),
    ("air 2 km, count", {"type": "isochrone", "dataset": "pois", "options": {"profile": "air", "unit": "distance", "amount": 2000}, "properties": [count]}),
]
h = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
print(f"{rows} rows, {n} points per job")
for name, q in cases:
    q["queryId"] = "q"
    body = json.dumps({"type": "bulkPointQuery", "projectId": pid, "content": {"points": points, "pointQueries": [q]}}).encode()
    started = time.perf_counter()
    job = json.load(urllib.request.urlopen(urllib.request.Request(f"{base}/rest/jobs", data=body, headers=h)))
    while job["status"] == "RUNNING":
        time.sleep(0.05)
        job = json.load(urllib.request.urlopen(urllib.request.Request(base + job["links"][0]["href"], headers=h)))
    took = time.perf_counter() - started
    print(f"  {name:<32} {job['status']} {took:7.2f} s  ({took / n * 1000:.1f} ms a point)")
PY
