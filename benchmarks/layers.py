#!/usr/bin/env python3
"""Forward + backward time of single layers, relative to ReLU on the same input.

Usage (from a checkout)::

    python benchmarks/layers.py [--repeat R]

Each layer runs ``forward(x, training=True)`` then ``backward(g)`` on a
batch of 32 random samples (shape in the table), ``R`` times (default 60 on
PyPy, whose JIT needs the repetitions, 8 elsewhere), twice over in turn so
that a slow patch of the machine hits every layer; the best time counts.
Printed: milliseconds and the ratio to ReLU on the (8, 26, 26) input.
"""

import argparse
import os
import platform
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import purenet as pn  # noqa: E402

BATCH = 32
CASES = [  # (name, constructor, sample shape)
    ("ReLU", lambda: pn.ReLU(), (8, 26, 26)),
    ("LeakyReLU", lambda: pn.LeakyReLU(), (8, 26, 26)),
    ("MaxPool2D(2)", lambda: pn.MaxPool2D(2), (8, 26, 26)),
    ("AvgPool2D(2)", lambda: pn.AvgPool2D(2), (8, 26, 26)),
    ("AvgPool2D(3, stride=2, padding=1)", lambda: pn.AvgPool2D(3, stride=2, padding=1), (8, 26, 26)),
    ("BatchNorm2D", lambda: pn.BatchNorm2D(), (8, 26, 26)),
    ("GlobalAvgPool2D", lambda: pn.GlobalAvgPool2D(), (8, 26, 26)),
    ("BatchNorm1D", lambda: pn.BatchNorm1D(), (128,)),
]


def time_layer(make, shape, repeat, rng):
    layer = make()
    layer.build(shape, rng)
    size = 1
    for s in shape:
        size *= s
    x = pn.Matrix.from_flat([rng.uniform(-1.0, 1.0) for _ in range(BATCH * size)], BATCH, size)
    out = layer.forward(x, training=True)
    g = pn.Matrix.from_flat([rng.uniform(-1.0, 1.0) for _ in out.data], BATCH, out.cols)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        layer.forward(x, training=True)
        layer.backward(g)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = 60 if platform.python_implementation() == "PyPy" else 8
    parser.add_argument("--repeat", type=int, default=default, help="repetitions per layer and pass (default %d here)" % default)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    best = {}
    for _ in range(2):
        for name, make, shape in CASES:
            best[name] = min(best.get(name, float("inf")), time_layer(make, shape, args.repeat, rng))
    print("%s %s, batch %d, forward + backward (training), best of 2 x %d"
          % (platform.python_implementation(), platform.python_version(), BATCH, args.repeat))
    for name, _, shape in CASES:
        print("%-36s %-14s %9.2f ms %7.2fx ReLU" % (name, shape, 1000 * best[name], best[name] / best["ReLU"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
