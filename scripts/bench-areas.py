#!/usr/bin/env python3
"""Automatic area mapping, measured against a reference (scripts/bench-areas.sh).

    bench-areas.py generate DIR SIDE VERTICES POINTS
        areas.csv: SIDE x SIDE square polygons tiling a box over Czechia, as
        WKT with VERTICES vertices each (the edges cut into equal steps, so a
        point-in-polygon test costs what a detailed outline costs); and
        points.csv: POINTS seeded random points over the box and a margin
        around it (about a tenth fall outside every polygon).
    bench-areas.py reference DIR
        The same mapping by shapely's STRtree (GEOS), timed, and compared row
        by row with DIR/dump.csv (Locus's dump of the loaded points): each
        point's polygon, the smallest key where a point is on a shared border.
"""
import csv
import random
import sys
import time

X0, X1, Y0, Y1 = 12.0, 19.0, 48.5, 51.0


def generate(out, side, vertices, points):
    per_edge = max(vertices // 4, 1)
    dx, dy = (X1 - X0) / side, (Y1 - Y0) / side
    with open(f"{out}/areas.csv", "w") as f:
        f.write("id,geometry\n")
        key = 0
        for i in range(side):
            for j in range(side):
                ax, ay = X0 + i * dx, Y0 + j * dy
                bx, by = ax + dx, ay + dy
                ring = [(ax + dx * s / per_edge, ay) for s in range(per_edge)]
                ring += [(bx, ay + dy * s / per_edge) for s in range(per_edge)]
                ring += [(bx - dx * s / per_edge, by) for s in range(per_edge)]
                ring += [(ax, by - dy * s / per_edge) for s in range(per_edge)]
                ring.append(ring[0])
                key += 1
                f.write(f'{key},"POLYGON(({",".join(f"{x:.6f} {y:.6f}" for x, y in ring)}))"\n')
    rng = random.Random(7)
    with open(f"{out}/points.csv", "w") as f:
        f.write("id,lat,lng\n")
        for p in range(points):
            f.write(f"{p + 1},{rng.uniform(Y0 - 0.1, Y1 + 0.1):.6f},{rng.uniform(X0 - 0.1, X1 + 0.1):.6f}\n")


def reference(out):
    import numpy as np
    import shapely

    csv.field_size_limit(1 << 30)
    with open(f"{out}/areas.csv") as f:
        rows = list(csv.reader(f))[1:]
    keys = [int(r[0]) for r in rows]
    polygons = shapely.from_wkt([r[1] for r in rows])
    coords = np.loadtxt(f"{out}/points.csv", delimiter=",", skiprows=1)
    start = time.perf_counter()
    tree = shapely.STRtree(polygons)
    point_rows, polygon_rows = tree.query(shapely.points(coords[:, 2], coords[:, 1]), predicate="intersects")
    took = time.perf_counter() - start
    best = {}
    for p, g in zip(point_rows.tolist(), polygon_rows.tolist()):
        if p not in best or keys[g] < best[p]:
            best[p] = keys[g]
    print(f"shapely STRtree, one thread: {took:.2f} s for {len(coords)} points, {len(best)} in a polygon")
    with open(f"{out}/dump.csv") as f:
        dumped = list(csv.DictReader(f))
    differ = sum(1 for r in dumped if (int(r["area_id"]) if r["area_id"] else None) != best.get(int(r["id"]) - 1))
    print(f"Locus: {sum(1 for r in dumped if r['area_id'])} of {len(dumped)} points in a polygon; {differ} differ from shapely")
    if differ or len(dumped) != len(coords):
        sys.exit("the mappings differ")


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        reference(sys.argv[2])
