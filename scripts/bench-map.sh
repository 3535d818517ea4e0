#!/usr/bin/env bash
# Issue 19's polygons on the map: a release server on SQLite, a polygon
# dataset of N generated municipalities (default 10,000; each an irregular
# ring of 160 vertices in a grid over Czechia) loaded with `locus data load`,
# shown by a view whose indicator sums their population. Then the map's
# GeoJSON route (`/projects/{id}/views/{view}/features`) is asked, REPEAT
# times one after another (default 20), whole and at the zooms the map asks
# for (map.js: the next even zoom), timed at the client with the size of
# the answer; and the number of vertices sent.
#   scripts/bench-map.sh [N] [REPEAT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
N=${1:-10000}
REPEAT=${2:-20}
duckdb_venv
release_bench_project map
"$VENV/bin/python" scripts/gen-polygons.py "$WORK/munis.csv" "$N"
md() { curl -s -X POST "$BASE/rest/projects/$PROJECT/md/$1" -H "Authorization: Bearer $BEARER" -H "content-type: application/json" -d "$2" | python3 -c "import json,sys; b=json.load(sys.stdin); sys.exit(0 if \"id\" in b else f\"{sys.argv[1]}: {b}\")" "$1"; }
link() { echo "/rest/projects/$PROJECT/md/$1?name=$2"; }
md datasets '{"name":"munis","type":"dataset","title":"Municipalities","properties":{"featureTitle":{"type":"property","value":"name"}},"ref":{"type":"dwh","subtype":"geometryPolygon","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"name","column":"name","type":"string"},{"name":"population","column":"population","type":"integer"},{"name":"geom","column":"geom","type":"geometry"}]}}'
md metrics '{"name":"population","type":"metric","content":{"type":"function_sum","content":[{"type":"property","value":"munis.population"}]}}'
md indicators "{\"name\":\"population\",\"type\":\"indicator\",\"title\":\"Population\",\"description\":\"Inhabitants\",\"content\":{\"metric\":\"$(link metrics population)\",\"scale\":\"standard\",\"distribution\":\"geometric\",\"format\":{\"type\":\"number\",\"fraction\":0}}}"
md indicatorDrills "{\"name\":\"drill\",\"type\":\"indicatorDrill\",\"content\":{\"blocks\":[{\"type\":\"ranking\",\"title\":\"Rank\",\"indicator\":\"$(link indicators population)\"}]}}"
md dashboards "{\"name\":\"main\",\"type\":\"dashboard\",\"content\":{\"blockRows\":[{\"type\":\"indicator\",\"indicator\":\"$(link indicators population)\",\"indicatorDrill\":\"$(link indicatorDrills drill)\"}]}}"
md views "{\"name\":\"munis\",\"type\":\"view\",\"title\":\"Municipalities\",\"description\":\"Population by municipality\",\"content\":{\"dashboard\":\"$(link dashboards main)\",\"defaultGranularity\":\"$(link datasets munis)\"}}"
"$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset munis "$WORK/munis.csv" >/dev/null 2>&1
"$VENV/bin/python" - "$BASE" "$BEARER" "$PROJECT" "$REPEAT" "$N" "$(du -m "$WORK/munis.csv" | cut -f1)" <<'PY'
import statistics, sys, time
import requests
base, bearer, pid, repeat, n, csv_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
session = requests.Session()
session.headers["Authorization"] = f"Bearer {bearer}"
url = f"{base}/projects/{pid}/views/munis/features"
print(f"{n} polygons of 160 vertices ({csv_mb} MB of CSV)")
for zoom in [6, 8, 10, 12, None]:
    params = {"dataset": "munis", "indicator": "population", "filters": "[]"}
    if zoom is not None:
        params["zoom"] = zoom
    took, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        r = session.get(url, params=params)
        r.raise_for_status()
        body = r.content
        took.append((time.perf_counter() - started) * 1000)
        size = len(body)
    features = r.json()["features"]
    vertices = sum(sum(len(ring) for ring in f["geometry"]["coordinates"]) for f in features)
    first = took[0]
    took.sort()
    print(f"  zoom {'whole' if zoom is None else zoom:>5}: {len(features)} features, {vertices} vertices, {size / 1e6:.1f} MB;"
          f" first {first:.0f} ms, median {statistics.median(took):.0f} ms, p90 {took[int(len(took) * 0.9) - 1]:.0f} ms, max {took[-1]:.0f} ms")
PY
