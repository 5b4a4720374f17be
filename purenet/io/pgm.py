"""PGM (and PPM) reader, PGM writer: the Netpbm formats, in pure Python.

    >>> from purenet.io.image import Image
    >>> data = encode_pgm(Image(3, 1, 1, bytes([0, 128, 255])))
    >>> data
    b'P5\\n3 1\\n255\\n\\x00\\x80\\xff'
    >>> read_pgm(b"P2\\n# a comment\\n3 1\\n15\\n0 5 15\\n").pixels
    b'\\x00U\\xff'

A Netpbm file is a magic number (``P2`` plain/ASCII or ``P5`` raw/binary
gray; ``P3``/``P6`` the same for RGB), then width, height and maxval as
decimal numbers separated by whitespace, with ``#`` comments running to the
end of a line allowed between them; then the samples. In a raw file
exactly one whitespace byte follows maxval, and each sample is one byte
(maxval < 256) or two, big-endian (maxval up to 65535). In a plain file the
samples are decimal numbers separated by whitespace (comments allowed).

Samples are rescaled to 0..255 (``v * 255 / maxval``, rounded half up); a sample
above maxval, a size over :data:`purenet.io.image.MAX_SIDE` /
:data:`~purenet.io.image.MAX_PIXELS`, a truncated raster or a malformed
header raises :class:`purenet.errors.ImageError` naming the file. Data
after the last sample is ignored (Netpbm allows several images in one
file; this reads the first).

What it is not: PBM (``P1``/``P4``), PAM (``P7``) and the PFM float
formats are refused; the writer only writes raw 8-bit PGM.
"""

import re
from typing import List, NoReturn, Tuple

from ..errors import ImageError
from .atomic import write_atomic
from .image import Image, PathLike, Source, check_size, load_source

__all__ = ["read_pgm", "write_pgm", "encode_pgm", "decode_pgm"]

# magic -> (samples per pixel, raw?)
_MAGICS = {b"P2": (1, False), b"P5": (1, True), b"P3": (3, False), b"P6": (3, True)}
_WHITESPACE = b" \t\n\r\x0b\x0c"
_MAX_DIGITS = 9  # header numbers: enough for any valid value, too few to be slow
_COMMENT = re.compile(rb"#[^\r\n]*")


def read_pgm(source: Source) -> Image:
    """Decode a PGM (P2, P5) or PPM (P3, P6) file (a path or its bytes).

    Returns:
        a gray (PGM) or RGB (PPM) :class:`Image`, samples scaled to 0..255.

    Raises:
        ImageError: not a supported Netpbm file, or malformed, truncated or too large.
        OSError: the file cannot be read.
    """
    data, label = load_source(source)
    return decode_pgm(data, label)


def write_pgm(path: PathLike, image: Image) -> None:
    """Write a gray ``image`` as a raw (P5) 8-bit PGM file."""
    write_atomic(path, encode_pgm(image))


def encode_pgm(image: Image) -> bytes:
    """The bytes of a raw (P5) PGM with maxval 255 holding the gray ``image``.

    PGM has no colour or alpha: convert first with ``image.to_gray()``
    (which composites alpha over white), a choice this function will not
    make silently.
    """
    if not isinstance(image, Image):
        raise TypeError(f"encode_pgm expects a purenet.io.Image. Received: {type(image).__name__}")
    if image.channels != 1:
        raise ValueError(
            "PGM holds one gray channel. Received: an image with "
            f"{image.channels} channels ({image.mode}); convert it with image.to_gray() first."
        )
    return b"P5\n%d %d\n255\n" % (image.width, image.height) + image.pixels


def decode_pgm(data: bytes, label: str = "<bytes>") -> Image:
    """Decode Netpbm bytes; ``label`` names the source in error messages."""

    def fail(what: str) -> NoReturn:
        raise ImageError(f"cannot decode PGM {label}: {what}")

    data = bytes(data)  # no copy when it already is bytes
    magic = data[:2]
    if magic not in _MAGICS:
        if magic in (b"P1", b"P4"):
            fail(f"{magic.decode()} is a PBM bitmap, which is not supported (use PGM P2/P5 or PNG)")
        if magic == b"P7":
            fail("P7 is a PAM file, which is not supported (use PGM P2/P5 or PNG)")
        fail(f"not a PGM file (starts with {data[:2]!r}, expected P2 or P5; P3/P6 PPM are also read)")
    channels, raw = _MAGICS[magic]
    (width, height, maxval), pos = _header(data, fail)
    check_size(width, height, fail)
    if not 1 <= maxval <= 65535:
        fail(f"maxval {maxval} is out of range (1 to 65535)")
    count = width * height * channels
    if raw:
        values = _raw_samples(data, pos, count, maxval, fail)
    else:
        values = _plain_samples(data, pos, count, maxval, fail)
    if maxval != 255:
        half = maxval // 2
        values = [(v * 255 + half) // maxval for v in values]
    return Image(width, height, channels, bytes(values))


def _header(data: bytes, fail) -> Tuple[List[int], int]:
    """Width, height, maxval and the offset of the first sample."""
    pos, end = 2, len(data)
    if pos < end and data[pos] not in _WHITESPACE and data[pos] != ord("#"):
        fail(f"expected whitespace after the magic number {data[:2].decode()}, found {data[2:3]!r}")
    fields = []
    for what in ("width", "height", "maxval"):
        while pos < end:
            byte = data[pos]
            if byte in _WHITESPACE:
                pos += 1
            elif byte == ord("#"):  # a comment runs to the end of the line
                while pos < end and data[pos] not in b"\r\n":
                    pos += 1
            else:
                break
        start = pos
        while pos < end and 48 <= data[pos] <= 57 and pos - start <= _MAX_DIGITS:
            pos += 1
        if pos == start:
            found = "the end of the file" if pos == end else repr(data[pos : pos + 1])
            fail(f"expected the {what} (a decimal number) in the header, found {found}")
        if pos - start > _MAX_DIGITS:
            fail(f"the {what} in the header has more than {_MAX_DIGITS} digits")
        fields.append(int(data[start:pos]))
    # exactly one whitespace byte separates maxval from the samples
    if pos >= end:
        fail("file ends after the header (no samples)")
    if data[pos] not in _WHITESPACE:
        fail(f"expected whitespace after maxval, found {data[pos : pos + 1]!r}")
    return fields, pos + 1


def _raw_samples(data: bytes, pos: int, count: int, maxval: int, fail):
    size = 1 if maxval < 256 else 2
    body = data[pos : pos + count * size]
    if len(body) < count * size:
        fail(f"raster truncated: {len(body)} bytes, expected {count * size}")
    if size == 2:
        values = [body[i] << 8 | body[i + 1] for i in range(0, len(body), 2)]
    else:
        values = body
    if maxval not in (255, 65535) and max(values) > maxval:
        fail(f"sample value {max(values)} exceeds maxval {maxval}")
    return values


def _plain_samples(data: bytes, pos: int, count: int, maxval: int, fail):
    tokens = _COMMENT.sub(b"", data[pos:]).split()
    if len(tokens) < count:
        fail(f"raster truncated: {len(tokens)} samples, expected {count}")
    values = []
    append = values.append
    for i in range(count):
        token = tokens[i]
        if not token.isdigit() or len(token) > 5:  # ASCII digits; 65535 has five
            fail(f"sample {i} is {token[:20]!r}, expected a decimal number from 0 to {maxval}")
        value = int(token)
        if value > maxval:
            fail(f"sample value {value} exceeds maxval {maxval}")
        append(value)
    return values
