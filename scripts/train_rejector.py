"""Train the shipped "is it a digit at all?" model: ``purenet/models/digit-or-not.safetensors``.

    python scripts/train_rejector.py --data DIR_WITH_MNIST [--epochs 6] [--seed 0] [--out FILE]

Why a model: a digit classifier has no way to say "none of these"; its
softmax shares all the probability among the ten digits, so a scribble or a
letter X can come out as an 8 at 99.99%. Confidence alone does not separate
them (the classifier is as sure of many non-digits as of digits), so a
second, small network learns the difference from examples: MNIST training
digits and mouse drawings of the ``dev`` templates of
``scripts/drawings.py`` are digits; drawn scribbles, letters that no digit
resembles, blots, dots and dashes, hatching, crossed-out marks and random
polylines are not, and neither are two touching digits (so that the
number reader, :func:`purenet.read_digits`, cuts such a piece in two rather
than read it as one digit). Every example goes through the MNIST recipe
(:func:`purenet.vision.preprocess.to_mnist`), exactly as a picture does
before the classifier sees it.

Training uses PyTorch (fast; the script is not the package), then copies the
weights into a purenet ``Sequential`` and saves it as safetensors: the
package reads it with nothing but the standard library. Everything random
follows ``--seed``. The non-digits here are drawn with Pillow; the pictures
the figures are measured on (``scripts/photos.py --kind nondigit``) are
drawn by another generator with other seeds.
"""

import argparse
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
}


def nondigit(rng: random.Random):
    """One non-digit drawn with Pillow on a 64 x 64 canvas, as 784 floats (the MNIST recipe)."""
    from PIL import Image, ImageDraw

    size = 64
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    pen = rng.randint(2, 7)
    kind = rng.choice(["letter", "letter", "scribble", "scribble", "blot", "dots", "hatch", "lines", "dash"])
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
    elif kind == "scribble":
        x, y, a, turn = 0.5, 0.5, rng.uniform(0, 6.3), 0.0
        pts = []
        for _ in range(rng.randint(15, 80)):
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
    else:  # a dash, a short stroke: what dust or a slip of the pen leaves
        polyline([(0, rng.uniform(0.3, 0.7)), (1, rng.uniform(0.3, 0.7))])
    values = [v / 255 for v in canvas.tobytes()]
    return to_mnist(values, size, size)


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("PURENET_DATA"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--negatives", type=int, default=12000)
    parser.add_argument("--pairs", type=int, default=4000, help="pairs of touching MNIST digits (non-digits)")
    parser.add_argument("--drawings", type=int, default=500)
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
            drawn, negatives = cached["drawn"], cached["negatives"]
    else:
        drawn = [to_input(d.strokes, d.width, d.height, d.pen_width)
                 for d in drawings.generate(args.drawings, seed=args.seed + 1, split="dev")]
        drawn = np.array([x for x in drawn if x is not None], dtype=np.float32)
        negatives = [nondigit(rng) for _ in range(args.negatives)] + [pair(images, rng) for _ in range(args.pairs)]
        negatives = np.array([x for x in negatives if x is not None], dtype=np.float32)
        if args.cache:
            np.savez(args.cache, drawn=drawn, negatives=negatives)
    x = np.concatenate([digits, drawn, negatives])
    y = np.concatenate([np.zeros(len(digits) + len(drawn), dtype=np.int64), np.ones(len(negatives), dtype=np.int64)])
    print(f"{len(digits)} MNIST digits, {len(drawn)} drawings, {len(negatives)} non-digits", flush=True)

    model = build_rejector(seed=args.seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 12, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(300, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2),
    )
    # the two classes are unbalanced; weight them so both count the same
    weight = torch.tensor([len(y) / (2 * (y == 0).sum()), len(y) / (2 * (y == 1).sum())], dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt = torch.from_numpy(x).reshape(-1, 1, 28, 28)
    yt = torch.from_numpy(y)
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
            loss = loss_fn(net(batch), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        for group in opt.param_groups:
            group["lr"] *= 0.6
        with torch.no_grad():
            wrong = (net(xt).argmax(1) != yt).float()
        print(f"epoch {epoch + 1}: loss {total / len(yt):.4f}, training errors: digits "
              f"{wrong[yt == 0].mean():.4%}, non-digits {wrong[yt == 1].mean():.4%}", flush=True)
        # saved after every epoch; the shipped file is the last one
        state = {k: v.tolist() for k, v in net.state_dict().items()}
        model.load_state_dict({name: state[name] for name, _ in model.named_parameters()})
        model.save(args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
