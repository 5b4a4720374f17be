"""PNG reader and writer in pure Python (``zlib`` and ``struct`` only).

    >>> from purenet.io.image import Image
    >>> image = Image(2, 2, 1, bytes([0, 85, 170, 255]))
    >>> data = encode_png(image)
    >>> data[:8] == SIGNATURE
    True
    >>> read_png(data) == image
    True

A PNG file is an 8-byte signature and a list of chunks (4-byte big-endian
length, 4-letter type, body, CRC-32 of type and body). ``IHDR`` gives the
size and the pixel format, the ``IDAT`` bodies joined are one zlib stream
of scanlines, each a filter-type byte and the filtered row, and ``IEND``
closes the file (PNG specification, W3C, 2003/2023).

The reader decodes every standard pixel format: gray (bit depth 1, 2, 4,
8, 16), gray+alpha, RGB and RGBA (8 or 16), palette (1, 2, 4, 8) with or
without ``tRNS`` transparency, plain or Adam7-interlaced. It returns an
8-bit :class:`~purenet.io.image.Image`: 16-bit samples are rounded to 8
bits, low bit depths stretched to 0..255, palette images expanded to RGB
(RGBA with ``tRNS``), a gray or RGB ``tRNS`` colour key becomes an alpha
channel. The writer makes 8-bit gray, gray+alpha, RGB or RGBA files.

Robustness: every problem with the bytes raises
:class:`purenet.errors.ImageError` naming the file and what was wrong, and
nothing large is allocated on a header's word. The declared size is
checked against :data:`MAX_SIDE` and :data:`MAX_PIXELS` before anything
else, zlib output is bounded by what the header says the image needs (a
"zlib bomb" stops after that many bytes), and every chunk's CRC and the
zlib stream's Adler-32 are verified. Bytes after ``IEND`` are ignored, as
browsers and most decoders do; bytes after the end of the zlib stream
inside the ``IDAT`` data likewise.

What it is not: ancillary chunks (gamma, colour profiles, text, physical
size) are skipped, and it is not fast: a decoded row costs a few Python
operations per byte, fine for digits and screenshots, slow for
multi-megapixel photos.
"""

import struct
import zlib
from typing import Callable, Iterator, List, NoReturn, Optional, Tuple

from ..errors import ImageError
from .atomic import write_atomic
from .image import (MAX_PIXELS, MAX_SIDE, Image, PathLike, RowReducer, Source, check_size, load_source,
                    reduce_image, reduction_for)

__all__ = ["read_png", "write_png", "encode_png", "decode_png", "SIGNATURE", "MAX_SIDE", "MAX_PIXELS"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"

_MAX_CHUNK = 2**31 - 1  # the spec's limit for a chunk length
# Deflate cannot expand data by more than 1032:1 (a 258-byte match in 2
# bits), so compressed data much shorter than 1/1032 of what the header
# needs cannot hold the image: reject it without decompressing.
_MAX_DEFLATE_RATIO = 1032

# colour type -> (name, samples per pixel, allowed bit depths)
_COLOR_TYPES = {
    0: ("gray", 1, (1, 2, 4, 8, 16)),
    2: ("RGB", 3, (8, 16)),
    3: ("palette", 1, (1, 2, 4, 8)),
    4: ("gray+alpha", 2, (8, 16)),
    6: ("RGBA", 4, (8, 16)),
}
# Adam7 passes: (first column, first row, column step, row step)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def read_png(source: Source, min_side: Optional[int] = None) -> Image:
    """Decode a PNG file (a path, or the file's bytes) into an 8-bit Image.

    Args:
        source: a path or the file's bytes.
        min_side: when given, a picture whose shorter side is at least twice
            that comes back shrunk by a power of two (the most that keeps the
            shorter side at least ``min_side``), each pixel the mean of its
            group, reduced row by row as the rows are decoded: memory holds
            the small picture, not the large one (an interlaced PNG is
            decoded whole first).

    Returns:
        an :class:`Image` with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4
        (RGBA) channels, following the file's colour type (palette images
        become RGB, or RGBA when they carry transparency).

    Raises:
        ImageError: the data is not a PNG this reader can decode, is
            truncated, corrupt, or declares more than :data:`MAX_SIDE` /
            :data:`MAX_PIXELS`.
        OSError: the file cannot be read.
    """
    data, label = load_source(source)
    return decode_png(data, label, min_side)


def write_png(path: PathLike, image: Image) -> None:
    """Write ``image`` as an 8-bit PNG file (see :func:`encode_png`)."""
    write_atomic(path, encode_png(image))


def encode_png(image: Image) -> bytes:
    """The bytes of an 8-bit, non-interlaced PNG holding ``image``.

    Each row gets the filter (None, Sub, Up, Average or Paeth) whose output
    has the smallest sum of absolute values taken as signed bytes, libpng's
    default heuristic; the scanlines are compressed with zlib level 9. The
    same image always gives the same bytes with the same zlib.
    """
    if not isinstance(image, Image):
        raise TypeError(f"encode_png expects a purenet.io.Image. Received: {type(image).__name__}")
    width, height, bpp = image.width, image.height, image.channels
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[bpp]
    stride = width * bpp
    pixels = image.pixels
    prior = bytes(stride)  # the row above the first row is zeros
    scanlines = []
    for y in range(height):
        line = pixels[y * stride : (y + 1) * stride]
        scanlines.append(_best_filter(line, prior, bpp))
        prior = line
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"".join((
        SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(b"".join(scanlines), 9)),
        _chunk(b"IEND", b""),
    ))


# ----------------------------------------------------------------- writing
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


# cost of a filtered byte: its absolute value as a signed byte
_COST = [min(v, 256 - v) for v in range(256)]


def _best_filter(line: bytes, prior: bytes, bpp: int) -> bytes:
    """``filter type byte + filtered line`` for the cheapest of the five filters."""
    left = bytes(bpp) + line[:-bpp]  # left[i] = line[i - bpp], 0 before the row
    upleft = bytes(bpp) + prior[:-bpp]
    candidates = (
        line,
        bytes([(x - a) & 255 for x, a in zip(line, left)]),
        bytes([(x - b) & 255 for x, b in zip(line, prior)]),
        bytes([(x - ((a + b) >> 1)) & 255 for x, a, b in zip(line, left, prior)]),
        bytes([(x - _paeth(a, b, c)) & 255 for x, a, b, c in zip(line, left, prior, upleft)]),
    )
    cost = _COST.__getitem__
    costs = [sum(map(cost, filtered)) for filtered in candidates]
    best = costs.index(min(costs))  # ties go to the simplest filter
    return bytes([best]) + candidates[best]


def _paeth(a: int, b: int, c: int) -> int:
    # the predictor exactly as the spec writes it: nearest of left, up,
    # up-left to a + b - c, ties broken in that order
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


# ----------------------------------------------------------------- reading
def decode_png(data: bytes, label: str = "<bytes>", min_side: Optional[int] = None) -> Image:
    """Decode PNG bytes; ``label`` names the source in error messages (see :func:`read_png`)."""

    def fail(what: str) -> NoReturn:
        raise ImageError(f"cannot decode PNG {label}: {what}")

    data = bytes(data)  # no copy when it already is bytes
    if data[:8] != SIGNATURE:
        if len(data) < 8 and SIGNATURE.startswith(data):
            fail(f"file ends inside the 8-byte signature ({len(data)} bytes)")
        fail(f"not a PNG file (the first 8 bytes are {data[:8]!r}, expected {SIGNATURE!r})")

    header = None
    palette: Optional[bytes] = None
    transparency: Optional[bytes] = None
    idat: List[bytes] = []
    idat_done = False  # a non-IDAT chunk came after the IDAT run
    for kind, body in _chunks(data, fail):
        name = kind.decode("ascii")
        if header is None:
            if kind != b"IHDR":
                fail(f"the first chunk is {name}, expected IHDR")
            header = _parse_header(body, fail)
            continue
        if kind == b"IDAT":
            if idat_done:
                fail("IDAT chunks are not consecutive")
            idat.append(body)
            continue
        if idat:
            idat_done = True
        if kind == b"IEND":
            if body:
                fail(f"IEND chunk has {len(body)} bytes, expected none")
            break
        if kind == b"IHDR":
            fail("more than one IHDR chunk")
        elif kind == b"PLTE":
            if palette is not None:
                fail("more than one PLTE chunk")
            if idat:
                fail("PLTE chunk after the image data")
            if len(body) % 3 or not 3 <= len(body) <= 768:
                fail(f"PLTE chunk of {len(body)} bytes, expected 1 to 256 RGB entries (3 bytes each)")
            palette = body
        elif kind == b"tRNS":
            if idat:
                fail("tRNS chunk after the image data")
            transparency = body
        elif not kind[0] & 0x20:  # upper-case first letter: a critical chunk
            fail(f"unknown critical chunk {name}")
        # anything else is an ancillary chunk we may safely skip

    width, height, depth, color_type, interlace = header
    if not idat:
        fail("no IDAT chunk (the file holds no image data)")
    if color_type == 3 and palette is None:
        fail("palette image (colour type 3) without a PLTE chunk")
    convert, out_channels = _converter(color_type, depth, palette, transparency, fail)
    samples = _COLOR_TYPES[color_type][1]
    bits_per_pixel = samples * depth
    bpp = max(1, bits_per_pixel // 8)  # the filters' byte distance to the "left" pixel

    passes = [(0, 0, 1, 1)] if interlace == 0 else _ADAM7
    layout = []  # (pass, pass width, pass height, row bytes) for each non-empty pass
    needed = 0
    for x0, y0, dx, dy in passes:
        pw = (width - x0 + dx - 1) // dx
        ph = (height - y0 + dy - 1) // dy
        if pw > 0 and ph > 0:
            stride = (pw * bits_per_pixel + 7) // 8
            layout.append(((x0, y0, dx, dy), pw, ph, stride))
            needed += ph * (1 + stride)
    stream = _Scanlines(b"".join(idat), needed, fail)
    factor = reduction_for(width, height, min_side)
    if factor > 1 and interlace == 0:
        reducer = RowReducer(width, height, out_channels, factor)
        for row in _unfilter(stream, height, layout[0][3], bpp, fail):
            reducer.add(convert(row, width))
        stream.finish()
        return reducer.finish()

    # One scanline at a time, straight into the output: memory is the image plus a few rows.
    out = bytearray(width * height * out_channels)
    line = width * out_channels
    for (x0, y0, dx, dy), pw, ph, stride in layout:
        step = dx * out_channels
        for i, row in enumerate(_unfilter(stream, ph, stride, bpp, fail)):
            pixels = convert(row, pw)
            start = (y0 + i * dy) * line + x0 * out_channels
            if dx == 1:
                out[start : start + len(pixels)] = pixels
            else:
                for c in range(out_channels):  # scatter each channel with a strided slice
                    out[start + c : start + c + pw * step : step] = pixels[c::out_channels]
    stream.finish()
    return reduce_image(Image(width, height, out_channels, out), min_side)


def _chunks(data: bytes, fail: Callable[[str], NoReturn]):
    """Yield ``(type, body)`` for each chunk after the signature, checking
    lengths, type letters and CRCs; stops at the end of the data."""
    pos, end = 8, len(data)
    while True:
        if pos + 8 > end:
            if pos == end:
                fail("file ends without an IEND chunk (truncated?)")
            fail(f"truncated chunk header at byte {pos}")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if not kind.isalpha():  # ASCII letters only
            fail(f"invalid chunk type {kind!r} at byte {pos} (corrupt file?)")
        name = kind.decode("ascii")
        if length > _MAX_CHUNK:
            fail(f"{name} chunk at byte {pos} declares {length} bytes, more than the 2^31-1 allowed")
        body_end = pos + 8 + length
        if body_end + 4 > end:
            fail(f"{name} chunk at byte {pos} needs {length + 12} bytes, only {end - pos} left (truncated?)")
        body = data[pos + 8 : body_end]
        (crc,) = struct.unpack_from(">I", data, body_end)
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            fail(f"CRC mismatch in the {name} chunk at byte {pos} (corrupt file)")
        yield kind, body
        pos = body_end + 4


def _parse_header(body: bytes, fail) -> Tuple[int, int, int, int, int]:
    if len(body) != 13:
        fail(f"IHDR chunk has {len(body)} bytes, expected 13")
    width, height, depth, color_type, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    check_size(width, height, fail)
    if color_type not in _COLOR_TYPES:
        fail(f"unknown colour type {color_type} (valid: 0, 2, 3, 4, 6)")
    kind, _, depths = _COLOR_TYPES[color_type]
    if depth not in depths:
        fail(
            f"bit depth {depth} is not valid for colour type {color_type} ({kind}); "
            f"expected one of {', '.join(map(str, depths))}"
        )
    if compression != 0:
        fail(f"unknown compression method {compression} (only 0, zlib, exists)")
    if filtering != 0:
        fail(f"unknown filter method {filtering} (only 0 exists)")
    if interlace not in (0, 1):
        fail(f"unknown interlace method {interlace} (0 none, 1 Adam7)")
    return width, height, depth, color_type, interlace


class _Scanlines:
    """The zlib stream of the ``IDAT`` data, read a scanline at a time: never more
    than ``needed`` bytes in all (a "zlib bomb" stops there), and the stream must
    end exactly after them, its Adler-32 checked."""

    def __init__(self, compressed: bytes, needed: int, fail) -> None:
        if needed > _MAX_DEFLATE_RATIO * len(compressed) + _MAX_DEFLATE_RATIO:
            fail(
                f"{len(compressed)} bytes of compressed data cannot hold the {needed} bytes "
                "of scanlines the header declares (truncated?)"
            )
        self.inflater = zlib.decompressobj()
        self.pending = compressed
        self.needed = needed
        self.done = 0
        self.fail = fail

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes of scanlines."""
        try:
            data = self.inflater.decompress(self.pending, n)
        except zlib.error as e:
            self.fail(f"corrupt compressed image data ({e})")
        self.pending = self.inflater.unconsumed_tail
        self.done += len(data)
        if len(data) < n:
            if self.inflater.eof:
                self.fail(f"image data has {self.done} bytes of scanlines, the header needs {self.needed}")
            self.fail(f"compressed image data ends early ({self.done} of {self.needed} bytes of scanlines; truncated?)")
        return data

    def finish(self) -> None:
        """Check that the stream holds nothing more and ends properly."""
        try:
            # The image is complete: anything more the stream would produce is an error.
            if self.inflater.decompress(self.pending, 1):
                self.fail(f"image data holds more than the {self.needed} bytes of scanlines the header declares")
        except zlib.error as e:
            self.fail(f"corrupt compressed image data ({e})")
        if not self.inflater.eof:
            self.fail("compressed image data is truncated (the zlib stream does not end)")


def _unfilter(stream: _Scanlines, height: int, stride: int, bpp: int, fail) -> Iterator[bytearray]:
    """Undo the per-row filters of the next ``height`` scanlines of ``stream``, one by one.

    Filter types (``x`` the byte, ``a`` the one ``bpp`` bytes to its left,
    ``b`` the one above, ``c`` above-left; missing neighbours are 0):
    0 None, 1 Sub ``x + a``, 2 Up ``x + b``, 3 Average ``x + (a + b) // 2``,
    4 Paeth ``x + paeth(a, b, c)``, all modulo 256.
    """
    prior = bytearray(stride)
    # Up, on whole rows at once: bytewise addition modulo 256 as big-integer
    # arithmetic, adding the low 7 bits of each byte (which cannot carry into
    # the next byte) and then setting each top bit by XOR.
    low7 = int.from_bytes(b"\x7f" * stride, "big")
    top = int.from_bytes(b"\x80" * stride, "big")
    for y in range(height):
        raw = stream.read(1 + stride)
        kind = raw[0]
        line = bytearray(raw[1:])
        if kind == 0:
            pass
        elif kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            x, b = int.from_bytes(line, "big"), int.from_bytes(prior, "big")
            line = bytearray((((x & low7) + (b & low7)) ^ ((x ^ b) & top)).to_bytes(stride, "big"))
        elif kind == 3:
            for i in range(min(bpp, stride)):
                line[i] = (line[i] + (prior[i] >> 1)) & 255
            for i in range(bpp, stride):
                line[i] = (line[i] + ((line[i - bpp] + prior[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(min(bpp, stride)):
                line[i] = (line[i] + prior[i]) & 255  # a = c = 0: Paeth picks b
            for i in range(bpp, stride):
                a, b, c = line[i - bpp], prior[i], prior[i - bpp]
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - c - c)
                if pa <= pb and pa <= pc:
                    line[i] = (line[i] + a) & 255
                elif pb <= pc:
                    line[i] = (line[i] + b) & 255
                else:
                    line[i] = (line[i] + c) & 255
        else:
            fail(f"unknown filter type {kind} on scanline {y} (valid: 0 to 4)")
        yield line
        prior = line


# byte -> the 8 // depth samples packed in it, most significant bits first, as bytes
# (so that a row unpacks with one C-level join, and converts with bytes.translate)
_UNPACK = {
    depth: [bytes((byte >> shift) & ((1 << depth) - 1) for shift in range(8 - depth, -1, -depth)) for byte in range(256)]
    for depth in (1, 2, 4)
}


def _to8_16(row, width) -> bytes:
    """A row of big-endian 16-bit samples as 8-bit ones, ``(v * 255 + 32767) // 65535``
    for each, computed on all samples at once: a 12-megapixel RGBA image would
    otherwise cost 48 million Python-level operations.

    The rounded value is ``hi + (lo - hi >= 129) - (hi - lo >= 129)`` (``v = 256 hi + lo``,
    and ``v * 255 / 65535 = v / 257 = hi + (lo - hi) / 257``). Each sample gets a
    16-bit lane of one big integer, wide enough that no lane carries into the next.
    """
    n = len(row) // 2
    hi, lo = bytearray(2 * n), bytearray(2 * n)
    hi[1::2], lo[1::2] = row[0::2], row[1::2]
    high, low = int.from_bytes(hi, "big"), int.from_bytes(lo, "big")
    ones = int.from_bytes(b"\x00\x01" * n, "big")  # 1 in every lane
    d = low + (ones << 8) - high  # lo - hi + 256 in every lane: 1..511
    up = ((d + ones * (32768 - 385)) >> 15) & ones  # bit 15 of a lane set <=> d >= 385 <=> lo - hi >= 129
    down = ones ^ (((d + ones * (32768 - 128)) >> 15) & ones)  # d <= 127 <=> hi - lo >= 129
    return (high + up - down).to_bytes(2 * n, "big")[1::2]


def _converter(color_type: int, depth: int, palette, transparency, fail):
    """``(convert, out_channels)``: ``convert(row, width)`` turns one
    unfiltered scanline into ``width * out_channels`` 8-bit samples."""
    samples = _COLOR_TYPES[color_type][1]

    def native(row, width):
        # the row's samples at the file's bit depth: bytes up to 8 bits, a list of ints for 16
        if depth == 8:
            return row
        if depth == 16:
            return [row[i] << 8 | row[i + 1] for i in range(0, 2 * width * samples, 2)]
        return b"".join(map(_UNPACK[depth].__getitem__, row))[:width]  # [:width] drops the padding bits

    if depth == 16:
        def to8(values):
            return bytes([(v * 255 + 32767) // 65535 for v in values])
    elif depth < 8:
        scale = 255 // ((1 << depth) - 1)
        stretch = bytes((v * scale) & 255 for v in range(256))

        def to8(values):
            return values.translate(stretch)
    else:
        to8 = bytes

    if color_type == 3:
        entries = [palette[i : i + 3] for i in range(0, len(palette), 3)]
        if transparency is not None:
            if len(transparency) > len(entries):
                fail(f"tRNS chunk has {len(transparency)} entries for a palette of {len(entries)}")
            alpha = transparency + b"\xff" * (len(entries) - len(transparency))
            entries = [rgb + alpha[i : i + 1] for i, rgb in enumerate(entries)]
        count = len(entries)
        channels = len(entries[0])
        # one translation table per output channel: palette index -> that channel's value
        tables = [bytes(entry[c] for entry in entries).ljust(256, b"\0") for c in range(channels)]

        def convert(row, width):
            indices = native(row, width)
            if max(indices) >= count:
                fail(f"palette index {max(indices)} out of range for a palette of {count} entries")
            out = bytearray(width * channels)
            for c in range(channels):
                out[c::channels] = indices.translate(tables[c])
            return out

        return convert, channels

    if transparency is None or color_type in (4, 6):  # tRNS is meaningless with an alpha channel
        if depth == 16:
            return _to8_16, samples
        return (lambda row, width: to8(native(row, width))), samples

    # gray or RGB with a colour key: pixels equal to the key become transparent
    if len(transparency) != 2 * samples:
        fail(f"tRNS chunk has {len(transparency)} bytes, expected {2 * samples} for colour type {color_type}")
    key = struct.unpack(f">{samples}H", transparency)
    if color_type == 0:
        gray_key = key[0]

        def convert(row, width):
            values = native(row, width)
            out = bytearray(2 * width)
            out[0::2] = to8(values)
            out[1::2] = bytes([0 if v == gray_key else 255 for v in values])
            return out

        return convert, 2

    def convert(row, width):
        values = native(row, width)
        out = bytearray(4 * width)
        for c in range(3):
            out[c::4] = to8(values[c::3])
        out[3::4] = bytes([0 if k == key else 255 for k in zip(values[0::3], values[1::3], values[2::3])])
        return out

    return convert, 4
