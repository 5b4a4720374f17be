"""purenet: convolutional neural networks in pure Python.

Standard library only: its own :class:`Matrix`, layers with hand-written
backpropagation, losses, optimizers, a ``Sequential`` model and MNIST
loading. Read any piece of it to see how a CNN really works.

>>> import purenet as pn
>>> model = pn.Sequential([pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(),
...                        pn.Dense(10), pn.Softmax()], input_shape=(1, 8, 8), seed=0)
>>> model.count_params()
410
"""

from . import architectures, callbacks, datasets, init, kernels
from .errors import DatasetError, ImageError, ModelFileError
from .gradcheck import GradcheckResult, gradcheck
from .layers import (
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Buffer,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    LeakyReLU,
    LogSoftmax,
    MaxPool2D,
    Parameter,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    register_layer,
)
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError
from .matrix import Matrix
from .model import Sequential
from .optimizers import SGD, Adam, Optimizer
from .io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .io.modelfile import load_model as load, load_state_dict_file
from .io.onnx import export_onnx, load_onnx
from .interop.torch import from_torch, to_torch
from . import io
from . import vision
from .vision.preprocess import preprocess, preprocess_to_matrix
from .vision.digits import Digit, read_digits

__version__ = "0.1.0"

__all__ = [
    "Matrix",
    "Layer", "Parameter", "Buffer", "register_layer", "Dense", "Conv2D", "MaxPool2D", "Flatten",
    "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Dropout",
    "BatchNorm1D", "BatchNorm2D", "AvgPool2D", "GlobalAvgPool2D", "LeakyReLU",
    "Loss", "MeanSquaredError", "BinaryCrossEntropy", "CrossEntropy",
    "Optimizer", "SGD", "Adam",
    "Sequential", "gradcheck", "GradcheckResult",
    "datasets", "init", "kernels", "architectures", "callbacks",
    "DatasetError", "ModelFileError", "ImageError",
    "load", "load_state_dict_file", "export_onnx", "load_onnx", "Checkpoint", "save_checkpoint", "load_checkpoint",
    "io", "vision", "preprocess", "preprocess_to_matrix", "read_digits", "Digit", "to_torch", "from_torch",
    "__version__",
]
