"""PGM/PPM reader and PGM writer: formats, comments, scaling, round trips and error paths."""

import random
import time

import pytest
from hypothesis import given, strategies as st

from conftest import require
from purenet.errors import ImageError
from purenet.io.image import MAX_SIDE, Image
from purenet.io.imagefile import read_image
from purenet.io.pgm import encode_pgm, read_pgm, write_pgm


def scaled(v, maxval):
    """v * 255 / maxval rounded half up, in exact integers."""
    return (2 * v * 255 + maxval) // (2 * maxval)


def decode_error(data, *fragments):
    with pytest.raises(ImageError) as info:
        read_pgm(data)
    message = str(info.value)
    assert "PGM" in message and "<bytes>" in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_p5_8bit():
    image = read_pgm(b"P5\n3 2\n255\n" + bytes([0, 1, 2, 253, 254, 255]))
    assert (image.width, image.height, image.channels) == (3, 2, 1)
    assert image.pixels == bytes([0, 1, 2, 253, 254, 255])


def test_p2_ascii_with_comments_everywhere():
    data = b"P2 # plain gray\n# width and height\n3 # three wide\n2\n# maxval:\n255\n0 1 2 # first row\n253\n254 255\n"
    assert read_pgm(data).pixels == bytes([0, 1, 2, 253, 254, 255])
    assert read_pgm(b"P2\r\n2 1\r\n255\r\n7 8").pixels == b"\x07\x08"  # CRLF, no final newline


def test_header_comment_right_after_magic_and_maxval_whitespace():
    assert read_pgm(b"P5#c\n1 1 255\t\x09").pixels == b"\x09"  # one whitespace (a tab) after maxval
    assert read_pgm(b"P5 1 1 255\n\n").pixels == b"\n"  # the second newline is the sample


@pytest.mark.parametrize("maxval", [1, 3, 15, 100, 254])
def test_small_maxval_scales_to_0_255(maxval):
    values = list(range(maxval + 1))
    width = len(values)
    want = bytes(scaled(v, maxval) for v in values)
    raw = read_pgm(b"P5 %d 1 %d\n" % (width, maxval) + bytes(values))
    plain = read_pgm(b"P2 %d 1 %d\n" % (width, maxval) + " ".join(map(str, values)).encode())
    assert raw.pixels == plain.pixels == want


@pytest.mark.parametrize("maxval", [256, 1000, 65535])
def test_16bit(maxval):
    rng = random.Random(maxval)
    values = [0, maxval, maxval // 2] + [rng.randrange(maxval + 1) for _ in range(20)]
    width = len(values)
    want = bytes(scaled(v, maxval) for v in values)
    raw = b"P5 %d 1 %d\n" % (width, maxval) + b"".join(v.to_bytes(2, "big") for v in values)
    assert read_pgm(raw).pixels == want
    plain = b"P2 %d 1 %d\n" % (width, maxval) + " ".join(map(str, values)).encode()
    assert read_pgm(plain).pixels == want


def test_ppm_p6_and_p3():
    pixels = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    raw = read_pgm(b"P6 2 2 255\n" + pixels)
    plain = read_pgm(b"P3 2 2 255\n" + " ".join(map(str, pixels)).encode())
    assert raw == plain == Image(2, 2, 3, pixels)


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (9, 1), (5, 7), (28, 28)])
def test_round_trip(size, tmp_path):
    width, height = size
    rng = random.Random(width * 31 + height)
    image = Image(width, height, 1, bytes(rng.randrange(256) for _ in range(width * height)))
    path = tmp_path / "x.pgm"
    write_pgm(path, image)
    assert path.read_bytes() == b"P5\n%d %d\n255\n" % size + image.pixels
    assert read_pgm(path) == read_pgm(str(path)) == read_image(path) == image


def test_writer_refuses_colour():
    with pytest.raises(ValueError, match="to_gray"):
        encode_pgm(Image(1, 1, 3, b"abc"))
    with pytest.raises(TypeError):
        encode_pgm(b"P5")


def test_pillow_agrees():
    require("PIL")
    import io

    from PIL import Image as PILImage

    rng = random.Random(2)
    pil_image = PILImage.frombytes("L", (13, 7), bytes(rng.randrange(256) for _ in range(91)))
    buffer = io.BytesIO()
    pil_image.save(buffer, "PPM")  # Pillow writes L images as P5
    assert buffer.getvalue()[:2] == b"P5"
    assert read_pgm(buffer.getvalue()).pixels == pil_image.tobytes()
    ours = encode_pgm(read_pgm(buffer.getvalue()))
    assert PILImage.open(io.BytesIO(ours)).tobytes() == pil_image.tobytes()


@pytest.mark.parametrize("data,fragments", [
    (b"", ["not a PGM"]),
    (b"P", ["not a PGM"]),
    (b"P9 1 1 255\n\x00", ["not a PGM"]),
    (b"P1 1 1\n1", ["PBM"]),
    (b"P4 1 1\n\x00", ["PBM"]),
    (b"P7\nWIDTH 1\n", ["PAM"]),
    (b"P51 1 255\n\x00", ["whitespace after the magic"]),
    (b"P5", ["width", "end of the file"]),
    (b"P5 x 1 255\n\x00", ["width", "'x'"]),
    (b"P5 1", ["height"]),
    (b"P5 1 1", ["maxval"]),
    (b"P5 1 1 255", ["no samples"]),
    (b"P5 1 1 255x\x00", ["whitespace after maxval"]),
    (b"P5 -1 1 255\n\x00", ["width"]),
    (b"P5 0 1 255\n", ["must be positive"]),
    (b"P5 1 0 255\n", ["must be positive"]),
    (b"P5 1 1 0\n\x00", ["maxval 0"]),
    (b"P5 1 1 65536\n\x00\x00", ["maxval 65536"]),
    (b"P5 1 1 99999999999999999999\n\x00", ["more than 9 digits"]),
    (b"P5 3 2 255\n\x00\x00\x00\x00\x00", ["truncated", "5 bytes, expected 6"]),
    (b"P5 2 1 1000\n\x00\x01\x00", ["truncated"]),
    (b"P5 2 1 100\n\x00\x65", ["101 exceeds maxval 100"]),
    (b"P5 1 1 1000\n\x03\xe9", ["1001 exceeds maxval 1000"]),
    (b"P2 2 2 255\n1 2 3", ["truncated", "3 samples, expected 4"]),
    (b"P2 2 1 255\n1 x", ["sample 1", "'x'"]),
    (b"P2 2 1 255\n1 -2", ["sample 1"]),
    (b"P2 2 1 255\n1 2.5", ["sample 1"]),
    (b"P2 2 1 255\n1 256", ["256 exceeds maxval 255"]),
    (b"P2 1 1 255\n" + b"9" * 5000, ["sample 0"]),
    (b"P6 1 1 255\n\x00\x00", ["truncated"]),
])
def test_errors(data, fragments):
    decode_error(data, *fragments)


def test_huge_declared_size_fails_fast():
    for header in (b"P5 %d 1 255\n" % (MAX_SIDE + 1), b"P5 9000 9000 255\n", b"P2 999999999 999999999 255\n"):
        start = time.perf_counter()
        decode_error(header + b"\x00" * 10, "larger than")
        assert time.perf_counter() - start < 0.5


def test_trailing_data_is_ignored():
    assert read_pgm(b"P5 1 1 255\n\x07more data").pixels == b"\x07"
    assert read_pgm(b"P2 1 1 255\n7 8 9 junk").pixels == b"\x07"


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.pgm"
    path.write_bytes(b"P5 2 2 255\n\x00")
    with pytest.raises(ImageError, match="bad.pgm"):
        read_pgm(path)


@given(st.binary(max_size=200))
def test_random_input_raises_only_image_error(data):
    for prefix in (b"", b"P5 ", b"P2 ", b"P5 3 2 ", b"P2 3 2 255 ", b"P6 2 2 65535\n"):
        try:
            read_pgm(prefix + data)
        except ImageError:
            pass
