"""The HTTP side of issue 17's query benchmark: the ten dashboard questions of
crates/locus-bench/benches/queries.rs sent to a running server as a dashboard
sends them (all ten at once, from 8 concurrent clients), timed from the POST
to the last page of the answer; p50 and p99 over many dashboard openings.

usage: bench-dwh-http.py BASE BEARER PROJECT_ID ROUNDS

"cold" rounds give every question a filter that no earlier question had
(`sales.id >= -round`, true of every row), so each is planned and computed
anew (the tables stay in memory as Arrow, as on a server in use); "cached"
rounds repeat one round's exact questions, answered from the result cache.
scripts/bench-dwh-http.sh sets up the server, the project and the data.
"""

import concurrent.futures
import json
import statistics
import sys
import time

import requests

BASE, BEARER, PID, ROUNDS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HEADERS = {"Authorization": f"Bearer {BEARER}", "Content-Type": "application/json"}


def p(id_, value):
    return {"id": id_, "type": "property", "value": value}


def metric(id_, name):
    return {"id": id_, "type": "metric", "metric": f"/rest/projects/{PID}/md/metrics?name={name}"}


def questions():
    revenue = metric("revenue", "revenue")
    return [
        ("q01_by_region", {"properties": [p("region", "cities.region"), revenue]}),
        ("q02_by_category", {"properties": [p("category", "products.category"), revenue]}),
        ("q03_by_category_region", {"properties": [p("category", "products.category"), p("region", "cities.region"), revenue]}),
        ("q04_dimension_filter", {"properties": [p("city", "cities.name"), revenue],
                                  "filterBy": [{"property": "cities.region", "operator": "eq", "value": "region 3"}]}),
        ("q05_date_range", {"properties": [p("category", "products.category"), revenue],
                            "filterBy": [{"property": "sales.day", "operator": "gte", "value": "2025-04-01"},
                                         {"property": "sales.day", "operator": "lt", "value": "2025-07-01"}]}),
        ("q06_ratio", {"properties": [p("region", "cities.region"), metric("ticket", "avg_ticket")]}),
        ("q07_percent_to_total", {"properties": [p("region", "cities.region"), metric("share", "revenue_share")]}),
        ("q08_top10_shops", {"properties": [p("shop", "shops.name"), revenue],
                             "orderBy": [{"propertyId": "revenue", "direction": "desc"}], "limit": 10}),
        ("q09_having", {"properties": [p("city", "cities.name"), revenue],
                        "having": [{"propertyId": "revenue", "operator": "gt", "value": 2000000}]}),
        ("q10_metric_filter", {"properties": [p("region", "cities.region"), metric("partner", "partner_revenue")]}),
    ]


SESSION = requests.Session()
SESSION.mount("http://", requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=8))

# The DWH cluster of the project's organization, as the official client finds it.
_org = SESSION.get(f"{BASE}/rest/projects/{PID}", headers=HEADERS).json()["organizationId"]
CLUSTER = SESSION.get(f"{BASE}/rest/organizations/{_org}", headers=HEADERS).json()["dwhClusterId"]


def ask(body):
    """POST the query, then GET its result (long poll) until every page is read; seconds."""
    started = time.perf_counter()
    r = SESSION.post(f"{BASE}/rest/projects/{PID}/dwh/{CLUSTER}/queries?size=1000", headers=HEADERS, data=json.dumps(body))
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    url = location if location.startswith("http") else BASE + location
    while url:
        r = SESSION.get(url, headers=HEADERS)
        assert r.status_code == 200, r.text
        url = next((l["href"] for l in r.json().get("links", []) if l.get("rel") == "next"), None)
        if url and not url.startswith("http"):
            url = BASE + url
    return time.perf_counter() - started


def floor(_):
    """Two authorized GETs of the project (what a cached answer costs at
    least: two round trips, the bearer and the membership checked each time)."""
    started = time.perf_counter()
    for _ in range(2):
        r = SESSION.get(f"{BASE}/rest/projects/{PID}", headers=HEADERS)
        assert r.status_code == 200, r.text
    return time.perf_counter() - started


def dashboard(bodies, pool):
    return list(pool.map(ask, bodies))


def with_round(body, n):
    body = json.loads(json.dumps(body))
    body.setdefault("filterBy", []).append({"property": "sales.id", "operator": "gte", "value": -n})
    return body


def summary(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    print(json.dumps({"name": name, "samples": len(ms), "p50_ms": round(statistics.median(ms), 2),
                      "p99_ms": round(p99, 2), "max_ms": round(ms[-1], 2)}))


def main():
    qs = [body for _, body in questions()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        dashboard([with_round(b, 0) for b in qs], pool)  # warm-up: tables into memory
        cold = []
        for n in range(1, ROUNDS + 1):
            cold += dashboard([with_round(b, n) for b in qs], pool)
        summary("cold (new plans)", cold)
        cached = []
        for _ in range(ROUNDS):
            cached += dashboard([with_round(b, 1) for b in qs], pool)
        summary("result cache", cached)
        base = []
        for _ in range(ROUNDS):
            base += list(pool.map(floor, range(len(qs))))
        summary("floor: 2 x GET /rest/projects/{id}", base)


main()
