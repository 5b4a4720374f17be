"""``preprocess``: turn a picture of one digit into an MNIST-style 28x28 input.

    >>> import purenet as pn
    >>> canvas = [[0.0] * 50 for _ in range(50)]
    >>> for row in canvas[5:45]:            # a bright vertical bar, 40 x 10 px
    ...     row[20:30] = [1.0] * 10
    >>> x = pn.preprocess(canvas)
    >>> len(x), max(x)
    (784, 1.0)
    >>> rows = [r for r in range(28) if any(x[r * 28:(r + 1) * 28])]
    >>> rows[0], rows[-1]                   # 20 rows tall, its middle (14.5) nearest to row 14
    (5, 24)
    >>> pn.preprocess([[0.0] * 5] * 5) is None   # nothing drawn
    True

MNIST digits were made by a known recipe (LeCun, Cortes and Burges, "The
MNIST database"): each digit was scaled, anti-aliased, so that its bounding
box fits a 20x20 square with the aspect ratio kept, then placed in a 28x28
field so that its centre of mass sits at the centre. A network trained on
MNIST has only ever seen digits like that, so a photo, a scan or a drawing
goes through the same steps before it is shown to the network:

1. gray: an :class:`~purenet.io.Image` is converted with ``to_gray()``
   (luma, transparency read as white paper);
2. ink and paper (:mod:`purenet.vision.ink`): the polarity is read from
   the border (dark ink on light paper is inverted, so that ink is bright
   as in MNIST), the paper's level is followed across the sheet (uneven
   light, shadows), and the ink is what stands out from it, as connected
   strokes, without specks, noise or ruled lines; paper becomes 0.
   Pictures of ``2 * WORK`` pixels or more on a side are first averaged
   down by a whole factor, to ``WORK`` to ``2 * WORK`` (a 20 px box needs
   no more);
3. a thin pen on paper: when the picture is of paper (a photo or a
   scan: its paper level uneven or noisy) and the pen, once the ink is
   scaled into the 20 px box, would be thinner than ``THIN`` (2 px, about
   MNIST's thinnest), the strokes are widened to it (every pixel within
   the missing width of the ink takes the strength of the strokes' core).
   A ballpoint pen on a large digit is otherwise a hairline, which the
   digit model reads poorly and the rejection model takes for a scribble.
   A clean canvas (MNIST, the drawing app, which keeps its own pen in
   MNIST's range) is left as it is;
4. crop to the ink: the bounding box of the pixels brighter than
   ``threshold`` times the brightest one (no binarisation: pixel values
   are kept);
5. scale so that the longer side of that box is 20 px, keeping the aspect
   ratio, by area averaging: each target pixel is the mean of the source
   area it covers, with exact fractional weights for partly covered
   source pixels (a box filter; it anti-aliases when shrinking and does
   not invent detail when enlarging);
6. stretch so that the brightest pixel is 1.0 (MNIST strokes reach full
   intensity; faint photos and thin pens otherwise do not);
7. paste into 28x28 so that the centre of mass of the ink lands on pixel
   (14, 14) (row, column; shift rounded to whole pixels as MNIST did),
   clipping whatever falls outside. On this convention (coordinates are
   pixel indices) all 12,000 bundled MNIST digits have their centre of
   mass within half a pixel of (14, 14).

What it is not: no deskewing, no thinning of thick strokes, no splitting
of several digits (:func:`purenet.read_digits` finds several). Pure functions: no Tk,
no global state, deterministic.
"""

import math
import operator
from numbers import Real
from typing import List, Optional, Sequence, Tuple, Union

from ..io.image import Image
from ..matrix import Matrix
from .ink import downscale, find_ink

__all__ = ["preprocess", "preprocess_to_matrix", "gray_values", "scaled_gray_values", "to_mnist"]

SIZE = 28  # the MNIST field
BOX = 20  # the longer side of the digit's bounding box in it
THIN = 2.0  # a pen thinner than this in the 20 px box is widened to it (MNIST's 5th percentile: about 2)
WORK = 400  # pictures at least twice this size are averaged down, to between this and twice it

GrayRows = Sequence[Sequence[Real]]
Picture = Union[Image, Matrix, GrayRows]

_LUT = [b / 255.0 for b in range(256)]


def preprocess(
    image: Picture,
    *,
    invert: Optional[bool] = None,
    threshold: float = 0.1,
    min_contrast: float = 0.1,
) -> Optional[List[float]]:
    """One digit picture -> a flat 28x28 MNIST-style image, or None when it holds no ink.

    Args:
        image: an :class:`~purenet.io.Image` (any channels, e.g. from
            :func:`purenet.io.read_image`), a ``(H, W)`` :class:`Matrix` of
            floats in [0, 1], or a list of ``H`` rows of ``W`` numbers:
            all ints means 0..255, any float means the 0..1 scale (so write
            ``1.0``, not ``1``, in a hand-made 0..1 picture). A 2-D NumPy
            array is taken through its ``tolist()`` by the same rule.
        invert: ``None`` decides from the border (see the module notes);
            ``True`` says the picture is dark ink on a light background,
            ``False`` bright ink on a dark one.
        threshold: a pixel counts as ink for the crop when it is brighter
            than this fraction of the brightest ink pixel (0 <= threshold < 1).
        min_contrast: the ink must stand out from the background by at
            least this much (0..1 scale) for the picture to count as a
            digit at all.

    Returns:
        784 floats in [0, 1], row-major, ink bright (1.0 at its brightest)
        on a 0.0 background, its centre of mass at pixel (14, 14) unless
        clipped; or ``None`` when the picture holds no ink (an empty
        canvas, a blank page, a flat colour). ``None`` rather than an
        exception because an empty canvas is a normal state of a drawing
        app, not an error: check for it and show no prediction.

    Raises:
        TypeError, ValueError: the picture is not one of the accepted kinds,
            is ragged or empty, or holds values outside its scale or NaN.

    Shape:
        input ``(H, W)`` (any size), output ``(28 * 28,)``.
    """
    if invert is not None and not isinstance(invert, bool):
        raise ValueError(f"preprocess: invert must be None, True or False. Received: {invert!r}")
    if not (isinstance(threshold, Real) and 0.0 <= threshold < 1.0):
        raise ValueError(f"preprocess: threshold must be in [0, 1). Received: {threshold!r}")
    if not (isinstance(min_contrast, Real) and 0.0 < min_contrast <= 1.0):
        raise ValueError(f"preprocess: min_contrast must be in (0, 1]. Received: {min_contrast!r}")
    values, width, height = gray_values(image, WORK)
    found = find_ink(values, width, height, invert, min_contrast)
    if found is None:
        return None
    if not found.paper:  # a clean canvas (MNIST, a drawing app, which sets its own pen's width)
        return to_mnist(found.values, width, height, threshold)
    pixels = [i for c in found.components for i in c.pixels]
    x0 = min(c.box[0] for c in found.components)
    y0 = min(c.box[1] for c in found.components)
    x1 = max(c.box[2] for c in found.components)
    y1 = max(c.box[3] for c in found.components)
    grow = stroke_growth(pixels, width, (x0, y0, x1, y1))
    if grow == 0.0:
        return to_mnist(found.values, width, height, threshold)
    # a thin pen: the ink's box with room around it, its strokes widened
    pad = int(grow) + 2
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    w, h = x1 - x0 + 1, y1 - y0 + 1
    crop = [found.values[y * width + x] if 0 <= x < width and 0 <= y < height else 0.0
            for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
    own = bytearray(w * h)
    for i in pixels:
        y, x = divmod(i, width)
        own[(y - y0) * w + x - x0] = 1
    widen(crop, own, w, h, grow)
    return to_mnist(crop, w, h, threshold)


def to_mnist(ink: List[float], width: int, height: int, threshold: float = 0.1) -> Optional[List[float]]:
    """Ink (>= 0 on a 0 background, row-major ``(H, W)``) -> 784 floats: crop to the
    pixels above ``threshold`` times the strongest, area-average into the 20 px box,
    stretch to 1.0, centre the mass at (14, 14). None when all of it is 0."""
    top = max(ink)
    if top <= 0.0:
        return None
    x0, y0, x1, y1 = _ink_box(ink, width, height, threshold * top)
    patch, pw, ph = _resize_box(ink, width, x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    peak = max(patch)
    patch = [v / peak for v in patch]
    return paste_centred(patch, pw, ph)


def preprocess_to_matrix(images: Sequence[Picture], **options) -> Matrix:
    """Preprocess several pictures into one ``(N, 784)`` Matrix, ready for ``model.predict``.

    ``options`` are those of :func:`preprocess`. A picture with no ink has
    no row to give, so here it raises ``ValueError`` naming its index.

    Example:
        >>> bar = [[0] * 10 for _ in range(10)]
        >>> for row in bar[2:8]:
        ...     row[4:6] = [255, 255]
        >>> preprocess_to_matrix([bar, bar]).shape
        (2, 784)
    """
    if isinstance(images, (Image, Matrix)) or not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        raise TypeError(
            "preprocess_to_matrix expects a list of pictures. "
            f"Received: {type(images).__name__} (for one picture use preprocess)"
        )
    if not images:
        raise ValueError("preprocess_to_matrix expects at least one picture. Received: an empty list.")
    data: List[float] = []
    empty = []
    for i, image in enumerate(images):
        x = preprocess(image, **options)
        if x is None:
            empty.append(i)
        else:
            data.extend(x)
    if empty:
        raise ValueError(
            f"no ink in the picture(s) at index {', '.join(map(str, empty[:10]))}"
            f"{' ...' if len(empty) > 10 else ''}: nothing to classify."
        )
    return Matrix.from_flat(data, len(images), SIZE * SIZE)  # (N, 28*28)


# ------------------------------------------------------------------- steps
def gray_values(image: Picture, limit: Optional[int] = None) -> Tuple[List[float], int, int]:
    """``(flat row-major values in [0, 1], width, height)``, averaged down (when ``limit``
    is given) by the largest whole factor that leaves the longer side at least ``limit``."""
    values, width, height, _ = scaled_gray_values(image, limit)
    return values, width, height


def scaled_gray_values(image: Picture, limit: Optional[int] = None) -> Tuple[List[float], int, int, int]:
    """:func:`gray_values` and the factor it averaged down by (1 when it did not)."""
    values, width, height = _gray_values(image)
    if limit is not None and max(width, height) >= 2 * limit:
        factor = max(width, height) // limit
        unit = 1 / 255 if isinstance(values, bytes) else 1.0
        return downscale(values, width, height, factor, unit) + (factor,)
    if isinstance(values, bytes):
        lut = _LUT
        return [lut[b] for b in values], width, height, 1
    return values, width, height, 1


def _gray_values(image: Picture):
    """``(flat row-major values, width, height)``: bytes (0..255) for an Image, else floats in [0, 1]."""
    if isinstance(image, Image):
        gray = image.to_gray()
        return gray.pixels, gray.width, gray.height
    if isinstance(image, Matrix):
        values, height, width = list(image.data), image.rows, image.cols
        _check_range(values, 1.0, "Matrix (0..1 scale)")
        return values, width, height
    if not isinstance(image, Sequence) and callable(getattr(image, "tolist", None)):
        image = image.tolist()  # a NumPy array: uint8 -> ints (0..255), floats stay floats
    if isinstance(image, (str, bytes)) or not isinstance(image, Sequence):
        raise TypeError(
            "preprocess expects an Image, a (H, W) Matrix or a list of rows of numbers. "
            f"Received: {type(image).__name__}"
        )
    if not image:
        raise ValueError("preprocess expects at least one row. Received: an empty list.")
    height = len(image)
    first = image[0]
    if isinstance(first, (str, bytes)) or not isinstance(first, Sequence):
        raise TypeError(
            "preprocess expects a list of rows (each a list of numbers). "
            f"Received: rows of type {type(first).__name__}"
        )
    width = len(first)
    if width == 0:
        raise ValueError("preprocess expects non-empty rows. Received: a row of length 0.")
    values: List[float] = []
    for y, row in enumerate(image):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or len(row) != width:
            raise ValueError(
                f"preprocess expects rows of equal length {width} (the length of row 0). "
                f"Received: row {y} = {type(row).__name__} of length {len(row) if hasattr(row, '__len__') else '?'}"
            )
        values.extend(row)
    if all(type(v) is int for v in values):
        _check_range(values, 255, "rows of ints (0..255 scale)")
        return [_LUT[v] for v in values], width, height
    _check_range(values, 1.0, "rows with floats (0..1 scale)")
    return [float(v) for v in values], width, height


def _check_range(values: list, top: Real, what: str) -> None:
    try:
        finite = all(map(math.isfinite, values))
    except TypeError:
        bad = next(v for v in values if isinstance(v, (str, bytes)) or not isinstance(v, Real))
        raise TypeError(f"preprocess expects numbers. Received: {bad!r} in {what}") from None
    if not finite:
        raise ValueError(f"preprocess expects finite numbers. Received: NaN or infinity in {what}")
    low, high = min(values), max(values)
    if low < 0 or high > top:
        hint = "; divide by 255 for a 0..1 picture" if top == 1.0 and high <= 255 else ""
        raise ValueError(
            f"preprocess expects values in [0, {top}] for {what}. "
            f"Received: values from {low} to {high}{hint}"
        )


def stroke_growth(pixels: List[int], width: int, box: Tuple[int, int, int, int]) -> float:
    """How far (in the picture's pixels) to widen each side of the strokes of the ink at flat
    indices ``pixels`` (in a picture ``width`` wide; ``box`` their ``(x0, y0, x1, y1)``,
    inclusive) so that, scaled into the 20 px box, the pen is ``THIN`` wide; 0 when it is not
    thinner. A ballpoint pen on a large digit is a hairline once scaled, unlike any MNIST
    digit; both models then read it poorly (the rejection model takes it for a scribble)."""
    size = max(box[2] - box[0], box[3] - box[1]) + 1
    stroke = stroke_width(pixels, width, box) * BOX / size
    return (THIN - stroke) / 2 * size / BOX if stroke < THIN else 0.0


def widen(values: List[float], own: bytearray, w: int, h: int, grow: float) -> None:
    """Widen the strokes of ``own`` (a 0/1 mask over the ``w x h`` picture ``values``) by
    ``grow`` pixels on each side, in place: the pixels that near, at the strength of the
    stroke's core (the 75th percentile of its own pixels). The caller leaves room around them."""
    if grow <= 0.0:
        return
    strong = sorted(values[k] for k in range(w * h) if own[k])
    if not strong:
        return
    core = strong[(3 * len(strong)) // 4]
    for k, d in enumerate(_distance(own, w, h)):
        if d <= grow and values[k] < core:
            values[k] = core


def stroke_width(pixels: List[int], width: int, box: Tuple[int, int, int, int]) -> float:
    """The pen's width in pixels: twice the area over the outline's length (a long stroke of
    width ``w`` and length ``L`` has area ``w L`` and outline ``2 L``). The outline is counted
    as pixel edges, which overcounts a slanted one by 4/pi on average."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0 + 3, y1 - y0 + 3
    mask = bytearray(w * h)
    for i in pixels:
        y, x = divmod(i, width)
        mask[(y - y0 + 1) * w + x - x0 + 1] = 1
    edges = 0
    for k in range(w, len(mask) - w):
        if mask[k]:
            edges += 4 - mask[k - 1] - mask[k + 1] - mask[k - w] - mask[k + w]
    return 8.0 * len(pixels) / (math.pi * edges) if edges else 0.0


def _distance(mask: bytearray, w: int, h: int) -> List[float]:
    """Each pixel's distance to the nearest pixel of ``mask`` (chamfer 3-4 weights, in pixels)."""
    far = 3 * (w + h)
    d = [0 if m else far for m in mask]
    for y in range(h):  # from the top left
        for x in range(w):
            k = y * w + x
            if d[k]:
                best = d[k]
                if x > 0:
                    best = min(best, d[k - 1] + 3)
                if y > 0:
                    best = min(best, d[k - w] + 3)
                    if x > 0:
                        best = min(best, d[k - w - 1] + 4)
                    if x + 1 < w:
                        best = min(best, d[k - w + 1] + 4)
                d[k] = best
    for y in range(h - 1, -1, -1):  # from the bottom right
        for x in range(w - 1, -1, -1):
            k = y * w + x
            if d[k]:
                best = d[k]
                if x + 1 < w:
                    best = min(best, d[k + 1] + 3)
                if y + 1 < h:
                    best = min(best, d[k + w] + 3)
                    if x + 1 < w:
                        best = min(best, d[k + w + 1] + 4)
                    if x > 0:
                        best = min(best, d[k + w - 1] + 4)
                d[k] = best
    return [v / 3.0 for v in d]


def _ink_box(ink: List[float], width: int, height: int, cut: float) -> Tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``, inclusive, of the pixels brighter than ``cut``."""
    left, right, top, bottom = width, -1, -1, -1
    for y in range(height):
        row = ink[y * width : (y + 1) * width]
        if max(row) <= cut:
            continue
        if top < 0:
            top = y
        bottom = y
        # only look beyond the columns already known to hold ink
        for x in range(left):
            if row[x] > cut:
                left = x
                break
        for x in range(width - 1, right, -1):
            if row[x] > cut:
                right = x
                break
    return left, top, right, bottom


def _box_weights(n_src: int, n_dst: int) -> List[Tuple[int, int, List[float]]]:
    """For each of ``n_dst`` target pixels spanning ``n_src`` source pixels:
    ``(first, stop, weights)``, the source pixels it covers and the fraction
    of its own width each of them fills (summing to 1).

    In units of ``1 / n_dst`` source pixels, target ``t`` covers
    ``[t * n_src, (t + 1) * n_src)`` and source ``k`` covers
    ``[k * n_dst, (k + 1) * n_dst)``: the overlaps are exact integers.
    """
    taps = []
    for t in range(n_dst):
        lo, hi = t * n_src, (t + 1) * n_src
        first, stop = lo // n_dst, (hi - 1) // n_dst + 1
        weights = [(min(hi, (k + 1) * n_dst) - max(lo, k * n_dst)) / n_src for k in range(first, stop)]
        taps.append((first, stop, weights))
    return taps


def _resize_box(ink: List[float], width: int, x0: int, y0: int, bw: int, bh: int):
    """The ``bw x bh`` box at ``(x0, y0)`` area-averaged to longer side ``BOX``:
    ``(flat values, new width, new height)``."""
    longest = max(bw, bh)
    tw = max(1, (2 * bw * BOX + longest) // (2 * longest))  # round(bw * BOX / longest)
    th = max(1, (2 * bh * BOX + longest) // (2 * longest))
    mul = operator.mul
    across = _box_weights(bw, tw)
    rows = []  # each source row of the box, resized to tw columns
    for y in range(y0, y0 + bh):
        row = ink[y * width + x0 : y * width + x0 + bw]
        rows.append([sum(map(mul, row[a:b], w)) for a, b, w in across])
    out: List[float] = []
    for a, b, weights in _box_weights(bh, th):
        acc = [0.0] * tw
        for row, w in zip(rows[a:b], weights):
            acc = [s + w * v for s, v in zip(acc, row)]
        out.extend(acc)
    return out, tw, th


def paste_centred(patch: List[float], pw: int, ph: int) -> List[float]:
    """``patch`` in a SIZE x SIZE field, its centre of mass moved to (SIZE/2, SIZE/2)."""
    mass = sum(patch)
    cy = sum(y * sum(patch[y * pw : (y + 1) * pw]) for y in range(ph)) / mass
    cx = sum(x * sum(patch[x::pw]) for x in range(pw)) / mass
    dy = math.floor(SIZE / 2 - cy + 0.5)
    dx = math.floor(SIZE / 2 - cx + 0.5)
    out = [0.0] * (SIZE * SIZE)
    xs = range(max(0, -dx), min(pw, SIZE - dx))  # columns that land inside
    if not xs:
        return out
    for y in range(ph):
        ty = y + dy
        if 0 <= ty < SIZE:
            start = ty * SIZE + xs.start + dx
            out[start : start + len(xs)] = patch[y * pw + xs.start : y * pw + xs.stop]
    return out
