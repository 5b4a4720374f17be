"""PNG reader and writer: round trips, an independent encoder, Pillow, and every error path.

The reference encoder below is written from the PNG specification, in a
different style from purenet's (per-byte loops, its own CRC-framed chunks,
its own bit packing and Adam7 pass extraction), and picks the filter of
each scanline itself, so that all five filter types and every pixel format
reach the decoder. Expected pixels are computed from the samples that went
in, never from the decoder.
"""

import io
import random
import struct
import time
import zlib

import pytest
from hypothesis import given, strategies as st

from conftest import require
from purenet.errors import ImageError
from purenet.io.image import MAX_PIXELS, MAX_SIDE, Image
from purenet.io.imagefile import read_image
from purenet.io.png import SIGNATURE, encode_png, read_png, write_png

SIG = b"\x89PNG\r\n\x1a\n"
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


# --------------------------------------------------------- reference encoder
def chunk(kind, body):
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def pack_row(samples, depth):
    """Samples (ints at ``depth`` bits) -> the scanline bytes, MSB first, zero-padded."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


def filter_row(kind, row, prev, bpp):
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev is not None else 0
        c = prev[i - bpp] if prev is not None and i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out.append((x - predictor) % 256)
    return bytes([kind]) + bytes(out)


def reference_png(width, height, color_type, depth, pixels, *, interlace=False, palette=None,
                  trns=None, rng=None, idat_pieces=3, extra_chunks=()):
    """``pixels``: rows of per-pixel tuples of samples at ``depth``."""
    rng = rng or random.Random(0)
    spp = SAMPLES[color_type]
    bpp = max(1, spp * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    kinds = []
    for x0, y0, dx, dy in passes:
        prev = None
        for y in range(y0, height, dy):
            xs = range(x0, width, dx)
            if not xs:
                break
            samples = [s for x in xs for s in pixels[y][x]]
            row = pack_row(samples, depth)
            kind = rng.randrange(5)
            kinds.append(kind)
            raw += filter_row(kind, row, prev, bpp)
            prev = row
    compressed = zlib.compress(bytes(raw), 6)
    cuts = sorted(rng.randrange(len(compressed) + 1) for _ in range(idat_pieces - 1))
    pieces = [compressed[a:b] for a, b in zip([0] + cuts, cuts + [len(compressed)])]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    out = SIG + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"Comment\x00made by the test")
    for kind, body in extra_chunks:
        out += chunk(kind, body)
    if palette is not None:
        out += chunk(b"PLTE", b"".join(bytes(rgb) for rgb in palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += b"".join(chunk(b"IDAT", p) for p in pieces)
    return out + chunk(b"IEND", b""), kinds


def expected_image(width, height, color_type, depth, pixels, palette=None, trns=None):
    """What the decoder must return, from the samples that went into the file."""
    maxval = (1 << depth) - 1

    def to8(v):
        return round(v * 255 / maxval)

    out = []
    channels = SAMPLES[color_type]
    for row in pixels:
        for px in row:
            if color_type == 3:
                rgb = list(palette[px[0]])
                if trns is not None:
                    rgb.append(trns[px[0]] if px[0] < len(trns) else 255)
                out += rgb
            else:
                out += [to8(v) for v in px]
                if trns is not None:
                    key = struct.unpack(f">{channels}H", trns)
                    out.append(0 if tuple(px) == key else 255)
    if color_type == 3:
        channels = 4 if trns is not None else 3
    elif trns is not None:
        channels += 1
    return Image(width, height, channels, bytes(out))


def random_pixels(rng, width, height, spp, maxval, smooth=False):
    if smooth:  # a gradient plus noise, so that Up/Average/Paeth predict something
        return [[tuple(min(maxval, (x * 7 + y * 5 + c * 40 + rng.randrange(4)) % (maxval + 1)) for c in range(spp))
                 for x in range(width)] for y in range(height)]
    return [[tuple(rng.randrange(maxval + 1) for _ in range(spp)) for _ in range(width)] for _ in range(height)]


FORMATS = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
           (4, 8), (4, 16), (6, 8), (6, 16)]
SIZES = [(1, 1), (1, 7), (7, 1), (5, 3), (13, 9), (33, 17)]


@pytest.mark.parametrize("interlace", [False, True], ids=["plain", "adam7"])
@pytest.mark.parametrize("color_type,depth", FORMATS)
def test_decodes_the_reference_encoder(color_type, depth, interlace):
    rng = random.Random(color_type * 100 + depth + interlace)
    all_kinds = set()
    for width, height in SIZES:
        for smooth in (False, True):
            palette = trns = None
            if color_type == 3:
                n = rng.randrange(1, (1 << depth) + 1)
                palette = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(n)]
                maxval = n - 1
                if smooth:
                    trns = bytes(rng.randrange(256) for _ in range(rng.randrange(1, n + 1)))
            else:
                maxval = (1 << depth) - 1
            spp = SAMPLES[color_type]
            pixels = random_pixels(rng, width, height, spp, maxval, smooth)
            if smooth and color_type in (0, 2):  # a colour key that really occurs
                trns = struct.pack(f">{spp}H", *pixels[0][0])
            data, kinds = reference_png(width, height, color_type, depth, pixels, interlace=interlace,
                                        palette=palette, trns=trns, rng=rng)
            all_kinds.update(kinds)
            got = read_png(data)
            want = expected_image(width, height, color_type, depth, pixels, palette, trns)
            assert got == want, (width, height, smooth)
    assert all_kinds == {0, 1, 2, 3, 4}  # every filter type was exercised


def test_each_filter_type_alone_on_every_byte_value():
    """Rows built so that a, b, c and x run over wide ranges, one filter per file."""
    rng = random.Random(5)
    width, height = 64, 16
    pixels = [[(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(width)]
              for _ in range(height)]
    for kind in range(5):
        raw = bytearray()
        prev = None
        for row in pixels:
            packed = pack_row([s for px in row for s in px], 8)
            raw += filter_row(kind, packed, prev, 3)
            prev = packed
        data = (SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))
        got = read_png(data)
        assert got.pixels == bytes(s for row in pixels for px in row for s in px), kind


# -------------------------------------------------------------- round trips
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [(1, 1), (1, 5), (5, 1), (3, 3), (17, 5), (28, 28), (63, 2)])
def test_round_trip(channels, size, tmp_path):
    width, height = size
    rng = random.Random(channels * 1000 + width * 10 + height)
    pixels = bytes(rng.randrange(256) for _ in range(width * height * channels))
    image = Image(width, height, channels, pixels)
    path = tmp_path / "x.png"
    write_png(path, image)
    assert read_png(path) == image
    assert read_png(str(path)) == image
    assert read_image(path) == image
    data = path.read_bytes()
    assert data == encode_png(image)  # deterministic
    color_type = struct.unpack(">B", data[25:26])[0]
    assert color_type == {1: 0, 2: 4, 3: 2, 4: 6}[channels]


def test_round_trip_of_smooth_images_uses_several_filters():
    width, height = 40, 30
    image = Image(width, height, 3, bytes((x * 3 + y * 2 + c * 50) % 256 for y in range(height)
                                          for x in range(width) for c in range(3)))
    data = encode_png(image)
    assert read_png(data) == image
    raw = zlib.decompress(b"".join(body for kind, body in _chunks(data) if kind == b"IDAT"))
    kinds = {raw[y * (1 + width * 3)] for y in range(height)}
    assert kinds - {0}  # the heuristic chose a predicting filter somewhere


def test_encoder_output_is_a_valid_png_by_the_reference_rules():
    image = Image(3, 2, 2, bytes(range(12)))
    data = encode_png(image)
    assert data[:8] == SIGNATURE == SIG
    kinds = [kind for kind, _ in _chunks(data)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    ihdr = dict(_chunks(data))[b"IHDR"]
    assert struct.unpack(">IIBBBBB", ihdr) == (3, 2, 8, 4, 0, 0, 0)


def _chunks(data):
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        yield kind, body
        pos += 12 + length


def test_image_validation():
    with pytest.raises(ValueError, match="needs 12 bytes"):
        Image(2, 2, 3, bytes(11))
    with pytest.raises(ValueError, match="channels"):
        Image(2, 2, 5, bytes(20))
    with pytest.raises(ValueError, match="width"):
        Image(0, 2, 1, b"")
    with pytest.raises(TypeError):
        encode_png("not an image")


def test_to_gray_luma_and_alpha_over_white():
    rgb = Image(4, 1, 3, bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]))
    want = [round(0.299 * r + 0.587 * g + 0.114 * b) for r, g, b in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]]
    assert list(rgb.to_gray().pixels) == want
    # ink (black) on a transparent canvas reads as black on white paper
    rgba = Image(3, 1, 4, bytes([0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 128]))
    assert list(rgba.to_gray().pixels) == [0, 255, 127]
    la = Image(2, 1, 2, bytes([200, 0, 200, 255]))
    assert list(la.to_gray().pixels) == [255, 200]
    gray = Image(1, 1, 1, b"\x05")
    assert gray.to_gray() is gray


def test_from_gray():
    assert Image.from_gray(2, 2, [0.0, 0.25, 0.5, 1.0]).pixels == bytes([0, 64, 128, 255])
    assert Image.from_gray(1, 2, b"\x01\x02").pixels == b"\x01\x02"
    with pytest.raises(ValueError, match="0, 1"):
        Image.from_gray(1, 1, [255])
    with pytest.raises(ValueError):
        Image.from_gray(1, 1, [float("nan")])
    with pytest.raises(ValueError, match="needs 2 bytes"):
        Image.from_gray(1, 2, [0.5])


# ------------------------------------------------------------------ Pillow
def test_decodes_pillow_files():
    require("PIL")
    from PIL import Image as PILImage

    rng = random.Random(3)
    width, height = 29, 17
    cases = []
    for mode in ("L", "LA", "RGB", "RGBA"):
        n = len(mode)
        cases.append((PILImage.frombytes(mode, (width, height), bytes(rng.randrange(256) for _ in range(width * height * n))), {}, mode))
    noise = PILImage.frombytes("RGB", (width, height), bytes(rng.randrange(256) for _ in range(width * height * 3)))
    cases.append((noise.convert("L").convert("1"), {}, "L"))
    for bits in (1, 2, 4, 8):
        cases.append((noise.quantize(2**bits), {"bits": bits}, "RGB"))
    cases.append((noise.quantize(16), {"transparency": 3}, "RGBA"))
    cases.append((noise.convert("L"), {"transparency": 17}, "LA"))
    for pil_image, options, as_mode in cases:
        for extra in ({}, {"optimize": True}):
            buffer = io.BytesIO()
            pil_image.save(buffer, "PNG", **options, **extra)
            data = buffer.getvalue()
            reference = PILImage.open(io.BytesIO(data)).convert(as_mode)
            got = read_png(data)
            assert got.size == reference.size and got.channels == len(as_mode)
            assert got.pixels == reference.tobytes(), (pil_image.mode, options, extra)


def test_pillow_reads_our_files():
    require("PIL")
    from PIL import Image as PILImage

    rng = random.Random(4)
    for channels, mode in ((1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")):
        for width, height in ((1, 1), (7, 3), (40, 31)):
            image = Image(width, height, channels, bytes(rng.randrange(256) for _ in range(width * height * channels)))
            pil_image = PILImage.open(io.BytesIO(encode_png(image)))
            pil_image.load()
            assert pil_image.mode == mode and pil_image.size == (width, height)
            assert pil_image.tobytes() == image.pixels


# ------------------------------------------------------------------ errors
def good_png(width=4, height=3):
    rng = random.Random(9)
    pixels = [[(rng.randrange(256),) for _ in range(width)] for _ in range(height)]
    return reference_png(width, height, 0, 8, pixels, idat_pieces=1)[0]


def ihdr_png(width, height, depth=8, color_type=0, interlace=0, idat=b"", compression=0, filtering=0):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, compression, filtering, interlace)
    return SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def raw_png(width, height, raw, depth=8, color_type=0):
    return ihdr_png(width, height, depth, color_type, idat=zlib.compress(raw))


def decode_error(data, *fragments):
    with pytest.raises(ImageError) as info:
        read_png(data)
    message = str(info.value)
    assert "PNG" in message and "<bytes>" in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_good_png_decodes():
    assert read_png(good_png()).size == (4, 3)


def test_bad_signature():
    decode_error(b"GIF89a" + bytes(40), "not a PNG")
    decode_error(b"", "signature")
    decode_error(SIG[:5], "signature")
    decode_error(b"\x89PNG\n\r\x1a\n" + good_png()[8:], "not a PNG")  # line endings mangled


def test_bad_crc():
    data = bytearray(good_png())
    data[20] ^= 0x01  # inside the IHDR body
    decode_error(bytes(data), "CRC", "IHDR")
    data = bytearray(good_png())
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0x40
    decode_error(bytes(data), "CRC", "IDAT")


def test_truncated_everywhere():
    data = good_png()
    for cut in range(len(data)):
        with pytest.raises(ImageError):
            read_png(data[:cut])
    for cut, fragment in ((8, "IEND"), (12, "truncated"), (20, "truncated"), (len(data) - 12, "IEND"),
                          (len(data) - 3, "truncated")):
        decode_error(data[:cut], fragment)


def test_missing_chunks():
    data = good_png()
    body = data[8:]
    ihdr_len = 8 + 13 + 4
    decode_error(SIG + body[ihdr_len:], "first chunk", "expected IHDR")
    iend = chunk(b"IEND", b"")
    decode_error(data[: -len(iend)], "IEND")
    no_idat = SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)) + iend
    decode_error(no_idat, "no IDAT")
    decode_error(SIG + iend, "expected IHDR")


def test_chunk_structure_errors():
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x07"))
    iend = chunk(b"IEND", b"")
    assert read_png(SIG + ihdr + idat + iend).pixels == b"\x07"
    decode_error(SIG + ihdr + ihdr + idat + iend, "more than one IHDR")
    decode_error(SIG + ihdr + idat + chunk(b"tEXt", b"a\x00b") + idat + iend, "not consecutive")
    decode_error(SIG + ihdr + chunk(b"ABCD", b"") + idat + iend, "unknown critical chunk ABCD")
    assert read_png(SIG + ihdr + chunk(b"abCD", b"xyz") + idat + iend).pixels == b"\x07"  # ancillary: skipped
    decode_error(SIG + ihdr + b"\x00\x00\x00\x00IH1R" + b"\x00" * 4 + idat + iend, "invalid chunk type")
    decode_error(SIG + ihdr + b"\xff\xff\xff\xffIDAT", "2^31")
    decode_error(SIG + ihdr + struct.pack(">I", 1000) + b"IDAT" + b"\x00" * 20, "truncated")
    decode_error(SIG + chunk(b"IHDR", b"\x00" * 12) + idat + iend, "IHDR chunk has 12 bytes")
    decode_error(SIG + ihdr + idat + chunk(b"IEND", b"x"), "IEND chunk has 1 bytes")


@pytest.mark.parametrize("width,height,fragment", [
    (0, 5, "must be positive"), (5, 0, "must be positive"),
    (MAX_SIDE + 1, 1, "larger than"), (1, MAX_SIDE + 1, "larger than"),
    (MAX_SIDE, MAX_SIDE, "larger than"), (2**31 - 1, 2**31 - 1, "larger than"), (2**32 - 1, 2**32 - 1, "larger than"),
])
def test_header_size_checked_before_anything_is_allocated(width, height, fragment):
    start = time.perf_counter()
    decode_error(ihdr_png(width, height, depth=16, color_type=6, idat=zlib.compress(b"\x00" * 100)), fragment)
    assert time.perf_counter() - start < 0.5
    assert MAX_SIDE * MAX_SIDE > MAX_PIXELS  # the pixel cap is its own check


def test_large_declared_size_with_little_data_fails_fast():
    # allowed dimensions, but a few bytes of compressed data cannot fill them
    start = time.perf_counter()
    decode_error(ihdr_png(3000, 3000, idat=zlib.compress(b"\x00" * 10)), "cannot hold")
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("color_type,depth,fragment", [
    (1, 8, "unknown colour type 1"), (5, 8, "unknown colour type 5"), (7, 8, "unknown colour type"),
    (0, 3, "bit depth 3"), (0, 32, "bit depth 32"), (2, 4, "bit depth 4"), (3, 16, "bit depth 16"),
    (4, 1, "bit depth 1"), (6, 2, "bit depth 2"), (0, 0, "bit depth 0"),
])
def test_unsupported_color_type_or_bit_depth(color_type, depth, fragment):
    decode_error(ihdr_png(2, 2, depth=depth, color_type=color_type, idat=zlib.compress(bytes(20))), fragment)


def test_unknown_methods():
    decode_error(ihdr_png(2, 2, interlace=2, idat=zlib.compress(bytes(6))), "interlace method 2")
    decode_error(ihdr_png(2, 2, compression=1, idat=zlib.compress(bytes(6))), "compression method")
    decode_error(ihdr_png(2, 2, filtering=1, idat=zlib.compress(bytes(6))), "filter method")


def test_interlaced_decodes_like_plain():
    rng = random.Random(11)
    pixels = random_pixels(rng, 9, 10, 3, 255)
    plain = reference_png(9, 10, 2, 8, pixels)[0]
    adam7 = reference_png(9, 10, 2, 8, pixels, interlace=True)[0]
    assert read_png(plain) == read_png(adam7)


def test_bad_filter_byte():
    for kind in (5, 6, 255):
        decode_error(raw_png(2, 2, b"\x00\x01\x02" + bytes([kind]) + b"\x03\x04"), f"unknown filter type {kind}", "scanline 1")


def test_wrong_amount_of_image_data():
    decode_error(raw_png(3, 2, bytes(7)), "the header needs 8")
    decode_error(raw_png(3, 2, bytes(9)), "more than the 8 bytes")
    stream = zlib.compress(bytes(8))
    decode_error(ihdr_png(3, 2, idat=stream[:-4]), "truncated")  # Adler-32 missing
    decode_error(ihdr_png(3, 2, idat=stream[:-6]), "truncated")  # stream cut inside the data
    bad_adler = stream[:-1] + bytes([stream[-1] ^ 1])
    decode_error(ihdr_png(3, 2, idat=bad_adler), "corrupt compressed")
    decode_error(ihdr_png(3, 2, idat=b"\x78\x9c\xff\xff\xff"), "compressed")


def test_zlib_bomb_stops_at_the_declared_size():
    # 1 MB of zeros per kB of input: 200 MB would come out of this stream
    bomb = zlib.compressobj(9)
    stream = b"".join(bomb.compress(bytes(1 << 20)) for _ in range(200)) + bomb.flush()
    assert len(stream) < 250_000
    start = time.perf_counter()
    decode_error(ihdr_png(10, 10, idat=stream), "more than the 110 bytes")
    assert time.perf_counter() - start < 0.5


def test_palette_errors():
    pixels = [[(1,), (0,)]]
    palette = [(1, 2, 3), (4, 5, 6)]
    ok = reference_png(2, 1, 3, 8, pixels, palette=palette)[0]
    assert read_png(ok).pixels == bytes([4, 5, 6, 1, 2, 3])
    no_plte = reference_png(2, 1, 3, 8, pixels)[0]
    decode_error(no_plte, "without a PLTE")
    small = reference_png(2, 1, 3, 8, [[(2,), (0,)]], palette=palette)[0]
    decode_error(small, "palette index 2 out of range")
    bad_plte = reference_png(2, 1, 3, 8, pixels, extra_chunks=[(b"PLTE", b"\x00" * 4)])[0]
    decode_error(bad_plte, "PLTE chunk of 4 bytes")
    too_many_alpha = reference_png(2, 1, 3, 8, pixels, palette=palette, trns=b"\x00\x00\x00")[0]
    decode_error(too_many_alpha, "tRNS chunk has 3 entries")
    bad_key = reference_png(2, 1, 0, 8, pixels, trns=b"\x00")[0]
    decode_error(bad_key, "tRNS chunk has 1 bytes")


def test_trailing_data_after_iend_is_ignored():
    data = good_png()
    assert read_png(data + b"garbage after the end") == read_png(data)
    assert read_png(data + good_png(9, 9)) == read_png(data)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(good_png()[:30])
    with pytest.raises(ImageError, match="broken.png"):
        read_png(path)
    with pytest.raises(FileNotFoundError):
        read_png(tmp_path / "missing.png")
    with pytest.raises(TypeError):
        read_png(12)


def test_read_image_dispatches_on_magic(tmp_path):
    png = good_png()
    (tmp_path / "really-a-png.pgm").write_bytes(png)
    assert read_image(tmp_path / "really-a-png.pgm") == read_png(png)
    assert read_image(b"P5 2 1 255\n\x01\x02").pixels == b"\x01\x02"
    assert read_image(b"P2 2 1 255 1 2").pixels == b"\x01\x02"
    with pytest.raises(ImageError, match="cannot decode JPEG"):  # a JPEG goes to the JPEG reader
        read_image(b"\xff\xd8\xff\xe0" + bytes(20))
    for data, fragment in ((b"II*\x00" + bytes(20), "TIFF"), (b"GIF89a", "GIF"), (b"BM" + bytes(50), "BMP"),
                           (b"", "empty"), (b"hello", "unrecognised"), (b"P4 1 1\n\x00", "PBM")):
        with pytest.raises(ImageError) as info:
            read_image(data)
        assert fragment in str(info.value) and "PNG" in str(info.value) and "PGM" in str(info.value)


# --------------------------------------------------------------- robustness
def _only_image_errors(data):
    try:
        read_png(data)
    except ImageError:
        pass


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_image_error(data):
    _only_image_errors(SIG + data)
    _only_image_errors(data)


@given(st.data())
def test_mutated_files_raise_only_image_error(data):
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    color_type, depth = FORMATS[rng.randrange(len(FORMATS))]
    spp = SAMPLES[color_type]
    palette = [(i, i, i) for i in range(1 << depth)] if color_type == 3 else None
    maxval = (1 << depth) - 1
    width, height = rng.randrange(1, 9), rng.randrange(1, 9)
    pixels = random_pixels(rng, width, height, spp, maxval)
    png = bytearray(reference_png(width, height, color_type, depth, pixels, palette=palette, rng=rng,
                                  interlace=rng.random() < 0.5)[0])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = rng.randrange(len(png))
        action = rng.randrange(3)
        if action == 0:
            png[pos] ^= 1 << rng.randrange(8)
        elif action == 1:
            del png[pos:]
            if not png:
                break
        else:
            png[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    _only_image_errors(bytes(png))


def test_mutations_with_fixed_crcs_raise_only_image_error():
    """Flip bits inside chunk bodies and recompute the CRCs, so the damage reaches
    IHDR validation, zlib and the unfiltering instead of stopping at the CRC check."""
    rng = random.Random(21)
    for trial in range(300):
        color_type, depth = FORMATS[trial % len(FORMATS)]
        palette = [(i, i, i) for i in range(1 << depth)] if color_type == 3 else None
        pixels = random_pixels(rng, 5, 4, SAMPLES[color_type], (1 << depth) - 1)
        png = reference_png(5, 4, color_type, depth, pixels, palette=palette, rng=rng, idat_pieces=1,
                            interlace=trial % 2 == 1)[0]
        chunks = list(_chunks(png))
        index = rng.randrange(len(chunks))
        kind, body = chunks[index]
        if not body:
            continue
        body = bytearray(body)
        for _ in range(rng.randrange(1, 4)):
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        chunks[index] = (kind, bytes(body))
        _only_image_errors(SIG + b"".join(chunk(k, b) for k, b in chunks))


def test_16_bit_samples_round_exactly_to_8_bits():
    from purenet.io.png import _to8_16

    every = bytes(b for v in range(65536) for b in v.to_bytes(2, "big"))
    assert _to8_16(every, 65536) == bytes([(v * 255 + 32767) // 65535 for v in range(65536)])


# ------------------------------------------------------------ reduced reading
def _group_means(image, f):
    """The reference: each output pixel the rounded mean of its f x f group, edges repeated."""
    w, h, c, px = image.width, image.height, image.channels, image.pixels
    out = []
    for oy in range(-(-h // f)):
        for ox in range(-(-w // f)):
            for ch in range(c):
                total = sum(px[(min(oy * f + dy, h - 1) * w + min(ox * f + dx, w - 1)) * c + ch]
                            for dy in range(f) for dx in range(f))
                out.append((total + f * f // 2) // (f * f))
    return bytes(out)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("size,min_side,factor", [((37, 23), 5, 4), ((16, 40), 8, 2), ((9, 9), 1, 8),
                                                  ((30, 20), 20, 1)])
def test_min_side_reduces_a_png_to_the_means_of_its_groups(channels, size, min_side, factor):
    rng = random.Random(channels)
    width, height = size
    image = Image(width, height, channels, bytes(rng.randrange(256) for _ in range(width * height * channels)))
    reduced = read_image(encode_png(image), min_side=min_side)
    assert reduced.size == (-(-width // factor), -(-height // factor))
    assert min(reduced.size) >= min_side
    assert reduced.pixels == _group_means(image, factor)


def test_min_side_and_gray_on_other_formats():
    image = Image(4, 2, 3, bytes(range(24)))
    assert read_image(b"P6 4 2 255\n" + bytes(range(24)), min_side=1).pixels == _group_means(image, 2)
    assert read_image(encode_png(image), gray=True) == image.to_gray()
    with pytest.raises(ValueError, match="min_side"):
        read_image(encode_png(image), min_side=0)
