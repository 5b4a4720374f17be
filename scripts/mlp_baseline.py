"""For scale: a NumPy MLP trained on MNIST, read on the same drawings as the shipped CNN.

    python scripts/mlp_baseline.py [--data DIR] [--json docs/drawings-mlp-baseline.json]

A NumPy MLP with the MNIST preprocessing recipe is the usual yardstick
for reading drawings. This trains one: 784-256-128-10,
ReLU, softmax cross-entropy, SGD with momentum 0.9, batch 64, 15 epochs
with the learning rate decaying, on the 60,000 MNIST training images as
they are (no augmentation), seeded. It prints its MNIST test accuracy and
its accuracy on the drawings of ``scripts/eval_drawings.py`` (the same
held-out templates and seed by default, or with ``--set handwriting`` the
independent ``scripts/handwriting.py`` set, through the same
``purenet.app.strokes.to_input``). NumPy is used here only: a script, never
imported by the package; the NumPy training loop itself is
``benchmarks/reference_numpy.py``'s ``train_mlp``, beside the other NumPy
reference code.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import purenet as pn  # noqa: E402

import drawings  # noqa: E402
import eval_drawings  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "benchmarks"))
from reference_numpy import train_mlp as train  # noqa: E402  (NumPy references live with the benchmarks)


def as_arrays(split, root):
    images, labels = pn.datasets.load_mnist(split, root=root, download=False)
    x = np.asarray(images.to_matrix().data, dtype=np.float32).reshape(len(labels), -1)
    return x, np.asarray(labels)


def predict(weights, biases, x):
    a = x
    for i, (w, b) in enumerate(zip(weights, biases)):
        a = a @ w + b
        if i < len(weights) - 1:
            a = np.maximum(a, 0)
    return a.argmax(1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--set", default="drawings", choices=eval_drawings.SETS, dest="which")
    parser.add_argument("--seed", type=int, help="default: eval_drawings.py's for the set")
    parser.add_argument("--split", default="held_out", choices=drawings.SPLITS)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)

    start = time.time()
    x, y = as_arrays("train", args.data)
    xt, yt = as_arrays("test", args.data)
    weights, biases = train(x, y, seed=0)
    mnist = float((predict(weights, biases, xt) == yt).mean())
    if args.seed is None:
        args.seed = eval_drawings.HANDWRITING_SEED if args.which == "handwriting" else eval_drawings.REPORT_SEED
    items = eval_drawings.generate(args.which, args.n, args.seed, args.split)
    source = "handwriting.py drawings" if args.which == "handwriting" else f"{args.split} drawings"
    xd = np.asarray(eval_drawings.inputs(items).data, dtype=np.float32).reshape(len(items), -1)
    predicted = predict(weights, biases, xd).tolist()
    per_digit, _ = eval_drawings.tally(items, predicted)
    correct = sum(c for c, _ in per_digit.values())
    print(f"NumPy MLP 784-256-128-10: MNIST test {mnist:.2%}; "
          f"{source} (seed {args.seed}) {correct}/{len(items)} = {correct / len(items):.2%}; "
          f"{time.time() - start:.0f} s")
    print("  per digit: " + ", ".join(f"{d}: {c}/{n}" for d, (c, n) in per_digit.items()))
    if args.json:
        eval_drawings.write_json(args.json, "mlp_baseline.py", argv, args, items, per_digit, {
            "model": "NumPy MLP 784-256-128-10, MNIST training set, no augmentation",
            "mnist_test_accuracy": round(mnist, 4),
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
