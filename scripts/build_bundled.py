"""Build the MNIST subset shipped in purenet/datasets/bundled/.

Usage: python scripts/build_bundled.py [MNIST_DIR]

MNIST_DIR holds the four full MNIST IDX files (raw or .gz); it defaults to
$PURENET_DATA. The subset is stratified and
seeded: 1,000 images per class from train (10,000) and 200 per class from
test (2,000), chosen with random.Random(0) and kept in their original order.
The output is deterministic: running this twice gives byte-identical files.

This is a maintainer's tool, not part of the installed package.
"""

import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from purenet.datasets.idx import write_idx  # noqa: E402
from purenet.datasets.mnist import MNIST_FILES, load_mnist  # noqa: E402

PER_CLASS = {"train": 1000, "test": 200}
OUT_DIR = os.path.join(REPO, "purenet", "datasets", "bundled")


def stratified_indices(labels, per_class, rng):
    """per_class indices of each class, chosen by rng, in ascending order."""
    by_class = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    chosen = []
    for y in sorted(by_class):
        chosen.extend(rng.sample(by_class[y], per_class))
    return sorted(chosen)


def main(argv):
    source = argv[1] if len(argv) > 1 else os.environ.get("PURENET_DATA")
    if not source:
        sys.exit("build_bundled: give the folder of the MNIST files (or set PURENET_DATA).")
    os.makedirs(OUT_DIR, exist_ok=True)
    for split, per_class in PER_CLASS.items():
        # load_mnist would fall back to $PURENET_DATA and the cache: insist
        # on the directory we were given.
        for name in MNIST_FILES[split]:
            if not any(os.path.isfile(os.path.join(source, name + gz)) for gz in ("", ".gz")):
                sys.exit(f"build_bundled: expected {name}(.gz) in {source}. Received: no such file.")
        images, labels = load_mnist(split, root=source)
        keep = stratified_indices(labels, per_class, random.Random(0))
        subset = images.take(keep)
        images_name, labels_name = MNIST_FILES[split]
        write_idx(os.path.join(OUT_DIR, images_name + ".gz"), (len(keep), 28, 28), subset.data)
        write_idx(os.path.join(OUT_DIR, labels_name + ".gz"), (len(keep),), bytes(labels[i] for i in keep))
        print(f"{split}: {len(keep)} of {len(images)} images -> {OUT_DIR}")


if __name__ == "__main__":
    main(sys.argv)
