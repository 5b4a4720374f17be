"""Train the pretrained model shipped in the package: ``lenet`` on full MNIST.

    pypy3 scripts/train_pretrained.py [--data DIR] [--epochs 30] [--out FILE]

PyPy is the practical interpreter here (about 5x CPython for this model).
Each epoch: one shuffled pass over the 60,000 training images, with mild
random affine augmentation (shift <= 2 px, rotation <= 10 degrees, scale
0.9-1.1; drawn digits vary more than MNIST's) and SGD with momentum whose
learning rate decays per epoch; then the 10,000 test images are evaluated
for the log. The model is written to ``--out`` (F32 safetensors with its
history) after every epoch, so the shipped file is the last epoch's weights:
the test set is reported, never used to pick a model.

This is the documented command behind ``purenet/models/lenet-mnist.safetensors``.
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
from purenet.augment import Augment  # noqa: E402

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
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    x, y = pn.datasets.load_mnist("train", root=args.data, download=False)
    xt, yt = pn.datasets.load_mnist("test", root=args.data, download=False)
    model = architectures.build("lenet", seed=args.seed)
    model.summary()
    optimizer = pn.SGD(args.lr, momentum=0.9)
    loss = pn.CrossEntropy()
    augment = Augment(max_shift=2.0, max_rotation=10.0, scale=(0.9, 1.1), rng=random.Random(args.seed + 1))
    n = len(x)
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(1, args.epochs + 1):
        optimizer.lr = args.lr * args.decay ** (epoch - 1)
        order = list(range(n))
        model.rng.shuffle(order)
        start, total = time.time(), 0.0
        for s in range(0, n, args.batch_size):
            idx = order[s : s + args.batch_size]
            xb = augment(x.take(idx))
            total += model.train_on_batch(xb, [y[i] for i in idx], loss=loss, optimizer=optimizer) * len(idx)
        train_time = time.time() - start
        train = model.evaluate(x[:10000], y[:10000])  # clean (unaugmented) training accuracy, a sample
        test = model.evaluate(xt, yt)
        history["loss"].append(total / n)
        history["accuracy"].append(train["accuracy"])
        history["val_loss"].append(test["loss"])
        history["val_accuracy"].append(test["accuracy"])
        model.history = {k: list(v) for k, v in history.items()}
        print(
            f"epoch {epoch}/{args.epochs} lr {optimizer.lr:.4f} {train_time:.0f}s ({n / train_time:.0f} samples/s) "
            f"loss {total / n:.4f} train acc {train['accuracy']:.4f} test loss {test['loss']:.4f} "
            f"test acc {test['accuracy']:.4f}",
            flush=True,
        )
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        model.save(args.out)
        print(f"  saved {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
