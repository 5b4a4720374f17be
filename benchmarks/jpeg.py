#!/usr/bin/env python3
"""How long does ``purenet predict`` take on a phone photo, and how much memory?

Usage (from a checkout; the repository root is put on ``sys.path``)::

    python benchmarks/jpeg.py                                  # this interpreter
    python benchmarks/jpeg.py --interpreter cp313=$(pyenv prefix 3.13.0)/bin/python \\
        --interpreter pypy=pypy3 --rounds 3 --json out.json
    python benchmarks/jpeg.py --photo my-photo.jpg             # a real photo instead

The photo: unless ``--photo`` is given, a 4032x3024 picture like a phone's
photo of a digit on paper (a lit sheet whose brightness varies across it,
paper grain at two scales, sensor noise, a dark pen stroke) is made with
NumPy and Pillow (seeded) and saved as a baseline JPEG at quality 90 with
4:2:0 chroma, as phones save them: about 4 MB, 31 million bits of entropy
coded data, every one of its 5-6 million Huffman codes to decode. Only the
interpreter running this script needs NumPy and Pillow; the timed ones need
nothing but purenet.

Per interpreter, in ``--rounds`` interleaved rounds (best round reported,
since noise on a shared machine only slows a run down):

* ``decode``: ``pn.io.read_image(photo, min_side=300, gray=True)`` in a
  fresh process (the reduced decode ``purenet predict`` asks for: 1/8
  scale, 504x378, luma only), its wall and CPU time (imports included);
* ``rgb``: the same in colour (the chroma decoded too, at 1/4 of its size);
* ``predict``: ``python -m purenet predict photo.jpg`` end to end (start-up,
  imports, loading the pretrained model, decoding, preprocessing,
  predicting), its wall time, CPU time (user + system) and peak resident
  memory (the child's ``ru_maxrss``);
* ``stages``: inside one process, what each part of ``predict`` costs
  (CPU time): importing purenet, loading the model, reading the photo,
  preprocessing, the digit model, the rejection model;
* ``cold``: ``predict`` again with no compiled bytecode to reuse (every
  module compiled at import, as on a first run or with
  ``PYTHONDONTWRITEBYTECODE``);
* ``full``: with ``--full``, a full-size decode too (slow: minutes).

The timed runs reuse compiled bytecode as an installed package does: they
write it to a temporary ``PYTHONPYCACHEPREFIX`` (never into the checkout),
compiled by an untimed run first, whatever ``PYTHONDONTWRITEBYTECODE`` says.

On a loaded machine the CPU time is the fairer figure: wall time includes
waiting for a core. Say which one you report.
"""

import argparse
import ast
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_DECODE = """
import sys, time, resource
sys.path.insert(0, {root!r})
t0, c0 = time.perf_counter(), time.process_time()
from purenet.io.imagefile import read_image
image = read_image({path!r}{options})
print(time.perf_counter() - t0, time.process_time() - c0, image.width, image.height)
"""


_STAGES = """
import sys, time
sys.path.insert(0, {root!r})
laps = {{}}
def lap(what, start=[time.process_time()]):
    now = time.process_time()
    laps[what] = now - start[0]
    start[0] = now
import purenet
from purenet.cli import PREDICT_MIN_SIDE, PRETRAINED_MODEL
from purenet.io.imagefile import read_image
from purenet.vision.rejection import not_digit_probability
lap("import")
model = purenet.load(PRETRAINED_MODEL)
lap("load model")
image = read_image({path!r}, min_side=PREDICT_MIN_SIDE, gray=True)
lap("read photo")
x = purenet.preprocess(image)
lap("preprocess")
model.predict([x])
lap("digit model")
not_digit_probability([x])
lap("rejection model")
print(repr(laps))
"""


def make_photo(path: str, seed: int = 0, width: int = 4032, height: int = 3024, quality: int = 90) -> int:
    """Write a photo-like JPEG of a digit on paper to ``path``; returns its size in bytes."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    light = 175 + 40 * np.sin(6 * x + 3 * y) * np.cos(4 * y)  # uneven light across the sheet
    rgb = np.stack([light, light * 0.95 + 10 * np.sin(20 * x), light * 0.9 + 15 * np.cos(15 * y)], axis=-1)
    grain = rng.normal(0.0, 1.0, (height // 16 + 1, width // 16 + 1, 1))
    rgb += 10 * np.kron(grain, np.ones((16, 16, 1)))[:height, :width]  # coarse paper texture
    rgb += rng.normal(0.0, 11.0, (height, width, 3))  # sensor noise
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    ink = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(ink)
    s = width / 4032
    draw.line([(1500 * s, 900 * s), (2500 * s, 900 * s), (1800 * s, 2200 * s)], fill=255, width=int(140 * s))
    ink = ink.filter(ImageFilter.GaussianBlur(3))
    image.paste(Image.new("RGB", (width, height), (30, 30, 60)), (0, 0), ink)
    image.save(path, "JPEG", quality=quality, subsampling=2)
    return os.path.getsize(path)


def _measure(argv, pycache):
    """Run ``argv`` with compiled bytecode kept under ``pycache`` (``None``: none written
    or reused): ``(stdout, wall seconds, CPU seconds, peak RSS in MB)``, the last two
    from ``os.wait4``'s resource usage of that child alone."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        pycache = tempfile.mkdtemp()  # empty: nothing compiled to reuse
    env["PYTHONPYCACHEPREFIX"] = pycache
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    out = child.stdout.read()
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}):\n{err.decode()}")
    return out.decode(), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(python: str, photo: str, full: bool, pycache: str):
    row = {}
    for what, options in (("decode", ", min_side=300, gray=True"), ("rgb", ", min_side=300")):
        out, wall, cpu, rss = _measure([python, "-c", _DECODE.format(root=ROOT, path=photo, options=options)],
                                       pycache)
        t, c, w, h = out.split()
        row[what] = {"wall": float(t), "cpu": float(c), "size": [int(w), int(h)], "peak_rss_mb": rss}
    for what, cache in (("predict", pycache), ("cold", None)):
        out, wall, cpu, rss = _measure([python, "-m", "purenet", "predict", photo], cache)
        row[what] = {"wall": wall, "cpu": cpu, "peak_rss_mb": rss, "output": out.strip()}
    out, wall, cpu, rss = _measure([python, "-c", _STAGES.format(root=ROOT, path=photo)], pycache)
    row["stages"] = ast.literal_eval(out.strip())
    if full:
        out, wall, cpu, rss = _measure([python, "-c", _DECODE.format(root=ROOT, path=photo, options="")], pycache)
        t, c, w, h = out.split()
        row["full"] = {"wall": float(t), "cpu": float(c), "size": [int(w), int(h)], "peak_rss_mb": rss}
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", help="a JPEG to time instead of the generated one")
    parser.add_argument("--interpreter", action="append", default=[], metavar="LABEL=PYTHON",
                        help="time on this interpreter (repeatable; default: the one running this script)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also time a full-size decode (minutes)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--make", metavar="PATH", help="only write the generated photo to PATH")
    args = parser.parse_args(argv)
    if args.make:
        make_photo(args.make)
        return 0
    interpreters = [tuple(spec.split("=", 1)) for spec in args.interpreter] or [("this", sys.executable)]

    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo
        if photo is None:
            photo = os.path.join(tmp, "photo.jpg")
            # in a child: a process forked from one that held the NumPy arrays would
            # start with their peak resident memory as its own (Linux keeps ru_maxrss
            # across exec)
            subprocess.run([sys.executable, __file__, "--make", photo], check=True)
            size = os.path.getsize(photo)
            print(f"photo: 4032x3024 baseline JPEG, quality 90, 4:2:0, {size / 1e6:.2f} MB ({photo})")
        else:
            print(f"photo: {photo}, {os.path.getsize(photo) / 1e6:.2f} MB")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"load average at start: {load:.1f} on {os.cpu_count()} cores")
        pycache = os.path.join(tmp, "pycache")
        for label, python in interpreters:  # compile purenet's bytecode (untimed)
            _measure([python, "-m", "purenet", "predict", photo], pycache)
        results = {label: [] for label, _ in interpreters}
        for r in range(args.rounds):
            for label, python in interpreters:
                results[label].append(measure(python, photo, args.full and r == 0, pycache))
        load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"load average at the end: {load_end:.1f}")
        report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "machine": platform.platform(), "load_average": load, "load_average_end": load_end,
                  "rounds": args.rounds,
                  "photo_bytes": os.path.getsize(photo), "interpreters": {}}
        print(f"\n{'interpreter':<12} {'what':<8} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12}  (best of {args.rounds})")
        for label, python in interpreters:
            best = {}
            for what in ("decode", "rgb", "predict", "cold", "full"):
                runs = [run[what] for run in results[label] if what in run]
                if not runs:
                    continue
                best[what] = {"wall": min(x["wall"] for x in runs), "cpu": min(x["cpu"] for x in runs),
                              "peak_rss_mb": max(x["peak_rss_mb"] for x in runs)}
                print(f"{label:<12} {what:<8} {best[what]['wall']:>8.2f} {best[what]['cpu']:>8.2f} "
                      f"{best[what]['peak_rss_mb']:>12.1f}")
            best["stages"] = {stage: min(run["stages"][stage] for run in results[label])
                              for stage in results[label][0]["stages"]}
            print(f"{'':<12} predict's stages (CPU s, best of {args.rounds}): "
                  + ", ".join(f"{stage} {t:.3f}" for stage, t in best["stages"].items()))
            version = subprocess.run([python, "-c", "import sys, platform; print(platform.python_implementation(), "
                                      "sys.version.split()[0])"], capture_output=True, text=True).stdout.strip()
            report["interpreters"][label] = {"python": version, "best": best, "runs": results[label]}
            print(f"{'':<12} predict says: {results[label][0]['predict']['output']}   ({version})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
