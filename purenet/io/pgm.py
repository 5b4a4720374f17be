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
:data:`~purenet.io.image.MAX_PIXELS`, a truncated raster, a malformed
header or one over 64 KiB (comments included) raises :class:`purenet.errors.ImageError` naming the file. Data
after the last sample is ignored (Netpbm allows several images in one
file; this reads the first).

What it is not: PBM (``P1``/``P4``), PAM (``P7``) and the PFM float
formats are refused; the writer only writes raw 8-bit PGM.
"""

import re
import sys
from array import array
from typing import Iterator, List, NoReturn, Tuple

from ..errors import ImageError
from .atomic import write_atomic
from .image import Image, PathLike, Source, check_size, load_source

__all__ = ["read_pgm", "write_pgm", "encode_pgm", "decode_pgm"]

# magic -> (samples per pixel, raw?)
_MAGICS = {b"P2": (1, False), b"P5": (1, True), b"P3": (3, False), b"P6": (3, True)}
_WHITESPACE = b" \t\n\r\x0b\x0c"
_MAX_DIGITS = 9  # header numbers: enough for any valid value, too few to be slow
_COMMENT = re.compile(rb"#[^\r\n]*")
_SPACES = re.compile(rb"[ \t\n\r\x0b\x0c]*")
_MAX_HEADER = 1 << 16  # bytes of header (numbers, whitespace, comments): real ones take a few dozen
_SPACE = re.compile(rb"[ \t\n\r\x0b\x0c]")
_EOL = re.compile(rb"[\r\n]")
_PIECE = 1 << 20  # samples converted at a time
_PLAIN_TEXT = 1 << 18  # bytes of a plain raster split into tokens at a time


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
    pieces = (_raw_pieces if raw else _plain_pieces)(data, pos, count, maxval, fail)
    scale = _scaler(maxval)
    out = bytearray(count)  # filled piece by piece: memory is the image plus one piece
    done = 0
    for piece in pieces:
        out[done : done + len(piece)] = scale(piece)
        done += len(piece)
    return Image(width, height, channels, out)


def _scaler(maxval: int):
    """A function taking a piece of samples (bytes, or ``array('H')`` above 255) to
    bytes 0..255, ``v * 255 / maxval`` rounded half up, through a table of every value."""
    if maxval == 255:
        return bytes
    half = maxval // 2
    table = bytes([(v * 255 + half) // maxval for v in range(maxval + 1)])  # samples above maxval are refused
    if maxval < 256:
        table = table.ljust(256, b"\0")
        return lambda piece: piece.translate(table)
    return lambda piece: bytes(map(table.__getitem__, piece))


def _header(data: bytes, fail) -> Tuple[List[int], int]:
    """Width, height, maxval and the offset of the first sample."""
    pos, end = 2, len(data)
    if pos < end and data[pos] not in _WHITESPACE and data[pos] != ord("#"):
        fail(f"expected whitespace after the magic number {data[:2].decode()}, found {data[2:3]!r}")
    fields = []
    for what in ("width", "height", "maxval"):
        pos = _skip_gap(data, pos, fail)
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


def _skip_gap(data: bytes, pos: int, fail) -> int:
    """The offset after the whitespace and comments at ``pos`` (a comment runs to the end
    of its line), skipped at C speed; a header over :data:`_MAX_HEADER` bytes fails."""
    end = min(len(data), _MAX_HEADER + 1)  # nothing past the limit is ever scanned
    while True:
        pos = _SPACES.match(data, pos, end).end()
        if pos > _MAX_HEADER:
            fail(f"the header (numbers, whitespace, comments) runs past {_MAX_HEADER} bytes")
        if pos == len(data) or data[pos] != 35:  # "#"
            return pos
        eol = _EOL.search(data, pos, end)
        pos = end if eol is None else eol.start()


def _raw_pieces(data: bytes, pos: int, count: int, maxval: int, fail) -> Iterator:
    """The samples of a raw raster, :data:`_PIECE` at a time: bytes (maxval < 256) or
    ``array('H')`` (16-bit, big-endian in the file)."""
    size = 1 if maxval < 256 else 2
    available = len(data) - pos
    if available < count * size:
        fail(f"raster truncated: {available} bytes, expected {count * size}")
    view = memoryview(data)
    for start in range(0, count, _PIECE):
        chunk = view[pos + start * size : pos + min(start + _PIECE, count) * size]
        if size == 2:
            values = array("H")
            values.frombytes(chunk)
            if sys.byteorder == "little":
                values.byteswap()
        else:
            values = chunk.tobytes()
        if maxval not in (255, 65535) and max(values) > maxval:
            fail(f"sample value {max(values)} exceeds maxval {maxval}")
        yield values


def _plain_pieces(data: bytes, pos: int, count: int, maxval: int, fail) -> Iterator:
    """The samples of a plain (ASCII) raster, a stretch of text at a time (cut at
    whitespace outside comments), so that a large file never becomes one list of
    millions of tokens."""
    done, end = 0, len(data)
    while done < count:
        if pos >= end:
            fail(f"raster truncated: {done} samples, expected {count}")
        cut = _cut(data, pos + _PLAIN_TEXT)
        tokens = _COMMENT.sub(b"", data[pos:cut]).split()[: count - done]  # data after the last sample is ignored
        pos = cut
        if tokens:
            yield _numbers(tokens, done, maxval, fail)
            done += len(tokens)


def _cut(data: bytes, at: int) -> int:
    """The first whitespace byte at or after ``at`` that is not inside a comment (or the end)."""
    space = _SPACE.search(data, at)
    if space is None:
        return len(data)
    cut = space.start()
    line = max(data.rfind(b"\n", 0, cut), data.rfind(b"\r", 0, cut)) + 1
    if data.find(b"#", line, cut) != -1:  # a comment runs to the end of its line: cut there
        eol = _EOL.search(data, cut)
        return len(data) if eol is None else eol.start()
    return cut


def _numbers(tokens: List[bytes], first: int, maxval: int, fail):
    """The tokens as sample values (bytes, or ``array('H')`` above 255), all checked at
    C speed; only a bad piece is walked token by token, to name the culprit."""
    if b"".join(tokens).isdigit() and max(map(len, tokens)) <= 5:  # ASCII digits; 65535 has five
        values = list(map(int, tokens))
        if max(values) <= maxval:
            return bytes(values) if maxval < 256 else array("H", values)
    for i, token in enumerate(tokens):
        if not token.isdigit() or len(token) > 5:
            fail(f"sample {first + i} is {token[:20]!r}, expected a decimal number from 0 to {maxval}")
        if int(token) > maxval:
            fail(f"sample value {int(token)} exceeds maxval {maxval}")
    raise AssertionError("unreachable: a piece failed its check but no token did")
