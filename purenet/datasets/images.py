"""A compact, bytes-backed collection of uint8 images.

    >>> images = ImageSet(bytes([0, 255, 51, 102]), image_shape=(1, 2, 2))
    >>> images.shape
    (1, 1, 2, 2)
    >>> images[0]
    [0.0, 1.0, 0.2, 0.4]

What this file is for: keeping a dataset as one byte per pixel (full MNIST
is 47 MB this way, well over 1 GB as Python floats) and turning a batch into
a ``Matrix`` of floats in [0, 1] only when it is needed. Legend: N images,
C channels, H height, W width; each image is stored flattened channel-first
(``C*H*W`` bytes, the order of PyTorch's NCHW ``flatten``).

What it is not: no augmentation, normalisation beyond ``/ 255``, labels or
file I/O (see ``idx.py`` and ``mnist.py``).
"""

import operator
from typing import TYPE_CHECKING, Iterable, Iterator, List, Tuple, Union

if TYPE_CHECKING:  # pragma: no cover
    from purenet.matrix import Matrix

__all__ = ["ImageSet"]

# byte -> byte / 255, computed once. The conversion is the hot path of every
# batch: indexing shared float objects avoids a division and a float
# allocation per pixel, and b / 255 is correctly rounded. A list, not a
# tuple: list indexing is the faster of the two.
_LUT = [b / 255.0 for b in range(256)]


def _to_floats(pixels: bytes) -> List[float]:
    # Measured per batch of 32 MNIST images: this comprehension 0.24 ms on
    # CPython 3.11 and 0.02 ms on PyPy, versus 0.36 / 0.08 ms for
    # list(map(_LUT.__getitem__, pixels)) (which is ~15% faster on 3.9 only).
    lut = _LUT
    return [lut[b] for b in pixels]


class ImageSet:
    """``N`` uint8 images of shape ``(C, H, W)``, backed by one ``bytes`` object.

    Args:
        data: ``N*C*H*W`` bytes, image after image, each flattened
            channel-first.
        image_shape: ``(C, H, W)`` of every image.

    Shape:
        ``shape`` is ``(N, C, H, W)``; ``images[i]`` is a flat list of
        ``C*H*W`` floats; ``to_matrix()`` is a ``(N, C*H*W)`` Matrix.

    Example:
        >>> images = ImageSet(bytes(range(12)), image_shape=(1, 2, 3))
        >>> len(images), images.image_shape
        (2, (1, 2, 3))
        >>> images.pixels(1)
        b'\\x06\\x07\\x08\\t\\n\\x0b'
        >>> images[::-1].pixels(0) == images.pixels(1)
        True
    """

    __slots__ = ("_data", "_image_shape", "_image_size", "_n")

    def __init__(
        self,
        data: Union[bytes, bytearray, memoryview],
        image_shape: Tuple[int, int, int] = (1, 28, 28),
    ) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                "ImageSet expected data as bytes (one uint8 per pixel). "
                f"Received: {type(data).__name__}"
            )
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in image_shape
        ):
            raise ValueError(
                "ImageSet expected image_shape as (C, H, W), three positive ints. "
                f"Received: {image_shape!r}"
            )
        size = image_shape[0] * image_shape[1] * image_shape[2]
        if len(data) % size:
            raise ValueError(
                f"ImageSet expected a multiple of {size} bytes (C*H*W for "
                f"image_shape {image_shape}). Received: {len(data)} bytes."
            )
        self._data = bytes(data)  # no copy when it already is bytes
        self._image_shape = image_shape
        self._image_size = size
        self._n = len(data) // size

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return self._image_shape

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """``(N, C, H, W)``."""
        return (self._n,) + self._image_shape

    @property
    def data(self) -> bytes:
        """All pixels, ``N*C*H*W`` bytes, image after image."""
        return self._data

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        c, h, w = self._image_shape
        return f"ImageSet(n={self._n}, image_shape=({c}, {h}, {w}))"

    def __getitem__(self, key: Union[int, slice]) -> Union[List[float], "ImageSet"]:
        """``images[i]`` -> flat list of ``C*H*W`` floats in [0, 1];
        ``images[a:b:s]`` -> ImageSet (contiguous slices copy one block)."""
        if isinstance(key, slice):
            start, stop, step = key.indices(self._n)
            if step == 1:
                size = self._image_size
                return ImageSet(
                    self._data[start * size : max(start, stop) * size], self._image_shape
                )
            return self.take(range(start, stop, step))
        return _to_floats(self.pixels(key))

    def __iter__(self) -> Iterator[List[float]]:
        """Yield each image as a flat list of floats. For training, convert
        batches with ``images[i:i + 32].to_matrix()`` instead: it is faster."""
        size = self._image_size
        data = self._data
        for start in range(0, len(data), size):
            yield _to_floats(data[start : start + size])

    def pixels(self, index: int) -> bytes:
        """The raw ``C*H*W`` bytes of one image (negative indices count from the end)."""
        i = self._check_index(index, allow_negative=True)
        size = self._image_size
        return self._data[i * size : (i + 1) * size]

    def take(self, indices: Iterable[int]) -> "ImageSet":
        """A new ImageSet of the images at ``indices``, in that order.

        Repeats are allowed. Negative or out-of-range indices raise
        ``IndexError``: an index array from a shuffle or a filter that holds
        a negative number is a bug, not a request to count from the end.
        """
        size = self._image_size
        data = self._data
        check = self._check_index
        parts = []
        for index in indices:
            i = check(index, allow_negative=False)
            parts.append(data[i * size : (i + 1) * size])
        return ImageSet(b"".join(parts), self._image_shape)

    def to_matrix(self) -> "Matrix":
        """All images as a ``(N, C*H*W)`` Matrix of floats in [0, 1] (byte / 255).

        Meant for batches (``images[i:i + 32].to_matrix()``): the whole of
        MNIST as floats would not fit comfortably in memory.
        """
        # Imported here so that the data package does not depend on the
        # compute core at import time.
        from purenet.matrix import Matrix

        return Matrix.from_flat(_to_floats(self._data), self._n, self._image_size)  # (N, C*H*W)

    def _check_index(self, index: int, allow_negative: bool) -> int:
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(
                "ImageSet indices must be integers or slices. "
                f"Received: {type(index).__name__}"
            ) from None
        if allow_negative and i < 0:
            i += self._n
        if not 0 <= i < self._n:
            low = -self._n if allow_negative else 0
            raise IndexError(
                f"ImageSet index out of range: expected {low} <= index < {self._n}. "
                f"Received: {index}"
            )
        return i
