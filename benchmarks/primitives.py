"""The measured facts purenet's kernels are built on: how fast each way of
writing a dot product, a short dot product and a list computation runs on the
interpreter that runs this script.

    python benchmarks/primitives.py            # one interpreter
    python benchmarks/primitives.py --json F   # also write the figures to F

Each figure is million multiply-adds per second (the best of several timed
repeats), so within one run they compare directly. docs/performance.md
("Kernel facts") holds the figures of CPython 3.9, 3.11, 3.13 and PyPy 3.9.
"""

import argparse
import json
import math
import operator
import platform
import random
import sys
import time
from array import array


def dot_sumprod(a, b):
    return math.sumprod(a, b)


def dot_map(a, b):
    return sum(map(operator.mul, a, b))


def dot_generator(a, b):
    return sum(x * y for x, y in zip(a, b))


def dot_index(a, b):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


def rate(fn, a, b, pairs: int, repeats: int = 5) -> float:
    """Million multiply-adds per second of ``fn(a, b)`` called ``pairs`` times (best repeat)."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(pairs):
            fn(a, b)
        best = min(best, time.perf_counter() - t)
    return pairs * len(a) / best / 1e6


def measure() -> dict:
    rng = random.Random(0)
    long_a = [rng.random() for _ in range(784)]
    long_b = [rng.random() for _ in range(784)]
    short_a, short_b = long_a[:9], long_b[:9]
    kernels = {"map": dot_map, "generator": dot_generator, "index loop": dot_index}
    if hasattr(math, "sumprod"):
        kernels = {"math.sumprod": dot_sumprod, **kernels}
    figures = {}
    for name, fn in kernels.items():
        figures[f"dot 784, {name}"] = rate(fn, long_a, long_b, 2000)
        figures[f"dot 9, {name}"] = rate(fn, short_a, short_b, 100000)
    best = kernels.get("math.sumprod", dot_map)
    figures["dot 784, array('d'), best kernel"] = rate(best, array("d", long_a), array("d", long_b), 2000)
    figures["dot 784, list, best kernel"] = figures[f"dot 784, {'math.sumprod' if best is dot_sumprod else 'map'}"]
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    name = f"{platform.python_implementation()} {platform.python_version()}"
    figures = measure()
    width = max(map(len, figures))
    print(name)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value:7.1f} M multiply-adds/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"interpreter": name, "figures": figures}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
