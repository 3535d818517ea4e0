#!/usr/bin/env bash
# Issue 18's bulk point queries, end to end: a release server on SQLite, a
# generated point dataset (default 1,000,000 rows over Czechia), one job per
# line with N points (default 1000), timed from the submission to the job's
# end (the whole job: reading the request, every point, metering, the result),
# twice (the first builds the dataset's spatial index), beside scipy's cKDTree
# on the same rows and points, with the answers of the first 20 points checked
# against a brute-force scan in DuckDB.
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
"$VENV/bin/python" -c 'import scipy' 2>/dev/null || "$VENV/bin/pip" install --quiet "scipy==1.*"
"$VENV/bin/python" - "$BASE" "$BEARER" "$PROJECT" "$POINTS" "$ROWS" "$WORK/pois.csv" <<'PY'
import json, math, random, sys, time, urllib.request
import duckdb, numpy as np
from scipy.spatial import cKDTree
base, bearer, pid, n, rows, csv = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
R = 6371008.8
random.seed(1)
points = [{"id": str(i), "lat": 48.5 + random.random() * 2.5, "lng": 12 + random.random() * 6.5} for i in range(n)]
count = {"id": "n", "type": "function_count", "content": [{"type": "property", "value": "pois.id"}]}
revenue = {"id": "revenue", "type": "property", "value": "pois.revenue"}
cases = [
    ("nearest-5, ids and distances", "nearest", {"type": "nearest", "dataset": "pois", "options": {"limit": 5}}),
    ("nearest-5, a property of each", "nearest", {"type": "nearest", "dataset": "pois", "options": {"limit": 5}, "properties": [revenue]}),
    ("air 2 km, count", "count", {"type": "isochrone", "dataset": "pois", "options": {"profile": "air", "unit": "distance", "amount": 2000}, "properties": [count]}),
]
h = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
def get(path):
    return json.load(urllib.request.urlopen(urllib.request.Request(base + path, headers=h)))
def compute_ms():
    return sum(r.get("computeMs", 0) for r in get(f"/rest/projects/{pid}/usage")["content"])

# The reference: scipy's KD-tree on the same rows, on the unit sphere (chord
# order is great-circle order), built once and timed per question.
def sphere(lat, lng):
    lat, lng = np.radians(lat), np.radians(lng)
    return np.column_stack([np.cos(lat) * np.cos(lng), np.cos(lat) * np.sin(lng), np.sin(lat)])
data = duckdb.sql(f"SELECT id, lat, lng FROM '{csv}' ORDER BY id").fetchnumpy()
at = sphere(np.array([p["lat"] for p in points]), np.array([p["lng"] for p in points]))
started = time.perf_counter(); tree = cKDTree(sphere(data["lat"], data["lng"])); built = time.perf_counter() - started
chord = 2 * math.sin(2000 / R / 2)
reference = {}
started = time.perf_counter(); _, nearest_idx = tree.query(at, k=5); reference["nearest"] = time.perf_counter() - started
started = time.perf_counter(); counts = tree.query_ball_point(at, chord * (1 + 1e-9), return_length=True); reference["count"] = time.perf_counter() - started
print(f"{rows} rows, {n} points per job; scipy cKDTree built in {built * 1000:.0f} ms")

# Brute force (DuckDB over every row) for the first points: the answers to check.
check = points[:20]
duckdb.sql(f"CREATE TABLE pois AS SELECT * FROM '{csv}'")
def brute(p):
    q = f"""SELECT id, 2 * {R} * asin(sqrt(pow(sin(radians(lat - {p['lat']}) / 2), 2)
        + cos(radians({p['lat']})) * cos(radians(lat)) * pow(sin(radians(lng - {p['lng']}) / 2), 2))) AS d FROM pois ORDER BY d, id"""
    return duckdb.sql(q).fetchall()
truth = [brute(p) for p in check]

for name, kind, q in cases:
    q["queryId"] = "q"
    body = json.dumps({"type": "bulkPointQuery", "projectId": pid, "content": {"points": points, "pointQueries": [q]}}).encode()
    for run in ("first", "again"):
        before = compute_ms()
        started = time.perf_counter()
        job = json.load(urllib.request.urlopen(urllib.request.Request(f"{base}/rest/jobs", data=body, headers=h)))
        while job["status"] == "RUNNING":
            time.sleep(0.02)
            job = get(job["links"][0]["href"])
        took = time.perf_counter() - started
        work = compute_ms() - before
        assert job["status"] == "SUCCEEDED", job
        for p, answer, want in zip(check, job["result"]["points"], truth):
            got = answer["queries"]["q"]
            if kind == "nearest":
                assert [r["id"] for r in got] == [w[0] for w in want[:5]], (p, got, want[:5])
            else:
                assert got[0]["n"] == sum(1 for w in want if w[1] <= 2000), (p, got)
        print(f"  {name:<30} {run:<5}: job {took * 1000:7.0f} ms end to end, {work:5d} ms of work in the job;"
              f" scipy {reference[kind] * 1000:6.1f} ms; first {len(check)} points match DuckDB's brute force")
PY
