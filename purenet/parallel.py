"""Data-parallel training: ``fit(workers=N)`` and ``purenet train --workers N``.

One training step splits its batch into N contiguous shards. N - 1 worker
processes, started once per ``fit`` call (or ``purenet train`` run) and kept
for all its steps, each compute the loss and the parameter gradients of one
shard with the model's own fused step (``Sequential._loss_and_grad``); the
parent computes the first shard meanwhile, adds the workers' gradients into
its parameters' ``.grad`` and leaves the update to the optimizer, which
lives only in the parent. Each step the parent sends every worker the
current weights, so no optimizer state is ever shipped.

Same result as one process: the loss is a mean over the batch, so the
serial gradient is ``sum_i g_i / N``. A shard of ``n`` samples yields the
mean over its own samples, ``sum_i g_i / n``; scaling that by ``n / N``
before summing gives the serial gradient up to rounding (a few units in the
last place), and the loss and accuracy the same way. Weights after many
steps agree with a serial run to ~1e-14, not bit for bit: floating-point
sums depend on their order. ``Dropout`` draws its masks in the serial order:
each process starts from the parent's generator state and skips the draws
of the shards before its own, and the parent then skips the rest, so masks,
weights and the generator state all match the serial run. Other layers that
draw random numbers (any with an ``rng``) are refused with a clear error.

How data moves (no pickle, by the project's rules): the workers are forked
(``multiprocessing``'s "fork" start method), so they inherit the model, the
loss and ``fit``'s samples; afterwards only bytes this module encodes go
through the pipes: JSON for small headers, ``array('d')`` for weights,
gradients and sample rows, ``array('q')`` for indices and labels. The other
start methods ("spawn", "forkserver") pickle the process object to start
a child, so where "fork" is missing (Windows) ``workers > 1`` raises an
error that says so instead.

When it pays: each step costs the parent one encoding of the weights and
one pass adding each worker's gradients, and halves the batch each process
runs (slightly less efficient per sample). On CPython a step is long beside
that: two processes train cnn-small and lenet ~1.8x as fast as one, at
batch 32, given two idle cores. PyPy's steps are ~10x shorter, so the fixed
costs weigh more: about 1.4x at batch 32, 1.65-1.8x at batch 128 (figures
from ``benchmarks/workers.py`` on a loaded machine, estimated from CPU time
for idle cores; re-measure with it).

What this is not: a general process pool. It knows one job, one batch's
gradients, and stops its processes when training ends, fails or is
interrupted (workers ignore Ctrl-C and leave when the parent closes their
pipe; one that dies makes the step raise ``RuntimeError``).
"""

import json
import multiprocessing
import os
import signal
import warnings
from array import array
from itertools import repeat
from multiprocessing.connection import wait
from typing import List, Optional, Sequence, Tuple

from . import rngstate
from .inputs import Inputs, Targets, as_inputs, as_targets
from .layers import Dropout
from .layers.base import shape_size
from .matrix import Matrix
from .model import Sequential, _count_correct

__all__ = ["Workers", "split"]

#: Seconds a worker gets to leave on its own after its pipe is closed, before it is terminated.
_GRACE = 2.0


def split(n: int, parts: int) -> List[Tuple[int, int]]:
    """``(start, stop)`` of ``parts`` contiguous shards of ``n`` rows, the first ones one longer.

    >>> split(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    >>> split(1, 2)
    [(0, 1), (1, 1)]
    """
    q, r = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + q + (k < r)
        bounds.append((start, stop))
        start = stop
    return bounds


class Workers:
    """``workers - 1`` forked processes that compute a batch's gradients with the parent.

    Use it as a context manager; the processes live until it exits::

        with Workers(model, loss, 2, inputs, targets) as pool:
            value, correct = pool.gradients(indices)   # samples of `inputs` by index (fit)
            optimizer.step(model.parameters())
            value, correct = pool.train_on_batch(x, labels, optimizer)   # rows given (purenet train)

    Args:
        model: a built :class:`purenet.Sequential`.
        loss: the loss to train with.
        workers: processes in all, the parent included (at least 2).
        inputs, targets: ``fit``'s checked samples (:mod:`purenet.inputs`), which the
            workers inherit; only :meth:`gradients` needs them.
    """

    def __init__(self, model: Sequential, loss, workers: int, inputs: Optional[Inputs] = None, targets: Optional[Targets] = None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 2:
            raise ValueError(f"Workers needs at least 2 processes; Received: {workers!r}.")
        if not model.built:
            raise ValueError("Workers needs a built model: give input_shape to Sequential(...) or call model.build(shape).")
        if "fork" not in multiprocessing.get_all_start_methods():
            raise RuntimeError(
                f"workers={workers} needs the 'fork' start method of multiprocessing, which this platform does "
                f"not offer (it has: {', '.join(multiprocessing.get_all_start_methods())}); the others pickle what "
                "they start, which purenet never does. Train with workers=1."
            )
        cpus = os.cpu_count() or 1
        if workers > cpus:
            warnings.warn(
                f"workers={workers} but this machine has {cpus} CPU(s): the processes will share cores and "
                "train slower than with fewer (results are the same).",
                RuntimeWarning,
                stacklevel=3,
            )
        self.model, self.loss, self.workers = model, loss, workers
        self._inputs, self._targets = inputs, targets
        self._dropouts = _dropouts(model)
        self._conns: list = []
        self._procs: list = []
        context = multiprocessing.get_context("fork")
        try:
            for k in range(1, workers):
                mine, theirs = context.Pipe()
                # the child closes its copies of the parent's ends, so each worker sees EOF when the parent goes
                inherited = self._conns + [mine]
                proc = context.Process(
                    target=_serve, args=(theirs, inherited, model, loss, inputs, targets),
                    name=f"purenet-worker-{k}", daemon=True,
                )
                proc.start()
                theirs.close()
                self._conns.append(mine)
                self._procs.append(proc)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (closing their pipes; terminating any that do not leave). Idempotent."""
        for conn in self._conns:
            conn.close()
        for proc in self._procs:
            proc.join(_GRACE)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self._conns, self._procs = [], []

    # ------------------------------------------------------------- the step
    def gradients(self, indices: Sequence[int]) -> Tuple[float, int]:
        """The gradients of the batch ``indices`` of ``fit``'s samples, summed into each
        parameter's ``.grad`` (replacing what was there); returns the batch's mean loss
        and how many of its samples were classified right. The optimizer step is the caller's."""
        inputs, targets = self._inputs, self._targets
        if inputs is None or targets is None:
            raise RuntimeError("Workers.gradients needs the inputs and targets given when the workers started.")
        indices = list(indices)

        def local(stop):
            idx = indices[:stop]
            return inputs.batch(idx), targets.batch(idx), targets.classes(idx)

        def payload(start, stop):
            return {"kind": "indices"}, [array("q", indices[start:stop]).tobytes()]

        return self._run(len(indices), local, payload)

    def train_on_batch(self, x, y, optimizer) -> Tuple[float, int]:
        """One optimisation step on the batch ``(x, y)`` (rows and targets, as
        ``Sequential.train_on_batch`` takes them): returns the batch's loss before the
        step and how many of its samples were classified right."""
        model = self.model
        inputs = as_inputs(x, model.in_features, "x")
        n = len(inputs)
        targets = as_targets(y, n, model.out_features, "y")
        model.loss, model.optimizer = self.loss, optimizer
        features = model.in_features
        rows = inputs.range(0, n).data

        def local(stop):
            return inputs.range(0, stop), targets.range(0, stop), targets.classes(range(stop))

        def payload(start, stop):
            x_bytes = array("d", rows[start * features : stop * features]).tobytes()
            if targets.labels is not None:
                return {"kind": "rows", "labels": True}, [x_bytes, array("q", targets.labels[start:stop]).tobytes()]
            t = targets.range(start, stop)
            return {"kind": "rows", "labels": False, "cols": t.cols}, [x_bytes, array("d", t.data).tobytes()]

        value, correct = self._run(n, local, payload)
        optimizer.step(model.parameters())
        return value, correct

    def _run(self, n, local, payload) -> Tuple[float, int]:
        """Send the workers their shards, compute the first one here, gather and sum."""
        model, loss = self.model, self.loss
        params = model.parameters()
        bounds = split(n, self.workers)
        weights = b"".join(array("d", p.data).tobytes() for p in params)
        rngs = [rngstate.to_json(layer.rng.getstate()) for layer in self._dropouts]
        busy = []
        for k, (start, stop) in enumerate(bounds[1:]):
            if start == stop:  # a batch smaller than the number of processes
                continue
            header, parts = payload(start, stop)
            header.update(start=start, stop=stop, total=n, rngs=rngs)
            self._send(k, [json.dumps(header).encode(), weights] + parts)
            busy.append((k, stop - start))
        stop = bounds[0][1]
        x, y, classes = local(stop)
        # this shard's scale is applied while the first worker's gradients are added: one pass fewer
        scale = stop / n
        value, correct = shard_gradients(model, loss, x, y, classes, 1.0 if busy else scale)
        total = value * stop
        for layer in self._dropouts:  # the draws of the other shards, as a serial step makes them
            _skip(layer, (n - stop) * shape_size(layer.input_shape))
        for k, rows in busy:
            reply, grads = self._receive(k)
            total += reply["loss"] * rows
            correct += reply["correct"]
            _add_gradients(params, grads, scale)
            scale = 1.0
        return total / n, correct

    # ------------------------------------------------------------- the pipes
    def _send(self, k: int, messages: List[bytes]) -> None:
        try:
            for message in messages:
                self._conns[k].send_bytes(message)
        except OSError:
            raise self._died(k) from None

    def _receive(self, k: int) -> Tuple[dict, bytes]:
        conn, proc = self._conns[k], self._procs[k]
        try:
            if conn not in wait([conn, proc.sentinel]):
                raise EOFError
            reply = json.loads(conn.recv_bytes())
            if "error" in reply:
                raise RuntimeError(f"training worker {k + 1} of {self.workers} failed: {reply['error']}")
            return reply, conn.recv_bytes()
        except (EOFError, OSError):
            raise self._died(k) from None

    def _died(self, k: int) -> RuntimeError:
        proc = self._procs[k]
        proc.join(_GRACE)
        return RuntimeError(
            f"training worker {k + 1} of {self.workers} (pid {proc.pid}) ended unexpectedly "
            f"(exit code {proc.exitcode}); training stopped."
        )


def shard_gradients(model: Sequential, loss, x: Matrix, y, classes: List[int], scale: float) -> Tuple[float, int]:
    """Forward and backward over one shard, leaving ``scale`` times its mean-loss gradients
    in the parameters' ``.grad``; returns the shard's mean loss and correct count."""
    params = model.parameters()
    for p in params:
        p.zero_grad()
    value, out, _ = model._loss_and_grad(x, y, loss, training=True)
    if scale != 1.0:
        for p in params:
            p.grad.data = [g * scale for g in p.grad.data]
    return value, _count_correct(out, classes, model._fused(loss))


# Decoding: array slices go straight into the list operations; ``list(a)`` is
# several times faster than ``a.tolist()`` on PyPy and no slower on CPython.
def _add_gradients(params, payload: bytes, scale: float) -> None:
    """``.grad = scale * .grad + payload`` for each parameter (the payload's values in order)."""
    values = _floats(payload)
    offset = 0
    for p in params:
        size = len(p.data)
        part = values[offset : offset + size]
        if scale == 1.0:
            p.accumulate(list(part))
        else:
            p.grad.data = [g * scale + v for g, v in zip(p.grad.data, part)]
        offset += size


def _set_weights(params, payload: bytes) -> None:
    values = _floats(payload)
    offset = 0
    for p in params:
        size = len(p.data)
        p.data[:] = values[offset : offset + size]
        offset += size


def _floats(payload: bytes) -> array:
    values = array("d")
    values.frombytes(payload)
    return values


def _dropouts(model: Sequential) -> list:
    """The model's Dropout layers that draw masks; refuses other layers that draw random numbers."""
    found = []
    for i, layer in enumerate(model.layers):
        if type(layer) is Dropout:
            if layer.rate > 0.0:
                found.append(layer)
        elif getattr(layer, "rng", None) is not None:
            raise ValueError(
                f"training with workers > 1: layer {i} ({type(layer).__name__}) draws random numbers, which the "
                "worker processes cannot draw in the order one process would; expected only Dropout to. "
                "Train this model with workers=1."
            )
    return found


def _skip(layer, draws: int) -> None:
    """Advance a Dropout's generator past ``draws`` mask entries (one ``random()`` each)."""
    rnd = layer.rng.random
    for _ in repeat(None, draws):
        rnd()


# ------------------------------------------------------------- the worker side
def _serve(conn, inherited, model: Sequential, loss, inputs: Optional[Inputs], targets: Optional[Targets]) -> None:
    """A worker's life: answer shard requests until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes the pipe
    for c in inherited:
        c.close()
    params = model.parameters()
    dropouts = [layer for layer in model.layers if type(layer) is Dropout and layer.rate > 0.0]
    while True:
        try:
            header = json.loads(conn.recv_bytes())
            _set_weights(params, conn.recv_bytes())
            parts = [conn.recv_bytes() for _ in range(1 if header["kind"] == "indices" else 2)]
        except (EOFError, OSError):
            return
        try:
            x, y, classes = _shard(header, parts, model, inputs, targets)
            for layer, state in zip(dropouts, header["rngs"]):
                layer.rng.setstate(rngstate.from_json(state))
                _skip(layer, header["start"] * shape_size(layer.input_shape))
            rows = header["stop"] - header["start"]
            value, correct = shard_gradients(model, loss, x, y, classes, rows / header["total"])
            reply = {"loss": value, "correct": correct}
            grads = b"".join(array("d", p.grad.data).tobytes() for p in params)
        except Exception as e:  # reported to the parent, which raises it
            reply, grads = {"error": f"{type(e).__name__}: {e}"}, None
        try:
            conn.send_bytes(json.dumps(reply).encode())
            if grads is not None:
                conn.send_bytes(grads)
        except OSError:
            return


def _shard(header: dict, parts: List[bytes], model: Sequential, inputs, targets):
    """The shard's rows, targets and classes, from the inherited samples or the bytes sent."""
    if header["kind"] == "indices":
        idx = array("q")
        idx.frombytes(parts[0])
        idx = list(idx)
        return inputs.batch(idx), targets.batch(idx), targets.classes(idx)
    rows = header["stop"] - header["start"]
    if header["labels"]:
        labels = array("q")
        labels.frombytes(parts[1])
        shard = Targets(list(labels), rows)
    else:
        shard = Targets(Matrix.from_flat(list(_floats(parts[1])), rows, header["cols"]), rows)
    x = Matrix.from_flat(list(_floats(parts[0])), rows, model.in_features)
    return x, shard.range(0, rows), shard.classes(range(rows))
