#!/usr/bin/env python3
"""How purenet's training cost grows with batch size, image size and model size.

Usage (from a checkout)::

    python benchmarks/scaling.py [--seconds S] [--json OUT]

Three sweeps around ``cnn-small`` (Conv2D(F, 3) ReLU MaxPool2D(2) Flatten
Dense(10), SGD, real MNIST images from the bundled subset), one knob at a
time, everything else as in the reference workload (batch 32, 28x28, 8
filters):

- batch size 8 ... 256: per-sample cost of a step;
- image size 14, 28, 56 (MNIST shrunk by 2x2 averaging, or enlarged by
  repeating each pixel 2x2, so the digits stay digits and as sparse);
- model size: 4 ... 32 filters, and the ``mlp`` with 32 ... 512 hidden units.

Each configuration is timed for the best of 3 short rounds of
``model.train_on_batch``. The multiply-adds of one sample's forward pass
(``macs``) are listed next to the time, so the per-MAC cost shows what
pure Python's per-call overhead does at each size. One interpreter per
run (run it with each); docs/performance.md shows the results.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import purenet as pn  # noqa: E402
from purenet import Matrix  # noqa: E402


def resized(flat, size):
    """One 28x28 MNIST image (784 floats) as ``size x size``: 2x2 means for 14, 2x2 repeats for 56."""
    if size == 28:
        return list(flat)
    if size == 14:
        return [(flat[(2 * y) * 28 + 2 * x] + flat[(2 * y) * 28 + 2 * x + 1]
                 + flat[(2 * y + 1) * 28 + 2 * x] + flat[(2 * y + 1) * 28 + 2 * x + 1]) / 4.0
                for y in range(14) for x in range(14)]
    if size == 56:
        return [flat[(y // 2) * 28 + x // 2] for y in range(56) for x in range(56)]
    raise ValueError("image size must be 14, 28 or 56; Received: %r" % size)


def cnn(filters, size):
    layers = [pn.Conv2D(filters, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(10), pn.Softmax()]
    model = pn.Sequential(layers, input_shape=(1, size, size), seed=0)
    side = (size - 2) // 2
    macs = filters * 9 * (size - 2) ** 2 + 10 * filters * side * side
    return model, macs


def mlp(hidden):
    model = pn.Sequential([pn.Flatten(), pn.Dense(hidden), pn.ReLU(), pn.Dense(10), pn.Softmax()],
                          input_shape=(1, 28, 28), seed=0)
    return model, 784 * hidden + hidden * 10


def time_steps(model, batches, seconds):
    """Best samples/s over 3 rounds of about seconds/3 (after one warm-up step per batch shape)."""
    loss, opt = pn.CrossEntropy(), pn.SGD(0.01)
    model.train_on_batch(*batches[0], loss=loss, optimizer=opt)
    warm = time.perf_counter()
    while time.perf_counter() - warm < 0.1 * seconds:
        model.train_on_batch(*batches[0], loss=loss, optimizer=opt)
    best = 0.0
    k = 0
    for _ in range(3):
        steps, spent, samples = 0, 0.0, 0
        while steps == 0 or spent < seconds / 3:
            x, y = batches[k % len(batches)]
            k += 1
            start = time.perf_counter()
            model.train_on_batch(x, y, loss=loss, optimizer=opt)
            spent += time.perf_counter() - start
            steps += 1
            samples += len(y)
        best = max(best, samples / spent)
    return best


def make_batches(images, labels, batch, size, count=8):
    out = []
    for b in range(count):
        idx = [(b * batch + i) % len(labels) for i in range(batch)]
        rows = [resized(images[i], size) for i in idx]
        out.append((Matrix.from_flat([v for r in rows for v in r], batch, size * size), [labels[i] for i in idx]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Training cost against batch, image and model size.")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)
    x, y = pn.datasets.load_bundled("train")
    images = [x[i] for i in range(2048)]
    labels = list(y[:2048])
    rows = []

    def record(sweep, setting, model, macs, batch, size):
        rate = time_steps(model, make_batches(images, labels, batch, size), args.seconds)
        row = {"sweep": sweep, "setting": setting, "batch": batch, "image": size, "macs_per_sample": macs,
               "samples_per_s": rate, "us_per_sample": 1e6 / rate, "ns_per_mac": 1e9 / (rate * macs)}
        rows.append(row)
        print("%-6s %-14s %12.1f samples/s %10.0f us/sample %8.1f ns/MAC"
              % (sweep, setting, rate, row["us_per_sample"], row["ns_per_mac"]), flush=True)

    print("%s %s" % (platform.python_implementation(), platform.python_version()))
    for batch in (8, 16, 32, 64, 128, 256):
        model, macs = cnn(8, 28)
        record("batch", "cnn-small b%d" % batch, model, macs, batch, 28)
    for size in (14, 28, 56):
        model, macs = cnn(8, size)
        record("image", "cnn %dx%d" % (size, size), model, macs, 32, size)
    for filters in (4, 8, 16, 32):
        model, macs = cnn(filters, 28)
        record("model", "cnn F=%d" % filters, model, macs, 32, 28)
    for hidden in (32, 128, 512):
        model, macs = mlp(hidden)
        record("model", "mlp H=%d" % hidden, model, macs, 32, 28)
    if args.json:
        result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "interpreter": {"implementation": platform.python_implementation(),
                                  "version": platform.python_version()},
                  "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                  "seconds": args.seconds, "rows": rows}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
