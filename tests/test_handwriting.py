"""The independent mouse-drawing generator of scripts/handwriting.py.

What the app would record (integer points on the 280 x 280 sheet, a pen
width), that every drawing gives the network ink, that it is seeded and
deterministic, that every style of every digit occurs and is drawn in its
stroke order and direction, and that size, place, tilt and pen vary over
the ranges the module promises. No model is run here, on purpose: the
generator is a yardstick that must not be tuned to any model's answers.
"""

import doctest
import math
import os
import random
import sys

import pytest

from purenet.app.strokes import to_input

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import handwriting  # noqa: E402

N = 600  # 60 of each digit: every style of a digit (at most 6) turns up


@pytest.fixture(scope="module")
def samples():
    return list(handwriting.generate(N, seed=2026))


def _box(sample):
    xs = [x for stroke in sample.strokes for x, _ in stroke]
    ys = [y for stroke in sample.strokes for _, y in stroke]
    return min(xs), min(ys), max(xs), max(ys)


def _signed_area(stroke):
    """Twice the shoelace area; positive for a loop drawn clockwise on screen (y down)."""
    return sum(ax * by - bx * ay for (ax, ay), (bx, by) in zip(stroke, stroke[1:] + stroke[:1]))


def test_the_module_examples_run():
    failures, tried = doctest.testmod(handwriting)
    assert tried > 0 and failures == 0


def test_same_seed_same_drawings_and_no_global_random_state():
    random.seed(1)
    first = list(handwriting.generate(30, seed=5))
    random.seed(2)  # the global generator plays no part
    assert list(handwriting.generate(30, seed=5)) == first
    assert list(handwriting.generate(30, seed=6)) != first


def test_digits_come_in_turn(samples):
    assert [s.digit for s in samples] == [i % 10 for i in range(N)]


def test_points_are_integers_on_the_sheet_and_the_pen_is_plausible(samples):
    for s in samples:
        assert (s.width, s.height) == (280, 280)
        assert 10.0 <= s.pen_width <= 30.0
        assert s.strokes and all(s.strokes)
        for stroke in s.strokes:
            for x, y in stroke:
                assert type(x) is int and type(y) is int
                assert 0 <= x < 280 and 0 <= y < 280
            assert all(a != b for a, b in zip(stroke, stroke[1:]))  # the app drops repeated points


def test_the_ink_stays_on_the_sheet(samples):
    for s in samples:
        x0, y0, x1, y1 = _box(s)
        r = s.pen_width / 2.0 - 2.0  # jitter may move a point a pixel or two past the planned margin
        assert x0 >= r and y0 >= r and x1 <= 280 - r and y1 <= 280 - r


def test_every_drawing_gives_the_network_ink(samples):
    for s in samples:
        x = to_input(s.strokes, s.width, s.height, s.pen_width)
        assert x is not None and len(x) == 784 and max(x) == 1.0
        assert sum(v > 0.5 for v in x) >= 20  # a real shape, not a dot


def test_every_style_of_every_digit_is_drawn(samples):
    seen = {(s.digit, s.style) for s in samples}
    expected = {(d, style) for d, styles in handwriting.STYLES.items() for style in styles}
    assert seen == expected
    assert len(handwriting.STYLES) == 10 and all(len(v) >= 3 for v in handwriting.STYLES.values())


@pytest.mark.parametrize("digit,style,strokes", [
    (1, "flag-base", 2), (1, "stroke", 1), (4, "open", 2), (4, "closed-stem-first", 2), (5, "bar-last-flat", 2),
    (5, "bar-first-round", 1), (7, "crossbar", 2), (7, "serif", 1), (8, "two-circles", 2), (8, "one-stroke", 1),
    (9, "separate", 2), (9, "stick", 1),
])
def test_styles_have_their_number_of_strokes(digit, style, strokes):
    rnd = random.Random(digit)
    for _ in range(5):
        assert len(handwriting.draw(digit, rnd, style).strokes) == strokes


def test_strokes_go_the_way_the_hand_goes():
    rnd = random.Random(3)
    for _ in range(10):
        assert _signed_area(handwriting.draw(0, rnd, "cw").strokes[0]) > 0
        assert _signed_area(handwriting.draw(0, rnd, "ccw").strokes[0]) < 0
        up = handwriting.draw(1, rnd, "bottom-up").strokes[0]
        down = handwriting.draw(1, rnd, "stroke").strokes[0]
        assert up[0][1] > up[-1][1] and down[0][1] < down[-1][1]
        stem, arm = handwriting.draw(4, rnd, "open-stem-first").strokes
        assert abs(stem[-1][1] - stem[0][1]) > abs(arm[-1][1] - arm[0][1])  # the stem is the tall one


def test_size_and_place_vary_over_the_sheet(samples):
    heights = [_box(s)[3] - _box(s)[1] for s in samples]
    assert min(heights) < 55 and max(heights) > 220
    centres = [(_box(s)[0] + _box(s)[2]) / 2.0 for s in samples]
    assert min(centres) < 60 and max(centres) > 220
    centres = [(_box(s)[1] + _box(s)[3]) / 2.0 for s in samples]
    assert min(centres) < 60 and max(centres) > 220
    pens = [s.pen_width for s in samples]
    assert min(pens) < 13 and max(pens) > 27


def test_pose_ranges():
    rnd = random.Random(0)
    poses = [handwriting.random_pose(rnd) for _ in range(3000)]
    for name, lo, hi, reach_lo, reach_hi in [
        ("height", 40.0, 265.0, 45.0, 250.0), ("aspect", 0.72, 1.38, 0.76, 1.3),
        ("rotation", -20.0, 20.0, -15.0, 15.0), ("slant", -12.0, 25.0, -8.0, 20.0),
    ]:
        values = [getattr(p, name) for p in poses]
        assert lo <= min(values) < reach_lo and reach_hi < max(values) <= hi, name
    tilts = [p.slant + p.rotation for p in poses]
    assert -20.0 <= min(tilts) and max(tilts) <= 28.0


def test_mouse_points_are_spaced_like_pointer_events(samples):
    gaps = sorted(math.dist(a, b) for s in samples for stroke in s.strokes for a, b in zip(stroke, stroke[1:]))
    assert 2.0 <= gaps[len(gaps) // 2] <= 10.0
    assert gaps[int(len(gaps) * 0.99)] <= 13.0 and gaps[-1] < 18.0
    assert gaps[int(len(gaps) * 0.9)] >= 6.0  # fast strokes are sampled sparsely


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="digit must be 0..9"):
        handwriting.draw(10, random.Random(0))
    with pytest.raises(ValueError, match="style of a 7"):
        handwriting.draw(7, random.Random(0), "snowman")
    with pytest.raises(ValueError, match="n must be"):
        list(handwriting.generate(-1, seed=0))
