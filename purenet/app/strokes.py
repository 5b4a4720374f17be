"""``strokes``: a drawing, kept as the pen's path, turned into pixels.

    >>> from purenet.app.strokes import render, to_input
    >>> one = [[(140.0, 40.0), (140.0, 240.0)]]        # a vertical line, drawn top to bottom
    >>> canvas = render(one, 280, 280, pen_width=20.0)  # what the canvas shows
    >>> len(canvas), canvas[140 * 280 + 140], canvas[140 * 280 + 100]
    (78400, 255, 0)
    >>> x = to_input(one, 280, 280, pen_width=20.0)     # what the network sees
    >>> len(x), max(x)
    (784, 1.0)
    >>> rows = [r for r in range(28) if any(x[r * 28:(r + 1) * 28])]
    >>> rows[0], rows[-1]                               # 20 rows tall, as in preprocess
    (5, 24)
    >>> to_input([], 280, 280, pen_width=20.0) is None  # nothing drawn yet
    True

The drawing app records what the mouse did: a list of strokes, each the
list of ``(x, y)`` points (canvas pixels, floats) the pointer passed
through while the button was held; a stroke of one point is a dot. A
stroke is drawn the way a pen of diameter ``pen_width`` with a round tip
would draw it: every point within ``pen_width / 2`` of the polyline is ink
(round caps and joins). Anti-aliasing: a pixel's ink is
``clamp(pen_width / 2 + 0.5 - d, 0, 1)``, ``d`` the distance from its
centre to the polyline, a one-pixel ramp that approximates the fraction of
the pixel the pen covers.

Two functions, two uses:

- :func:`render` gives the full canvas raster (``0`` paper, ``255`` ink):
  what the user saw, e.g. to save a drawing as a picture.
- :func:`to_input` gives the 784 floats the network sees. It follows the
  MNIST recipe of :func:`purenet.preprocess` (the ink's bounding box scaled
  so that its longer side is 20 px, the brightest pixel 1.0, the centre of
  mass moved to pixel (14, 14)), but draws the strokes directly at that
  scale instead of rasterising the canvas and shrinking it. Two reasons:

  * speed: the app calls it on every pen movement for the live prediction.
    On the drawings of ``scripts/drawings.py`` (280x280 canvas, pens of 6
    to 30 px), drawing at the 20 px scale (3x supersampled) takes about a
    tenth of the time of rendering the canvas and running ``preprocess``
    over its 78,400 pixels: medians of 2 ms against 25 ms per drawing in
    CPython 3.13 (7 ms against 70 ms with the machine's two cores
    overloaded; ``scripts/eval_drawings.py --timing``).
  * stroke thickness: scaling the ink box to 20 px scales the pen with it.
    A digit drawn small with a thick pen would become a blob, and a large
    one with a thin pen a hairline, neither like MNIST. Here the pen's
    width at the network's scale is clamped to the middle of MNIST's range
    (:data:`PEN_RANGE`); within it, the result is what
    ``preprocess(render(...))`` gives (up to anti-aliasing and the rounding
    of the centre of mass), and ``tests/test_strokes.py`` checks that.

What it is not: no smoothing or resampling of the path, no deskewing, no
splitting of several digits. Points outside the canvas are moved onto its
edge, where the canvas cuts the drawing off. No Tk: plain functions on
plain data, deterministic.
"""

import math
from numbers import Real
from typing import List, Optional, Sequence, Tuple

from ..vision.preprocess import BOX, paste_centred

__all__ = ["render", "to_input", "PEN_RANGE"]

Point = Tuple[float, float]
Stroke = Sequence[Point]

# The pen's diameter in pixels of the 28x28 field that to_input keeps it in:
# the middle half of MNIST's stroke widths. Measured on 20,000 MNIST training
# digits as 2 * ink / total variation (the width of a long thin shape):
# 1.6 (5th percentile), 2.0 (25th), 2.4 (median), 2.8 (75th), 3.7 (95th).
# The same estimate reads the pen width within 0.1 px on lines drawn here.
# Unclamped, a 20 px pen on a small digit is 6-8 px wide after scaling and
# the shipped model reads only ~85% of scripts/drawings.py's drawings.
PEN_RANGE = (2.0, 2.8)

# to_input draws at this many times the network's resolution and averages
# blocks of SUPERSAMPLE x SUPERSAMPLE pixels, as preprocess averages the
# canvas: the edges of a 2 px stroke are then graded like MNIST's.
SUPERSAMPLE = 3


def render(strokes: Sequence[Stroke], width: int, height: int, pen_width: float) -> bytearray:
    """The canvas as a grayscale raster: ``width * height`` bytes, row-major,
    ``0`` paper and ``255`` ink, anti-aliased, round caps and joins.

    Args:
        strokes: a list of strokes, each a list of ``(x, y)`` points in
            canvas pixels (``(0, 0)`` the top-left corner of the top-left
            pixel); a stroke of one point is a dot.
        width, height: the canvas size in pixels.
        pen_width: the pen's diameter in pixels (> 0).

    Returns:
        ``bytearray`` of ``width * height`` values; ``bytes(render(...))``
        with ``purenet.io.Image(width, height, 1, ...)`` makes a picture of it.
    """
    _check_size(width, height, "render")
    paths = _points(strokes, width, height, "render")
    radius = _pen(pen_width, "render") / 2.0
    ink = [0.0] * (width * height)
    for path in paths:
        _draw_path(ink, width, height, path, radius)
    return bytearray(int(v * 255.0 + 0.5) for v in ink)


def to_input(strokes: Sequence[Stroke], width: int, height: int, pen_width: float) -> Optional[List[float]]:
    """The drawing as the network's input: 784 floats in [0, 1], row-major,
    MNIST-style (see the module notes), or ``None`` when nothing is drawn.

    Same arguments as :func:`render`. The pen keeps its width relative to
    the drawing, clamped to :data:`PEN_RANGE` pixels of the 28x28 field.
    """
    _check_size(width, height, "to_input")
    paths = _points(strokes, width, height, "to_input")
    radius = _pen(pen_width, "to_input") / 2.0
    if not paths:
        return None
    x0 = min(x for path in paths for x, _ in path)
    x1 = max(x for path in paths for x, _ in path)
    y0 = min(y for path in paths for _, y in path)
    y1 = max(y for path in paths for _, y in path)
    span = max(x1 - x0, y1 - y0)  # of the pen's centre; the ink reaches radius further
    pen = 2.0 * radius * BOX / (span + 2.0 * radius)  # the pen after scaling the ink box to BOX
    low, high = PEN_RANGE
    if span > 0.0 and not low <= pen <= high:
        pen = min(max(pen, low), high)
    scale = (BOX - pen) / span if span > 0.0 else BOX / (2.0 * radius)
    r = pen / 2.0
    ink_w, ink_h = (x1 - x0) * scale + pen, (y1 - y0) * scale + pen  # the longer one is BOX
    longest = max(ink_w, ink_h)
    tw = max(1, int(ink_w * BOX / longest + 0.5))
    th = max(1, int(ink_h * BOX / longest + 0.5))
    k = SUPERSAMPLE
    big = [0.0] * (tw * k * th * k)
    sk = scale * k
    for path in paths:
        moved = [((x - x0) * sk + r * k, (y - y0) * sk + r * k) for x, y in path]
        _draw_path(big, tw * k, th * k, moved, r * k)
    patch = _shrink(big, tw, th, k)
    peak = max(patch)
    if peak <= 0.0:  # a pen so thin that no pixel centre is near it: cannot happen above PEN_RANGE[0]
        return None
    return paste_centred([v / peak for v in patch], tw, th)


# ------------------------------------------------------------------ checks
def _check_size(width: int, height: int, who: str) -> None:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{who}: {name} must be a positive int (canvas pixels). Received: {value!r}")


def _pen(pen_width: float, who: str) -> float:
    if isinstance(pen_width, bool) or not isinstance(pen_width, Real) or not (0.0 < pen_width < math.inf):
        raise ValueError(f"{who}: pen_width must be a positive finite number of pixels. Received: {pen_width!r}")
    return float(pen_width)


def _points(strokes: Sequence[Stroke], width: int, height: int, who: str) -> List[List[Point]]:
    """The strokes as lists of float points moved inside the canvas; empty strokes dropped."""
    if isinstance(strokes, (str, bytes)) or not isinstance(strokes, Sequence):
        raise TypeError(f"{who} expects a list of strokes. Received: {type(strokes).__name__}")
    paths = []
    for s, stroke in enumerate(strokes):
        if isinstance(stroke, (str, bytes)) or not isinstance(stroke, Sequence):
            raise TypeError(
                f"{who} expects each stroke to be a list of (x, y) points. "
                f"Received: stroke {s} = {type(stroke).__name__}"
            )
        path = []
        for point in stroke:
            try:
                x, y = float(point[0]), float(point[1])
                if len(point) != 2:
                    raise ValueError
            except (TypeError, ValueError, IndexError):
                raise ValueError(
                    f"{who} expects points as (x, y) pairs of numbers. Received: {point!r} in stroke {s}"
                ) from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"{who} expects finite coordinates. Received: {point!r} in stroke {s}")
            path.append((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))))
        if path:
            paths.append(path)
    return paths


# ------------------------------------------------------------- rasterising
def _draw_path(ink: List[float], width: int, height: int, path: List[Point], radius: float) -> None:
    """Ink the polyline ``path`` (a dot when it has one point) into ``ink``."""
    if len(path) == 1:
        _draw_segment(ink, width, height, path[0], path[0], radius)
    for a, b in zip(path, path[1:]):
        _draw_segment(ink, width, height, a, b, radius)


def _draw_segment(ink: List[float], width: int, height: int, a: Point, b: Point, radius: float) -> None:
    """``ink = max(ink, coverage)`` over the pixels within ``radius + 0.5`` of segment ``ab``.

    Row by row: only the columns near the part of the segment that lies
    within ``radius + 0.5`` of the row are visited, so a long thin segment
    costs its area, not its bounding box's.
    """
    ax, ay = a
    bx, by = b
    reach = radius + 0.5  # a pixel centre farther than this from the segment gets no ink
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    inv = 1.0 / length2 if length2 > 0.0 else 0.0
    sqrt = math.sqrt
    top = max(0, math.ceil(min(ay, by) - reach - 0.5))
    bottom = min(height - 1, math.floor(max(ay, by) + reach - 0.5))
    for j in range(top, bottom + 1):
        py = j + 0.5 - ay
        if dy:  # the segment's x-extent within `reach` of this row
            t0, t1 = (py - reach) / dy, (py + reach) / dy
            if t0 > t1:
                t0, t1 = t1, t0
            t0, t1 = max(t0, 0.0), min(t1, 1.0)
            xa, xb = ax + t0 * dx, ax + t1 * dx
            if xa > xb:
                xa, xb = xb, xa
        else:
            xa, xb = min(ax, bx), max(ax, bx)
        left = max(0, math.ceil(xa - reach - 0.5))
        right = min(width - 1, math.floor(xb + reach - 0.5))
        row = j * width
        pyd = py * dy
        for i in range(left, right + 1):
            px = i + 0.5 - ax
            t = (px * dx + pyd) * inv
            if t < 0.0:
                t = 0.0
            elif t > 1.0:
                t = 1.0
            ex, ey = px - t * dx, py - t * dy
            c = reach - sqrt(ex * ex + ey * ey)
            if c > 0.0:
                if c > 1.0:
                    c = 1.0
                if c > ink[row + i]:
                    ink[row + i] = c


def _shrink(big: List[float], tw: int, th: int, k: int) -> List[float]:
    """Average ``k x k`` blocks of the ``(tw * k) x (th * k)`` raster ``big``."""
    if k == 1:
        return big
    bw = tw * k
    area = float(k * k)
    out = []
    for y in range(th):
        acc = [0.0] * bw
        for r in range(y * k, y * k + k):
            acc = [s + v for s, v in zip(acc, big[r * bw : (r + 1) * bw])]
        out.extend(sum(acc[x * k : x * k + k]) / area for x in range(tw))
    return out
