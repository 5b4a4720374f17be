"""The MNIST digit recipe: polarity, crop, 20 px box with area averaging, centre of mass at (14, 14).

Every property is measured on the output by code written here (bounding
box, centre of mass, correlation), not taken from the implementation.
"""

import math
import random

import pytest

import purenet as pn
from conftest import require
from purenet.datasets import load_bundled
from purenet.io.image import Image
from purenet.app.preprocess import preprocess, preprocess_to_matrix

SIZE = 28


# ------------------------------------------------------------ measurements
def bbox(x, cut=0.0):
    """(top, left, bottom, right), inclusive, of the values above ``cut`` in a flat 28x28 image."""
    rows = [r for r in range(SIZE) if max(x[r * SIZE : (r + 1) * SIZE]) > cut]
    cols = [c for c in range(SIZE) if max(x[c::SIZE]) > cut]
    return rows[0], cols[0], rows[-1], cols[-1]


def box_size(x):
    top, left, bottom, right = bbox(x)
    return bottom - top + 1, right - left + 1  # (height, width)


def centre_of_mass(x):
    mass = sum(x)
    cy = sum(v * (i // SIZE) for i, v in enumerate(x)) / mass
    cx = sum(v * (i % SIZE) for i, v in enumerate(x)) / mass
    return cy, cx


def correlation(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((p - ma) * (q - mb) for p, q in zip(a, b))
    va = sum((p - ma) ** 2 for p in a)
    vb = sum((q - mb) ** 2 for q in b)
    return cov / math.sqrt(va * vb)


def check_mnist_like(x):
    assert len(x) == SIZE * SIZE
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in x)
    assert max(x) == 1.0
    assert max(box_size(x)) in (19, 20, 21)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 + 1e-9 and abs(cx - 14) <= 0.5 + 1e-9, (cy, cx)


# ---------------------------------------------------------------- drawings
def canvas(height, width, value=0.0):
    return [[value] * width for _ in range(height)]


def rectangle(height, width, top, left, h, w, ink=1.0, background=0.0):
    rows = canvas(height, width, background)
    for r in range(top, top + h):
        rows[r][left : left + w] = [ink] * w
    return rows


def draw_one(size=280):
    """A '1': a slanted thick stroke with a small flag, anti-aliased by 4x4 supersampling."""
    def inside(x, y):
        # stroke from (150, 40) down to (120, 240), 22 px thick; flag towards the left at the top
        t = min(1.0, max(0.0, (y - 40) / 200))
        cx = 150 - 30 * t
        if 40 <= y <= 240 and abs(x - cx) <= 11:
            return True
        return 40 <= y <= 60 and 105 <= x <= 150 and abs((y - 40) - (150 - x) * 0.4) <= 10
    return _render(inside, size)


def draw_zero(size=280):
    """A '0': an elliptical ring."""
    def inside(x, y):
        r = ((x - 140) / 60) ** 2 + ((y - 135) / 95) ** 2
        inner = ((x - 140) / 38) ** 2 + ((y - 135) / 72) ** 2
        return r <= 1.0 and inner >= 1.0
    return _render(inside, size)


def _render(inside, size):
    """``inside`` is drawn on a 280 x 280 field; render it at ``size`` x ``size``."""
    key = (inside.__code__, size)
    if key not in _RENDERED:
        _RENDERED[key] = _supersample(inside, size)
    return [list(row) for row in _RENDERED[key]]


_RENDERED = {}


def _supersample(inside, size):
    k = 280 / size
    offsets = [(i + 0.5) / 4 for i in range(4)]
    return [[sum(inside((x + dx) * k, (y + dy) * k) for dx in offsets for dy in offsets) / 16
             for x in range(size)] for y in range(size)]


def invert(rows):
    return [[1.0 - v for v in row] for row in rows]


def as_image(rows):
    return Image.from_gray(len(rows[0]), len(rows), [v for row in rows for v in row])


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize("drawing", [draw_one, draw_zero], ids=["one", "zero"])
def test_drawn_digits_come_out_mnist_like(drawing):
    rows = drawing()
    x = preprocess(rows)
    check_mnist_like(x)
    assert box_size(x)[0] == 20  # both digits are taller than wide


def test_thick_rectangle_box_aspect_and_centre():
    x = preprocess(rectangle(100, 100, 10, 30, 60, 20))
    check_mnist_like(x)
    assert box_size(x) == (20, 7)  # 60 x 20 -> 20 x 6.67, rounded
    # a uniform rectangle stays uniform inside (area weights are exact)
    top, left, bottom, right = bbox(x)
    assert all(x[r * SIZE + c] == 1.0 for r in range(top, bottom + 1) for c in range(left, right))


def test_aspect_ratio_is_preserved():
    wide = preprocess(rectangle(100, 200, 40, 20, 20, 160))  # 20 tall, 160 wide -> 3 x 20 after rounding 2.5
    assert box_size(wide)[1] == 20 and box_size(wide)[0] in (2, 3)
    for h, w in ((50, 25), (30, 45), (12, 80), (77, 77)):
        x = preprocess(rectangle(120, 120, 10, 15, h, w))
        height, width = box_size(x)
        want = (20 * h / max(h, w), 20 * w / max(h, w))
        assert abs(height - want[0]) <= 1 and abs(width - want[1]) <= 1, (h, w, height, width)
        assert max(height, width) == 20


def test_inverted_input_gives_the_same_result():
    for drawing in (draw_one, draw_zero):
        rows = drawing(140)
        bright = preprocess(rows)
        dark = preprocess(invert(rows))
        assert max(abs(a - b) for a, b in zip(bright, dark)) < 1e-9
        assert preprocess(invert(rows), invert=True) == dark


def test_forced_polarity():
    rows = rectangle(40, 40, 5, 15, 30, 10)
    assert preprocess(rows, invert=False) == preprocess(rows)
    # forcing the wrong polarity sees the bright bar as background: nothing is darker than it
    ink_as_background = [[1.0] * 40 for _ in range(40)]
    assert preprocess(ink_as_background, invert=True) is None


def test_grey_paper_and_grey_ink_are_stretched():
    photo = rectangle(60, 60, 10, 20, 40, 12, ink=0.35, background=0.8)
    x = preprocess(photo)
    check_mnist_like(x)
    assert x == preprocess(rectangle(60, 60, 10, 20, 40, 12))


def test_position_in_the_picture_does_not_matter():
    centre = preprocess(rectangle(200, 200, 80, 90, 50, 20))
    corner = preprocess(rectangle(200, 200, 0, 0, 50, 20))
    far = preprocess(rectangle(200, 200, 150, 180, 50, 20))
    assert centre == corner == far


def test_scale_of_the_picture_does_not_matter():
    """Each target pixel of an image enlarged k times by pixel replication covers
    the same source area: area averaging must give the same result."""
    small = draw_zero(70)
    x = preprocess(small)
    for k in (2, 3, 4):
        big = [[v for v in row for _ in range(k)] for row in small for _ in range(k)]
        y = preprocess(big)
        assert max(abs(a - b) for a, b in zip(x, y)) < 1e-9, k


def test_area_average_values():
    # a 2 x 40 bar shrinks to 1 x 20; a 1 x 10 bar grows to 2 x 20: values stay 1
    for h, w in ((2, 40), (1, 10)):
        x = preprocess(rectangle(10 + h, 60, 5, 10, h, w))
        assert box_size(x) == (max(1, round(20 * h / w)), 20)
        assert sorted(set(x)) == [0.0, 1.0]
    # a checkerboard 40 x 40 averages to a flat 0.5 before stretching: all ones after
    board = [[float((r + c) % 2) for c in range(40)] for r in range(40)]
    frame = canvas(60, 60)
    for r in range(40):
        frame[10 + r][10:50] = board[r]
    x = preprocess(frame)
    top, left, bottom, right = bbox(x)
    inner = [x[r * SIZE + c] for r in range(top, bottom + 1) for c in range(left, right + 1)]
    assert box_size(x) == (20, 20) and max(inner) - min(inner) < 1e-12


def test_tiny_and_huge_inputs():
    tiny = [[0, 0, 0], [0, 255, 0], [0, 0, 0]]
    x = preprocess(tiny)
    check_mnist_like(x)
    assert box_size(x) == (20, 20)
    one_pixel_wide = [[0, 255, 0]] * 3
    assert box_size(preprocess(one_pixel_wide)) == (20, 7)
    huge = rectangle(500, 500, 50, 200, 400, 90)
    check_mnist_like(preprocess(huge))
    assert box_size(preprocess([[0.0, 1.0]])) == (20, 20)  # 1x2 with its bright half


def test_empty_pictures_give_none():
    assert preprocess(canvas(28, 28)) is None
    assert preprocess(canvas(28, 28, 1.0)) is None
    assert preprocess(canvas(10, 10, 0.5)) is None
    assert preprocess([[0]]) is None
    noise = [[0.5 + 0.04 * ((r * 7 + c * 3) % 2) for c in range(30)] for r in range(30)]
    assert preprocess(noise) is None  # below min_contrast
    assert preprocess(noise, min_contrast=0.01) is not None
    assert preprocess(Image(5, 5, 4, bytes(100))) is None  # fully transparent canvas
    with pytest.raises(ValueError, match=r"no ink .* index 1, 3"):
        preprocess_to_matrix([draw_one(56), canvas(5, 5), draw_zero(56), canvas(5, 5, 1.0)])


def test_threshold_excludes_faint_specks_from_the_crop():
    rows = rectangle(100, 100, 30, 40, 40, 20)
    rows[2][2] = 0.05  # a faint speck far away
    assert preprocess(rows) == preprocess(rectangle(100, 100, 30, 40, 40, 20))
    assert preprocess(rows, threshold=0.0) != preprocess(rows)


def test_off_centre_mass_is_clipped_not_an_error():
    # a heavy block at the top with a long hairline below: the centre of mass is
    # near the top, so moving it to row 14 pushes the bottom of the line out
    rows = rectangle(200, 100, 0, 20, 40, 60)
    for r in range(40, 200):
        rows[r][49] = 0.2
    x = preprocess(rows)
    assert len(x) == 784 and max(x) == 1.0
    assert bbox(x)[2] == SIZE - 1  # reaches the bottom edge: clipped


def test_input_kinds_agree():
    rows = draw_one(84)
    as_bytes = as_image(rows)
    ints = [[as_bytes.pixels[r * 84 + c] for c in range(84)] for r in range(84)]
    from_image = preprocess(as_bytes)
    assert preprocess(ints) == from_image
    matrix = pn.Matrix([[b / 255 for b in row] for row in ints])
    assert max(abs(a - b) for a, b in zip(preprocess(matrix), from_image)) < 1e-12
    rgb = Image(84, 84, 3, bytes(b for b in as_bytes.pixels for _ in range(3)))
    assert preprocess(rgb) == from_image
    # black ink on a transparent canvas: read as ink on white paper, then inverted
    rgba = Image(84, 84, 4, bytes(v for b in as_bytes.pixels for v in (0, 0, 0, b)))
    assert preprocess(rgba) == from_image
    assert preprocess(tuple(tuple(r) for r in ints)) == from_image


def test_numpy_arrays():
    np = require("numpy")
    rows = rectangle(50, 50, 10, 20, 30, 8)
    assert preprocess(np.array(rows)) == preprocess(rows)
    assert preprocess((np.array(rows) * 255).astype(np.uint8)) == preprocess(as_image(rows))


@pytest.mark.parametrize("bad,error,fragment", [
    ([], ValueError, "at least one row"),
    ([[]], ValueError, "non-empty rows"),
    ([[0.0, 1.0], [0.0]], ValueError, "equal length 2"),
    ([[0.0, 1.0], 5], ValueError, "row 1"),
    ([[0.0, float("nan")]], ValueError, "NaN"),
    ([[0.0, 2.0]], ValueError, "[0, 1.0]"),
    ([[0.0, 200.0]], ValueError, "divide by 255"),
    ([[0, 256]], ValueError, "[0, 255]"),
    ([[0, -1]], ValueError, "[0, 255]"),
    ([["a", "b"]], TypeError, "numbers"),
    ([[None, 1.0]], TypeError, "numbers"),
    ("abc", TypeError, "Image"),
    (42, TypeError, "Image"),
    ([1.0, 2.0], TypeError, "list of rows"),
])
def test_bad_input(bad, error, fragment):
    with pytest.raises(error) as info:
        preprocess(bad)
    assert fragment in str(info.value)


def test_bad_options():
    rows = rectangle(10, 10, 2, 2, 5, 5)
    for options in ({"invert": 1}, {"threshold": 1.0}, {"threshold": -0.1}, {"min_contrast": 0}, {"min_contrast": 2}):
        with pytest.raises(ValueError):
            preprocess(rows, **options)
    with pytest.raises(TypeError):
        preprocess_to_matrix(rows[0])
    with pytest.raises(ValueError, match="at least one"):
        preprocess_to_matrix([])


def test_preprocess_to_matrix():
    pictures = [draw_one(56), draw_zero(56), as_image(draw_zero(84))]
    m = preprocess_to_matrix(pictures, threshold=0.2)
    assert isinstance(m, pn.Matrix) and m.shape == (3, 784)
    for i, picture in enumerate(pictures):
        assert m[i] == preprocess(picture, threshold=0.2)


def test_pure_and_deterministic():
    rows = draw_zero(60)
    snapshot = [list(r) for r in rows]
    state = random.getstate()
    first = preprocess(rows)
    assert preprocess(rows) == first
    assert rows == snapshot  # the input is not modified
    assert random.getstate() == state


def test_bundled_mnist_digits_survive_preprocessing():
    images, labels = load_bundled("test")
    correlations = []
    for i in range(40):
        original = images[i]
        again = preprocess(Image(28, 28, 1, images.pixels(i)))
        correlations.append(correlation(original, again))
        check_mnist_like(again)
    assert min(correlations) > 0.8, min(correlations)
    assert sum(correlations) / len(correlations) > 0.9


def test_bundled_mnist_digits_as_photos():
    """Each digit enlarged 10x, printed in dark blue on cream paper with uneven
    light, moved off-centre in an RGB picture: it still looks like itself."""
    images, labels = load_bundled("test")
    correlations = []
    for i in range(0, 200, 20):
        pixels = images.pixels(i)
        width, height = 300, 320
        out = bytearray()
        for y in range(height):
            for x in range(width):
                sy, sx = (y - 25) // 10, (x - 10) // 10
                ink = pixels[sy * 28 + sx] / 255 if 0 <= sy < 28 and 0 <= sx < 28 else 0.0
                light = 0.9 + 0.1 * x / width  # brighter to the right
                paper, pen = (235, 228, 205), (20, 30, 90)
                out += bytes(round(light * (p * (1 - ink) + q * ink)) for p, q in zip(paper, pen))
        again = preprocess(Image(width, height, 3, bytes(out)))
        check_mnist_like(again)
        correlations.append(correlation(images[i], again))
    assert min(correlations) > 0.8, correlations


