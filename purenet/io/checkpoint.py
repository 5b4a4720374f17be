"""Training checkpoints: everything needed to continue training bit for bit.

    >>> import os, tempfile, purenet as pn
    >>> model = pn.Sequential([pn.Dense(2), pn.Softmax()], input_shape=(3,), seed=0)
    >>> optimizer = pn.SGD(0.1, momentum=0.9)
    >>> _ = model.fit([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], [0, 1], epochs=1, optimizer=optimizer)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt.safetensors")
    >>> save_checkpoint(path, model, optimizer, epoch=1)
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.epoch, ckpt.optimizer
    (1, SGD(lr=0.1, momentum=0.9))

A checkpoint is a model file (see :mod:`purenet.io.modelfile`) with
``format`` ``"purenet-checkpoint"``, always ``F64`` (exact; buffers too, but
``I64`` counters), plus:

- one tensor per optimizer buffer, ``optimizer.<parameter>.<buffer>`` with
  the parameter's shape: ``optimizer.0.weight.momentum`` for SGD,
  ``optimizer.0.weight.m`` and ``.v`` for Adam;
- metadata strings, each JSON: ``epoch`` (epochs completed), ``optimizer``
  (``{"class", "config", "iterations", "state": {parameter: {"t": steps}}}``),
  ``rng_state`` (the model's ``random.Random`` state as
  ``[version, [625 ints], gauss_next]``), ``layer_rng_states`` (the same for
  each layer with its own generator, such as Dropout, by layer index),
  optionally ``loss`` (``{"class", "config"}``), ``history``, ``classes`` and
  ``extra`` (any JSON the caller wants back, e.g. command-line settings).

Loading restores the model's weights, generators, history and loss, and an
optimizer of the saved class and configuration with its buffers, so that
continuing ``fit`` gives the same weights as never having stopped. The
reader checks everything the model-file reader does, and that the optimizer
state is exactly what that optimizer keeps for these parameters. Files are
written atomically (:mod:`purenet.io.atomic`): a kill or Ctrl-C during a
save leaves the previous checkpoint intact.

What this module is not: a training loop or a schedule of when to save;
the command line decides that.
"""

import json
from typing import Dict, Optional

from .. import rngstate
from ..losses import LOSSES, Loss
from ..model import Sequential
from ..optimizers import OPTIMIZERS, Optimizer
from .modelfile import (
    CHECKPOINT_FORMAT, check_format, check_keys, check_rebuildable, check_tensors, dump_history, load_classes,
    load_history, meta_json, model_metadata, model_tensors, plain_value, rebuild,
)
from .safetensors import (
    DEFAULT_MAX_BYTES, PathLike, display_name, fail, json_type, read_safetensors, short_repr, write_safetensors,
)

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint"]

# The state each optimizer keeps per parameter: buffers (one value per weight,
# stored as tensors) and counters (ints, stored in the metadata). An entry
# holds all of them or is absent.
_OPTIMIZER_STATE = {
    "SGD": {"buffers": ("momentum",), "counters": ()},
    "Adam": {"buffers": ("m", "v"), "counters": ("t",)},
}

_REQUIRED = ("format", "format_version", "purenet_version", "architecture", "epoch", "optimizer", "rng_state")
_OPTIONAL = ("layer_rng_states", "loss", "history", "classes", "extra")

PREFIX = "optimizer."


class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes:
        model: the rebuilt :class:`purenet.Sequential`, with its weights,
            generators (``model.rng`` is already at ``rng_state``), history,
            loss and ``model.optimizer`` restored.
        optimizer: the optimizer, with its state (also ``model.optimizer``).
        epoch: the number of epochs completed when it was saved.
        rng_state: the saved ``random.Random`` state (a ``getstate()`` tuple).
        history: the saved history, ``{"loss": [...], ...}``.
        extra: whatever JSON data was passed to :func:`save_checkpoint`, or ``None``.
    """

    __slots__ = ("model", "optimizer", "epoch", "rng_state", "history", "extra")

    def __init__(self, model, optimizer, epoch, rng_state, history, extra=None):
        self.model = model
        self.optimizer = optimizer
        self.epoch = epoch
        self.rng_state = rng_state
        self.history = history
        self.extra = extra

    def __repr__(self) -> str:
        return f"Checkpoint(epoch={self.epoch}, optimizer={self.optimizer!r}, layers={len(self.model.layers)})"


# ------------------------------------------------------------------ saving
def save_checkpoint(
    path: PathLike,
    model: Sequential,
    optimizer: Optimizer,
    epoch: int,
    rng_state: Optional[tuple] = None,
    history: Optional[Dict[str, list]] = None,
    extra=None,
) -> None:
    """Write a checkpoint to ``path``, atomically.

    Args:
        model: the built model being trained.
        optimizer: its :class:`purenet.SGD` or :class:`purenet.Adam`.
        epoch: epochs completed (an int >= 0).
        rng_state: the generator state to resume from; defaults to
            ``model.rng.getstate()`` (what ``fit`` shuffles with).
        history: defaults to ``model.history``.
        extra: optional JSON-serialisable data returned as ``Checkpoint.extra``.
    """
    check_rebuildable(model)
    name = type(optimizer).__name__
    if not isinstance(optimizer, Optimizer) or OPTIMIZERS.get(name) is not type(optimizer):
        raise TypeError(f"optimizer must be one of purenet's {sorted(OPTIMIZERS)}; Received: {name}.")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int; Received: {epoch!r}.")
    named = model.named_parameters()
    shapes = {n: tuple(p.tensor_shape) for n, p in named}
    tensors = model_tensors(model, "F64")
    state = optimizer.state_dict(named)
    schema = _OPTIMIZER_STATE[name]
    counters = {}
    for pname, entry in state["state"].items():
        for key, value in entry.items():
            if key in schema["buffers"]:
                tensors[f"{PREFIX}{pname}.{key}"] = ("F64", shapes[pname], value)
            elif key in schema["counters"]:
                counters.setdefault(pname, {})[key] = value
            else:
                raise ValueError(f"{name} keeps state {key!r}, which the checkpoint format does not know.")
    meta = model_metadata(model, CHECKPOINT_FORMAT)
    meta.pop("history", None)
    history = model.history if history is None else history
    if history:
        meta["history"] = dump_history(history)
    meta["epoch"] = str(epoch)
    meta["optimizer"] = json.dumps(
        {"class": name, "config": state["config"], "iterations": state["iterations"], "state": counters},
        sort_keys=True, allow_nan=False,
    )
    meta["rng_state"] = json.dumps(rngstate.to_json(model.rng.getstate() if rng_state is None else rng_state))
    layer_rngs = {str(i): rngstate.to_json(layer.rng.getstate()) for i, layer in rngstate.layers_with_rng(model)}
    if layer_rngs:
        meta["layer_rng_states"] = json.dumps(layer_rngs, sort_keys=True)
    loss = model.loss
    if loss is not None and LOSSES.get(type(loss).__name__) is type(loss):
        meta["loss"] = json.dumps({"class": type(loss).__name__, "config": loss.get_config()}, sort_keys=True)
    if extra is not None:
        try:
            meta["extra"] = json.dumps(extra, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"extra must be plain JSON data (dicts, lists, strings, finite numbers): {e}") from None
    write_safetensors(path, tensors, meta)


# ----------------------------------------------------------------- loading
def load_checkpoint(path: PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`purenet.ModelFileError` for a missing file and for
    anything malformed, truncated, oversized or unknown in it.
    """
    file = display_name(path)
    tensors, meta = read_safetensors(path, max_bytes=max_bytes, aligned=True)
    check_format(meta, CHECKPOINT_FORMAT, file)
    check_keys(meta, _REQUIRED, _OPTIONAL, file)
    epoch = meta_json(meta, "epoch", file)
    if type(epoch) is not int or epoch < 0:
        fail(file, "__metadata__['epoch']", "a non-negative int", short_repr(meta["epoch"]))
    spec = _check_optimizer_spec(meta_json(meta, "optimizer", file), file)

    model_tensors = {k: v for k, v in tensors.items() if not k.startswith(PREFIX)}
    model = rebuild(meta, model_tensors, file)
    optimizer = _build_optimizer(spec, file)
    params = dict(model.named_parameters())
    state = _optimizer_state(spec, {k: v for k, v in tensors.items() if k.startswith(PREFIX)}, params, optimizer, file)
    try:
        optimizer.load_state_dict(state, params.items())
    except ValueError as e:  # checked above; a second line of defence
        fail(file, "optimizer state", "state that fits the optimizer", str(e))

    rng_state = _decode_rng(meta_json(meta, "rng_state", file), file, "__metadata__['rng_state']")
    layer_states = _layer_rng_states(meta, model, file)
    loss = _load_loss(meta, file)
    history = load_history(meta, file)
    classes = load_classes(meta, file)
    extra = meta_json(meta, "extra", file) if "extra" in meta else None

    # Everything is valid: now put it in place.
    model.rng.setstate(rng_state)
    for layer, s in layer_states:
        layer.rng.setstate(s)
    model.history = {k: list(v) for k, v in history.items()}
    model.classes = classes
    model.optimizer = optimizer
    if loss is not None:
        model.loss = loss
    return Checkpoint(model, optimizer, epoch, rng_state, history, extra)


def _check_optimizer_spec(spec, file: str) -> dict:
    field = "__metadata__['optimizer']"
    keys = {"class", "config", "iterations", "state"}
    if not isinstance(spec, dict) or set(spec) != keys:
        fail(file, field, f"an object with exactly the keys {sorted(keys)}", short_repr(spec))
    if not isinstance(spec["class"], str) or spec["class"] not in _OPTIMIZER_STATE:
        fail(file, f"{field} class", f"one of {sorted(_OPTIMIZER_STATE)}", f"the unknown optimizer {short_repr(spec['class'])}")
    config = spec["config"]
    if not isinstance(config, dict) or not all(plain_value(v) and not isinstance(v, list) for v in config.values()):
        fail(file, f"{field} config", "an object of numbers", short_repr(config))
    iterations = spec["iterations"]
    if type(iterations) is not int or iterations < 0:
        fail(file, f"{field} iterations", "a non-negative int", short_repr(iterations))
    counters = _OPTIMIZER_STATE[spec["class"]]["counters"]
    state = spec["state"]
    if not isinstance(state, dict):
        fail(file, f"{field} state", "an object of parameter name -> counters", json_type(state))
    for pname, entry in state.items():
        if not isinstance(entry, dict) or set(entry) != set(counters) or not all(
            type(v) is int and v >= 0 for v in entry.values()
        ):
            fail(file, f"{field} state {short_repr(pname)}", f"an object with exactly the counts {list(counters)}",
                 short_repr(entry))
    return spec


def _build_optimizer(spec: dict, file: str) -> Optimizer:
    cls = OPTIMIZERS[spec["class"]]
    try:
        return cls(**spec["config"])
    except Exception as e:  # whatever a constructor raises on a config it was never meant to see
        fail(file, "__metadata__['optimizer'] config", f"arguments {spec['class']} accepts", short_repr(str(e), 300))


def _optimizer_state(spec: dict, tensors: dict, params: dict, optimizer: Optimizer, file: str) -> dict:
    """The ``state_dict`` the file describes: buffers from its tensors, counters from
    its metadata, every entry complete and for a parameter of this model."""
    name = spec["class"]
    schema = _OPTIMIZER_STATE[name]
    buffers = schema["buffers"]
    if name == "SGD" and not optimizer.momentum:
        buffers = ()  # plain SGD keeps no state
    entries: Dict[str, dict] = {}
    expected = {}
    for tname, tensor in tensors.items():
        pname, _, key = tname[len(PREFIX):].rpartition(".")
        if pname not in params or key not in buffers:
            if buffers:
                expected = f"a model parameter or an {name} buffer {PREFIX}<parameter>.<{'|'.join(buffers)}>"
            else:
                expected = f"a model parameter ({optimizer!r} keeps no per-weight state)"
            fail(file, f"tensor {short_repr(tname)}", expected, "an unknown tensor")
        expected[tname] = tuple(params[pname].tensor_shape)
        entries.setdefault(pname, {})[key] = tensor.values
    check_tensors(tensors, expected, file)
    for pname, counts in spec["state"].items():
        if pname not in params:
            fail(file, "__metadata__['optimizer'] state", f"names of model parameters {list(params)}",
                 f"the unknown parameter {short_repr(pname)}")
        entries.setdefault(pname, {}).update(counts)
    wanted = set(buffers) | set(schema["counters"])
    for pname, entry in entries.items():
        if set(entry) != wanted:
            fail(file, f"optimizer state of {pname}", f"all of {sorted(wanted)}", f"only {sorted(entry)}")
    return {"class": name, "iterations": spec["iterations"], "state": entries}


def _decode_rng(value, file: str, field: str) -> tuple:
    """A ``random.Random`` state from its JSON form ``[version, [625 ints], gauss_next]``."""
    try:
        return rngstate.from_json(value)
    except ValueError as e:
        fail(file, field, rngstate.EXPECTED, str(e))


def _layer_rng_states(meta: Dict[str, str], model: Sequential, file: str):
    field = "__metadata__['layer_rng_states']"
    layers = dict(rngstate.layers_with_rng(model))
    saved = meta_json(meta, "layer_rng_states", file) if "layer_rng_states" in meta else {}
    if not isinstance(saved, dict):
        fail(file, field, "an object of layer index -> state", json_type(saved))
    wanted = sorted(str(i) for i in layers)
    if sorted(saved) != wanted:
        fail(file, field, f"states for exactly the layers {wanted} (those with their own generator)",
             f"states for {short_repr(sorted(saved))}")
    return [(layers[int(i)], _decode_rng(v, file, f"{field} {i}")) for i, v in saved.items()]


def _load_loss(meta: Dict[str, str], file: str) -> Optional[Loss]:
    if "loss" not in meta:
        return None
    field = "__metadata__['loss']"
    spec = meta_json(meta, "loss", file)
    if not isinstance(spec, dict) or set(spec) != {"class", "config"}:
        fail(file, field, 'an object with exactly the keys "class" and "config"', short_repr(spec))
    if not isinstance(spec["class"], str) or spec["class"] not in LOSSES:
        fail(file, f"{field} class", f"one of {sorted(LOSSES)}", f"the unknown loss {short_repr(spec['class'])}")
    config = spec["config"]
    if not isinstance(config, dict) or not all(plain_value(v) for v in config.values()):
        fail(file, f"{field} config", "an object of plain values", short_repr(config))
    try:
        return LOSSES[spec["class"]](**config)
    except Exception as e:  # whatever a constructor raises on a config it was never meant to see
        fail(file, f"{field} config", f"arguments {spec['class']} accepts", short_repr(str(e), 300))
