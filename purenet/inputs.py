"""Where data enters purenet: checking it and serving it one batch at a time.

``fit``, ``evaluate``, ``predict`` and friends accept images or features as
an image collection (:class:`purenet.datasets.ImageSet`, bytes-backed), a
:class:`Matrix`, or a list of rows (flat images or feature vectors). A row
given as ``bytes`` / ``bytearray`` is an 8-bit image and means what the
image collection means: each byte ``b`` becomes ``b / 255``, in [0, 1]. This
module checks them once, where they come in, and raises ``ValueError`` /
``TypeError`` saying what was expected and what was received; afterwards
batches are cut without further checks. An image collection stays bytes and
is converted to floats one batch at a time, so a large dataset never exists
as Python floats all at once.
"""

import math
from numbers import Integral, Real
from typing import List, Sequence

from .losses import targets_matrix
from .matrix import Matrix

__all__ = ["as_inputs", "as_targets", "Inputs", "Targets"]


class Inputs:
    """Samples that can be cut into batches: ``len(inputs)``, ``inputs.batch(indices)``."""

    def __init__(self, source, count: int, features: int):
        self._source = source
        self.count = count
        self.features = features

    def __len__(self) -> int:
        return self.count

    def batch(self, indices: Sequence[int]) -> Matrix:
        src = self._source
        if isinstance(src, Matrix):
            return src.take_rows(indices)
        return src.take(indices).to_matrix()

    def range(self, start: int, stop: int) -> Matrix:
        src = self._source
        if isinstance(src, Matrix):
            return src[start:stop]
        return src[start:stop].to_matrix()


def _is_image_set(x) -> bool:
    return hasattr(x, "take") and hasattr(x, "to_matrix") and hasattr(x, "image_shape")


def as_inputs(x, features: int, what: str = "inputs") -> Inputs:
    """Check ``x`` holds samples of ``features`` values each; return batchable :class:`Inputs`."""
    if _is_image_set(x):
        size = 1
        for s in x.image_shape:
            size *= s
        if size != features:
            raise ValueError(
                f"{what}: the model expects samples of {features} values; Received images of shape "
                f"{tuple(x.image_shape)} ({size} values)."
            )
        if len(x) == 0:
            raise ValueError(f"{what}: expected at least one sample; Received an empty image collection.")
        return Inputs(x, len(x), features)
    if isinstance(x, Matrix):
        m = x
    elif isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"{what}: expected at least one sample; Received an empty list.")
        if isinstance(x[0], Real) and not isinstance(x[0], bool):
            raise ValueError(
                f"{what}: expected a list of samples (rows of {features} values); Received a flat list of "
                f"{len(x)} numbers. Wrap a single sample as [sample]."
            )
        kinds = {isinstance(r, (bytes, bytearray)) for r in x}
        if kinds == {True, False}:
            raise TypeError(
                f"{what}: expected rows all of one kind; Received a mix of bytes rows (8-bit pixels, read as "
                "byte / 255) and rows of numbers. Convert one kind to the other first."
            )
        if True in kinds:
            # imported here: the data package imports the model's modules at import time
            from .datasets.images import _to_floats  # byte -> byte / 255, the image collection's conversion

            rows = [_to_floats(r) for r in x]
        else:
            rows = x
        try:
            m = Matrix(rows)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{what}: {e}") from None
    else:
        raise TypeError(
            f"{what}: expected an image collection, a Matrix or a list of rows; Received: {type(x).__name__}."
        )
    if m.cols != features:
        raise ValueError(f"{what}: the model expects samples of {features} values; Received rows of {m.cols} (shape {m.shape}).")
    if not all(map(math.isfinite, m.data)):
        bad = next(i for i, v in enumerate(m.data) if not math.isfinite(v))
        raise ValueError(
            f"{what}: expected finite numbers; Received {m.data[bad]!r} in sample {bad // m.cols}, value {bad % m.cols}."
        )
    return Inputs(m, m.rows, features)


class Targets:
    """Labels or target rows that can be cut into batches like :class:`Inputs`."""

    def __init__(self, source, count: int):
        self._source = source
        self.count = count
        self.labels = None if isinstance(source, Matrix) else source

    def __len__(self) -> int:
        return self.count

    def batch(self, indices: Sequence[int]):
        src = self._source
        if isinstance(src, Matrix):
            return src.take_rows(indices)
        return [src[i] for i in indices]

    def range(self, start: int, stop: int):
        src = self._source
        return src[start:stop]

    def classes(self, indices: Sequence[int]) -> List[int]:
        """The class of each sample (argmax of target rows for one-hot/soft targets)."""
        src = self._source
        if isinstance(src, Matrix):
            return src.take_rows(indices).argmax(axis=1) if src.cols > 1 else [int(v > 0.5) for v in src.take_rows(indices).data]
        return [src[i] for i in indices]


def as_targets(y, count: int, outputs: int, what: str = "labels") -> Targets:
    """Check ``y`` gives one target per sample for a model with ``outputs`` outputs."""
    if isinstance(y, (bytes, bytearray)):
        y = list(y)
    if isinstance(y, (list, tuple, range)) and y and all(isinstance(t, Integral) and not isinstance(t, bool) for t in y):
        labels = [int(t) for t in y]
        if len(labels) != count:
            raise ValueError(f"{what}: expected {count} labels, one per sample; Received: {len(labels)}.")
        classes = outputs if outputs > 1 else 2
        bad = [t for t in labels if not 0 <= t < classes]
        if bad:
            raise ValueError(
                f"{what}: expected class labels in [0, {classes - 1}] for a model with {outputs} output"
                f"{'s' if outputs > 1 else ''}; Received: {bad[0]}"
                + (f" (and {len(bad) - 1} more out of range)." if len(bad) > 1 else ".")
            )
        return Targets(labels, count)
    if isinstance(y, (list, tuple)) and not y:
        raise ValueError(f"{what}: expected {count} labels; Received an empty list.")
    return Targets(targets_matrix(y, count, outputs, what), count)
