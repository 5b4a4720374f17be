"""Data-parallel training (``fit(workers=N)``, ``purenet train --workers N``).

The promise under test: N processes give the serial run's history, weights,
optimizer state and generator states to within 1e-12 (rounding only), for
every reference architecture, both optimizers, uneven last batches and
batches smaller than the number of processes, with Dropout masks drawn in
the serial order; no pickle crosses a pipe; and the worker processes are
gone whenever ``fit`` returns, raises or is interrupted, with a clear error
when a worker fails or dies. Data sets are tens of samples: each test takes
a second or two. No timing is asserted here (benchmarks/workers.py measures
the speed-up).
"""

import contextlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import pickle
import random
import re
import signal
import sys
import threading
import warnings

import pytest

import purenet as pn
from purenet import cli, kernels, parallel
from purenet.architectures import build
from purenet.layers import Layer
from purenet.matrix import Matrix

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="parallel training needs the fork start method"
)

TOLERANCE = 1e-12
GUARD = 300  # seconds; each test takes a few on a quiet machine


@pytest.fixture(scope="module")
def digits():
    x, y = pn.datasets.load_bundled("train")
    return x[:70], y[:70]  # 70 = 4 batches of 16 and one of 6


@pytest.fixture(autouse=True)
def no_workers_left():
    """Every test ends with no child process alive (no orphans, whatever happened);
    a test that hangs fails after a generous guard instead of stalling the suite."""

    def hung(signum, frame):
        raise TimeoutError(f"a parallel-training test ran over {GUARD} s: a hang?")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(GUARD)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert multiprocessing.active_children() == []


def weights(model):
    return [list(p.data) for p in model.parameters()]


def assert_close(a, b, what):
    worst = max((abs(u - v) for xs, ys in zip(a, b) for u, v in zip(xs, ys)), default=0.0)
    assert len(a) == len(b) and all(len(xs) == len(ys) for xs, ys in zip(a, b)), what
    assert worst <= TOLERANCE, f"{what}: differs by {worst}"


def assert_same_training(serial, parallel_model, serial_history, parallel_history):
    assert sorted(serial_history) == sorted(parallel_history)
    assert_close([serial_history[k] for k in sorted(serial_history)],
                 [parallel_history[k] for k in sorted(parallel_history)], "history")
    assert serial_history["accuracy"] == parallel_history["accuracy"]  # counts: exact
    assert_close(weights(serial), weights(parallel_model), "weights")
    for (name, p), (_, q) in zip(serial.named_parameters(), parallel_model.named_parameters()):
        mine = serial.optimizer.state_dict([(name, p)])["state"].get(name, {})
        theirs = parallel_model.optimizer.state_dict([(name, q)])["state"].get(name, {})
        assert sorted(mine) == sorted(theirs)
        assert_close([v for v in mine.values() if isinstance(v, list)],
                     [v for v in theirs.values() if isinstance(v, list)], f"optimizer state of {name}")
    assert serial.rng.getstate() == parallel_model.rng.getstate()


def train(arch, x, y, workers, optimizer, batch_size=16, epochs=2, **fit):
    model = build(arch, seed=3)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer(), workers=workers, **fit)
    return model, history


@pytest.mark.parametrize("arch", ["cnn-small", "mlp", "lenet"])
@pytest.mark.parametrize("optimizer", [lambda: pn.SGD(0.05, momentum=0.9), lambda: pn.Adam(3e-3)], ids=["sgd", "adam"])
def test_two_workers_train_as_one_process(digits, arch, optimizer):
    x, y = digits
    serial, h1 = train(arch, x, y, 1, optimizer)
    par, h2 = train(arch, x, y, 2, optimizer)
    assert serial.history["loss"][0] > serial.history["loss"][1]  # it did learn something
    assert weights(serial) != weights(build(arch, seed=3))
    assert_same_training(serial, par, h1, h2)


@pytest.mark.parametrize("workers, batch_size", [(3, 16), (3, 2), (2, 1), (4, 3)])
def test_uneven_shards_and_batches_smaller_than_the_workers(digits, workers, batch_size):
    x, y = digits[0][:20], digits[1][:20]
    with _maybe_too_many(workers):
        serial, h1 = train("cnn-small", x, y, 1, lambda: pn.SGD(0.05, momentum=0.9), batch_size=batch_size, epochs=1)
        par, h2 = train("cnn-small", x, y, workers, lambda: pn.SGD(0.05, momentum=0.9), batch_size=batch_size, epochs=1)
    assert_same_training(serial, par, h1, h2)


def test_the_parent_takes_the_dense_weight_gradient_of_the_whole_batch(digits):
    """On CPython, cnn-small's Dense weight gradient (a dot product per weight, whatever
    the rows) is computed once per batch, by the parent, from every shard's rows (the
    two tests above check the result); the parent's own shard is smaller for it. The
    model computes its own again once the workers are gone. The pipes are widened
    (Linux) so that a shard's rows never wait for the parent to read them."""
    model = build("cnn-small", seed=0)
    gated = model._steps[2]
    with parallel.Workers(model, pn.CrossEntropy(), 2) as pool:
        bounds = pool._bounds(32)
        if kernels.BACKEND == "cpython":
            assert gated.on_rows is not None
            assert bounds[0] == (0, 12) and bounds[1] == (12, 32)
        else:
            assert gated.on_rows is None and bounds == parallel.split(32, 2)
        if sys.platform.startswith("linux"):
            import fcntl

            with open("/proc/sys/fs/pipe-max-size") as f:
                limit = int(f.read())
            for conn in pool._down + pool._up:
                assert fcntl.fcntl(conn.fileno(), 1032) >= min(parallel._PIPE_BYTES, limit)  # F_GETPIPE_SZ
    assert gated.on_rows is None
    for n, workers in ((1, 2), (2, 3), (7, 4), (33, 2)):
        with _maybe_too_many(workers):
            with parallel.Workers(build("cnn-small", seed=0), pn.CrossEntropy(), workers) as pool:
                bounds = pool._bounds(n)
        assert bounds[0][0] == 0 and bounds[-1][1] == n and bounds[0][1] >= 1
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def _maybe_too_many(workers):
    """Asking for more processes than CPUs warns (and still works)."""
    if workers > (os.cpu_count() or 1):
        return pytest.warns(RuntimeWarning, match=f"workers={workers} but this machine has")
    return contextlib.nullcontext()


def test_validation_data_and_one_hot_targets(digits):
    x, y = digits
    onehot = [[float(label == c) for c in range(10)] for label in y]
    val = pn.datasets.load_bundled("test")
    results = []
    for workers in (1, 2):
        model = build("cnn-small", seed=1)
        history = model.fit(x, onehot, epochs=1, batch_size=32, optimizer=pn.SGD(0.1),
                            validation_data=(val[0][:50], val[1][:50]), workers=workers)
        results.append((model, history))
    (serial, h1), (par, h2) = results
    assert "val_accuracy" in h1
    assert_same_training(serial, par, h1, h2)


def dropout_model(seed=0):
    return pn.Sequential([pn.Flatten(), pn.Dense(32), pn.ReLU(), pn.Dropout(0.3), pn.Dense(10), pn.Softmax()],
                         input_shape=(1, 28, 28), seed=seed)


@pytest.mark.parametrize("workers", [2, 3])
def test_dropout_masks_are_drawn_in_the_serial_order(digits, workers):
    x, y = digits
    models, histories = [], []
    for w in (1, workers):
        model = dropout_model()
        with _maybe_too_many(w):
            histories.append(model.fit(x, y, epochs=2, batch_size=16, optimizer=pn.SGD(0.1), workers=w))
        models.append(model)
    assert_same_training(models[0], models[1], *histories)
    assert models[0].layers[3].rng.getstate() == models[1].layers[3].rng.getstate()
    # and the masks matter: without them (rate 0) the run is a different one
    plain = pn.Sequential([pn.Flatten(), pn.Dense(32), pn.ReLU(), pn.Dropout(0.0), pn.Dense(10), pn.Softmax()],
                          input_shape=(1, 28, 28), seed=0)
    plain.fit(x, y, epochs=2, batch_size=16, optimizer=pn.SGD(0.1), workers=2)
    assert max(abs(a - b) for a, b in zip(plain.parameters()[0].data, models[1].parameters()[0].data)) > 1e-6


class Noise(Layer):
    """A layer with its own random numbers (not Dropout): parallel training refuses it."""

    def __init__(self):
        self.rng = random.Random(0)

    def forward(self, x, training=False):
        return x

    def backward(self, grad, input_grad=True):
        return grad


@pytest.mark.parametrize("workers", [2, 3])
def test_augmented_shards_are_those_of_one_process(digits, workers):
    """With an Augment, each process transforms its own shard (the next one ahead of time too)
    from the generator state the batch began with, past the draws of the images before it:
    the same training, and the same generator state after it, as augmenting every batch in
    one process (uneven shards and a short last batch included). Without the inputs to cut
    shards from, an Augment is refused."""
    from purenet.augment import Augment
    from purenet.inputs import as_inputs, as_targets

    x, y = digits
    batches = [list(range(s, min(s + 16, len(x)))) for s in range(0, len(x), 16)][::-1]  # 16, 16, 16, 16, 6 backwards
    serial, twin = build("cnn-small", seed=3), build("cnn-small", seed=3)
    opt, twin_opt = pn.SGD(0.05, momentum=0.9), pn.SGD(0.05, momentum=0.9)
    augment, twin_augment = Augment(rng=5), Augment(rng=5)
    losses = []
    for idx in batches:
        losses.append(serial.train_on_batch(augment(x.take(idx)), [y[i] for i in idx], loss=pn.CrossEntropy(), optimizer=opt))
    with _maybe_too_many(workers):
        inputs, targets = as_inputs(x, twin.in_features), as_targets(y, len(x), twin.out_features)
        with parallel.Workers(twin, pn.CrossEntropy(), workers, inputs, targets, twin_augment) as pool:
            for i, idx in enumerate(batches):
                value, _ = pool.step(idx, batches[i + 1] if i + 1 < len(batches) else [], twin_opt)
                assert abs(value - losses[i]) <= TOLERANCE
    assert_close(weights(serial), weights(twin), "weights")
    assert augment.rng.getstate() == twin_augment.rng.getstate()
    with pytest.raises(ValueError, match="augment transforms the inputs"):
        parallel.Workers(twin, pn.CrossEntropy(), 2, augment=Augment())


def test_a_worker_cuts_each_announced_shard_once(digits, tmp_path, monkeypatch):
    """While the parent steps, a worker cuts (and augments) its shard of the batch announced
    next, and then uses it: one cut per batch in the worker, with Dropout and with Augment
    (their generator states kept apart), not one more when the batch is asked for."""
    from purenet.augment import Augment

    log = tmp_path / "calls"

    def counted(name):
        original = getattr(parallel, name)

        def call(*args, **kwargs):  # the workers inherit it (forked) and log their pid
            with open(log, "a") as f:
                f.write(f"{name} {os.getpid()}\n")
            return original(*args, **kwargs)

        monkeypatch.setattr(parallel, name, call)

    counted("_batch")  # cutting a shard: on request, or ahead
    counted("_prepare")  # what follows only a cut ahead (on request the forward pass prepares)
    x, y = digits
    batches = [list(range(s, s + 16)) for s in range(0, 64, 16)]
    for model, augment in ((dropout_model(), None), (build("cnn-small", seed=1), Augment(rng=2))):
        log.write_text("")
        # forked, whatever threads run: the workers must inherit the counting functions
        with parallel.Workers(model, pn.CrossEntropy(), 2, *_checked(model, x, y), augment, start="fork") as pool:
            for i, idx in enumerate(batches):
                pool.step(idx, batches[i + 1] if i + 1 < len(batches) else [], pn.SGD(0.05))
        calls = [line.split() for line in log.read_text().splitlines()]
        in_worker = [name for name, pid in calls if int(pid) != os.getpid()]
        # the first batch cut on request, the other three ahead, none twice
        assert (in_worker.count("_batch"), in_worker.count("_prepare")) == (len(batches), len(batches) - 1)


def test_other_random_layers_are_refused(digits):
    model = pn.Sequential([pn.Flatten(), Noise(), pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"layer 1 \(Noise\) draws random numbers.*workers=1"):
        model.fit(*digits, workers=2)
    model.fit(*digits, workers=1)  # one process is fine


class Sabotage(Layer):
    """Identity, except in a worker process (not the one that built it) on the second step."""

    def __init__(self, action):
        self.action, self.parent, self.calls = action, os.getpid(), 0

    def forward(self, x, training=False):
        if os.getpid() != self.parent:
            self.calls += 1
            if self.calls == 2:
                self.action()
        return x

    def backward(self, grad, input_grad=True):
        return grad


def _exit():
    os._exit(3)


def _fail():
    raise ValueError("sabotaged")


def test_a_worker_that_dies_stops_training_with_a_clear_error(digits):
    model = pn.Sequential([pn.Flatten(), Sabotage(_exit), pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28))
    with pytest.raises(RuntimeError, match=r"training worker 1 of 2 \(pid \d+\) ended unexpectedly \(exit code 3\)"):
        model.fit(*digits, batch_size=8, workers=2)


def test_a_worker_error_is_raised_in_the_parent(digits):
    model = pn.Sequential([pn.Flatten(), Sabotage(_fail), pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28))
    with pytest.raises(RuntimeError, match="training worker 1 of 2 failed: ValueError: sabotaged"):
        model.fit(*digits, batch_size=8, workers=2)


class Interrupt(Layer):
    """Raises ``error`` in the parent on its third forward (KeyboardInterrupt: as Ctrl-C would)."""

    def __init__(self, error):
        self.error, self.parent, self.calls = error, os.getpid(), 0

    def forward(self, x, training=False):
        if os.getpid() == self.parent:
            self.calls += 1
            if self.calls == 3:
                raise self.error
        return x

    def backward(self, grad, input_grad=True):
        return grad


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_ctrl_c_and_errors_in_the_parent_stop_the_workers(digits, error):
    model = pn.Sequential([pn.Flatten(), Interrupt(error), pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28))
    with pytest.raises(error):
        with _maybe_too_many(3):
            model.fit(*digits, batch_size=8, workers=3)  # the fixture checks that no worker is left


def test_no_pickle_crosses_the_pipes(digits, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "dumps", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(multiprocessing.reduction.ForkingPickler, "dumps", classmethod(refuse))
    model = dropout_model()
    model.fit(*digits, epochs=1, batch_size=16, workers=2)
    with parallel.Workers(model, pn.CrossEntropy(), 2) as pool:
        pool.train_on_batch(digits[0][:16].to_matrix(), digits[1][:16], pn.SGD(0.1))


def test_train_on_batch_steps_like_the_model(digits):
    x, y = digits[0][:21].to_matrix(), digits[1][:21]
    serial, par = build("lenet", seed=2), build("lenet", seed=2)
    opt1, opt2 = pn.Adam(1e-2), pn.Adam(1e-2)
    with parallel.Workers(par, pn.CrossEntropy(), 2) as pool:
        for _ in range(3):
            right = sum(p == t for p, t in zip(serial.predict_classes(x), y))  # before the step, as counted
            value = serial.train_on_batch(x, y, loss=pn.CrossEntropy(), optimizer=opt1)
            value2, correct = pool.train_on_batch(x, y, opt2)
            assert abs(value - value2) <= TOLERANCE
            assert correct == right
    assert_close(weights(serial), weights(par), "weights")
    assert par.optimizer is opt2


@pytest.mark.parametrize("parent_waits", [False, True])
def test_the_announced_next_shard_is_used_only_for_that_batch(digits, monkeypatch, parent_waits):
    """The workers prepare the shard of the batch announced as upcoming while the parent
    steps, and so does the parent when a worker's reply is not there yet (forced here);
    a different batch (a stale preparation) must still get its own gradients."""
    if parent_waits:
        monkeypatch.setattr(multiprocessing.connection.Connection, "poll", lambda self, timeout=0.0: False)
    x, y = digits
    a, b, c = list(range(0, 16)), list(range(16, 32)), list(range(40, 56))
    twin, model = build("cnn-small", seed=4), build("cnn-small", seed=4)
    loss = pn.CrossEntropy()
    with parallel.Workers(model, loss, 2, *_checked(model, x, y)) as pool:
        for idx, upcoming in ((a, b), (b, b), (c, a), (b, ())):  # used, then b announced but c asked for
            value, correct = pool.gradients(idx, upcoming)
            twin.zero_grad()
            expected, out, _ = twin._loss_and_grad(x.take(idx).to_matrix(), [y[i] for i in idx], loss, training=True)
            assert abs(value - expected) <= TOLERANCE
            assert correct == sum(p == y[i] for p, i in zip(out.argmax(axis=1), idx))
            assert_close([p.grad.data for p in model.parameters()], [p.grad.data for p in twin.parameters()], "gradients")


def test_a_step_sends_the_next_batch_early_and_takes_it_back_if_another_comes(digits):
    """Workers.step updates the first block's parameters, sends them with the workers'
    shards of the announced next batch, then updates and sends the rest. A next call
    about another batch (step, gradients, train_on_batch) first takes that one back.
    Every loss, gradient and weight equals one process's."""
    x, y = digits
    a, b, c = list(range(0, 16)), list(range(16, 32)), list(range(40, 56))
    twin, model = build("cnn-small", seed=4), build("cnn-small", seed=4)
    loss = pn.CrossEntropy()
    twin_opt, opt = pn.SGD(0.05, momentum=0.9), pn.SGD(0.05, momentum=0.9)
    assert parallel._first_block(model, opt) == model.layers[0].parameters()

    def twin_gradients(idx):
        twin.zero_grad()
        value, _, _ = twin._loss_and_grad(x.take(idx).to_matrix(), [y[i] for i in idx], loss, training=True)
        return value

    with parallel.Workers(model, loss, 2, *_checked(model, x, y)) as pool:
        for idx, upcoming in ((a, b), (b, c), (a, b), (b, ())):  # c is sent early but a is asked for
            value, _ = pool.step(idx, upcoming, opt)
            assert abs(value - twin_gradients(idx)) <= TOLERANCE
            twin_opt.step(twin.parameters())
            assert_close(weights(model), weights(twin), "weights")
        pool.step(a, b, opt)  # b sent early; gradients of c asked for
        twin_gradients(a)
        twin_opt.step(twin.parameters())
        value, _ = pool.gradients(c)
        assert abs(value - twin_gradients(c)) <= TOLERANCE
        assert_close([p.grad.data for p in model.parameters()], [p.grad.data for p in twin.parameters()], "gradients")
        opt.step(model.parameters())
        twin_opt.step(twin.parameters())
        pool.step(a, b, opt)  # b sent early; a batch of rows comes instead
        twin_gradients(a)
        twin_opt.step(twin.parameters())
        rows, labels = x.take(c).to_matrix(), [y[i] for i in c]
        value, _ = pool.train_on_batch(rows, labels, opt)
        assert abs(value - twin.train_on_batch(rows, labels, loss=loss, optimizer=twin_opt)) <= TOLERANCE
    assert_close(weights(model), weights(twin), "weights")
    assert opt.iterations == twin_opt.iterations == 8


def test_optimizers_of_their_own_step_take_it_whole(digits):
    """An optimizer that overrides ``step`` (it might clip every gradient at once) is
    not split: it steps all parameters in one call, and training is one process's.
    The split itself, ``step(a)`` then ``update(b)``, is ``step(a + b)``."""
    calls = []

    class Recorded(pn.SGD):
        def step(self, parameters):
            parameters = list(parameters)
            calls.append(len(parameters))
            super().step(parameters)

    x, y = digits
    model = build("cnn-small", seed=6)
    assert parallel._first_block(model, Recorded(0.05)) == []
    assert parallel._first_block(build("mlp", seed=0), pn.SGD(0.05)) == []  # first step: Flatten
    model.fit(x, y, epochs=1, batch_size=16, optimizer=Recorded(0.05, momentum=0.9), workers=2)
    assert calls == [4] * 5
    serial = build("cnn-small", seed=6)
    serial.fit(x, y, epochs=1, batch_size=16, optimizer=pn.SGD(0.05, momentum=0.9))
    assert_close(weights(model), weights(serial), "weights")
    for make in (lambda: pn.SGD(0.1, momentum=0.9, weight_decay=0.01), lambda: pn.Adam(0.01)):
        whole, split = build("cnn-small", seed=7), build("cnn-small", seed=7)
        whole_opt, split_opt = make(), make()
        for m in (whole, split):  # some gradients
            m._loss_and_grad(x.take(range(8)).to_matrix(), y[:8], pn.CrossEntropy(), training=True)
        for _ in range(2):
            whole_opt.step(whole.parameters())
            split_opt.step(split.parameters()[:2])
            split_opt.update(split.parameters()[2:])
        assert weights(whole) == weights(split) and whole_opt.iterations == split_opt.iterations == 2


def _checked(model, x, y):
    from purenet.inputs import as_inputs, as_targets

    inputs = as_inputs(x, model.in_features)
    return inputs, as_targets(y, len(inputs), model.out_features)


def test_grad_scale_scales_the_gradients_not_the_loss(digits):
    x, labels = digits[0][:6].to_matrix(), digits[1][:6]
    model, loss = build("lenet", seed=5), pn.CrossEntropy()
    results = []
    for scale in (1.0, 0.375):
        model.zero_grad()
        value, _, _ = model._loss_and_grad(x, labels, loss, training=True, grad_scale=scale)
        results.append((value, [list(p.grad.data) for p in model.parameters()]))
    (v1, g1), (v2, g2) = results
    assert v1 == v2
    assert_close([[0.375 * g for g in gs] for gs in g1], g2, "scaled gradients")
    assert max(abs(g) for gs in g1 for g in gs) > 1e-3


@pytest.mark.parametrize("scale", [1.0, 0.7])  # 8-bit images (the bytes path), and normalised ones
def test_a_prepared_conv_block_forwards_as_an_unprepared_one(digits, scale):
    model = build("cnn-small", seed=6)
    block = model._steps[0]
    x, other = (Matrix.from_flat([v * scale for v in m.data], *m.shape)
                for m in (digits[0][:5].to_matrix(), digits[0][5:10].to_matrix()))
    assert (kernels.pixel_bytes(x.data) is None) == (scale != 1.0)  # the bytes path, or the float one
    plain = block.forward(x, True).data
    block.prepare(x)
    assert block.forward(x, True).data == plain
    block.prepare(x)  # prepared for x, asked for other: other's output
    assert block.forward(other, True).data == build("cnn-small", seed=6)._steps[0].forward(other, True).data
    assert block.forward(x, True).data == plain  # and nothing stale is left behind


def test_bad_worker_counts_and_platforms(digits, monkeypatch):
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError, match="workers must be a positive int"):
            build("mlp").fit(*digits, workers=bad)
    with pytest.raises(ValueError, match="at least 2 processes"):
        parallel.Workers(build("mlp"), pn.CrossEntropy(), 1)
    with pytest.raises(ValueError, match="needs a built model"):
        parallel.Workers(pn.Sequential([pn.Dense(2)]), pn.CrossEntropy(), 2)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(RuntimeError, match=r"workers=2 needs the 'fork' start method.*\(it has: spawn\).*workers=1"):
        build("mlp").fit(*digits, workers=2)


def test_more_workers_than_cpus_warns(digits, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    with pytest.warns(RuntimeWarning, match="workers=2 but this machine has 1 CPU"):
        build("mlp").fit(*digits, workers=2)


# ------------------------------------------------------------ purenet train --workers
QUICK = ["train", "--classes", "3,7", "--limit", "150", "--epochs", "2"]


def run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def checkpoint_weights(path):
    ckpt = pn.load_checkpoint(path)
    return ckpt, weights(ckpt.model)


@pytest.mark.parametrize("augment", [[], ["--augment"]])
def test_train_workers_matches_one_process_and_is_saved(capsys, tmp_path, monkeypatch, augment):
    """The workers cut their shards from the images by index (``Workers.step``, as in fit) and,
    with --augment, transform them as one process would: the same weights, history, and
    augmentation generator state at the end."""
    monkeypatch.chdir(tmp_path)
    used = []
    for method in ("step", "train_on_batch"):
        original = getattr(parallel.Workers, method)
        monkeypatch.setattr(parallel.Workers, method,
                            lambda pool, *a, _f=original, _m=method, **k: used.append(_m) or _f(pool, *a, **k))
    status, out1, err = run(capsys, *QUICK, *augment, "--out", "one.safetensors")
    assert status == 0, err
    status, out2, err = run(capsys, *QUICK, *augment, "--workers", "2", "--out", "two.safetensors")
    assert status == 0, err
    assert used == ["step"] * 10  # 2 epochs of 5 batches
    assert ", 2 processes" in out2 and "processes" not in out1
    one, w1 = checkpoint_weights("one.safetensors.ckpt")
    two, w2 = checkpoint_weights("two.safetensors.ckpt")
    assert_close(w1, w2, "weights")
    assert_close([one.history["loss"], one.history["val_loss"]], [two.history["loss"], two.history["val_loss"]], "history")
    assert one.history["accuracy"] == two.history["accuracy"]
    assert one.extra["train"]["workers"] == 1 and two.extra["train"]["workers"] == 2
    assert one.extra["train"]["augment_rng_state"] == two.extra["train"]["augment_rng_state"]
    assert (one.extra["train"]["augment_rng_state"] is None) == (not augment)


class CtrlC:
    """``Workers.step`` (what ``purenet train --workers`` calls) that raises
    KeyboardInterrupt on call number ``at``, after the step."""

    def __init__(self, at):
        self.at, self.calls, self.original = at, 0, parallel.Workers.step

    def install(self, monkeypatch):
        me = self

        def step(pool, *args, **kwargs):
            result = me.original(pool, *args, **kwargs)
            me.calls += 1
            if me.calls == me.at:
                raise KeyboardInterrupt
            return result

        monkeypatch.setattr(parallel.Workers, "step", step)


def test_train_workers_ctrl_c_checkpoints_and_resumes_bit_identically(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *QUICK, "--workers", "2", "--out", "straight.safetensors")
    assert status == 0, err
    with monkeypatch.context() as patch:
        CtrlC(7).install(patch)  # 5 batches per epoch: in the second epoch
        status, out, err = run(capsys, *QUICK, "--workers", "2", "--out", "run.safetensors")
    assert status == 130 and "interrupted in epoch 2/2; saved the state after epoch 1" in err
    assert multiprocessing.active_children() == []
    assert pn.load_checkpoint("run.safetensors.ckpt").epoch == 1
    status, out, err = run(capsys, "train", "--resume", "run.safetensors.ckpt")  # keeps --workers 2
    assert status == 0, err
    assert ", 2 processes" in out
    with open("run.safetensors", "rb") as a, open("straight.safetensors", "rb") as b:
        assert a.read() == b.read()
    assert checkpoint_weights("run.safetensors.ckpt")[1] == checkpoint_weights("straight.safetensors.ckpt")[1]


def test_train_resume_may_change_the_workers(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *QUICK[:-1], "1", "--out", "m.safetensors")
    assert status == 0, err
    status, out, err = run(capsys, "train", "--resume", "m.safetensors.ckpt", "--epochs", "2", "--workers", "2")
    assert status == 0, err
    assert ", 2 processes" in out
    assert pn.load_checkpoint("m.safetensors.ckpt").extra["train"]["workers"] == 2


def test_the_benchmark_script_times_and_checks_every_worker_count():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "workers.py")
    spec = importlib.util.spec_from_file_location("bench_workers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    lines = []
    result = bench.throughput(["cnn-small"], [2], [8], seconds=0.2, rounds=2, log=lines.append)
    assert [(r["workers"], len(r["seconds"])) for r in result["results"]] == [(1, 2), (2, 2)]
    assert all(r["best_samples_per_s"] >= r["mean_samples_per_s"] > 0 for r in result["results"])
    assert re.search(r"^cnn-small +8 +2 +[\d.]+ +[\d.]+ +[\d.]+x +[\d.]+x$", bench.format_table(result), re.M)
    assert all(parent > 0 and children > 0 for parent, children in result["results"][1]["cpu_seconds"])
    assert any("round 2: 2 workers" in line for line in lines)


def test_the_benchmark_script_times_the_command_line_too(tmp_path, monkeypatch):
    """``benchmarks/workers.py --command`` runs ``purenet train --workers N`` (here with
    --augment) and reads the rate it prints; the weights saved agree with one process's."""
    monkeypatch.chdir(tmp_path)
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "workers.py")
    spec = importlib.util.spec_from_file_location("bench_workers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    lines = []
    result = bench.command_line(["cnn-small"], [2], limit=48, rounds=1, augment=True, batch_size=16, log=lines.append)
    assert result["mode"] == "command" and result["augment"] is True
    assert [(r["workers"], r["batch_size"], r["samples"]) for r in result["results"]] == [(1, 16, 48), (2, 16, 48)]
    assert all(r["best_samples_per_s"] > 0 for r in result["results"]) and len(lines) == 2


def test_train_warns_in_one_line_about_more_workers_than_cpus(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    status, out, err = run(capsys, "train", "--classes", "0,1", "--limit", "40", "--epochs", "1", "--workers", "2")
    assert status == 0, err
    assert "purenet train: warning: workers=2 but this machine has 1 CPU(s)" in err
    assert "RuntimeWarning" not in err
    status, out, err = run(capsys, "train", "--help")
    assert "--workers N" in out


# ------------------------------------------------------------ with other threads running

@contextlib.contextmanager
def another_thread():
    """A thread alive meanwhile, as a Jupyter kernel has (forking then risks a deadlock)."""
    done = threading.Event()
    thread = threading.Thread(target=done.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def starts_seen(monkeypatch):
    seen = []
    original = parallel.Workers.__init__

    def init(pool, *args, **kwargs):
        original(pool, *args, **kwargs)
        seen.append(pool.start)

    monkeypatch.setattr(parallel.Workers, "__init__", init)
    return seen


def test_fit_with_threads_running_starts_fresh_workers_and_gives_no_warning(digits, monkeypatch):
    """fork() in a process with threads can deadlock the child (Python 3.12+ warns, a
    DeprecationWarning): then the workers are fresh interpreters, sent the model and
    the data as bytes, and training is the same."""
    x, y = digits
    serial, h1 = train("cnn-small", x, y, 1, lambda: pn.SGD(0.05, momentum=0.9))
    seen = starts_seen(monkeypatch)
    with another_thread(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # any warning at all fails the test
        par, h2 = train("cnn-small", x, y, 2, lambda: pn.SGD(0.05, momentum=0.9))
    assert [str(w.message) for w in caught] == []
    assert seen == ["exec"]
    assert_same_training(serial, par, h1, h2)
    if sys.version_info >= (3, 12):  # the warning avoided: what forking there gives
        with another_thread(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with parallel.Workers(build("mlp"), pn.CrossEntropy(), 2, start="fork"):
                pass
        assert any(issubclass(w.category, DeprecationWarning) and "fork" in str(w.message) for w in caught)


@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_fresh_workers_train_as_one_process(digits, monkeypatch, targets):
    """Fresh ("exec") workers rebuild the model, loss, samples (a Matrix here, an image
    collection above), targets and augmentation from bytes: Dropout masks, Augment draws
    and weights come out as in one process."""
    from purenet.augment import Augment

    x, y = digits
    rows = x.to_matrix()
    if targets == "one-hot":
        y = [[float(k == c) for k in range(10)] for c in y]
    original = parallel.Workers.__init__
    monkeypatch.setattr(parallel.Workers, "__init__", lambda pool, *a, **k: original(pool, *a, **dict(k, start="exec")))
    models, histories, augments = [], [], []
    for workers in (1, 2):
        model, augment = dropout_model(seed=2), Augment(rng=5)
        histories.append(model.fit(rows, y, epochs=2, batch_size=16, optimizer=pn.Adam(3e-3), workers=workers,
                                   augment=augment, validation_data=(rows[:20], y[:20])))
        models.append(model)
        augments.append(augment.rng.getstate())
    assert_same_training(models[0], models[1], *histories)
    assert [layer.rng.getstate() for layer in models[0].layers if isinstance(layer, pn.Dropout)] == \
        [layer.rng.getstate() for layer in models[1].layers if isinstance(layer, pn.Dropout)]
    assert augments[0] == augments[1]


def test_what_a_fresh_worker_cannot_rebuild_is_forked(digits, monkeypatch):
    model = pn.Sequential([pn.Flatten(), Sabotage(lambda: None), pn.Dense(10), pn.Softmax()], input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"start='exec': a fresh interpreter cannot rebuild layer 1 \(Sabotage\)"):
        parallel.Workers(model, pn.CrossEntropy(), 2, start="exec")
    with pytest.raises(ValueError, match="start must be 'auto', 'fork' or 'exec'"):
        parallel.Workers(model, pn.CrossEntropy(), 2, start="spawn")
    seen = starts_seen(monkeypatch)
    with another_thread(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*digits, epochs=1, batch_size=16, workers=2)  # the user's own layer: forked, as before
    assert seen == ["fork"]
    forking = [w for w in caught if issubclass(w.category, DeprecationWarning) and "fork" in str(w.message)]
    assert bool(forking) == (sys.version_info >= (3, 12))  # and Python says what that risks
