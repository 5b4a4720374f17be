"""The layers, one module per family, and the registry that rebuilds them.

:data:`LAYERS` maps each class name to its class. Model files name layers by
these strings; rebuilding a model looks names up here and nowhere else, so a
file can never make purenet run code it did not ship.
"""

from typing import Any, Dict, Type

from .activations import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer, Parameter
from .conv import Conv2D
from .dense import Dense
from .normalization import BatchNorm1D, BatchNorm2D
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .regularization import Dropout
from .reshape import Flatten

__all__ = [
    "Layer", "Parameter", "Dense", "Conv2D", "MaxPool2D", "Flatten",
    "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Dropout", "LAYERS", "from_config",
    "BatchNorm1D", "BatchNorm2D", "AvgPool2D", "GlobalAvgPool2D", "LeakyReLU",
]

LAYERS: Dict[str, Type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Dense, Conv2D, MaxPool2D, Flatten, ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, Dropout,
        BatchNorm1D, BatchNorm2D, AvgPool2D, GlobalAvgPool2D, LeakyReLU,
    )
}


def from_config(class_name: str, config: Dict[str, Any]) -> Layer:
    """Rebuild a layer from its class name and ``get_config()`` (lists become tuples)."""
    cls = LAYERS.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(f"unknown layer: expected one of {sorted(LAYERS)}; Received: {class_name!r}.")
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"{class_name} config must be a dict of argument names; Received: {config!r}.")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    try:
        return cls(**args)
    except TypeError as e:
        raise ValueError(f"bad {class_name} config {config!r}: {e}") from None
