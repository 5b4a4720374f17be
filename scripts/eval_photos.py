"""Read the photo-like pictures of ``scripts/photos.py`` back and measure it.

    python scripts/photos.py out/photos --count 520 --seed 2026
    python scripts/photos.py out/nondigits --kind nondigit --count 300 --seed 7
    python scripts/eval_photos.py out/photos --nondigits out/nondigits --mnist DIR --json docs/photos.json

Figures:

- single digits: the share of single-digit photos that ``read_digits``
  reads as exactly that digit (one digit found, the right one), and the
  share that ``purenet predict`` (one digit per picture) names right;
- numbers: the share of 3-6 digit photos read exactly (every digit, none
  missing or extra);
- non-digits: the share of scribbles, letters, blots and empty pages that
  ``purenet predict`` reports as not a digit;
- what the rejection costs on real digits: the share of the MNIST test set
  (``--mnist``) and of mouse drawings (``held_out`` templates of
  ``scripts/drawings.py``, the app's own canvas path) taken for no digit,
  and the shipped model's MNIST test accuracy (the model is the same file
  as before, so it is unchanged).

Every picture is read as ``purenet predict`` reads it: by purenet's own
reader (``purenet.io.read_image``, JPEG included), in gray, reduced while
its shorter side stays at least ``purenet.cli.PREDICT_MIN_SIDE`` pixels
(a JPEG decoded at 1/2, 1/4 or 1/8 of its size from its DCT
coefficients), then through ``purenet.cli.read_picture``, the code of
``purenet predict --number``: the one-digit answer and the number come
from the same function the command prints. ``--limit N`` takes the first
N pictures of each set; ``--json FILE`` writes the counts and every error.
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import purenet as pn  # noqa: E402
from purenet.matrix import Matrix  # noqa: E402
from purenet.cli import PREDICT_MIN_SIDE, read_picture  # noqa: E402
from purenet.vision.digits import default_model  # noqa: E402
from purenet.vision.rejection import THRESHOLD, not_digit_probability  # noqa: E402

DRAWINGS_SEED = 4242
NAMES = list(range(10))  # the shipped model's classes are the digits


def read(path: str):
    """The picture as ``purenet predict`` reads it."""
    return pn.io.read_image(path, min_side=PREDICT_MIN_SIDE, gray=True)


def interval(k: int, n: int):
    """A 95% Wilson interval for k successes out of n."""
    if n == 0:
        return (0.0, 0.0)
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def photos(folder: str, limit, model, log) -> dict:
    with open(os.path.join(folder, "manifest.json")) as f:
        records = json.load(f)[:limit]
    tally = {"digit": [0, 0], "digit_predict": [0, 0], "number": [0, 0], "number_digits": [0, 0]}
    errors = []
    start = time.time()
    for i, r in enumerate(records):
        record, _ = read_picture(read(os.path.join(folder, r["file"])), model, NAMES, number=True)
        number = record["number"]
        ok = number == r["label"]
        tally[r["kind"]][0] += ok
        tally[r["kind"]][1] += 1
        if r["kind"] == "digit":
            tally["digit_predict"][0] += record["digit"] == int(r["label"])
            tally["digit_predict"][1] += 1
        else:
            tally["number_digits"][0] += (sum(a == b for a, b in zip(number, r["label"]))
                                          if len(number) == len(r["label"]) else 0)
            tally["number_digits"][1] += len(r["label"])
        if not ok or (r["kind"] == "digit" and record["digit"] != int(r["label"])):
            errors.append({"file": r["file"], "label": r["label"], "read": number,
                           **({"predict": record["digit"]} if r["kind"] == "digit" else {}),
                           "width": r.get("width"), "source": r.get("source")})
        log(f"\r{i + 1}/{len(records)} pictures, {time.time() - start:.0f} s")
    log("\n")
    return {"counts": tally, "errors": errors, "seconds": round(time.time() - start, 1)}


def nondigits(folder: str, limit, model, log) -> dict:
    with open(os.path.join(folder, "manifest.json")) as f:
        records = json.load(f)[:limit]
    by_kind = {}
    missed = []
    for i, r in enumerate(records):
        record, _ = read_picture(read(os.path.join(folder, r["file"])), model, NAMES)
        kind = r["source"].split()[0]
        flagged = record["digit"] is None
        k = by_kind.setdefault(kind, [0, 0])
        k[0] += flagged
        k[1] += 1
        if not flagged:
            missed.append({"file": r["file"], "what": r["source"]})
        log(f"\r{i + 1}/{len(records)} non-digits")
    log("\n")
    return {"by_kind": by_kind, "flagged": sum(v[0] for v in by_kind.values()),
            "total": sum(v[1] for v in by_kind.values()), "missed": missed}


def rejection_cost(mnist_root, n_drawings: int, model, log) -> dict:
    import drawings
    from purenet.app.strokes import to_input

    out = {}
    if mnist_root:
        images, labels = pn.datasets.load_mnist("test", root=mnist_root, download=False)
        flagged = right = 0
        for s in range(0, len(labels), 500):
            x = images[s : s + 500].to_matrix()
            rows = [x.data[i * 784 : (i + 1) * 784] for i in range(x.rows)]
            flagged += sum(p > THRESHOLD for p in not_digit_probability(rows))
            probs = model.predict(x)
            right += sum(a == b for a, b in zip(probs.argmax(axis=1), labels[s : s + 500]))
            log(f"\rMNIST test {s + 500}/{len(labels)}")
        log("\n")
        out["mnist"] = {"flagged": flagged, "total": len(labels), "accuracy": right / len(labels)}
    if n_drawings:
        inputs = [to_input(d.strokes, d.width, d.height, d.pen_width)
                  for d in drawings.generate(n_drawings, seed=DRAWINGS_SEED, split="held_out")]
        inputs = [x for x in inputs if x is not None]
        flagged = sum(p > THRESHOLD for p in not_digit_probability(inputs))
        out["drawings"] = {"flagged": flagged, "total": len(inputs)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="?")
    parser.add_argument("--nondigits")
    parser.add_argument("--mnist", help="folder of the MNIST test files: the rejection's cost and the model's accuracy")
    parser.add_argument("--drawings", type=int, default=1000, help="mouse drawings to measure the rejection's cost on")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    model = default_model()
    result = {}

    def log(text):
        print(text, end="", file=sys.stderr, flush=True)

    if args.photos:
        result["photos"] = photos(args.photos, args.limit, model, log)
        for key, (k, n) in result["photos"]["counts"].items():
            lo, hi = interval(k, n)
            print(f"{key:14s} {k}/{n} = {k / max(n, 1):.1%} (95%: {lo:.1%}-{hi:.1%})")
    if args.nondigits:
        result["nondigits"] = nondigits(args.nondigits, args.limit, model, log)
        r = result["nondigits"]
        print(f"non-digits flagged {r['flagged']}/{r['total']} = {r['flagged'] / max(r['total'], 1):.1%}; "
              + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(r["by_kind"].items())))
    if args.drawings or args.mnist:
        result["cost"] = rejection_cost(args.mnist, args.drawings, model, log)
        for key, v in result["cost"].items():
            extra = f", model accuracy {v['accuracy']:.2%}" if "accuracy" in v else ""
            print(f"{key} taken for no digit: {v['flagged']}/{v['total']} = {v['flagged'] / v['total']:.2%}{extra}")
    result["reader"] = f"purenet.io.read_image(min_side={PREDICT_MIN_SIDE}, gray=True)"
    print(f"every picture read by {result['reader']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
