"""JPEG reader in pure Python: baseline and progressive, gray and colour, any subsampling.

    >>> image = read_jpeg("photo.jpg")                    # doctest: +SKIP
    >>> small = read_jpeg("photo.jpg", min_side=300)      # doctest: +SKIP
    >>> small.size                                        # doctest: +SKIP
    (504, 378)

Decodes the JPEG files cameras, phones, browsers and image libraries write
(ITU-T T.81 with JFIF/Exif): Huffman-coded baseline and extended sequential
(SOF0, SOF1) and progressive (SOF2) frames, 8-bit samples, one component
(gray) or three (YCbCr, or RGB when the file says so), any sampling factors
whose ratios are whole numbers (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, ...),
restart intervals. The EXIF orientation tag (APP1) is applied, so a photo
taken with the phone on its side stands upright. The samples are libjpeg's
(its integer inverse DCT, "fancy" upsampling and colour conversion, done
the same way): see :mod:`purenet.io.jpeg.idct` and :mod:`purenet.io.jpeg.color`.

Reduced-size decoding: ``min_side`` asks for a picture whose shorter side
is at least that many pixels, and the decoder picks the smallest of libjpeg's
scales 1/1, 1/2, 1/4, 1/8 that gives it, straight from the DCT coefficients
(at 1/8 each 8x8 block is just its DC term). A 12-megapixel photo read for
a 28x28 digit costs the entropy decoding and little more.

Robustness: every problem raises :class:`purenet.errors.ImageError` naming
the file and what was wrong: bad markers and lengths, Huffman tables whose
codes do not fit, codes no table defines, scan data that ends early,
missing tables, sizes over :data:`~purenet.io.image.MAX_SIDE` /
:data:`~purenet.io.image.MAX_PIXELS` (checked as soon as the frame header is
read), more than :data:`~purenet.io.jpeg.markers.MAX_SCANS` scans.

What it is not: arithmetic coding, 12-bit, lossless, hierarchical, CMYK and
YCCK JPEGs are refused; ICC profiles are ignored; no encoder.
"""

from typing import NoReturn, Optional

from ...errors import ImageError
from ..image import Image, Source, check_size, load_source
from .color import interleave, orient, upsample, ycc_to_rgb
from .decoder import decode_frame
from .markers import parse

__all__ = ["read_jpeg", "decode_jpeg", "SIGNATURE", "scale_for"]

SIGNATURE = b"\xff\xd8\xff"


def read_jpeg(source: Source, min_side: Optional[int] = None, gray: bool = False) -> Image:
    """Decode a JPEG file (a path, or the file's bytes) into an 8-bit gray or RGB Image.

    Args:
        source: a path or the file's bytes.
        min_side: when given, the picture may come back reduced by 1/2, 1/4
            or 1/8 (the most that keeps its shorter side at least
            ``min_side`` pixels), decoded at that size from the DCT
            coefficients. ``None`` decodes at full size.
        gray: return one channel: a YCbCr picture's luma Y as stored (what
            libjpeg gives for grayscale output; the chroma is Huffman-decoded
            and dropped, nothing more), an RGB picture's ``to_gray()``.

    Raises:
        ImageError: the data is not a JPEG this reader can decode, is
            truncated, corrupt, or too large.
        OSError: the file cannot be read.
    """
    data, label = load_source(source)
    return decode_jpeg(data, label, min_side, gray)


def scale_for(width: int, height: int, min_side: Optional[int]) -> int:
    """The output size ``n`` of one 8x8 block (8, 4, 2 or 1) for a ``width x height``
    picture read with ``min_side``: the smallest that keeps ``ceil(side * n / 8) >= min_side``."""
    n = 8
    if min_side is None:
        return n
    short = min(width, height)
    while n > 1 and -(-short * (n // 2) // 8) >= min_side:
        n //= 2
    return n


def decode_jpeg(data: bytes, label: str = "<bytes>", min_side: Optional[int] = None, gray: bool = False) -> Image:
    """Decode JPEG bytes; ``label`` names the source in error messages (see :func:`read_jpeg`)."""

    def fail(what: str) -> NoReturn:
        raise ImageError(f"cannot decode JPEG {label}: {what}")

    if min_side is not None and (isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 1):
        raise ValueError(f"min_side must be a positive int or None. Received: {min_side!r}")
    parsed = parse(bytes(data), fail, lambda w, h: check_size(w, h, fail))
    frame = parsed.frame
    n = scale_for(frame.width, frame.height, min_side)
    rgb = False
    if len(frame.components) == 3:
        ids = tuple(c.id for c in frame.components)
        if parsed.adobe_transform is not None and not parsed.jfif:
            rgb = parsed.adobe_transform == 0
        else:
            rgb = not parsed.jfif and ids == (82, 71, 66)  # 'R', 'G', 'B'
    luma_only = gray and len(frame.components) == 3 and not rgb
    planes = decode_frame(frame, parsed.scans, n, fail, wanted=(0,) if luma_only else None)
    if luma_only:
        planes = planes[:1]

    width = -(-frame.width * n // 8)
    height = -(-frame.height * n // 8)
    hmax = max(c.h for c in frame.components)
    vmax = max(c.v for c in frame.components)
    full = []
    for p in planes:
        # how many output samples each of this component's samples covers
        fx, rx = divmod(hmax * n, p.h * p.size)
        fy, ry = divmod(vmax * n, p.v * p.size)
        if rx or ry:
            fail(f"sampling factors {p.h}x{p.v} against {hmax}x{vmax}: fractional ratios are not supported")
        full.append(upsample(p, fx, fy, n > 1, width, height))

    if len(planes) == 1:
        pixels = b"".join(full[0])
        channels = 1
    else:
        if rgb:
            pixels = interleave(full)
        else:
            pixels = b"".join(ycc_to_rgb(y, cb, cr) for y, cb, cr in zip(*full))
        channels = 3
    pixels, width, height = orient(pixels, width, height, channels, parsed.orientation)
    image = Image(width, height, channels, pixels)
    return image.to_gray() if gray else image
