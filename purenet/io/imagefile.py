"""``read_image``: open a PNG, JPEG or PGM/PPM file, whatever its name says.

    >>> from purenet.io.image import Image
    >>> from purenet.io.png import encode_png
    >>> read_image(encode_png(Image(1, 1, 1, b"\\x07"))).pixels
    b'\\x07'
    >>> read_image(b"P5 1 1 255\\n\\x07").pixels
    b'\\x07'

What this file is for: choosing the decoder from the file's first bytes
(its magic number), never from its extension, so a PNG saved as
``digit.pgm`` or a JPEG renamed ``.png`` still opens, and a GIF gets a clear message.

What it is not: a decoder itself (see :mod:`purenet.io.png`,
:mod:`purenet.io.jpeg` and :mod:`purenet.io.pgm`).
"""

from typing import NoReturn, Optional

from purenet.errors import ImageError
from purenet.io.image import Image, Source, load_source, reduce_image
from purenet.io.jpeg import SIGNATURE as JPEG_SIGNATURE
from purenet.io.jpeg import decode_jpeg
from purenet.io.pgm import decode_pgm
from purenet.io.png import SIGNATURE, decode_png

__all__ = ["read_image", "SUPPORTED_FORMATS"]

SUPPORTED_FORMATS = ("PNG (gray, gray+alpha, RGB, RGBA, palette; any bit depth; interlaced or not), "
                     "JPEG (baseline or progressive, gray or colour), PGM (P2, P5), PPM (P3, P6)")

# Formats people commonly try, named so the error can say what the file is.
_KNOWN = (
    (b"GIF87a", "a GIF"),
    (b"GIF89a", "a GIF"),
    (b"BM", "a BMP"),
    (b"II*\x00", "a TIFF"),
    (b"MM\x00*", "a TIFF"),
    (b"RIFF", "a RIFF (WebP?)"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000"),
    (b"<svg", "an SVG"),
    (b"<?xml", "an XML (SVG?)"),
    (b"P1", "a PBM"),
    (b"P4", "a PBM"),
    (b"P7", "a PAM"),
)


def read_image(source: Source, min_side: Optional[int] = None, gray: bool = False) -> Image:
    """Decode a PNG, JPEG, PGM or PPM file (a path, or the file's bytes) into an 8-bit Image.

    The format is recognised from the first bytes: the PNG signature, the
    JPEG start-of-image marker, or ``P2``/``P5`` (PGM) and ``P3``/``P6`` (PPM).

    Args:
        source: a path or the file's bytes.
        min_side: when given, the caller needs no more than a picture whose
            shorter side is ``min_side`` pixels: a larger one may come back
            reduced, never below that: a JPEG by 1/2, 1/4 or 1/8, decoded
            at that size from its DCT coefficients; a PNG (or PGM/PPM) by a
            power of two, each pixel the mean of its group, a PNG row by row
            as it decodes. ``None``: full size.
        gray: return ``image.to_gray()`` (one channel, alpha over white);
            for a colour JPEG, its luma channel Y as stored, without
            converting the chroma (faster; what libjpeg and Pillow give for
            grayscale output; it differs from ``to_gray()`` of the RGB where
            the colour conversion clips saturated colours).

    Raises:
        ImageError: any other format, or a file its decoder rejects.
        OSError: the file cannot be read.
    """
    data, label = load_source(source)
    if data.startswith(JPEG_SIGNATURE):
        return decode_jpeg(data, label, min_side, gray)
    if data.startswith(SIGNATURE):
        image = decode_png(data, label, min_side)
    elif data[:2] in (b"P2", b"P3", b"P5", b"P6"):
        image = reduce_image(decode_pgm(data, label), min_side)
    else:
        _refuse(data, label)
    return image.to_gray() if gray else image


def _refuse(data: bytes, label: str) -> NoReturn:
    what = next((name for magic, name in _KNOWN if data.startswith(magic)), None)
    found = f"{what} file" if what else f"unrecognised data starting with {data[:8]!r}"
    if not data:
        found = "an empty file"
    raise ImageError(
        f"cannot read image {label}: expected one of {SUPPORTED_FORMATS}. Received: {found}. "
        "Convert it to PNG or JPEG first."
    )
