"""Train the shipped "is it a digit at all?" model: ``purenet/models/digit-or-not.safetensors``.

    python scripts/rejector_photos.py out/rp-103 --count 1600 --seed 103    # photographed examples,
    pypy3 scripts/rejector_photos.py out/rp-103 --inputs                    # seeds 103 to 108 (see that script)
    python scripts/train_rejector.py --data DIR_WITH_MNIST --dev-photos out/rp-105 \
        --photos out/rp-103 --photos out/rp-104 --photos out/rp-106 --photos out/rp-107 --photos out/rp-108

Why a model: a digit classifier has no way to say "none of these"; its
softmax shares all the probability among the ten digits, so a scribble or a
letter X can come out as an 8 at 99.99%. Confidence alone does not separate
them (the classifier is as sure of many non-digits as of digits), so a
second network learns the difference from examples: MNIST training digits
and mouse drawings of the ``dev`` templates of ``scripts/drawings.py`` are
digits; drawn scribbles, cursive loops, spirals, zigzags and waves, letters
and signs that no digit resembles (alone or as a short word), blots, dots
and dashes, hatching and random polylines are not, and neither are two
touching digits (so that the number reader, :func:`purenet.read_digits`,
cuts such a piece in two rather than read it as one digit), and neither
are scribbles and letters drawn as ``scripts/photos.py`` writes them on
paper (``--glyphs``; its looping, knotted scribbles are the non-digits
that come closest to digits). Every example
goes through the MNIST recipe (:func:`purenet.vision.preprocess.to_mnist`),
exactly as a picture does before the classifier sees it. ``--photos``
adds photographed digits and non-digits (``scripts/rejector_photos.py``:
the 28 x 28 inputs ``pn.preprocess`` makes of photos, MNIST training
digits and ``dev`` drawings only), which count ``--photo-weight`` times as
much as a drawn example.

Kept out of training, to choose the threshold on: the last ``--dev-mnist``
MNIST training digits, drawings and drawn non-digits of other seeds, and
the photos of ``--dev-photos``. The share of each flagged at several
thresholds is printed at the end.

Training uses PyTorch (fast; the script is not the package), then copies the
weights into a purenet ``Sequential`` and saves it as safetensors: the
package reads it with nothing but the standard library. Everything random
follows ``--seed``. The measured non-digits (``scripts/photos.py --kind
nondigit``, seeds 7, 11 and 61) are drawn with seeds used nowhere here.
"""

import argparse
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import purenet as pn  # noqa: E402
from purenet.vision.preprocess import to_mnist  # noqa: E402
from purenet.vision.rejection import build_rejector  # noqa: E402

OUT = os.path.join(HERE, "..", "purenet", "models", "digit-or-not.safetensors")
LETTERS = {
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.2, 0.6), (0.8, 0.6)]],
    "K": [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.55)], [(0.3, 0.4), (1, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "E": [[(0.9, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "R": [[(0, 1), (0, 0), (0.7, 0), (0.95, 0.15), (0.95, 0.35), (0.7, 0.5), (0, 0.5)], [(0.4, 0.5), (1, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "P": [[(0, 1), (0, 0), (0.7, 0), (1, 0.25), (0.7, 0.5), (0, 0.5)]],
    "L": [[(0, 0), (0, 1), (0.8, 1)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "#": [[(0.3, 0), (0.2, 1)], [(0.8, 0), (0.7, 1)], [(0, 0.35), (1, 0.35)], [(0, 0.65), (1, 0.65)]],
    "+": [[(0.5, 0), (0.5, 1)], [(0, 0.5), (1, 0.5)]],
    "*": [[(0.5, 0), (0.5, 1)], [(0, 0.25), (1, 0.75)], [(1, 0.25), (0, 0.75)]],
    "Z~": [[(0, 0), (1, 0), (0, 1), (1, 1)], [(0.2, 0.5), (0.8, 0.5)]],  # a crossed Z (a plain Z is a 2)
    "=": [[(0, 0.35), (1, 0.35)], [(0, 0.65), (1, 0.65)]],
    "%": [[(1, 0), (0, 1)], [(0.05, 0.05), (0.3, 0.05), (0.3, 0.3), (0.05, 0.3), (0.05, 0.05)],
          [(0.7, 0.7), (0.95, 0.7), (0.95, 0.95), (0.7, 0.95), (0.7, 0.7)]],
    "box-x": [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], [(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "triangle": [[(0.5, 0), (1, 1), (0, 1), (0.5, 0)]],
    "star": [[(0.5, 0), (0.8, 1), (0, 0.35), (1, 0.35), (0.2, 1), (0.5, 0)]],
    "arrow": [[(0, 0.5), (1, 0.5)], [(0.65, 0.2), (1, 0.5), (0.65, 0.8)]],
    "check": [[(0, 0.55), (0.35, 1), (1, 0)]],
    "Sigma": [[(1, 0.1), (1, 0), (0, 0), (0.5, 0.5), (0, 1), (1, 1), (1, 0.9)]],
    "Phi": [[(0.5, 0), (0.5, 1)], [(0.5, 0.25), (0.9, 0.3), (1, 0.5), (0.9, 0.7), (0.5, 0.75), (0.1, 0.7),
                                   (0, 0.5), (0.1, 0.3), (0.5, 0.25)]],
    "m": [[(0, 0.4), (0, 1)], [(0, 0.55), (0.15, 0.4), (0.35, 0.4), (0.5, 0.55), (0.5, 1)],
          [(0.5, 0.55), (0.65, 0.4), (0.85, 0.4), (1, 0.55), (1, 1)]],
    "w": [[(0, 0.4), (0.2, 1), (0.5, 0.5), (0.8, 1), (1, 0.4)]],
    "h": [[(0, 0), (0, 1)], [(0, 0.6), (0.2, 0.45), (0.6, 0.45), (0.8, 0.6), (0.8, 1)]],
    "k": [[(0, 0), (0, 1)], [(0.7, 0.4), (0, 0.75)], [(0.25, 0.62), (0.8, 1)]],
    "x": [[(0, 0.4), (1, 1)], [(1, 0.4), (0, 1)]],
    "U": [[(0, 0), (0, 0.7), (0.2, 0.95), (0.5, 1), (0.8, 0.95), (1, 0.7), (1, 0)]],
    "D": [[(0, 0), (0, 1)], [(0, 0), (0.5, 0), (0.9, 0.2), (1, 0.5), (0.9, 0.8), (0.5, 1), (0, 1)]],
}


def nondigit(rng: random.Random):
    """One non-digit drawn with Pillow on a 64 x 64 canvas, as 784 floats (the MNIST recipe)."""
    from PIL import Image, ImageDraw

    size = 64
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    pen = rng.randint(2, 7)
    kind = rng.choice(["letter", "letter", "letter", "scribble", "scribble", "loops", "spiral", "zigzag", "wave",
                       "word", "blot", "dots", "hatch", "lines", "dash"])
    box_w, box_h = rng.uniform(20, 50), rng.uniform(20, 50)
    x0, y0 = rng.uniform(4, size - 4 - box_w), rng.uniform(4, size - 4 - box_h)
    shear, angle = rng.uniform(-0.3, 0.3), math.radians(rng.uniform(-20, 20))

    def at(x, y):
        x = x + shear * (1 - y)
        px, py = x0 + x * box_w, y0 + y * box_h
        cx, cy = x0 + box_w / 2, y0 + box_h / 2
        dx, dy = px - cx, py - cy
        return (cx + dx * math.cos(angle) - dy * math.sin(angle) + rng.uniform(-1, 1),
                cy + dx * math.sin(angle) + dy * math.cos(angle) + rng.uniform(-1, 1))

    def polyline(points):
        pts = [at(x, y) for x, y in points]
        draw.line(pts, fill=255, width=pen, joint="curve")
        for p in (pts[0], pts[-1]):
            draw.ellipse([p[0] - pen / 2, p[1] - pen / 2, p[0] + pen / 2, p[1] + pen / 2], fill=255)

    if kind == "letter":
        for stroke in LETTERS[rng.choice(sorted(LETTERS))]:
            polyline(stroke)
    elif kind == "word":  # two to four small letters side by side
        names = [rng.choice(sorted(LETTERS)) for _ in range(rng.randint(2, 4))]
        full_w, full_x0 = box_w, x0
        box_w = full_w / len(names) * rng.uniform(0.7, 0.95)
        for i, name in enumerate(names):
            x0 = full_x0 + i * full_w / len(names)
            for stroke in LETTERS[name]:
                polyline(stroke)
    elif kind == "loops":  # cursive-like loops along a line, "eeee" or "llll"
        n, r = rng.randint(2, 6), rng.uniform(0.25, 0.5)
        pts = [(t / 200 * (1 - 2 * r / 3) + r / 3 - r / 3 * math.cos(2 * math.pi * n * t / 200),
                0.5 - r * math.sin(2 * math.pi * n * t / 200)) for t in range(201)]
        polyline(pts)
    elif kind == "spiral":  # 2.3 to 4 turns, in or out (fewer is a 6 or a 9)
        turns, direction = rng.uniform(2.3, 4), rng.choice([-1, 1])
        pts = [(0.5 + 0.5 * t * math.cos(direction * 2 * math.pi * turns * t),
                0.5 + 0.5 * t * math.sin(direction * 2 * math.pi * turns * t)) for t in (i / 120 for i in range(121))]
        polyline(pts)
    elif kind == "zigzag":
        n = rng.randint(5, 10)
        pts = [(i / (n - 1), (i % 2) * rng.uniform(0.6, 1)) for i in range(n)]
        polyline([(y, x) for x, y in pts] if rng.random() < 0.3 else pts)
    elif kind == "wave":
        periods, amp = rng.uniform(1.5, 4), rng.uniform(0.15, 0.5)
        polyline([(t, 0.5 + amp * math.sin(2 * math.pi * periods * t)) for t in (i / 80 for i in range(81))])
    elif kind == "scribble":
        x, y, a, turn = 0.5, 0.5, rng.uniform(0, 6.3), rng.uniform(-0.9, 0.9)
        pts = []
        for _ in range(rng.randint(15, 120)):
            turn = max(-0.9, min(0.9, turn + rng.uniform(-0.4, 0.4)))
            a += turn
            x = min(1, max(0, x + 0.08 * math.cos(a)))
            y = min(1, max(0, y + 0.08 * math.sin(a)))
            pts.append((x, y))
        polyline(pts)
    elif kind == "blot":
        for _ in range(rng.randint(1, 5)):
            cx, cy, rx, ry = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.35), rng.uniform(0.1, 0.35)
            draw.ellipse([x0 + (cx - rx) * box_w, y0 + (cy - ry) * box_h, x0 + (cx + rx) * box_w, y0 + (cy + ry) * box_h], fill=255)
    elif kind == "dots":
        for _ in range(rng.randint(1, 6)):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(1, 4)
            p = at(cx, cy)
            draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=255)
    elif kind == "hatch":
        n = rng.randint(3, 8)
        for i in range(n):
            t = i / (n - 1)
            polyline([(t, 0), (t + rng.uniform(-0.3, 0.3), 1)] if rng.random() < 0.5 else [(0, t), (1, t)])
    elif kind == "lines":
        for _ in range(rng.randint(2, 5)):
            polyline([(rng.random(), rng.random()) for _ in range(rng.randint(3, 5))])
    else:  # a dash, a short stroke: what dust or a slip of the pen leaves (never steep: that is a 1)
        box_h = min(box_h, 0.4 * box_w)
        polyline([(0, rng.uniform(0.3, 0.7)), (1, rng.uniform(0.3, 0.7))])
    values = [v / 255 for v in canvas.tobytes()]
    return to_mnist(values, size, size)


def photo_glyph(rng: random.Random, scribble_share: float = 0.8):
    """A scribble or a letter as ``scripts/photos.py`` writes them on paper (its own pen and
    strokes, with this script's random numbers), through the MNIST recipe: the looping,
    knotted scribbles that come closest to digits, many times over."""
    import photos

    photos.PEN["pillow"] = True
    if rng.random() < scribble_share:
        glyph = photos.scribble_glyph(rng)
    else:
        glyph = photos.letter_glyph(rng.choice(sorted(photos.LETTERS)), rng)
    return to_mnist(glyph.values, glyph.w, glyph.h)


def pair(images, rng: random.Random):
    """Two MNIST digits side by side, touching or nearly: one piece of ink that is no single
    digit, so the number reader learns to cut it rather than read it as one."""
    gap = rng.randint(-8, 2)  # columns between the two digits' 28-pixel fields (negative: overlapping)
    width = 56 + gap
    canvas = [0.0] * (28 * width)
    for k, offset in ((rng.randrange(len(images)), 0), (rng.randrange(len(images)), 28 + gap)):
        digit = images.pixels(k)
        for y in range(28):
            for x in range(28):
                v = digit[y * 28 + x] / 255
                i = y * width + offset + x
                if v > canvas[i]:
                    canvas[i] = v
    return to_mnist(canvas, width, 28)


def load_photos(folder: str):
    """The 28 x 28 inputs and labels that ``scripts/rejector_photos.py --inputs`` made of photos."""
    import numpy as np

    with open(os.path.join(folder, "inputs.json")) as f:
        kept = json.load(f)
    x = np.fromfile(os.path.join(folder, "inputs.f32"), dtype="<f4").reshape(-1, 784)
    return x, np.array([k["label"] for k in kept], dtype=np.int64)


def torch_net(model):
    """The PyTorch twin of ``build_rejector``'s model (same layers, same parameter names)."""
    import torch

    layers, channels = [], 1
    for layer in model.layers:
        name = type(layer).__name__
        if name == "Conv2D":
            layers.append(torch.nn.Conv2d(channels, layer.filters, layer.kernel_size))
            channels = layer.filters
        elif name == "MaxPool2D":
            layers.append(torch.nn.MaxPool2d(2))
        elif name == "ReLU":
            layers.append(torch.nn.ReLU())
        elif name == "Flatten":
            layers.append(torch.nn.Flatten())
        elif name == "Dense":
            layers.append(torch.nn.Linear(layer.input_shape[-1], layer.units))
        elif name != "Softmax":  # the loss applies the softmax
            raise ValueError(f"no PyTorch twin for {name}")
    return torch.nn.Sequential(*layers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("PURENET_DATA"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--negatives", type=int, default=24000)
    parser.add_argument("--pairs", type=int, default=4000, help="pairs of touching MNIST digits (non-digits)")
    parser.add_argument("--glyphs", type=int, default=25000,
                        help="scribbles and letters drawn as scripts/photos.py draws them (non-digits)")
    parser.add_argument("--drawings", type=int, default=1000)
    parser.add_argument("--photos", action="append", default=[], metavar="DIR",
                        help="photographed examples (scripts/rejector_photos.py); may be repeated")
    parser.add_argument("--photo-weight", type=float, default=4.0,
                        help="how much more a photographed example counts than a drawn one")
    parser.add_argument("--dev-photos", action="append", default=[], metavar="DIR",
                        help="photographed examples kept out of training, to choose the threshold on")
    parser.add_argument("--dev-mnist", type=int, default=5000,
                        help="the last N MNIST training digits are kept out of training for the same")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--cache", metavar="FILE.npz", help="keep the drawn examples here and reuse them")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    import drawings
    from purenet.app.strokes import to_input

    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a small network: more threads only wait for each other
    images, _ = pn.datasets.load_mnist("train", root=args.data, download=False)
    digits = np.frombuffer(images.data, dtype=np.uint8)
    digits = digits.reshape(-1, 784).astype(np.float32) / 255.0
    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache) as cached:
            drawn, negatives, glyphs, dev_drawn, dev_negatives = (
                cached[k] for k in ("drawn", "negatives", "glyphs", "dev_drawn", "dev_negatives"))
    else:
        def drawn_inputs(n, seed):
            xs = [to_input(d.strokes, d.width, d.height, d.pen_width)
                  for d in drawings.generate(n, seed=seed, split="dev")]
            return np.array([x for x in xs if x is not None], dtype=np.float32)

        def negative_inputs(n, n_pairs):
            xs = [nondigit(rng) for _ in range(n)] + [pair(images, rng) for _ in range(n_pairs)]
            return np.array([x for x in xs if x is not None], dtype=np.float32)

        drawn, negatives = drawn_inputs(args.drawings, args.seed + 1), negative_inputs(args.negatives, args.pairs)
        dev_drawn, dev_negatives = drawn_inputs(1000, args.seed + 2), negative_inputs(2000, 0)
        glyphs = np.array([x for x in (photo_glyph(rng) for _ in range(args.glyphs)) if x is not None],
                          dtype=np.float32).reshape(-1, 784)
        if args.cache:
            np.savez(args.cache, drawn=drawn, negatives=negatives, glyphs=glyphs, dev_drawn=dev_drawn,
                     dev_negatives=dev_negatives)
    dev_digits, digits = digits[len(digits) - args.dev_mnist:], digits[: len(digits) - args.dev_mnist]
    # groups: (name, inputs, label, weight of each example)
    groups = [("MNIST digits", digits, 0, 1.0), ("drawings", drawn, 0, 1.0), ("drawn non-digits", negatives, 1, 1.0),
              ("scribbles and letters as on paper", glyphs, 1, 1.0)]
    for folder in args.photos:
        px, py = load_photos(folder)
        groups += [("photo digits", px[py == 0], 0, args.photo_weight),
                   ("photo non-digits", px[py == 1], 1, args.photo_weight)]
    x = np.concatenate([g[1] for g in groups])
    y = np.concatenate([np.full(len(g[1]), g[2], dtype=np.int64) for g in groups])
    w = np.concatenate([np.full(len(g[1]), g[3], dtype=np.float32) for g in groups])
    for label in (0, 1):  # the two classes count the same in all
        w[y == label] *= w.sum() / (2 * w[y == label].sum())
    print(", ".join(f"{len(g[1])} {g[0]}" for g in groups), flush=True)

    model = build_rejector(seed=args.seed)
    net = torch_net(model)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt = torch.from_numpy(x).reshape(-1, 1, 28, 28)
    yt, wt = torch.from_numpy(y), torch.from_numpy(w)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for s in range(0, len(order), 128):
            idx = order[s : s + 128]
            batch = xt[idx]
            # small shifts: a part cut from a photo is not always centred to the pixel
            shift = tuple(int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
            batch = torch.roll(batch, shifts=shift, dims=(2, 3))
            opt.zero_grad()
            loss = (loss_fn(net(batch), yt[idx]) * wt[idx]).sum() / wt[idx].sum()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        for group in opt.param_groups:
            group["lr"] *= 0.7
        with torch.no_grad():  # on a sample of the training examples (all of them take long)
            sample = order[:10000]
            wrong = (net(xt[sample]).argmax(1) != yt[sample]).float()
        print(f"epoch {epoch + 1}: loss {total / len(yt):.4f}, training errors: digits "
              f"{wrong[yt[sample] == 0].mean():.4%}, non-digits {wrong[yt[sample] == 1].mean():.4%}", flush=True)
        # saved after every epoch; the shipped file is the last one
        state = {k: v.tolist() for k, v in net.state_dict().items()}
        model.load_state_dict({name: state[name] for name, _ in model.named_parameters()})
        model.save(args.out)
    print(f"saved {args.out}")

    # the threshold is chosen on examples kept out of training (never on the measured sets)
    dev = [("MNIST training digits kept out", dev_digits, 0), ("drawings of another seed", dev_drawn, 0),
           ("drawn non-digits of the same generator", dev_negatives, 1)]
    for folder in args.dev_photos:
        px, py = load_photos(folder)
        dev += [("photo digits kept out", px[py == 0], 0), ("photo non-digits kept out", px[py == 1], 1)]
    thresholds = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
    print("share taken for no digit, by threshold: " + " ".join(f"{t:>6}" for t in thresholds))
    with torch.no_grad():
        for name, xs, _ in dev:
            p = torch.softmax(net(torch.from_numpy(xs).reshape(-1, 1, 28, 28)), 1)[:, 1].numpy()
            print(f"{name:40s} ({len(xs):5d}) " + " ".join(f"{(p > t).mean():6.2%}" for t in thresholds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
