"""A short speed check for users: what ``purenet bench`` measures.

How fast does purenet train and predict on *this* machine and interpreter?
For each workload (the named architectures of :mod:`purenet.architectures`:
``cnn-small``, ``mlp``, ``lenet``) it times ``model.train_on_batch`` with
SGD on real MNIST batches from the bundled subset (batch 32, after a short
warm-up that lets PyPy's JIT compile), and reports samples per second and
what that means for one 60,000-image MNIST epoch. Then it times the
single-image prediction a drawing app or ``purenet predict`` makes.

What it is not: the benchmark of record. That is ``benchmarks/run.py`` in
a source checkout, which first verifies purenet against a naive pure-Python
step, NumPy and PyTorch to 1e-9, compares against them in interleaved
rounds, and can run several interpreters in one go (docs/performance.md).
This module has no baseline to compare with, and takes the best of a few
short rounds, so its figures are a rough guide on a busy machine.

    >>> rows = run_training(["mlp"], seconds=0.05, rounds=1)
    >>> rows[0]["workload"], rows[0]["samples_per_s"] > 0
    ('mlp', True)
"""

import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

from . import architectures, datasets
from .losses import CrossEntropy
from .optimizers import SGD

__all__ = ["WORKLOADS", "run_training", "prediction_latency", "format_results"]

#: The workloads timed by default, in the order shown.
WORKLOADS = ("cnn-small", "mlp", "lenet")
BATCH_SIZE = 32
LEARNING_RATE = 0.01
MNIST_TRAIN_IMAGES = 60000


def _batches(batch_size: int):
    """Real MNIST batches (Matrix, labels) from the bundled training images, cycling forever."""
    x, y = datasets.load_bundled("train")
    count = len(x) // batch_size
    k = 0
    while True:
        s = (k % count) * batch_size
        yield x[s : s + batch_size].to_matrix(), list(y[s : s + batch_size])
        k += 1


def run_training(
    workloads: Sequence[str] = WORKLOADS,
    seconds: float = 3.0,
    rounds: int = 3,
    progress: Optional[Callable[[str], None]] = None,
) -> List[Dict]:
    """Training samples/s of each workload: the best of ``rounds`` rounds of about ``seconds / rounds``.

    Only ``train_on_batch`` is timed (the batches are converted to floats
    beforehand). Returns one dict per workload: ``workload``,
    ``samples_per_s``, ``epoch_seconds`` (60,000 images at that rate),
    ``steps``.
    """
    rows = []
    for name in workloads:
        if progress:
            progress(f"timing {name} training ...")
        model = architectures.build(name, seed=0)
        loss, optimizer = CrossEntropy(), SGD(LEARNING_RATE)
        batches = _batches(BATCH_SIZE)
        warm = time.perf_counter()
        while time.perf_counter() - warm < 0.1 * seconds:  # at least one step: JIT warm-up on PyPy
            model.train_on_batch(*next(batches), loss=loss, optimizer=optimizer)
        best, total = 0.0, 0
        for _ in range(rounds):
            steps, spent = 0, 0.0
            while steps == 0 or spent < seconds / rounds:
                x, y = next(batches)
                start = time.perf_counter()
                model.train_on_batch(x, y, loss=loss, optimizer=optimizer)
                spent += time.perf_counter() - start
                steps += 1
            best = max(best, steps * BATCH_SIZE / spent)
            total += steps
        rows.append({"workload": name, "samples_per_s": best, "epoch_seconds": MNIST_TRAIN_IMAGES / best,
                     "steps": total})
    return rows


def prediction_latency(model, samples: int = 30) -> Dict[str, float]:
    """Milliseconds ``model.predict`` takes on one bundled test image: median and best of ``samples``."""
    x, _ = datasets.load_bundled("test")
    model.predict(x[0:1])  # builds the index tables for a batch of one
    times = []
    for i in range(samples):
        start = time.perf_counter()
        model.predict(x[i : i + 1])
        times.append(1000.0 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "best_ms": min(times), "samples": samples}


def format_results(rows: List[Dict], latency: Optional[Dict[str, float]] = None) -> str:
    """The table ``purenet bench`` prints."""
    lines = [
        f"{platform.python_implementation()} {platform.python_version()}, one core, "
        f"batch {BATCH_SIZE}, SGD, best round",
        "",
        f"{'workload':<10}  {'samples/s':>10}  {'MNIST epoch':>12}",
    ]
    for r in rows:
        minutes, secs = divmod(int(round(r["epoch_seconds"])), 60)
        lines.append(f"{r['workload']:<10}  {r['samples_per_s']:>10.1f}  {minutes:>9d}:{secs:02d}")
    if latency:
        lines += ["", f"one-image prediction (shipped lenet): median {latency['median_ms']:.1f} ms, "
                  f"best {latency['best_ms']:.1f} ms over {latency['samples']} images"]
    return "\n".join(lines)
