"""Contact sheets of scripts/handwriting.py's drawings, for a person to check by eye.

    python scripts/handwriting_sheet.py OUT.png                     # 100 drawings, seed 0
    python scripts/handwriting_sheet.py OUT.png --n 60 --seed 3 --digit 4
    python scripts/handwriting_sheet.py OUT.png --digit 8 --style snowman
    python scripts/handwriting_sheet.py OUT.png --digit 4 --each 8   # a row of 8 per style of 4

Each cell shows one drawing twice: on the left the whole 280 x 280 sheet
at a third of its size, the ink in gray with each stroke's path drawn over
it in colour (1st red, 2nd blue, 3rd green; a dark square where the pen
went down), so size, position, stroke order and direction can be checked;
on the right the 28 x 28 picture the network is given
(``purenet.app.strokes.to_input``), three times enlarged. The caption is
the label and the style.

The question to ask of every cell: would a person read this as its label
at once? It runs no model and computes no accuracy, on purpose (see
handwriting.py).
"""

import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from handwriting import STYLES, Sample, draw, generate  # noqa: E402

from purenet.app.strokes import render, to_input  # noqa: E402
from purenet.io.png import write_png  # noqa: E402
from purenet.report import BLACK, WHITE, Canvas  # noqa: E402

SHRINK = 3  # the sheet is shown at a third of its size
THUMB = 280 // SHRINK  # 93 px
ZOOM = 3  # the 28 x 28 input enlarged three times
GAP = 6
CAPTION = 14
CELL_W = THUMB + GAP + 28 * ZOOM
CELL_H = max(THUMB, 28 * ZOOM) + CAPTION
STROKE_COLOURS = [(215, 40, 40), (40, 90, 215), (30, 150, 60), (170, 60, 170)]
FRAME = (150, 150, 150)


def sheet(samples, columns: int = 10) -> Canvas:
    """A canvas with one cell per sample, ``columns`` to a row."""
    rows = max(1, -(-len(samples) // columns))
    canvas = Canvas(GAP + columns * (CELL_W + GAP), GAP + rows * (CELL_H + GAP), WHITE)
    for i, sample in enumerate(samples):
        _cell(canvas, GAP + (i % columns) * (CELL_W + GAP), GAP + (i // columns) * (CELL_H + GAP), sample)
    return canvas


def _cell(canvas: Canvas, x: int, y: int, s: Sample) -> None:
    ink = render(s.strokes, s.width, s.height, s.pen_width)
    thumb = []
    for row in range(THUMB):
        for col in range(THUMB):
            total = sum(ink[(row * SHRINK + r) * s.width + col * SHRINK + c]
                        for r in range(SHRINK) for c in range(SHRINK))
            thumb.append(255 - int(total / (SHRINK * SHRINK) * 0.5))  # the ink in mid gray
    canvas.paste_gray(x, y, thumb, THUMB, THUMB)
    for side in ((0, 0, THUMB, 1), (0, THUMB - 1, THUMB, THUMB), (0, 0, 1, THUMB), (THUMB - 1, 0, THUMB, THUMB)):
        canvas.rect(x + side[0], y + side[1], x + side[2], y + side[3], FRAME)
    for k, stroke in enumerate(s.strokes):
        colour = STROKE_COLOURS[k % len(STROKE_COLOURS)]
        pts = [(x + px / SHRINK, y + py / SHRINK) for px, py in stroke]
        for (ax, ay), (bx, by) in zip(pts, pts[1:]):
            canvas.line(ax, ay, bx, by, colour)
        sx, sy = int(pts[0][0]), int(pts[0][1])
        canvas.rect(sx - 2, sy - 2, sx + 2, sy + 2, BLACK)
    seen = to_input(s.strokes, s.width, s.height, s.pen_width)
    canvas.paste_gray(x + THUMB + GAP, y, [255 - int(v * 255 + 0.5) for v in seen], 28, 28, ZOOM)
    canvas.text(x, y + max(THUMB, 28 * ZOOM) + 3, f"{s.digit} {s.style}", BLACK, 1 if len(s.style) > 18 else 2)


def _samples(n: int, seed: int, digit, style: str, each: int):
    rnd = random.Random(seed)
    if each:  # a row of `each` drawings per style
        digits = range(10) if digit is None else [digit]
        return [draw(d, rnd, name) for d in digits for name in STYLES[d] if name == (style or name)
                for _ in range(each)]
    if digit is None:
        return list(generate(n, seed))
    return [draw(digit, rnd, style) for _ in range(n)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the PNG file to write")
    parser.add_argument("--n", type=int, default=100, help="how many drawings (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digit", type=int, choices=range(10), help="only this digit (styles at random)")
    parser.add_argument("--style", default="", help="only this style (needs --digit)")
    parser.add_argument("--each", type=int, default=0,
                        help="instead of --n: this many drawings of every style (of --digit), a row per style")
    parser.add_argument("--columns", type=int, default=10)
    args = parser.parse_args(argv)
    columns = args.each or args.columns
    if args.style and (args.digit is None or args.style not in STYLES[args.digit]):
        parser.error(f"--style must be one of the styles of --digit: {STYLES.get(args.digit, 'give --digit')}")
    samples = _samples(args.n, args.seed, args.digit, args.style, args.each)
    write_png(args.out, sheet(samples, columns).to_image())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
