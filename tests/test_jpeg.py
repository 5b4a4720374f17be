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
import math
import os
import random

import pytest

from conftest import require
from jpeg_pictures import encode as _encode
from jpeg_pictures import picture
from jpeg_pictures import pillow_decode as _pillow
from purenet.errors import ImageError
from purenet.io.imagefile import read_image
from purenet.io.jpeg import decode_jpeg, read_jpeg, scale_for
from purenet.io.png import read_png


# gray has no chroma to subsample: one case; colour with 4:4:4, 4:2:2 and 4:2:0
@pytest.mark.parametrize("mode, subsampling", [("L", 0), ("RGB", 0), ("RGB", 1), ("RGB", 2)])
@pytest.mark.parametrize("progressive", [False, True])
def test_equals_pillow(mode, subsampling, progressive):
    pil = require("PIL.Image")
    data = _encode(picture(pil, mode, 53, 37, subsampling), quality=87, subsampling=subsampling,
                   progressive=progressive)
    ref = _pillow(pil, data)
    image = decode_jpeg(data)
    assert (image.width, image.height, image.mode) == (53, 37, {"L": "gray", "RGB": "RGB"}[mode])
    assert image.pixels == ref.tobytes()


@pytest.mark.parametrize("restart", [1, 3])
@pytest.mark.parametrize("progressive", [False, True])
def test_restart_intervals_equal_pillow(restart, progressive):
    pil = require("PIL.Image")
    data = _encode(picture(pil, "RGB", 45, 41, 7), quality=75, subsampling=2, progressive=progressive,
                   restart_marker_blocks=restart)
    assert b"\xff\xdd" in data and b"\xff\xd0" in data
    assert decode_jpeg(data).pixels == _pillow(pil, data).tobytes()


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("subsampling,progressive", [(0, False), (2, False), (1, True), (2, True)])
def test_scaled_decoding_equals_pillow_draft(scale, subsampling, progressive):
    pil = require("PIL.Image")
    data = _encode(picture(pil, "RGB", 101, 67, scale), quality=90, subsampling=subsampling,
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
    data = _encode(picture(pil, "RGB", 20, 10, 1), quality=95)
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


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_pillow_does(orientation):
    pil = require("PIL.Image")
    ops = require("PIL.ImageOps")
    exif = pil.Exif()
    exif[0x0112] = orientation
    data = _encode(picture(pil, "RGB", 24, 16, orientation), quality=90, exif=exif.tobytes())
    ref = ops.exif_transpose(_pillow(pil, data))
    image = decode_jpeg(data)
    assert image.size == ref.size == ((24, 16) if orientation < 5 else (16, 24))
    assert image.pixels == ref.tobytes()
    # scaled and gray decoding turn the same way
    assert decode_jpeg(data, min_side=8, gray=True).size == ((12, 8) if orientation < 5 else (8, 12))


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("scale", [1, 2, 8])
def test_gray_is_the_luma_pillow_decodes(progressive, scale):
    pil = require("PIL.Image")
    data = _encode(picture(pil, "RGB", 64, 48, 3), quality=80, subsampling=2, progressive=progressive)
    ref = pil.open(io.BytesIO(data))
    ref.draft("L", (64 // scale, 48 // scale))
    assert ref.mode == "L"  # libjpeg's grayscale output: the Y channel
    image = decode_jpeg(data, min_side=48 // scale, gray=True)
    assert image.mode == "gray" and image.size == ref.size
    assert image.pixels == ref.tobytes()


def test_a_large_photo_is_decoded_small_from_its_dc_terms():
    """A 1024x768 photo read with min_side=96: 1/8 scale, each block its mean, as Pillow's draft."""
    pil = require("PIL.Image")
    rng = random.Random(5)
    image = pil.effect_noise((1024, 768), 40).convert("RGB")  # texture in every block
    image.paste((20, 30, 90), (300, 200, 600, 500))
    image = image.rotate(rng.uniform(-5, 5))
    data = _encode(image, quality=90)
    ref = _pillow(pil, data, 8)
    small = decode_jpeg(data, min_side=96)
    assert small.size == ref.size == (128, 96)
    assert small.pixels == ref.tobytes()


def test_rgb_jpeg_without_color_transform():
    """A JPEG whose Adobe marker says its three components are R, G, B (no YCbCr)."""
    pil = require("PIL.Image")
    image = picture(pil, "RGB", 24, 16, 9)
    data = _encode(image, quality=95, subsampling=0, keep_rgb=True)
    assert b"Adobe" in data
    assert decode_jpeg(data).pixels == _pillow(pil, data).tobytes()


# ------------------------------------------- without Pillow: files made by it once
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "jpeg")
FILES = sorted(name[:-4] for name in os.listdir(DATA) if name.endswith(".jpg"))


@pytest.mark.parametrize("name", FILES)
def test_committed_files_decode_as_pillow_decoded_them(name):
    """scripts/jpeg_testdata.py wrote each file and Pillow's decoding of it (full size and 1/8)."""
    path = os.path.join(DATA, name + ".jpg")
    for suffix, min_side in (("", None), (".8", 1)):
        expected = read_png(os.path.join(DATA, name + suffix + ".png"))
        assert read_image(path, min_side=min_side) == expected


def test_committed_files_cover_the_cases():
    assert len(FILES) >= 6
    kinds = " ".join(FILES)
    for kind in ("gray", "444", "422", "420", "baseline", "progressive", "restart", "exif"):
        assert kind in kinds


# ------------------------------------------- the integer arithmetic against the formulas
def _float_idct(block, n):
    """T.81 A.3.3 at full size, then the mean of each (8/n) x (8/n) group of samples:
    what the integer IDCTs compute at 1/1, 1/2, 1/4, 1/8 scale."""
    f = [[0.0] * 8 for _ in range(8)]
    for y in range(8):
        for x in range(8):
            total = 0.0
            for v in range(8):
                for u in range(8):
                    cu = math.sqrt(0.5) if u == 0 else 1.0
                    cv = math.sqrt(0.5) if v == 0 else 1.0
                    total += (cu / 2) * (cv / 2) * block[v * 8 + u] * math.cos((2 * x + 1) * u * math.pi / 16) \
                        * math.cos((2 * y + 1) * v * math.pi / 16)
            f[y][x] = total + 128
    s = 8 // n
    return [min(255, max(0, math.floor(sum(f[i * s + a][j * s + b] for a in range(s) for b in range(s)) / (s * s)
                                       + 0.5)))
            for i in range(n) for j in range(n)]


@pytest.mark.parametrize("n", [8, 4, 2, 1])
def test_integer_idct_is_within_one_level_of_the_formula(n):
    """libjpeg's fixed-point IDCTs (13-bit constants, rounding between passes) stay within
    1 level of the exact cosine sums (averaged over groups at reduced sizes) on blocks
    like those of photos."""
    from purenet.io.jpeg.idct import idct_1x1, idct_2x2, idct_4x4, idct_8x8

    rng = random.Random(n)
    worst = 0
    for trial in range(60):
        block = [0] * 64
        block[0] = rng.randrange(-1000, 1000)
        for _ in range(rng.randrange(1, 20)):  # a few AC terms, larger at low frequencies
            u, v = rng.randrange(8), rng.randrange(8)
            block[v * 8 + u] = int(rng.gauss(0, 300 / (1 + u + v)))
        if n == 1:
            got = [idct_1x1(block[0])]
        else:
            got = list({8: idct_8x8, 4: idct_4x4, 2: idct_2x2}[n](block))
        expected = _float_idct(block, n)
        worst = max(worst, max(abs(a - b) for a, b in zip(got, expected)))
    assert worst <= 1, worst


def test_color_conversion_is_within_one_level_of_the_formula():
    from purenet.io.jpeg.color import ycc_to_rgb

    rng = random.Random(0)
    y, cb, cr = (bytes(rng.randrange(256) for _ in range(2000)) for _ in range(3))
    rgb = ycc_to_rgb(y, cb, cr)
    for i in range(2000):
        a, b, c = y[i], cb[i] - 128, cr[i] - 128
        for got, want in zip(rgb[3 * i : 3 * i + 3], (a + 1.402 * c, a - 0.344136 * b - 0.714136 * c, a + 1.772 * b)):
            assert abs(got - min(255.0, max(0.0, want))) <= 1.0


# ------------------------------------------- the fast paths against the plain ones
def _ac_tables():
    """The AC Huffman tables of the committed baseline files (those that are skipped at 1/8)."""
    from purenet.io.jpeg.markers import parse

    specs = set()
    for name in FILES:
        if "baseline" not in name:
            continue
        with open(os.path.join(DATA, name + ".jpg"), "rb") as f:
            parsed = parse(f.read(), pytest.fail, lambda w, h: None)
        for scan in parsed.scans:
            specs.update(spec for (kind, _), spec in scan.huffman.items() if kind == 1)
    return sorted(specs)


def test_skip_table_agrees_with_decoding_one_code_at_a_time():
    """Each entry of the skip table (several AC codes per lookup, for 1/8 scale) against
    walking the same 16 bits with the one-code table, code by code."""
    from purenet.io.jpeg.huffman import ac_table, skip_table

    tables = _ac_tables()
    assert len(tables) >= 2
    for counts, symbols in tables:
        single = ac_table(counts, symbols, pytest.fail)
        skip = skip_table(single)
        skipped = 0
        for pattern in range(1 << 16):
            used, steps, eob = 0, 0, False
            while True:
                bits, step, value = single[(pattern << used) & 0xFFFF]
                if value is None or bits == 0 or used + bits > 16:
                    break
                used += bits
                if step == 64:
                    eob = True
                    break
                steps += step
            bound = ((64 if eob else 65) - steps) if used else 0
            entry = skip[pattern]
            if bound <= 0:
                assert entry == 0
                continue
            # from any position k < bound: `used` bits, then past the block (eob) or at k + steps
            assert (entry & 31, (entry >> 5) & 127, entry >> 12) == (used, bound, 64 if eob else steps)
            skipped += steps > 1 or eob and steps > 0
        assert skipped > 1000  # the table does skip several codes at once


@pytest.mark.parametrize("name", FILES)
def test_dc_terms_at_one_eighth_equal_those_of_the_full_decode(name):
    """At 1/8 scale the AC codes are skipped several at a time and only the DC terms kept:
    they must be the DC terms the full decode (one code at a time, all 64 kept) finds."""
    from purenet.io.jpeg.decoder import decode_frame
    from purenet.io.jpeg.markers import parse

    with open(os.path.join(DATA, name + ".jpg"), "rb") as f:
        parsed = parse(f.read(), pytest.fail, lambda w, h: None)
    full = decode_frame(parsed.frame, parsed.scans, 8, pytest.fail)
    small = decode_frame(parsed.frame, parsed.scans, 1, pytest.fail, wanted=())  # every component at 1/8
    for a, b in zip(full, small):
        assert len(a.coefs) == 64 * len(b.coefs) > 0
        assert list(a.coefs[::64]) == list(b.coefs)


def test_dc_terms_at_one_eighth_with_blocks_coded_to_their_last_coefficient():
    """Quality 100 and noise: many blocks code coefficient 63 and have no end-of-block,
    so a skip that would run into the next block must fall back to one code at a time."""
    pil = require("PIL.Image")
    from purenet.io.jpeg.decoder import decode_frame
    from purenet.io.jpeg.markers import parse

    image = pil.effect_noise((96, 64), 90).convert("RGB")
    parsed = parse(_encode(image, quality=100, subsampling=2), pytest.fail, lambda w, h: None)
    full = decode_frame(parsed.frame, parsed.scans, 8, pytest.fail)
    small = decode_frame(parsed.frame, parsed.scans, 1, pytest.fail, wanted=())  # every component at 1/8
    coded_to_63 = sum(1 for p in full for b in range(0, len(p.coefs), 64) if p.coefs[b + 63])
    assert coded_to_63 > 20
    for a, b in zip(full, small):
        assert list(a.coefs[::64]) == list(b.coefs)
