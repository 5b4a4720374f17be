"""JPEG reader: Pillow (libjpeg-turbo) parity, scaled decoding, EXIF orientation, error paths.

Tolerance against Pillow: none. The reader does libjpeg's integer
arithmetic (``jpeg_idct_islow`` and the reduced ``jpeg_idct_4x4/2x2/1x1``,
"fancy" triangle upsampling of subsampled chroma, 16-bit fixed-point YCbCr
to RGB), so its bytes equal libjpeg-turbo's, which Pillow uses with its
defaults. A decoder using an exact float IDCT would differ by 1-2 levels
(the integer IDCT's 13-bit constants and its rounding between passes), and
by more on subsampled chroma with another upsampling filter: these tests
would catch that drift.
"""

import io
import random

import pytest

from conftest import require
from purenet.errors import ImageError
from purenet.io.imagefile import read_image
from purenet.io.jpeg import decode_jpeg, read_jpeg, scale_for


def _photo(pil, width, height, mode, seed):
    """A small picture with gradients, edges and noise: every kind of DCT block."""
    rng = random.Random(seed)
    image = pil.new(mode, (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            edge = 200 if (x // 7 + y // 5) % 3 == 0 else 0
            if mode == "L":
                pixels[x, y] = min(255, (x * 3 + y * 5) % 200 + rng.randrange(40) + edge // 4)
            else:
                pixels[x, y] = ((x * 3 + y * 5) % 256, min(255, x * 7 % 256 // 2 + edge // 2),
                                (y * 11 + rng.randrange(30)) % 256)
    return image


def _encode(image, **options):
    buf = io.BytesIO()
    image.save(buf, "JPEG", **options)
    return buf.getvalue()


def _pillow(pil, data, scale=1):
    ref = pil.open(io.BytesIO(data))
    if scale > 1:
        ref.draft(ref.mode, (ref.size[0] // scale, ref.size[1] // scale))
    ref.load()
    return ref


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
@pytest.mark.parametrize("progressive", [False, True])
def test_equals_pillow(mode, subsampling, progressive):
    pil = require("PIL.Image")
    if mode == "L" and subsampling:
        pytest.skip("gray has no chroma to subsample")
    data = _encode(_photo(pil, 53, 37, mode, seed=subsampling), quality=87, subsampling=subsampling,
                   progressive=progressive)
    ref = _pillow(pil, data)
    image = decode_jpeg(data)
    assert (image.width, image.height, image.mode) == (53, 37, {"L": "gray", "RGB": "RGB"}[mode])
    assert image.pixels == ref.tobytes()


@pytest.mark.parametrize("restart", [1, 3])
@pytest.mark.parametrize("progressive", [False, True])
def test_restart_intervals_equal_pillow(restart, progressive):
    pil = require("PIL.Image")
    data = _encode(_photo(pil, 45, 41, "RGB", seed=7), quality=75, subsampling=2, progressive=progressive,
                   restart_marker_blocks=restart)
    assert b"\xff\xdd" in data and b"\xff\xd0" in data
    assert decode_jpeg(data).pixels == _pillow(pil, data).tobytes()


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("subsampling,progressive", [(0, False), (2, False), (1, True), (2, True)])
def test_scaled_decoding_equals_pillow_draft(scale, subsampling, progressive):
    pil = require("PIL.Image")
    data = _encode(_photo(pil, 101, 67, "RGB", seed=scale), quality=90, subsampling=subsampling,
                   progressive=progressive)
    ref = _pillow(pil, data, scale)
    image = decode_jpeg(data, min_side=-(-67 // scale))
    assert image.size == ref.size == (-(-101 // scale), -(-67 // scale))
    assert image.pixels == ref.tobytes()


def test_min_side_picks_the_smallest_scale_that_keeps_it():
    assert scale_for(4032, 3024, None) == 8
    assert scale_for(4032, 3024, 378) == 1  # 3024 / 8 = 378
    assert scale_for(4032, 3024, 379) == 2
    assert scale_for(4032, 3024, 3024) == 8
    assert scale_for(3024, 4032, 700) == 2  # the shorter side counts, whatever the orientation
    with pytest.raises(ValueError, match="min_side"):
        decode_jpeg(b"\xff\xd8", min_side=0)


def test_read_image_reads_jpeg(tmp_path):
    pil = require("PIL.Image")
    data = _encode(_photo(pil, 20, 10, "RGB", seed=1), quality=95)
    path = tmp_path / "photo.png"  # the name lies; the magic number decides
    path.write_bytes(data)
    assert read_image(path) == read_jpeg(data) == decode_jpeg(data)
    assert read_image(path, min_side=5).size == (10, 5)


@pytest.mark.parametrize("data,fragment", [
    (b"\xff\xd8", "before any image data"),
    (b"\xff\xd8\xff\xe0\x00", "inside the length"),
    (b"\xff\xd8\xff\xc3\x00\x02", "lossless"),
    (b"\xff\xd8\xff\xc9\x00\x02", "arithmetic"),
    (b"\xff\xd8\xff\xc0\x00\x0b\x0c\x00\x01\x00\x01\x01\x01\x11\x00", "12-bit"),
    (b"\xff\xd8\xff\xc0\x00\x0b\x08\xff\xff\xff\xff\x01\x01\x11\x00", "larger than this reader accepts"),
    (b"\xff\xd8\xff\xc4\x00\x16\x00" + bytes([3] + [0] * 15) + b"\x00\x01\x02", "bad Huffman table"),
    (b"\xff\xd8\xff\xd9", "no frame header"),
])
def test_errors_name_the_problem(data, fragment):
    with pytest.raises(ImageError, match="cannot decode JPEG <bytes>") as info:
        decode_jpeg(data)
    assert fragment in str(info.value)
