#!/usr/bin/env python3
"""Training-throughput benchmark: purenet against a naive baseline (and NumPy/PyTorch).

Usage (from a checkout; the repository root is put on ``sys.path``, so no
install is needed)::

    python benchmarks/run.py [--workloads cnn-small,mlp] [--seconds S]
                             [--rounds R] [--json OUT] [--verify-only]

What it does, per workload (``cnn-small``, ``mlp``; see PERFORMANCE.md):

1. Builds the purenet model with ``seed=0`` and takes its initial weights
   (``model.state_dict()``, renamed and reshaped to the equivalent PyTorch
   ``nn.Sequential``: conv weight ``[f][c][ky][kx]``, biases ``[n]``).
2. VERIFIES before timing anything: one SGD step on the first real MNIST
   batch (bundled data) with purenet, then the same step from the same
   weights with every other implementation. Each must give the same loss
   (computed before the update) and the same weights after the step as
   purenet: within 1e-9 (absolute) for the float64 implementations (naive,
   NumPy float64, PyTorch float64) and within 1e-5 for the float32 ones
   (NumPy float32, PyTorch float32), which cannot hold 1e-9 (float32 has
   about 7 significant digits). Any difference stops the run with a
   ``VerificationError`` listing every mismatch. The step must also change
   the weights, so the comparison can't pass vacuously.
3. Times repeated training steps (batch 32, SGD, lr 0.01) on successive real
   batches, cycling through the bundled training images.

Timing method (chosen for these noisy 2-core machines):

* Only the training step itself is timed (``time.perf_counter`` around each
  call). Every implementation gets its batches in its native form, built
  outside the timed region: flat lists of floats for naive, a purenet
  ``Matrix`` (``ImageSet[a:b].to_matrix()``) for purenet, arrays/tensors for
  NumPy/PyTorch. So the figures compare the math, not the uint8 -> float
  conversion (which is ~1% of a purenet step anyway).
* Each implementation first warms up, untimed, for 10% of ``--seconds``
  (at least one step): this lets PyPy's JIT compile the hot loops.
* Then ``--rounds`` rounds (default 3). In each round every implementation
  runs steps until its timed total reaches ``--seconds / --rounds`` (at
  least one step; at least two in total for each). The order of the
  implementations rotates from round to round, so slow drifts of the
  machine (other processes, thermal, turbo) hit every implementation alike.
* The figure reported is the best round per implementation (samples per
  second of timed step time): noise on a shared machine only ever slows a
  run down, so the best round is the closest to the true speed. The mean
  over all rounds is in the JSON too.
* Everything runs on one core: PyTorch with ``torch.set_num_threads(1)``,
  NumPy's BLAS with ``OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1``
  (set before NumPy is imported, unless already set in the environment). On
  a busy 2-core machine, BLAS worker threads spinning against other
  processes made NumPy 10-20x slower and erratic.

Output: the interpreter, a table (samples/s, ratio to naive, ratio to
purenet), the purenet/naive ratio per workload, the peak resident memory of
the process (``ru_maxrss``), and with ``--json OUT`` every figure plus the
interpreter, the machine and the date.

The functions ``verify(workload, batch_size=..)`` and ``run(..)`` are what
the test suite calls.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (ROOT, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# One core for everyone: pure Python uses one, PyTorch is set to one thread,
# and so are the BLAS libraries behind NumPy (on a busy 2-core machine their
# spinning worker threads made NumPy 10-20x slower and erratic). Must be set
# before NumPy is imported; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import naive  # noqa: E402

try:
    import numpy  # noqa: F401
except ImportError:
    reference_numpy = None
else:
    import reference_numpy

try:
    import torch  # noqa: F401
except ImportError:
    reference_torch = None
else:
    import reference_torch

WORKLOADS = ("cnn-small", "mlp", "lenet", "cnn-bn")
# Workloads only some implementations compute: naive.py and reference_numpy.py
# have no BatchNorm (naive's step runs one sample at a time, and BatchNorm's
# statistics couple the samples of a batch), so cnn-bn is purenet and PyTorch.
IMPLEMENTATIONS_OF = {"cnn-bn": ("purenet", "torch-float64", "torch-float32")}
BATCH_SIZE = 32
LEARNING_RATE = 0.01
TOLERANCE = {"float64": 1e-9, "float32": 1e-5}
# purenet trained by the manual loop (forward / loss / backward / step) rather than train_on_batch
PURENET_MANUAL = "purenet-manual"

# purenet state_dict name -> PyTorch nn.Sequential name. The mlp is built as
# in the docs, Flatten first, so purenet's Dense layers sit at indices 1 and 3
# while the PyTorch Sequential (Linear, ReLU, Linear) has them at 0 and 2.
NAME_MAP = {
    "cnn-small": {"0.weight": "0.weight", "0.bias": "0.bias",
                  "4.weight": "4.weight", "4.bias": "4.bias"},
    "mlp": {"1.weight": "0.weight", "1.bias": "0.bias",
            "3.weight": "2.weight", "3.bias": "2.bias"},
    "lenet": {name: name for name in ("0.weight", "0.bias", "3.weight", "3.bias",
                                      "7.weight", "7.bias", "9.weight", "9.bias")},
    # cnn-bn's GlobalAvgPool2D (11) is AdaptiveAvgPool2d + Flatten (11, 12) in
    # PyTorch, so its Dense (12) is module 13; BatchNorm layers bring their buffers
    "cnn-bn": dict([(name, name) for name in ("0.weight", "0.bias", "4.weight", "4.bias", "8.weight")]
                   + [("%d.%s" % (i, name), "%d.%s" % (i, name)) for i in (3, 7, 9)
                      for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
                   + [("12.weight", "13.weight"), ("12.bias", "13.bias")]),
}
# PyTorch shapes of the 4-D conv weights (purenet stores (filters, c*kh*kw)).
CONV_SHAPES = {"cnn-small": {"0.weight": (8, 1, 3, 3)}, "mlp": {},
               "lenet": {"0.weight": (8, 1, 3, 3), "3.weight": (16, 8, 3, 3)},
               "cnn-bn": {"0.weight": (8, 1, 3, 3), "4.weight": (16, 8, 3, 3),
                          "8.weight": (32, 16, 3, 3)}}


class VerificationError(AssertionError):
    """Two implementations disagree: the timing would be meaningless."""


# ----------------------------------------------------------------------------
# purenet side
# ----------------------------------------------------------------------------

def _purenet():
    try:
        import purenet as pn
    except ImportError as exc:  # pragma: no cover - only before the package exists
        raise SystemExit("benchmarks/run.py needs the purenet package (run it from a "
                         "checkout, or pip install -e .): %s" % exc)
    return pn


def build_purenet(workload):
    """The workload's purenet model (purenet.architectures, seed 0)."""
    _purenet()
    from purenet import architectures
    if workload not in WORKLOADS:
        raise ValueError("unknown workload %r (expected one of %s)"
                         % (workload, ", ".join(WORKLOADS)))
    return architectures.build(workload, seed=0)


def _reshape(flat, shape):
    """Flat list -> nested lists of the given shape (row-major)."""
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _flatten(value):
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_flatten(v))
        return out
    return [float(value)]


def purenet_state(model, workload):
    """purenet's weights as the PyTorch state dict of nested lists."""
    names = NAME_MAP[workload]
    state = model.state_dict()
    for i, layer in enumerate(model.layers):  # buffers, where the model's state_dict leaves them out
        for name, buf in getattr(layer, "named_buffers", list)():
            state.setdefault("%d.%s" % (i, name), buf)
    missing = sorted(set(names) - set(state))
    if missing:
        raise VerificationError("purenet %s state_dict lacks %s (has %s)"
                                % (workload, missing, sorted(state)))
    out = {}
    for pn_name, torch_name in names.items():
        value = state[pn_name]
        value = value.tolist() if hasattr(value, "tolist") else value
        flat = _flatten(value)
        if torch_name.endswith(("bias", "running_mean", "running_var", "num_batches_tracked")):
            out[torch_name] = flat
        elif torch_name in CONV_SHAPES[workload]:
            out[torch_name] = _reshape(flat, CONV_SHAPES[workload][torch_name])
        else:
            out[torch_name] = [list(map(float, row)) for row in value]
    return out


class _PurenetTrainer:
    """Holds the model with its loss and optimizer; one step per call.

    ``manual``: the step is the PyTorch-style loop the README shows
    (``forward``, ``loss.forward``, ``zero_grad``, ``backward``,
    ``optimizer.step``) instead of ``train_on_batch``.
    """

    def __init__(self, model, lr, manual=False):
        pn = _purenet()
        self.model = model
        self.loss = pn.CrossEntropy()
        self.optimizer = pn.SGD(lr)
        self.manual = manual

    def loss_only(self, xb, yb):
        return float(self.loss.forward(self.model.forward(xb), yb))

    def step(self, xb, yb):
        model = self.model
        if hasattr(model, "train_on_batch") and not self.manual:
            result = model.train_on_batch(xb, yb, loss=self.loss, optimizer=self.optimizer)
            if isinstance(result, dict):
                result = result["loss"]
            return float(result)
        out = model.forward(xb, training=True)
        value = self.loss.forward(out, yb)
        model.zero_grad()
        model.backward(self.loss.backward())
        self.optimizer.step(model.parameters())
        return float(value)


# ----------------------------------------------------------------------------
# The implementations, behind one small interface
# ----------------------------------------------------------------------------

class Implementation:
    """name, dtype, and how to prepare a batch, init, step and read weights."""

    def __init__(self, name, dtype, module=None, timed=True):
        self.name = name
        self.dtype = dtype
        self.module = module
        self.timed = timed
        self.purenet = name in ("purenet", PURENET_MANUAL)

    @property
    def tolerance(self):
        return TOLERANCE[self.dtype]

    def prepare(self, batch):
        images, labels, matrix = batch
        if self.purenet:
            return matrix, labels
        if self.name == "naive":
            return images, labels
        return self.module.prepare(images, labels, self.dtype)

    def init(self, state, workload, lr):
        if self.name == "purenet":
            raise TypeError("purenet is the source of the weights, build it with build_purenet")
        if self.name == PURENET_MANUAL:  # the same seed-0 model as purenet's, so the same weights
            return _PurenetTrainer(build_purenet(workload), lr, manual=True)
        if self.name == "naive":
            return naive.init_from_state(state)
        return self.module.init_from_state(state, self.dtype)

    def step(self, params, prepared, lr):
        if self.purenet:
            return params.step(*prepared)
        return self.module.train_step(params, prepared[0], prepared[1], lr)

    def loss(self, params, prepared):
        if self.purenet:
            return params.loss_only(*prepared)
        return self.module.loss_only(params, prepared[0], prepared[1])

    def state(self, params, workload):
        if self.purenet:
            return purenet_state(params.model, workload)
        return self.module.state_dict(params)


def implementations(include_untimed=False, workload=None):
    """Every implementation available on this interpreter (purenet first); with
    ``workload``, only those that compute it (IMPLEMENTATIONS_OF)."""
    impls = _available(include_untimed)
    wanted = IMPLEMENTATIONS_OF.get(workload)
    return impls if wanted is None else [impl for impl in impls if impl.name in wanted]


def _available(include_untimed):
    impls = [Implementation("purenet", "float64"),
             Implementation(PURENET_MANUAL, "float64"),
             Implementation("naive", "float64", naive)]
    if reference_numpy is not None:
        impls.append(Implementation("numpy-float64", "float64", reference_numpy))
        impls.append(Implementation("numpy-float32", "float32", reference_numpy))
    if reference_torch is not None:
        if include_untimed:
            impls.append(Implementation("torch-float64", "float64", reference_torch,
                                        timed=False))
        impls.append(Implementation("torch-float32", "float32", reference_torch))
    return impls


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

class Batches:
    """Successive real MNIST batches from the bundled training set."""

    def __init__(self, batch_size):
        pn = _purenet()
        self.x, self.y = pn.datasets.load_bundled("train")
        self.batch_size = batch_size
        self.count = len(self.x) // batch_size
        if self.count < 1:
            raise SystemExit("the bundled training set has %d images, fewer than a batch "
                             "of %d" % (len(self.x), batch_size))

    def get(self, k):
        """Batch k (cycling): (list of flat float lists, labels, purenet Matrix)."""
        a = (k % self.count) * self.batch_size
        b = a + self.batch_size
        images = [list(self.x[i]) for i in range(a, b)]
        labels = [int(v) for v in self.y[a:b]]
        matrix = self.x[a:b].to_matrix()
        return images, labels, matrix


# ----------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------

def _max_abs_diff(a, b, where):
    fa = _flatten(a)
    fb = _flatten(b)
    if len(fa) != len(fb):
        raise VerificationError("%s: %d values against %d" % (where, len(fa), len(fb)))
    worst = 0.0
    for u, v in zip(fa, fb):
        d = abs(u - v)
        if not d <= worst:  # also catches NaN
            worst = d if d == d else float("inf")
    return worst


def _state_diff(a, b, where):
    if sorted(a) != sorted(b):
        raise VerificationError("%s: names %s against %s" % (where, sorted(a), sorted(b)))
    return max(_max_abs_diff(a[name], b[name], "%s %s" % (where, name)) for name in a)


def verify(workload, batch_size=BATCH_SIZE, lr=LEARNING_RATE, batches=None,
           include_untimed=True):
    """One step from the same weights on the same batch, every implementation.

    Returns {implementation: {"loss": .., "loss_diff": .., "weight_diff": ..}}
    (differences against purenet). Raises VerificationError on any mismatch.
    """
    if batches is None or batches.batch_size != batch_size:
        batches = Batches(batch_size)
    batch = batches.get(0)
    trainer = _PurenetTrainer(build_purenet(workload), lr)
    initial = purenet_state(trainer.model, workload)
    impls = implementations(include_untimed, workload)
    ref_impl = impls[0]
    ref_loss = ref_impl.step(trainer, ref_impl.prepare(batch), lr)
    ref_state = ref_impl.state(trainer, workload)
    # the weights must move (a BatchNorm's step counter always does: not counted)
    weights = [name for name in initial if not name.endswith("num_batches_tracked")]
    moved = _state_diff({k: initial[k] for k in weights}, {k: ref_state[k] for k in weights},
                        "%s purenet step" % workload)
    report = {"purenet": {"loss": ref_loss, "loss_diff": 0.0, "weight_diff": 0.0,
                          "weight_change": moved, "tolerance": ref_impl.tolerance}}
    errors = []
    if not moved > 0.0:
        errors.append("%s: purenet's step did not change the weights" % workload)
    for impl in impls[1:]:
        prepared = impl.prepare(batch)
        params = impl.init(initial, workload, lr)
        before = impl.loss(params, prepared)
        loss = impl.step(params, prepared, lr)
        state = impl.state(params, workload)
        loss_diff = abs(loss - ref_loss)
        if loss_diff != loss_diff:
            loss_diff = float("inf")
        weight_diff = _state_diff(state, ref_state, "%s %s" % (workload, impl.name))
        loss_only_diff = abs(before - loss)
        if loss_only_diff != loss_only_diff:
            loss_only_diff = float("inf")
        tol = impl.tolerance
        report[impl.name] = {"loss": loss, "loss_diff": loss_diff,
                             "weight_diff": weight_diff, "tolerance": tol}
        if not loss_diff <= tol:
            errors.append("%s %s: loss %.17g, purenet %.17g (diff %.3g > %g)"
                          % (workload, impl.name, loss, ref_loss, loss_diff, tol))
        if not weight_diff <= tol:
            errors.append("%s %s: weights after one step differ from purenet's by up "
                          "to %.3g (> %g)" % (workload, impl.name, weight_diff, tol))
        if not loss_only_diff <= tol:
            errors.append("%s %s: loss_only %.17g but train_step returned %.17g"
                          % (workload, impl.name, before, loss))
    if errors:
        raise VerificationError("implementations disagree:\n  " + "\n  ".join(errors))
    return report


# ----------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------

class _Runner:
    """One implementation being timed: its parameters and its batch counter."""

    def __init__(self, impl, workload, lr, batches, initial):
        self.impl = impl
        self.lr = lr
        self.batches = batches
        self.next_batch = 0
        if impl.name == "purenet":
            self.params = _PurenetTrainer(build_purenet(workload), lr)
        else:
            self.params = impl.init(initial, workload, lr)
        self.rounds = []  # (steps, seconds)

    def run_for(self, seconds, min_steps):
        """Steps until the timed total reaches `seconds`; returns (steps, time)."""
        impl = self.impl
        params = self.params
        lr = self.lr
        steps = 0
        spent = 0.0
        clock = time.perf_counter
        while steps < min_steps or spent < seconds:
            prepared = impl.prepare(self.batches.get(self.next_batch))
            self.next_batch += 1
            t0 = clock()
            loss = impl.step(params, prepared, lr)
            spent += clock() - t0
            steps += 1
            if loss != loss:
                raise RuntimeError("%s: loss became NaN while timing" % impl.name)
        return steps, spent


def _interpreter():
    info = {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "executable": sys.executable,
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
    }
    if hasattr(sys, "pypy_version_info"):
        v = sys.pypy_version_info
        info["pypy_version"] = "%d.%d.%d" % (v.major, v.minor, v.micro)
    if reference_numpy is not None:
        import numpy as np
        info["numpy"] = np.__version__
    if reference_torch is not None:
        info["torch"] = torch.__version__
    return info


def _peak_rss_kib():
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        peak //= 1024
    return int(peak)


def run(workloads=WORKLOADS, seconds=10.0, rounds=3, batch_size=BATCH_SIZE,
        lr=LEARNING_RATE, only=None, verify_only=False, log=print):
    """Verify, then time; returns the JSON-ready result dictionary."""
    if rounds < 1:
        raise ValueError("--rounds must be at least 1")
    batches = Batches(batch_size)
    interpreter = _interpreter()
    result = {
        "interpreter": interpreter,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"workloads": list(workloads), "seconds": seconds, "rounds": rounds,
                     "batch_size": batch_size, "lr": lr,
                     "warmup_seconds": 0.1 * seconds, "statistic": "best round"},
        "verification": {},
        "results": [],
        "purenet_over_naive": {},
        "manual_over_train_on_batch": {},
    }
    for workload in workloads:
        log("verifying %s ..." % workload)
        report = verify(workload, batch_size, lr, batches)
        result["verification"][workload] = report
        for name, r in report.items():
            if name != "purenet":
                log("  %-14s loss %.12f  |dloss| %.1e  max|dw| %.1e  (tol %g)"
                    % (name, r["loss"], r["loss_diff"], r["weight_diff"], r["tolerance"]))
        log("  all agree with purenet (loss %.12f)" % report["purenet"]["loss"])
    if verify_only:
        result["peak_rss_kib"] = _peak_rss_kib()
        return result

    per_round = seconds / rounds
    min_steps = 1 if rounds >= 2 else 2
    for workload in workloads:
        initial = purenet_state(build_purenet(workload), workload)
        runners = [_Runner(impl, workload, lr, batches, initial)
                   for impl in implementations(workload=workload)
                   if impl.timed and (only is None or impl.name in only)]
        for runner in runners:
            log("%s: warming up %s ..." % (workload, runner.impl.name))
            runner.run_for(0.1 * seconds, 1)
        for r in range(rounds):
            shift = r % len(runners)
            for runner in runners[shift:] + runners[:shift]:
                gc.collect()
                steps, spent = runner.run_for(per_round, min_steps)
                runner.rounds.append((steps, spent))
                log("%s round %d/%d: %-14s %4d steps %7.2f s  %10.1f samples/s"
                    % (workload, r + 1, rounds, runner.impl.name, steps, spent,
                       steps * batch_size / spent))
        rates = {}
        for runner in runners:
            best = max(steps * batch_size / spent for steps, spent in runner.rounds)
            total_steps = sum(s for s, _ in runner.rounds)
            total_time = sum(t for _, t in runner.rounds)
            rates[runner.impl.name] = best
            result["results"].append({
                "workload": workload,
                "implementation": runner.impl.name,
                "dtype": runner.impl.dtype,
                "samples_per_s": best,
                "mean_samples_per_s": total_steps * batch_size / total_time,
                "steps": total_steps,
                "seconds": total_time,
                "rounds": [{"steps": s, "seconds": t, "samples_per_s": s * batch_size / t}
                           for s, t in runner.rounds],
            })
        for entry in result["results"]:
            if entry["workload"] != workload:
                continue
            rate = entry["samples_per_s"]
            entry["ratio_to_naive"] = rate / rates["naive"] if "naive" in rates else None
            entry["ratio_to_purenet"] = (rate / rates["purenet"]
                                         if "purenet" in rates else None)
        if "naive" in rates and "purenet" in rates:
            result["purenet_over_naive"][workload] = rates["purenet"] / rates["naive"]
        if PURENET_MANUAL in rates and "purenet" in rates:
            result["manual_over_train_on_batch"][workload] = rates[PURENET_MANUAL] / rates["purenet"]
    result["peak_rss_kib"] = _peak_rss_kib()
    return result


# ----------------------------------------------------------------------------
# Prediction latency of the shipped model
# ----------------------------------------------------------------------------

def predict_latency(samples=50):
    """Milliseconds to classify one image with the shipped model (median, best, p90).

    Two paths, each on ``samples`` bundled test images: ``model.predict`` on
    one image (``predict``), and what ``purenet predict`` and the drawing app
    do with a picture: :func:`purenet.app.preprocess.preprocess` (crop,
    scale, centre) then ``predict`` (``preprocess+predict``). The model is
    loaded once, outside the timer, as the app does.
    """
    pn = _purenet()
    from purenet.app.preprocess import preprocess
    from purenet.cli import PRETRAINED_MODEL
    model = pn.load(PRETRAINED_MODEL)
    x, _ = pn.datasets.load_bundled("test")
    pictures = [[[int(round(v * 255)) for v in x[i][r * 28:(r + 1) * 28]] for r in range(28)]
                for i in range(samples)]
    model.predict(x[0:1])  # index tables for a batch of one are built once per model
    clock = time.perf_counter
    timings = {"predict": [], "preprocess+predict": []}
    for i in range(samples):
        t0 = clock()
        model.predict(x[i:i + 1])
        t1 = clock()
        model.predict([preprocess(pictures[i])])
        t2 = clock()
        timings["predict"].append(1000.0 * (t1 - t0))
        timings["preprocess+predict"].append(1000.0 * (t2 - t1))
    out = {"model": os.path.basename(PRETRAINED_MODEL), "samples": samples}
    for path, ms in timings.items():
        ms.sort()
        out[path] = {"median_ms": statistics.median(ms), "best_ms": ms[0],
                     "p90_ms": ms[int(0.9 * (len(ms) - 1))]}
    return out


# ----------------------------------------------------------------------------
# Several interpreters in one run: one worker process each, rounds interleaved
# ----------------------------------------------------------------------------

def serve(lines=sys.stdin, out=sys.stdout):
    """Worker mode (``--serve``): answer the parent's JSON commands, one per line.

    Commands: ``info``; ``setup`` (verify a workload, build its runners, warm
    them up); ``round`` (time one implementation for some seconds);
    ``latency``; ``quit`` (answers the peak memory). Only one worker computes
    at a time: the others wait on their pipe, so they do not slow it down.
    Plain JSON both ways (no pickle).
    """
    batches = {}
    runners = {}

    def reply(value):
        out.write(json.dumps(value) + "\n")
        out.flush()

    for line in lines:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "info":
                reply({"interpreter": _interpreter(),
                       "implementations": [i.name for i in implementations() if i.timed]})
            elif op == "setup":
                workload, size, lr = cmd["workload"], cmd["batch_size"], cmd["lr"]
                if size not in batches:
                    batches[size] = Batches(size)
                data = batches[size]
                report = verify(workload, size, lr, data)
                initial = purenet_state(build_purenet(workload), workload)
                runners = {impl.name: _Runner(impl, workload, lr, data, initial)
                           for impl in implementations(workload=workload)
                           if impl.timed and impl.name in cmd["only"]}
                for runner in runners.values():
                    runner.run_for(cmd["warmup"], 1)
                reply({"verification": report, "implementations": sorted(runners)})
            elif op == "round":
                gc.collect()
                steps, spent = runners[cmd["implementation"]].run_for(cmd["seconds"],
                                                                      cmd["min_steps"])
                reply({"steps": steps, "seconds": spent})
            elif op == "latency":
                reply(predict_latency(cmd["samples"]))
            elif op == "quit":
                reply({"peak_rss_kib": _peak_rss_kib()})
                return
        except VerificationError as exc:
            reply({"error": "VERIFICATION FAILED: %s" % exc})
        except Exception as exc:  # reported to the parent, which stops the run
            reply({"error": "%s: %s" % (type(exc).__name__, exc)})


class _Worker:
    """The parent's handle on one worker process (one interpreter)."""

    def __init__(self, label, executable, only):
        self.label = label
        self.only = only
        self.proc = subprocess.Popen([executable, os.path.abspath(__file__), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     universal_newlines=True, cwd=ROOT)

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("%s: the worker exited (status %s)" % (self.label, self.proc.wait()))
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise VerificationError("%s: %s" % (self.label, answer["error"]))
        return answer

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def parse_interpreter(text):
    """``LABEL=PYTHON[:impl,impl]`` -> (label, executable, set of implementations or None)."""
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise ValueError("expected LABEL=PYTHON[:impl,impl]; Received: %r" % text)
    executable, _, impls = rest.partition(":")
    only = {s.strip() for s in impls.split(",") if s.strip()} or None
    return label, executable, only


def run_many(interpreters, workloads=WORKLOADS, seconds=10.0, rounds=3, batch_size=BATCH_SIZE,
             lr=LEARNING_RATE, latency_samples=50, log=print):
    """Verify and time every workload on several interpreters in one run.

    interpreters: (label, executable, implementations or None) triples. Each
    gets a worker process; the rounds of every (interpreter, implementation)
    pair are interleaved, one at a time, the order rotating from round to
    round, so the machine's noise hits all of them alike.
    """
    workers = []
    try:
        for label, executable, only in interpreters:
            workers.append(_Worker(label, executable, only))
        infos = {w.label: w.ask(op="info") for w in workers}
        result = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "interpreters": {label: info["interpreter"] for label, info in infos.items()},
            "settings": {"workloads": list(workloads), "seconds": seconds, "rounds": rounds,
                         "batch_size": batch_size, "lr": lr, "warmup_seconds": 0.1 * seconds,
                         "statistic": "best round", "load_average": _load_average()},
            "verification": {}, "results": [], "latency": {}, "peak_rss_kib": {},
        }
        for workload in workloads:
            slots = []
            for w in workers:
                wanted = [n for n in infos[w.label]["implementations"]
                          if w.only is None or n in w.only]
                if not wanted:
                    continue
                log("%s: verifying and warming up on %s ..." % (workload, w.label))
                setup = w.ask(op="setup", workload=workload, batch_size=batch_size, lr=lr,
                              only=wanted, warmup=0.1 * seconds)
                result["verification"].setdefault(w.label, {})[workload] = setup["verification"]
                slots += [(w, name, []) for name in setup["implementations"]]
            for r in range(rounds):
                shift = r % len(slots)
                for w, name, record in slots[shift:] + slots[:shift]:
                    got = w.ask(op="round", implementation=name, seconds=seconds / rounds,
                                min_steps=1 if rounds >= 2 else 2)
                    record.append((got["steps"], got["seconds"]))
                    log("%s round %d/%d: %-14s %-14s %4d steps %7.2f s %10.1f samples/s"
                        % (workload, r + 1, rounds, w.label, name, got["steps"], got["seconds"],
                           got["steps"] * batch_size / got["seconds"]))
            for w, name, record in slots:
                total_steps = sum(s for s, _ in record)
                total_time = sum(t for _, t in record)
                result["results"].append({
                    "workload": workload, "interpreter": w.label, "implementation": name,
                    "samples_per_s": max(s * batch_size / t for s, t in record),
                    "mean_samples_per_s": total_steps * batch_size / total_time,
                    "steps": total_steps, "seconds": total_time,
                    "rounds": [{"steps": s, "seconds": t, "samples_per_s": s * batch_size / t}
                               for s, t in record],
                })
        for w in workers:
            log("prediction latency on %s ..." % w.label)
            result["latency"][w.label] = w.ask(op="latency", samples=latency_samples)
        for w in workers:
            result["peak_rss_kib"][w.label] = w.ask(op="quit")["peak_rss_kib"]
        result["settings"]["load_average_after"] = _load_average()
    finally:
        for w in workers:
            w.close()
    result["ratios"] = _ratios(result["results"])
    return result


def _load_average():
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def _ratios(rows):
    """The headline ratios of a several-interpreter run, per workload.

    ``purenet/naive`` per interpreter (same interpreter, same batches), the
    manual loop against ``train_on_batch`` per interpreter, and each
    interpreter's purenet against every other implementation timed in the
    run (``"purenet@pypy-3.9 / numpy-float64@cpython-3.11"``).
    """
    out = {}
    for workload in sorted({r["workload"] for r in rows}):
        rate = {(r["interpreter"], r["implementation"]): r["samples_per_s"]
                for r in rows if r["workload"] == workload}
        ratios = {}
        for (interp, name), value in rate.items():
            if name == "purenet" and (interp, "naive") in rate:
                ratios["purenet/naive@%s" % interp] = value / rate[(interp, "naive")]
            if name == PURENET_MANUAL and (interp, "purenet") in rate:
                ratios["manual loop/train_on_batch@%s" % interp] = value / rate[(interp, "purenet")]
        for (interp, name), value in rate.items():
            if name != "purenet":
                continue
            for (other_interp, other), other_value in rate.items():
                if (other_interp, other) != (interp, name) and other not in ("naive", PURENET_MANUAL):
                    ratios["purenet@%s / %s@%s" % (interp, other, other_interp)] = value / other_value
        out[workload] = ratios
    return out


def format_many(result):
    lines = ["", "date: %s   batch %d, SGD lr %g, best of %d rounds, %.3g s per implementation"
             % (result["date"], result["settings"]["batch_size"], result["settings"]["lr"],
                result["settings"]["rounds"], result["settings"]["seconds"]),
             "load average before / after: %s / %s" % (result["settings"]["load_average"],
                                                       result["settings"]["load_average_after"])]
    for label, info in result["interpreters"].items():
        extra = " (PyPy %s)" % info["pypy_version"] if "pypy_version" in info else ""
        lines.append("  %-14s %s %s%s  [%s]" % (label, info["implementation"], info["version"],
                                                extra, info["executable"]))
    header = "%-10s  %-14s  %-14s  %12s  %9s" % ("workload", "interpreter", "implementation",
                                                  "samples/s", "x naive")
    lines += ["", header, "-" * len(header)]
    naive_rate = {(r["workload"], r["interpreter"]): r["samples_per_s"]
                  for r in result["results"] if r["implementation"] == "naive"}
    for r in result["results"]:
        base = naive_rate.get((r["workload"], r["interpreter"]))
        lines.append("%-10s  %-14s  %-14s  %12.1f  %9s" % (
            r["workload"], r["interpreter"], r["implementation"], r["samples_per_s"],
            "%.2f" % (r["samples_per_s"] / base) if base else "-"))
    lines.append("")
    for workload, ratios in result["ratios"].items():
        for name, value in ratios.items():
            lines.append(">>> %-10s %-58s %7.2fx" % (workload, name, value))
    for label, lat in result["latency"].items():
        lines.append("latency %-14s predict median %.2f ms (best %.2f), preprocess+predict "
                     "median %.2f ms" % (label, lat["predict"]["median_ms"],
                                         lat["predict"]["best_ms"],
                                         lat["preprocess+predict"]["median_ms"]))
    for label, kib in result["peak_rss_kib"].items():
        if kib is not None:
            lines.append("peak memory %-14s %.1f MiB" % (label, kib / 1024.0))
    return "\n".join(lines)


def format_report(result):
    interp = result["interpreter"]
    name = "%s %s" % (interp["implementation"], interp["version"])
    if "pypy_version" in interp:
        name += " (PyPy %s)" % interp["pypy_version"]
    lines = ["", "interpreter: %s  [%s]" % (name, interp["executable"]),
             "date: %s   batch %d, SGD lr %g, best of %d rounds, %.3g s per implementation"
             % (result["date"], result["settings"]["batch_size"], result["settings"]["lr"],
                result["settings"]["rounds"], result["settings"]["seconds"]),
             ""]
    header = "%-10s  %-14s  %12s  %9s  %10s" % ("workload", "implementation", "samples/s",
                                                 "x naive", "x purenet")
    lines.append(header)
    lines.append("-" * len(header))
    for e in result["results"]:
        def ratio(v):
            return "%9.2f" % v if v is not None else "%9s" % "-"
        lines.append("%-10s  %-14s  %12.1f  %s  %s" % (
            e["workload"], e["implementation"], e["samples_per_s"],
            ratio(e.get("ratio_to_naive")), " " + ratio(e.get("ratio_to_purenet"))))
    lines.append("")
    for workload, r in result["purenet_over_naive"].items():
        verdict = "faster than naive" if r >= 1.0 else "SLOWER than naive"
        lines.append(">>> purenet / naive, %s: %.2fx (%s)" % (workload, r, verdict))
    for workload, r in result.get("manual_over_train_on_batch", {}).items():
        lines.append(">>> manual loop / train_on_batch, %s: %.2fx" % (workload, r))
    if result.get("peak_rss_kib") is not None:
        lines.append("peak memory (ru_maxrss): %.1f MiB" % (result["peak_rss_kib"] / 1024.0))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Verify, then time one SGD training step: purenet vs naive "
                    "pure Python (and NumPy/PyTorch when installed).")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated: %s (default: all)" % ",".join(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="timed seconds per implementation and workload (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; the best one is reported (default 3)")
    parser.add_argument("--implementations", default=None,
                        help="comma-separated subset to time, e.g. naive,purenet "
                             "(all available are always verified)")
    parser.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    parser.add_argument("--verify-only", action="store_true",
                        help="only check that the implementations agree, no timing")
    parser.add_argument("--interpreter", action="append", default=[], metavar="LABEL=PYTHON[:IMPLS]",
                        help="time on this interpreter too, in a worker process (repeat the option; "
                             "e.g. pypy=pypy3:purenet,naive). With it, every figure comes from "
                             "interleaved rounds across all the interpreters given")
    parser.add_argument("--latency-samples", type=int, default=50,
                        help="images for the prediction latency (several-interpreter runs)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            parser.error("unknown workload %r (expected %s)" % (w, ", ".join(WORKLOADS)))
    only = None
    if args.implementations:
        only = {s.strip() for s in args.implementations.split(",") if s.strip()}
    if args.seconds <= 0:
        parser.error("--seconds must be positive")

    if args.interpreter:
        try:
            specs = [parse_interpreter(text) for text in args.interpreter]
        except ValueError as exc:
            parser.error(str(exc))
        try:
            result = run_many(specs, workloads, args.seconds, args.rounds,
                              latency_samples=args.latency_samples,
                              log=lambda text: print(text, flush=True))
        except VerificationError as exc:
            print("\nRUN STOPPED:\n%s" % exc, file=sys.stderr)
            return 1
        print(format_many(result))
        if args.json:
            _write_json(result, args.json)
        return 0

    interp = _interpreter()
    print("interpreter: %s %s" % (interp["implementation"], interp["version"]))
    try:
        result = run(workloads, args.seconds, args.rounds, only=only,
                     verify_only=args.verify_only)
    except VerificationError as exc:
        print("\nVERIFICATION FAILED, nothing timed:\n%s" % exc, file=sys.stderr)
        return 1
    if not args.verify_only:
        print(format_report(result))
    if args.json:
        _write_json(result, args.json)
    return 0


def _write_json(result, path):
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    print("wrote %s" % path)


if __name__ == "__main__":
    sys.exit(main())
