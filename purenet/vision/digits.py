"""``read_digits``: the digits written in a picture, left to right, each with its probability and box.

    >>> import purenet as pn
    >>> rows = [[255] * 90 for _ in range(40)]          # white paper
    >>> for y in range(8, 32):
    ...     rows[y][20:24] = [0] * 4                    # a "1"
    ...     rows[y][60:64] = [0] * 4                    # another "1"
    >>> [(d.digit, d.box) for d in pn.read_digits(rows)]
    [(1, (20, 8, 24, 32)), (1, (60, 8, 64, 32))]

How: the ink is found as for one digit (:mod:`purenet.vision.ink`: paper
level, hysteresis thresholds, no specks or ruled lines), in a picture
averaged down by a whole factor to ``WORK`` to ``2 * WORK`` pixels on its
longer side. Its connected pieces
are then put together into digits:

1. a piece that overlaps another horizontally over half its width and is
   clearly shorter than it belongs to it (a 5 whose bar was lifted from
   the page, a broken stroke); two pieces of about the same height are
   one digit only when one lies almost entirely over the other;
2. a piece much wider than the digits are tall holds several touching
   digits. Candidate cuts are paths from its top row to its bottom row:
   straight columns where little ink passes (minima of the column
   profile), and bent paths that cross the least ink (dynamic programming
   over the rows, one pixel per row, a step sideways costing a little), so
   that a cut can follow the gap between two slanted digits and cross the
   stroke where they touch. Every way of cutting it into 1 to
   ``MAX_PER_PIECE`` parts along those paths is scored (per part: the
   log-probability of its best class, plus the log-probability that it is
   one digit at all by the rejection model, which was shown pairs of
   touching digits as non-digits; minus a penalty for an implausible width
   and a cost per part), and the best is kept. A wide 0 stays one digit
   because the models are surer of it than of its halves;
3. each digit goes through the MNIST recipe (crop, 20 px box, centre of
   mass) and the model, a thin pen on paper widened first as for one digit
   (:func:`purenet.preprocess`); a digit the rejection model
   (:mod:`purenet.vision.rejection`) takes for no digit at all is reported
   with ``digit`` None (a piece under half the digits' height that it
   refuses is a stray mark and is left out). A narrow piece the rejection
   model refuses is also tried cut (two 1s leaning on each other; its parts
   may then be as narrow as a third of it), and the cut is kept only when
   every part is taken for a digit.

What it is not: one row of digits, not a page layout (no lines of text, no
tables); no letters.
"""

import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..matrix import Matrix
from .ink import Component, Ink, find_ink
from .preprocess import Picture, scaled_gray_values, stroke_growth, to_mnist, widen
from .rejection import THRESHOLD

__all__ = ["Digit", "read_digits", "default_model"]

WORK = 400  # pictures are averaged down by a whole factor to 400-800 px on their longer side
SPLIT_ASPECT = 0.8  # pieces wider than this times the digits' height may hold several digits
MAX_PER_PIECE = 4
MIN_PART = 0.18  # a part narrower than this times the height is no digit (even a 1 is wider with its pen)
MAX_CUTS = 7  # candidate cut paths per piece
SIDEWAYS = 0.02  # the cost of a cut path's step sideways, in ink (a stroke's core is about 1 per pixel)
WIDE = 1.05  # a part wider than this times the height is penalised
PART_COST = 0.3  # in log-probability: a cut must buy more certainty than this
SURE = 0.95  # the digit model is sure of a part...
ROW_THRESHOLD = 0.98  # ...then, in a row of digits, it is refused only above this


class Digit(NamedTuple):
    """One digit found in a picture.

    ``digit``: the class (None when it is no digit); ``probability``: the
    model's probability of that class (for None: the rejection model's
    probability that it is no digit); ``box``: ``(x0, y0, x1, y1)`` in the
    picture's pixels, ``x1`` and ``y1`` exclusive.
    """

    digit: Optional[int]
    probability: float
    box: Tuple[int, int, int, int]


_MODELS: Dict[str, object] = {}


def default_model():
    """The pretrained LeNet shipped with purenet (loaded once, on first use)."""
    import os

    from ..io.modelfile import load_model

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "lenet-mnist.safetensors")
    if path not in _MODELS:
        _MODELS[path] = load_model(path)
    return _MODELS[path]


def read_digits(
    image: Picture, model=None, *, invert: Optional[bool] = None, reject: bool = True, rejector=None
) -> List[Digit]:
    """The digits in ``image``, left to right.

    Args:
        image: as :func:`purenet.preprocess` takes (an Image, a Matrix,
            rows of numbers), of any size.
        model: a classifier of 28 x 28 digits (default: the shipped one);
            its class ``i`` is digit ``i``.
        invert: as for :func:`purenet.preprocess` (None: from the border).
        reject: ask the rejection model whether each part is a digit at all.
        rejector: the rejection model (default: the shipped one).

    Returns:
        a list of :class:`Digit` (a named tuple ``(digit, probability,
        box)``), empty when the picture holds no ink.

    Shape:
        input ``(H, W)``, any size; each box within ``(0, 0, W, H)``.
    """
    model = model if model is not None else default_model()
    values, width, height, factor = scaled_gray_values(image, WORK)
    found = find_ink(values, width, height, invert)
    if found is None:
        return []
    groups = _group(found.components)
    reference = _digit_height(groups)
    parts: List[Tuple[List[int], Tuple[int, int, int, int]]] = []
    if reject and rejector is None:
        from .rejection import default_rejector

        rejector = default_rejector()
    for group in groups:
        parts.extend(_split(group, found, reference, model, rejector if reject else None))
    if not parts:
        return []
    inputs = [_input(pixels, found.values, width, found.paper) for pixels, _ in parts]
    probs = _predict(model, inputs)
    verdicts = None
    if reject:
        from .rejection import not_digit_probability

        verdicts = not_digit_probability(inputs, probs, rejector)
    out = []
    for i, ((_, (x0, y0, x1, y1)), p) in enumerate(zip(parts, probs)):
        box = (x0 * factor, y0 * factor, (x1 + 1) * factor, (y1 + 1) * factor)
        # in a row of digits each part is most likely a digit: there a part the digit model
        # is sure of is refused only when the rejection model is very sure too
        refuse = THRESHOLD if len(parts) == 1 or max(p) < SURE else ROW_THRESHOLD
        if verdicts is not None and verdicts[i] > refuse:
            if y1 - y0 + 1 < 0.5 * reference and len(parts) > 1:
                continue  # a fragment (a stray mark, a bit of a neighbour's stroke), not a digit's place
            out.append(Digit(None, verdicts[i], box))
        else:
            best = max(range(len(p)), key=p.__getitem__)
            out.append(Digit(best, p[best], box))
    return out


# ------------------------------------------------------------------ grouping
class _Group:
    __slots__ = ("pixels", "box")

    def __init__(self, c: Component):
        self.pixels = list(c.pixels)
        self.box = c.box

    def add(self, other: "_Group") -> None:
        self.pixels.extend(other.pixels)
        a, b = self.box, other.box
        self.box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0] + 1

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1] + 1


def _group(components: Sequence[Component]) -> List[_Group]:
    """Pieces overlapping horizontally over half the narrower one are one digit."""
    groups = [_Group(c) for c in components]
    merged = True
    while merged:
        merged = False
        groups.sort(key=lambda g: g.box[0])
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                overlap = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]) + 1
                narrow = min(a.width, b.width)
                # two full-height pieces side by side are two digits (a slanted 1 leans over
                # its neighbour); a short piece above or below another is part of it
                short = min(a.height, b.height) < 0.7 * max(a.height, b.height)
                if overlap >= (0.5 if short else 0.85) * narrow:
                    a.add(b)
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    # small loose pieces (a bit of a stroke the threshold broke off) join their nearest neighbour
    tall = _digit_height(groups)
    small = [g for g in groups if max(g.width, g.height) < 0.35 * tall]
    if len(groups) > len(small):
        for g in small:
            others = [o for o in groups if o is not g and o not in small]
            near = min(others, key=lambda o: _gap(o, g))
            if _gap(near, g) < 0.25 * tall:
                near.add(g)
            groups.remove(g)
    groups.sort(key=lambda g: g.box[0])
    return groups


def _gap(a: _Group, b: _Group) -> float:
    dx = max(0, max(a.box[0], b.box[0]) - min(a.box[2], b.box[2]))
    dy = max(0, max(a.box[1], b.box[1]) - min(a.box[3], b.box[3]))
    return math.hypot(dx, dy)


def _digit_height(groups: Sequence[_Group]) -> float:
    """The digits' height: the median of the tallest pieces' heights."""
    heights = sorted((g.height for g in groups), reverse=True)
    top = heights[: max(1, (len(heights) + 1) // 2)]
    return float(top[len(top) // 2]) if top else 1.0


# ------------------------------------------------------------------ splitting
def _split(group: _Group, found: Ink, height: float, model, rejector=None):
    """``[(pixels, box), ...]``: the group as one digit or cut into touching digits."""
    ink, width, paper = found.values, found.width, found.paper
    whole = [(group.pixels, _box(group.pixels, width))]
    narrow = group.width <= SPLIT_ASPECT * height
    if narrow:
        # narrow enough for one digit, unless it is clearly none (two slanted 1s leaning together)
        if rejector is None:
            return whole
        from .rejection import not_digit_probability

        if not_digit_probability([_input(group.pixels, ink, width, paper)], rejector=rejector)[0] <= THRESHOLD:
            return whole
    # the narrowest part: a digit's (a 1 with its pen); in a narrow piece, a third of it (two thin 1s)
    least = min(MIN_PART * height, group.width / 3)
    paths = _cut_paths(group, ink, width, least)
    if not paths:
        return whole
    # every part between two paths (or the group's ends), scored once
    y0 = group.box[1]
    n = len(paths) + 1  # bounds 0..n: 0 is the left end, n the right end, k a path between
    where = [(i % width, i // width - y0) for i in group.pixels]
    by_span = {}
    for a in range(n):
        for b in range(a + 1, n + 1):
            left = paths[a - 1] if a > 0 else None
            right = paths[b - 1] if b < n else None
            pixels = [i for i, (x, y) in zip(group.pixels, where)
                      if (left is None or x >= left[y]) and (right is None or x < right[y])]
            if pixels:
                box = _box(pixels, width)
                if box[2] - box[0] + 1 >= least or (a, b) == (0, n):
                    by_span[(a, b)] = (pixels, box)
    keys = list(by_span)
    inputs = [_input(by_span[k][0], ink, width, paper) for k in keys]
    probs = _predict(model, inputs)
    refused = [0.0] * len(keys)
    if rejector is not None:
        from .rejection import not_digit_probability

        refused = not_digit_probability(inputs, rejector=rejector)
    score, rejected = {}, {}
    for key, p, r in zip(keys, probs, refused):
        box = by_span[key][1]
        aspect = (box[2] - box[0] + 1) / height
        # sure of the digit, sure it is one digit, and of a digit's width; each extra part costs
        score[key] = (math.log(max(max(p), 1e-12)) + math.log(max(1.0 - r, 1e-12))
                      - 2.0 * max(0.0, aspect - WIDE) - PART_COST)
        rejected[key] = r > THRESHOLD
    # best way from bound 0 to bound n through scored spans (at most MAX_PER_PIECE parts)
    best = {(0, 0): (0.0, [])}  # (bound, parts) -> (score, spans)
    for a in range(n):
        for k in range(MAX_PER_PIECE):
            if (a, k) not in best:
                continue
            total, path = best[(a, k)]
            for b in range(a + 1, n + 1):
                if (a, b) in score:
                    cand = (total + score[(a, b)], path + [(a, b)])
                    if (b, k + 1) not in best or cand[0] > best[(b, k + 1)][0]:
                        best[(b, k + 1)] = cand
    ends = [best[k] for k in best if k[0] == n]
    if not ends:
        return whole
    _, chosen = max(ends, key=lambda e: e[0])
    if narrow and len(chosen) > 1 and any(rejected[k] for k in chosen):
        return whole  # a narrow piece is cut only into parts that are digits
    return [by_span[k] for k in chosen]


def _cut_paths(group: _Group, ink: List[float], width: int, least: float) -> List[List[int]]:
    """Where touching digits may be cut: paths from the group's top row to its bottom row,
    one column per row, left to right (by where they cross the middle row), each as the
    column in the picture at each of the group's rows. Two kinds: straight columns where
    little ink passes (minima of the column profile), and bent paths, each the path through
    a column of the middle row that crosses the least ink (a step sideways costs
    ``SIDEWAYS``), which follow a slanted or curved gap between two digits and cross a stroke
    where it is thinnest (minima of that cost along the middle row). Of each kind, the
    cheapest, at most ``MAX_CUTS``, at least ``least`` pixels from each other and from the
    group's ends."""
    x0, y0, x1, y1 = group.box
    w, h = x1 - x0 + 1, y1 - y0 + 1
    cost = [0.0] * (w * h)
    for i in group.pixels:
        y, x = divmod(i, width)
        cost[(y - y0) * w + x - x0] = ink[i]
    down, down_move = _cheapest(cost, w, h, range(h))  # from the top row to each pixel
    up, up_move = _cheapest(cost, w, h, range(h - 1, -1, -1))  # from the bottom row
    mid = h // 2
    through = [down[mid * w + x] + up[mid * w + x] - cost[mid * w + x] for x in range(w)]
    straight = [sum(cost[x::w]) for x in range(w)]
    margin = max(1, int(least))
    paths = {}
    for profile, bent in ((straight, False), (through, True)):
        smooth = [sum(profile[max(0, k - 1) : k + 2]) for k in range(w)]
        candidates = [k for k in range(margin, w - margin)
                      if smooth[k] <= smooth[k - 1] and smooth[k] <= smooth[k + 1]]
        candidates.sort(key=lambda k: smooth[k])
        chosen: List[int] = []
        for k in candidates:  # the cheapest, not crowded together
            if all(abs(k - c) >= margin for c in chosen):
                chosen.append(k)
            if len(chosen) == MAX_CUTS:
                break
        for k in chosen:
            path = [k] * h
            if bent:
                x = k
                for y in range(mid, 0, -1):  # back up to the top row
                    x += down_move[y * w + x]
                    path[y - 1] = x
                x = k
                for y in range(mid, h - 1):  # and down to the bottom row
                    x += up_move[y * w + x]
                    path[y + 1] = x
            paths[tuple(x0 + v for v in path)] = k
    return [list(p) for p in sorted(paths, key=paths.get)]


def _cheapest(cost: List[float], w: int, h: int, rows) -> Tuple[List[float], List[int]]:
    """Dynamic programming over the rows in the order given: each pixel's least total cost of a
    path from the first of them, one pixel per row, moving at most one column per row, and the
    move (-1, 0, 1) to its predecessor."""
    total = [0.0] * (w * h)
    move = [0] * (w * h)
    previous = None
    for y in rows:
        base = y * w
        if previous is None:
            total[base : base + w] = cost[base : base + w]
        else:
            for x in range(w):
                best, m = total[previous + x], 0
                if x > 0 and total[previous + x - 1] + SIDEWAYS < best:
                    best, m = total[previous + x - 1] + SIDEWAYS, -1
                if x + 1 < w and total[previous + x + 1] + SIDEWAYS < best:
                    best, m = total[previous + x + 1] + SIDEWAYS, 1
                total[base + x] = best + cost[base + x]
                move[base + x] = m
        previous = base
    return total, move


def _box(pixels: List[int], width: int) -> Tuple[int, int, int, int]:
    xs = [i % width for i in pixels]
    ys = [i // width for i in pixels]
    return min(xs), min(ys), max(xs), max(ys)


def _input(pixels: List[int], ink: List[float], width: int, paper: bool = True) -> List[float]:
    """The part's ink (its own pixels, with their soft edges) through the MNIST recipe; on
    paper, a pen thinner than MNIST's widened (:func:`~purenet.vision.preprocess.widen`)."""
    x0, y0, x1, y1 = _box(pixels, width)
    height = len(ink) // width
    grow = stroke_growth(pixels, width, (x0, y0, x1, y1)) if paper else 0.0
    pad = 1 + int(grow + 1)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    w, h = x1 - x0 + 1, y1 - y0 + 1
    own = bytearray(w * h)
    for i in pixels:
        y, x = divmod(i, width)
        own[(y - y0) * w + (x - x0)] = 1
    # the soft edge: pixels next to the part's own (not another part's strokes further away)
    grown = bytearray(own)
    for k in range(len(own)):
        if own[k]:
            y, x = divmod(k, w)
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < h and 0 <= nx < w:
                        grown[ny * w + nx] = 1
    values = [0.0] * (w * h)
    for k in range(w * h):
        if grown[k]:
            y, x = y0 + k // w, x0 + k % w
            if 0 <= y < height and 0 <= x < width:
                values[k] = ink[y * width + x]
    widen(values, own, w, h, grow)
    return to_mnist(values, w, h) or [0.0] * 784


def _predict(model, inputs: List[List[float]]) -> List[List[float]]:
    if not inputs:
        return []
    flat = [v for x in inputs for v in x]
    out = model.predict(Matrix.from_flat(flat, len(inputs), 784))  # (N, classes)
    k = out.cols
    return [out.data[i * k : (i + 1) * k] for i in range(len(inputs))]
