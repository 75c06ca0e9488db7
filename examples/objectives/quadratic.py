#!/usr/bin/env python3
"""A fast objective for trying ferrotune out: (x - 2)^2 + (y + 1)^2, with the
parameters passed as command-line placeholders (--x={x} --y={y})."""
import argparse

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--y", type=float, required=True)
a = p.parse_args()
for step in range(1, 4):
    print(f"ferrotune: report step={step} value={((a.x - 2) ** 2 + (a.y + 1) ** 2) * (1 + 1 / step):.6f}")
print(f"ferrotune: value={(a.x - 2) ** 2 + (a.y + 1) ** 2}")
