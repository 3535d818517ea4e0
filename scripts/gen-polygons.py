"""Generated municipalities for the map benchmarks: N irregular rings of 160
vertices in a grid over Czechia, as CSV `id,name,population,geom` (WKT).
    python scripts/gen-polygons.py PATH N
"""
import math
import random
import sys

path, n = sys.argv[1], int(sys.argv[2])
random.seed(11)
side = math.ceil(math.sqrt(n))
dx, dy = 6.9 / side, 2.6 / side
with open(path, "w") as f:
    f.write("id,name,population,geom\n")
    for i in range(n):
        cx, cy = 12.1 + (i % side + 0.5) * dx, 48.6 + (i // side + 0.5) * dy
        phase = [random.random() * math.tau for _ in range(3)]
        ring = []
        for k in range(160):
            a = k / 160 * math.tau
            r = 0.42 * (1 + 0.12 * math.sin(3 * a + phase[0]) + 0.06 * math.sin(7 * a + phase[1]) + 0.03 * math.sin(13 * a + phase[2]))
            ring.append(f"{cx + r * dx * math.cos(a):.6f} {cy + r * dy * math.sin(a):.6f}")
        ring.append(ring[0])
        f.write(f'{i},Obec {i},{random.randint(100, 50000)},"POLYGON (({", ".join(ring)}))"\n')
