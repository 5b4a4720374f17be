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
epoch; then the 10,000 MNIST test images are evaluated for the log. All of
it is ``model.fit`` with callbacks (the drawings are redrawn in
``on_epoch_begin``; "train acc" is the epoch's running accuracy on the
augmented images). The
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
    augment = Augment(max_shift=2.0, max_rotation=10.0, scale=(0.9, 1.1), rng=random.Random(args.seed + 1))
    extra = round(len(x) * args.drawings / (1.0 - args.drawings) / 10) * 10  # whole rounds of 0-9
    images = EpochImages(x, extra, args.seed, args.drawing_spread)
    labels = list(y) + [i % 10 for i in range(extra)]  # drawings.generate draws the digits in turn
    model.fit(images, labels, epochs=args.epochs, batch_size=args.batch_size, loss=pn.CrossEntropy(),
              optimizer=pn.SGD(args.lr, momentum=0.9), validation_data=(xt, yt), augment=augment,
              callbacks=[pn.callbacks.LearningRateScheduler(lambda epoch, _: args.lr * args.decay ** epoch),
                         Redraw(images), Report(images, args.out)])
    return 0


class EpochImages:
    """MNIST's images followed by ``count`` drawings that :meth:`redraw` replaces before each
    epoch: an image collection ``fit`` takes (``take``, ``to_matrix``, ``image_shape``)."""

    def __init__(self, mnist: ImageSet, count: int, seed: int, spread: float):
        self.mnist, self.count, self.seed, self.spread = mnist, count, seed, spread
        self.current = mnist if count == 0 else with_drawings(mnist, [], count, drawing_seed(seed, 1), spread)[0]
        self.seconds = 0.0  # the last redraw's

    def redraw(self, epoch: int) -> None:
        """The drawings of ``epoch`` (from 1)."""
        if self.count:
            start = time.time()
            self.current = with_drawings(self.mnist, [], self.count, drawing_seed(self.seed, epoch), self.spread)[0]
            self.seconds = time.time() - start

    @property
    def image_shape(self):
        return self.current.image_shape

    def __len__(self):
        return len(self.current)

    def __getitem__(self, key):
        return self.current[key]

    def take(self, indices):
        return self.current.take(indices)

    def to_matrix(self):
        return self.current.to_matrix()


class Redraw(pn.callbacks.Callback):
    """Fresh drawings before every epoch (the first epoch's are drawn already)."""

    def __init__(self, images: EpochImages):
        super().__init__()
        self.images = images

    def on_epoch_begin(self, epoch, logs=None):
        if epoch > 0:
            self.images.redraw(epoch + 1)


class Report(pn.callbacks.Callback):
    """A line per epoch for the log, and the model written to ``out`` after every epoch."""

    def __init__(self, images: EpochImages, out: str):
        super().__init__()
        self.images, self.out = images, out

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time()

    def on_test_begin(self, logs=None):
        self.train_time = time.time() - self.start

    def on_epoch_end(self, epoch, logs=None):
        n, extra = len(self.images), self.images.count
        print(
            f"epoch {epoch + 1}/{self.params['epochs']} lr {self.model.optimizer.lr:.4f} {n - extra} + {extra} drawn "
            f"({self.images.seconds:.0f}s) {self.train_time:.0f}s ({n / self.train_time:.0f} samples/s) "
            f"loss {logs['loss']:.4f} train acc {logs['accuracy']:.4f} "
            f"test loss {logs['val_loss']:.4f} test acc {logs['val_accuracy']:.4f}",
            flush=True,
        )
        os.makedirs(os.path.dirname(os.path.abspath(self.out)), exist_ok=True)
        self.model.save(self.out)
        print(f"  saved {self.out}", flush=True)


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
