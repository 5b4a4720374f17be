"""The PyTorch bridge: ``pn.to_torch(model)`` and ``pn.from_torch(module, input_shape)``::

    torch_model = pn.to_torch(model)                        # an nn.Sequential, same weights and buffers
    model = pn.from_torch(torch_model, input_shape=(1, 28, 28))

docs/pytorch.md shows both at work (run by the test suite).

A purenet ``Sequential`` and an ``nn.Sequential`` of the equivalent modules
hold the same tensors under the same names (``"0.weight"``, a conv weight
``(F, C, KH, KW)``, BatchNorm's ``running_mean``...), so moving a model is
building the other side's layers one by one and copying the ``state_dict``.
One purenet layer is one PyTorch module, so the names stay the same both
ways (``GlobalAvgPool2D`` becomes a nested ``nn.Sequential(
nn.AdaptiveAvgPool2d(1), nn.Flatten())``, and a Softmax over ``(C, H, W)``
samples ``nn.Sequential(nn.Flatten(), nn.Softmax(dim=1), nn.Unflatten(...))``;
``from_torch`` reads those pairs nested or not).

The two tables below (:data:`TO_TORCH`, :data:`FROM_TORCH`) say how each
layer and module crosses, one entry each. An entry for a layer purenet
does not have (it names the layer through :func:`_builtin`) is simply
unusable until the layer exists: ``from_torch`` then says so.

torch is imported inside the two functions only; without it they raise an
``ImportError`` that says how to install it. What this module is not: a
converter of arbitrary PyTorch code (only an ``nn.Sequential`` of the
modules in :data:`FROM_TORCH`), nor of training state (optimizers stay on
their side).
"""

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..layers import BUILTIN_LAYERS, LAYERS, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh
from ..layers import layer_name

__all__ = ["to_torch", "from_torch", "TO_TORCH", "FROM_TORCH"]

Shape = Tuple[int, ...]


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "pn.to_torch / pn.from_torch need PyTorch, which is not installed here (purenet itself never needs "
            f"it): pip install torch. ({e})"
        ) from None
    return torch


def _builtin(name: str) -> Optional[type]:
    """purenet's own layer ``name``, or None if this purenet has none (a user's
    registered layer of that name does not count)."""
    return LAYERS.get(name) if name in BUILTIN_LAYERS else None


def _pair(v) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _compact(v):
    """A pair of equal sides as one int, as people write ``Conv2D(8, 3)``."""
    v = _pair(v)
    return v[0] if v[0] == v[1] else v


# ------------------------------------------------------------ purenet -> torch
# layer name -> (config, input shape, torch.nn) -> module. Configs leave out defaults, hence .get.
def _softmax_to_torch(cfg, shape, nn):
    if len(shape) == 1:
        return nn.Softmax(dim=1)
    return nn.Sequential(nn.Flatten(), nn.Softmax(dim=1), nn.Unflatten(1, tuple(shape)))  # over a whole sample


def _arg(v):
    """A config value as a torch argument: JSON's lists are tuples; ints stay ints."""
    return tuple(v) if isinstance(v, list) else v


TO_TORCH: Dict[str, Callable] = {
    "Dense": lambda cfg, shape, nn: nn.Linear(shape[0], cfg["units"], bias=cfg.get("use_bias", True)),
    "Conv2D": lambda cfg, shape, nn: nn.Conv2d(
        shape[0], cfg["filters"], _arg(cfg["kernel_size"]), stride=_arg(cfg.get("stride", 1)),
        padding=_arg(cfg.get("padding", 0)), bias=cfg.get("use_bias", True)),
    "MaxPool2D": lambda cfg, shape, nn: nn.MaxPool2d(_arg(cfg["pool_size"]), stride=_arg(cfg.get("stride"))),
    "Flatten": lambda cfg, shape, nn: nn.Flatten(),
    "ReLU": lambda cfg, shape, nn: nn.ReLU(),
    "Sigmoid": lambda cfg, shape, nn: nn.Sigmoid(),
    "Tanh": lambda cfg, shape, nn: nn.Tanh(),
    "Softmax": _softmax_to_torch,
    "Dropout": lambda cfg, shape, nn: nn.Dropout(cfg.get("rate", 0.5)),
    "LeakyReLU": lambda cfg, shape, nn: nn.LeakyReLU(cfg.get("negative_slope", 0.01)),
    "BatchNorm1D": lambda cfg, shape, nn: nn.BatchNorm1d(
        shape[0], eps=cfg.get("eps", 1e-5), momentum=cfg.get("momentum", 0.1)),
    "BatchNorm2D": lambda cfg, shape, nn: nn.BatchNorm2d(
        shape[0], eps=cfg.get("eps", 1e-5), momentum=cfg.get("momentum", 0.1)),
    "AvgPool2D": lambda cfg, shape, nn: nn.AvgPool2d(
        _arg(cfg["pool_size"]), stride=_arg(cfg.get("stride")), padding=_arg(cfg.get("padding", 0)),
        count_include_pad=True),
    "GlobalAvgPool2D": lambda cfg, shape, nn: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
}


def to_torch(model, dtype=None):
    """The ``torch.nn.Sequential`` equivalent to ``model``, with its weights and buffers.

    Module ``i`` computes what layer ``i`` computes, and the ``state_dict``
    names are the same (``"0.weight"``, ``"1.running_mean"``...), so
    ``to_torch(model).state_dict()`` holds ``model.state_dict()``'s values.

    Args:
        model: a built :class:`purenet.Sequential` of layers in :data:`TO_TORCH`.
        dtype: the floating-point dtype of the weights (default ``torch.float64``:
            purenet's values exactly; ``.float()`` gives PyTorch's usual float32).
            Counters (``num_batches_tracked``) are ``torch.int64``.

    Returns:
        The ``nn.Sequential``, in training mode as every new PyTorch module
        (call ``.eval()`` to predict: Dropout and BatchNorm differ).

    Raises:
        ImportError: torch is not installed.
        ValueError: a layer has no PyTorch equivalent here.
    """
    torch = _torch()
    from ..model import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch expects a purenet Sequential; Received: {type(model).__name__}.")
    if not model.built:
        raise ValueError("to_torch: the model is not built: give input_shape to Sequential(...) or call model.build(shape).")
    dtype = torch.float64 if dtype is None else dtype
    nn = torch.nn
    modules = []
    shape = tuple(model.input_shape)
    for i, layer in enumerate(model.layers):
        name = layer_name(layer)
        make = TO_TORCH.get(name) if name in BUILTIN_LAYERS else None
        if make is None:
            raise ValueError(
                f"to_torch: layer {i} ({type(layer).__name__}): expected one of the layers with a PyTorch "
                f"equivalent {sorted(n for n in TO_TORCH if _builtin(n))}; Received: {layer!r}."
            )
        module = make(layer.get_config(), shape, nn).to(dtype)
        state = {}
        for key, t in list(layer.named_parameters()) + list(layer.named_buffers()):
            if getattr(t, "dtype", None) == "I64":
                state[key] = torch.tensor([int(v) for v in t.data], dtype=torch.int64).reshape(t.tensor_shape)
            else:
                state[key] = torch.tensor(t.data, dtype=dtype).reshape(t.tensor_shape)
        if state or module.state_dict():
            module.load_state_dict(state, strict=True)
        modules.append(module)
        shape = tuple(layer.output_shape)
    return nn.Sequential(*modules)


# ------------------------------------------------------------ torch -> purenet
def _from_linear(m, shape):
    if len(shape) != 1 or m.in_features != shape[0]:
        raise ValueError(f"expected in_features {shape[0] if len(shape) == 1 else shape} (what reaches it); "
                         f"Received: in_features={m.in_features}")
    return Dense(m.out_features, use_bias=m.bias is not None)


def _from_conv(m, shape):
    if len(shape) != 3 or m.in_channels != shape[0]:
        raise ValueError(f"expected in_channels {shape[0]} of the (C, H, W) = {shape} reaching it; "
                         f"Received: in_channels={m.in_channels}")
    if tuple(m.dilation) != (1, 1) or m.groups != 1 or m.padding_mode != "zeros":
        raise ValueError("expected dilation 1, groups 1 and padding_mode 'zeros' (what purenet's Conv2D computes); "
                         f"Received: dilation={m.dilation}, groups={m.groups}, padding_mode={m.padding_mode!r}")
    padding = m.padding if isinstance(m.padding, str) else _compact(m.padding)
    return Conv2D(m.out_channels, _compact(m.kernel_size), stride=_compact(m.stride), padding=padding,
                  use_bias=m.bias is not None)


def _from_maxpool(m, shape):
    if _pair(m.padding) != (0, 0) or _pair(m.dilation) != (1, 1) or m.ceil_mode or m.return_indices:
        raise ValueError("expected padding 0, dilation 1, ceil_mode=False (what purenet's MaxPool2D computes); "
                         f"Received: padding={m.padding}, dilation={m.dilation}, ceil_mode={m.ceil_mode}")
    stride = None if _pair(m.stride) == _pair(m.kernel_size) else _compact(m.stride)
    return MaxPool2D(_compact(m.kernel_size), stride=stride)


def _from_flatten(m, shape):
    if m.start_dim != 1 or m.end_dim != -1:
        raise ValueError(f"expected Flatten(start_dim=1, end_dim=-1); Received: start_dim={m.start_dim}, end_dim={m.end_dim}")
    return Flatten()


def _from_softmax(m, shape):
    if len(shape) != 1 or m.dim not in (1, -1):
        raise ValueError(f"expected Softmax(dim=1) over flat features; Received: dim={m.dim} on samples of shape {shape}")
    return Softmax()


def _from_batchnorm(name, dims):
    def build(m, shape):
        cls = _builtin(name)
        if cls is None:
            raise ValueError(f"expected a module this purenet has a layer for; Received: a module for purenet's {name}, "
                             "which this version of purenet does not have")
        if len(shape) != dims or m.num_features != shape[0]:
            raise ValueError(f"expected num_features {shape[0]} on samples of {dims} dimension(s) ({shape}); "
                             f"Received: num_features={m.num_features}")
        if not m.affine or not m.track_running_stats:
            raise ValueError("expected affine=True and track_running_stats=True (what purenet's "
                             f"{name} computes); Received: affine={m.affine}, "
                             f"track_running_stats={m.track_running_stats}, momentum={m.momentum}")
        return cls(momentum=m.momentum, eps=m.eps)

    return build


def _from_avgpool(m, shape):
    cls = _builtin("AvgPool2D")
    if cls is None:
        raise ValueError("expected a module this purenet has a layer for; Received: a module for purenet's AvgPool2D, "
                         "which this version of purenet does not have")
    if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
        raise ValueError("expected ceil_mode=False, count_include_pad=True, divisor_override=None (what purenet's "
                         f"AvgPool2D computes); Received: ceil_mode={m.ceil_mode}, "
                         f"count_include_pad={m.count_include_pad}, divisor_override={m.divisor_override}")
    stride = None if _pair(m.stride) == _pair(m.kernel_size) else _compact(m.stride)
    return cls(_compact(m.kernel_size), stride=stride, padding=_compact(m.padding))


def _from_leaky_relu(m, shape):
    cls = _builtin("LeakyReLU")
    if cls is None:
        raise ValueError("expected a module this purenet has a layer for; Received: a module for purenet's LeakyReLU, "
                         "which this version of purenet does not have")
    return cls(negative_slope=m.negative_slope)


def _from_global_avg_pool(modules, shape):
    cls = _builtin("GlobalAvgPool2D")
    if cls is None:
        raise ValueError("expected a module this purenet has a layer for; Received: a module for purenet's GlobalAvgPool2D, "
                         "which this version of purenet does not have")
    return cls()


#: torch module class name -> (module, input shape) -> purenet layer; raises ValueError
#: (what was expected; Received: ...) for settings the purenet layer does not compute.
FROM_TORCH: Dict[str, Callable] = {
    "Linear": _from_linear,
    "Conv2d": _from_conv,
    "MaxPool2d": _from_maxpool,
    "Flatten": _from_flatten,
    "ReLU": lambda m, shape: ReLU(),
    "Sigmoid": lambda m, shape: Sigmoid(),
    "Tanh": lambda m, shape: Tanh(),
    "Softmax": _from_softmax,
    "Dropout": lambda m, shape: Dropout(m.p),
    "LeakyReLU": _from_leaky_relu,
    "BatchNorm1d": _from_batchnorm("BatchNorm1D", 1),
    "BatchNorm2d": _from_batchnorm("BatchNorm2D", 3),
    "AvgPool2d": _from_avgpool,
}


def _is_global_pool(m) -> bool:
    return type(m).__name__ == "AdaptiveAvgPool2d" and _pair(m.output_size) == (1, 1)


def _flat_modules(module, nn) -> list:
    """The leaf modules of nested ``nn.Sequential`` s, in order."""
    out = []
    for m in module:
        out += _flat_modules(m, nn) if isinstance(m, nn.Sequential) else [m]
    return out


def from_torch(module, input_shape: Sequence[int], seed: int = 0):
    """A purenet model equivalent to a ``torch.nn.Sequential``, with its weights and buffers.

    Args:
        module: an ``nn.Sequential`` of the modules in :data:`FROM_TORCH`
            (nested ``nn.Sequential`` s are read in order;
            ``AdaptiveAvgPool2d(1)`` followed by ``Flatten()`` is one
            ``GlobalAvgPool2D``).
        input_shape: one sample's shape, ``(C, H, W)`` or ``(features,)``
            (PyTorch modules do not record it).
        seed: the new model's seed (its shuffling and dropout masks).

    Returns:
        A built :class:`purenet.Sequential` whose predictions are the module's
        in ``eval()`` mode (to rounding: within 1e-9 from float64 weights).

    Raises:
        ImportError: torch is not installed.
        TypeError: ``module`` is not an ``nn.Sequential``.
        ValueError: a module purenet has no equivalent for, or settings it
            does not compute; the message names the module and its index.
    """
    torch = _torch()
    from ..model import Sequential, _check_shape

    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch expects a torch.nn.Sequential; Received: {type(module).__name__}.")
    shape = _check_shape(input_shape)
    leaves = _flat_modules(module, nn)
    groups: List[Tuple[list, Layer]] = []
    i = 0
    while i < len(leaves):
        m = leaves[i]
        kind = type(m).__name__
        try:
            if _is_global_pool(m) and i + 1 < len(leaves) and type(leaves[i + 1]).__name__ == "Flatten":
                group, layer = [m, leaves[i + 1]], _from_global_avg_pool([m, leaves[i + 1]], shape)
            elif kind == "Flatten" and len(shape) == 3 and i + 2 < len(leaves) and _is_whole_softmax(leaves[i:i + 3], shape):
                group, layer = leaves[i : i + 3], Softmax()
            elif kind in FROM_TORCH:
                group, layer = [m], FROM_TORCH[kind](m, shape)
            else:
                raise ValueError(
                    f"expected one of the supported modules {sorted(FROM_TORCH) + ['AdaptiveAvgPool2d(1) + Flatten']}; "
                    f"Received: {m!r}"
                )
            out = layer.compute_output_shape(shape)
        except ValueError as e:
            raise ValueError(f"from_torch: module {i} ({m!r}): {str(e).rstrip('.')}.") from None
        groups.append((group, layer))
        shape = tuple(out)
        i += len(group)
    model = Sequential([layer for _, layer in groups], input_shape=input_shape, seed=seed)
    for index, (group, layer) in enumerate(groups):
        _copy_state(group, layer, index, torch)
    return model


def _is_whole_softmax(three, shape) -> bool:
    """Flatten, Softmax(dim=1), Unflatten(1, shape): what to_torch writes for a Softmax over (C, H, W)."""
    flatten, softmax, unflatten = three
    return (
        type(softmax).__name__ == "Softmax" and softmax.dim in (1, -1) and type(unflatten).__name__ == "Unflatten"
        and unflatten.dim == 1 and tuple(unflatten.unflattened_size) == tuple(shape)
        and flatten.start_dim == 1 and flatten.end_dim == -1
    )


def _copy_state(group, layer: Layer, index: int, torch) -> None:
    """Copy the modules' tensors into the layer's parameters and buffers (same names)."""
    state = {}
    for m in group:
        state.update(m.state_dict())
    targets = dict(list(layer.named_parameters()) + list(layer.named_buffers()))
    if set(state) != set(targets):
        raise ValueError(
            f"from_torch: module {index} ({group[0]!r}): expected the tensors {sorted(targets)}; "
            f"Received: {sorted(state)}."
        )
    for key, t in targets.items():
        value = state[key].detach()
        if tuple(value.shape) != tuple(t.tensor_shape):
            raise ValueError(f"from_torch: {index}.{key}: expected shape {tuple(t.tensor_shape)}; "
                             f"Received: {tuple(value.shape)}.")
        t.assign([float(v) for v in value.to(torch.float64).reshape(-1).tolist()])
