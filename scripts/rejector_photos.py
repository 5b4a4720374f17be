"""Photographed training examples for the rejection model (``scripts/train_rejector.py --photos``).

    python scripts/rejector_photos.py out/rp-103 --count 1600 --seed 103 --max-width 700
    pypy3 scripts/rejector_photos.py out/rp-103 --inputs

Why: the rejection model decides on what :func:`purenet.preprocess` makes of
a photo, and a photographed stroke (uneven light, blur, JPEG, the ink
found by :mod:`purenet.vision.ink`) is not a stroke drawn on a clean
canvas. This makes photos of ``scripts/photos.py`` (the same camera), half
of them single digits and half non-digits (scribbles, letters, blots,
empty pages with specks or rules), and turns each into the exact 28 x 28
input that ``purenet predict`` gives the rejection model.

The digits come from the MNIST *training* set and from the ``dev``
templates of ``scripts/drawings.py``, so that neither the MNIST test set
nor the ``held_out`` drawings (on which the rejection's cost is measured)
are seen in training; the seeds must differ from those of the measured
sets. The first step (CPython, Pillow and NumPy) writes each photo as
JPEG; the second (``--inputs``, PyPy is faster) reads each as ``purenet
predict`` does (``eval_photos.read``: purenet's JPEG reader, reduced,
gray), runs ``pn.preprocess`` on it and writes
``inputs.f32`` (784 little-endian float32 per picture) and ``inputs.json``
(per picture: its label, 0 for a digit and 1 for no digit, and what it is).
A picture in which ``preprocess`` finds no ink is left out.
"""

import argparse
import array
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import drawings  # noqa: E402
import photos  # noqa: E402
from eval_photos import read  # noqa: E402
import purenet as pn  # noqa: E402


#: Seeds of the sets the figures in docs/photos.md are measured on (``scripts/photos.py``).
MEASURED_SEEDS = (7, 11, 31, 61, 2026)


def generate(folder: str, count: int, seed: int, max_width: int, mnist=None, progress=None) -> list:
    """Write ``count`` photos (JPEG) and ``manifest.json`` into ``folder``.

    ``mnist``: the folder of the MNIST training files (default: ``$PURENET_DATA``...,
    as :func:`purenet.datasets.load_mnist` looks), or ``(images, labels)`` to take digits from.
    """
    from PIL import Image as PILImage

    os.makedirs(folder, exist_ok=True)
    photos.PEN["pillow"] = True
    rng = random.Random(seed)
    if mnist is None or isinstance(mnist, str):
        mnist = pn.datasets.load_mnist("train", root=mnist, download=False)
    sources = photos.Sources(seed, mnist)
    sources.drawings = drawings.generate(10 ** 6, seed=seed, split="dev")
    records = []
    for i, width in enumerate(photos.widths(rng, count)):
        kind = "digit" if i % 2 == 0 else "nondigit"
        record, pixels, rw, rh = photos.make(kind, rng, sources, min(width, max_width), fast=True)
        record.update(file=f"{i:05d}.png", width=min(width, max_width), quality=rng.randint(60, 95),
                      progressive=rng.random() < 0.5, subsampling=rng.choice([0, 1, 2]),
                      noise=rng.uniform(2.0, 8.0), noise_seed=rng.randrange(2 ** 32))
        photos.finish(folder, record, PILImage.frombytes("RGB", (rw, rh), pixels))
        records.append(record)
        if progress:
            progress(i + 1, count)
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(records, f, indent=1)
    return records


def inputs(folder: str, progress=None) -> int:
    """``pn.preprocess`` each photo of ``folder``: ``inputs.f32`` and ``inputs.json``; returns the count."""
    with open(os.path.join(folder, "manifest.json")) as f:
        records = json.load(f)
    values = array.array("f")
    kept = []
    for i, r in enumerate(records):
        x = pn.preprocess(read(os.path.join(folder, r["file"])))
        if x is not None:
            values.extend(x)
            kept.append({"label": 0 if r["kind"] == "digit" else 1, "what": r["source"] if r["kind"] != "digit"
                         else "digit " + r["label"]})
        if progress:
            progress(i + 1, len(records))
    if sys.byteorder != "little":
        values.byteswap()
    with open(os.path.join(folder, "inputs.f32"), "wb") as f:
        values.tofile(f)
    with open(os.path.join(folder, "inputs.json"), "w") as f:
        json.dump(kept, f)
    return len(kept)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--max-width", type=int, default=700)
    parser.add_argument("--data", default=os.environ.get("PURENET_DATA"), help="folder of the MNIST training files")
    parser.add_argument("--inputs", action="store_true", help="make the 28 x 28 inputs of the photos in FOLDER")
    args = parser.parse_args(argv)

    def progress(i, n):
        print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True)

    if args.inputs:
        n = inputs(args.folder, progress)
        print(f"\n{n} inputs", file=sys.stderr)
        return 0
    if args.seed in MEASURED_SEEDS:
        parser.error(f"seeds {', '.join(map(str, MEASURED_SEEDS))} make the measured sets; train on others")
    generate(args.folder, args.count, args.seed, args.max_width, args.data, progress)
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
