"""Small pictures to encode as JPEG with Pillow, for tests/test_jpeg.py and
scripts/jpeg_testdata.py (which writes the files of tests/data/jpeg)."""

import io
import random


def picture(pil, mode: str, width: int, height: int, seed: int):
    """Gradients, hard edges and noise: blocks of every kind. ``pil`` is ``PIL.Image``."""
    rng = random.Random(seed)
    image = pil.new(mode, (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            edge = 180 if (x // 6 + y // 4) % 3 == 0 else 0
            if mode == "L":
                pixels[x, y] = min(255, (x * 4 + y * 3) % 180 + rng.randrange(50) + edge // 3)
            else:
                pixels[x, y] = ((x * 5 + y * 2) % 256, min(255, (x * 9) % 200 + edge // 3),
                                (y * 11 + rng.randrange(40)) % 256)
    return image


def encode(image, **options) -> bytes:
    """``image`` saved by Pillow as JPEG with ``options`` (quality, subsampling, progressive, ...)."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", **options)
    return buf.getvalue()


def pillow_decode(pil, data: bytes, scale: int = 1):
    """Pillow's decoding of JPEG ``data``, reduced by ``scale`` (1, 2, 4, 8) through ``draft``."""
    ref = pil.open(io.BytesIO(data))
    if scale > 1:
        ref.draft(ref.mode, (ref.size[0] // scale, ref.size[1] // scale))
    ref.load()
    return ref
