#!/usr/bin/env python3
"""The query benchmark's data and its DuckDB side (issue 17).

  bench-queries.py generate DIR ROWS   writes a star schema as CSV into DIR:
      sales (ROWS rows) → shops (10,000) → cities (500); sales → products (1,000)
  bench-queries.py places DIR ROWS     writes DIR/places.csv, the 8-column shape of
      issue 16's load target (ids, strings, a quoted address, decimals, lat/lng)
  bench-queries.py duckdb DIR RUNS     loads the CSVs into DuckDB native tables
      (its fastest form), runs the ten dashboard questions RUNS times each with
      2 threads, and prints one JSON line per question: {"name", "median_ms", "rows"}

The same questions go through Locus's compiler in crates/locus-bench/benches/queries.rs;
scripts/bench-queries.sh runs both in one go.
"""
import json
import statistics
import sys
import time

import duckdb

TYPES = {
    "cities": "id BIGINT, name VARCHAR, region VARCHAR",
    "shops": "id BIGINT, name VARCHAR, city_id BIGINT, partner VARCHAR",
    "products": "id BIGINT, category VARCHAR",
    "sales": "id BIGINT, day DATE, shop_id BIGINT, product_id BIGINT, amount DOUBLE, qty BIGINT",
}

F = ("sales s JOIN shops sh ON s.shop_id = sh.id JOIN cities c ON sh.city_id = c.id "
     "JOIN products p ON s.product_id = p.id")
QUESTIONS = {
    "q01_by_region": f"SELECT c.region, SUM(s.amount) FROM {F} GROUP BY 1",
    "q02_by_category": "SELECT p.category, SUM(s.amount) FROM sales s JOIN products p ON s.product_id = p.id GROUP BY 1",
    "q03_by_category_region": f"SELECT p.category, c.region, SUM(s.amount) FROM {F} GROUP BY 1, 2",
    "q04_dimension_filter": f"SELECT c.name, SUM(s.amount) FROM {F} WHERE c.region = 'region 3' GROUP BY 1",
    "q05_date_range": "SELECT p.category, SUM(s.amount) FROM sales s JOIN products p ON s.product_id = p.id "
                      "WHERE s.day >= DATE '2025-04-01' AND s.day < DATE '2025-07-01' GROUP BY 1",
    "q06_ratio": f"SELECT c.region, SUM(s.amount) / COUNT(s.id) FROM {F} GROUP BY 1",
    "q07_percent_to_total": f"SELECT c.region, SUM(s.amount) / SUM(SUM(s.amount)) OVER () FROM {F} GROUP BY 1",
    "q08_top10_shops": "SELECT sh.name, SUM(s.amount) AS r FROM sales s JOIN shops sh ON s.shop_id = sh.id "
                       "GROUP BY 1 ORDER BY r DESC LIMIT 10",
    "q09_having": f"SELECT c.name, SUM(s.amount) AS r FROM {F} GROUP BY 1 HAVING SUM(s.amount) > 2000000",
    "q10_metric_filter": f"SELECT c.region, SUM(s.amount) FILTER (WHERE sh.partner = 'yes') FROM {F} GROUP BY 1",
}


def generate(directory, rows):
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    tables = {
        "cities": "SELECT i AS id, 'city ' || i AS name, 'region ' || (i % 14) AS region FROM range(1, 501) t(i)",
        "shops": "SELECT i AS id, 'shop ' || i AS name, 1 + (i * 7) % 500 AS city_id, "
                 "CASE WHEN i % 4 = 0 THEN 'yes' ELSE 'no' END AS partner FROM range(1, 10001) t(i)",
        "products": "SELECT i AS id, 'category ' || (i % 25) AS category FROM range(1, 1001) t(i)",
        "sales": f"SELECT i AS id, DATE '2024-01-01' + CAST(floor(random() * 730) AS INTEGER) AS day, "
                 f"1 + CAST(floor(random() * 10000) AS BIGINT) AS shop_id, 1 + CAST(floor(random() * 1000) AS BIGINT) AS product_id, "
                 f"round(random() * 500, 2) AS amount, CAST(floor(random() * 10) AS BIGINT) AS qty FROM range(1, {rows + 1}) t(i)",
    }
    for name, sql in tables.items():
        con.execute(f"COPY ({sql}) TO '{directory}/{name}.csv' (HEADER, DELIMITER ',')")


def places(directory, rows):
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    con.execute(f"""COPY (SELECT i AS id, 1 + CAST(floor(random() * 10000) AS BIGINT) AS chain_id,
      'place ' || i AS name, 'category ' || CAST(floor(random() * 40) AS INTEGER) AS category,
      'street ' || CAST(floor(random() * 5000) AS INTEGER) || ', city ' || CAST(floor(random() * 500) AS INTEGER) AS address,
      round(random() * 100000, 2) AS revenue, round(48.5 + random() * 2.5, 6) AS lat, round(12 + random() * 6.9, 6) AS lng
      FROM range(1, {rows + 1}) t(i)) TO '{directory}/places.csv' (HEADER, DELIMITER ',')""")


def run(directory, runs):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for name, columns in TYPES.items():
        con.execute(f"CREATE TABLE {name} ({columns})")
        con.execute(f"INSERT INTO {name} SELECT * FROM read_csv('{directory}/{name}.csv', header = true)")
    for name, sql in QUESTIONS.items():
        con.execute(sql).fetchall()  # warm
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = con.execute(sql).fetchall()
            times.append((time.perf_counter() - start) * 1000)
        print(json.dumps({"name": name, "median_ms": round(statistics.median(times), 2), "rows": len(result)}), flush=True)


if __name__ == "__main__":
    command, directory, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"generate": generate, "places": places, "duckdb": run}[command](directory, n)
