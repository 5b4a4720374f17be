"""Evaluation reports: text tables and PNG pictures, drawn with the standard library.

    >>> matrix = confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], 2)
    >>> matrix
    [[1, 1], [0, 2]]
    >>> print(format_confusion(matrix, [3, 7]))
    true \\ predicted     3     7
                   3     1     1
                   7     0     2
    >>> picture = confusion_heatmap(matrix, [3, 7])
    >>> picture.channels, picture.width > 2 * CELL
    (3, True)

What ``purenet evaluate --report DIR`` writes, one function per picture so
each can be made and checked on its own:

- :func:`training_curves`: loss and accuracy per epoch from a model's
  saved history (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``);
- :func:`confusion_heatmap`: the confusion matrix, each row shaded by the
  fraction of that true class predicted as each column;
- :func:`filter_grid`: the first layer's filters, each scaled to its own
  range (black its lowest weight, white its highest) and enlarged;
- :func:`image_grid`: images (e.g. the misclassified test digits),
  enlarged, each with a caption;
- :func:`write_report`: all of them plus ``REPORT.md`` into a directory.

Pictures are :class:`purenet.io.Image` objects (8-bit RGB) drawn on a
:class:`Canvas` that knows filled rectangles, lines and a 3x5-pixel
bitmap font (digits, capital letters and a little punctuation; lower case
is drawn as capitals), and saved with :func:`purenet.io.png.write_png`.

What it is not: a plotting library. No anti-aliasing, no automatic layout
beyond these few charts, no colour maps beyond white-to-blue; the point is
pictures a reader can open with any viewer, made without dependencies.
"""

import math
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .io.image import Image
from .io.png import write_png

__all__ = [
    "Canvas", "confusion_matrix", "format_confusion", "format_per_class",
    "training_curves", "confusion_heatmap", "filter_grid", "image_grid", "first_layer_filters",
    "write_report",
]

Color = Tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
AXIS: Color = (90, 90, 90)
TRAIN: Color = (31, 119, 180)  # blue
TEST: Color = (255, 127, 14)  # orange
DARK: Color = (8, 48, 107)  # the darkest shade of the heat map
CELL = 36  # side of a confusion-matrix cell, pixels

# ------------------------------------------------------------------ the font
# 3x5 glyphs, one string of five rows each ('#' = ink). A glyph is drawn
# `scale` pixels per dot and advances 4 * scale pixels.
_GLYPHS = {
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###",
    "3": "### ..# .## ..# ###", "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###",
    "6": "### #.. ### #.# ###", "7": "### ..# ..# .#. .#.", "8": "### #.# ### #.# ###",
    "9": "### #.# ### ..# ###",
    "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##",
    "D": "##. #.# #.# #.# ##.", "E": "### #.. ##. #.. ###", "F": "### #.. ##. #.. #..",
    "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#", "I": "### .#. .#. .#. ###",
    "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###",
    "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.",
    "P": "##. #.# ##. #.. #..", "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#",
    "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.", "U": "#.# #.# #.# #.# ###",
    "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "#.# #.# .#. #.# #.#",
    "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###",
    " ": "... ... ... ... ...", ".": "... ... ... ... .#.", ",": "... ... ... .#. #..",
    ":": "... .#. ... .#. ...", "%": "#.. ..# .#. #.. ..#", "/": "..# ..# .#. #.. #..",
    "-": "... ... ### ... ...", "+": "... .#. ### .#. ...", ">": "#.. .#. ..# .#. #..",
    "<": "..# .#. #.. .#. ..#", "(": ".#. #.. #.. #.. .#.", ")": ".#. ..# ..# ..# .#.",
    "=": "... ### ... ### ...", "_": "... ... ... ... ###", "?": "### ..# .#. ... .#.",
    "'": ".#. .#. ... ... ...",
}
# each glyph as the (x, y) of its ink dots
_DOTS = {
    ch: [(x, y) for y, row in enumerate(rows.split()) for x, c in enumerate(row) if c == "#"]
    for ch, rows in _GLYPHS.items()
}


def text_width(text: str, scale: int = 2) -> int:
    """Width in pixels of ``text`` drawn by :meth:`Canvas.text` (no trailing gap)."""
    return max(0, 4 * scale * len(text) - scale)


# ---------------------------------------------------------------- the canvas
class Canvas:
    """An RGB picture to draw on; :meth:`to_image` gives the :class:`Image`.

    Coordinates are pixels, ``(0, 0)`` the top-left corner, x to the right,
    y down. Everything drawn is clipped to the canvas.

    Example:
        >>> c = Canvas(4, 2, background=BLACK)
        >>> c.rect(1, 0, 3, 1, WHITE)          # x0, y0, x1, y1 (exclusive)
        >>> list(c.to_image().to_gray().pixels)
        [0, 255, 255, 0, 0, 0, 0, 0]
    """

    def __init__(self, width: int, height: int, background: Color = WHITE):
        if width < 1 or height < 1:
            raise ValueError(f"Canvas: expected a positive width and height; Received: {width}x{height}.")
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))  # (H, W, 3)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the pixels ``x0 <= x < x1``, ``y0 <= y < y1``."""
        x0, x1 = max(0, int(x0)), min(self.width, int(x1))
        y0, y1 = max(0, int(y0)), min(self.height, int(y1))
        if x0 >= x1 or y0 >= y1:
            return
        run = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1) -> None:
        """A straight line (Bresenham's algorithm), ``width`` pixels thick."""
        x0, y0, x1, y1 = int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        lo = width // 2
        while True:
            self.rect(x0 - lo, y0 - lo, x0 - lo + width, y0 - lo + width, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        """Draw ``text`` with its top-left corner at ``(x, y)``, 5 * scale pixels tall."""
        for i, ch in enumerate(str(text).upper()):
            ox = x + 4 * scale * i
            for dx, dy in _DOTS.get(ch, _DOTS["?"]):
                self.rect(ox + dx * scale, y + dy * scale, ox + (dx + 1) * scale, y + (dy + 1) * scale, color)

    def paste_gray(self, x: int, y: int, values: Sequence[int], width: int, height: int, zoom: int = 1) -> None:
        """Paste a gray picture (``width*height`` values 0..255, row-major), each
        pixel as a ``zoom x zoom`` square."""
        for row in range(height):
            line = bytearray()
            for v in values[row * width : (row + 1) * width]:
                line += bytes((v, v, v)) * zoom
            for k in range(zoom):
                yy = y + row * zoom + k
                if 0 <= yy < self.height:
                    start = (yy * self.width + x) * 3
                    room = max(0, min(len(line), (self.width - x) * 3))
                    self.pixels[start : start + room] = line[:room]

    def to_image(self) -> Image:
        return Image(self.width, self.height, 3, bytes(self.pixels))


# --------------------------------------------------------------- text tables
def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], classes: int) -> List[List[int]]:
    """``matrix[t][p]``: how many samples of true class ``t`` were predicted ``p``."""
    if len(labels) != len(predictions):
        raise ValueError(
            f"confusion_matrix: expected as many predictions as labels; "
            f"Received: {len(labels)} labels and {len(predictions)} predictions."
        )
    matrix = [[0] * classes for _ in range(classes)]
    for t, p in zip(labels, predictions):
        if not (0 <= t < classes and 0 <= p < classes):
            raise ValueError(f"confusion_matrix: expected classes in [0, {classes}); Received: label {t}, prediction {p}.")
        matrix[t][p] += 1
    return matrix


def format_confusion(matrix: Sequence[Sequence[int]], names: Sequence) -> str:
    """The confusion matrix as a text table: one row per true class, one column per prediction."""
    names = [str(n) for n in names]
    head = "true \\ predicted"
    width = max(5, max(len(n) for n in names), max(len(str(v)) for row in matrix for v in row)) + 1
    lines = [head + "".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:>{len(head)}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def format_per_class(matrix: Sequence[Sequence[int]], names: Sequence) -> str:
    """Per-class accuracy (recall) as a text table: class, images, correct, accuracy."""
    lines = [f"{'class':>5}  {'images':>6}  {'correct':>7}  {'accuracy':>8}"]
    for i, (name, row) in enumerate(zip(names, matrix)):
        total = sum(row)
        accuracy = f"{row[i] / total:.2%}" if total else "-"
        lines.append(f"{str(name):>5}  {total:>6}  {row[i]:>7}  {accuracy:>8}")
    return "\n".join(lines)


# --------------------------------------------------------------- the charts
def _nice_step(span: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``ticks`` intervals over ``span``."""
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _axis(lo: float, hi: float) -> Tuple[float, float, float]:
    """``(start, stop, step)``: a tick range covering ``[lo, hi]``."""
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    return start, stop, step


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _chart(canvas: Canvas, x: int, y: int, w: int, h: int, title: str,
           series: Sequence[Tuple[str, Sequence[Optional[float]], Color]], floor: Optional[float] = None,
           ceiling: Optional[float] = None) -> None:
    """One line chart in the box ``(x, y, w, h)``: x is the epoch (1, 2, ...)."""
    left, right, top, bottom = 52, 10, 34, 40  # margins inside the box
    px0, py0, px1, py1 = x + left, y + top, x + w - right, y + h - bottom  # the plot area
    values = [v for _, vs, _ in series for v in vs if v is not None and math.isfinite(v)]
    epochs = max(len(vs) for _, vs, _ in series)
    lo, hi = min(values), max(values)
    if floor is not None:
        lo = min(lo, floor)
    start, stop, step = _axis(lo, hi)
    if ceiling is not None:
        stop = min(stop, max(ceiling, hi))
        start = min(start, stop - step)

    def to_y(v):
        return py1 - (v - start) / (stop - start) * (py1 - py0)

    def to_x(epoch):  # epochs count from 1
        if epochs == 1:
            return (px0 + px1) / 2
        return px0 + (epoch - 1) / (epochs - 1) * (px1 - px0)

    canvas.text(x + left, y + 8, title, BLACK, 2)
    n = int(round((stop - start) / step))
    for i in range(n + 1):
        v = start + i * step
        ty = int(round(to_y(v)))
        canvas.rect(px0, ty, px1, ty + 1, GRID)
        label = _tick_label(v, step)
        canvas.text(px0 - 6 - text_width(label), ty - 5, label, AXIS, 2)
    every = max(1, math.ceil(epochs / 10))
    for tick in range(1, epochs + 1):  # the x axis' labels: epochs 1, 1 + every, ..., and the last
        if (tick - 1) % every == 0 or tick == epochs:
            tx = int(round(to_x(tick)))
            canvas.rect(tx, py1, tx + 1, py1 + 4, AXIS)
            label = str(tick)
            canvas.text(tx - text_width(label) // 2, py1 + 8, label, AXIS, 2)
    canvas.text((px0 + px1 - text_width("EPOCH")) // 2, py1 + 24, "EPOCH", AXIS, 2)
    canvas.rect(px0, py0, px0 + 1, py1 + 1, AXIS)
    canvas.rect(px0, py1, px1 + 1, py1 + 1, AXIS)
    # the series, then a legend in the top-right corner
    legend_x = px1
    for name, vs, color in reversed(series):
        legend_x -= text_width(name) + 22
        canvas.rect(legend_x, y + 12, legend_x + 10, y + 18, color)
        canvas.text(legend_x + 14, y + 10, name, color, 2)
    for _, vs, color in series:
        points = [(to_x(i + 1), to_y(v)) if v is not None and math.isfinite(v) else None for i, v in enumerate(vs)]
        for a, b in zip(points, points[1:]):
            if a and b:
                canvas.line(a[0], a[1], b[0], b[1], color, 2)
        for p in points:
            if p:
                canvas.rect(p[0] - 2, p[1] - 2, p[0] + 3, p[1] + 3, color)


def training_curves(history: Dict[str, Sequence[Optional[float]]], width: int = 420, height: int = 280) -> Optional[Image]:
    """Loss and accuracy per epoch, side by side, training in blue and test in orange.

    Uses the history keys ``loss``/``val_loss`` and ``accuracy``/``val_accuracy``
    (what ``model.fit`` and ``purenet train`` record); a chart with no data
    is left out. Returns ``None`` when there is nothing to draw.

    Example:
        >>> training_curves({"loss": [0.5, 0.3], "val_loss": [0.4, 0.35]}).size
        (420, 280)
        >>> training_curves({}) is None
        True
    """
    charts = []
    for title, keys, floor, ceiling, scale in (
        ("LOSS", ("loss", "val_loss"), 0.0, None, 1.0),
        ("ACCURACY %", ("accuracy", "val_accuracy"), None, 100.0, 100.0),
    ):
        series = []
        for key, name, color in ((keys[0], "TRAIN", TRAIN), (keys[1], "TEST", TEST)):
            values = history.get(key) or []
            if any(v is not None and math.isfinite(v) for v in values):
                series.append((name, [None if v is None else v * scale for v in values], color))
        if series:
            charts.append((title, series, floor, ceiling))
    if not charts:
        return None
    canvas = Canvas(width * len(charts), height)
    for i, (title, series, floor, ceiling) in enumerate(charts):
        _chart(canvas, i * width, 0, width, height, title, series, floor, ceiling)
    return canvas.to_image()


def _shade(t: float) -> Color:
    """White (t = 0) to dark blue (t = 1)."""
    return tuple(int(round(255 + t * (d - 255))) for d in DARK)


def confusion_heatmap(matrix: Sequence[Sequence[int]], names: Sequence) -> Image:
    """The confusion matrix as a heat map: row = true class, column = prediction.

    Each cell is shaded by the fraction of its row (its true class) that it
    holds, so every class reads on the same scale whatever its size; the
    count is written in the cell (blank for 0).
    """
    k = len(matrix)
    names = [str(n) for n in names]
    label_w = max(text_width(n) for n in names) + 12
    titles = ("CONFUSION MATRIX", "ROWS: TRUE, COLUMNS: PREDICTED")
    top = 60
    width = max(label_w + k * CELL + 10, max(text_width(t) for t in titles) + 20)
    canvas = Canvas(width, top + k * CELL + 10)
    canvas.text(10, 8, titles[0], BLACK, 2)
    canvas.text(10, 24, titles[1], AXIS, 2)
    for j, name in enumerate(names):
        canvas.text(label_w + j * CELL + (CELL - text_width(name)) // 2, top - 14, name, AXIS, 2)
    for i, row in enumerate(matrix):
        y = top + i * CELL
        canvas.text(label_w - 8 - text_width(names[i]), y + (CELL - 10) // 2, names[i], AXIS, 2)
        total = sum(row) or 1
        for j, count in enumerate(row):
            x = label_w + j * CELL
            t = count / total
            canvas.rect(x, y, x + CELL, y + CELL, _shade(t))
            if count:
                label = str(count)
                scale = 2 if text_width(label, 2) <= CELL - 4 else 1
                color = WHITE if t > 0.5 else BLACK
                canvas.text(x + (CELL - text_width(label, scale)) // 2, y + (CELL - 5 * scale) // 2, label, color, scale)
    # cell borders
    for i in range(k + 1):
        canvas.rect(label_w, top + i * CELL, label_w + k * CELL + 1, top + i * CELL + 1, GRID)
        canvas.rect(label_w + i * CELL, top, label_w + i * CELL + 1, top + k * CELL + 1, GRID)
    return canvas.to_image()


def filter_grid(filters: Sequence[Sequence[float]], shape: Sequence[int], columns: int = 8,
                title: Optional[str] = None) -> Image:
    """Each filter as a gray picture, scaled to its own range and enlarged.

    Args:
        filters: one flat list of weights per filter, ``C*H*W`` each
            (a row of ``Conv2D.weight``, or of a first ``Dense`` layer's
            weight reshaped to the input image).
        shape: ``(C, H, W)`` of one filter; its channels are drawn side by side.
        columns: filters per row of the grid.

    Shape:
        ``filters`` ``(F, C*H*W)``.
    """
    c, h, w = shape
    zoom = max(1, 56 // max(h, w))
    gap = 8
    tile_w = c * w * zoom + (c - 1) * 2
    tile_h = h * zoom
    columns = max(1, min(columns, len(filters)))
    rows = math.ceil(len(filters) / columns)
    title = title or f"FIRST LAYER: {len(filters)} FILTERS {h}X{w}" + (f"X{c}" if c > 1 else "")
    top = 30
    width = max(gap + columns * (tile_w + gap), text_width(title) + 20)
    canvas = Canvas(width, top + rows * (tile_h + gap), background=(235, 235, 235))
    canvas.text(10, 8, title, BLACK, 2)
    for i, weights in enumerate(filters):
        if len(weights) != c * h * w:
            raise ValueError(f"filter_grid: expected {c * h * w} weights per filter (shape {tuple(shape)}); "
                             f"Received: {len(weights)} for filter {i}.")
        lo, hi = min(weights), max(weights)
        span = (hi - lo) or 1.0
        x = gap + (i % columns) * (tile_w + gap)
        y = top + (i // columns) * (tile_h + gap)
        for ch in range(c):
            plane = weights[ch * h * w : (ch + 1) * h * w]
            canvas.paste_gray(x + ch * (w * zoom + 2), y, [int(round((v - lo) / span * 255)) for v in plane], w, h, zoom)
    return canvas.to_image()


def image_grid(images: Sequence[Union[bytes, Sequence[float]]], shape: Tuple[int, int] = (28, 28),
               captions: Optional[Sequence[str]] = None, columns: int = 10, zoom: int = 3,
               title: Optional[str] = None) -> Image:
    """Gray images in a grid, enlarged ``zoom`` times, each with an optional caption below.

    Args:
        images: each ``H*W`` bytes (0..255) or floats in [0, 1], row-major.
        shape: ``(H, W)``.
        captions: one short string per image (about ``W * zoom / 8`` characters fit).
    """
    h, w = shape
    n = len(images)
    gap = 6
    cap_h = 16 if captions else 0
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    top = 30 if title else gap
    width = gap + columns * (w * zoom + gap)
    if title:
        width = max(width, text_width(title) + 20)
    canvas = Canvas(width, top + rows * (h * zoom + cap_h + gap))
    if title:
        canvas.text(10, 8, title, BLACK, 2)
    for i, image in enumerate(images):
        if len(image) != h * w:
            raise ValueError(f"image_grid: expected {h * w} pixels per image (shape {tuple(shape)}); "
                             f"Received: {len(image)} for image {i}.")
        values = image if isinstance(image, (bytes, bytearray)) else [int(round(v * 255)) for v in image]
        x = gap + (i % columns) * (w * zoom + gap)
        y = top + (i // columns) * (h * zoom + cap_h + gap)
        canvas.paste_gray(x, y, values, w, h, zoom)
        if captions:
            canvas.text(x + 1, y + h * zoom + 3, captions[i], BLACK, 2)
    return canvas.to_image()


def first_layer_filters(model) -> Optional[Tuple[List[List[float]], Tuple[int, int, int]]]:
    """``(filters, (C, H, W))`` of the first layer with weights, or ``None``.

    A ``Conv2D`` gives its kernels ``(C, KH, KW)``; a ``Dense`` that sees the
    image directly (after a ``Flatten``) gives each unit's weights as an
    image of the input's shape. Any other first weighted layer gives ``None``.
    """
    for layer in model.layers:
        weight = getattr(layer, "weight", None)
        if weight is None:
            continue
        shape = tuple(weight.tensor_shape)
        rows = [list(weight.data[r * weight.cols : (r + 1) * weight.cols]) for r in range(weight.rows)]
        if len(shape) == 4:  # Conv2D: (F, C, KH, KW)
            return rows, shape[1:]
        image = tuple(model.input_shape or ())
        if len(image) == 3 and weight.cols == image[0] * image[1] * image[2]:
            return rows, image
        return None
    return None


# ------------------------------------------------------------------ a report
def write_report(
    directory: str,
    *,
    matrix: Sequence[Sequence[int]],
    names: Sequence,
    history: Optional[Dict[str, Sequence[Optional[float]]]] = None,
    filters: Optional[Tuple[List[List[float]], Tuple[int, int, int]]] = None,
    mistakes: Sequence[Tuple[int, bytes, object, object, float]] = (),
    summary: str = "",
    max_images: int = 100,
) -> List[str]:
    """Write the pictures and ``REPORT.md`` into ``directory`` (created if needed).

    Args:
        matrix, names: the confusion matrix and the class names of its rows.
        history: the model's history, for ``curves.png``.
        filters: :func:`first_layer_filters` output, for ``filters.png``.
        mistakes: ``(index, 28x28 pixel bytes, true name, predicted name,
            confidence)`` for each misclassified test image; the first
            ``max_images`` go into ``misclassified.png``, all are listed in
            ``REPORT.md``.
        summary: text put at the top of ``REPORT.md`` (e.g. the accuracy).

    Returns:
        The paths written, ``REPORT.md`` last.
    """
    os.makedirs(directory, exist_ok=True)
    written = []
    sections = ["# purenet evaluation report", ""]
    if summary:
        sections += ["```", summary.rstrip(), "```", ""]

    def save(name, image, heading, note=""):
        path = os.path.join(directory, name)
        write_png(path, image)
        written.append(path)
        sections.extend([f"## {heading}", "", f"![{heading}]({name})", ""] + ([note, ""] if note else []))

    curves = training_curves(history) if history else None
    if curves is not None:
        save("curves.png", curves, "Training curves", "Loss and accuracy per epoch (blue: training, orange: test).")
    else:
        sections += ["## Training curves", "", "The model file holds no training history.", ""]
    save("confusion.png", confusion_heatmap(matrix, names), "Confusion matrix",
         "Rows: true class, columns: prediction; each row shaded by its own total.")
    if filters is not None:
        save("filters.png", filter_grid(*filters), "First-layer filters",
             "Each filter scaled to its own range: black its lowest weight, white its highest.")
    shown = list(mistakes[:max_images])
    if shown:
        captions = [f"{t}>{p} {c:.0%}" for _, _, t, p, c in shown]
        grid = image_grid([m[1] for m in shown], captions=captions,
                          title=f"MISCLASSIFIED: TRUE>PREDICTED, CONFIDENCE ({len(shown)} OF {len(mistakes)})")
        save("misclassified.png", grid, "Misclassified test images",
             f"The first {len(shown)} of {len(mistakes)}, captioned true>predicted and the confidence.")
    if mistakes:
        sections += ["| index in the test split | true | predicted | confidence |", "|---:|---:|---:|---:|"]
        sections += [f"| {i} | {t} | {p} | {c:.1%} |" for i, _, t, p, c in mistakes]
        sections.append("")
    else:
        sections += ["## Misclassified test images", "", "No test image was misclassified.", ""]
    path = os.path.join(directory, "REPORT.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(sections))
    written.append(path)
    return written
