"""Model files: a ``Sequential`` as one safetensors file that PyTorch can read too.

    >>> import os, tempfile, purenet as pn
    >>> model = pn.Sequential([pn.Dense(3), pn.ReLU(), pn.Dense(2), pn.Softmax()], input_shape=(4,), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model.save(path, dtype="F64")
    >>> same = pn.load(path)
    >>> same.state_dict()["2.weight"].data == model.state_dict()["2.weight"].data
    True

The file holds the ``state_dict`` with PyTorch's names and shapes (a conv
weight ``(F, C, KH, KW)``, a bias ``(F,)``), ``F32`` by default (``F64``
round-trips exactly), so it loads into the equivalent ``nn.Sequential`` with
``load_state_dict``. Buffers (a layer's non-trainable state, such as
``1.running_mean``) are tensors of the file too, in the file's float type,
except counters (``Buffer.dtype == "I64"``, such as ``num_batches_tracked``),
which are ``I64`` with shape ``()``, as PyTorch writes them. Its
``__metadata__`` (all strings, as safetensors requires) holds::

    format           "purenet"
    format_version   "1"
    purenet_version  the writer's purenet.__version__
    architecture     JSON {"input_shape": [...], "layers": [{"class": "Conv2D", "config": {...}}, ...]}
    history          optional, JSON {"loss": [...], ...} (null for a non-finite value)
    classes          optional, JSON list of the labels the outputs stand for, e.g. [0, 1]

Loading rebuilds the model from plain data through the layer registry
(:data:`purenet.layers.LAYERS`: purenet's layers and those registered with
:func:`purenet.register_layer`) and nothing else, and checks the whole file
first: the container (see :mod:`purenet.io.safetensors`), every metadata
field, every layer config, and that the tensors are exactly the parameters
the architecture implies, with the right shapes, before any weight is
allocated. Any problem raises :class:`purenet.ModelFileError`.

What this module is not: a general importer. :func:`load_state_dict_file`
reads the weights of any F32/F64 safetensors file into a model you have
already built, but only purenet files carry their architecture.
"""

import json
import math
from numbers import Real
from typing import Dict, List, Optional, Tuple

from ..errors import ModelFileError
from ..layers import (
    BUILTIN_LAYERS, LAYERS, AvgPool2D, BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
    Layer, LeakyReLU, LogSoftmax, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh, from_config, layer_name,
)
from ..matrix import Matrix
from ..model import Sequential
from .safetensors import (
    DEFAULT_MAX_BYTES, PathLike, Tensor, display_name, fail, json_type, loads_json, read_safetensors, short_repr,
    write_safetensors,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "save_model", "load_model", "load_state_dict_file"]

FORMAT = "purenet"
CHECKPOINT_FORMAT = "purenet-checkpoint"
FORMAT_VERSION = "1"

Shape = Tuple[int, ...]

#: The most layers a model file may describe: far more than any model pure Python
#: can train, few enough that rebuilding a hostile file's architecture stays quick.
MAX_LAYERS = 1000

_MODEL_REQUIRED = ("format", "format_version", "purenet_version", "architecture")
_MODEL_OPTIONAL = ("history", "classes")

# Layers that own no parameters. A layer registered in LAYERS but in neither this
# tuple nor _expected_parameters is rebuilt before its shapes can be checked
# (tests/test_modelfile.py fails when that happens, so the table stays complete).
_PARAMETER_FREE = (Flatten, ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, MaxPool2D, Dropout, AvgPool2D, GlobalAvgPool2D,
                   LeakyReLU)

# Classes whose get_config() round trip the suite tests (tests/test_contract.py).
_CHECKED_CONFIG = frozenset(LAYERS[name] for name in BUILTIN_LAYERS)


# ------------------------------------------------------------------ saving
def save_model(model: Sequential, path: PathLike, dtype: str = "F32") -> None:
    """Write ``model`` to ``path`` as a safetensors file, atomically.

    Args:
        model: a built :class:`purenet.Sequential`.
        path: the file to write (replaced if it exists).
        dtype: ``"F32"`` (half the size, what PyTorch uses; weights are
            rounded to float32) or ``"F64"`` (exact).
    """
    check_rebuildable(model)
    if dtype not in ("F32", "F64"):
        raise ValueError(f"dtype must be 'F32' or 'F64'; Received: {dtype!r}.")
    write_safetensors(path, model_tensors(model, dtype), model_metadata(model, FORMAT))


def model_tensors(model: Sequential, dtype: str) -> Dict[str, tuple]:
    """``{name: (dtype, PyTorch shape, values)}`` of the parameters and buffers; a
    buffer with a dtype of its own (``I64`` counters) keeps it."""
    tensors = {name: (dtype, p.tensor_shape, p.data) for name, p in model.named_parameters()}
    tensors.update((name, (b.dtype or dtype, b.tensor_shape, b.data)) for name, b in model.named_buffers())
    return tensors


def check_saveable(model) -> None:
    """A built Sequential (what any writer needs)."""
    if not isinstance(model, Sequential):
        raise TypeError(f"expected a purenet Sequential; Received: {type(model).__name__}.")
    if not model.built:
        raise ValueError("the model is not built: give input_shape to Sequential(...) or call model.build(shape) first.")


def check_rebuildable(model) -> None:
    """A built Sequential whose every layer a file can rebuild: its class registered
    (purenet's own or through ``@pn.register_layer``) and its ``get_config()`` plain
    data that the constructor takes back. Raises before anything is written."""
    check_saveable(model)
    for i, layer in enumerate(model.layers):
        cls = type(layer)
        name = layer_name(layer)
        if name is None:
            raise ValueError(
                f"cannot save layer {i} ({cls.__name__}): expected a layer class that pn.load can rebuild, purenet's "
                f"own or registered: decorate the class with @pn.register_layer; Received: the unregistered "
                f"class {cls.__module__}.{cls.__qualname__}."
            )
        config = layer.get_config()
        if not isinstance(config, dict) or not all(
            isinstance(k, str) and plain_value(list(v) if isinstance(v, tuple) else v) for k, v in config.items()
        ):
            raise ValueError(
                f"cannot save layer {i} ({name}): get_config() must return a dict of constructor arguments that "
                "are numbers, strings, bools, None or flat lists of those; Received: "
                f"{short_repr(config, 200)}."
            )
        if cls not in _CHECKED_CONFIG:  # purenet's own layers are tested; a user's layer is checked here
            params, named = layer.parameters(), [p for _, p in layer.named_parameters()]
            if len(params) != len(named) or {id(p) for p in params} != {id(p) for p in named}:
                raise ValueError(
                    f"cannot save layer {i} ({name}): files hold the tensors of named_parameters(), so it must "
                    "name every tensor of parameters(); expected the same tensors from both; Received: "
                    f"{len(params)} from parameters(), {len(named)} from named_parameters()."
                )
            try:
                again = from_config(name, json.loads(json.dumps(config)))
            except Exception as e:
                raise ValueError(
                    f"cannot save layer {i} ({name}): pn.load would rebuild it as {name}(**get_config()), which "
                    f"fails: {e}. Expected get_config() to return the constructor's arguments; "
                    f"Received: {short_repr(config, 200)}."
                ) from None
            if type(again) is not cls:
                raise ValueError(f"cannot save layer {i}: the name {name!r} rebuilds a {type(again).__name__}.")


def model_metadata(model: Sequential, fmt: str) -> Dict[str, str]:
    """The ``__metadata__`` strings shared by model files and checkpoints."""
    from .. import __version__  # here, not at import time: purenet/__init__ imports this module

    meta = {
        "format": fmt,
        "format_version": FORMAT_VERSION,
        "purenet_version": __version__,
        "architecture": json.dumps(model.architecture, sort_keys=True, allow_nan=False),
    }
    if model.history:
        meta["history"] = dump_history(model.history)
    classes = getattr(model, "classes", None)
    if classes is not None:
        if not isinstance(classes, (list, tuple)) or not all(
            isinstance(c, (int, str)) and not isinstance(c, bool) for c in classes
        ):
            raise ValueError(f"model.classes must be a list of ints or strings; Received: {classes!r}.")
        meta["classes"] = json.dumps(list(classes))
    return meta


def dump_history(history: Dict[str, List[float]]) -> str:
    """History as JSON; a non-finite value (JSON has none) is written as null."""
    if not isinstance(history, dict):
        raise TypeError(f"history must be a dict of name -> list of numbers; Received: {type(history).__name__}.")
    plain = {}
    for key, values in history.items():
        if not isinstance(key, str) or not isinstance(values, (list, tuple)):
            raise TypeError(f"history must be a dict of name -> list of numbers; Received: {key!r}: {short_repr(values)}.")
        plain[key] = [float(v) if isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) else None
                      for v in values]
    return json.dumps(plain, sort_keys=True)


# ----------------------------------------------------------------- loading
def load_model(path: PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Sequential:
    """Read a model written by :func:`save_model` (``model.save``).

    Returns a built :class:`purenet.Sequential` with the saved weights, and
    its ``history`` and ``classes`` as saved. Raises
    :class:`purenet.ModelFileError` for a missing file and for anything
    malformed, truncated, oversized or unknown in it.
    """
    file = display_name(path)
    tensors, meta = read_safetensors(path, max_bytes=max_bytes, aligned=True)
    check_format(meta, FORMAT, file)
    check_keys(meta, _MODEL_REQUIRED, _MODEL_OPTIONAL, file)
    model = rebuild(meta, tensors, file)
    model.history = load_history(meta, file)
    model.classes = load_classes(meta, file)
    return model


def check_format(meta: Dict[str, str], fmt: str, file: str) -> None:
    """``format`` is ``fmt`` and ``format_version`` one this purenet reads."""
    found = meta.get("format")
    if found != fmt:
        if found == FORMAT:
            hint = f"{found!r}: a model file, open it with pn.load(path)"
        elif found == CHECKPOINT_FORMAT:
            hint = f"{found!r}: a training checkpoint, open it with pn.load_checkpoint(path)"
        else:
            hint = ("no 'format' key" if found is None else short_repr(found)) + (
                ": not a purenet file (to load plain safetensors weights, build the model "
                "and call pn.load_state_dict_file(model, path))"
            )
        fail(file, "__metadata__['format']", repr(fmt), hint)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        fail(file, "__metadata__['format_version']", f"{FORMAT_VERSION!r} (the version this purenet reads)",
             "no 'format_version' key" if version is None else short_repr(version))


def check_keys(meta: Dict[str, str], required, optional, file: str) -> None:
    missing = [k for k in required if k not in meta]
    if missing:
        fail(file, "__metadata__", f"the keys {list(required)}", f"no {short_repr(missing)}")
    unknown = [k for k in meta if k not in required and k not in optional]
    if unknown:
        fail(file, "__metadata__", f"only the keys {list(required) + list(optional)}", f"unknown key(s) {short_repr(unknown)}")


def meta_json(meta: Dict[str, str], key: str, file: str):
    return loads_json(meta[key], file, f"__metadata__[{key!r}]")


def rebuild(meta: Dict[str, str], tensors: Dict[str, Tensor], file: str) -> Sequential:
    """The model the metadata's architecture describes, with the weights and buffers in
    ``tensors`` (exactly its parameters and buffers: no more, no less)."""
    arch = check_architecture(meta_json(meta, "architecture", file), file)
    expected = expected_parameters(arch, file)
    if expected is not None:  # shapes known before building: nothing is allocated for a lying file
        check_tensors(tensors, expected, file)
    try:
        model = Sequential.from_architecture(arch)
    except Exception as e:  # whatever a layer raises on a config it was never meant to see
        fail(file, "__metadata__['architecture']", "a model purenet can build", short_repr(str(e), 300))
    params = dict(model._named_state())
    check_tensors(tensors, {n: tuple(p.tensor_shape) for n, p in params.items()}, file)
    check_dtypes(tensors, params, file)
    state = {n: Matrix.from_flat(tensors[n].values, p.rows, p.cols) for n, p in params.items()}
    try:
        model.load_state_dict(state)
    except ValueError as e:  # tensors are checked above; this is a second line of defence
        raise ModelFileError(f"{file}: {e}") from None
    return model


def check_dtypes(tensors: Dict[str, Tensor], state: Dict[str, Matrix], file: str) -> None:
    """Weights are floats; a buffer saved as ``I64`` (a counter) is ``I64``, any other float."""
    for name, t in state.items():
        wanted = ("I64",) if getattr(t, "dtype", None) == "I64" else ("F32", "F64")
        if tensors[name].dtype not in wanted:
            fail(file, f"tensor {short_repr(name)} dtype", " or ".join(wanted), repr(tensors[name].dtype))


def check_tensors(tensors: Dict[str, Tensor], expected: Dict[str, Shape], file: str) -> None:
    """The model tensors in the file are exactly ``expected`` (name -> PyTorch shape)."""
    missing = [n for n in expected if n not in tensors]
    unexpected = [n for n in tensors if n not in expected]
    if missing or unexpected:
        found = "; ".join(
            ([f"missing {short_repr(missing, 200)}"] if missing else [])
            + ([f"unexpected {short_repr(unexpected, 200)}"] if unexpected else [])
        )
        fail(file, "tensors", f"exactly the parameters and buffers of the architecture {short_repr(list(expected), 200)}",
             found)
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != tuple(shape):
            fail(file, f"tensor {short_repr(name)} shape", f"{tuple(shape)} (from the architecture)",
                 str(tuple(tensors[name].shape)))


# ------------------------------------------------------- the architecture
def check_architecture(arch, file: str) -> dict:
    """Check the types of architecture data (see ``Sequential.architecture``); returns it."""
    field = "__metadata__['architecture']"
    if not isinstance(arch, dict):
        fail(file, field, 'an object {"input_shape", "layers"}', json_type(arch))
    if set(arch) != {"input_shape", "layers"}:
        fail(file, field, 'exactly the keys "input_shape" and "layers"', f"the keys {short_repr(sorted(arch))}")
    shape = arch["input_shape"]
    if not isinstance(shape, list) or len(shape) not in (1, 3) or not all(type(s) is int and s > 0 for s in shape):
        fail(file, f"{field} input_shape", "[features] or [C, H, W] with positive ints", short_repr(shape))
    layers = arch["layers"]
    if not isinstance(layers, list) or not layers:
        fail(file, f"{field} layers", "a non-empty list", short_repr(layers))
    if len(layers) > MAX_LAYERS:
        fail(file, f"{field} layers", f"at most {MAX_LAYERS} layers", f"{len(layers)} layers")
    for i, spec in enumerate(layers):
        where = f"{field} layer {i}"
        if not isinstance(spec, dict) or set(spec) != {"class", "config"}:
            fail(file, where, 'an object with exactly the keys "class" and "config"', short_repr(spec))
        cls, config = spec["class"], spec["config"]
        if not isinstance(cls, str) or cls not in LAYERS:
            fail(file, f"{where} class",
                 f"one of {sorted(LAYERS)} (a layer of your own: import the module that registers it with "
                 "@pn.register_layer before loading)", f"the unknown layer {short_repr(cls)}")
        if not isinstance(config, dict):
            fail(file, f"{where} ({cls}) config", "an object of arguments", json_type(config))
        for key, value in config.items():
            if not plain_value(value):
                fail(file, f"{where} ({cls}) config {short_repr(key)}",
                     "a number, string, bool, null or a list of those", short_repr(value))
    return arch


def plain_value(value) -> bool:
    """A JSON scalar, or a flat list of them: all a layer's constructor ever takes."""
    if isinstance(value, list):
        return all(v is None or isinstance(v, (bool, int, float, str)) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def expected_parameters(arch: dict, file: str) -> Optional[Dict[str, Shape]]:
    """Each parameter's (and buffer's) PyTorch shape, worked out from the configs without
    building (so without allocating); ``None`` when a layer's are not known here."""
    shape: Shape = tuple(arch["input_shape"])
    expected: Dict[str, Shape] = {}
    known = True
    for i, spec in enumerate(arch["layers"]):
        where = f"__metadata__['architecture'] layer {i} ({spec['class']})"
        try:
            layer = from_config(spec["class"], spec["config"])
        except Exception as e:  # whatever a constructor raises on a config it was never meant to see
            fail(file, f"{where} config", f"arguments {spec['class']} accepts", short_repr(str(e), 300))
        try:
            out = layer.compute_output_shape(shape)
        except Exception as e:
            fail(file, where, f"a layer that takes samples of shape {shape}", short_repr(str(e), 300))
        params = _layer_parameters(layer, shape)
        if params is None:
            known = False
        else:
            expected.update((f"{i}.{name}", s) for name, s in params.items())
        shape = tuple(out)
    return expected if known else None


def _layer_parameters(layer: Layer, shape: Shape) -> Optional[Dict[str, Shape]]:
    """The shapes ``layer.build(shape)`` will give its parameters and buffers (PyTorch's,
    as in the file); ``None`` for a layer not in this table (it is built first)."""
    if type(layer) is Dense:  # weight (U, D), bias (U,)
        params = {"weight": (layer.units, shape[0])}
        if layer.use_bias:
            params["bias"] = (layer.units,)
        return params
    if type(layer) is Conv2D:  # weight (F, C, KH, KW), bias (F,)
        params = {"weight": (layer.filters, shape[0]) + tuple(layer.kernel)}
        if layer.use_bias:
            params["bias"] = (layer.filters,)
        return params
    if type(layer) in (BatchNorm1D, BatchNorm2D):  # one value per channel C; the counter is a 0-d tensor
        c = (shape[0],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c, "num_batches_tracked": ()}
    if type(layer) in _PARAMETER_FREE:
        return {}
    return None


# ------------------------------------------------------ history, classes
def load_history(meta: Dict[str, str], file: str) -> Dict[str, List[Optional[float]]]:
    if "history" not in meta:
        return {}
    field = "__metadata__['history']"
    history = meta_json(meta, "history", file)
    if not isinstance(history, dict):
        fail(file, field, "an object of name -> list of numbers", json_type(history))
    for key, values in history.items():
        if not isinstance(values, list) or not all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
        ):
            fail(file, f"{field} {short_repr(key)}", "a list of numbers", short_repr(values))
    return {k: [None if v is None else float(v) for v in values] for k, values in history.items()}


def load_classes(meta: Dict[str, str], file: str) -> Optional[list]:
    if "classes" not in meta:
        return None
    classes = meta_json(meta, "classes", file)
    if not isinstance(classes, list) or not all(
        isinstance(c, (int, str)) and not isinstance(c, bool) for c in classes
    ):
        fail(file, "__metadata__['classes']", "a list of ints or strings", short_repr(classes))
    return classes


# -------------------------------------------------- foreign weight files
def load_state_dict_file(model: Sequential, path: PathLike, strict: bool = True, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Load the weights of any safetensors file into a built ``model``.

    The file's tensor names must be the model's ``state_dict`` names
    (``"0.weight"``, ...) with PyTorch's shapes or purenet's 2-D ones, so a
    file written by ``safetensors.torch.save_file(torch_model.state_dict(), path)``
    for the equivalent ``nn.Sequential`` loads as is. Metadata is ignored.
    With ``strict=False`` parameters absent from the file keep their values.

    Raises :class:`purenet.ModelFileError` when the file is malformed or its
    names or shapes do not fit the model; the model is unchanged then.
    """
    check_saveable(model)
    file = display_name(path)
    tensors, _ = read_safetensors(path, max_bytes=max_bytes)
    params = dict(model._named_state())
    missing = [n for n in params if n not in tensors]
    unexpected = [n for n in tensors if n not in params]
    if unexpected or (strict and missing):
        found = "; ".join(
            ([f"missing {short_repr(missing, 200)}"] if strict and missing else [])
            + ([f"unexpected {short_repr(unexpected, 200)}"] if unexpected else [])
        )
        fail(file, "tensors", f"the model's parameters and buffers {short_repr(list(params), 200)}", found)
    state = {}
    for name, tensor in tensors.items():
        p = params[name]
        if tensor.shape not in (tuple(p.tensor_shape), p.shape):
            fail(file, f"tensor {short_repr(name)} shape", f"{tuple(p.tensor_shape)} (or purenet's {p.shape})",
                 str(tensor.shape))
        state[name] = Matrix.from_flat(tensor.values, p.rows, p.cols)
    try:
        model.load_state_dict(state, strict=strict)
    except ValueError as e:
        raise ModelFileError(f"{file}: {e}") from None
