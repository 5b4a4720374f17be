"""Train the pretrained model shipped in the package: ``lenet`` on full MNIST and synthetic mouse drawings.

    pypy3 scripts/train_pretrained.py [--data DIR] [--epochs 30] [--drawings 0.2] [--out FILE]

PyPy is the practical interpreter here (about 5x CPython for this model).
Each epoch: one shuffled pass over the 60,000 training images plus
freshly generated drawings of the ``dev`` templates of
``scripts/drawings.py`` (``--drawings`` is their fraction of the epoch's
images: 0.2 adds 15,000), rendered by ``purenet.app.strokes.to_input``,
the app's own canvas path, and stored as bytes like MNIST's. Why: MNIST's
1s are nearly all bare strokes and its 7s narrow, so a network trained on
MNIST alone reads a European 1 (flag, base) drawn in the app as a 7
(docs/drawing-accuracy.md); the drawings show it the app's domain. The
``held_out`` templates are never trained on. Every image, scanned or
drawn, gets mild random affine augmentation (shift <= 2 px, rotation <= 10
degrees, scale 0.9-1.1); SGD with momentum whose learning rate decays per
epoch; then the 10,000 MNIST test images are evaluated for the log. The
model is written to ``--out`` (F32 safetensors with its history) after
every epoch, so the shipped file is the last epoch's weights: the test set
is reported, never used to pick a model. Everything random (weights,
order, augmentation, drawings) follows ``--seed``.

This is the documented command behind ``purenet/models/lenet-mnist.safetensors``
(``--drawings 0.2``, the rest default; its output is ``scripts/train_pretrained.log``).
Images stay bytes and are converted one batch at a time.
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import purenet as pn  # noqa: E402
from purenet import architectures  # noqa: E402
from purenet.app.strokes import to_input  # noqa: E402
from purenet.augment import Augment  # noqa: E402
from purenet.datasets import ImageSet  # noqa: E402

import drawings  # noqa: E402  (scripts/, this file's directory)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mnist")
DEFAULT_OUT = os.path.join(HERE, "..", "purenet", "models", "lenet-mnist.safetensors")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--decay", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drawings", type=float, default=0.0,
                        help="fraction of each epoch's images that are fresh synthetic drawings (0 <= f < 1)")
    parser.add_argument("--drawing-spread", type=float, default=1.0,
                        help="their variation ranges (aspect, slant, rotation, proportions) times this")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not 0.0 <= args.drawings < 1.0:
        parser.error(f"--drawings: expected a fraction in [0, 1); Received: {args.drawings}.")

    x, y = pn.datasets.load_mnist("train", root=args.data, download=False)
    xt, yt = pn.datasets.load_mnist("test", root=args.data, download=False)
    model = architectures.build("lenet", seed=args.seed)
    model.summary()
    optimizer = pn.SGD(args.lr, momentum=0.9)
    loss = pn.CrossEntropy()
    augment = Augment(max_shift=2.0, max_rotation=10.0, scale=(0.9, 1.1), rng=random.Random(args.seed + 1))
    extra = round(len(x) * args.drawings / (1.0 - args.drawings) / 10) * 10  # whole rounds of 0-9
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(1, args.epochs + 1):
        optimizer.lr = args.lr * args.decay ** (epoch - 1)
        drawn_at = time.time()
        xe, ye = with_drawings(x, y, extra, seed=drawing_seed(args.seed, epoch), spread=args.drawing_spread)
        drawing_time = time.time() - drawn_at
        n = len(xe)
        order = list(range(n))
        model.rng.shuffle(order)
        start, total = time.time(), 0.0
        for s in range(0, n, args.batch_size):
            idx = order[s : s + args.batch_size]
            xb = augment(xe.take(idx))
            total += model.train_on_batch(xb, [ye[i] for i in idx], loss=loss, optimizer=optimizer) * len(idx)
        train_time = time.time() - start
        train = model.evaluate(x[:10000], y[:10000])  # clean (unaugmented) training accuracy, a sample
        test = model.evaluate(xt, yt)
        history["loss"].append(total / n)
        history["accuracy"].append(train["accuracy"])
        history["val_loss"].append(test["loss"])
        history["val_accuracy"].append(test["accuracy"])
        model.history = {k: list(v) for k, v in history.items()}
        print(
            f"epoch {epoch}/{args.epochs} lr {optimizer.lr:.4f} {len(x)} + {extra} drawn ({drawing_time:.0f}s) "
            f"{train_time:.0f}s ({n / train_time:.0f} samples/s) loss {total / n:.4f} "
            f"train acc {train['accuracy']:.4f} test loss {test['loss']:.4f} test acc {test['accuracy']:.4f}",
            flush=True,
        )
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        model.save(args.out)
        print(f"  saved {args.out}", flush=True)
    return 0


def drawing_seed(seed: int, epoch: int) -> int:
    """The generator seed of an epoch's drawings (far from the seeds eval_drawings.py is run with)."""
    return 1_000_000 * (seed + 1) + epoch


def with_drawings(x: ImageSet, y: list, count: int, seed: int, spread: float = 1.0):
    """MNIST's images and labels followed by ``count`` drawings of the dev templates, as bytes."""
    if count == 0:
        return x, y
    pixels = bytearray(x.data)
    labels = list(y)
    for d in drawings.generate(count, seed, split="dev", spread=spread):
        pixels.extend(round(v * 255.0) for v in to_input(d.strokes, d.width, d.height, d.pen_width))
        labels.append(d.digit)
    return ImageSet(bytes(pixels), image_shape=x.image_shape), labels


if __name__ == "__main__":
    sys.exit(main())
