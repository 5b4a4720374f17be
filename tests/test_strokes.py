"""Strokes to pixels: the canvas raster (render) and the network's input (to_input).

Geometry is checked against measurements written here (pixel distances,
disk areas, bounding boxes, centres of mass), and to_input against the
slow reference path it replaces: preprocess(render(...)).
"""

import math
import random

import pytest

from purenet.app.preprocess import preprocess
from purenet.app.strokes import PEN_RANGE, render, to_input

W = H = 280
SIZE = 28


# ------------------------------------------------------------ measurements
def at(raster, x, y, width=W):
    return raster[y * width + x]


def bbox(x, cut=0.0):
    """(top, left, bottom, right), inclusive, of the values above ``cut`` in a flat 28x28 image."""
    rows = [r for r in range(SIZE) if max(x[r * SIZE : (r + 1) * SIZE]) > cut]
    cols = [c for c in range(SIZE) if max(x[c::SIZE]) > cut]
    return rows[0], cols[0], rows[-1], cols[-1]


def centre_of_mass(x):
    mass = sum(x)
    cy = sum(v * (i // SIZE) for i, v in enumerate(x)) / mass
    cx = sum(v * (i % SIZE) for i, v in enumerate(x)) / mass
    return cy, cx


def stroke_width(x):
    """2 * ink / total variation: the width of a long thin shape, in pixels."""
    tv = 0.0
    for r in range(SIZE):
        for c in range(SIZE):
            v = x[r * SIZE + c]
            gx = (x[r * SIZE + c + 1] - v) if c + 1 < SIZE else 0.0
            gy = (x[(r + 1) * SIZE + c] - v) if r + 1 < SIZE else 0.0
            tv += math.hypot(gx, gy)
    return 2.0 * sum(x) / tv


def shifted(x, dy, dx):
    """The 28x28 image ``x`` moved by whole pixels, zeros coming in."""
    out = [0.0] * (SIZE * SIZE)
    for r in range(max(0, dy), min(SIZE, SIZE + dy)):
        for c in range(max(0, dx), min(SIZE, SIZE + dx)):
            out[r * SIZE + c] = x[(r - dy) * SIZE + c - dx]
    return out


def as_rows(raster, width=W, height=H):
    return [list(raster[y * width : (y + 1) * width]) for y in range(height)]


def scribble(rng, size, cx=140.0, cy=140.0, strokes=2):
    """Random smooth strokes (a wandering pen) inside a box of about ``size`` px."""
    drawing = []
    for _ in range(strokes):
        x, y = cx + rng.uniform(-size / 2, size / 2), cy + rng.uniform(-size / 2, size / 2)
        heading = rng.uniform(0, 2 * math.pi)
        path = []
        for _ in range(rng.randrange(15, 40)):
            path.append((min(max(x, cx - size / 2), cx + size / 2), min(max(y, cy - size / 2), cy + size / 2)))
            heading += rng.uniform(-0.5, 0.5)
            x += 0.06 * size * math.cos(heading)
            y += 0.06 * size * math.sin(heading)
        drawing.append(path)
    return drawing


# ------------------------------------------------------------------ render
def test_render_is_a_full_canvas_of_bytes():
    raster = render([[(10.0, 10.0), (200.0, 150.0)]], 300, 200, pen_width=8.0)
    assert isinstance(raster, bytearray) and len(raster) == 300 * 200
    assert at(raster, 0, 199, 300) == 0 and at(raster, 299, 0, 300) == 0  # paper


def test_render_line_has_the_pen_width_and_round_caps():
    raster = render([[(50.0, 100.0), (150.0, 100.0)]], 200, 200, pen_width=20.0)
    column = [at(raster, 100, y, 200) for y in range(200)]
    assert column[100] == 255 and column[91] == 255 and column[108] == 255
    inked = sum(v for v in column) / 255.0
    assert inked == pytest.approx(20.0, abs=0.5)  # the pen's diameter, anti-aliasing included
    assert at(raster, 42, 100, 200) == 255  # the cap reaches pen_width / 2 beyond the end...
    assert at(raster, 42, 92, 200) == 0  # ...but round: not the square's corner
    assert at(raster, 38, 100, 200) == 0


def test_render_dot_is_a_disk_of_the_pen_width():
    raster = render([[(60.3, 40.7)]], 120, 90, pen_width=15.0)
    area = sum(raster) / 255.0
    assert area == pytest.approx(math.pi * 7.5**2, rel=0.02)
    assert 0 < min(v for v in raster if v) < 255  # anti-aliased edge
    assert at(raster, 60, 40, 120) == 255


def test_render_does_not_depend_on_stroke_order_or_direction():
    rng = random.Random(3)
    drawing = scribble(rng, 150, strokes=3)
    backwards = [list(reversed(s)) for s in reversed(drawing)]
    assert render(drawing, W, H, 12.0) == render(backwards, W, H, 12.0)


def test_render_clips_at_the_canvas_edge():
    inside = render([[(0.0, 50.0), (50.0, 50.0)]], 100, 100, pen_width=10.0)
    beyond = render([[(-80.0, 50.0), (50.0, 50.0)]], 100, 100, pen_width=10.0)
    assert inside == beyond
    assert at(inside, 0, 50, 100) == 255


def test_render_empty_drawing_is_blank():
    assert render([], 40, 30, 5.0) == bytearray(40 * 30)
    assert render([[]], 40, 30, 5.0) == bytearray(40 * 30)


# ---------------------------------------------------------------- to_input
def test_to_input_nothing_drawn_is_none():
    assert to_input([], W, H, 20.0) is None
    assert to_input([[], []], W, H, 20.0) is None


@pytest.mark.parametrize("seed", range(6))
def test_to_input_follows_the_mnist_recipe(seed):
    rng = random.Random(seed)
    drawing = scribble(rng, rng.uniform(60, 250), cx=rng.uniform(100, 180), cy=rng.uniform(100, 180))
    x = to_input(drawing, W, H, rng.uniform(5, 30))
    assert len(x) == SIZE * SIZE
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in x)
    assert max(x) == 1.0
    top, left, bottom, right = bbox(x, cut=0.1)
    assert max(bottom - top + 1, right - left + 1) in (19, 20, 21)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 + 1e-9 and abs(cx - 14) <= 0.5 + 1e-9, (cy, cx)


@pytest.mark.parametrize("seed", range(10))
def test_to_input_matches_preprocess_of_the_canvas_when_the_pen_is_in_range(seed):
    rng = random.Random(100 + seed)
    size = rng.uniform(150, 260)
    drawing = scribble(rng, size)
    xs = [x for s in drawing for x, _ in s]
    ys = [y for s in drawing for _, y in s]
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    wanted = rng.uniform(PEN_RANGE[0] + 0.05, PEN_RANGE[1] - 0.05)  # once the ink box is 20 px
    pen = wanted * span / (20 - wanted)
    fast = to_input(drawing, W, H, pen)
    slow = preprocess(as_rows(render(drawing, W, H, pen)))
    # Both round the centre of mass to a whole pixel; when it sits near a
    # half pixel the two may round apart, so compare at the best whole-pixel
    # alignment (at most one pixel each way).
    moves = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    diffs = min(([abs(a - b) for a, b in zip(shifted(fast, dy, dx), slow)] for dy, dx in moves), key=sum)
    assert sum(diffs) / len(diffs) < 0.02
    assert max(diffs) < 0.4


def test_to_input_keeps_a_thick_pen_on_a_small_digit_thin():
    rng = random.Random(7)
    drawing = scribble(rng, 50)  # a small digit...
    pen = 25.0  # ...with a pen half its size
    blob = preprocess(as_rows(render(drawing, W, H, pen)))
    x = to_input(drawing, W, H, pen)
    assert stroke_width(blob) > PEN_RANGE[1] + 1.0  # what plain scaling gives
    assert stroke_width(x) < PEN_RANGE[1] + 0.5


def test_to_input_keeps_a_thin_pen_on_a_large_digit_visible():
    drawing = [[(30.0, 30.0), (250.0, 250.0)], [(30.0, 250.0), (250.0, 30.0)]]
    x = to_input(drawing, W, H, 1.0)
    assert stroke_width(x) > PEN_RANGE[0] - 0.5


def test_to_input_depends_on_shape_not_on_position_or_scale():
    rng = random.Random(11)
    drawing = scribble(rng, 100, cx=100.0, cy=100.0)
    x = to_input(drawing, W, H, 12.0)
    moved = [[(px + 64.0, py + 32.0) for px, py in s] for s in drawing]
    assert to_input(moved, W, H, 12.0) == pytest.approx(x, abs=1e-9)
    doubled = [[(2 * px, 2 * py) for px, py in s] for s in drawing]
    assert to_input(doubled, 2 * W, 2 * H, 24.0) == pytest.approx(x, abs=1e-9)


def test_to_input_a_dot_fills_the_box():
    x = to_input([[(140.0, 140.0)]], W, H, 20.0)
    top, left, bottom, right = bbox(x, cut=0.1)
    assert (bottom - top + 1, right - left + 1) in ((20, 20), (19, 19), (21, 21))


def test_to_input_moves_points_outside_the_canvas_onto_its_edge():
    outside = to_input([[(-50.0, 100.0), (200.0, 100.0)], [(100.0, 20.0), (100.0, 400.0)]], W, H, 10.0)
    edge = to_input([[(0.0, 100.0), (200.0, 100.0)], [(100.0, 20.0), (100.0, float(H))]], W, H, 10.0)
    assert outside == edge


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("function", [render, to_input])
def test_bad_arguments_are_rejected(function):
    good = [[(1.0, 2.0), (3.0, 4.0)]]
    with pytest.raises(ValueError, match="width must be a positive int"):
        function(good, 0, 10, 3.0)
    with pytest.raises(ValueError, match="height must be a positive int"):
        function(good, 10, 2.5, 3.0)
    with pytest.raises(ValueError, match="pen_width must be a positive finite"):
        function(good, 10, 10, 0.0)
    with pytest.raises(ValueError, match="pen_width"):
        function(good, 10, 10, float("nan"))
    with pytest.raises(TypeError, match="list of strokes"):
        function("abc", 10, 10, 3.0)
    with pytest.raises(TypeError, match="stroke 0"):
        function([5], 10, 10, 3.0)
    with pytest.raises(ValueError, match=r"\(x, y\) pairs"):
        function([[(1.0, 2.0, 3.0)]], 10, 10, 3.0)
    with pytest.raises(ValueError, match="finite coordinates"):
        function([[(1.0, float("inf"))]], 10, 10, 3.0)
