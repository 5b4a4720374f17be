"""End to end: the real ``purenet draw`` process under Xvfb, drawn on with real mouse events.

xdotool moves the X pointer and presses the button (XTest events, as a
mouse would); the app's ``--log`` lines on stdout tell what it showed; a
screenshot of the screen (ImageMagick ``import``) shows the ink on the
sheet. Every xdotool/import call runs under ``timeout``. Tk compresses
pointer motions that queue up, so each stroke's moves are paced by
xdotool's own ``sleep`` (as a hand would move), not by the test.
"""

import json
import math
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import pytest

from purenet.io.imagefile import read_image
from xvfb import missing, require_tkinter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE = 60.0  # seconds for anything the app should do: a guard against hangs, not a timing check


def tool(*argv, timeout=20):
    """Run xdotool/import under `timeout`; returns stdout."""
    proc = subprocess.run(["timeout", str(timeout), *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:3])}... failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class App:
    """The running ``purenet draw --log`` and its JSON records."""

    def __init__(self, drawings):
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "purenet", "draw", "--log", "--drawings", drawings],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        self.records = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.records.put(json.loads(line))
        self.records.put(None)  # the app exited

    def wait_for(self, what, condition):
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                record = self.records.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                record = None
            if record is None:
                self.proc.kill()
                pytest.fail(f"no {what} from purenet draw; records: {self.seen[-5:]}; stderr: {self.proc.stderr.read()}")
            self.seen.append(record)
            if condition(record):
                return record

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def find_window(name):
    """Poll `xdotool search` every 20 ms (its --sync re-checks only every 0.5 s)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        proc = subprocess.run(["timeout", "5", "xdotool", "search", "--name", name], capture_output=True, text=True)
        if proc.stdout.split():
            return proc.stdout.split()[0]
        time.sleep(0.02)
    pytest.fail(f"no window named {name!r} appeared")


def stroke(points):
    """One stroke with the real pointer: press, small paced moves, release."""
    argv = ["xdotool", "mousemove", str(points[0][0]), str(points[0][1]), "mousedown", "1"]
    for x, y in points[1:]:
        argv += ["sleep", "0.015", "mousemove", str(x), str(y)]
    argv += ["sleep", "0.015", "mouseup", "1"]
    tool(*argv)


def test_draw_with_the_mouse_and_follow_the_log(x_display, tmp_path):
    require_tkinter()
    for name in ("xdotool", "import"):
        if shutil.which(name) is None:
            missing(f"{name} is not installed (Debian: apt install xdotool imagemagick)")
    app = App(str(tmp_path / "drawings"))
    try:
        ready = app.wait_for("ready line", lambda r: r["event"] == "ready")
        assert ready["classes"] == list(range(10)) and ready["model"] == "lenet-mnist.safetensors"
        window = find_window("^purenet draw$")
        left, top, side = ready["sheet"]

        def at(u, v):  # a point of the sheet in 0..1 units -> screen pixels
            return round(left + u * side), round(top + v * side)

        stroke([at(0.5, 0.15 + 0.7 * i / 20) for i in range(21)])  # a "1", top to bottom
        one = app.wait_for("prediction of the 1", lambda r: r["event"] == "prediction" and r["digit"] == 1)
        assert one["strokes"] == 1 and one["probabilities"][1] == max(one["probabilities"]) > 0.5

        tool("xdotool", "windowfocus", window)  # no window manager: focus it ourselves for the key
        tool("xdotool", "key", "Escape")
        app.wait_for("the cleared canvas", lambda r: r["event"] == "prediction" and r["digit"] is None)

        ring = [at(0.5 + 0.22 * math.sin(2 * math.pi * i / 36), 0.5 - 0.33 * math.cos(2 * math.pi * i / 36))
                for i in range(37)]
        stroke(ring)
        zero = app.wait_for("prediction of the 0", lambda r: r["event"] == "prediction" and r["digit"] == 0)
        assert zero["strokes"] == 1

        shot = tmp_path / "app.png"
        tool("import", "-window", "root", str(shot))
        image = read_image(str(shot)).to_gray()
        row = lambda y: image.pixels[y * image.width : (y + 1) * image.width]  # noqa: E731
        x0, y0 = at(0.5, 0.17)  # on the ring's top
        xc, yc = at(0.5, 0.5)  # the paper inside it
        assert row(yc)[xc] > 200, "the sheet's middle should be white paper"
        assert min(row(y0)[x0 - 3 : x0 + 4]) < 80, "the ring drawn with the mouse should be ink on the screen"
        print(f"screenshot: {shot}")
    finally:
        app.stop()
