"""Photo-like pictures of handwritten digits and numbers on paper, and of things that are no digit.

    python scripts/photos.py out/photos --count 520 --seed 2026       # the measured set (JPEG, needs Pillow)
    pypy3 scripts/photos.py out/photos --count 520 --seed 2026 --png  # the same, drawn faster,
    python scripts/photos.py out/photos --finish                     # then made JPEG by Pillow
    python scripts/photos.py out/nondigits --kind nondigit --count 400 --seed 7
    python scripts/eval_photos.py out/photos                         # read them back, print the figures

Why: a phone photo of a digit written on paper is not an MNIST scan. This
file makes such photos from known digits so that reading them can be
measured: each picture is a single digit or a 3-6 digit number, its
digits taken from the MNIST test set or from synthetic mouse drawings
(``scripts/drawings.py``), written in black, gray or blue ink on paper
of some colour and grain, maybe ruled, maybe with specks of dust, then
photographed: turned up to 10 degrees, seen in slight perspective,
lit unevenly (a gradient across the sheet and a soft shadow), blurred,
with sensor noise; saved as baseline or progressive JPEG at quality
60-95, 300 to 4000 px wide. ``--kind nondigit`` makes pictures of
scribbles, letters (X, A, K, M, W, H, N, E, F, R, Y, V), blots and empty
pages, photographed the same way.

Each picture is listed in ``manifest.json`` (file, kind, label: the
digits as a string, or null for a non-digit, what it is, source).

The picture is drawn in pure Python at up to ``RENDER`` px wide (so the
tests can make a few without Pillow or NumPy, as PNG); a wider picture is
enlarged by Pillow and gets sensor noise at full size (NumPy). Deterministic
for a given seed.
"""

import argparse
import json
import math
import os
import random
import sys
from typing import List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import drawings  # noqa: E402
from purenet.app.strokes import render  # noqa: E402
from purenet.io.image import Image  # noqa: E402
from purenet.io.png import write_png  # noqa: E402

RENDER = 480  # largest width drawn pixel by pixel
MNIST_ROOT = os.environ.get("PURENET_DATA")
LETTERS = {
    # strokes in a box 0.7 wide and 1 tall (x right, y down); letters that no digit resembles
    "X": [[(0, 0), (0.7, 1)], [(0.7, 0), (0, 1)]],
    "A": [[(0, 1), (0.35, 0), (0.7, 1)], [(0.15, 0.6), (0.55, 0.6)]],
    "K": [[(0, 0), (0, 1)], [(0.65, 0), (0, 0.55)], [(0.2, 0.4), (0.7, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.35, 0.6), (0.65, 0), (0.7, 1)]],
    "W": [[(0, 0), (0.17, 1), (0.35, 0.35), (0.53, 1), (0.7, 0)]],
    "H": [[(0, 0), (0, 1)], [(0.7, 0), (0.7, 1)], [(0, 0.5), (0.7, 0.5)]],
    "N": [[(0, 1), (0, 0), (0.7, 1), (0.7, 0)]],
    "E": [[(0.65, 0), (0, 0), (0, 1), (0.7, 1)], [(0, 0.5), (0.5, 0.5)]],
    "F": [[(0.7, 0), (0, 0), (0, 1)], [(0, 0.5), (0.5, 0.5)]],
    "R": [[(0, 1), (0, 0), (0.5, 0), (0.65, 0.12), (0.65, 0.38), (0.5, 0.5), (0, 0.5)], [(0.3, 0.5), (0.7, 1)]],
    "Y": [[(0, 0), (0.35, 0.5), (0.7, 0)], [(0.35, 0.5), (0.35, 1)]],
    "V": [[(0, 0), (0.35, 1), (0.7, 0)]],
}
NONDIGITS = ("scribble", "letter", "blot", "empty")


# ------------------------------------------------------------------ glyphs
class Glyph:
    """Ink strength in [0, 1] on a ``w x h`` grid, cropped to the ink; sampled bilinearly."""

    def __init__(self, values: Sequence[float], w: int, h: int):
        xs = [i % w for i, v in enumerate(values) if v > 0.05]
        ys = [i // w for i, v in enumerate(values) if v > 0.05]
        x0, x1, y0, y1 = min(xs), max(xs) + 1, min(ys), max(ys) + 1
        self.w, self.h = x1 - x0, y1 - y0
        self.values = [values[y * w + x] for y in range(y0, y1) for x in range(x0, x1)]

    def sample(self, x: float, y: float) -> float:
        """``x, y`` in [0, 1) across the glyph's box."""
        fx, fy = x * self.w - 0.5, y * self.h - 0.5
        ix, iy = math.floor(fx), math.floor(fy)
        tx, ty = fx - ix, fy - iy
        w, h, v = self.w, self.h, self.values

        def at(a, b):
            return v[b * w + a] if 0 <= a < w and 0 <= b < h else 0.0

        top = at(ix, iy) * (1 - tx) + at(ix + 1, iy) * tx
        bottom = at(ix, iy + 1) * (1 - tx) + at(ix + 1, iy + 1) * tx
        return top * (1 - ty) + bottom * ty


def mnist_glyph(images, i: int) -> Glyph:
    # MNIST strokes are soft; a steeper ramp makes the pen's edge of an enlarged digit
    return Glyph([min(1.0, max(0.0, (b / 255 - 0.15) / 0.6)) for b in images.pixels(i)], 28, 28)


#: Draw pen strokes with Pillow (fast) rather than purenet's canvas (pure Python); set by generate().
PEN = {"pillow": False}


def strokes_glyph(strokes, pen: float, size: int = 140) -> Glyph:
    if PEN["pillow"]:
        from PIL import Image as PILImage
        from PIL import ImageDraw

        canvas = PILImage.new("L", (size * 2, size * 2), 0)  # drawn at twice the size, then averaged
        draw = ImageDraw.Draw(canvas)
        for stroke in strokes:
            points = [(2 * x, 2 * y) for x, y in stroke]
            if len(points) > 1:
                draw.line(points, fill=255, width=max(1, round(2 * pen)), joint="curve")
            for x, y in (points[0], points[-1]):
                draw.ellipse([x - pen, y - pen, x + pen, y + pen], fill=255)
        ink = canvas.resize((size, size), PILImage.BOX).tobytes()
    else:
        ink = render(strokes, size, size, pen)
    return Glyph([b / 255 for b in ink], size, size)


def drawing_glyph(d) -> Glyph:
    # a pen on paper is thin next to the digit, whatever the mouse drawing's pen was
    ys = [y for s in d.strokes for _, y in s]
    pen = min(d.pen_width, max(4.0, 0.14 * (max(ys) - min(ys))))
    return strokes_glyph([[(x / 2, y / 2) for x, y in s] for s in d.strokes], pen / 2)


def letter_glyph(name: str, rng: random.Random) -> Glyph:
    strokes = []
    for stroke in LETTERS[name]:
        strokes.append([(20 + 100 * x + rng.uniform(-3, 3), 15 + 110 * y + rng.uniform(-3, 3)) for x, y in stroke])
    return strokes_glyph(strokes, rng.uniform(7, 14))


def scribble_glyph(rng: random.Random) -> Glyph:
    """A pen wandering: a few random loops and zigzags."""
    points, x, y = [], 70.0, 70.0
    angle, turn = rng.uniform(0, 2 * math.pi), rng.uniform(-0.6, 0.6)
    for _ in range(rng.randint(30, 90)):
        turn += rng.uniform(-0.35, 0.35)
        turn = max(-0.9, min(0.9, turn))
        angle += turn
        x = min(130, max(10, x + 6 * math.cos(angle)))
        y = min(130, max(10, y + 6 * math.sin(angle)))
        points.append((x, y))
    return strokes_glyph([points], rng.uniform(5, 12))


def blot_glyph(rng: random.Random) -> Glyph:
    """A filled irregular blob: a few overlapping ellipses."""
    size = 80
    values = [0.0] * (size * size)
    for _ in range(rng.randint(2, 5)):
        cx, cy = rng.uniform(25, 55), rng.uniform(25, 55)
        rx, ry = rng.uniform(8, 24), rng.uniform(8, 24)
        for y in range(size):
            for x in range(size):
                if ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1:
                    values[y * size + x] = 1.0
    return Glyph(values, size, size)


# ------------------------------------------------------------------ scene
class Scene:
    """What is on the paper, in page coordinates (pixels of the rendered picture)."""

    def __init__(self, rng: random.Random, width: int, height: int):
        self.width, self.height = width, height
        tone = rng.choice([(250, 250, 248), (242, 236, 220), (228, 228, 226), (250, 246, 235)])
        self.paper = [c / 255 for c in tone]
        ink = rng.choice(["black", "gray", "blue", "blue"])
        self.ink = {"black": (0.08, 0.08, 0.1), "gray": (0.3, 0.3, 0.32), "blue": (0.1, 0.15, 0.5)}[ink]
        self.ink_strength = rng.uniform(0.8, 1.0)
        self.glyphs: List[Tuple[Glyph, float, float, float, float]] = []  # glyph, x0, y0, w, h
        self.lines = None
        self.specks: List[Tuple[float, float, float]] = []

    def place_row(self, glyphs: Sequence[Glyph], rng: random.Random, height_fraction: float) -> None:
        """Glyphs left to right, ``height_fraction`` of the page's height tall, the row centred."""
        h = height_fraction * self.height
        widths = [h * g.w / g.h for g in glyphs]
        gaps = [rng.uniform(-0.06, 0.3) * h for _ in glyphs[1:]]
        total = sum(widths) + sum(gaps)
        if total > 0.9 * self.width:  # too wide: shrink the row
            k = 0.9 * self.width / total
            h, widths, gaps, total = h * k, [w * k for w in widths], [g * k for g in gaps], total * k
        x = (self.width - total) / 2 + rng.uniform(-0.03, 0.03) * self.width
        y = (self.height - h) / 2 + rng.uniform(-0.08, 0.08) * self.height
        for i, (g, w) in enumerate(zip(glyphs, widths)):
            s = rng.uniform(0.9, 1.05)
            self.glyphs.append((g, x, y + rng.uniform(-0.04, 0.04) * h + (1 - s) * h, w * s, h * s))
            x += w + (gaps[i] if i < len(gaps) else 0)

    def add_lines(self, rng: random.Random) -> None:
        h = self.glyphs[0][4] if self.glyphs else 0.2 * self.height
        spacing = h * rng.uniform(0.9, 1.4)
        self.lines = (spacing, rng.uniform(0, spacing), max(1.0, self.width / rng.uniform(300, 600)),
                      rng.uniform(0.12, 0.3), rng.choice([(0.55, 0.7, 0.95), (0.6, 0.6, 0.6)]))

    def add_specks(self, rng: random.Random) -> None:
        for _ in range(rng.randint(1, 8)):
            self.specks.append((rng.uniform(0, self.width), rng.uniform(0, self.height),
                                rng.uniform(0.5, 1.5) * self.width / 400))

    def ink_at(self, x: float, y: float) -> Tuple[float, Tuple[float, float, float]]:
        """How strongly ``(x, y)`` is covered, and by what colour."""
        a = 0.0
        for g, gx, gy, gw, gh in self.glyphs:
            if gx <= x < gx + gw and gy <= y < gy + gh:
                a = max(a, g.sample((x - gx) / gw, (y - gy) / gh))
        for sx, sy, r in self.specks:
            if abs(x - sx) < r and abs(y - sy) < r and (x - sx) ** 2 + (y - sy) ** 2 < r * r:
                a = 1.0
        if a > 0:
            return a * self.ink_strength, self.ink
        if self.lines is not None:
            spacing, offset, thick, strength, colour = self.lines
            d = (y - offset) % spacing
            if min(d, spacing - d) < thick / 2:
                return strength, colour
        return 0.0, self.ink


def photograph(scene: Scene, rng: random.Random, fast: bool = False) -> bytes:
    """Render ``scene`` as seen by a camera: turned, in perspective, lit unevenly, grainy, maybe
    blurred, noisy. Returns RGB bytes, row-major. ``fast``: the same picture computed with
    NumPy (its sensor noise from another generator), for the large sets."""
    w, h = scene.width, scene.height
    theta = math.radians(rng.uniform(-10, 10))
    c, s = math.cos(theta), math.sin(theta)
    g, k = rng.uniform(-0.15, 0.15) / w, rng.uniform(-0.15, 0.15) / h  # perspective
    # light: a gradient across the sheet and a soft shadow from one side
    la = rng.uniform(0, 2 * math.pi)
    gradient = rng.uniform(0.0, 0.4)
    shadow_angle = rng.uniform(0, 2 * math.pi)
    shadow_depth = rng.uniform(0.15, 0.4) if rng.random() < 0.5 else 0.0
    shadow_at = rng.uniform(0.15, 0.45)
    softness = rng.uniform(0.06, 0.15)
    grain = [rng.gauss(0, 0.02) for _ in range(17 * 17)]  # paper texture on a coarse grid
    noise = rng.uniform(0.005, 0.03)
    blur = rng.random() < 0.5
    noise_seed = rng.randrange(2 ** 32)
    if fast:
        return _photograph_numpy(scene, theta, g, k, la, gradient, shadow_angle, shadow_depth, shadow_at,
                                 softness, grain, noise, blur, noise_seed)
    noise_rng = random.Random(noise_seed)
    channels = [[0.0] * (w * h) for _ in range(3)]
    cx, cy = w / 2, h / 2
    cl, sl, cs, ss = math.cos(la), math.sin(la), math.cos(shadow_angle), math.sin(shadow_angle)
    paper = scene.paper
    for v in range(h):
        dv = (v - cy) / h
        gy = v / h * 16
        iy = min(15, int(gy))
        ty = gy - iy
        for u in range(w):
            du = (u - cx) / w
            q = 1 + g * (u - cx) + k * (v - cy)
            x = cx + (c * (u - cx) - s * (v - cy)) / q
            y = cy + (s * (u - cx) + c * (v - cy)) / q
            a, colour = scene.ink_at(x, y)
            gx = u / w * 16
            ix = min(15, int(gx))
            tx = gx - ix
            gi = iy * 17 + ix
            paper_light = 1 + ((grain[gi] * (1 - tx) + grain[gi + 1] * tx) * (1 - ty)
                               + (grain[gi + 17] * (1 - tx) + grain[gi + 18] * tx) * ty)
            light = 1 - gradient * (0.5 + du * cl + dv * sl)
            if shadow_depth:
                t = (du * cs + dv * ss - shadow_at) / softness
                light *= 1 - shadow_depth / (1 + math.exp(-max(-30.0, min(30.0, t))))
            n = noise_rng.gauss(0, noise)
            i = v * w + u
            for ch in range(3):
                channels[ch][i] = (paper[ch] * paper_light * (1 - a) + colour[ch] * a) * light + n
    if blur:
        channels = [_blur(ch, w, h) for ch in channels]
    out = bytearray(3 * w * h)
    for ch in range(3):
        out[ch::3] = bytes(0 if x <= 0 else 255 if x >= 1 else int(x * 255 + 0.5) for x in channels[ch])
    return bytes(out)


def _photograph_numpy(scene, theta, g, k, la, gradient, shadow_angle, shadow_depth, shadow_at, softness,
                      grain, noise, blur, noise_seed) -> bytes:
    """:func:`photograph`'s pixel loop, array by array."""
    import numpy as np

    w, h = scene.width, scene.height
    c, s = math.cos(theta), math.sin(theta)
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = w / 2, h / 2
    q = 1 + g * (u - cx) + k * (v - cy)
    x = cx + (c * (u - cx) - s * (v - cy)) / q
    y = cy + (s * (u - cx) + c * (v - cy)) / q
    a = np.zeros((h, w))
    for glyph, gx, gy, gw, gh in scene.glyphs:
        inside = (x >= gx) & (x < gx + gw) & (y >= gy) & (y < gy + gh)
        if not inside.any():
            continue
        values = np.array(glyph.values).reshape(glyph.h, glyph.w)
        values = np.pad(values, 1)
        fx = (x[inside] - gx) / gw * glyph.w - 0.5 + 1
        fy = (y[inside] - gy) / gh * glyph.h - 0.5 + 1
        ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
        tx, ty = fx - ix, fy - iy
        ix0, iy0 = np.clip(ix, 0, glyph.w + 1), np.clip(iy, 0, glyph.h + 1)
        ix1, iy1 = np.clip(ix + 1, 0, glyph.w + 1), np.clip(iy + 1, 0, glyph.h + 1)
        sample = ((values[iy0, ix0] * (1 - tx) + values[iy0, ix1] * tx) * (1 - ty)
                  + (values[iy1, ix0] * (1 - tx) + values[iy1, ix1] * tx) * ty)
        a[inside] = np.maximum(a[inside], sample)
    for sx, sy, r in scene.specks:
        a[(x - sx) ** 2 + (y - sy) ** 2 < r * r] = 1.0
    colour = np.empty((h, w, 3))
    colour[:] = scene.ink
    a = a * scene.ink_strength
    if scene.lines is not None:
        spacing, offset, thick, strength, line_colour = scene.lines
        d = np.mod(y - offset, spacing)
        on_line = (np.minimum(d, spacing - d) < thick / 2) & (a == 0)
        a[on_line] = strength
        colour[on_line] = line_colour
    grid = np.array(grain).reshape(17, 17)
    gx, gy = u / w * 16, v / h * 16
    ix, iy = np.minimum(15, gx.astype(int)), np.minimum(15, gy.astype(int))
    tx, ty = gx - ix, gy - iy
    paper_light = 1 + ((grid[iy, ix] * (1 - tx) + grid[iy, ix + 1] * tx) * (1 - ty)
                       + (grid[iy + 1, ix] * (1 - tx) + grid[iy + 1, ix + 1] * tx) * ty)
    du, dv = (u - cx) / w, (v - cy) / h
    light = 1 - gradient * (0.5 + du * math.cos(la) + dv * math.sin(la))
    if shadow_depth:
        t = (du * math.cos(shadow_angle) + dv * math.sin(shadow_angle) - shadow_at) / softness
        light = light * (1 - shadow_depth / (1 + np.exp(-np.clip(t, -30, 30))))
    n = np.random.default_rng(noise_seed).normal(0, noise, (h, w))
    paper = np.array(scene.paper)
    out = ((paper * paper_light[..., None]) * (1 - a[..., None]) + colour * a[..., None]) * light[..., None] + n[..., None]
    if blur:
        kernel = np.array([0.25, 0.5, 0.25])
        for axis in (0, 1):
            padded = np.pad(out, [(1, 1) if ax == axis else (0, 0) for ax in range(3)], mode="edge")
            first = np.take(padded, range(0, out.shape[axis]), axis=axis)
            mid = np.take(padded, range(1, out.shape[axis] + 1), axis=axis)
            last = np.take(padded, range(2, out.shape[axis] + 2), axis=axis)
            out = kernel[0] * first + kernel[1] * mid + kernel[2] * last
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8).tobytes()


def _blur(values: List[float], w: int, h: int) -> List[float]:
    """A 3 x 3 binomial blur (a camera slightly out of focus at this scale), edges repeated."""
    rows = []
    for y in range(h):
        r = values[y * w : (y + 1) * w]
        left, right = [r[0]] + r[:-1], r[1:] + [r[-1]]
        rows.append([(a + 2 * b + d) * 0.25 for a, b, d in zip(left, r, right)])
    out: List[float] = []
    for y in range(h):
        up, down = rows[max(0, y - 1)], rows[min(h - 1, y + 1)]
        out.extend((a + 2 * b + d) * 0.25 for a, b, d in zip(up, rows[y], down))
    return out


# ------------------------------------------------------------------ pictures
class Sources:
    """Where digits come from: the MNIST test set (when found) and drawings."""

    def __init__(self, seed: int, mnist=True):
        self.images = self.labels = None
        if isinstance(mnist, tuple):  # (images, labels) given
            self.images, self.labels = mnist
        elif mnist:
            import purenet as pn
            try:
                self.images, self.labels = pn.datasets.load_mnist("test", root=MNIST_ROOT, download=False)
            except pn.DatasetError:
                self.images, self.labels = pn.datasets.load_bundled("test")
        self.drawings = drawings.generate(10 ** 6, seed=seed, split="held_out")
        self.pending = {d: [] for d in range(10)}

    def digit(self, d: int, rng: random.Random) -> Tuple[Glyph, str]:
        if self.images is not None and rng.random() < 0.5:
            while True:
                i = rng.randrange(len(self.labels))
                if self.labels[i] == d:
                    return mnist_glyph(self.images, i), f"mnist:{i}"
        while not self.pending[d]:
            drawing = next(self.drawings)
            self.pending[drawing.digit].append(drawing)
        drawing = self.pending[d].pop()
        return drawing_glyph(drawing), f"drawing:{drawing.template}"


def make(kind: str, rng: random.Random, sources: Optional[Sources], width: int,
         fast: bool = False) -> Tuple[dict, bytes, int, int]:
    """One picture: ``(record, RGB bytes, rendered width, rendered height)``."""
    aspect = rng.choice([0.75, 0.75, 1.0, 1.33])
    if width * aspect > 3000:  # phones: 4000 x 3000 landscape at most
        aspect = 0.75
    rw = min(width, RENDER)
    rh = max(1, int(rw * aspect))
    scene = Scene(rng, rw, rh)
    record = {"kind": kind}
    if kind == "digit":
        d = rng.randrange(10)
        glyph, source = sources.digit(d, rng)
        scene.place_row([glyph], rng, rng.uniform(0.25, 0.65))
        record.update(label=str(d), source=source)
    elif kind == "number":
        digits = [rng.randrange(10) for _ in range(rng.randint(3, 6))]
        picked = [sources.digit(d, rng) for d in digits]
        scene.place_row([p[0] for p in picked], rng, rng.uniform(0.15, 0.3))
        record.update(label="".join(map(str, digits)), source=[p[1] for p in picked])
    else:
        what = rng.choice(NONDIGITS)
        if what == "letter":
            name = rng.choice(sorted(LETTERS))
            scene.place_row([letter_glyph(name, rng)], rng, rng.uniform(0.25, 0.6))
            what = f"letter {name}"
        elif what == "scribble":
            scene.place_row([scribble_glyph(rng)], rng, rng.uniform(0.25, 0.6))
        elif what == "blot":
            scene.place_row([blot_glyph(rng)], rng, rng.uniform(0.1, 0.4))
        record.update(label=None, source=what)
    if rng.random() < 0.35:
        scene.add_lines(rng)
    if rng.random() < 0.4:
        scene.add_specks(rng)
    return record, photograph(scene, rng, fast), rw, rh


def finish(folder: str, record: dict, picture=None) -> None:
    """Turn a rendered picture (``picture``, a Pillow image, or else the record's PNG) into the
    photo: enlarged to its width by Pillow, sensor noise added at full size (NumPy, seeded per
    picture), saved as JPEG with the record's settings."""
    import numpy as np
    from PIL import Image as PILImage

    png = os.path.join(folder, record["file"])
    if picture is None:
        picture = PILImage.open(png).convert("RGB")
        picture.load()
    width = record["width"]
    if width > picture.width:
        height = round(picture.height * width / picture.width)
        picture = picture.resize((width, height), PILImage.BICUBIC)
    noise = np.random.default_rng(record["noise_seed"]).normal(0.0, record["noise"], (picture.height, picture.width, 1))
    array = np.clip(np.asarray(picture, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    stem = os.path.splitext(record["file"])[0]
    PILImage.fromarray(array).save(os.path.join(folder, stem + ".jpg"), "JPEG", quality=record["quality"],
                                   progressive=record["progressive"], subsampling=record["subsampling"])
    if os.path.exists(png):
        os.remove(png)
    record["file"] = stem + ".jpg"


def widths(rng: random.Random, n: int) -> List[int]:
    """Picture widths, log-uniform from 300 to 4000 px, with the extremes included."""
    out = [int(math.exp(rng.uniform(math.log(300), math.log(4000)))) for _ in range(n)]
    if n >= 4:
        out[0], out[1] = 300, 4000
    return out


def generate(folder: str, count: int, seed: int, kind: str = "photo", jpeg: bool = True,
             max_width: int = 4000, mnist: bool = True, progress=None, fast: bool = False) -> List[dict]:
    """Write ``count`` pictures into ``folder`` and ``manifest.json``; returns the records.

    ``kind``: ``"photo"`` (about half single digits, half numbers) or ``"nondigit"``.
    ``fast``: draw with NumPy (see :func:`photograph`). ``mnist``: take digits from the
    MNIST test set (``$PURENET_DATA``, else the bundled subset), or from the given
    ``(images, labels)``, or (False) from drawings only.
    """
    os.makedirs(folder, exist_ok=True)
    PEN["pillow"] = fast
    rng = random.Random(seed)
    sources = Sources(seed, mnist) if kind == "photo" else None
    records = []
    for i, width in enumerate(widths(rng, count)):
        width = min(width, max_width)
        what = ("digit" if i % 2 == 0 else "number") if kind == "photo" else "nondigit"
        record, pixels, rw, rh = make(what, rng, sources, width, fast)
        record.update(file=f"{i:04d}.png", width=width, quality=rng.randint(60, 95),
                      progressive=rng.random() < 0.5, subsampling=rng.choice([0, 1, 2]),
                      noise=rng.uniform(2.0, 8.0), noise_seed=rng.randrange(2 ** 32))
        if jpeg:
            from PIL import Image as PILImage

            finish(folder, record, PILImage.frombytes("RGB", (rw, rh), pixels))
        else:
            write_png(os.path.join(folder, record["file"]), Image(rw, rh, 3, pixels))
        records.append(record)
        with open(os.path.join(folder, "manifest.json"), "w") as f:  # after each: a long run can be read early
            json.dump(records, f, indent=1)
        if progress:
            progress(i + 1, count)
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--count", type=int, default=520)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--kind", choices=["photo", "nondigit"], default="photo")
    parser.add_argument("--png", action="store_true",
                        help="stop at PNG at the rendered size (no Pillow or NumPy needed, e.g. under PyPy)")
    parser.add_argument("--finish", action="store_true",
                        help="turn the PNGs of an earlier --png run in FOLDER into the JPEG photos")
    parser.add_argument("--max-width", type=int, default=4000)
    parser.add_argument("--pure", action="store_true", help="draw in pure Python even where NumPy is installed")
    args = parser.parse_args(argv)
    if args.finish:
        path = os.path.join(args.folder, "manifest.json")
        with open(path) as f:
            records = json.load(f)
        for r in records:
            if r["file"].endswith(".png"):
                finish(args.folder, r)
        with open(path, "w") as f:
            json.dump(records, f, indent=1)
        return 0
    try:
        import numpy  # noqa: F401
        fast = not args.pure
    except ImportError:
        fast = False
    generate(args.folder, args.count, args.seed, args.kind, not args.png, args.max_width, fast=fast,
             progress=lambda i, n: print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
