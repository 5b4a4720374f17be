"""An independent set of synthetic mouse drawings of digits: a yardstick for ``purenet draw``.

    >>> from handwriting import generate
    >>> samples = list(generate(20, seed=1))
    >>> [s.digit for s in samples[:12]]
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    >>> s = samples[4]
    >>> s.width, s.height, all(isinstance(v, int) for stroke in s.strokes for p in stroke for v in p)
    (280, 280, True)

Why a second generator: the drawing app must recognise at least 99% of
the digits people draw with a mouse, judged on drawings it has never seen.
The team's other generator (``scripts/drawings.py``) now supplies training
data for the shipped model, so it can no longer give an unbiased figure.
This one was written without reading that generator, its results or any
model's answers on these drawings, from how people write digits; it must
never be used for training or tuning, nor tuned to what a model gets right.

What a drawing is: what ``purenet/app/window.py`` records. The sheet is
280 x 280 units; a stroke is the list of integer ``(x, y)`` points the
pointer reported while the button was held, in the order the hand moved;
``pen_width`` is the pen's diameter in the same units (the app draws with
20). ``purenet.app.strokes.to_input(s.strokes, s.width, s.height,
s.pen_width)`` gives what the network sees.

How a drawing is made, in four steps:

1. The plan (:data:`STYLES`): the digit as a person intends it, in a unit
   box (y from 0 at the top to 1 at the bottom, x about 0 to 0.6): each
   stroke is a :class:`Pen` path of key points the hand passes through,
   smoothly (a centripetal Catmull-Rom curve) or with a sharp turn, in the
   order and direction a hand draws it. Proportions are drawn at random
   per drawing: loop sizes, flag and bar lengths, where strokes meet,
   overshoot, undershoot and small gaps at joins.

   The styles (:data:`STYLES`; each equally likely for its digit):

   - 0: ``ccw``, ``cw`` (from the top, closing with a small overlap),
     ``open-top`` (stops short of the start), ``slanted`` (a narrow oval
     leaning 12-30 degrees), ``overlap`` (runs on 30-70 degrees, inside or
     outside the start); anticlockwise twice as often when not named.
   - 1: ``stroke`` (top down), ``flag`` (short, 0.1-0.18 of the height),
     ``long-flag`` (0.19-0.27, steeper), ``flag-base`` (a flag, then a short base
     drawn left to right), ``bottom-up`` (sometimes a short tick back down
     at the top), ``curved`` (a bowed stem, with a flag or not).
   - 2: ``plain`` (a round hump, a diagonal, a sharp corner, the base),
     ``loop`` (a small loop where the diagonal meets the base), ``z-like``
     (a flat top, a straight diagonal, a wavy base).
   - 3: ``round`` (two round bowls meeting at a cusp), ``flat-top`` (a bar,
     a diagonal to the middle, the lower bowl), ``pointed`` (the bowls run
     straight into a cusp that sticks out to the left).
   - 4: ``open`` (an upright arm and the bar in one stroke, then the stem
     crossing the bar), ``closed`` (the arm runs from the stem's top: a
     triangle), each also ``-stem-first``; ``crossed`` (a slanted arm
     stopping short of the stem, the bar running well across it).
   - 5: the bar drawn first (one stroke) or last (a second stroke that may
     start short of the stem or past it), with a ``round`` or a ``flat``
     belly: ``bar-first-round``, ``bar-first-flat``, ``bar-last-round``,
     ``bar-last-flat``.
   - 6: ``curved`` (a curved back), ``straight`` (a straight back),
     ``big-loop``, ``small-loop``.
   - 7: ``plain``, ``crossbar`` (a second stroke across the stem),
     ``curved`` (the stem becomes upright as it falls), ``serif`` (a short
     tick down at the start of the bar).
   - 8: ``one-stroke`` (from the top right, an S, back up through the
     waist), ``cw-start`` (its mirror image), ``s-then-up`` (an S, then a
     straight line back up), ``two-circles`` (two strokes), ``snowman`` (a
     small head on a big body, one stroke).
   - 9: ``stick`` (a loop drawn anticlockwise from its right side, then a
     straight stem), ``curved-tail`` (the stem curls to the left),
     ``cw-loop`` (the loop drawn clockwise from the top, running on into
     the stem), ``separate`` (a closed loop, then the stem on its own).

2. The pose (:class:`Pose`): height 40 to 265 px (log-uniform, so small
   digits are as common as big ones), width x0.72 to x1.38, slant -12 to
   +25 degrees (a shear; most hands lean right), rotation up to +-20
   degrees (triangular around 0), the two together tilting an upright
   stroke by at most 20 degrees to the left and 28 to the right.
3. The hand: slow deviations along each stroke (in x and in y, two sines
   of the arc length each, wavelengths 0.7 to 2 times the digit's height,
   amplitudes 0.4 to 1 times 0.2-0.8 px plus 0.3-1.2% of the height) make
   it wobble the way a hand does, and move strokes a little apart where
   they should meet; the drawing is then moved to a random place where all
   of its ink is on the sheet (shrunk first if the rotated digit would not
   fit).
4. The mouse: points reported at a steady rate while the hand speeds up
   after pen-down, slows into corners and sharp curves and slows again
   before pen-up, so they are 1.5 to 12 px apart; each gets a little
   jitter (0.15 to 0.5 px), is rounded to whole pixels, and repeats are
   dropped as the app drops them.

The pen width is 10 to 30 units (triangular around the app's 20).

What it is not: no model, no accuracy (``scripts/handwriting_sheet.py``
draws contact sheets for a person to look at); no deliberately ambiguous
shapes: every plan is meant to be read as its digit at a glance.
Standard library only; deterministic for a seed; no global random state.
"""

import math
import random
from typing import Callable, Dict, Iterator, List, NamedTuple, Sequence, Tuple

__all__ = ["Sample", "Pose", "Pen", "STYLES", "generate", "draw", "random_pose", "arc"]

SHEET = 280  # the app's sheet: 280 x 280 units (purenet.app.state.PAPER)
TRACE_STEP = 0.005  # spacing of the dense path in unit-box coordinates (about 1 px at full size)

Point = Tuple[float, float]


class Sample(NamedTuple):
    """One drawing: its label, the style it was drawn in, and what the app would record."""

    digit: int
    style: str
    strokes: List[List[Tuple[int, int]]]
    pen_width: float
    width: int = SHEET
    height: int = SHEET


class Pose(NamedTuple):
    """How one drawing is placed and drawn (see the module notes for the ranges)."""

    height: float  # px, the digit's intended height before rotation
    aspect: float  # multiplies its width
    slant: float  # degrees of shear, positive leans the top to the right
    rotation: float  # degrees, positive turns it clockwise on screen
    pen_width: float  # px
    speed: float  # px between mouse events at full speed
    wobble: float  # px, the largest amplitude of the slow deviations (each is 0.4 to 1 times it)
    jitter: float  # px, standard deviation of the per-point noise


# ------------------------------------------------------------------ paths
class Pen:
    """One stroke as the hand plans it: key points it passes through in order.

    ``through`` continues smoothly, ``corner`` makes a sharp turn at the point.

        >>> seven = Pen(0.0, 0.0).corner(0.6, 0.0).through((0.2, 1.0))
        >>> path = seven.trace(0.1)
        >>> [(round(x, 6), round(y, 6)) for x, y in (path[0], path[-1])]
        [(0.0, 0.0), (0.2, 1.0)]
    """

    def __init__(self, x: float, y: float):
        self.runs: List[List[Point]] = [[(x, y)]]

    def through(self, *points: Point) -> "Pen":
        self.runs[-1].extend(points)
        return self

    def corner(self, x: float, y: float) -> "Pen":
        self.runs[-1].append((x, y))
        self.runs.append([(x, y)])
        return self

    def trace(self, step: float) -> List[Point]:
        """The path as a dense polyline, points about ``step`` apart."""
        out: List[Point] = [self.runs[0][0]]
        for run in self.runs:
            if len(run) > 1:
                out.extend(_spline(run, step)[1:])
        return out


def _spline(points: Sequence[Point], step: float) -> List[Point]:
    """A centripetal Catmull-Rom curve through ``points`` (ends extended straight)."""
    pts = [points[0]] + [p for a, p in zip(points, points[1:]) if p != a]
    if len(pts) == 1:
        return pts
    ext = [_mirror(pts[1], pts[0])] + pts + [_mirror(pts[-2], pts[-1])]
    out = [pts[0]]
    for i in range(1, len(ext) - 2):
        n = max(1, math.ceil(_dist(ext[i], ext[i + 1]) / step))
        out.extend(_catmull_rom(*ext[i - 1 : i + 3], n))
    return out


def _mirror(p: Point, about: Point) -> Point:
    return 2.0 * about[0] - p[0], 2.0 * about[1] - p[1]


def _dist(a: Point, b: Point) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def _catmull_rom(p0: Point, p1: Point, p2: Point, p3: Point, n: int) -> List[Point]:
    """``n`` points evenly spaced in the curve's parameter from p1 (excluded) to p2
    (Barry-Goldman's pyramid, alpha 0.5: no cusps or self-loops within a segment)."""
    t0 = 0.0
    t1 = t0 + max(_dist(p0, p1), 1e-9) ** 0.5
    t2 = t1 + max(_dist(p1, p2), 1e-9) ** 0.5
    t3 = t2 + max(_dist(p2, p3), 1e-9) ** 0.5

    def lerp(a: Point, b: Point, ta: float, tb: float, t: float) -> Point:
        wa, wb = (tb - t) / (tb - ta), (t - ta) / (tb - ta)
        return wa * a[0] + wb * b[0], wa * a[1] + wb * b[1]

    out = []
    for k in range(1, n + 1):
        t = t1 + (t2 - t1) * k / n
        a1, a2, a3 = lerp(p0, p1, t0, t1, t), lerp(p1, p2, t1, t2, t), lerp(p2, p3, t2, t3, t)
        out.append(lerp(lerp(a1, a2, t0, t2, t), lerp(a2, a3, t1, t3, t), t1, t2, t))
    return out


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
        tilt: float = 0.0, egg: float = 0.0, drift: float = 0.0) -> List[Point]:
    """Key points along an oval from angle ``start`` to ``end``, at most 30 degrees apart.

    Angles in degrees, 0 to the right and 90 straight down, so an increasing
    angle goes clockwise on screen. ``tilt`` turns the oval clockwise,
    ``egg`` widens its lower half (narrows it when negative), ``drift``
    grows the radius steadily, to ``1 + drift`` times at the end: a hand
    coming back to where it started is rarely on the same line.

        >>> [(round(x, 3), round(y, 3)) for x, y in arc(0, 0, 1, 1, 0, 90)]  # right to bottom: clockwise
        [(1.0, 0.0), (0.866, 0.5), (0.5, 0.866), (0.0, 1.0)]
    """
    n = max(1, math.ceil(abs(end - start) / 30.0))
    ct, st = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
    out = []
    for k in range(n + 1):
        f = k / n
        a = math.radians(start + (end - start) * f)
        grow = 1.0 + drift * f
        dx = rx * grow * (1.0 + egg * math.sin(a)) * math.cos(a)
        dy = ry * grow * math.sin(a)
        out.append((cx + dx * ct - dy * st, cy + dx * st + dy * ct))
    return out


# ------------------------------------------------------------- the digits
# Each plan takes the style and a Random and returns the strokes in the order
# they are drawn. Coordinates: unit box, y down, height 1, width about 0.6.
Plan = Callable[[str, random.Random], List[Pen]]


def _zero(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    rx, egg, drift, tilt = u(0.24, 0.34), u(-0.1, 0.1), u(-0.06, 0.06), 0.0
    sign = 1 if style == "cw" else -1 if style == "ccw" else rnd.choice((-1, -1, 1))  # anticlockwise is commoner
    start, span = 270.0 + u(-25.0, 20.0), 360.0 + u(0.0, 20.0)
    if style == "open-top":
        gap = u(15.0, 35.0)
        start, span = 270.0 + sign * gap / 2.0 + u(-10.0, 10.0), 360.0 - gap
    elif style == "slanted":
        rx, tilt = u(0.17, 0.24), u(12.0, 30.0)
    elif style == "overlap":
        span, drift = 360.0 + u(30.0, 70.0), rnd.choice((-1, 1)) * u(0.04, 0.1)
    keys = arc(0.3, 0.5, rx, 0.5, start, start + sign * span, tilt, egg, drift)
    return [Pen(*keys[0]).through(*keys[1:])]


def _one(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    top, bottom = (0.3, 0.0), (0.3 + u(-0.04, 0.04), 1.0)
    bow = rnd.choice((-1, 1)) * u(0.025, 0.045) if style == "curved" else u(-0.015, 0.015)  # more reads as "("
    mid = ((top[0] + bottom[0]) / 2.0 + bow, 0.5)
    if style == "bottom-up":
        pen = Pen(*bottom).through(mid, top)
        if rnd.random() < 0.4:  # the pen comes back down a little at the top
            pen.corner(*top).through(_flag(top, u(0.06, 0.11), u(35.0, 60.0)))
        return [pen]
    flag = {"stroke": 0.0, "flag": u(0.1, 0.18), "long-flag": u(0.19, 0.27), "flag-base": u(0.08, 0.16),
            "curved": rnd.choice((0.0, u(0.1, 0.18)))}[style]
    angle = u(40.0, 62.0) if style == "long-flag" else u(28.0, 58.0)  # degrees below the horizontal
    pen = Pen(*_flag(top, flag, angle)).corner(*top) if flag else Pen(*top)
    pens = [pen.through(mid, bottom)]
    if style == "flag-base":
        y = 1.0 + u(-0.01, 0.02)
        left, right = bottom[0] - u(0.08, 0.16), bottom[0] + u(0.08, 0.16)  # wider, with the flag, reads as a Z
        pens.append(Pen(left, y).through((right, y + u(-0.02, 0.02))))
    return pens


def _flag(top: Point, length: float, angle: float) -> Point:
    """The start of a 1's flag: ``length`` down and to the left of the stem's top."""
    a = math.radians(angle)
    return top[0] - length * math.cos(a), top[1] + length * math.sin(a)


def _two(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    right = u(0.54, 0.62)  # the hump's right side
    bottom = u(0.95, 1.0)
    end = (u(0.5, 0.68), bottom + u(-0.05, 0.02))
    if style == "z-like":
        pen = Pen(u(0.0, 0.05), u(0.08, 0.18)).through((0.18, u(0.0, 0.03)), (0.4, u(0.0, 0.03)),
                                                       (right, u(0.07, 0.12)))
        return [pen.corner(u(0.0, 0.05), bottom).through((0.22, bottom - u(0.03, 0.07)),
                                                          (0.42, bottom + u(-0.01, 0.02)), end)]
    pen = Pen(u(0.0, 0.08), u(0.18, 0.32)).through(
        (u(0.1, 0.16), u(0.04, 0.1)), (u(0.28, 0.34), u(0.0, 0.03)), (u(0.47, 0.53), u(0.05, 0.1)),
        (right, u(0.22, 0.3)), (right - u(0.08, 0.14), u(0.44, 0.52)))
    if style == "plain":
        return [pen.corner(u(0.0, 0.06), bottom).through(end)]
    bx = u(0.05, 0.1)  # "loop": the diagonal runs into a small loop before the base
    size = u(0.8, 1.2)
    loop = [(bx + dx * size, bottom - dy * size)
            for dx, dy in ((0.06, 0.08), (0.0, 0.02), (-0.05, 0.08), (-0.02, 0.17), (0.08, 0.18), (0.14, 0.1),
                           (0.2, 0.02))]
    return [pen.through(*loop, end)]


def _three(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    my = u(0.4, 0.5)  # where the bowls meet
    cusp = (u(0.15, 0.24), my + u(-0.02, 0.02))
    lower = arc(u(0.28, 0.32), (1.0 + my) / 2.0, u(0.24, 0.3), (1.0 - my) / 2.0, 270.0, 360.0 + u(140.0, 160.0))
    lower = [(max(x, cusp[0] + 0.1), y) if i == 0 else (x, y) for i, (x, y) in enumerate(lower)]
    if style == "flat-top":
        pen = Pen(u(0.02, 0.08), u(0.0, 0.03)).corner(u(0.5, 0.58), u(-0.02, 0.03)).corner(*cusp)
        return [pen.through(*lower)]
    upper = arc(u(0.28, 0.32), my / 2.0, u(0.2, 0.26), my / 2.0, u(195.0, 215.0), u(80.0, 95.0) + 360.0)
    if style == "pointed":  # the bowls run in straight to a cusp that sticks out to the left
        cusp = (cusp[0] - u(0.03, 0.07), cusp[1])
        upper, lower = upper[:-1], lower[1:]
    return [Pen(*upper[0]).through(*upper[1:]).corner(*cusp).through(*lower)]


def _four(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    # the stem runs on well below the bar and the bar well past the stem: a short one of either reads as an A
    stem_x, bar_y = u(0.4, 0.5), u(0.52, 0.66)
    bar = (u(0.0, 0.04), bar_y), (stem_x + u(0.13, 0.24), bar_y + u(-0.04, 0.02))
    bottom = (stem_x + u(-0.05, 0.03), 1.0)
    if style.startswith("closed"):  # the arm runs from the stem's top down to the bar
        top = (stem_x + u(-0.02, 0.02), 0.0)
        arm = Pen(*top).corner(*bar[0]).through(bar[1])
        stem = Pen(top[0] + u(-0.03, 0.03), top[1] + u(-0.03, 0.05)).through(bottom)
    elif style == "crossed":  # a slanted arm that stops short of the stem, a bar well across it
        bar = bar[0], (stem_x + u(0.18, 0.28), bar[1][1])
        arm = Pen(stem_x - u(0.14, 0.22), u(0.0, 0.1)).corner(*bar[0]).through(bar[1])
        stem = Pen(stem_x + u(-0.02, 0.03), u(-0.05, 0.05)).through(bottom)
    else:  # open: an upright arm, the stem crossing the bar
        arm = Pen(u(0.04, 0.1), u(0.0, 0.12)).corner(*bar[0]).through(bar[1])
        stem = Pen(stem_x + u(-0.02, 0.03), u(-0.04, 0.1)).through(bottom)
    return [stem, arm] if style.endswith("stem-first") else [arm, stem]


def _five(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    neck_y = u(0.36, 0.48)
    top = (u(0.08, 0.14), u(0.0, 0.03))
    neck = (top[0] - u(0.0, 0.06), neck_y)
    bar_end = (u(0.52, 0.62), u(-0.03, 0.03))
    low = 1.0 - neck_y
    if style.endswith("flat"):  # the belly starts with a nearly straight run to the right
        belly = [(u(0.3, 0.4), neck_y - u(0.0, 0.04)), (u(0.52, 0.58), neck_y + low * 0.35),
                 (u(0.48, 0.56), neck_y + low * 0.75), (0.3, 1.0), (u(0.0, 0.06), u(0.86, 0.94))]
    else:
        belly = [(u(0.26, 0.32), neck_y - u(0.04, 0.08)), (u(0.54, 0.62), neck_y + low * 0.3),
                 (u(0.5, 0.6), neck_y + low * 0.78), (0.3, 1.0), (u(0.0, 0.06), u(0.84, 0.92))]
    if style.startswith("bar-first"):
        return [Pen(*bar_end).corner(*top).corner(*neck).through(*belly)]
    bar_start = (top[0] + u(-0.02, 0.05), top[1] + u(-0.03, 0.03))  # may start short of the stem or past it
    return [Pen(*top).corner(*neck).through(*belly), Pen(*bar_start).through(bar_end)]


def _six(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    # the loop's top; above 0.36 the back's rise gets too short and flat to tell a 6 from a sigma
    loop_top = u(0.36, 0.46) if style == "big-loop" else u(0.58, 0.68) if style == "small-loop" else u(0.46, 0.58)
    r = (1.0 - loop_top) / 2.0
    cx, cy, rx = u(0.3, 0.34), loop_top + r, min(0.3, r * u(1.0, 1.35))  # a small loop is round, not flat
    start = (u(0.4, 0.52), u(0.0, 0.05))
    loop = arc(cx, cy, rx, r, 180.0 - u(0.0, 20.0), -180.0 - u(0.0, 40.0), drift=u(-0.1, 0.06))
    if style == "straight":  # a straight back from the top to the loop
        return [Pen(*start).corner(*loop[0]).through(*loop[1:])]
    back = (u(0.08, 0.16), loop_top * 0.45 + u(0.0, 0.06))  # the curved back
    return [Pen(*start).through(back, *loop)]


def _seven(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    # the bar is long and about level even on a narrow 7, so that it never reads as a 1's flag
    left, corner = (u(0.0, 0.04), u(-0.01, 0.05)), (u(0.6, 0.7), u(-0.02, 0.03))
    foot = (u(0.15, 0.3), 1.0)
    if style == "serif":  # a short tick down at the start of the bar
        pen = Pen(left[0] + u(-0.02, 0.02), left[1] + u(0.06, 0.12)).corner(*left)
    else:
        pen = Pen(*left)
    pen.corner(*corner)
    if style == "curved":  # the stem starts slanted and becomes upright
        pen.through((corner[0] - u(0.16, 0.22), 0.45), (foot[0] + u(0.0, 0.04), 0.8), foot)
    else:
        mid = ((corner[0] + foot[0]) / 2.0 + u(-0.02, 0.02), 0.5)
        pen.through(mid, foot)
    pens = [pen]
    if style == "crossbar":
        y = u(0.45, 0.6)
        at = corner[0] + (foot[0] - corner[0]) * (y - corner[1]) / (1.0 - corner[1])  # the stem at height y
        pens.append(Pen(at - u(0.12, 0.2), y).through((at + u(0.1, 0.18), y + u(-0.03, 0.02))))
    return pens


def _eight(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    waist = u(0.4, 0.5)  # where the loops meet
    if style == "snowman":  # a small head on a big body, in one stroke
        return [_snowman(u(0.37, 0.44), rnd)]  # a smaller head closes up at 28 x 28
    if style == "two-circles":  # one circle, then the other below it, each from its top
        head = arc(0.3, waist / 2.0, u(0.17, 0.22), waist / 2.0, 270.0, 270.0 + rnd.choice((-1, 1)) * u(360, 380))
        top = u(250.0, 290.0)
        body = arc(0.3, (1.0 + waist) / 2.0, u(0.24, 0.3), (1.0 - waist) / 2.0, top,
                   top + rnd.choice((-1, 1)) * u(360, 380), drift=u(-0.05, 0.05))
        return [Pen(*head[0]).through(*head[1:]), Pen(*body[0]).through(*body[1:])]
    top_w, low_w = u(0.18, 0.24), u(0.22, 0.3)
    lower = 1.0 - waist
    path = [(0.3 + top_w * 0.8, u(0.06, 0.14)), (0.3, 0.0), (0.3 - top_w, waist * 0.4),  # an S from the top...
            (0.3, waist), (0.3 + low_w, waist + lower * 0.45), (0.3, 1.0), (0.3 - low_w, waist + lower * 0.6)]
    end = (path[0][0] + u(-0.05, 0.03), path[0][1] - u(0.0, 0.08))
    if style == "s-then-up":  # ...then a straight line back up to where it started
        path = path[:-1] + [(path[-1][0], path[-1][1] + u(-0.05, 0.05)), end]
        pen_at = len(path) - 2  # the corner
    else:  # ...then round back up through the waist
        path += [(0.3 + u(-0.03, 0.03), waist + u(-0.02, 0.02)), (0.3 + top_w, waist * u(0.35, 0.5)), end]
        pen_at = 0
    if style == "cw-start":  # the mirror image: first round to the right
        path = [(0.6 - x, y) for x, y in path]
    if pen_at:
        return [Pen(*path[0]).through(*path[1:pen_at]).corner(*path[pen_at]).through(*path[pen_at + 1:])]
    return [Pen(*path[0]).through(*path[1:])]


def _snowman(waist: float, rnd: random.Random) -> Pen:
    """An 8 of two circles in one stroke: from the top, half round the head, the
    whole body the other way round, then the head's other half back to the top."""
    u = rnd.uniform
    sign = rnd.choice((-1, 1))  # -1: the head's left half first, anticlockwise
    hx, hy, hr = u(0.17, 0.22), waist / 2.0, waist / 2.0
    bx, by, br = u(0.24, 0.3), (1.0 + waist) / 2.0, (1.0 - waist) / 2.0
    first = arc(0.3, hy, hx, hr, 270.0, 270.0 + sign * 180.0)
    body = arc(0.3, by, bx, br, 270.0, 270.0 - sign * 360.0, drift=u(-0.04, 0.04))
    second = arc(0.3, hy, hx, hr, 90.0, 90.0 + sign * u(170.0, 200.0))
    return Pen(*first[0]).through(*first[1:], *body[1:], *second[1:])


def _nine(style: str, rnd: random.Random) -> List[Pen]:
    u = rnd.uniform
    ry, rx = u(0.17, 0.25), u(0.2, 0.27)
    cx, cy = 0.3, ry
    stem_x = cx + rx * u(0.85, 1.0)
    foot = (stem_x - u(0.0, 0.1), 1.0)
    if style == "cw-loop":  # start at the top, round clockwise, on down the right side
        loop = arc(cx, cy, rx, ry, u(250.0, 290.0), 360.0 + u(360.0, 380.0))
        return [Pen(*loop[0]).through(*loop[1:], ((stem_x + foot[0]) / 2.0, 0.6), foot)]
    start = u(-30.0, 5.0)  # the right side, a little above the middle
    loop = arc(cx, cy, rx, ry, start, start - u(370.0, 385.0), drift=u(-0.05, 0.05))
    if style == "separate":  # a closed loop, then the stem on its own
        top = (stem_x + u(-0.03, 0.02), cy - ry * u(0.2, 0.9))
        return [Pen(*loop[0]).through(*loop[1:]), Pen(*top).through(foot)]
    pen = Pen(*loop[0]).through(*loop[1:-1]).corner(*loop[-1])
    if style == "curved-tail":
        tail = [(stem_x - u(0.0, 0.04), 0.75), (stem_x - u(0.14, 0.2), 0.98), (u(0.08, 0.16), u(0.9, 0.96))]
        return [pen.through(*tail)]
    return [pen.through(((loop[-1][0] + foot[0]) / 2.0 + u(-0.02, 0.02), 0.6), foot)]


STYLES: Dict[int, Tuple[str, ...]] = {
    0: ("ccw", "cw", "open-top", "slanted", "overlap"),
    1: ("stroke", "flag", "long-flag", "flag-base", "bottom-up", "curved"),
    2: ("plain", "loop", "z-like"),
    3: ("round", "flat-top", "pointed"),
    4: ("open", "open-stem-first", "closed", "closed-stem-first", "crossed"),
    5: ("bar-last-round", "bar-last-flat", "bar-first-round", "bar-first-flat"),
    6: ("curved", "straight", "big-loop", "small-loop"),
    7: ("plain", "crossbar", "curved", "serif"),
    8: ("one-stroke", "cw-start", "s-then-up", "two-circles", "snowman"),
    9: ("stick", "curved-tail", "cw-loop", "separate"),
}
_PLANS: Dict[int, Plan] = {0: _zero, 1: _one, 2: _two, 3: _three, 4: _four, 5: _five, 6: _six, 7: _seven,
                           8: _eight, 9: _nine}


# --------------------------------------------------------- pose and hand
def random_pose(rnd: random.Random) -> Pose:
    """A pose drawn from the ranges of the module notes."""
    height = 40.0 * (265.0 / 40.0) ** rnd.random()
    aspect = math.exp(rnd.uniform(math.log(0.72), math.log(1.38)))
    while True:
        slant, rotation = rnd.triangular(-12.0, 25.0, 8.0), rnd.triangular(-20.0, 20.0, 0.0)
        if -20.0 <= slant + rotation <= 28.0:  # hands lean to the left less than to the right
            break
    pen_width = rnd.triangular(10.0, 30.0, 20.0)
    speed = rnd.uniform(5.0, 12.0) * min(1.0, 0.45 + height / 200.0)  # small digits are drawn slower
    wobble = rnd.uniform(0.2, 0.8) + height * rnd.uniform(0.003, 0.012)
    return Pose(height, aspect, slant, rotation, pen_width, speed, wobble, rnd.uniform(0.15, 0.5))


def _posed(paths: List[List[Point]], pose: Pose) -> List[List[Point]]:
    """Unit-box paths scaled, stretched, slanted and rotated about their centre (px)."""
    xs = [x for path in paths for x, _ in path]
    ys = [y for path in paths for _, y in path]
    cx, cy = (min(xs) + max(xs)) / 2.0, (min(ys) + max(ys)) / 2.0
    shear = math.tan(math.radians(pose.slant))
    c, s = math.cos(math.radians(pose.rotation)), math.sin(math.radians(pose.rotation))
    out = []
    for path in paths:
        moved = []
        for x, y in path:
            x, y = (x - cx) * pose.aspect * pose.height, (y - cy) * pose.height
            x -= shear * y  # the top (y < 0) moves right
            moved.append((x * c - y * s, x * s + y * c))
        out.append(moved)
    return out


def _wobbled(path: List[Point], pose: Pose, rnd: random.Random) -> List[Point]:
    """``path`` with slow deviations: in x and in y, two sines of the arc length."""
    waves = [(pose.wobble * rnd.uniform(0.4, 1.0), 2.0 * math.pi / (pose.height * rnd.uniform(0.7, 2.0)),
              rnd.uniform(0.0, 2.0 * math.pi)) for _ in range(4)]  # (amplitude, 2 pi / wavelength, phase)
    (a1, k1, p1), (a2, k2, p2), (a3, k3, p3), (a4, k4, p4) = waves  # two for x, two for y
    sin = math.sin
    out, s = [], 0.0
    for i, (x, y) in enumerate(path):
        if i:
            s += _dist(path[i - 1], path[i])
        out.append((x + a1 * sin(k1 * s + p1) + a2 * sin(k2 * s + p2),
                    y + a3 * sin(k3 * s + p3) + a4 * sin(k4 * s + p4)))
    return out


def _placed(paths: List[List[Point]], pen_width: float, rnd: random.Random) -> List[List[Point]]:
    """The drawing moved to a random place where all its ink is on the sheet (shrunk if it must be)."""
    margin = pen_width / 2.0 + 1.0
    room = SHEET - 2.0 * margin
    xs = [x for path in paths for x, _ in path]
    ys = [y for path in paths for _, y in path]
    shrink = min(1.0, room / max(max(xs) - min(xs), 1e-9), room / max(max(ys) - min(ys), 1e-9))
    x0, x1, y0, y1 = min(xs) * shrink, max(xs) * shrink, min(ys) * shrink, max(ys) * shrink
    tx = rnd.uniform(margin - x0, SHEET - margin - x1)
    ty = rnd.uniform(margin - y0, SHEET - margin - y1)
    return [[(x * shrink + tx, y * shrink + ty) for x, y in path] for path in paths]


# ------------------------------------------------------------- the mouse
def _mouse(path: List[Point], pose: Pose, rnd: random.Random) -> List[Tuple[int, int]]:
    """The points the app records while the hand follows ``path``: one per mouse event."""
    lengths = [0.0]
    for a, b in zip(path, path[1:]):
        lengths.append(lengths[-1] + _dist(a, b))
    total = lengths[-1]
    slow = _slowdown(path, lengths)
    ramp = rnd.uniform(8.0, 25.0)  # px over which the hand gets up to speed, and slows down again
    picked, at, i = [path[0]], 0.0, 0
    while True:
        full = min(1.0, 0.3 + 0.7 * at / ramp, 0.3 + 0.7 * (total - at) / ramp)
        at += min(12.0, max(1.5, pose.speed * slow[i] * full * rnd.uniform(0.75, 1.25)))
        if at >= total:
            break
        while lengths[i + 1] < at:
            i += 1
        f = (at - lengths[i]) / max(lengths[i + 1] - lengths[i], 1e-9)
        picked.append((path[i][0] + f * (path[i + 1][0] - path[i][0]), path[i][1] + f * (path[i + 1][1] - path[i][1])))
    picked.append(path[-1])
    points: List[Tuple[int, int]] = []
    for x, y in picked:
        p = (_pixel(x + rnd.gauss(0.0, pose.jitter)), _pixel(y + rnd.gauss(0.0, pose.jitter)))
        if not points or p != points[-1]:  # the app ignores a motion to the same point
            points.append(p)
    return points


def _pixel(v: float) -> int:
    return min(SHEET - 1, max(0, int(round(v))))


def _slowdown(path: List[Point], lengths: List[float], reach: float = 6.0) -> List[float]:
    """Per point, the fraction of full speed the hand keeps there: less where the path turns sharply."""
    out, back, ahead = [], 0, 0
    n = len(path)
    for i in range(n):
        while lengths[i] - lengths[back] > reach:
            back += 1
        while ahead < n - 1 and lengths[ahead] - lengths[i] < reach:
            ahead += 1
        if back == i or ahead == i:
            out.append(1.0)
            continue
        a = math.atan2(path[i][1] - path[back][1], path[i][0] - path[back][0])
        b = math.atan2(path[ahead][1] - path[i][1], path[ahead][0] - path[i][0])
        turn = abs((b - a + math.pi) % (2.0 * math.pi) - math.pi)
        out.append(max(0.25, 1.0 - turn / 2.2))
    return out


# ---------------------------------------------------------------- the API
def draw(digit: int, rnd: random.Random, style: str = "") -> Sample:
    """One drawing of ``digit``, in ``style`` (one of ``STYLES[digit]``) or a random one."""
    if digit not in STYLES:
        raise ValueError(f"draw: digit must be 0..9; Received: {digit!r}.")
    style = style or rnd.choice(STYLES[digit])
    if style not in STYLES[digit]:
        raise ValueError(f"draw: style of a {digit} must be one of {', '.join(STYLES[digit])}; Received: {style!r}.")
    paths = [pen.trace(TRACE_STEP) for pen in _PLANS[digit](style, rnd)]
    pose = random_pose(rnd)
    paths = [_wobbled(path, pose, rnd) for path in _posed(paths, pose)]
    paths = _placed(paths, pose.pen_width, rnd)
    strokes = [_mouse(path, pose, rnd) for path in paths]
    return Sample(digit, style, strokes, round(pose.pen_width, 1))


def generate(n: int, seed: int) -> Iterator[Sample]:
    """``n`` drawings, digits in turn 0, 1, ..., 9, 0, ...; the same ones for the same seed."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"generate: n must be a non-negative int; Received: {n!r}.")
    rnd = random.Random(seed)
    for i in range(n):
        yield draw(i % 10, rnd)
