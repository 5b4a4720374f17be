"""The layers, one module per family, and the registry that rebuilds them.

:data:`LAYERS` maps each layer name to its class: purenet's own layers, and
the layers of your own that :func:`register_layer` added. Model files name
layers by these strings; rebuilding a model looks names up here and nowhere
else, so a file can never make purenet run code it did not ship or that
you did not register.
"""

from typing import Any, Dict, Optional, Type

from .activations import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .base import Buffer, Layer, Parameter
from .conv import Conv2D
from .dense import Dense
from .normalization import BatchNorm1D, BatchNorm2D
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .regularization import Dropout
from .reshape import Flatten

__all__ = [
    "Layer", "Parameter", "Buffer", "Dense", "Conv2D", "MaxPool2D", "Flatten",
    "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Dropout", "LAYERS", "BUILTIN_LAYERS", "from_config",
    "register_layer", "layer_name",
    "BatchNorm1D", "BatchNorm2D", "AvgPool2D", "GlobalAvgPool2D", "LeakyReLU",
]

LAYERS: Dict[str, Type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Dense, Conv2D, MaxPool2D, Flatten, ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, Dropout,
        BatchNorm1D, BatchNorm2D, AvgPool2D, GlobalAvgPool2D, LeakyReLU,
    )
}

#: The names of purenet's own layers: no registered layer may take one.
BUILTIN_LAYERS = frozenset(LAYERS)

# class -> its name in LAYERS (a registered layer may be saved under a name of its own)
_NAMES: Dict[type, str] = {cls: name for name, cls in LAYERS.items()}


def register_layer(cls: Optional[type] = None, *, name: Optional[str] = None):
    """Make a layer class of your own savable and loadable: a class decorator.

    ``model.save`` refuses a model with a layer whose class is not registered
    (the file could not be loaded again); ``pn.load`` and
    ``pn.load_checkpoint`` rebuild a registered layer from its name and
    ``get_config()``, as they rebuild purenet's own. The module that
    registers the class must be imported before a file that uses it is
    loaded. Registering the same class again (or a class of the same module
    and name, as re-running a notebook cell makes) replaces the entry;
    taking a built-in layer's name, or another class's, is refused.

    Args:
        cls: a subclass of :class:`purenet.Layer`.
        name: the name files store (default: the class's ``__name__``).

    >>> import purenet as pn
    >>> @pn.register_layer
    ... class Square(pn.Layer):
    ...     def forward(self, x, training=False):
    ...         self.x = x
    ...         return x * x
    ...     def backward(self, grad):
    ...         return grad * self.x * 2.0
    >>> pn.layers.LAYERS["Square"] is Square
    True
    """

    def register(cls):
        if not isinstance(cls, type) or not issubclass(cls, Layer):
            raise TypeError(f"register_layer expects a subclass of purenet.Layer; Received: {cls!r}.")
        key = cls.__name__ if name is None else name
        if not isinstance(key, str) or not key or not key.isprintable() or len(key) > 200:
            raise ValueError(f"register_layer: the name must be a non-empty printable string; Received: {key!r}.")
        if key in BUILTIN_LAYERS:
            raise ValueError(
                f"register_layer: {key!r} is the name of purenet's own layer {key}; expected another name "
                f"(register_layer(name=...) or rename the class); Received: the class {_qualified(cls)}."
            )
        known = LAYERS.get(key)
        if known is not None and known is not cls and _qualified(known) != _qualified(cls):
            raise ValueError(
                f"register_layer: the name {key!r} is already registered to {_qualified(known)}; expected a name "
                f"of its own; Received: the class {_qualified(cls)}."
            )
        if known is not None:
            _NAMES.pop(known, None)
        for other, other_name in list(_NAMES.items()):  # a class registered again under another name
            if other is cls and other_name not in BUILTIN_LAYERS:
                del LAYERS[other_name]
                del _NAMES[other]
        LAYERS[key] = cls
        _NAMES[cls] = key
        return cls

    if cls is None:
        return register  # used as @register_layer(name=...)
    return register(cls)


def layer_name(layer_or_class) -> Optional[str]:
    """The name a model file stores for this layer (or class): ``None`` when its
    exact class is neither purenet's nor registered."""
    cls = layer_or_class if isinstance(layer_or_class, type) else type(layer_or_class)
    return _NAMES.get(cls)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def from_config(class_name: str, config: Dict[str, Any]) -> Layer:
    """Rebuild a layer from its registered name and ``get_config()`` (lists become tuples)."""
    cls = LAYERS.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(
            f"unknown layer: expected one of {sorted(LAYERS)} (a layer of your own: import the module that "
            f"registers it with @pn.register_layer first); Received: {class_name!r}."
        )
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"{class_name} config must be a dict of argument names; Received: {config!r}.")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    try:
        return cls(**args)
    except TypeError as e:
        raise ValueError(f"bad {class_name} config {config!r}: {e}") from None
