"""Issue 19's page target: a view with 10 indicators over 1 M fact rows and
6,000 polygons, opened in headless Chromium. Driven by scripts/bench-view.sh.

    bench-view.py generate DIR FACTS POLYGONS   the CSV files (DuckDB, seeded)
    bench-view.py metadata BASE BEARER PROJECT  datasets, metrics, indicators, dashboard, view
    bench-view.py tiles BASE BEARER PROJECT COUNT
        COUNT vector tiles of the municipalities with the revenue indicator,
        at random over the polygons at zooms 4 to 14, asked one after
        another (each made for the first time), then the same again (kept):
        latency percentiles at the client and sizes.
    bench-view.py open BASE PROJECT EMAIL PASSWORD RUNS LABEL [FRAGMENT]
        signs in and opens the view RUNS times in one browser, printing for
        each how long the page took from navigation until the map had drawn
        and the panel showed every indicator's value (the page's own
        `data-opened-ms`), and the page's JSON requests. FRAGMENT (say
        `#map=8/0/-30`, open sea) opens the map elsewhere than its data.
"""
import json
import statistics
import subprocess
import sys
import time

import requests


def generate(directory, facts, polygons):
    import duckdb

    subprocess.run([sys.executable, "scripts/gen-polygons.py", f"{directory}/munis.csv", str(polygons)], check=True)
    con = duckdb.connect()
    con.execute("SELECT setseed(0.19)")
    con.execute(
        f"COPY (SELECT i AS id, CAST(floor(random() * {polygons}) AS BIGINT) AS muni_id, "
        "DATE '2025-01-01' + CAST(floor(random() * 365) AS INTEGER) AS day, "
        "round(random() * 500, 2) AS amount, CAST(floor(random() * 10) AS BIGINT) AS qty, "
        "CASE WHEN random() < 0.3 THEN 'online' ELSE 'store' END AS channel "
        f"FROM range(1, {facts + 1}) t(i)) TO '{directory}/sales.csv' (HEADER, DELIMITER ',')"
    )


def prop(path):
    return {"type": "property", "value": path}


def fn(name, *content, **options):
    node = {"type": f"function_{name}", "content": list(content)}
    if options:
        node["options"] = options
    return node


def metric_link(pid, name):
    return {"type": "metric", "metric": f"/rest/projects/{pid}/md/metrics?name={name}"}


def metadata(base, bearer, pid):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bearer}"

    def post(kind, body):
        r = session.post(f"{base}/rest/projects/{pid}/md/{kind}", json=body)
        if r.status_code != 200:
            sys.exit(f"{kind} {body['name']}: {r.status_code} {r.text}")

    post("datasets", {"name": "munis", "type": "dataset", "title": "Municipalities",
                      "properties": {"featureTitle": prop("name")},
                      "ref": {"type": "dwh", "subtype": "geometryPolygon", "primaryKey": "id", "properties": [
                          {"name": "id", "column": "id", "type": "integer"},
                          {"name": "name", "column": "name", "type": "string"},
                          {"name": "population", "column": "population", "type": "integer"},
                          {"name": "geom", "column": "geom", "type": "geometry"}]}})
    post("datasets", {"name": "sales", "type": "dataset", "title": "Sales",
                      "ref": {"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [
                          {"name": "id", "column": "id", "type": "integer"},
                          {"name": "muni_id", "column": "muni_id", "type": "integer",
                           "foreignKey": "munis"},
                          {"name": "day", "column": "day", "type": "date"},
                          {"name": "amount", "column": "amount", "type": "decimal"},
                          {"name": "qty", "column": "qty", "type": "integer"},
                          {"name": "channel", "column": "channel", "type": "string"}]}})
    online = [{"property": "sales.channel", "operator": "eq", "value": "online"}]
    metrics = {
        "revenue": fn("sum", prop("sales.amount")),
        "orders": fn("count", prop("sales.id")),
        "avg_ticket": fn("avg", prop("sales.amount")),
        "units": fn("sum", prop("sales.qty")),
        "max_sale": fn("max", prop("sales.amount")),
        "min_sale": fn("min", prop("sales.amount")),
        "revenue_online": {**fn("sum", prop("sales.amount")), "options": {"filterBy": online}},
        "share_online": fn("divide", metric_link(pid, "revenue_online"), metric_link(pid, "revenue")),
        "selling_days": fn("count_dist", prop("sales.day")),
        "revenue_per_head": fn("divide", metric_link(pid, "revenue"), fn("sum", prop("munis.population"))),
    }
    for name, content in metrics.items():
        post("metrics", {"name": name, "type": "metric", "content": content})
    blocks = []
    for name in metrics:
        post("indicators", {"name": name, "type": "indicator", "title": name.replace("_", " ").capitalize(), "description": name,
                            "content": {"metric": f"/rest/projects/{pid}/md/metrics?name={name}", "scale": "standard",
                                        "distribution": "geometric",
                                        "format": {"type": "percentage" if name == "share_online" else "number", "fraction": 1}}})
        blocks.append({"type": "indicator", "indicator": f"/rest/projects/{pid}/md/indicators?name={name}"})
    post("indicatorDrills", {"name": "drill", "type": "indicatorDrill", "content": {"blocks": [
        {"type": "ranking", "title": "Rank", "indicator": f"/rest/projects/{pid}/md/indicators?name=revenue"}]}})
    for block in blocks:
        block["indicatorDrill"] = f"/rest/projects/{pid}/md/indicatorDrills?name=drill"
    post("dashboards", {"name": "main", "type": "dashboard", "content": {"blockRows": blocks}})
    post("views", {"name": "sales", "type": "view", "title": "Sales", "description": "Sales by municipality", "content": {
        "dashboard": f"/rest/projects/{pid}/md/dashboards?name=main",
        "defaultGranularity": f"/rest/projects/{pid}/md/datasets?name=munis"}})


def tiles(base, bearer, pid, count):
    import math
    import random

    random.seed(5)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bearer}"
    query = {"dataset": "munis", "indicator": "revenue", "filters": "[]"}
    summary = session.get(f"{base}/projects/{pid}/views/sales/layer", params=query)
    summary.raise_for_status()
    west, south, east, north = summary.json()["bounds"]

    def tile_of(lng, lat, z):
        n = 2 ** z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return z, int((lng + 180) / 360 * n), int(y)

    asked = [tile_of(random.uniform(west, east), random.uniform(south, north), random.randint(4, 14)) for _ in range(count)]
    asked = list(dict.fromkeys(asked))
    for label in ["first (made)", "again (kept)"]:
        took, sizes = [], []
        for z, x, y in asked:
            started = time.perf_counter()
            r = session.get(f"{base}/projects/{pid}/views/sales/tiles/{z}/{x}/{y}", params=query)
            r.raise_for_status()
            body = r.content
            took.append((time.perf_counter() - started) * 1000)
            sizes.append(len(body))
        took.sort()
        print(json.dumps({"tiles": label, "count": len(asked), "p50_ms": round(took[len(took) // 2], 1),
                          "p99_ms": round(took[max(0, math.ceil(len(took) * 0.99) - 1)], 1), "max_ms": round(took[-1], 1),
                          "median_kb": round(statistics.median(sizes) / 1024, 1), "max_kb": round(max(sizes) / 1024, 1)}), flush=True)


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                "--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900"]:
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def open_view(base, pid, email, password, runs, label, fragment=""):
    from selenium.webdriver.common.by import By

    driver = browser()
    try:
        driver.get(f"{base}/sign-in")
        driver.find_element(By.NAME, "email").send_keys(email)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.ID, "submit").click()
        deadline = time.monotonic() + 30
        while "/sign-in" in driver.current_url and time.monotonic() < deadline:
            time.sleep(0.05)
        times = []
        for run in range(runs):
            # From a blank page: the previous run's map is not torn down in the time measured.
            driver.get("about:blank")
            driver.get(f"{base}/projects/{pid}/views/sales{fragment}")
            deadline = time.monotonic() + 120
            if not driver.find_elements(By.ID, "map-view"):
                sys.exit(f"{label}: {driver.current_url} is not the view: "
                         + driver.find_element(By.TAG_NAME, "body").text[:500])
            opened = None
            while opened is None and time.monotonic() < deadline:
                opened = driver.execute_script("return document.getElementById('map-view').dataset.openedMs || null")
                if opened is None:
                    time.sleep(0.02)
            if opened is None:
                sys.exit(f"{label}: the view did not finish opening: "
                         + driver.execute_script("return document.getElementById('map-status').textContent"))
            status = driver.execute_script("return document.getElementById('map-status').textContent")
            values = driver.execute_script(
                "return [...document.querySelectorAll('#indicators .value')].map((v) => v.textContent)")
            if any(v in ("…", "!") for v in values):
                sys.exit(f"{label}: an indicator has no value: {values}")
            slowest = driver.execute_script(
                "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/views/'))"
                ".map((e) => [e.name.split('/views/')[1].split('?')[0], Math.round(e.responseEnd - e.startTime)])")
            times.append(int(opened))
            print(json.dumps({"run": label if runs == 1 else f"{label} {run + 1}", "opened_ms": int(opened),
                              "requests_ms": slowest, "status": status}), flush=True)
        if runs > 1:
            print(json.dumps({"run": label, "median_ms": statistics.median(times), "max_ms": max(times)}), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "generate":
        generate(args[0], int(args[1]), int(args[2]))
    elif command == "metadata":
        metadata(*args)
    elif command == "tiles":
        tiles(args[0], args[1], args[2], int(args[3]))
    elif command == "open":
        open_view(args[0], args[1], args[2], args[3], int(args[4]), args[5], *args[6:])
    else:
        sys.exit(__doc__)
