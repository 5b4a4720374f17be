"""Ink and paper: which pixels of a picture were written, under uneven light and noise.

    >>> rows = [[0.9 - 0.4 * y / 59 for x in range(60)] for y in range(60)]   # darker at the bottom
    >>> for y in range(20, 40):                                   # a dark stroke on it
    ...     rows[y][28:32] = [0.1] * 4
    >>> ink = find_ink([v for r in rows for v in r], 60, 60)
    >>> [c.box for c in ink.components]                          # (x0, y0, x1, y1), inclusive
    [(28, 20, 31, 39)]
    >>> ink.values[30 * 60 + 30] > 0.8, ink.values[55 * 60 + 5]   # paper is 0 even where dark
    (True, 0.0)

A phone photo of a digit on paper is not a scan: the light falls off
across the sheet, a hand or the phone casts a soft shadow, paper has grain,
the sensor adds noise, notebooks have ruled lines and dust leaves specks.
A global threshold takes the darker half of the paper for ink. The steps
here, all linear in the number of pixels:

1. polarity: the median of the border is the paper; brighter than the
   middle of the range means dark ink on light paper (the usual photo),
   else light ink on a dark ground (a canvas, MNIST itself);
2. paper level (background): on a coarse grid of cells (about 8 across
   the longer side) each cell's paper level is the 67th percentile of its
   pixels (ink is the minority of a cell), then a closing over 3 x 3 cells
   (largest, then smallest: a cell inside a thick stroke takes its
   neighbours' paper, a shadow's edge stays in place),
   then interpolated bilinearly back to every pixel; light that changes
   across the sheet changes slowly, so this follows it and not the ink.
   Uneven light reaches the edges of the picture: when the paper level is
   flat along the border, one level (the border's median) is used;
3. ink strength: how much darker than the local paper each pixel is,
   relative to that paper (``(paper - v) / paper``: a shadow dims paper
   and ink by the same factor, so the ratio is unchanged);
4. two thresholds (hysteresis): a pixel is ink when it is connected
   (8-neighbours) to a strong pixel through pixels above the low
   threshold. The high one is the larger of half the strongest ink and
   several times the noise (measured as the spread of the paper), so faint
   ruled lines, grain and noise stay out while blurred stroke edges stay in;
5. connected pieces: tiny specks, and long thin lines across the sheet
   (ruled lines, page edges), are dropped; a line that touches the
   digits loses the pixels in vertical runs as thin as its own, which
   keeps the strokes that cross it.

The result keeps the ink's strength (not a binary mask): the MNIST recipe
downstream averages and centres the values as MNIST did. When the paper
level is flat (a clean canvas, a scan, a digit on a black ground) step 2
gives way to the single border level, so clean pictures come out as
before; on such paper with noise (a photo in even light) only the pieces
kept and their soft edges remain ink, as on uneven paper, so that the
noise around them does not widen the digit's box.

What it is not: no colour separation beyond luma (blue and black ink are
both darker than paper), no deskewing, no page detection.
"""

import heapq
from typing import List, NamedTuple, Optional, Tuple

__all__ = ["Component", "Ink", "find_ink", "downscale", "SMALL"]

SMALL = 16  # pictures with a side shorter than this are taken as they are (no paper level, no pieces)
GRID = 8  # cells across the longer side for the paper level
FLAT = 0.04  # paper levels that vary less than this across the sheet are one level
NOISE_SIGMAS = 6.0  # the strong threshold is at least this many noise deviations above the paper
LOW_FRACTION = 0.45  # the low threshold, as a fraction of the high one
LINE_THICKNESS = 0.012  # ruled lines are at most this thick, as a fraction of the longer side


class Component(NamedTuple):
    """A connected piece of ink: its box ``(x0, y0, x1, y1)`` (inclusive), pixel count and pixels;
    ``strong``: it holds a pixel above the high threshold."""

    box: Tuple[int, int, int, int]
    area: int
    pixels: List[int]  # flat indices y * width + x
    strong: bool = True


class Ink(NamedTuple):
    """``values``: ink strength >= 0 per pixel (0 on paper), ``width`` x ``height``, row-major;
    ``components``: the pieces kept, left to right by their first column; ``paper``: the
    picture is of paper (its level uneven or noisy: a photo, a scan), not a clean canvas
    (one exact background level: MNIST, a drawing app)."""

    values: List[float]
    width: int
    height: int
    components: List[Component]
    paper: bool = False


def downscale(values, width: int, height: int, factor: int, unit: float = 1.0) -> Tuple[List[float], int, int]:
    """Average ``factor x factor`` blocks (the last partial row and column of blocks are dropped),
    times ``unit`` (``1 / 255`` turns bytes into the 0..1 scale).

    Shape:
        ``(H, W)`` -> ``(H // factor, W // factor)``.

    Example:
        >>> downscale([0.0, 1.0, 0.0, 1.0], 2, 2, 2)
        ([0.5], 1, 1)
    """
    if factor == 1:
        return [v * unit for v in values], width, height
    w, h = width // factor, height // factor
    scale = unit / (factor * factor)
    out: List[float] = []
    for by in range(h):
        acc = [0.0] * (w * factor)
        for y in range(by * factor, (by + 1) * factor):
            row = values[y * width : y * width + w * factor]
            acc = [a + v for a, v in zip(acc, row)]
        out.extend(sum(acc[x * factor : (x + 1) * factor]) * scale for x in range(w))
    return out, w, h


def find_ink(
    values: List[float], width: int, height: int, invert: Optional[bool] = None, min_contrast: float = 0.1
) -> Optional[Ink]:
    """The ink in a gray picture (values in [0, 1], row-major), or None when there is none.

    Args:
        values, width, height: the picture.
        invert: None decides from the border; True: dark ink on light paper;
            False: light ink on a dark ground.
        min_contrast: the strongest ink must stand out from the paper by at
            least this much (0..1 scale).

    Shape:
        ``(H, W)`` in, :class:`Ink` of the same ``(H, W)``.
    """
    low, high = min(values), max(values)
    if high - low < min_contrast:
        return None
    border = values[:width] + values[-width:] + values[0::width] + values[width - 1 :: width]
    border.sort()
    background = border[len(border) // 2]
    if invert is None:
        invert = background > (low + high) / 2
    # paper bright, ink dark from here on
    paper = values if invert else [1.0 - v for v in values]
    background = background if invert else 1.0 - background
    small = min(width, height) < SMALL
    level = None if small else _paper_level(paper, width, height)
    if level is None:
        strength = [background - v if v < background else 0.0 for v in paper]
        spread = 0.0
        # noise on evenly lit paper (a photo): then, as on uneven paper, only the ink's pieces and
        # their edges are kept, not the noise around them
        noisy = _noise(paper, [max(background, 1e-3)] * len(paper)) > 0.0
    else:
        strength = [(p - v) / p if v < p else 0.0 for v, p in zip(paper, level)]
        spread = _noise(paper, level)
        noisy = True
    # the strongest ink, robust to a few hot pixels: the k-th strongest value
    k = max(3, len(strength) // 4000)
    peak = heapq.nlargest(k, strength)[-1] if len(strength) > 4 * k else max(strength)
    if peak < min_contrast:
        return None
    if small:
        pixels = [i for i, v in enumerate(strength) if v > 0.0]
        if not pixels:
            return None
        return Ink(strength, width, height, [_component(pixels, width)])
    high_cut = max(0.5 * peak, NOISE_SIGMAS * spread, 0.5 * min_contrast)
    pieces = _pieces(strength, width, height, high_cut, LOW_FRACTION * high_cut)
    # (a photo: a clean canvas has no ruled lines, and a fine texture there is the picture itself)
    across = [c for c in pieces if c.strong and c.box[2] - c.box[0] + 1 > 0.8 * width] if level is not None else []
    if across:
        strength = list(strength)
        for c in across:
            _erase_thin_rows(c, strength, width)
        pieces = _pieces(strength, width, height, high_cut, LOW_FRACTION * high_cut)
    components = _drop_specks_and_lines([c for c in pieces if c.strong], width, height)
    if not components:
        return None
    if not noisy:
        # a clean picture (a canvas, MNIST: paper of one exact level, no noise): everything but
        # the dropped pieces, faint anti-aliased edges included
        kept = set(id(c) for c in components)
        strength = list(strength)
        for c in pieces:
            if id(c) not in kept:
                for i in c.pixels:
                    strength[i] = 0.0
        return Ink(strength, width, height, components)
    keep = bytearray(width * height)
    for c in components:
        for i in c.pixels:
            keep[i] = 1
    keep = _dilate(keep, width, height)  # the soft edge of a stroke belongs to it, the paper's noise not
    return Ink([v if k else 0.0 for v, k in zip(strength, keep)], width, height, components, True)


# ------------------------------------------------------------ paper level
def _paper_level(paper: List[float], width: int, height: int) -> Optional[List[float]]:
    """The paper's brightness at every pixel, or None when it is flat across the sheet."""
    cell = max(2, -(-max(width, height) // GRID))
    gw, gh = -(-width // cell), -(-height // cell)
    grid = []
    for gy in range(gh):
        rows = range(gy * cell, min(height, (gy + 1) * cell))
        for gx in range(gw):
            x0, x1 = gx * cell, min(width, (gx + 1) * cell)
            block = sorted(v for y in rows for v in paper[y * width + x0 : y * width + x1])
            grid.append(block[(len(block) * 2) // 3])  # paper, unless the cell is mostly ink
    # a closing (largest of the 3 x 3 cells, then smallest of those): a cell inside a thick
    # stroke takes its neighbours' paper, while a shadow's edge stays where it is
    closed = _close(grid, gw, gh)
    # uneven light and shadows come from beyond the sheet, so they reach its border; a flat
    # border with darker cells inside is a big blot or a thick stroke, not a shadow
    edge = [closed[gy * gw + gx] for gy in range(gh) for gx in range(gw) if gy in (0, gh - 1) or gx in (0, gw - 1)]
    if max(edge) - min(edge) < FLAT:
        return None
    # bilinear between cell centres: first along each grid row, then between rows
    def taps(n_cells: int, n: int):
        out = []
        for i in range(n):
            t = (i + 0.5) / cell - 0.5
            if n_cells == 1:
                out.append((0, 0, 0.0))
                continue
            # beyond the outer cells' centres the line through the last two goes on (a gradient
            # keeps its slope to the edge of the sheet)
            a = min(max(int(t // 1), 0), n_cells - 2)
            out.append((a, a + 1, t - a))
        return out

    across = taps(gw, width)
    grid_rows = [[closed[r * gw + a] * (1 - f) + closed[r * gw + b] * f for a, b, f in across] for r in range(gh)]
    level: List[float] = []
    for a, b, f in taps(gh, height):
        ra, rb = grid_rows[a], grid_rows[b]
        level.extend([max(p * (1 - f) + q * f, 1e-3) for p, q in zip(ra, rb)])
    return level


def _close(grid: List[float], gw: int, gh: int) -> List[float]:
    """Max then min over 3 x 3 cells, on the grid extended by one cell on each side along
    its slope (so that a gradient reaching the edge is not flattened there)."""
    def extend(values: List[float]) -> List[float]:
        if len(values) == 1:
            return values * 3
        return [2 * values[0] - values[1]] + values + [2 * values[-1] - values[-2]]

    rows = [extend(grid[y * gw : (y + 1) * gw]) for y in range(gh)]
    columns = [extend([r[x] for r in rows]) for x in range(gw + 2)]
    pw, ph = gw + 2, gh + 2
    padded = [columns[x][y] for y in range(ph) for x in range(pw)]
    out = _filter3(_filter3(padded, pw, ph, max), pw, ph, min)
    return [out[(y + 1) * pw + x + 1] for y in range(gh) for x in range(gw)]


def _filter3(grid: List[float], gw: int, gh: int, pick) -> List[float]:
    """``pick`` (max or min) of each cell's 3 x 3 neighbourhood on a ``gw x gh`` grid."""
    return [pick(grid[y * gw + x] for y in range(max(0, gy - 1), min(gh, gy + 2))
                 for x in range(max(0, gx - 1), min(gw, gx + 2)))
            for gy in range(gh) for gx in range(gw)]


def _noise(paper: List[float], level: List[float]) -> float:
    """The spread of the paper around its level (a robust standard deviation), from a sample."""
    step = max(1, len(paper) // 20000)
    d = sorted((p - v) / p for v, p in zip(paper[::step], level[::step]))
    median = d[len(d) // 2]
    # paper is the majority and ink is darker: the brighter half of the deviations is paper only
    lower = [median - x for x in d[: len(d) // 2]]
    lower.reverse()
    return lower[len(lower) // 2] * 1.4826 if lower else 0.0


# ------------------------------------------------------------ pieces
def _pieces(strength: List[float], width: int, height: int, high: float, low: float) -> List[Component]:
    """Connected (8-neighbour) pieces of pixels above ``low``; ``strong`` when one is above ``high``."""
    mask = bytearray(1 if v > low else 0 for v in strength)
    seen = bytearray(len(mask))
    out = []
    start = mask.find(1)
    while start >= 0:
        if not seen[start]:
            seen[start] = 1
            stack, pixels, strong = [start], [], False
            while stack:
                i = stack.pop()
                pixels.append(i)
                if strength[i] > high:
                    strong = True
                y, x = divmod(i, width)
                for ny in (y - 1, y, y + 1):
                    if 0 <= ny < height:
                        base = ny * width
                        for nx in (x - 1, x, x + 1):
                            if 0 <= nx < width:
                                j = base + nx
                                if mask[j] and not seen[j]:
                                    seen[j] = 1
                                    stack.append(j)
            out.append(_component(pixels, width, strong))
        start = mask.find(1, start + 1)
    out.sort(key=lambda c: c.box[0])
    return out


def _component(pixels: List[int], width: int, strong: bool = True) -> Component:
    ys = [i // width for i in pixels]
    xs = [i % width for i in pixels]
    return Component((min(xs), min(ys), max(xs), max(ys)), len(pixels), pixels, strong)


def _drop_specks_and_lines(components: List[Component], width: int, height: int) -> List[Component]:
    """Drop specks (small next to the largest piece, or tiny on the sheet) and long thin lines."""
    kept = []
    longest = max(width, height)
    for c in components:
        x0, y0, x1, y1 = c.box
        w, h = x1 - x0 + 1, y1 - y0 + 1
        length = max(w, h)
        thickness = c.area / length
        # a ruled line or the edge of the page: spans much of the sheet, a few pixels thick
        if (w > 0.5 * width or h > 0.5 * height) and thickness < max(2.5, 0.06 * min(w, h) + 0.012 * longest):
            continue
        kept.append(c)
    if not kept:
        return []
    biggest = max(c.area for c in kept)
    tallest = max(c.box[3] - c.box[1] + 1 for c in kept)
    out = []
    for c in kept:
        size = max(c.box[2] - c.box[0], c.box[3] - c.box[1]) + 1
        if size < max(3, 0.02 * longest):
            continue
        if c.area < 0.04 * biggest and size < 0.25 * tallest:
            continue
        out.append(c)
    return out


def _erase_thin_rows(c: Component, strength: List[float], width: int) -> None:
    """A piece across (most of) the sheet is a ruled line, maybe with the strokes it touches: the line
    is the pixels in vertical runs no thicker than its own thickness (the commonest run's);
    a stroke that crosses it runs longer, so it stays. Those pixels are set to 0."""
    x0, y0, x1, y1 = c.box
    w, h = x1 - x0 + 1, y1 - y0 + 1
    mask = bytearray(w * h)
    for i in c.pixels:
        y, x = divmod(i, width)
        mask[(y - y0) * w + x - x0] = 1
    runs = []  # (column, first row, length)
    for x in range(w):
        column = mask[x::w]
        y = column.find(1)
        while y >= 0:
            end = column.find(0, y)
            end = h if end < 0 else end
            runs.append((x, y, end - y))
            y = column.find(1, end) if end < h else -1
    lengths = sorted(r[2] for r in runs)
    thick = lengths[len(lengths) // 2]
    if thick > LINE_THICKNESS * max(len(strength) // width, width) + 1:
        return  # strokes of a big digit, not a ruled line
    for x, y, n in runs:
        if n <= 1.5 * thick + 1:
            for k in range(y, y + n):
                strength[(y0 + k) * width + x0 + x] = 0.0


def _dilate(mask: bytearray, width: int, height: int) -> bytearray:
    """Grow a 0/1 mask by one pixel (3 x 3)."""
    rows = [mask[y * width : (y + 1) * width] for y in range(height)]
    grown = []
    for row in rows:
        r = bytearray(row)
        r[1:] = bytes(a | b for a, b in zip(r[1:], row[:-1]))
        r[:-1] = bytes(a | b for a, b in zip(r[:-1], row[1:]))
        grown.append(r)
    out = bytearray()
    for y in range(height):
        r = bytearray(grown[y])
        if y > 0:
            r = bytearray(a | b for a, b in zip(r, grown[y - 1]))
        if y + 1 < height:
            r = bytearray(a | b for a, b in zip(r, grown[y + 1]))
        out += r
    return out
