"""The pretrained model shipped in the package is the one the README describes."""

import os

import purenet as pn
from purenet import architectures, cli

MODEL = os.path.join(os.path.dirname(pn.__file__), "models", "lenet-mnist.safetensors")


def test_shipped_model_is_the_lenet_architecture():
    model = pn.load(MODEL)
    assert cli.PRETRAINED_MODEL == MODEL or os.path.samefile(cli.PRETRAINED_MODEL, MODEL)
    assert model.architecture == architectures.build("lenet").architecture
    assert len(model.history["val_accuracy"]) == 30
    assert model.history["val_accuracy"][-1] >= 0.992  # the figure of the full MNIST test set, as trained


def test_shipped_model_recognises_the_bundled_test_digits():
    # The bundled test split is a stratified subset of the MNIST test set.
    model = pn.load(MODEL)
    x, y = pn.datasets.load_bundled("test")
    assert model.evaluate(x, y)["accuracy"] >= 0.99
