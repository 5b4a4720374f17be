"""Data-parallel training: ``fit(workers=N)`` and ``purenet train --workers N``.

One training step splits its batch into N contiguous shards. N - 1 worker
processes, started once per ``fit`` call (or ``purenet train`` run) and kept
for all its steps, each compute the loss and the parameter gradients of one
shard with the model's own fused step (``Sequential._loss_and_grad``); the
parent computes the first shard meanwhile, adds the workers' gradients into
its parameters' ``.grad`` and leaves the update to the optimizer, which
lives only in the parent. Each step the parent sends every worker the
current weights, so no optimizer state is ever shipped.

One weight gradient is not split (on CPython): that of a Dense layer right
after the model's first conv block (cnn-small's classifier, see
:func:`_holder`). It is U*D dot products whatever the number of rows
(13,520 for cnn-small), so a gradient per shard would pay that fixed cost
once per process. Instead each process's backward hands the layer's input
rows, output-gradient rows and ink flags on (``GatedDense.on_rows``): a
worker sends them to the parent as soon as its backward pass reaches the
layer, and goes on with the rest of it; the parent computes dW once, over
every row in batch order (``GatedDense.weight_grad``). That is more work
for the parent, so its shard is smaller (``_PARENT_SHARE``: 12 of 32 rows
with 2 processes).

Same result as one process: the loss is a mean over the batch, so the
serial gradient is ``sum_i g_i / N``. A shard of ``n`` samples scales its
loss gradient by ``n / N`` before its backward pass (``grad_scale`` of
``Sequential._loss_and_grad``: ``n x outputs`` values, not every
parameter's gradient), so its parameter gradients are its share of the
batch's mean and the parent only adds them up. That is the serial gradient
up to rounding (a few units in the last place); weights after many steps
agree with a serial run to ~1e-14, not bit for bit: floating-point sums
depend on their order. ``Dropout`` draws its masks in the serial order:
each process starts from the parent's generator state and skips the draws
of the shards before its own, and the parent then skips the rest, so masks,
weights and the generator state all match the serial run. Other layers that
draw random numbers (any with an ``rng``) are refused with a clear error.
An :class:`~purenet.augment.Augment` (``purenet train --augment``) is
handled the same way: five draws per image, so each process transforms its
own shard from the generator state the batch began with, past the draws of
the images before it (the parent then skips the whole batch's), and a
worker prepares its next shard, transform included, while the parent steps.

How the workers start: forked (``multiprocessing``'s "fork" start method),
they inherit the model, the loss and ``fit``'s samples. But ``fork()`` in a
process where other threads run (a Jupyter kernel's, a BLAS pool's) copies
locks those threads may hold, locked for ever in the child, and Python 3.12+
warns about it (a DeprecationWarning). So when the operating system counts
more than one thread in this process, each worker is a fresh interpreter
instead (``subprocess``, which executes at once after forking): it is sent
the architecture, the loss, the samples (bytes of an image collection, or
doubles), the targets and the augmentation's settings down its pipe, as
bytes and JSON, rebuilds them and then serves as a forked one does. That
needs a model of registered layers from importable modules; a model with a
layer defined in ``__main__`` (or not registered) is forked as before, and
Python then warns. Starting that way costs a fresh interpreter's start-up and
the samples' bytes once per ``fit`` call (figures: docs/performance.md).

Buffers (non-trainable state such as BatchNorm's running statistics) are
PyTorch DDP's way (``DistributedDataParallel`` with its default
``broadcast_buffers=True``, without ``SyncBatchNorm``): each process's
forward pass uses its own shard (a BatchNorm normalises a shard by that
shard's statistics, so its gradients are not those of one process on the
whole batch), and the parent's buffers, updated by its own shard, are the
model's: every request sends them to the workers with the weights, so every
shard of a step starts from the same state, and what the workers' forward
passes change is dropped. With one process the batch is one shard, and a
model without buffers is unaffected.

How data moves (no pickle, by the project's rules): after the start, only
bytes this module encodes go through two one-way pipes per worker: JSON for small headers, native
doubles for weights, gradients and rows (``struct`` on CPython, ``array``
on PyPy: each one's fastest), ``array('q')`` for indices and labels. On
Linux the pipes are widened to 1 MiB, so that a worker's rows (~220 KB for
cnn-small) never wait mid-step for the parent to read them. multiprocessing's
other start methods ("spawn", "forkserver") pickle the process object to start
a child, which purenet never does; where "fork" is missing (Windows)
``workers > 1`` raises an error that says so.

Where the time goes: one step of cnn-small at batch 32 on CPython 3.13
(~30 ms in one process), CPU ms per step with two processes::

    parent: its 12 rows 8.3 | prepare its next 1.2 | read rows 0.6 | dW of 32 rows 4.9 | step 1.2
    worker: its 20 rows (rows sent after the forward pass) 13.1 | cut + prepare its next 2.1 | weights 0.3

:meth:`Workers.step` takes the optimizer step in two parts: the first
block's parameters, whose new weights go out at once with each worker's
shard of the next batch, then the rest, whose weights follow. A worker thus
starts its next forward pass (the first block's: most of it) while the
parent is still updating the Dense layer, and needs the rest only after
it. With ``fit`` announcing each next batch (``upcoming``), a worker also
cuts and prepares its next shard (bytes to floats, the first block's
integer lanes: ``ConvReLUPool.prepare``) as soon as it has replied, and
the parent prepares its own while it waits for a worker. Both processes
are then busy nearly all the time: a step lasts about as long as the
busier one's CPU, ~16.5 ms against ~30, and what keeps it from half is
the data moved (~1.5 ms of CPU a step in all) and that two shards never
take exactly as long.

Why the parent ships the weights instead of an all-reduce (each process
adds every process's gradients and runs the optimizer itself): that puts
the same serial work (decoding and adding gradients, the optimizer step) on
every process's path instead of the parent's only, so a step would be no
shorter; and every process's optimizer state and hyperparameters (users
change ``optimizer.lr`` between epochs) would have to stay in step bit for
bit. An optimizer that overrides ``step`` (it might look at every gradient
at once) is not split in two: it steps as a whole, and the workers get all
the weights afterwards (:func:`_first_block`).

When it pays: on CPython a step is long beside the data moved. Figures
from ``benchmarks/workers.py`` (see docs/performance.md; re-measure on a
quiet machine): two processes train cnn-small ~1.8x and lenet ~2.0x as
fast as one at batch 32, given two idle cores. PyPy's steps are ~10x
shorter, so moving the data weighs more: ~1.1x at batch 32, ~1.5x at
batch 128.

What this is not: a general process pool. It knows one job, one batch's
gradients, and stops its processes when training ends, fails or is
interrupted (workers ignore Ctrl-C and leave when the parent closes their
pipe; one that dies makes the step raise ``RuntimeError``).
"""

import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import warnings
from array import array
from itertools import chain, repeat
from multiprocessing.connection import wait
from typing import List, Optional, Sequence, Tuple

from . import kernels, rngstate
from .augment import Augment
from .datasets.images import ImageSet
from .inputs import Inputs, Targets, as_inputs, as_targets
from .layers import LAYERS, Dropout
from .losses import LOSSES
from .layers.base import shape_size
from .layers.fused import GatedDense
from .matrix import Matrix
from .model import Sequential, _count_correct
from .optimizers import Optimizer

__all__ = ["Workers", "split"]

#: Seconds a worker gets to leave on its own after its pipe is closed, before it is terminated.
_GRACE = 2.0
#: Bytes each pipe is asked to hold (Linux; without privileges up to
#: /proc/sys/fs/pipe-max-size, 1 MiB by default; 64 KiB otherwise): a shard's
#: rows sent mid-step should not block a worker until the parent reads them,
#: nor the weights the parent until a worker that is preparing a shard reads.
_PIPE_BYTES = 1 << 20
#: When the parent computes the batch's Dense weight gradient (see _holder), the
#: rows of its shard per row of a worker's: it has that and the optimizer step to
#: do. 12 of 32 rows with 2 processes: their CPU per step then about equal on
#: cnn-small (11 or 13 rows leave one ~1.5 ms busier than the other; taking 11
#: and 12 on alternate batches measured no better).
_PARENT_SHARE = 0.6
#: The same with an Augment (purenet train --augment): transforming a row and the first
#: convolution on floats instead of bytes make each row ~1.6x as costly, so the parent's
#: fixed work weighs fewer rows: 14 of 32 (12 or 13 rows, or 15, measured ~8% slower).
_PARENT_SHARE_AUGMENTED = 0.8


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
            value, correct = pool.step(indices, upcoming, optimizer)   # samples of `inputs` by index
            value, correct = pool.train_on_batch(x, labels, optimizer)   # or rows given

    ``fit`` and ``purenet train`` call :meth:`step` (the gradients and the optimizer step;
    ``upcoming``: the next batch's indices, whose shards the workers then prepare ahead).

    Args:
        model: a built :class:`purenet.Sequential`.
        loss: the loss to train with.
        workers: processes in all, the parent included (at least 2).
        inputs, targets: ``fit``'s checked samples (:mod:`purenet.inputs`), which the
            workers inherit; only :meth:`gradients` (and :meth:`step`) needs them.
        augment: an :class:`~purenet.augment.Augment` that transforms every batch of
            ``inputs`` (its ``rng`` advanced as one process would advance it), or None.
        image_shape: the ``(C, H, W)`` of one image for ``augment`` (default: the model's input shape).
        start: how the workers start: ``"fork"`` (they inherit everything), ``"exec"`` (fresh
            interpreters that rebuild the model and data from bytes sent down their pipe), or
            ``"auto"``: ``"exec"`` when other threads are running and the model can be rebuilt
            from its architecture, else ``"fork"`` (see the module notes).
    """

    def __init__(self, model: Sequential, loss, workers: int, inputs: Optional[Inputs] = None, targets: Optional[Targets] = None,
                 augment: Optional[Augment] = None, image_shape: Optional[Sequence[int]] = None, start: str = "auto"):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 2:
            raise ValueError(f"Workers needs at least 2 processes; Received: {workers!r}.")
        if augment is not None and inputs is None:
            raise ValueError("Workers: augment transforms the inputs the workers inherit; give inputs and targets too.")
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
        self._augment = augment
        shape = tuple(image_shape) if image_shape is not None else model.input_shape
        self._augmenting = (augment, shape) if augment is not None else None  # as _batch takes it
        self._dropouts = _dropouts(model)
        self._prepared = None  # (indices, augment state, shard): this process's next shard, made while waiting for a worker
        self._holder = _holder(model)
        self._shipped = _shipped(model, self._holder)  # the parameters whose gradients the workers send
        self._held = None  # this process's (x_rows, g_rows, flags) for the holder, from its backward
        self._sent = None  # (indices, busy): the next batch, sent to the workers by step
        self._down: list = []  # per worker: the pipe the parent writes requests into
        self._up: list = []  # per worker: the pipe its replies come back on
        self._procs: list = []
        if start not in ("auto", "fork", "exec"):
            raise ValueError(f"start must be 'auto', 'fork' or 'exec'; Received: {start!r}.")
        if start == "exec":
            reason = _not_rebuildable(model, loss, inputs, augment)
            if reason:
                raise ValueError(f"start='exec': a fresh interpreter cannot rebuild {reason}; use start='fork'.")
        elif start == "auto":
            start = "exec" if _threads() > 1 and not _not_rebuildable(model, loss, inputs, augment) else "fork"
        self.start = start
        context = multiprocessing.get_context("fork")
        try:
            if start == "exec":
                for k in range(1, workers):
                    self._exec(k, model, loss, inputs, targets)
                for k in range(workers - 1):  # each has rebuilt the model and the data, or says why not
                    self._receive(k, "ready")
            for k in range(1, workers if start == "fork" else 1):
                requests, down = context.Pipe(duplex=False)
                up, replies = context.Pipe(duplex=False)
                _widen(down)
                _widen(replies)
                # the child closes its copies of the parent's ends, so each worker sees EOF when the parent goes
                inherited = self._down + self._up + [down, up]
                proc = context.Process(
                    target=_serve, args=(requests, replies, inherited, model, loss, inputs, targets, self._augmenting),
                    name=f"purenet-worker-{k}", daemon=True,
                )
                proc.start()
                requests.close()
                replies.close()
                self._down.append(down)
                self._up.append(up)
                self._procs.append(proc)
        except BaseException:
            self.close()
            raise
        if self._holder is not None:
            self._holder.on_rows = self._hold

    def _exec(self, k: int, model: Sequential, loss, inputs: Optional[Inputs], targets: Optional[Targets]) -> None:
        """Start worker ``k`` as a fresh interpreter and send it what a forked one would inherit."""
        down_r, down_w = os.pipe()  # requests: parent -> worker
        up_r, up_w = os.pipe()  # replies: worker -> parent
        alive_r, alive_w = os.pipe()  # the worker holds alive_w: its end reads as EOF when it ends
        ours = [down_w, up_r, alive_r]
        theirs = [down_r, up_w, alive_w]
        try:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
            popen = subprocess.Popen(
                # setsid first: Ctrl-C at a terminal is the parent's alone (it then closes the pipes)
                [sys.executable, "-c", "import os; os.setsid(); from purenet.parallel import _exec_main; _exec_main()",
                 *map(str, theirs)],
                pass_fds=theirs, env=env, stdin=subprocess.DEVNULL,
            )
        except BaseException:
            for fd in ours + theirs:
                os.close(fd)
            raise
        for fd in theirs:
            os.close(fd)
        down = multiprocessing.connection.Connection(down_w, readable=False)
        up = multiprocessing.connection.Connection(up_r, writable=False)
        _widen(down)
        _widen(up)
        self._down.append(down)
        self._up.append(up)
        self._procs.append(_Started(popen, alive_r))
        header, parts = _setup(model, loss, inputs, targets, self._augmenting)
        self._send(k - 1, [json.dumps(header).encode()] + parts)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (closing their pipes; terminating any that do not leave). Idempotent."""
        if self._holder is not None:
            self._holder.on_rows = None  # the model computes its own weight gradients again
        for conn in self._down + self._up:
            conn.close()
        for proc in self._procs:
            proc.join(_GRACE)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self._down, self._up, self._procs = [], [], []

    # ------------------------------------------------------------- the step
    def gradients(self, indices: Sequence[int], upcoming: Sequence[int] = ()) -> Tuple[float, int]:
        """The gradients of the batch ``indices`` of ``fit``'s samples, summed into each
        parameter's ``.grad`` (replacing what was there); returns the batch's mean loss
        and how many of its samples were classified right. The optimizer step is the
        caller's (:meth:`step` does both). ``upcoming``: the next batch's indices, if
        known: the workers prepare their shards of it while the parent finishes this step."""
        inputs, targets = self._inputs, self._targets
        if inputs is None or targets is None:
            raise RuntimeError("Workers.gradients needs the inputs and targets given when the workers started.")
        indices, upcoming = list(indices), list(upcoming)
        upcoming_bounds = self._bounds(len(upcoming))
        augment = self._augment
        busy = self._request(indices)
        for k, _ in busy:  # each worker's shard of the next batch (its start first), to prepare once it has replied
            start, stop = upcoming_bounds[k + 1]
            self._send(k, [array("q", [start] + upcoming[start:stop]).tobytes()] if start < stop else [b""])

        def local(stop):
            idx, state = indices[:stop], _state(augment)
            (mine, made, shard), self._prepared = self._prepared or (None, None, None), None
            if augment is not None:  # past the whole batch's draws, as one process makes them
                _skip(augment.rng, len(indices) * augment.DRAWS_PER_IMAGE)
            if (mine, made) == (idx, state):
                return shard
            return _batch(idx, inputs, targets, self._augmenting, state, 0)

        def prepare():
            mine, state = upcoming[: upcoming_bounds[0][1]], _state(augment)
            if mine:
                self._prepared = (mine, state, _batch(mine, inputs, targets, self._augmenting, state, 0))
                _prepare(self.model, self._prepared[2][0])

        return self._gather(self._bounds(len(indices)), busy, local, prepare)

    def step(self, indices: Sequence[int], upcoming: Sequence[int], optimizer: Optimizer) -> Tuple[float, int]:
        """:meth:`gradients`, then the optimizer step (none if the loss is not finite).

        The step is taken in two parts when it can be: the first block's parameters,
        whose new weights go to the workers at once with their shards of ``upcoming``,
        so they start on the next batch (the first block's forward pass) while this
        process updates the other parameters, whose weights follow.
        """
        value, correct = self.gradients(indices, upcoming)
        if not math.isfinite(value):
            return value, correct
        params = self.model.parameters()
        first = _first_block(self.model, optimizer)
        if not first or not upcoming:
            optimizer.step(params)
            return value, correct
        optimizer.step(first)
        busy = self._request(list(upcoming), len(first))
        optimizer.update(params[len(first) :])
        rest = b"".join([_encode(p.data) for p in params[len(first) :]])
        for k, _ in busy:
            self._send(k, [rest])
        return value, correct

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
            x_bytes = _encode(rows[start * features : stop * features])
            if targets.labels is not None:
                return {"kind": "rows", "labels": True}, [x_bytes, array("q", targets.labels[start:stop]).tobytes()]
            t = targets.range(start, stop)
            return {"kind": "rows", "labels": False, "cols": t.cols}, [x_bytes, _encode(t.data)]

        self._drain()
        bounds = self._bounds(n)
        busy = self._send_shards(bounds, payload)
        value, correct = self._gather(bounds, busy, local)
        optimizer.step(model.parameters())
        return value, correct

    def _request(self, indices: List[int], first: int = 0) -> List[Tuple[int, int]]:
        """Send each worker its shard of the batch ``indices`` and the weights: all, or
        (``first``: a count) the first block's, the rest to follow as one more message.
        Returns ``(worker, rows)`` of the workers that got a shard. A batch :meth:`step`
        has already sent is not sent again."""
        if self._sent is not None and self._sent[0] == indices and not first:
            busy, self._sent = self._sent[1], None
            return busy
        self._drain()

        state = _state(self._augment)
        augment = rngstate.to_json(state) if state is not None else None

        def payload(start, stop):
            header = {"kind": "indices", "rest": bool(first), "augment": augment}
            return header, [array("q", indices[start:stop]).tobytes()]

        busy = self._send_shards(self._bounds(len(indices)), payload, first)
        if first:
            self._sent = (indices, busy)
        return busy

    def _drain(self) -> None:
        """Take back a batch :meth:`step` sent that is not the one asked for: the workers'
        replies are read and dropped."""
        if self._sent is None:
            return
        busy, self._sent = self._sent[1], None
        for k, _ in busy:
            self._send(k, [b""])  # no next shard to prepare
        for k, _ in busy:
            if self._holder is not None:
                self._receive(k, "rows")
            self._receive(k, "grads")

    def _send_shards(self, bounds, payload, first: int = 0) -> List[Tuple[int, int]]:
        """Send every worker with rows its shard of a batch cut at ``bounds``: a header, the
        weights (of the first ``first`` parameters only, if given) and ``payload(start,
        stop)``'s byte parts. Returns ``(worker, rows)`` of the workers that got some."""
        params = self.model.parameters()
        n = bounds[-1][1]
        # the buffers first: each worker's forward starts from this process's (see "Buffers" above)
        sent = self.model.buffers() + (params[:first] if first else params)
        weights = b"".join([_encode(p.data) for p in sent])
        rngs = [rngstate.to_json(layer.rng.getstate()) for layer in self._dropouts]
        busy = []
        for k, (start, stop) in enumerate(bounds[1:], 1):
            if start == stop:  # a batch smaller than the number of processes
                continue
            header, parts = payload(start, stop)
            header.update(start=start, stop=stop, total=n, rngs=rngs, parts=len(parts))
            self._send(k - 1, [json.dumps(header).encode(), weights] + parts)
            busy.append((k - 1, stop - start))
        return busy

    def _gather(self, bounds, busy, local, prepare=None) -> Tuple[float, int]:
        """Compute the first shard here while the workers compute theirs, then sum.
        ``local(stop)``: this process's shard (rows, targets, classes); ``prepare()``, if
        given, prepares this process's next shard: called when a worker's reply is not
        there yet, rather than just waiting for it."""
        model, loss = self.model, self.loss
        n, stop = bounds[-1][1], bounds[0][1]
        x, y, classes = local(stop)
        value, correct = shard_gradients(model, loss, x, y, classes, stop / n)
        total = value * stop
        for layer in self._dropouts:  # the draws of the other shards, as a serial step makes them
            _skip(layer.rng, (n - stop) * shape_size(layer.input_shape))

        def receive(k, kind):  # prepares this process's next shard first if worker k is not done
            nonlocal prepare
            if prepare is not None and not self._up[k].poll():
                prepare()
                prepare = None
            return self._receive(k, kind)

        if self._holder is not None:  # every shard's rows, in batch order: the weight gradient of the whole batch
            held, self._held = [self._held], None
            held += [_decode_rows(*receive(k, "rows")) for k, _ in busy]
            self._holder.weight_grad(*(list(chain.from_iterable(part)) for part in zip(*held)))
        for k, rows in busy:
            reply, (grads,) = receive(k, "grads")
            total += reply["loss"] * rows
            correct += reply["correct"]
            _add_gradients(self._shipped, grads)
        return total / n, correct

    def _bounds(self, n: int) -> List[Tuple[int, int]]:
        """The shards of a batch of ``n``: ``(start, stop)`` each, the parent's first.
        Even, unless the parent computes the batch's weight gradient for the holder:
        then its shard is smaller."""
        if self._holder is None:
            return split(n, self.workers)
        parent = _PARENT_SHARE if self._augment is None else _PARENT_SHARE_AUGMENTED
        share = parent / (parent + self.workers - 1)
        mine = min(n, max(1, round(n * share)))
        return [(0, mine)] + [(mine + a, mine + b) for a, b in split(n - mine, self.workers - 1)]

    def _hold(self, x_rows: list, g_rows: list, flags: list) -> None:
        """The holder's ``on_rows`` in this process: keep its shard's rows for :meth:`_gather`."""
        self._held = (x_rows, g_rows, flags)

    # ------------------------------------------------------------- the pipes
    def _send(self, k: int, messages: List[bytes]) -> None:
        try:
            for message in messages:
                self._down[k].send_bytes(message)
        except OSError:
            raise self._died(k) from None

    def _receive(self, k: int, kind: str) -> Tuple[dict, List[bytes]]:
        """Worker ``k``'s next reply: its JSON header and byte parts. ``kind``: the
        reply expected, ``"rows"`` (the holder's, mid-step) or ``"grads"``."""
        conn, proc = self._up[k], self._procs[k]
        try:
            if conn not in wait([conn, proc.sentinel]):
                raise EOFError
            reply = json.loads(conn.recv_bytes())
            parts = [conn.recv_bytes() for _ in range(reply["parts"])]
        except (EOFError, OSError):
            raise self._died(k) from None
        if "error" in reply:
            raise RuntimeError(f"training worker {k + 1} of {self.workers} failed: {reply['error']}")
        if reply["kind"] != kind:
            raise RuntimeError(f"training worker {k + 1} of {self.workers} sent {reply['kind']!r}; expected {kind!r}.")
        return reply, parts

    def _died(self, k: int) -> RuntimeError:
        proc = self._procs[k]
        proc.join(_GRACE)
        return RuntimeError(
            f"training worker {k + 1} of {self.workers} (pid {proc.pid}) ended unexpectedly "
            f"(exit code {proc.exitcode}); training stopped."
        )


class _Started:
    """A worker started by :meth:`Workers._exec`, with the part of ``multiprocessing.Process``'s
    interface the pool uses: ``pid``, ``sentinel``, ``exitcode``, ``join``, ``is_alive``, ``terminate``."""

    def __init__(self, popen: subprocess.Popen, sentinel: int):
        self.popen, self.sentinel, self.pid = popen, sentinel, popen.pid

    @property
    def exitcode(self) -> Optional[int]:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: Optional[float] = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None

    def terminate(self) -> None:
        self.popen.terminate()


def _threads() -> int:
    """Threads in this process, as the operating system counts them (Linux), else as ``threading`` does.
    Python 3.12+ warns on ``fork()`` when there is more than one, with reason: a lock another
    thread holds stays locked forever in the child."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _not_rebuildable(model: Sequential, loss, inputs: Optional[Inputs], augment) -> str:
    """Why a fresh interpreter could not rebuild what the workers need (``""`` if it can): every
    layer and the loss must be registered classes from importable modules, the inputs an image
    collection or a Matrix, the augmentation an :class:`Augment`."""
    for i, layer in enumerate(model.layers):
        cls = type(layer)
        if LAYERS.get(cls.__name__) is not cls or cls.__module__ == "__main__":
            return f"layer {i} ({cls.__name__}), not a registered layer of an importable module"
    if LOSSES.get(type(loss).__name__) is not type(loss):
        return f"the loss {type(loss).__name__}, not one of {sorted(LOSSES)}"
    if inputs is not None and type(inputs._source) not in (ImageSet, Matrix):
        return f"inputs of type {type(inputs._source).__name__}, not an ImageSet or a Matrix"
    if augment is not None and type(augment) is not Augment:
        return f"augment of type {type(augment).__name__}, not an Augment"
    return ""


#: The folder that holds the purenet package: a fresh worker interpreter imports purenet from here.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup(model: Sequential, loss, inputs: Optional[Inputs], targets: Optional[Targets], augmenting) -> Tuple[dict, List[bytes]]:
    """What a fresh worker needs to rebuild the model, loss, samples and augmentation: a JSON
    header and byte parts (:func:`_rebuild` reads them)."""
    modules = sorted({type(layer).__module__ for layer in model.layers if not type(layer).__module__.startswith("purenet.")})
    header = {"kind": "setup", "path": list(sys.path), "modules": modules, "architecture": model.architecture,
              "loss": {"class": type(loss).__name__, "config": loss.get_config()}, "inputs": None, "targets": None,
              "augment": None}
    parts: List[bytes] = []
    if inputs is not None:
        source = inputs._source
        if isinstance(source, Matrix):
            header["inputs"] = {"kind": "matrix", "rows": source.rows, "cols": source.cols}
            parts.append(_encode(source.data))
        else:
            header["inputs"] = {"kind": "images", "shape": list(source.image_shape)}
            parts.append(source.data)
        if targets.labels is not None:
            header["targets"] = {"kind": "labels", "count": len(targets)}
            parts.append(array("q", targets.labels).tobytes())
        else:
            t = targets._source
            header["targets"] = {"kind": "matrix", "rows": t.rows, "cols": t.cols}
            parts.append(_encode(t.data))
    if augmenting is not None:
        augment, shape = augmenting
        config = augment.get_config()
        config.pop("rng", None)  # its state comes with every request
        header["augment"] = {"config": config, "shape": list(shape)}
    header["parts"] = len(parts)
    return header, parts


def _rebuild(header: dict, parts: List[bytes]):
    """``(model, loss, inputs, targets, augmenting)`` from what :func:`_setup` wrote."""
    import importlib

    for path in reversed(header["path"]):
        if path not in sys.path:
            sys.path.insert(0, path)
    for module in header["modules"]:  # registers the user's layers
        importlib.import_module(module)
    model = Sequential.from_architecture(header["architecture"])
    loss = LOSSES[header["loss"]["class"]](**header["loss"]["config"])
    inputs = targets = augmenting = None
    if header["inputs"] is not None:
        spec, data = header["inputs"], parts[0]
        if spec["kind"] == "matrix":
            source = Matrix.from_flat(list(_floats(data)), spec["rows"], spec["cols"])
        else:
            source = ImageSet(data, image_shape=tuple(spec["shape"]))
        inputs = as_inputs(source, model.in_features, "inputs")
        spec, data = header["targets"], parts[1]
        if spec["kind"] == "labels":
            y = _ints(data)
        else:
            y = Matrix.from_flat(list(_floats(data)), spec["rows"], spec["cols"])
        targets = as_targets(y, len(inputs), model.out_features, "targets")
    if header["augment"] is not None:
        config = dict(header["augment"]["config"])
        config["scale"] = tuple(config["scale"])
        augmenting = (Augment(**config), tuple(header["augment"]["shape"]))
    return model, loss, inputs, targets, augmenting


def _exec_main() -> None:
    """A worker started by :meth:`Workers._exec`: rebuild what the parent sent, then :func:`_serve`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    down, up, _alive = (int(a) for a in sys.argv[1:4])  # _alive stays open until this process ends
    conn = multiprocessing.connection.Connection(down, writable=False)
    replies = multiprocessing.connection.Connection(up, readable=False)
    try:
        header = json.loads(conn.recv_bytes())
        parts = [conn.recv_bytes() for _ in range(header["parts"])]
    except (EOFError, OSError):
        return
    try:
        model, loss, inputs, targets, augmenting = _rebuild(header, parts)
        reply = {"kind": "ready", "parts": 0}
    except Exception as e:  # reported to the parent, which raises it
        reply = {"error": f"{type(e).__name__}: {e}", "parts": 0}
    try:
        replies.send_bytes(json.dumps(reply).encode())
    except OSError:
        return
    if "error" not in reply:
        _serve(conn, replies, [], model, loss, inputs, targets, augmenting)


def shard_gradients(model: Sequential, loss, x: Matrix, y, classes: List[int], scale: float, after_first=None) -> Tuple[float, int]:
    """Forward and backward over one shard, leaving ``scale`` times its mean-loss gradients
    in the parameters' ``.grad``; returns the shard's mean loss and correct count.
    ``after_first()``, if given, is called once the model's first step has run forward."""
    for p in model.parameters():
        p.zero_grad()
    value, out, _ = model._loss_and_grad(x, y, loss, training=True, grad_scale=scale, after_first=after_first)
    return value, _count_correct(out, classes)


def _encode(values) -> bytes:
    """Floats as native doubles (what :func:`_floats` reads)."""
    if _STRUCT_IS_FASTER:
        return struct.pack(f"{len(values)}d", *values)
    return array("d", values).tobytes()


#: CPython's ``struct.pack`` takes a list of floats ~2-7x as fast as ``array("d", ...)``
#: does (a float row: 0.1 against 0.7 ms for a cnn-small shard's rows); PyPy's ``array`` ~30x as fast as its ``struct``.
_STRUCT_IS_FASTER = kernels.BACKEND == "cpython"


# Decoding: slices of what _floats returns go straight into the list operations
# (on PyPy ``list(a)`` of an array is several times faster than ``a.tolist()``).
def _add_gradients(params, payload: bytes) -> None:
    """``.grad += payload`` for each parameter (the payload's values in order)."""
    values = _floats(payload)
    offset = 0
    for p in params:
        size = len(p.data)
        p.grad.data = kernels.add_lists(p.grad.data, values[offset : offset + size])
        offset += size


def _decode_rows(header: dict, parts: List[bytes]) -> Tuple[list, list, list]:
    """A worker's ``"rows"`` reply -> its shard's ``(x_rows, g_rows, flags)`` for the holder."""
    rows = header["rows"]
    x, g = _floats(parts[0]), _floats(parts[1])
    return kernels.rows_of(x, rows, len(x) // rows), kernels.rows_of(g, rows, len(g) // rows), list(parts[2])


def _set_weights(params, payload: bytes) -> None:
    values = _floats(payload)
    offset = 0
    for p in params:
        size = len(p.data)
        p.data[:] = values[offset : offset + size]
        offset += size


def _floats(payload: bytes) -> Sequence[float]:
    """What :func:`_encode` wrote: a tuple on CPython, an ``array`` on PyPy (each one's fastest)."""
    if _STRUCT_IS_FASTER:
        return struct.unpack(f"{len(payload) // 8}d", payload)
    values = array("d")
    values.frombytes(payload)
    return values


def _first_block(model: Sequential, optimizer: Optimizer) -> list:
    """The parameters :meth:`Workers.step` updates and sends first: the model's first
    step's, if they lead ``model.parameters()`` and others follow, and the optimizer
    steps each parameter on its own (its ``step``/``update`` are the base class's);
    else none (one step, sent whole)."""
    params, first = model.parameters(), model._steps[0].parameters()
    own = type(optimizer).step is Optimizer.step and type(optimizer).update is Optimizer.update
    if not own or not first or len(first) >= len(params) or any(a is not b for a, b in zip(first, params)):
        return []
    return first


def _holder(model: Sequential) -> Optional[GatedDense]:
    """The step whose weight gradient the parent computes once per batch, from every
    shard's rows (:meth:`GatedDense.weight_grad`), or None.

    That is a Dense layer right after the model's first conv block (cnn-small's):
    its weight gradient is U*D dot products whatever the number of rows, so one
    per shard would repeat that fixed cost in every process. The workers send their
    shard's Dense input and output gradient rows instead (mid-step, so the parent
    computes while they finish their backward pass). CPython only: the PyPy backend
    keeps no ink flags, and its dot products cost no fixed price per call.
    """
    if kernels.BACKEND != "cpython":
        return None
    return next((s for s in model._steps if type(s) is GatedDense and s.block is not None), None)


def _shipped(model: Sequential, holder: Optional[GatedDense]) -> list:
    """The parameters whose gradients a worker sends: all but the holder's weight."""
    return [p for p in model.parameters() if holder is None or p is not holder.dense.weight]


def _widen(conn) -> None:
    """Ask for a pipe of :data:`_PIPE_BYTES` (Linux); elsewhere, or if refused, it stays as it is."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl  # Unix only, like the "fork" start method the workers need

    try:
        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except OSError:  # over the system's limit: a worker may then wait for the parent to read
        pass


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


def _skip(rng: random.Random, draws: int) -> None:
    """Advance a generator past ``draws`` calls of ``random()`` (a Dropout's mask entries, Augment's draws)."""
    rnd = rng.random
    for _ in repeat(None, draws):
        rnd()


# ------------------------------------------------------------- the worker side
def _serve(conn, replies, inherited, model: Sequential, loss, inputs: Optional[Inputs], targets: Optional[Targets],
           augmenting: Optional[Tuple[Augment, tuple]]) -> None:
    """A worker's life: answer shard requests (on ``conn``; replies on ``replies``) until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes the pipe
    for c in inherited:
        c.close()
    params = model.parameters()
    buffers = model.buffers()  # sent with every request, ahead of the weights
    first = len(model._steps[0].parameters())  # what a request sends when the rest follows (see Workers.step)
    holder = _holder(model)
    shipped = _shipped(model, holder)
    if holder is not None:  # its backward sends the rows at once, and goes on

        def send_rows(x_rows, g_rows, flags):
            replies.send_bytes(json.dumps({"kind": "rows", "rows": len(x_rows), "parts": 3}).encode())
            replies.send_bytes(b"".join(map(_encode, x_rows)))
            replies.send_bytes(b"".join(map(_encode, g_rows)))
            replies.send_bytes(bytes(flags))

        holder.on_rows = send_rows
    dropouts = [layer for layer in model.layers if type(layer) is Dropout and layer.rate > 0.0]
    prepared = None  # ((indices, augment state, start), shard): the next shard, made while the parent stepped
    while True:
        try:
            header = json.loads(conn.recv_bytes())
            rest = header.get("rest", False)
            _set_weights(buffers + (params[:first] if rest else params), conn.recv_bytes())
            parts = [conn.recv_bytes() for _ in range(header["parts"])]
        except (EOFError, OSError):
            return
        pending = [params[first:]] if rest else []  # the other weights: read once the first block has run
        aug_state = None  # the Augment generator's state when this batch began

        def read_rest():
            if pending:
                _set_weights(pending.pop(), conn.recv_bytes())

        try:
            if header["kind"] == "indices":
                idx, start = _ints(parts[0]), header["start"]
                aug_state = rngstate.from_json(header["augment"]) if header["augment"] is not None else None
                if prepared is not None and prepared[0] == (idx, aug_state, start):
                    x, y, classes = prepared[1]
                else:
                    x, y, classes = _batch(idx, inputs, targets, augmenting, aug_state, start)
            else:
                x, y, classes = _rows(header, parts, model)
            prepared = None
            for layer, masks in zip(dropouts, header["rngs"]):
                layer.rng.setstate(rngstate.from_json(masks))
                _skip(layer.rng, header["start"] * shape_size(layer.input_shape))
            rows = header["stop"] - header["start"]
            value, correct = shard_gradients(model, loss, x, y, classes, rows / header["total"], read_rest)
            reply = {"kind": "grads", "loss": value, "correct": correct, "parts": 1}
            grads = b"".join([_encode(p.grad.data) for p in shipped])
        except Exception as e:  # reported to the parent, which raises it
            reply, grads = {"error": f"{type(e).__name__}: {e}", "parts": 0}, None
        try:
            read_rest()  # (if an error came first: the next message is a request again)
            replies.send_bytes(json.dumps(reply).encode())
            if grads is not None:
                replies.send_bytes(grads)
            upcoming = _ints(conn.recv_bytes()) if header["kind"] == "indices" else []
        except (EOFError, OSError):
            return
        if upcoming and grads is not None:  # while the parent adds the gradients and steps
            try:
                start, upcoming = upcoming[0], upcoming[1:]
                if aug_state is not None:  # the next batch's draws follow this whole batch's
                    aug_state = _past(aug_state, header["total"]).getstate()
                prepared = ((upcoming, aug_state, start), _batch(upcoming, inputs, targets, augmenting, aug_state, start))
                _prepare(model, prepared[1][0])
            except Exception:  # the next request computes it again, and reports what fails
                prepared = None


def _prepare(model: Sequential, x: Matrix) -> None:
    """Let the model's first step do what it can with ``x`` before the weights are known."""
    first = model._steps[0]
    if hasattr(first, "prepare"):
        first.prepare(x)


def _ints(payload: bytes) -> List[int]:
    values = array("q")
    values.frombytes(payload)
    return list(values)


def _batch(idx: List[int], inputs: Inputs, targets: Targets, augment=None, state=None, before: int = 0):
    """The rows, targets and classes of the inherited samples ``idx``. With ``augment`` (an
    ``(Augment, image shape)`` pair), the rows transformed as one process transforms a batch:
    from a generator in ``state`` (that of the Augment's ``rng`` when the batch began), past
    the draws of the ``before`` images ahead of these."""
    x = inputs.batch(idx)
    if augment is not None:
        augment, shape = augment
        x = augment(x, shape, rng=_past(state, before))
    return x, targets.batch(idx), targets.classes(idx)


def _past(state, images: int) -> random.Random:
    """A generator in ``state`` advanced past Augment's draws for ``images`` images."""
    rng = random.Random()
    rng.setstate(state)
    _skip(rng, images * Augment.DRAWS_PER_IMAGE)
    return rng


def _state(augment: Optional[Augment]):
    """``augment.rng``'s state (None without augment)."""
    return augment.rng.getstate() if augment is not None else None


def _rows(header: dict, parts: List[bytes], model: Sequential):
    """The shard's rows, targets and classes, from the bytes sent."""
    rows = header["stop"] - header["start"]
    if header["labels"]:
        shard = Targets(_ints(parts[1]), rows)
    else:
        shard = Targets(Matrix.from_flat(list(_floats(parts[1])), rows, header["cols"]), rows)
    x = Matrix.from_flat(list(_floats(parts[0])), rows, model.in_features)
    return x, shard.range(0, rows), shard.classes(range(rows))
