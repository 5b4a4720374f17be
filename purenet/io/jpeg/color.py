"""From decoded components to the picture: upsampling, YCbCr to RGB, EXIF orientation.

Subsampled chroma (4:2:2, 4:2:0) is brought to full size with libjpeg's
"fancy" upsampling, a triangle filter: each output sample is 3/4 of the
nearest input sample and 1/4 of the next nearest, in each subsampled
direction (the centres of the chroma samples sit between luma samples).
Other integer ratios repeat each sample. Colour follows JFIF
(ITU-R BT.601, full range):

    R = Y + 1.402 (Cr - 128)
    G = Y - 0.34414 (Cb - 128) - 0.71414 (Cr - 128)
    B = Y + 1.772 (Cb - 128)

in libjpeg's 16-bit fixed point, so that the bytes are libjpeg's. Legend:
``W x H`` the output, rows are ``bytes`` of one component's samples.
"""

from typing import List, Tuple

__all__ = ["upsample", "ycc_to_rgb", "interleave", "orient"]

_SCALEBITS = 16
_HALF = 1 << (_SCALEBITS - 1)


def _fix(x: float) -> int:
    return int(x * (1 << _SCALEBITS) + 0.5)


_CR_R = [(_fix(1.40200) * (i - 128) + _HALF) >> _SCALEBITS for i in range(256)]
_CB_B = [(_fix(1.77200) * (i - 128) + _HALF) >> _SCALEBITS for i in range(256)]
_CR_G = [-_fix(0.71414) * (i - 128) for i in range(256)]
_CB_G = [-_fix(0.34414) * (i - 128) + _HALF for i in range(256)]
# CLAMP[x + 384] is x clamped to 0..255, for the sums above (-227 <= x < 482)
_CLAMP = bytes(min(255, max(0, i - 384)) for i in range(1024))


def _rows(plane) -> List[bytes]:
    """The plane's meaningful rows, cropped to its width."""
    s, w = plane.samples, plane.width
    return [bytes(s[y * plane.stride : y * plane.stride + w]) for y in range(plane.height)]


def upsample(plane, fx: int, fy: int, fancy: bool, width: int, height: int) -> List[bytes]:
    """``height`` rows of ``width`` samples: the plane enlarged ``fx`` times across, ``fy`` down."""
    rows = _rows(plane)
    cw = plane.width
    if fx == 1 and fy == 1:
        out = rows
    elif fancy and fx == 2 and fy == 2 and cw > 2:
        out = []
        last = len(rows) - 1
        for i, row in enumerate(rows):
            for near in (rows[max(i - 1, 0)], rows[min(i + 1, last)]):
                sums = [3 * a + b for a, b in zip(row, near)]
                left = [sums[0]] + sums[:-1]
                right = sums[1:] + [sums[-1]]
                line = bytearray(2 * cw)
                line[0::2] = bytes([(3 * c + l + 8) >> 4 for c, l in zip(sums, left)])
                line[1::2] = bytes([(3 * c + r + 7) >> 4 for c, r in zip(sums, right)])
                out.append(bytes(line))
    elif fancy and fx == 2 and fy == 1 and cw > 2:
        out = []
        for row in rows:
            left = row[:1] + row[:-1]
            right = row[1:] + row[-1:]
            line = bytearray(2 * cw)
            line[0::2] = bytes([(3 * c + l + 1) >> 2 for c, l in zip(row, left)])
            line[1::2] = bytes([(3 * c + r + 2) >> 2 for c, r in zip(row, right)])
            out.append(bytes(line))
    elif fancy and fx == 1 and fy == 2:
        out = []
        last = len(rows) - 1
        for i, row in enumerate(rows):
            out.append(bytes([(3 * a + b + 1) >> 2 for a, b in zip(row, rows[max(i - 1, 0)])]))
            out.append(bytes([(3 * a + b + 2) >> 2 for a, b in zip(row, rows[min(i + 1, last)])]))
    else:
        out = []
        for row in rows:
            if fx > 1:
                line = bytearray(len(row) * fx)
                for i in range(fx):
                    line[i::fx] = row
                row = bytes(line)
            out.extend([row] * fy)
    return [row[:width] for row in out[:height]]


def ycc_to_rgb(y: bytes, cb: bytes, cr: bytes) -> bytes:
    """One row of interleaved RGB from rows of Y, Cb, Cr."""
    clamp, crr, cbb, crg, cbg = _CLAMP, _CR_R, _CB_B, _CR_G, _CB_G
    out = bytearray(3 * len(y))
    out[0::3] = bytes([clamp[a + crr[c] + 384] for a, c in zip(y, cr)])
    out[1::3] = bytes([clamp[a + ((cbg[b] + crg[c]) >> 16) + 384] for a, b, c in zip(y, cb, cr)])
    out[2::3] = bytes([clamp[a + cbb[b] + 384] for a, b in zip(y, cb)])
    return bytes(out)


def interleave(rows: List[List[bytes]]) -> bytes:
    """Rows of separate components (R, G, B) as interleaved pixels."""
    parts = []
    count = len(rows)
    for pieces in zip(*rows):
        line = bytearray(count * len(pieces[0]))
        for c, piece in enumerate(pieces):
            line[c::count] = piece
        parts.append(bytes(line))
    return b"".join(parts)


def _rotate180(pixels: bytes, channels: int) -> bytes:
    rev = pixels[::-1]  # pixels in reverse order, and each pixel's channels reversed
    if channels == 1:
        return rev
    out = bytearray(len(pixels))
    for c in range(channels):
        out[c::channels] = rev[channels - 1 - c :: channels]
    return bytes(out)


def _flip_rows(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    line = width * channels
    return b"".join(pixels[y * line : (y + 1) * line] for y in range(height - 1, -1, -1))


def _transpose(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    out = bytearray(len(pixels))
    line = width * channels
    column = height * channels
    for x in range(width):
        for c in range(channels):
            out[x * column + c : (x + 1) * column : channels] = pixels[x * channels + c :: line]
    return bytes(out)


def orient(pixels: bytes, width: int, height: int, channels: int, orientation: int) -> Tuple[bytes, int, int]:
    """Apply an EXIF orientation (1..8) so that the picture stands as it was taken.

    1 as stored, 2 mirrored left-right, 3 rotated 180 degrees, 4 mirrored
    top-bottom, 5 transposed, 6 rotated 90 degrees clockwise, 7 transversed,
    8 rotated 90 degrees counter-clockwise (the rotation that *displays* it
    upright, as TIFF/EXIF define the tag).
    """
    if orientation in (5, 6, 7, 8):
        pixels = _transpose(pixels, width, height, channels)
        width, height = height, width
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation == 2:
        pixels = _flip_rows(_rotate180(pixels, channels), width, height, channels)
    elif orientation == 3:
        pixels = _rotate180(pixels, channels)
    elif orientation == 4:
        pixels = _flip_rows(pixels, width, height, channels)
    return pixels, width, height
