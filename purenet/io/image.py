"""``Image``: a decoded picture, 8 bits per sample, channels interleaved.

    >>> image = Image(2, 1, 3, bytes([255, 0, 0,  0, 0, 255]))   # red, blue
    >>> image
    Image(width=2, height=1, channels=3)
    >>> list(image.to_gray().pixels)
    [76, 29]
    >>> Image.from_gray(2, 1, [0.0, 1.0]).pixels
    b'\\x00\\xff'

What this file is for: the one in-memory form every image reader in
:mod:`purenet.io` returns and every writer takes, and the conversion to the
single gray channel a digit classifier needs. Legend: W width, H height,
C channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA); ``pixels`` holds
``H*W*C`` bytes, row after row, each pixel's samples next to each other
(PNG's own order, not the channel-first order of a ``Matrix`` row: a gray
image is the same either way).

What it is not: no drawing, resizing or colour management (gamma, ICC
profiles and the like are ignored). Resizing a digit for the network is
:func:`purenet.preprocess`'s job.
"""

import math
import os
from numbers import Real
from typing import Callable, Iterable, NoReturn, Tuple, Union

from ..errors import ImageError

__all__ = ["Image", "MAX_SIDE", "MAX_PIXELS", "MAX_FILE_BYTES"]

PathLike = Union[str, "os.PathLike[str]"]
Source = Union[PathLike, bytes, bytearray, memoryview]

#: Largest width or height a reader accepts, checked before anything is allocated.
MAX_SIDE = 16_384
#: Largest ``width * height`` a reader accepts: a 50-megapixel phone photo
#: (8160 x 6120) passes. A file a few kilobytes long can legitimately
#: declare that much (a zlib stream of zeros, a JPEG of flat blocks), so
#: this limit is what bounds a "decompression bomb": read at full size, the
#: largest RGB image takes 156 MB (twice that while the reader hands it
#: over); read with ``min_side`` (as ``purenet predict`` does), JPEG and
#: PNG readers reduce it as they decode and hold little more than the result.
MAX_PIXELS = 52_000_000

#: Largest image file read, in bytes: room for a 12-megapixel 16-bit RGBA PNG
#: stored without compression.
MAX_FILE_BYTES = 128 * 1024 * 1024

MODES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}

# Integer weights of ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, in
# thousandths so that the conversion is exact integer arithmetic (the same
# bytes on every interpreter).
_R, _G, _B = 299, 587, 114


def _luma(r: bytes, g: bytes, b: bytes) -> bytes:
    return bytes([(_R * x + _G * y + _B * z + 500) // 1000 for x, y, z in zip(r, g, b)])


def _over_white(gray: bytes, alpha: bytes) -> bytes:
    # out = gray * a + white * (1 - a), with a = alpha / 255, rounded to nearest
    return bytes([(v * a + 255 * (255 - a) + 127) // 255 for v, a in zip(gray, alpha)])


class Image:
    """A ``W x H`` image with ``C`` 8-bit channels.

    Args:
        width, height: positive ints.
        channels: 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).
        pixels: ``H*W*C`` bytes, rows top to bottom, pixels left to right,
            each pixel's channels together (``R G B A R G B A ...``).

    Shape:
        ``pixels[(y * W + x) * C + c]`` is channel ``c`` of the pixel in
        row ``y``, column ``x``.

    Example:
        >>> image = Image(1, 2, 2, bytes([0, 255, 0, 0]))   # opaque black, transparent
        >>> image.mode, image.size
        ('gray+alpha', (1, 2))
        >>> list(image.to_gray().pixels)                    # transparent reads as white paper
        [0, 255]
    """

    __slots__ = ("width", "height", "channels", "pixels")

    def __init__(
        self, width: int, height: int, channels: int, pixels: Union[bytes, bytearray, memoryview]
    ) -> None:
        for what, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Image {what} must be a positive int. Received: {value!r}")
        if channels not in MODES or isinstance(channels, bool):
            raise ValueError(
                "Image channels must be 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA). "
                f"Received: {channels!r}"
            )
        if not isinstance(pixels, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"Image pixels must be bytes (one byte per sample). Received: {type(pixels).__name__}"
            )
        expected = width * height * channels
        if len(pixels) != expected:
            raise ValueError(
                f"Image of {width}x{height} with {channels} channel(s) needs {expected} bytes "
                f"of pixels. Received: {len(pixels)} bytes."
            )
        self.width: int = width
        self.height: int = height
        self.channels: int = channels
        self.pixels: bytes = bytes(pixels)

    @property
    def size(self) -> tuple:
        """``(width, height)``."""
        return (self.width, self.height)

    @property
    def mode(self) -> str:
        """``"gray"``, ``"gray+alpha"``, ``"RGB"`` or ``"RGBA"``."""
        return MODES[self.channels]

    def __repr__(self) -> str:
        return f"Image(width={self.width}, height={self.height}, channels={self.channels})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return (self.width, self.height, self.channels, self.pixels) == (
            other.width, other.height, other.channels, other.pixels,
        )

    def to_gray(self) -> "Image":
        """This image with one channel: ITU-R 601 luma, alpha composited over white.

        ``Y = 0.299 R + 0.587 G + 0.114 B`` (the weights of ITU-R BT.601,
        the common "convert to grayscale" formula), rounded to the nearest
        integer. Transparent pixels become white because a drawing program
        usually puts ink on a transparent canvas: read as ink on paper, that
        image is a dark digit on a light background, which
        :func:`purenet.preprocess` then inverts like any scanned page.
        (Compositing over black would turn the whole canvas, ink included,
        into one black square whenever the ink is dark.)

        A gray image without alpha is returned as it is (the same object).
        """
        p, c = self.pixels, self.channels
        if c == 1:
            return self
        if c == 2:
            gray = _over_white(p[0::2], p[1::2])
        elif c == 3:
            gray = _luma(p[0::3], p[1::3], p[2::3])
        else:
            gray = _over_white(_luma(p[0::4], p[1::4], p[2::4]), p[3::4])
        return Image(self.width, self.height, 1, gray)

    @classmethod
    def from_gray(cls, width: int, height: int, values: Iterable[Real]) -> "Image":
        """A gray image from ``W*H`` values in row-major order.

        ``values`` are numbers in [0, 1] (0 black, 1 white: a ``Matrix``
        row, an ``ImageSet`` image, a preprocessed digit), each scaled by
        255 and rounded; or a ``bytes``/``bytearray`` of ``W*H`` samples
        0..255, taken as they are. A number outside [0, 1] (or NaN) raises
        ``ValueError`` instead of being clipped: it is usually a 0..255
        list passed where 0..1 was meant.

        Example:
            >>> Image.from_gray(3, 1, [0, 0.5, 1]).pixels
            b'\\x00\\x80\\xff'
        """
        if isinstance(values, (bytes, bytearray, memoryview)):
            return cls(width, height, 1, values)
        samples = []
        append = samples.append
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, Real) or not 0.0 <= v <= 1.0:
                raise ValueError(
                    "Image.from_gray expects numbers in [0, 1] (or bytes 0..255). "
                    f"Received: {v!r} at index {i}."
                )
            append(math.floor(v * 255.0 + 0.5))
        return cls(width, height, 1, bytes(samples))


# ------------------------------------------------- shared by the readers
def load_source(source: Source) -> Tuple[bytes, str]:
    """``(the file's bytes, a label for error messages)`` from a path or bytes.

    A file over :data:`MAX_FILE_BYTES` raises :class:`ImageError` (checked
    before reading a regular file; a pipe or device such as ``/dev/zero`` is
    read up to the limit, never forever).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path or the file's bytes. Received: {type(source).__name__}")
    path = os.fspath(source)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size  # 0 for a pipe or a device
        data = b"" if size > MAX_FILE_BYTES else _read_at_most(f, size, MAX_FILE_BYTES + 1)
    if size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        found = f"{size:,} bytes" if size > MAX_FILE_BYTES else "more than that"
        raise ImageError(f"cannot read image {path!r}: expected a file of at most {MAX_FILE_BYTES:,} bytes. "
                         f"Received: {found}.")
    return data, repr(path)


def _read_at_most(f, size: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``f``, whose size is ``size`` if it is a regular file:
    read in one go then, and in pieces otherwise (``f.read(limit)`` would allocate
    ``limit`` bytes up front)."""
    data = f.read(size + 1) if size else b""
    if size and len(data) <= size:
        return data
    chunks = [data]
    total = len(data)
    while total < limit:
        chunk = f.read(min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def check_size(width: int, height: int, fail: Callable[[str], NoReturn]) -> None:
    """Reject a declared size that is empty or over the limits, before any allocation."""
    if width == 0 or height == 0:
        fail(f"image size {width}x{height}: width and height must be positive")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        fail(
            f"image size {width}x{height} is larger than this reader accepts "
            f"(at most {MAX_SIDE} per side and {MAX_PIXELS:,} pixels)"
        )


# ------------------------------------------------- reduced reading
def reduction_for(width: int, height: int, min_side) -> int:
    """The largest power of two ``f <= min(width, height)`` with
    ``ceil(min(width, height) / f) >= min_side`` (1 when ``min_side`` is None):
    how much a reader may shrink a picture."""
    if min_side is None:
        return 1
    if isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1:
        raise ValueError(f"min_side must be a positive int or None. Received: {min_side!r}")
    short = min(width, height)
    f = 1
    while 2 * f <= short and -(-short // (2 * f)) >= min_side:  # (never below one pixel)
        f *= 2
    return f


class RowReducer:
    """Shrinks a picture ``f`` times in each direction as its rows arrive, each output
    pixel the rounded mean of an ``f x f`` group (edge groups repeat the last column
    and row), so that a reader holds the reduced picture and one group of rows' sums.

    The sums are whole rows at once: each output sample gets a 32-bit lane of a big
    integer, so adding a row is a few C-level operations, not one per pixel.

    Example:
        >>> r = RowReducer(width=4, height=2, channels=1, factor=2)
        >>> r.add(bytes([0, 2, 10, 10])); r.add(bytes([2, 4, 10, 30]))
        >>> r.finish().pixels
        b'\\x02\\x0f'
    """

    def __init__(self, width: int, height: int, channels: int, factor: int) -> None:
        self.width, self.height, self.channels, self.factor = width, height, channels, factor
        self.out_width = -(-width // factor)
        self.out_height = -(-height // factor)
        self.pad = (self.out_width * factor - width) * channels
        self.shift = 2 * (factor.bit_length() - 1)  # divide by factor**2
        lanes = b"\x00\x00\x00\x01" * self.out_width
        self.half = int.from_bytes(lanes, "big") * ((factor * factor) >> 1)
        self.low8 = int.from_bytes(lanes, "big") * 0xFF
        self.sums = [0] * channels
        self.rows_in_group = 0
        self.last = b""
        self.out: list = []

    def add(self, row) -> None:
        """One row of ``width * channels`` samples, interleaved."""
        f, c = self.factor, self.channels
        if self.pad:
            row = bytes(row) + bytes(row[-c:]) * (self.pad // c)
        self.last = row
        step = f * c
        lane = bytearray(4 * self.out_width)
        for ch in range(c):
            total = 0
            for s in range(f):
                lane[3::4] = row[s * c + ch :: step]
                total += int.from_bytes(lane, "big")
            self.sums[ch] += total
        self.rows_in_group += 1
        if self.rows_in_group == f:
            self._emit()

    def _emit(self) -> None:
        c = self.channels
        size = 4 * self.out_width
        line = bytearray(self.out_width * c)
        for ch in range(c):
            mean = ((self.sums[ch] + self.half) >> self.shift) & self.low8
            line[ch::c] = mean.to_bytes(size, "big")[3::4]
        self.out.append(bytes(line))
        self.sums = [0] * c
        self.rows_in_group = 0

    def finish(self) -> "Image":
        """The reduced picture (the last group filled with copies of the last row)."""
        while self.rows_in_group:
            self.add(self.last[: self.width * self.channels])
        return Image(self.out_width, self.out_height, self.channels, b"".join(self.out))


def reduce_image(image: "Image", min_side) -> "Image":
    """``image`` shrunk by :func:`reduction_for` with :class:`RowReducer` (itself if no reduction)."""
    f = reduction_for(image.width, image.height, min_side)
    if f == 1:
        return image
    reducer = RowReducer(image.width, image.height, image.channels, f)
    line = image.width * image.channels
    for y in range(image.height):
        reducer.add(image.pixels[y * line : (y + 1) * line])
    return reducer.finish()
