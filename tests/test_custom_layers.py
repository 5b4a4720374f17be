"""Layers of your own: ``@pn.register_layer``, ``backward(grad)`` alone, and buffers.

The layers here are defined outside the package, as a user writes them:
``Gain`` (a learnable per-feature factor; ``backward(grad)`` only) and
``Center`` (subtracts the batch mean while training and keeps its running
mean and a batch counter in buffers, as BatchNorm does). The first test is
the whole road a user takes: train with one and two processes, save, load
in a fresh interpreter, resume from a checkpoint bit for bit, gradcheck.
The fresh interpreter imports this file to get the layers' classes, as a
user's program imports the module that registers them.
"""

import json
import math
import os
import random
import subprocess
import sys
import textwrap

import pytest

import purenet as pn
from purenet.io.safetensors import read_safetensors
from purenet.layers import LAYERS
from purenet.layers.base import shape_size

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


@pn.register_layer
class Gain(pn.Layer):
    """``y = x * alpha``, one learnable factor per feature; ``dx = dy * alpha``, ``dalpha = sum_n dy * x``."""

    def __init__(self, initial=1.0):
        self.initial = initial
        self.alpha = None

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        d = shape_size(input_shape)
        self.alpha = pn.Parameter.from_flat([self.initial + rng.uniform(-0.1, 0.1) for _ in range(d)], 1, d,
                                            tensor_shape=(d,))
        return out

    def forward(self, x, training=False):
        self.x = x
        return x * self.alpha

    def backward(self, grad):  # no input_grad argument: the documented minimal contract
        self.alpha.accumulate((grad * self.x).sum(axis=0).data)
        return grad * self.alpha

    def parameters(self):
        return [self.alpha]

    def named_parameters(self):
        return [("alpha", self.alpha)]

    def get_config(self):
        return {"initial": self.initial}


@pn.register_layer
class Center(pn.Layer):
    """Training: ``y = x - mean_n(x)``, and ``running_mean = (1 - m) running_mean + m mean_n(x)``,
    ``num_batches_tracked += 1``. Evaluation: ``y = x - running_mean``."""

    def __init__(self, momentum=0.5):
        self.momentum = momentum

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        d = shape_size(input_shape)
        self.running_mean = pn.Buffer.from_flat([0.0] * d, 1, d, tensor_shape=(d,))
        self.num_batches_tracked = pn.Buffer.from_flat([0.0], 1, 1, tensor_shape=(), dtype="I64")
        return out

    def forward(self, x, training=False):
        if not training:
            self.training = False
            return x - self.running_mean
        self.training = True
        mean = x.sum(axis=0) * (1.0 / x.rows)
        m = self.momentum
        self.running_mean.assign([(1 - m) * r + m * b for r, b in zip(self.running_mean.data, mean.data)])
        self.num_batches_tracked.data[0] += 1
        return x - mean

    def backward(self, grad, input_grad=True):
        if not input_grad:
            return None
        if not self.training:
            return grad
        return grad - grad.sum(axis=0) * (1.0 / grad.rows)

    def named_buffers(self):
        return [("running_mean", self.running_mean), ("num_batches_tracked", self.num_batches_tracked)]

    def get_config(self):
        return {"momentum": self.momentum}


class Unregistered(Gain):
    pass


def data(n=48, seed=0):
    rng = random.Random(seed)
    x = [[rng.uniform(0.0, 1.0) for _ in range(36)] for _ in range(n)]
    y = [rng.randrange(4) for _ in range(n)]
    return x, y


def custom_model(seed=3, center=True):
    middle = [Center()] if center else []
    return pn.Sequential(
        [pn.Conv2D(3, 3), Gain(0.8), pn.Tanh(), pn.Flatten()] + middle + [pn.Dense(4), Gain(), pn.Softmax()],
        input_shape=(1, 6, 6), seed=seed,
    )


def weights(model):
    return {k: list(v.data) for k, v in model.state_dict().items()}


def run_fresh(body):
    """Run ``body`` in a new interpreter that has imported this file (the layers' module); its last stdout line is JSON."""
    script = f"import sys; sys.path[:0] = [{ROOT!r}, {TESTS!r}]\nimport purenet as pn\nimport test_custom_layers\n"
    proc = subprocess.run([sys.executable, "-c", script + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------ the whole road
def test_a_layer_of_your_own_trains_saves_loads_resumes_and_gradchecks(tmp_path):
    x, y = data()
    sgd = lambda: pn.SGD(0.1, momentum=0.9)  # noqa: E731
    # one process and two: the same weights, to rounding (without Center, whose batch mean is each shard's)
    alone, shared = custom_model(center=False), custom_model(center=False)
    alone.fit(x, y, epochs=2, batch_size=8, optimizer=sgd())
    shared.fit(x, y, epochs=2, batch_size=8, optimizer=sgd(), workers=2)
    assert alone.layers[1].alpha.data != custom_model().layers[1].alpha.data  # it trained
    for (name, a), (_, b) in zip(alone.state_dict().items(), shared.state_dict().items()):
        assert max(abs(p - q) for p, q in zip(a.data, b.data)) < 1e-9, name
    assert shared.history["loss"] == pytest.approx(alone.history["loss"], rel=1e-12)
    # with Center, two processes train as PyTorch's DDP does (see test_workers_keep_the_parents_buffers_as_ddp_does)
    two = custom_model()
    two.fit(x, y, epochs=2, batch_size=8, optimizer=sgd(), workers=2)
    assert two.layers[4].num_batches_tracked.data == [12.0] and all(map(math.isfinite, two.history["loss"]))

    one = custom_model()
    one.fit(x, y, epochs=2, batch_size=8, optimizer=sgd())
    # saved, then loaded by a fresh interpreter that predicts the same, exactly
    path = tmp_path / "custom.safetensors"
    one.save(path, dtype="F64")
    fresh = run_fresh(f"""
        import json
        model = pn.load({str(path)!r})
        lines = []
        model.summary(print_fn=lines.append)
        print(json.dumps({{"predict": model.predict({x[:5]!r}).tolist(), "summary": lines[0],
                          "state": {{k: v.data for k, v in model.state_dict().items()}}}}))
    """)
    assert fresh["predict"] == one.predict(x[:5]).tolist()
    assert fresh["state"] == weights(one)
    assert "Gain(initial=0.8)" in fresh["summary"] and "Center(momentum=0.5)" in fresh["summary"]

    # a checkpoint after one epoch, resumed by a fresh interpreter: the weights of two epochs in a row, bit for bit
    first = custom_model()
    optimizer = sgd()
    first.fit(x, y, epochs=1, batch_size=8, optimizer=optimizer)
    ckpt = tmp_path / "run.ckpt"
    pn.save_checkpoint(ckpt, first, optimizer, epoch=1)
    resumed = run_fresh(f"""
        import json
        ckpt = pn.load_checkpoint({str(ckpt)!r})
        ckpt.model.fit({x!r}, {y!r}, epochs=1, batch_size=8, optimizer=ckpt.optimizer)
        print(json.dumps({{k: v.data for k, v in ckpt.model.state_dict().items()}}))
    """)
    assert resumed == weights(one)

    # gradients: the layer alone, and the model with its loss (in training mode, buffers and all)
    layer = Gain(0.5)
    layer.build((5,), random.Random(0))
    assert pn.gradcheck(layer, [[0.1, -0.2, 0.3, 0.4, -0.5], [0.6, 0.7, -0.8, 0.9, 1.0]])
    small = custom_model(seed=5)
    result = pn.gradcheck(small, x[:3], y[:3], loss=pn.CrossEntropy(), training=True)
    assert result.ok, result
    assert set(result.rel_error) >= {"1.alpha", "6.alpha", "0.weight", "input"}


# --------------------------------------------------------------- registering
def test_unregistered_layers_fail_at_save_not_at_load(tmp_path):
    model = pn.Sequential([pn.Dense(3), Unregistered()], input_shape=(2,))
    model.predict([[1.0, 2.0]])  # it works; only saving needs the registry
    path = tmp_path / "m.safetensors"
    for save in (lambda: model.save(path), lambda: pn.save_checkpoint(path, model, pn.SGD(0.1), epoch=0)):
        with pytest.raises(ValueError) as info:
            save()
        message = str(info.value)
        assert "layer 1 (Unregistered)" in message and "@pn.register_layer" in message
        assert "test_custom_layers.Unregistered" in message
        assert not path.exists()


def test_a_get_config_that_does_not_rebuild_fails_at_save(tmp_path):
    @pn.register_layer(name="test_custom_layers.Forgetful")
    class Forgetful(Gain):
        def get_config(self):
            return {"factor": 2}  # not an argument of __init__

    model = pn.Sequential([Forgetful()], input_shape=(2,))
    with pytest.raises(ValueError, match=r"layer 0 \(test_custom_layers.Forgetful\).*get_config\(\).*'factor'"):
        model.save(tmp_path / "m.safetensors")

    @pn.register_layer(name="test_custom_layers.Opaque")
    class Opaque(Gain):
        def get_config(self):
            return {"initial": object()}

    with pytest.raises(ValueError, match="numbers, strings, bools"):
        pn.Sequential([Opaque()], input_shape=(2,)).save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_a_parameter_without_a_name_fails_at_save(tmp_path):
    @pn.register_layer(name="test_custom_layers.Hidden")
    class Hidden(Gain):
        def build(self, input_shape, rng):
            out = super().build(input_shape, rng)
            self.extra = [pn.Parameter.from_flat([1.0], 1, 1)]  # in a list: no attribute names it
            return out

        def parameters(self):
            return [self.alpha] + self.extra

    with pytest.raises(ValueError, match=r"layer 0 .*Hidden.*2 from parameters\(\), 1 from named_parameters\(\)"):
        pn.Sequential([Hidden()], input_shape=(2,)).save(tmp_path / "m.safetensors")


def test_parameters_and_buffers_are_found_by_attribute_by_default():
    class Plain(pn.Layer):
        def build(self, input_shape, rng):
            out = super().build(input_shape, rng)
            self.weight = pn.Parameter.from_flat([1.0, 2.0], 1, 2, tensor_shape=(2,))
            self.count = pn.Buffer.from_flat([0.0], 1, 1, tensor_shape=(), dtype="I64")
            self.bias = pn.Parameter.from_flat([0.0, 0.0], 1, 2, tensor_shape=(2,))
            return out

    layer = Plain()
    assert layer.parameters() == [] and layer.named_buffers() == []
    layer.build((2,), random.Random(0))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]  # in the order they were set
    assert layer.parameters() == [layer.weight, layer.bias]
    assert layer.named_buffers() == [("count", layer.count)] and layer.buffers() == [layer.count]


def test_names_do_not_clash():
    with pytest.raises(ValueError, match="'Dense' is the name of purenet's own layer"):
        pn.register_layer(type("Dense", (pn.Layer,), {}))
    with pytest.raises(ValueError, match="purenet's own layer"):
        pn.register_layer(name="ReLU")(Unregistered)
    assert LAYERS["Dense"] is pn.Dense and LAYERS["ReLU"] is pn.ReLU

    other = type("Gain", (pn.Layer,), {"__module__": "somewhere.else"})
    with pytest.raises(ValueError, match="'Gain' is already registered to test_custom_layers.Gain"):
        pn.register_layer(other)
    assert pn.register_layer(Gain) is Gain and LAYERS["Gain"] is Gain  # again: the same entry
    with pytest.raises(TypeError, match="subclass of purenet.Layer"):
        pn.register_layer(int)
    with pytest.raises(ValueError, match="non-empty printable"):
        pn.register_layer(name="")(Unregistered)
    assert "Unregistered" not in LAYERS and pn.layers.layer_name(Unregistered) is None


def test_a_name_of_its_own_is_what_the_file_stores(tmp_path):
    @pn.register_layer(name="mylib.Doubler")
    class Doubler(pn.Layer):
        def forward(self, x, training=False):
            return x * 2.0

        def backward(self, grad):
            return grad * 2.0

    model = pn.Sequential([Doubler(), pn.Dense(2)], input_shape=(3,))
    assert model.architecture["layers"][0]["class"] == "mylib.Doubler"
    model.save(tmp_path / "m.safetensors", dtype="F64")
    again = pn.load(tmp_path / "m.safetensors")
    assert type(again.layers[0]) is Doubler
    assert again.predict([[1.0, 2.0, 3.0]]).tolist() == model.predict([[1.0, 2.0, 3.0]]).tolist()


def test_a_fresh_process_that_did_not_register_the_layer_says_what_to_do(tmp_path):
    path = tmp_path / "m.safetensors"
    custom_model().save(path)
    script = f"import sys; sys.path.insert(0, {ROOT!r})\nimport purenet as pn\npn.load({str(path)!r})\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "ModelFileError" in proc.stderr and "unknown layer 'Gain'" in proc.stderr
    assert "@pn.register_layer" in proc.stderr


# ------------------------------------------------------------------ buffers
def built_center(d=3, momentum=0.5):
    return pn.Sequential([Center(momentum), pn.Dense(2), pn.Softmax()], input_shape=(d,), seed=0)


def test_buffers_are_named_like_pytorch_and_in_the_state_dict():
    model = built_center()
    assert [n for n, _ in model.named_buffers()] == ["0.running_mean", "0.num_batches_tracked"]
    assert model.buffers() == [b for _, b in model.named_buffers()]
    assert list(model.state_dict()) == ["0.running_mean", "0.num_batches_tracked", "1.weight", "1.bias"]
    assert [n for n, _ in model.named_parameters()] == ["1.weight", "1.bias"]  # buffers are not trained
    model.forward([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], training=True)
    state = model.state_dict()
    assert state["0.running_mean"].data == [1.0, 1.5, 2.0] and state["0.num_batches_tracked"].data == [1.0]
    state["0.running_mean"].data[0] = 99.0  # a copy
    assert model.layers[0].running_mean.data[0] == 1.0


def test_load_state_dict_takes_buffers_in_pytorch_shapes():
    model = built_center()
    state = dict(model.state_dict())
    state["0.running_mean"] = [0.5, -0.5, 2.0]
    state["0.num_batches_tracked"] = 7  # a 0-d tensor's value, as PyTorch has it
    model.load_state_dict(state)
    assert model.layers[0].running_mean.data == [0.5, -0.5, 2.0]
    assert model.layers[0].num_batches_tracked.data == [7.0]
    with pytest.raises(ValueError, match="counter and holds whole numbers"):
        model.load_state_dict(dict(state, **{"0.num_batches_tracked": 2.5}))
    with pytest.raises(ValueError, match=r"0.running_mean must have shape \(3,\)"):
        model.load_state_dict(dict(state, **{"0.running_mean": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"Missing: \['0.num_batches_tracked'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "0.num_batches_tracked"})
    assert model.layers[0].num_batches_tracked.data == [7.0]  # refused loads change nothing
    model.load_state_dict({"0.running_mean": [1.0, 1.0, 1.0]}, strict=False)
    assert model.layers[0].running_mean.data == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", ["F32", "F64"])
def test_model_files_hold_buffers_counters_as_i64(tmp_path, dtype):
    model = built_center()
    model.fit([[0.25, 2.0, 3.0], [1.0, 0.5, -1.0], [2.0, 1.0, 0.0]], [0, 1, 1], epochs=3, batch_size=2)
    path = tmp_path / "m.safetensors"
    model.save(path, dtype=dtype)
    tensors, _ = read_safetensors(path)
    assert tensors["0.num_batches_tracked"].dtype == "I64" and tensors["0.num_batches_tracked"].shape == ()
    assert tensors["0.num_batches_tracked"].values == [6]
    assert tensors["0.running_mean"].dtype == dtype and tensors["0.running_mean"].shape == (3,)
    again = pn.load(path)
    assert again.layers[0].num_batches_tracked.data == [6.0]
    assert again.layers[0].running_mean.data == tensors["0.running_mean"].values  # what the file holds
    if dtype == "F64":
        assert again.layers[0].running_mean.data == model.layers[0].running_mean.data
    assert again.predict([[1.0, 1.0, 1.0]]).shape == (1, 2)


def test_a_model_file_with_a_float_counter_or_integer_weights_is_refused(tmp_path):
    from purenet.io.safetensors import write_safetensors

    model = built_center()
    path = tmp_path / "m.safetensors"
    model.save(path)
    tensors, meta = read_safetensors(path)
    plain = {k: (t.dtype, t.shape, t.values) for k, t in tensors.items()}
    write_safetensors(path, dict(plain, **{"0.num_batches_tracked": ("F32", (), [0.0])}), meta)
    with pytest.raises(pn.ModelFileError, match=r"'0.num_batches_tracked' dtype: expected I64; Received: 'F32'"):
        pn.load(path)
    write_safetensors(path, dict(plain, **{"1.bias": ("I64", (2,), [0, 0])}), meta)
    with pytest.raises(pn.ModelFileError, match=r"'1.bias' dtype: expected F32 or F64; Received: 'I64'"):
        pn.load(path)
    write_safetensors(path, {k: v for k, v in plain.items() if k != "0.running_mean"}, meta)
    with pytest.raises(pn.ModelFileError, match=r"missing \['0.running_mean'\]"):
        pn.load(path)


def test_checkpoints_keep_buffers_exactly(tmp_path):
    x, y = data(16)
    model = pn.Sequential([pn.Flatten(), Center(0.3), pn.Dense(4)], input_shape=(1, 6, 6), seed=1)
    optimizer = pn.Adam(0.01)
    model.fit(x, y, epochs=1, batch_size=5, optimizer=optimizer)
    pn.save_checkpoint(tmp_path / "c", model, optimizer, epoch=1)
    tensors, _ = read_safetensors(tmp_path / "c")
    assert tensors["1.running_mean"].dtype == "F64" and tensors["1.num_batches_tracked"].dtype == "I64"
    ckpt = pn.load_checkpoint(tmp_path / "c")
    assert weights(ckpt.model) == weights(model)
    assert ckpt.model.layers[1].num_batches_tracked.data == [4.0]


def test_gradcheck_puts_the_buffers_back():
    layer = Center()
    layer.build((3,), random.Random(0))
    x = [[0.1, 0.5, -0.3], [0.7, -0.2, 0.4], [0.0, 0.3, 0.9]]
    assert pn.gradcheck(layer, x, training=True)
    assert layer.running_mean.data == [0.0, 0.0, 0.0] and layer.num_batches_tracked.data == [0.0]
    model = built_center()
    assert pn.gradcheck(model, x, [0, 1, 1], loss=pn.CrossEntropy(), training=True)
    assert model.layers[0].num_batches_tracked.data == [0.0]


@pytest.mark.filterwarnings("ignore:workers=3 but this machine has:RuntimeWarning")
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_keep_the_parents_buffers_as_ddp_does(workers):
    """With N processes each normalises its own shard, and the model's buffers are those the
    parent's shards made (PyTorch DDP, broadcast_buffers=True): replayed here by hand."""
    from purenet.parallel import split

    x, y = data(21, seed=2)
    flat = [row[:6] for row in x]
    model = pn.Sequential([Center(0.25), pn.Dense(4)], input_shape=(6,), seed=7)
    order_rng = random.Random(7)
    model.fit(flat, y, epochs=2, batch_size=8, optimizer=pn.SGD(0.05), workers=workers)

    # the same generator draws the weights (6 * 4 + 0 for the bias) then shuffles each epoch
    replay = pn.Sequential([Center(0.25), pn.Dense(4)], input_shape=(6,), seed=7)
    order_rng.setstate(replay.rng.getstate())
    mean, steps = [0.0] * 6, 0
    for _ in range(2):
        order = list(range(len(flat)))
        order_rng.shuffle(order)
        for s in range(0, len(order), 8):
            batch = order[s : s + 8]
            mine = batch[: split(len(batch), workers)[0][1]]  # the parent's shard: the first
            rows = [flat[i] for i in mine]
            batch_mean = [math.fsum(r[j] for r in rows) / len(rows) for j in range(6)]
            mean = [0.75 * m + 0.25 * b for m, b in zip(mean, batch_mean)]
            steps += 1
    assert model.layers[0].num_batches_tracked.data == [float(steps)] == [6.0]
    assert max(abs(a - b) for a, b in zip(model.layers[0].running_mean.data, mean)) < 1e-12


class Lag(pn.Layer):
    """``y = x - running_mean`` with the mean of the batches before (training then updates it)."""

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        self.running_mean = pn.Buffer.from_flat([0.0] * input_shape[0], 1, input_shape[0], tensor_shape=input_shape)
        return out

    def forward(self, x, training=False):
        y = x - self.running_mean
        if training:
            mean = x.sum(axis=0) * (1.0 / x.rows)
            self.running_mean.assign([0.5 * (r + b) for r, b in zip(self.running_mean.data, mean.data)])
        return y

    def backward(self, grad):
        return grad

    def named_buffers(self):
        return [("running_mean", self.running_mean)]


def test_every_shard_starts_from_the_parents_buffers():
    """The workers were forked with the buffers of that moment; each step they get the parent's."""
    from purenet.inputs import as_inputs, as_targets
    from purenet.parallel import Workers

    x, y = data(12, seed=4)
    flat = [row[:5] for row in x]
    model = pn.Sequential([Lag(), pn.Dense(4), pn.Softmax()], input_shape=(5,), seed=1)
    loss = pn.CrossEntropy()
    inputs, targets = as_inputs(flat, 5, "x"), as_targets(y, 12, 4, "y")
    with Workers(model, loss, 2, inputs, targets) as pool:
        for step, shift in enumerate([3.0, -2.0]):  # buffers the workers' copies never saw
            model.layers[0].running_mean.assign([shift + 0.1 * j for j in range(5)])
            before = list(model.layers[0].running_mean.data)
            value, _ = pool.gradients(list(range(12)))
            model.layers[0].running_mean.assign(before)
            serial, _, _ = model._loss_and_grad(inputs.range(0, 12), targets.range(0, 12), loss, training=True)
            assert value == pytest.approx(serial, rel=1e-12), step


def test_the_custom_layers_page_runs_as_shown():
    from conftest import run_page

    runner, globs, report = run_page(os.path.join(ROOT, "docs", "custom-layers.md"))
    assert runner.failures == 0, report
    assert runner.tries >= 20
    assert LAYERS["Swish"] is globs["Swish"] and LAYERS["RunningCenter"] is globs["RunningCenter"]


USER_MODULE = '''
"""A user's module: a layer of its own and an architecture that uses it."""
import purenet as pn
from purenet import architectures


@pn.register_layer
class Halve(pn.Layer):
    def forward(self, x, training=False):
        return x * 0.5

    def backward(self, grad):
        return grad * 0.5


def tiny_halve(classes):
    """Flatten Halve Dense Softmax: a layer of the user's own in a named architecture."""
    return [pn.Flatten(), Halve(), pn.Dense(classes), pn.Softmax()]


architectures.ARCHITECTURES["tiny-halve"] = tiny_halve
'''


def test_the_command_line_trains_resumes_and_reads_a_users_layers(tmp_path):
    """``purenet --import MODULE``: each command a fresh interpreter, as a user runs them."""
    (tmp_path / "mylayers.py").write_text(USER_MODULE)

    def purenet(*args, ok=True):
        env = dict(os.environ, PYTHONPATH=ROOT)
        proc = subprocess.run([sys.executable, "-m", "purenet", *args], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path, env=env)
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    common = ["train", "--arch", "tiny-halve", "--limit", "96", "--batch-size", "16", "--workers", "2"]
    purenet("--import", "mylayers", *common, "--epochs", "2", "--out", "straight.safetensors")
    purenet("--import", "mylayers", *common, "--epochs", "1", "--out", "half.safetensors")
    purenet("--import=mylayers", "train", "--resume", "half.safetensors.ckpt", "--epochs", "2")
    straight = read_safetensors(tmp_path / "straight.safetensors")[0]
    resumed = read_safetensors(tmp_path / "half.safetensors")[0]
    assert {k: t.values for k, t in resumed.items()} == {k: t.values for k, t in straight.items()}

    summary = purenet("--import", "mylayers", "summary", "straight.safetensors").stdout
    assert "Halve()" in summary
    failed = purenet("summary", "straight.safetensors", ok=False).stderr  # without the module
    assert "unknown layer 'Halve'" in failed and "@pn.register_layer" in failed
    failed = purenet("--import", "no_such_module", "summary", "straight.safetensors", ok=False).stderr
    assert "--import no_such_module: cannot import it" in failed
