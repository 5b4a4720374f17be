"""``pn.to_torch`` and ``pn.from_torch`` (purenet/interop/torch.py), against PyTorch itself.

Both directions over random architectures (tests/test_onnx.py's strategy):
the ``nn.Sequential`` that ``to_torch`` builds predicts what purenet
predicts within 1e-9 in float64 and holds the same ``state_dict``;
``from_torch`` of it gives back the same architecture and weights. Layers
with buffers cross with them (``num_batches_tracked`` as int64), tested on
each such layer purenet has. Unsupported modules and settings fail naming
the module; without torch both functions raise an ImportError that says so.

Skipped without torch (``pip install torch``), except under
``PURENET_REQUIRE_ORACLES=1``.
"""

import random

import pytest
from hypothesis import given

from conftest import require

torch = require("torch")

import purenet as pn  # noqa: E402
from test_onnx import architectures  # noqa: E402

nn = torch.nn
TOLERANCE = 1e-9

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


def images(n=6, shape=(1, 28, 28), seed=0):
    rng = random.Random(seed)
    size = shape[0] * shape[1] * shape[2] if len(shape) == 3 else shape[0]
    return [[rng.uniform(0.0, 1.0) for _ in range(size)] for _ in range(n)]


def predict_torch(module, x, shape):
    with torch.no_grad():
        return module.eval()(torch.tensor(x, dtype=torch.float64).reshape((len(x),) + tuple(shape)))


def assert_same(ours, theirs, tol=TOLERANCE):
    ours = torch.tensor(ours.data, dtype=torch.float64).reshape(ours.shape)
    torch.testing.assert_close(ours, theirs.reshape(ours.shape).to(torch.float64), rtol=0, atol=tol)


def same_layers(a, b):
    """The same layer types with the same shapes (configs may say 3 where the other says (3, 3))."""
    return [(type(l), l.output_shape) for l in a.layers] == [(type(l), l.output_shape) for l in b.layers]


def trained(model, steps=3):
    """A few SGD steps, so biases are not zero and buffers have moved."""
    x = images(8, model.input_shape, seed=1)
    model.fit(x, [i % model.out_features for i in range(8)], epochs=steps, batch_size=4, optimizer=pn.SGD(0.05))
    return model


@given(model=architectures())
def test_random_architectures_round_trip(model):
    x = images(4)
    module = pn.to_torch(model)
    assert isinstance(module, nn.Sequential) and len(module) == len(model.layers)
    assert list(module.state_dict()) == list(model.state_dict())
    for name, value in model.state_dict().items():
        assert module.state_dict()[name].dtype == torch.float64
        assert module.state_dict()[name].flatten().tolist() == value.data  # the same weights, exactly
    assert_same(model.predict(x), predict_torch(module, x, model.input_shape))

    back = pn.from_torch(module, model.input_shape, seed=model.seed)
    assert same_layers(back, model)
    assert {k: v.data for k, v in back.state_dict().items()} == {k: v.data for k, v in model.state_dict().items()}
    assert back.predict(x).data == model.predict(x).data


def test_a_torch_trained_model_comes_back_exactly():
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=1),
        nn.Conv2d(3, 4, 3, padding="same", bias=False), nn.Tanh(),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 4 * 8, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.Softmax(dim=1),
    ).double()
    x = torch.rand(16, 2, 9, 8, dtype=torch.float64)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(5):
        optimizer.zero_grad()
        module(x).square().sum().backward()
        optimizer.step()
    model = pn.from_torch(module, (2, 9, 8))
    rows = x.reshape(16, -1).tolist()
    assert_same(model.predict(rows), predict_torch(module, rows, (2, 9, 8)))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "ReLU", "MaxPool2D", "Conv2D", "Tanh", "Flatten", "Dropout", "Dense", "Sigmoid", "Dense", "Softmax"]
    assert model.layers[6].rate == pytest.approx(0.3) and model.layers[3].use_bias is False
    again = pn.to_torch(model)
    for (name, a), (_, b) in zip(again.state_dict().items(), module.state_dict().items()):
        assert torch.equal(a, b), name


def test_softmax_over_whole_images_and_nested_sequentials():
    model = pn.Sequential([pn.Conv2D(2, 3), pn.Softmax(), pn.Flatten(), pn.Dense(3)], input_shape=(1, 6, 6), seed=2)
    module = pn.to_torch(model)
    assert isinstance(module[1], nn.Sequential)  # Flatten, Softmax(dim=1), Unflatten: one module, same indices
    x = images(3, (1, 6, 6))
    assert_same(model.predict(x), predict_torch(module, x, (1, 6, 6)))
    assert same_layers(pn.from_torch(module, (1, 6, 6)), model)
    nested = nn.Sequential(nn.Sequential(nn.Flatten(), nn.Linear(36, 4)), nn.Sequential(nn.ReLU()))
    assert [type(l).__name__ for l in pn.from_torch(nested, (1, 6, 6)).layers] == ["Flatten", "Dense", "ReLU"]


@pytest.mark.parametrize(
    "modules, shape, fragments",
    [
        ([nn.Conv2d(1, 2, 3, dilation=2)], (1, 8, 8), ["module 0", "expected dilation 1", "dilation=(2, 2)"]),
        ([nn.Conv2d(1, 2, 3, groups=1, padding_mode="reflect")], (1, 8, 8), ["padding_mode='reflect'"]),
        ([nn.Conv2d(3, 2, 3)], (1, 8, 8), ["expected in_channels 1", "in_channels=3"]),
        ([nn.Flatten(), nn.Linear(10, 2)], (1, 8, 8), ["module 1", "expected in_features 64", "in_features=10"]),
        ([nn.MaxPool2d(2, ceil_mode=True)], (1, 8, 8), ["ceil_mode=True"]),
        ([nn.MaxPool2d(2, padding=1)], (1, 8, 8), ["expected padding 0"]),
        ([nn.Flatten(), nn.Softmax(dim=0)], (1, 8, 8), ["expected Softmax(dim=1)", "dim=0"]),
        ([nn.Flatten(start_dim=2)], (1, 8, 8), ["expected Flatten(start_dim=1, end_dim=-1)"]),
        ([nn.Flatten(), nn.GELU()], (1, 8, 8), ["module 1 (GELU", "expected one of the supported modules", "Linear"]),
        ([nn.Linear(64, 2)], (1, 8, 8), ["module 0", "expected in_features (1, 8, 8)"]),
        ([nn.Conv2d(1, 2, 9)], (1, 8, 8), ["module 0", "Conv2D"]),
    ],
)
def test_unsupported_modules_and_settings_are_named(modules, shape, fragments):
    with pytest.raises(ValueError) as info:
        pn.from_torch(nn.Sequential(*modules), shape)
    message = str(info.value)
    assert message.startswith("from_torch: module ")
    for fragment in fragments:
        assert fragment in message, message


def test_wrong_arguments():
    with pytest.raises(TypeError, match="expects a torch.nn.Sequential; Received: Linear"):
        pn.from_torch(nn.Linear(2, 2), (2,))
    with pytest.raises(ValueError, match="input_shape"):
        pn.from_torch(nn.Sequential(nn.ReLU()), (2, 3))
    with pytest.raises(TypeError, match="expects a purenet Sequential"):
        pn.to_torch(nn.Sequential())
    with pytest.raises(ValueError, match="not built"):
        pn.to_torch(pn.Sequential([pn.Dense(2)]))

    class Twice(pn.Layer):
        def forward(self, x, training=False):
            return x * 2.0

    with pytest.raises(ValueError, match=r"layer 1 \(Twice\): expected one of the layers with a PyTorch equivalent"):
        pn.to_torch(pn.Sequential([pn.Dense(2), Twice()], input_shape=(3,)))


def test_dtype_and_training_mode():
    model = trained(pn.Sequential([pn.Flatten(), pn.Dense(3), pn.Dropout(0.5)], input_shape=(1, 2, 2), seed=0))
    module = pn.to_torch(model, dtype=torch.float32)
    assert module.training and module[1].weight.dtype == torch.float32
    assert module[1].weight.flatten().tolist() == torch.tensor(model.layers[1].weight.data, dtype=torch.float32).tolist()


# ------------------------------------------------- layers with buffers (when purenet has them)
def _stateful_cases():
    cases = []
    if hasattr(pn, "BatchNorm2D"):
        cases.append(("BatchNorm2D", lambda: [pn.Conv2D(3, 3), pn.BatchNorm2D(), pn.ReLU(), pn.Flatten(), pn.Dense(4)],
                      (2, 6, 6)))
    if hasattr(pn, "BatchNorm1D"):
        cases.append(("BatchNorm1D", lambda: [pn.Flatten(), pn.Dense(5), pn.BatchNorm1D(momentum=0.3, eps=1e-3),
                                              pn.Tanh(), pn.Dense(3)], (1, 4, 4)))
    if hasattr(pn, "AvgPool2D"):
        cases.append(("AvgPool2D", lambda: [pn.Conv2D(2, 3), pn.AvgPool2D(2, stride=1, padding=1), pn.Flatten(),
                                            pn.Dense(3)], (1, 6, 6)))
    if hasattr(pn, "GlobalAvgPool2D"):
        cases.append(("GlobalAvgPool2D", lambda: [pn.Conv2D(4, 3), pn.GlobalAvgPool2D(), pn.Dense(3)], (1, 6, 6)))
    if hasattr(pn, "LeakyReLU"):
        cases.append(("LeakyReLU", lambda: [pn.Flatten(), pn.Dense(4), pn.LeakyReLU(0.2), pn.Dense(2)], (1, 3, 3)))
    return cases


@pytest.mark.parametrize("name, layers, shape", _stateful_cases(), ids=[c[0] for c in _stateful_cases()])
def test_newer_layers_cross_with_their_buffers(name, layers, shape, tmp_path):
    save_file = require("safetensors.torch").save_file
    model = trained(pn.Sequential(layers(), input_shape=shape, seed=3))
    module = pn.to_torch(model)
    for key, buffer in model.named_buffers():
        tensor = module.state_dict()[key]
        assert tensor.dtype == (torch.int64 if buffer.dtype == "I64" else torch.float64), key
        assert tensor.flatten().tolist() == buffer.data
    x = images(5, shape, seed=4)
    assert_same(model.predict(x), predict_torch(module, x, shape))
    back = pn.from_torch(module, shape)
    assert same_layers(back, model)
    assert {k: v.data for k, v in back.state_dict().items()} == {k: v.data for k, v in model.state_dict().items()}
    # through a file PyTorch writes (counters as I64), into a model built from the same layers
    path = str(tmp_path / "torch.safetensors")
    save_file(module.state_dict(), path)
    fresh = pn.Sequential(layers(), input_shape=shape, seed=9)
    pn.load_state_dict_file(fresh, path)
    assert {k: v.data for k, v in fresh.state_dict().items()} == {k: v.data for k, v in model.state_dict().items()}


def test_without_torch_the_bridge_says_what_to_install():
    from test_isolation import last_json, run

    proc = run(
        """
        import json
        import purenet as pn
        model = pn.Sequential([pn.Dense(2)], input_shape=(3,))
        messages = []
        for call in (lambda: pn.to_torch(model), lambda: pn.from_torch(None, (3,))):
            try:
                call()
            except ImportError as e:
                messages.append(str(e))
        print(json.dumps(messages))
        """
    )
    messages = last_json(proc)
    assert len(messages) == 2
    assert all("need PyTorch" in m and "pip install torch" in m for m in messages)
