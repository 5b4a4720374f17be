#!/usr/bin/env python3
"""Time one full-MNIST training epoch and record the peak memory it needed.

Usage (from a checkout)::

    python benchmarks/epoch.py [--arch lenet] [--data DIR] [--workers 1,2]
                               [--limit N] [--json OUT]

The step benchmark (``run.py``) times single steps on the bundled subset;
this script answers the user's questions about the real thing: how long an
epoch over the 60,000 MNIST training images takes with ``model.fit``, and
how much memory training on all of them uses (the images stay compact
bytes and are converted to floats one batch at a time, so it should be far
below the ~1.5 GB that 47M Python floats would take).

- Data: the full MNIST training set from ``--data DIR``, else where
  :func:`purenet.datasets.load_mnist` looks (``$PURENET_DATA``,
  ``~/.cache/purenet``; downloaded there unless ``PURENET_OFFLINE=1``).
- Training: ``model.fit(epochs=1, batch_size=32, optimizer=SGD(0.01))`` on a
  fresh seeded model, timed end to end (shuffling, batch conversion, every
  step). With ``--workers`` (comma-separated counts) and a purenet whose
  ``fit`` accepts ``workers=``, each count is timed in turn; counts other
  than 1 are skipped with a note when ``fit`` has no such argument.
- Memory: the peak resident set (``ru_maxrss``) of this process, and of its
  finished child processes (worker processes, if any) after each fit.

Each count starts from the same fresh model, so the figures compare alike.
Nothing here is run by the test suite except a tiny ``--limit`` smoke run.
"""

import argparse
import datetime
import inspect
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
from purenet import architectures  # noqa: E402

BATCH_SIZE = 32
LEARNING_RATE = 0.01


def fit_accepts_workers():
    """True when ``Sequential.fit`` takes a ``workers`` argument (data-parallel training)."""
    return "workers" in inspect.signature(pn.Sequential.fit).parameters


def peak_rss_mib(who):
    """Peak resident set in MiB of this process (``"self"``) or its finished children."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    which = resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN
    peak = resource.getrusage(which).ru_maxrss
    return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def time_epoch(arch, x, y, workers):
    """Seconds for one epoch of ``fit`` on (x, y), and the final training loss."""
    model = architectures.build(arch, seed=0)
    kwargs = {"workers": workers} if workers != 1 else {}
    start = time.perf_counter()
    history = model.fit(x, y, epochs=1, batch_size=BATCH_SIZE, optimizer=pn.SGD(LEARNING_RATE), **kwargs)
    return time.perf_counter() - start, history["loss"][-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Time one full-MNIST epoch of model.fit; report peak memory.")
    parser.add_argument("--arch", default="lenet", choices=sorted(architectures.ARCHITECTURES))
    parser.add_argument("--data", metavar="DIR", help="directory with the MNIST IDX files")
    parser.add_argument("--workers", default="1", help="comma-separated worker counts (default 1)")
    parser.add_argument("--limit", type=int, help="use only the first N training images (smoke runs)")
    parser.add_argument("--bundled", action="store_true", help="use the bundled subset (offline smoke runs)")
    parser.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    if not counts or min(counts) < 1:
        parser.error("--workers must be positive counts, e.g. 1,2")

    if args.bundled:
        x, y = pn.datasets.load_bundled("train")
    else:
        x, y = pn.datasets.load_mnist("train", root=args.data)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    interp = "%s %s" % (platform.python_implementation(), platform.python_version())
    print("%s: %s epoch over %d images, batch %d, SGD(%g)" % (interp, args.arch, len(x), BATCH_SIZE, LEARNING_RATE))
    runs = []
    for workers in counts:
        if workers != 1 and not fit_accepts_workers():
            print("  workers=%d: skipped (this purenet's fit has no workers argument)" % workers)
            runs.append({"workers": workers, "skipped": "fit has no workers argument"})
            continue
        seconds, loss = time_epoch(args.arch, x, y, workers)
        run = {"workers": workers, "seconds": seconds, "samples_per_s": len(x) / seconds, "final_loss": loss,
               "peak_rss_mib": peak_rss_mib("self"), "peak_rss_children_mib": peak_rss_mib("children")}
        runs.append(run)
        print("  workers=%d: %.1f s (%.0f samples/s), loss %.4f, peak memory %.0f MiB (children %.0f MiB)"
              % (workers, seconds, run["samples_per_s"], loss, run["peak_rss_mib"] or 0,
                 run["peak_rss_children_mib"] or 0))
    if args.json:
        result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "interpreter": {"implementation": platform.python_implementation(),
                                  "version": platform.python_version(), "executable": sys.executable},
                  "arch": args.arch, "images": len(x), "batch_size": BATCH_SIZE, "lr": LEARNING_RATE,
                  "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                  "runs": runs}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
