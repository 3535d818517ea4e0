#!/usr/bin/env bash
# Issue 18's full-text search: a release server on SQLite, a point dataset of
# ROWS generated titles (default 1,000,000: two or three words of a made-up
# Czech-like vocabulary, with accents), loaded with `locus data load`; then
# QUERIES searches (default 2000) one after another over HTTP, each the first
# letters of a word of a random title (2 to 6 letters, without accents, one
# or two words), timed at the client. Prints the index build (the first search
# after the load waits for it if the load's own indexing has not finished) and
# the latency percentiles, as the admin and then as a viewer whose data
# permission leaves about half the towns.
#   scripts/bench-search.sh [ROWS] [QUERIES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
ROWS=${1:-1000000}
QUERIES=${2:-2000}
duckdb_venv
release_bench_project search
"$VENV/bin/python" - "$WORK/towns.csv" "$ROWS" <<'PY'
import random, sys
path, rows = sys.argv[1], int(sys.argv[2])
random.seed(7)
syllables = ["pra", "ha", "br", "no", "ost", "ra", "va", "plz", "eň", "li", "be", "rec", "ko", "lín", "tá", "bor", "ži", "dě", "če", "ské", "nov", "ý", "hrad", "mě", "sto", "ú", "stí"]
words = sorted({"".join(random.choice(syllables) for _ in range(random.randint(2, 4))).capitalize() for _ in range(20000)})
with open(path, "w") as f:
    f.write("id,name,lat,lng\n")
    for i in range(rows):
        name = " ".join(random.choice(words) for _ in range(random.randint(2, 3)))
        f.write(f"{i},{name},{48.5 + random.random() * 2.5:.6f},{12 + random.random() * 6.5:.6f}\n")
PY
bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"towns","type":"dataset","title":"towns","properties":{"featureTitle":{"type":"property","value":"towns.name"}},"ref":{"type":"dwh","subtype":"geometryPoint","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"name","column":"name","type":"string"},{"name":"lat","column":"lat","type":"latitude"},{"name":"lng","column":"lng","type":"longitude"}]}}' >/dev/null
"$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset towns "$WORK/towns.csv" >/dev/null 2>&1
# A viewer whose data permission leaves the towns north of 49.75° (about
# half of them).
VIEWER_ID=$(printf 'Bench-viewer-1\n' | "$BIN" admin --data-dir "$WORK" create-account --email viewer@example.org --name "Bench Viewer" --password-stdin 2>/dev/null)
VIEWER_BEARER=$(bearer_for "$BASE" "$("$BIN" admin --data-dir "$WORK" create-token --email viewer@example.org --name bench 2>/dev/null)")
bench_post "/rest/projects/$PROJECT/members" "{\"accountId\":\"$VIEWER_ID\",\"role\":\"VIEWER\"}" >/dev/null
bench_post "/rest/projects/$PROJECT/md/dataPermissions" "{\"name\":\"north\",\"type\":\"dataPermission\",\"content\":{\"accountId\":\"$VIEWER_ID\",\"filters\":[{\"property\":\"towns.lat\",\"operator\":\"gte\",\"value\":49.75}]}}" >/dev/null
"$VENV/bin/python" - "$BASE" "$BEARER" "$PROJECT" "$QUERIES" "$WORK/towns.csv" "$ROWS" "$VIEWER_BEARER" <<'PY'
import random, statistics, sys, time, unicodedata, urllib.parse
import requests
base, bearer, pid, n, path, rows, viewer_bearer = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
session = requests.Session()
session.headers["Authorization"] = f"Bearer {bearer}"
titles = [line.split(",")[1] for line in open(path, encoding="utf-8").read().splitlines()[1:20001]]
def plain(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()
random.seed(3)
queries = []
for _ in range(n):
    title = plain(random.choice(titles)).split()
    picked = random.sample(title, random.randint(1, 2))
    queries.append(" ".join(w[: random.randint(2, 6)] for w in picked))
def search(q):
    r = session.get(f"{base}/rest/projects/{pid}/search", params={"query": q, "dataset": "towns", "size": 20})
    r.raise_for_status()
    return r.json()
started = time.perf_counter()
first = search("pra")
print(f"{rows} titles; first search (waits for the index if it is still being built): {(time.perf_counter() - started) * 1000:.0f} ms, {first['page']['totalElements']} hits")
for q in queries[:50]:
    search(q)  # warm the connection
def run(who):
    """Every query once, one at a time; prints the latency percentiles."""
    took, hits = [], []
    for q in queries:
        started = time.perf_counter()
        body = search(q)
        took.append((time.perf_counter() - started) * 1000)
        hits.append(body["page"]["totalElements"])
    took.sort()
    pct = lambda p: took[min(len(took) - 1, int(len(took) * p))]
    print(f"{n} searches {who}, one at a time: p50 {pct(0.5):.1f} ms, p90 {pct(0.9):.1f} ms, p99 {pct(0.99):.1f} ms, max {took[-1]:.1f} ms;"
          f" hits per search: median {statistics.median(hits):.0f}, max {max(hits)}")
run("as the admin")
# The same searches as the viewer whose data permission leaves half the towns
# (the first finds the rows it may see).
session.headers["Authorization"] = f"Bearer {viewer_bearer}"
started = time.perf_counter()
search(queries[0])
print(f"the viewer's first search (finds the rows its permission leaves): {(time.perf_counter() - started) * 1000:.0f} ms")
run("as the filtered viewer")
session.headers["Authorization"] = f"Bearer {bearer}"
floor = []
for _ in range(500):
    started = time.perf_counter()
    session.get(f"{base}/rest/projects/{pid}").raise_for_status()
    floor.append((time.perf_counter() - started) * 1000)
floor.sort()
print(f"the client's floor (GET /rest/projects/{{id}}, 500 times): p50 {floor[250]:.1f} ms, p99 {floor[495]:.1f} ms")
PY
