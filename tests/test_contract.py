"""One generic contract test, run over every layer class purenet ships (``purenet.layers.BUILTIN_LAYERS``).

The contract (DESIGN.md, "Public API"): ``build(input_shape, rng)`` returns
the output shape; ``forward`` maps ``(N, prod(input_shape))`` to
``(N, prod(output_shape))``; ``backward`` returns the input's shape and
*accumulates* parameter gradients; ``parameters()`` are ``Parameter``s with a
``.grad`` of their own shape; ``get_config()`` rebuilds an equal layer
through the registry. A new layer class must add its configurations to
``CONFIGS`` (a test checks that every registered class has some).
"""

import json
import math
import random

import pytest

import purenet as pn
from purenet import Matrix, Parameter
from purenet.layers import BUILTIN_LAYERS, LAYERS, from_config
from purenet.layers.base import Buffer

# class name -> list of (constructor, input_shape)
CONFIGS = {
    "Dense": [
        (lambda: pn.Dense(3), (5,)),
        (lambda: pn.Dense(1, use_bias=False), (4,)),
        (lambda: pn.Dense(4, kernel_initializer="glorot_normal"), (2,)),
    ],
    "Conv2D": [
        (lambda: pn.Conv2D(3, 3), (2, 6, 7)),
        (lambda: pn.Conv2D(2, (2, 3), stride=(2, 1), padding=(1, 0)), (1, 5, 6)),
        (lambda: pn.Conv2D(4, 4, padding="same", use_bias=False), (3, 5, 5)),
        (lambda: pn.Conv2D(1, 1, padding="valid", kernel_initializer="he_normal"), (2, 3, 4)),
        (lambda: pn.Conv2D(2, 3, stride=2, padding=1), (1, 7, 9)),
        (lambda: pn.Conv2D(2, 3, stride=2, padding=((0, 1), (2, 1))), (2, 6, 5)),
    ],
    "MaxPool2D": [
        (lambda: pn.MaxPool2D(2), (2, 6, 7)),
        (lambda: pn.MaxPool2D((2, 3), stride=1), (1, 4, 5)),
        (lambda: pn.MaxPool2D(3, stride=2), (3, 7, 7)),
        (lambda: pn.MaxPool2D(2, stride=(1, 3)), (1, 5, 8)),
    ],
    "Flatten": [(lambda: pn.Flatten(), (2, 3, 4)), (lambda: pn.Flatten(), (6,))],
    "ReLU": [(lambda: pn.ReLU(), (6,)), (lambda: pn.ReLU(), (2, 3, 3))],
    "Sigmoid": [(lambda: pn.Sigmoid(), (6,)), (lambda: pn.Sigmoid(), (1, 2, 3))],
    "Tanh": [(lambda: pn.Tanh(), (5,)), (lambda: pn.Tanh(), (2, 2, 2))],
    "Softmax": [(lambda: pn.Softmax(), (4,))],
    "LogSoftmax": [(lambda: pn.LogSoftmax(), (4,)), (lambda: pn.LogSoftmax(), (2, 2, 3))],
    "Dropout": [(lambda: pn.Dropout(0.3), (8,)), (lambda: pn.Dropout(0.0), (2, 2, 3))],
    # (C, L) samples: training on a batch of 1 still has several values per feature
    "BatchNorm1D": [
        (lambda: pn.BatchNorm1D(), (3, 4)),
        (lambda: pn.BatchNorm1D(momentum=None, eps=1e-3), (2, 2)),
    ],
    "BatchNorm2D": [
        (lambda: pn.BatchNorm2D(), (2, 3, 4)),
        (lambda: pn.BatchNorm2D(momentum=0.3, eps=1e-4), (3, 1, 2)),
    ],
    "AvgPool2D": [
        (lambda: pn.AvgPool2D(2), (2, 6, 7)),
        (lambda: pn.AvgPool2D((2, 3), stride=1, padding=(1, 1)), (1, 4, 5)),
        (lambda: pn.AvgPool2D(3, stride=2, padding=1), (3, 7, 7)),
    ],
    "GlobalAvgPool2D": [(lambda: pn.GlobalAvgPool2D(), (3, 4, 5)), (lambda: pn.GlobalAvgPool2D(), (2, 1, 1))],
    "LeakyReLU": [(lambda: pn.LeakyReLU(), (6,)), (lambda: pn.LeakyReLU(0.2), (2, 3, 3))],
}

CASES = [(name, i, make, shape) for name, configs in CONFIGS.items() for i, (make, shape) in enumerate(configs)]


def size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def random_input(n, shape, rng):
    return Matrix.from_flat([rng.uniform(-1.0, 1.0) for _ in range(n * size(shape))], n, size(shape))


def test_every_registered_layer_has_contract_configs():
    assert set(CONFIGS) == set(BUILTIN_LAYERS)
    assert all(CONFIGS[name] for name in BUILTIN_LAYERS)
    for name in BUILTIN_LAYERS:
        cls = LAYERS[name]
        assert cls.__name__ == name and issubclass(cls, pn.Layer)
        assert getattr(pn, name) is cls  # exported at the top level


@pytest.mark.parametrize("name,i,make,shape", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_layer_contract(name, i, make, shape):
    rng = random.Random(i)
    layer = make()
    assert type(layer).__name__ == name
    assert not layer.built
    out_shape = layer.build(shape, random.Random(0))
    assert isinstance(out_shape, tuple) and all(isinstance(s, int) and s > 0 for s in out_shape)
    assert layer.output_shape == out_shape and layer.input_shape == tuple(shape) and layer.built
    assert name in repr(layer) and repr(layer).startswith(name + "(")

    # parameters: Parameters with a .grad of their own shape, named weight/bias
    params = layer.parameters()
    named = layer.named_parameters()
    assert [p for _, p in named] == params
    assert [n for n, _ in named] in ([], ["weight"], ["weight", "bias"])
    for p in params:
        assert isinstance(p, Parameter)
        assert p.grad.shape == p.shape
        assert size(p.tensor_shape) == p.rows * p.cols
        assert all(map(math.isfinite, p.data))
    if params:  # random non-zero biases make the accumulation check meaningful
        for p in params:
            p.assign([v + 0.01 * (k % 5 - 2) for k, v in enumerate(p.data)])

    for n in (1, 3):
        for training in (False, True):
            x = random_input(n, shape, rng)
            x_copy = list(x.data)
            y = layer.forward(x, training=training)
            assert isinstance(y, Matrix)
            assert y.shape == (n, size(out_shape))
            assert all(map(math.isfinite, y.data))
            for p in params:
                p.zero_grad()
            g = random_input(n, out_shape, rng)
            gx = layer.backward(g)
            assert isinstance(gx, Matrix) and gx.shape == x.shape
            assert x.data == x_copy  # forward/backward never modify their input
            first = [list(p.grad.data) for p in params]
            assert all(any(v != 0.0 for v in f) for f in first)
            assert layer.backward(g, input_grad=False) is None
            for p, f in zip(params, first):  # backward accumulates into .grad
                assert p.grad.data == pytest.approx([2 * v for v in f], rel=1e-12, abs=1e-15)

    # config round trip through the registry, also through JSON (tuples become lists)
    config = layer.get_config()
    assert isinstance(config, dict)
    for cfg in (config, json.loads(json.dumps(config))):
        clone = from_config(name, cfg)
        assert type(clone) is type(layer)
        assert repr(clone) == repr(layer)
        assert clone.get_config() == config
        assert clone.build(shape, random.Random(0)) == out_shape
        assert [p.shape for p in clone.parameters()] == [p.shape for p in params]


@pytest.mark.parametrize("name,i,make,shape", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_buffers_contract(name, i, make, shape):
    """Buffers: Buffers under PyTorch's names, none before build, never a parameter, the
    same names and shapes after a config round trip, untouched by evaluation."""
    layer = make()
    assert layer.named_buffers() == [] and layer.buffers() == []
    layer.build(shape, random.Random(0))
    named = layer.named_buffers()
    assert [b for _, b in named] == layer.buffers()
    assert len({n for n, _ in named}) == len(named)
    assert set(n for n, _ in named) <= {"running_mean", "running_var", "num_batches_tracked"}
    params = {id(p) for p in layer.parameters()}
    for n, b in named:
        assert isinstance(b, Buffer) and id(b) not in params, n
        assert size(b.tensor_shape) == b.rows * b.cols, n
    before = [list(b.data) for b in layer.buffers()]
    layer.forward(random_input(2, shape, random.Random(i)), training=False)
    assert [list(b.data) for b in layer.buffers()] == before
    clone = from_config(name, json.loads(json.dumps(layer.get_config())))
    clone.build(shape, random.Random(0))
    assert [(n, b.tensor_shape, b.dtype) for n, b in clone.named_buffers()] == [
        (n, b.tensor_shape, b.dtype) for n, b in named
    ]


def test_accumulate_adds_to_zeroed_and_to_earlier_gradients():
    p = Parameter.from_flat([0.5, -0.5, 2.0], 1, 3)
    p.zero_grad()
    first = [1.0, -2.0, 0.25]
    p.accumulate(first)  # into zeros: a copy of the values
    first[0] = 99.0
    assert p.grad.data == [1.0, -2.0, 0.25]
    p.accumulate([0.5, 0.0, -0.25])
    assert p.grad.data == [1.5, -2.0, 0.0]
    p.accumulate([-1.5, 2.0, 0.0])  # all zeros again, not through zero_grad
    p.accumulate([3.0, 1.0, 1.0])
    assert p.grad.data == [3.0, 1.0, 1.0]


def test_same_seed_same_weights_and_rebuild_resets():
    for name, configs in CONFIGS.items():
        for make, shape in configs:
            a, b = make(), make()
            a.build(shape, random.Random(42))
            b.build(shape, random.Random(42))
            assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()], name


# ------------------------------------------------------------ Sequential level


def cnn():
    return pn.Sequential(
        [
            pn.Conv2D(4, 3, padding="same"),  # 0
            pn.ReLU(),  # 1
            pn.MaxPool2D(2),  # 2
            pn.Conv2D(3, (2, 3), stride=(1, 2), use_bias=False),  # 3
            pn.Tanh(),  # 4
            pn.Dropout(0.25),  # 5
            pn.MaxPool2D((2, 1), stride=1),  # 6
            pn.Flatten(),  # 7
            pn.Dense(6),  # 8
            pn.Sigmoid(),  # 9
            pn.Dense(3, use_bias=False),  # 10
            pn.Softmax(),  # 11
        ],
        input_shape=(2, 8, 10),
        seed=5,
    )


def test_state_dict_names_are_pytorch_sequential_names():
    model = cnn()
    expected = ["0.weight", "0.bias", "3.weight", "8.weight", "8.bias", "10.weight"]
    assert list(model.state_dict()) == expected
    assert [n for n, _ in model.named_parameters()] == expected
    assert [p for _, p in model.named_parameters()] == model.parameters()
    shapes = {n: p.tensor_shape for n, p in model.named_parameters()}
    assert shapes == {
        "0.weight": (4, 2, 3, 3),
        "0.bias": (4,),
        "3.weight": (3, 4, 2, 3),
        "8.weight": (6, 3 * 2 * 2),
        "8.bias": (6,),
        "10.weight": (3, 6),
    }
    assert {n: m.shape for n, m in model.state_dict().items()} == {
        "0.weight": (4, 18), "0.bias": (1, 4), "3.weight": (3, 24), "8.weight": (6, 12), "8.bias": (1, 6),
        "10.weight": (3, 6),
    }
    assert model.count_params() == 4 * 18 + 4 + 3 * 24 + 6 * 12 + 6 + 3 * 6


def test_state_dict_is_a_copy():
    model = cnn()
    state = model.state_dict()
    state["0.bias"][0, 0] = 123.0
    assert model.state_dict()["0.bias"][0, 0] != 123.0


def test_architecture_round_trip():
    model = cnn()
    arch = model.architecture
    assert json.loads(json.dumps(arch)) == arch  # plain JSON data
    assert arch["input_shape"] == [2, 8, 10]
    assert [spec["class"] for spec in arch["layers"]] == [type(l).__name__ for l in model.layers]
    clone = pn.Sequential.from_architecture(json.loads(json.dumps(arch)), seed=5)
    assert repr(clone) == repr(model)
    assert clone.architecture == arch
    assert [l.output_shape for l in clone.layers] == [l.output_shape for l in model.layers]
    assert [(n, p.shape) for n, p in clone.named_parameters()] == [(n, p.shape) for n, p in model.named_parameters()]
    assert clone.state_dict() == model.state_dict()  # the same seed gives the same weights
    clone.load_state_dict(model.state_dict())
    x = random_input(2, (2, 8, 10), random.Random(0))
    assert clone.predict(x) == model.predict(x)


def test_repr_and_summary_show_the_architecture():
    model = cnn()
    text = repr(model)
    assert text.startswith("Sequential(input_shape=(2, 8, 10)")
    for i, layer in enumerate(model.layers):
        assert f"({i}): {layer!r}  -> {layer.output_shape}" in text
    lines = []
    model.summary(print_fn=lines.append)
    table = "\n".join(lines)
    assert "Conv2D(filters=4, kernel_size=3, padding='same')" in table
    assert "(4, 8, 10)" in table
    assert f"Total parameters: {model.count_params():,}" in table
