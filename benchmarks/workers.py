#!/usr/bin/env python3
"""How much faster does ``fit(workers=N)`` train than one process?

Usage (from a checkout; the repository root is put on ``sys.path``)::

    python benchmarks/workers.py                     # cnn-small and lenet, 1 vs 2 workers, batch 32
    python benchmarks/workers.py --batch-size 32,128 --workers 1,2 --seconds 30 --json out.json
    pypy3 benchmarks/workers.py --batch-size 32,128  # PyPy: 2 processes pay only at larger batches
    python benchmarks/workers.py --mnist-epoch       # one full-MNIST lenet epoch, 1 and 2 workers
    python benchmarks/workers.py --command [--augment]   # `purenet train --workers N` itself
    python benchmarks/workers.py --threads           # with another thread alive: fresh (not forked) workers
    python benchmarks/workers.py --start-cost        # what starting a worker costs, forked and fresh

Throughput mode (the default) times ``model.fit`` itself, as a user calls
it: starting and stopping the worker processes, cutting batches, converting
bytes to floats, the optimizer step, everything. Per workload
(``cnn-small``, ``lenet``: see ``purenet.architectures``) and batch size:

* a fresh model (``seed=0``) trains on the bundled MNIST images with SGD
  (lr 0.03, momentum 0.9, ``purenet train``'s defaults) for a fixed number
  of samples, chosen so that one process takes about ``--seconds / --rounds``
  (measured by a warm-up run, which also lets PyPy's JIT compile the loops);
* ``--rounds`` interleaved rounds (default 3); in each, every worker count
  runs once, in an order that rotates from round to round, so the machine's
  drifts hit every count alike. The figure reported is the best round
  (noise on a shared machine only slows a run down); the mean is in the JSON;
* every run with N workers is checked against the same round's one-process
  run: the weights must agree within 1e-12 (the promise of
  ``purenet.parallel``), else the script stops with an error;
* the CPU time of the parent and of the workers is recorded too. The
  "idle-core estimate" is the one-process CPU time divided by the busiest
  process's CPU time (the parent's, or a worker's on average): the speed-up
  the run would have had with a core of its own per process. On a loaded
  machine, where the measured ratio says little, it still shows what the
  parallel step costs (it leaves out pipe latency, which is small beside a
  step).

``--command`` times the command line instead: ``purenet train --arch A
--epochs 1 --limit L --workers N`` (``--augment`` adds that option), in
interleaved rounds as above, each run's training rate read from the
samples/s it prints for the epoch (the test-set evaluation after it is not
counted) and its saved weights checked against the one-process run's.

``--mnist-epoch`` instead trains one epoch of ``lenet`` on the 60,000 MNIST
training images (``$PURENET_DATA``, ``~/.cache/purenet`` or ``--data DIR``;
nothing is downloaded unless allowed) once per worker count, and reports its
wall time: on one CPython core that is several minutes.

The speed-up needs idle cores: on a machine where other work competes for
them, N workers share what is left and the ratio says little. Say so when
reporting figures.
"""

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import re
import resource
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import purenet as pn  # noqa: E402
from purenet.architectures import build  # noqa: E402

WORKLOADS = ("cnn-small", "lenet")
LEARNING_RATE, MOMENTUM = 0.03, 0.9
TOLERANCE = 1e-12


class MismatchError(AssertionError):
    """A parallel run's weights differ from the one-process run's by more than TOLERANCE."""


def _cpu():
    """CPU seconds of this process and of its finished children."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def train(arch, x, y, samples, batch_size, workers):
    """Fit a fresh seeded model on ``samples`` samples (whole epochs of ``x`` past its
    size); returns (seconds of the fit call, CPU seconds of the parent and of all
    workers, the model)."""
    model = build(arch, seed=0)
    epochs = -(-samples // len(x))
    if epochs == 1:
        x, y = x[:samples], y[:samples]
    optimizer = pn.SGD(LEARNING_RATE, momentum=MOMENTUM)
    cpu, start = _cpu(), time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, workers=workers)
    took, after = time.perf_counter() - start, _cpu()
    return took, (after[0] - cpu[0], after[1] - cpu[1]), model


def _max_diff(a, b):
    return max(abs(u - v) for p, q in zip(a.parameters(), b.parameters()) for u, v in zip(p.data, q.data))


def throughput(workloads=WORKLOADS, workers=(1, 2), batch_sizes=(32,), seconds=20.0, rounds=3, log=print):
    """Time fit with each worker count; returns the JSON-ready result."""
    x, y = pn.datasets.load_bundled("train")
    counts = sorted(set(workers) | {1})
    results = []
    for arch in workloads:
        for bs in batch_sizes:
            warm = max(2 * bs, 64)
            train(arch, x, y, warm, bs, 1)  # warm-up: PyPy's JIT compiles the loops
            took, _, _ = train(arch, x, y, warm, bs, 1)  # the rate of one process, warm
            samples = max(2 * bs, int(warm / took * seconds / rounds) // bs * bs)
            log(f"{arch}, batch {bs}: {samples} samples per run, {rounds} rounds")
            times = {w: [] for w in counts}
            cpus = {w: [] for w in counts}
            for r in range(rounds):
                order = counts[r % len(counts):] + counts[: r % len(counts)]
                models = {}
                for w in order:
                    took, cpu, models[w] = train(arch, x, y, samples, bs, w)
                    times[w].append(took)
                    cpus[w].append(cpu)
                    log(f"  round {r + 1}: {w} worker{'s' if w > 1 else ' '} {samples / took:8.1f} samples/s")
                for w in counts[1:]:
                    diff = _max_diff(models[1], models[w])
                    if not diff <= TOLERANCE:
                        raise MismatchError(f"{arch}, batch {bs}, {w} workers: weights differ from one process by {diff}")
            best1 = samples / min(times[1])
            serial_cpu = min(sum(c) for c in cpus[1])
            for w in counts:
                best = samples / min(times[w])
                # on idle cores a step lasts as long as the busiest process: the parent, or a worker
                busiest = min(max(parent, children / (w - 1) if w > 1 else 0.0) for parent, children in cpus[w])
                results.append({
                    "workload": arch, "batch_size": bs, "workers": w, "samples": samples,
                    "best_samples_per_s": best, "mean_samples_per_s": samples * len(times[w]) / sum(times[w]),
                    "speedup": best / best1, "seconds": times[w], "cpu_seconds": cpus[w],
                    "idle_speedup_estimate": serial_cpu / busiest if busiest > 0 else None,
                })
    return {"mode": "throughput", "rounds": rounds, "results": results}


def command_line(workloads=WORKLOADS, workers=(1, 2), limit=4000, rounds=3, augment=False, batch_size=32, log=print):
    """Time ``purenet train --workers N`` on the first ``limit`` bundled images; returns the
    JSON-ready result (rates as the command prints them for its one epoch)."""
    from purenet import cli

    counts = sorted(set(workers) | {1})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in workloads:
            rates = {w: [] for w in counts}
            for r in range(rounds):
                order = counts[r % len(counts):] + counts[: r % len(counts)]
                for w in order:
                    argv = ["train", "--arch", arch, "--epochs", "1", "--limit", str(limit), "--workers", str(w),
                            "--batch-size", str(batch_size), "--out", os.path.join(tmp, f"{w}.safetensors")]
                    argv += ["--augment"] if augment else []
                    out = io.StringIO()
                    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                        status = cli.main(argv)
                    found = re.search(r"^epoch 1/1 +[\d.]+s +(\d+) samples/s", out.getvalue(), re.M)
                    if status != 0 or not found:
                        raise RuntimeError(f"purenet {' '.join(argv)} failed (exit status {status}):\n{out.getvalue()}")
                    rates[w].append(float(found.group(1)))
                    log(f"  round {r + 1}: {arch}, {w} worker{'s' if w > 1 else ' '} {rates[w][-1]:8.0f} samples/s")
                one = pn.load(os.path.join(tmp, "1.safetensors"))
                for w in counts[1:]:
                    diff = _max_diff(one, pn.load(os.path.join(tmp, f"{w}.safetensors")))
                    if not diff <= TOLERANCE:
                        raise MismatchError(f"purenet train --arch {arch}, {w} workers: weights differ from one process by {diff}")
            for w in counts:
                results.append({
                    "workload": arch, "batch_size": batch_size, "workers": w, "samples": limit, "augment": augment,
                    "best_samples_per_s": max(rates[w]), "mean_samples_per_s": sum(rates[w]) / len(rates[w]),
                    "speedup": max(rates[w]) / max(rates[1]), "samples_per_s": rates[w], "idle_speedup_estimate": None,
                })
    return {"mode": "command", "rounds": rounds, "limit": limit, "augment": augment, "results": results}


def mnist_epoch(arch="lenet", workers=(1, 2), batch_size=32, root=None, log=print):
    """One epoch over the 60,000 MNIST training images per worker count."""
    x, y = pn.datasets.load_mnist("train", root=root)
    results = []
    for w in workers:
        model = build(arch, seed=0)
        cpu, start = _cpu(), time.perf_counter()
        history = model.fit(x, y, epochs=1, batch_size=batch_size,
                            optimizer=pn.SGD(LEARNING_RATE, momentum=MOMENTUM), workers=w)
        took, after = time.perf_counter() - start, _cpu()
        parent, children = after[0] - cpu[0], after[1] - cpu[1]
        log(f"{arch}, one MNIST epoch ({len(x):,} images, batch {batch_size}), {w} worker{'s' if w > 1 else ''}: "
            f"{took:.1f} s ({len(x) / took:.0f} samples/s; CPU s: parent {parent:.1f}, workers {children:.1f}), "
            f"loss {history['loss'][0]:.4f}, accuracy {history['accuracy'][0]:.2%}")
        results.append({"workload": arch, "batch_size": batch_size, "workers": w, "samples": len(x),
                        "seconds": took, "cpu_seconds": [parent, children],
                        "loss": history["loss"][0], "accuracy": history["accuracy"][0]})
    return {"mode": "mnist-epoch", "results": results}


def start_cost(arch="cnn-small", rounds=5, log=print):
    """What starting one worker costs, forked and fresh ("exec"): the wall time from ``Workers(...)``
    to its first step's end (bundled MNIST, batch 32, 2 processes) minus one step's, and the
    CPU seconds of parent and worker together; the best of ``rounds``. Returns the JSON-ready result."""
    from purenet import parallel
    from purenet.inputs import as_inputs, as_targets

    x, y = pn.datasets.load_bundled("train")
    model = build(arch, seed=0)
    inputs = as_inputs(x, model.in_features)
    targets = as_targets(y, len(inputs), model.out_features)
    batch = list(range(32))
    results = []
    for start in ("fork", "exec"):
        walls, cpus = [], []
        for r in range(rounds):
            cpu, t0 = _cpu(), time.perf_counter()
            with parallel.Workers(model, pn.CrossEntropy(), 2, inputs, targets, start=start) as pool:
                pool.step(batch, [], pn.SGD(LEARNING_RATE))
                t1 = time.perf_counter()
                pool.step(batch, [], pn.SGD(LEARNING_RATE))  # a step with the worker warm
                t2 = time.perf_counter()
            after = _cpu()
            walls.append((t1 - t0) - (t2 - t1))
            cpus.append(sum(after) - sum(cpu))
            log(f"  {start}: round {r + 1}: start {walls[-1] * 1000:.0f} ms")
        results.append({"workload": arch, "start": start, "images": len(x), "best_start_seconds": min(walls),
                        "start_seconds": walls, "cpu_seconds_with_two_steps": cpus})
    return {"mode": "start-cost", "rounds": rounds, "results": results}


def format_table(result):
    if result["mode"] == "start-cost":
        lines = ["workload   start  images  start ms (best)  CPU s (best, with 2 steps)", "-" * 66]
        for r in result["results"]:
            lines.append(f"{r['workload']:<9}  {r['start']:<5}  {r['images']:6d}  {r['best_start_seconds'] * 1000:15.0f}"
                         f"  {min(r['cpu_seconds_with_two_steps']):26.2f}")
        return "\n".join(lines)
    lines = ["workload   batch  workers  samples/s (best)  (mean)  vs 1 worker  idle-core estimate",
             "---------  -----  -------  ----------------  ------  -----------  ------------------"]
    for r in result["results"]:
        estimate = r["idle_speedup_estimate"]
        lines.append(f"{r['workload']:<9}  {r['batch_size']:>5}  {r['workers']:>7}  {r['best_samples_per_s']:>16.1f}"
                     f"  {r['mean_samples_per_s']:>6.1f}  {r['speedup']:>10.2f}x"
                     + (f"  {estimate:>17.2f}x" if estimate else ""))
    return "\n".join(lines)


def _interpreter():
    return {
        "implementation": platform.python_implementation(), "version": platform.python_version(),
        "executable": sys.executable, "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _ints(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers; Received: {text!r}")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description="Time fit(workers=N) against one process (see the module docstring).")
    parser.add_argument("--workloads", default=None,
                        help=f"comma-separated: {', '.join(WORKLOADS)} (default: both; lenet with --mnist-epoch)")
    parser.add_argument("--workers", type=_ints, default=[1, 2], help="worker counts (default: 1,2)")
    parser.add_argument("--batch-size", type=_ints, default=[32], help="batch sizes (default: 32)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="about how long one process trains per workload and batch size, over all rounds (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is reported (default 3)")
    parser.add_argument("--mnist-epoch", action="store_true", help="time one full-MNIST epoch per worker count instead")
    parser.add_argument("--command", action="store_true",
                        help="time `purenet train --workers N` (one epoch of --limit bundled images) instead of fit")
    parser.add_argument("--limit", type=int, default=4000, help="images per run with --command (default 4000)")
    parser.add_argument("--augment", action="store_true", help="with --command: train with --augment")
    parser.add_argument("--data", metavar="DIR", help="where the MNIST files are (--mnist-epoch; default: the usual lookup)")
    parser.add_argument("--start-cost", action="store_true",
                        help="time starting a worker, forked and as a fresh interpreter, instead")
    parser.add_argument("--threads", action="store_true",
                        help="keep another thread alive meanwhile, as a Jupyter kernel does: fit's workers then "
                        "start as fresh interpreters instead of forked processes")
    parser.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    names = [w.strip() for w in (args.workloads or "").split(",") if w.strip()]
    for name in names:
        if name not in pn.architectures.ARCHITECTURES:
            parser.error(f"unknown workload {name!r} (expected one of {', '.join(pn.architectures.ARCHITECTURES)})")
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds must be positive and --rounds at least 1")

    if args.threads:  # never set: it only has to be alive while the workers start
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    interp = _interpreter()
    print(f"interpreter: {interp['implementation']} {interp['version']}, {interp['cpus']} CPUs, "
          f"load average {interp['load_average']}")
    if args.mnist_epoch:
        result = {}
        for arch in names or ["lenet"]:
            for bs in args.batch_size:
                part = mnist_epoch(arch, args.workers, bs, args.data)
                result.setdefault("results", []).extend(part["results"])
        result["mode"] = "mnist-epoch"
    else:
        try:
            if args.start_cost:
                result = start_cost((names or ["cnn-small"])[0], args.rounds)
            elif args.command:
                result = command_line(names or WORKLOADS, args.workers, args.limit, args.rounds, args.augment,
                                      args.batch_size[0])
            else:
                result = throughput(names or WORKLOADS, args.workers, args.batch_size, args.seconds, args.rounds)
        except MismatchError as e:
            print(f"MISMATCH: {e}", file=sys.stderr)
            return 1
        if args.command:
            print(f"purenet train{' --augment' if args.augment else ''} --limit {args.limit}, the rate it prints for the epoch:")
        print(format_table(result))
    result["interpreter"] = interp
    result["other_threads"] = args.threads
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
