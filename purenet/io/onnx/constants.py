"""Constant folding for ONNX import: the values of nodes whose inputs are all
constants (``Constant`` nodes, and the small shape computations exporters
write: ``Shape`` -> ``Gather`` -> ``Unsqueeze`` -> ``Concat`` -> ``Reshape``).

A shape read from the data (``Shape``) holds :data:`BATCH` (None) for the
batch size, unknown until the model runs; it travels through these
operators and a ``Reshape`` of the data reads it as "keep the batch".

What this is not: an evaluator of tensors. It handles 1-D integer lists
and 2-D matrices (a weight written transposed), nothing larger.
"""

from typing import Callable, List, Optional

from ...errors import ModelFileError
from .decode import Node, Tensor

__all__ = ["BATCH", "evaluate"]

BATCH = None  # the batch size in a shape computed from the data
_FLOATS = {1, 10, 11, 16}  # float element types


def evaluate(node: Node, ins: List[Optional[Tensor]], attr: Callable, error: Callable[[str], ModelFileError]) -> Tensor:
    """The output of ``node`` given its constant inputs ``ins`` (None for an omitted one).

    ``attr(name, default)`` reads an attribute; ``error(text)`` makes the
    :class:`purenet.ModelFileError` that names the node.
    """
    try:
        result = _evaluate(node, ins, attr, error)
    except (IndexError, ZeroDivisionError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise error(f"cannot evaluate it on its constant inputs ({type(e).__name__}: {e}).") from None
    if result is None:
        raise error(f"operator {node.op} is read only where it computes the data chain's next value, "
                    "or shapes from constants.")
    return result


def _evaluate(node: Node, ins: List[Optional[Tensor]], attr, error) -> Optional[Tensor]:
    out, op = node.outputs[0], node.op
    if op == "Constant":
        return _constant_value(node, attr, error)
    if op in ("Identity", "Cast") and ins and ins[0] is not None:
        t = ins[0]
        values = t.values
        if op == "Cast":
            to = attr("to", 1)
            values = [v if v is BATCH else (float(v) if to in _FLOATS else int(v)) for v in values]
        return Tensor(out, t.dims, t.dtype, values)
    if op == "Gather" and len(ins) == 2 and None not in ins and len(ins[0].dims) == 1 and attr("axis", 0) == 0:
        data, idx = ins
        n = len(data.values)
        if any(not -n <= int(i) < n for i in idx.values):
            raise error(f"indices {idx.values} out of range for {n} values.")
        return Tensor(out, idx.dims, data.dtype, [data.values[int(i) % n] for i in idx.values])
    if op in ("Unsqueeze", "Squeeze") and ins and ins[0] is not None:
        t = ins[0]
        axes = list(ins[1].values) if len(ins) > 1 and ins[1] is not None else list(attr("axes", []))
        dims = list(t.dims)
        if op == "Unsqueeze":
            for a in sorted(a % (len(dims) + len(axes)) for a in axes):
                dims.insert(a, 1)
        else:
            keep = {a % len(dims) for a in axes} if axes else {i for i, d in enumerate(dims) if d == 1}
            dims = [d for i, d in enumerate(dims) if i not in keep]
        return Tensor(out, tuple(dims), t.dtype, t.values)
    if op == "Transpose" and len(ins) == 1 and ins[0] is not None and len(ins[0].dims) == 2 and \
            list(attr("perm", [1, 0])) == [1, 0]:
        t = ins[0]
        rows, cols = t.dims
        return Tensor(out, (cols, rows), t.dtype, [t.values[r * cols + c] for c in range(cols) for r in range(rows)])
    if op == "Concat" and ins and all(t is not None and len(t.dims) <= 1 for t in ins):
        values = [v for t in ins for v in t.values]
        return Tensor(out, (len(values),), ins[0].dtype, values)
    if op == "Reshape" and len(ins) == 2 and None not in ins and BATCH not in ins[0].values:
        t, shape = ins
        dims = [int(d) for d in shape.values]
        dims = [t.dims[i] if d == 0 and i < len(t.dims) else d for i, d in enumerate(dims)]
        if -1 in dims:
            known = 1
            for d in dims:
                known *= d if d != -1 else 1
            dims[dims.index(-1)] = len(t.values) // known if known else 0
        size = 1
        for d in dims:
            size *= d
        if size != len(t.values) or min(dims, default=0) < 0:
            raise error(f"cannot reshape {len(t.values)} values to {dims}.")
        return Tensor(out, tuple(dims), t.dtype, t.values)
    return None


def _constant_value(node: Node, attr, error) -> Tensor:
    out = node.outputs[0]
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if name in node.attrs:
            v = attr(name, None)
            if isinstance(v, Tensor):
                return Tensor(out, v.dims, v.dtype, v.values)
            if isinstance(v, list):
                return Tensor(out, (len(v),), "float32" if "float" in name else "int64", v)
            return Tensor(out, (), "float32" if "float" in name else "int64", [v])
    raise error(f"expected a value attribute (value, value_float(s), value_int(s)); Received: {sorted(node.attrs)}.")
