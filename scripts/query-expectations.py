#!/usr/bin/env python3
"""Writes the expected rows of every query case, computed by DuckDB.

The cases live in crates/locus-data/tests/queries/cases/*.json. Each holds a
DWH query (the JSON Locus receives), optionally the data-permission filters of
the caller, and the same question in DuckDB SQL over the same CSV files
(crates/locus-data/tests/queries/data/*.csv). This script runs that SQL and
stores its rows as the case's `expected`; the Rust test (locus-data
tests/it/queries.rs) runs the query through Locus and compares. Error cases
(an `error` key) have no SQL.

Run after adding or changing a case:
    python3 -m venv target/duckdb-venv && target/duckdb-venv/bin/pip install duckdb==2.0.* h3==4.* numpy
    target/duckdb-venv/bin/python scripts/query-expectations.py
"""
import datetime
import decimal
import json
import math
import pathlib
import sys

import duckdb
import h3

ROOT = pathlib.Path(__file__).resolve().parent.parent / "crates/locus-data/tests/queries"
# DuckDB column types for each property type of model.json.
TYPES = {
    "integer": "BIGINT", "bigint": "BIGINT", "decimal": "DOUBLE", "string": "VARCHAR",
    "boolean": "BOOLEAN", "date": "DATE", "latitude": "DOUBLE", "longitude": "DOUBLE",
}


def h3cell(lat, lng, resolution):
    """function_h3_grid's reference: the H3 library's own cell of a point."""
    if lat is None or lng is None:
        return None
    return h3.latlng_to_cell(lat, lng, resolution)


def load(con):
    from duckdb.sqltypes import DOUBLE, INTEGER, VARCHAR
    con.create_function("h3cell", h3cell, [DOUBLE, DOUBLE, INTEGER], VARCHAR, null_handling="special")
    model = json.loads((ROOT / "model.json").read_text())
    for name, ref in model["datasets"].items():
        columns = {p["name"]: TYPES[p["type"]] for p in ref["properties"]}
        spec = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
        path = ROOT / "data" / f"{name}.csv"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=true, columns={{{spec}}})")


def cell(v):
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()[:10]
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def main():
    con = duckdb.connect()
    con.execute("SET threads = 2")
    load(con)
    cases = sorted((ROOT / "cases").glob("*.json"))
    for path in cases:
        case = json.loads(path.read_text())
        if "error" in case:
            case.pop("expected", None)
        else:
            cur = con.execute(case["sql"])
            names = [d[0] for d in cur.description]
            case["expected"] = [{n: cell(v) for n, v in zip(names, row)} for row in cur.fetchall()]
        path.write_text(json.dumps(case, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases written", file=sys.stderr)


if __name__ == "__main__":
    main()
