"""Take the README's screenshots of the drawing app: docs/images/app-*.png.

    python scripts/screenshots.py            # needs Xvfb and ImageMagick's `import`
    python scripts/screenshots.py --out DIR

It starts a private X server (Xvfb -displayfd, as the GUI tests do), opens
the real window (purenet.app.window.App) on the shipped model, draws digits
with generated mouse events and photographs the window three times:

- app-drawing.png: a hand-drawn 3 (a wobbly path, as a mouse draws) with
  the answer, the bars and what the network sees;
- app-inside.png: the "Look inside" tab for a 4: the first conv layer's
  filters and the feature maps of the drawing;
- app-teach.png: the "Teach it" tab after labelling a dozen drawings and a
  short real fine-tune (its status line is the job's own report).

Labelled drawings go to a temporary folder, never the user's. Everything is
seeded, so a rerun gives the same pictures up to font rendering.
"""

import argparse
import math
import os
import random
import selectors
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import purenet as pn  # noqa: E402
from purenet.app.state import PAPER, Recogniser  # noqa: E402
from purenet.app.userdata import Drawings  # noqa: E402
from purenet.cli import PRETRAINED_MODEL  # noqa: E402


def start_xvfb():
    """``(process, ":N")``: a private X server, ready when its display number arrives."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    text = b""
    with selectors.DefaultSelector() as sel:
        sel.register(read, selectors.EVENT_READ)
        while not text.endswith(b"\n"):
            if not sel.select(timeout=20):
                raise SystemExit("Xvfb did not start within 20 s")
            chunk = os.read(read, 64)
            if not chunk:
                raise SystemExit("Xvfb exited before reporting a display")
            text += chunk
    os.close(read)
    return server, ":" + text.decode().strip()


# ---------------------------------------------------------------- digits
def wobble(points, rng, amount=2.5):
    """A mouse path: the points, each nudged a little."""
    return [(x + rng.uniform(-amount, amount), y + rng.uniform(-amount, amount)) for x, y in points]


def arc(cx, cy, rx, ry, start, end, n=18):
    """Points on an ellipse, angles in degrees, 0 = right, 90 = down."""
    return [(cx + rx * math.cos(math.radians(start + (end - start) * i / n)),
             cy + ry * math.sin(math.radians(start + (end - start) * i / n))) for i in range(n + 1)]


def line(x0, y0, x1, y1, n=10):
    return [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


DIGITS = {  # strokes in sheet units (0..280)
    0: [arc(140, 140, 62, 95, -90, 270, 36)],
    1: [line(128, 48, 150, 232)],
    3: [arc(136, 92, 58, 48, 200, 450, 20) + arc(136, 182, 64, 52, 270, 520, 22)[1:]],
    4: [line(150, 40, 78, 170) + line(78, 170, 210, 170)[1:], line(168, 100, 168, 242)],
    7: [line(80, 52, 200, 52) + line(200, 52, 120, 238)[1:]],
}


# ------------------------------------------------------------------ app
class Session:
    def __init__(self, tk, window, folder, rng):
        self.rng = rng
        self.root = tk.Tk()
        model = pn.load(PRETRAINED_MODEL)
        self.app = window.App(self.root, Recogniser(model), Drawings(folder), model_name=os.path.basename(PRETRAINED_MODEL),
                              finetune_options=dict(replay_size=300, epochs=1, check=500))
        self.root.geometry("+0+0")
        self.root.update()

    def draw(self, digit, amount=2.5):
        app = self.app
        sx, sy, side = app._sheet
        for points in DIGITS[digit]:
            path = [(round(sx + x * side / PAPER), round(sy + y * side / PAPER)) for x, y in wobble(points, self.rng, amount)]
            app.canvas.event_generate("<ButtonPress-1>", x=path[0][0], y=path[0][1])
            for x, y in path[1:]:
                app.canvas.event_generate("<B1-Motion>", x=x, y=y, state=0x100)
                self.root.update()
            app.canvas.event_generate("<ButtonRelease-1>", x=path[-1][0], y=path[-1][1])
            self.root.update()

    def shoot(self, path):
        self.root.update()
        frame = self.root.wm_frame()
        subprocess.run(["timeout", "20", "import", "-window", frame, path], check=True)
        print(f"wrote {path}: {self.app.answer.cget('text') or 'no answer'}; {self.app.status.cget('text')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"), help="where to write the PNGs")
    args = parser.parse_args(argv)
    for tool in ("Xvfb", "import"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (Debian: apt install xvfb xauth imagemagick)")
    os.makedirs(args.out, exist_ok=True)
    server, display = start_xvfb()
    os.environ["DISPLAY"] = display
    try:
        import tkinter as tk

        from purenet.app import window

        with tempfile.TemporaryDirectory() as folder:
            s = Session(tk, window, os.path.join(folder, "drawings"), random.Random(3))
            s.draw(3)
            s.shoot(os.path.join(args.out, "app-drawing.png"))

            s.app.clear()
            s.app.tabs.select(s.app.inside_tab)
            s.draw(4)
            s.shoot(os.path.join(args.out, "app-inside.png"))

            s.app.clear()
            s.app.tabs.select(s.app.teach_tab)
            for digit in (7, 1, 4, 7, 1, 4, 7, 1, 4, 7, 1, 4):
                s.draw(digit, amount=5.0)
                s.app.label(digit)
            s.app.finetune()
            while s.app.job is not None:
                s.root.after(50)
                s.root.update()
            s.draw(7, amount=5.0)
            s.shoot(os.path.join(args.out, "app-teach.png"))
            s.root.destroy()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
