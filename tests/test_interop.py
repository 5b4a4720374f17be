"""Model files are real safetensors files: the reference library opens them, and
PyTorch loads them into the equivalent ``nn.Sequential`` with no glue.

docs/pytorch.md shows both directions, and the first test runs that page as
a doctest: its examples (``pn.to_torch`` of the shipped model, training on
in PyTorch and ``pn.from_torch`` back, a PyTorch-trained model in purenet,
files both ways) are checked as written. ``pn.to_torch`` of a model rebuilt
from the architecture stored in a file's ``__metadata__`` is then what every
other test here uses: weights loaded with ``load_state_dict(strict=True)``
from ``safetensors.torch.load_file`` must predict what purenet predicts on
bundled MNIST images within 1e-5. The other way round, a file written by
``safetensors.torch.save_file`` loads into purenet with
``pn.load_state_dict_file``. Both directions also run over random
architectures (the strategy of tests/test_onnx.py) and the shipped
pretrained model. tests/test_torch_bridge.py tests the bridge itself.

Skipped without the oracles (``pip install purenet[interop]`` plus
``torch==2.13.0``), except under ``PURENET_REQUIRE_ORACLES=1``.
"""

import json
import os

import pytest
from hypothesis import given

from conftest import require

safetensors = require("safetensors")
torch = require("torch")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

import purenet as pn  # noqa: E402
from conftest import run_page  # noqa: E402
from test_onnx import SHIPPED, architectures  # noqa: E402

# torch's note that an even kernel with padding="same" pads a copy of the input: expected here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

nn = torch.nn
DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "pytorch.md")
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def page():
    """docs/pytorch.md run as a doctest: (runner, the namespace its examples left, the failure report)."""
    return run_page(DOC)


@pytest.fixture(scope="module")
def torch_from_architecture():
    """The ``nn.Sequential`` an architecture describes (``pn.to_torch``), with PyTorch's own initial weights."""

    def build(arch, dtype=torch.float32):
        module = pn.to_torch(pn.Sequential.from_architecture(arch)).to(dtype)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        return module.eval()

    return build


def test_the_pytorch_page_runs_as_shown(page):
    runner, globs, report = page
    assert runner.failures == 0, report
    assert runner.tries >= 30
    # what the page showed, measured again: the model it brought back from PyTorch predicts as PyTorch does
    assert (globs["ours"] - globs["theirs"]).abs().max().item() < TOLERANCE
    assert globs["torch_model"].state_dict().keys() == pn.load(globs["purenet_path"]).state_dict().keys()


def mnist(n=64, start=0):
    x, y = pn.datasets.load_bundled("test")
    return x[start : start + n], y[start : start + n]


def as_torch(images, dtype=torch.float32):
    m = images.to_matrix()
    return torch.tensor(m.data, dtype=dtype).reshape(m.rows, 1, 28, 28)


def trained_model():
    model = pn.Sequential(
        [pn.Conv2D(4, 3, padding="same"), pn.ReLU(), pn.MaxPool2D(2),
         pn.Conv2D(6, (3, 2), stride=(2, 1), padding=(1, 0), use_bias=False), pn.Tanh(), pn.MaxPool2D(2, stride=1),
         pn.Flatten(), pn.Dropout(0.2), pn.Dense(16), pn.Sigmoid(), pn.Dense(10), pn.Softmax()],
        input_shape=(1, 28, 28), seed=2,
    )
    x, y = mnist(96, start=500)
    model.fit(x, y, epochs=1, batch_size=16)  # non-zero biases, realistic weights
    return model


@pytest.fixture(scope="module", params=["trained", "shipped"])
def model(request):
    return trained_model() if request.param == "trained" else pn.load(SHIPPED)


def assert_same(ours, theirs):
    """purenet's output Matrix equals torch's output tensor within TOLERANCE."""
    theirs = theirs.detach().to(torch.float64).reshape(ours.rows, -1)
    torch.testing.assert_close(torch.tensor(ours.data, dtype=torch.float64).reshape(ours.shape), theirs,
                               rtol=0, atol=TOLERANCE)


def test_reference_library_reads_a_purenet_file(model, tmp_path):
    path = tmp_path / "digits.safetensors"
    model.classes = list(range(10))
    model.save(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        assert sorted(f.keys()) == sorted(n for n, _ in model.named_parameters())
        for name, p in model.named_parameters():
            t = f.get_tensor(name)
            assert t.dtype == torch.float32 and tuple(t.shape) == tuple(p.tensor_shape)
            assert t.flatten().tolist() == torch.tensor(p.data, dtype=torch.float32).tolist()
    assert meta["format"] == "purenet" and json.loads(meta["architecture"]) == model.architecture
    assert json.loads(meta["classes"]) == list(range(10))


@pytest.mark.parametrize("dtype", ["F32", "F64"])
def test_torch_loads_a_purenet_file_and_predicts_the_same(model, tmp_path, dtype, torch_from_architecture):
    path = tmp_path / "digits.safetensors"
    model.save(path, dtype=dtype)
    tdtype = torch.float32 if dtype == "F32" else torch.float64
    with safe_open(str(path), framework="pt") as f:
        arch = json.loads(f.metadata()["architecture"])
    tmodel = torch_from_architecture(arch, tdtype)
    state = load_file(str(path))
    assert all(t.dtype == tdtype for t in state.values())
    tmodel.load_state_dict(state, strict=True)  # the same names and shapes: no glue

    x, _ = mnist(64)
    loaded = pn.load(path)  # the weights as the file holds them (rounded to float32 for F32)
    ours = loaded.predict(x)
    with torch.no_grad():
        theirs = tmodel(as_torch(x, tdtype))
    tol = 1e-5 if dtype == "F32" else 1e-12
    torch.testing.assert_close(torch.tensor(ours.data, dtype=torch.float64).reshape(ours.shape),
                               theirs.to(torch.float64), rtol=0, atol=tol)
    assert theirs.argmax(dim=1).tolist() == loaded.predict_classes(x)
    if dtype == "F64":
        assert ours.data == model.predict(x).data


@pytest.mark.parametrize("source", ["trained", "shipped"])
def test_a_torch_file_loads_into_purenet(tmp_path, torch_from_architecture, source):
    torch.manual_seed(0)
    arch = (trained_model() if source == "trained" else pn.load(SHIPPED)).architecture
    tmodel = torch_from_architecture(arch)
    path = tmp_path / "from_torch.safetensors"
    save_file(tmodel.state_dict(), str(path), metadata={"note": "written by torch"})

    model = pn.Sequential.from_architecture(arch, seed=123)
    pn.load_state_dict_file(model, path)
    x, _ = mnist(32, start=100)
    with torch.no_grad():
        theirs = tmodel(as_torch(x))
    assert_same(model.predict(x), theirs)
    # a plain safetensors file has no purenet architecture: pn.load says what to do instead
    with pytest.raises(pn.ModelFileError, match="load_state_dict_file"):
        pn.load(path)


@given(model=architectures())
def test_random_architectures_both_ways(model, torch_from_architecture, tmp_path_factory):
    directory = tmp_path_factory.mktemp("random")
    x, _ = mnist(16, start=300)
    arch = model.architecture

    path = str(directory / "purenet.safetensors")  # purenet -> torch
    model.save(path)
    tmodel = torch_from_architecture(arch)
    tmodel.load_state_dict(load_file(path), strict=True)
    with torch.no_grad():
        assert_same(pn.load(path).predict(x), tmodel(as_torch(x)))

    torch.manual_seed(model.seed)  # torch -> purenet, with torch's own (non-zero) initial biases
    tmodel = torch_from_architecture(arch)
    path = str(directory / "torch.safetensors")
    save_file(tmodel.state_dict(), path)
    ours = pn.Sequential.from_architecture(arch, seed=model.seed + 1)
    pn.load_state_dict_file(ours, path)
    with torch.no_grad():
        assert_same(ours.predict(x), tmodel(as_torch(x)))


def test_torch_dtypes_purenet_does_not_read(tmp_path):
    path = tmp_path / "half.safetensors"
    save_file({"0.weight": torch.ones(2, 3, dtype=torch.float16), "0.bias": torch.zeros(2)}, str(path))
    model = pn.Sequential([pn.Dense(2)], input_shape=(3,))
    with pytest.raises(pn.ModelFileError, match=r"0\.weight' dtype.*unsupported dtype 'F16'"):
        pn.load_state_dict_file(model, path)
    save_file({"0.weight": torch.ones(2, 3, dtype=torch.float64), "0.bias": torch.tensor([1.0, 2.0])}, str(path))
    pn.load_state_dict_file(model, path)
    assert model.state_dict()["0.weight"].data == [1.0] * 6 and model.state_dict()["0.bias"].data == [1.0, 2.0]
