"""Models exported by ``torch.onnx.export`` read by ``pn.load_onnx``.

Both of PyTorch's exporters (``dynamo=True``, the default, which needs
``onnxscript``, and the TorchScript one, ``dynamo=False``) at operator sets
11, 13, 17 and 18, for a LeNet, a model with BatchNorm and one with average
and global average pooling. The purenet model predicts what the PyTorch
module computes within 1e-5. The default exporter keeps the weights in a
``.onnx.data`` file beside the model, so external data is read here too.
"""

import logging
import os
import warnings

import pytest

from conftest import require

import purenet as pn

TOLERANCE = 1e-5
OPSETS = (11, 13, 17, 18)


@pytest.fixture(scope="module")
def torch():
    t = require("torch")
    require("onnx")
    require("onnxscript")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    return t


def lenet(nn):
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.Sigmoid(), nn.Linear(84, 10), nn.LogSoftmax(dim=1))


def batchnorm(nn):
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 14 * 14, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(16, 10), nn.Softmax(dim=1))


def pooling(nn):
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.LeakyReLU(0.1), nn.AvgPool2d(2), nn.Conv2d(4, 8, 3, padding=1),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10))


MODELS = {"lenet": lenet, "batchnorm": batchnorm, "pooling": pooling}


def make(torch, name):
    torch.manual_seed(len(name))
    module = MODELS[name](torch.nn)
    for m in module.modules():  # running statistics and affine weights away from their defaults
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1, 1)
    return module.eval()


def check(torch, module, path, x):
    model = pn.load_onnx(path)
    assert model.input_shape == (1, 28, 28)
    expected = module(x).detach().double()
    ours = model.predict(x.reshape(len(x), -1).double().tolist())
    got = torch.tensor(ours.data, dtype=torch.float64).reshape(expected.shape)
    assert float((got - expected).abs().max()) <= TOLERANCE


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", list(MODELS))
def test_torch_onnx_export_loads_and_predicts_the_same(torch, tmp_path, name, opset, dynamo):
    module = make(torch, name)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(opset))
    path = str(tmp_path / f"{name}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = {"dynamo": True, "verbose": False} if dynamo else {"dynamo": False, "dynamic_axes": {"x": {0: "N"}}}
        torch.onnx.export(module, (x,), path, opset_version=opset, input_names=["x"], **kwargs)
    check(torch, module, path, x)


@pytest.mark.parametrize("name", ["batchnorm", "pooling"])
def test_batchnorm_nodes_kept_by_the_exporter_load(torch, tmp_path, name):
    # without constant folding the TorchScript exporter keeps BatchNormalization nodes
    onnx = require("onnx")
    module = make(torch, name)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    path = str(tmp_path / "bn.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), path, dynamo=False, do_constant_folding=False, opset_version=13)
    assert "BatchNormalization" in [n.op_type for n in onnx.load(path).graph.node]
    check(torch, module, path, x)
