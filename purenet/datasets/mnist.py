"""MNIST: find the IDX files on disk, load them, and pick classes out of them.

    >>> x_train, y_train = load_bundled("train")   # shipped with purenet
    >>> x_train.shape, len(y_train)
    ((10000, 1, 28, 28), 10000)
    >>> x01, y01 = select_classes(x_train, y_train, (0, 1))
    >>> sorted(set(y01))
    [0, 1]

What this file is for: ``load_mnist`` for the full dataset (60,000 training
and 10,000 test images) from files the user put on disk, ``load_bundled``
for the stratified subset inside the package (10,000 + 2,000 images, built
by ``scripts/build_bundled.py``) so everything works offline, and
``select_classes`` for small binary or few-class problems.

What it is not: it never touches the network (no downloads yet) and never
looks in the current directory unless ``root`` says so. File parsing lives
in ``idx.py``, the image container in ``images.py``.
"""

import os
from importlib import resources
from typing import List, Optional, Sequence, Tuple

from purenet.datasets.idx import PathLike, read_idx
from purenet.datasets.images import ImageSet
from purenet.errors import DatasetError

__all__ = ["load_mnist", "load_bundled", "select_classes"]

# split -> (images file, labels file), without the optional ".gz".
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
DEFAULT_CACHE = os.path.join("~", ".cache", "purenet")


def load_mnist(split: str, root: Optional[PathLike] = None) -> Tuple[ImageSet, List[int]]:
    """Load the full MNIST ``"train"`` (60,000) or ``"test"`` (10,000) split.

    The two files of the split (``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte``, or ``t10k-...``; raw or ``.gz``) must sit
    in the same directory, the first of: ``root``, ``$PURENET_DATA``,
    ``~/.cache/purenet``.

    Args:
        split: ``"train"`` or ``"test"``.
        root: a directory to look in first (relative paths are relative to
            the current directory).

    Returns:
        ``(images, labels)``: an ImageSet of shape ``(N, 1, 28, 28)`` and a
        list of N ints in 0..9.

    Raises:
        DatasetError: the files are missing, malformed or inconsistent.
    """
    images_name, labels_name = _split_files(split)
    searched = []
    for directory, why in _search_dirs(root):
        images_path = _find(directory, images_name)
        labels_path = _find(directory, labels_name)
        if images_path and labels_path:
            return _load_pair(images_path, labels_path)
        lone = images_path or labels_path
        note = f"; holds only {os.path.basename(lone)}" if lone else ""
        searched.append(f"  {directory}  ({why}{note})")
    # Downloading (with SHA-256 verification) will go here: fetch the
    # missing files into the cache directory, then load them as above.
    places = "\n".join(searched)
    raise DatasetError(
        f"MNIST {split!r} files not found: expected {images_name}(.gz) and "
        f"{labels_name}(.gz) together in one of these directories:\n{places}\n"
        f"Received: no directory holding both. Put the MNIST IDX files (the "
        f".gz downloads are fine) in {os.path.expanduser(DEFAULT_CACHE)}, or "
        f"set PURENET_DATA or pass root= to their directory. For the "
        f"10,000-image subset shipped with purenet, use "
        f"purenet.datasets.load_bundled({split!r})."
    )


def load_bundled(split: str) -> Tuple[ImageSet, List[int]]:
    """Load the MNIST subset shipped inside the package.

    ``"train"``: 10,000 images, 1,000 per class; ``"test"``: 2,000 images,
    200 per class; both in their original MNIST order.

    Returns:
        ``(images, labels)`` as for :func:`load_mnist`.
    """
    images_name, labels_name = _split_files(split)
    bundled = resources.files(__package__) / "bundled"
    with resources.as_file(bundled / (images_name + ".gz")) as images_path, \
            resources.as_file(bundled / (labels_name + ".gz")) as labels_path:
        if not (os.path.isfile(images_path) and os.path.isfile(labels_path)):
            raise DatasetError(
                f"bundled MNIST {split!r} files: expected {images_path} and "
                f"{labels_path}. Received: missing files (a source checkout "
                f"builds them with scripts/build_bundled.py)."
            )
        return _load_pair(images_path, labels_path)


def select_classes(
    images: ImageSet, labels: Sequence[int], classes: Sequence[int]
) -> Tuple[ImageSet, List[int]]:
    """Keep only the images of ``classes``, relabelled ``0 .. len(classes) - 1``.

    Labels are remapped in the order ``classes`` gives them:
    ``classes=(3, 7)`` maps 3 -> 0 and 7 -> 1. Image order is kept.

    Raises:
        TypeError: ``images`` is not an ImageSet or ``classes`` is not a
            sequence of ints.
        ValueError: lengths differ, ``classes`` is empty or repeats a class,
            or a class does not occur in ``labels``.
    """
    if not isinstance(images, ImageSet):
        raise TypeError(
            f"select_classes expected images as an ImageSet. Received: {type(images).__name__}"
        )
    if len(images) != len(labels):
        raise ValueError(
            "select_classes expected as many labels as images. "
            f"Received: {len(images)} images and {len(labels)} labels."
        )
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in classes
    ):
        raise TypeError(f"select_classes expected classes as a sequence of ints. Received: {classes!r}")
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(
            f"select_classes expected a non-empty sequence of distinct classes. Received: {classes!r}"
        )
    remap = {c: new for new, c in enumerate(classes)}
    keep = [i for i, y in enumerate(labels) if y in remap]
    new_labels = [remap[labels[i]] for i in keep]
    present = set(new_labels)
    absent = [c for c in classes if remap[c] not in present]
    if absent:
        raise ValueError(
            f"select_classes expected every class to occur in labels. "
            f"Received: no samples of {absent}."
        )
    return images.take(keep), new_labels


def _split_files(split: str) -> Tuple[str, str]:
    if split not in MNIST_FILES:
        raise ValueError(f'expected split "train" or "test". Received: {split!r}')
    return MNIST_FILES[split]


def _search_dirs(root: Optional[PathLike]) -> List[Tuple[str, str]]:
    """The directories to search, in order, each with why it is searched."""
    dirs = []
    if root is not None:
        dirs.append((os.path.abspath(os.path.expanduser(os.fspath(root))), "root"))
    env = os.environ.get("PURENET_DATA")
    if env:
        dirs.append((os.path.abspath(os.path.expanduser(env)), "$PURENET_DATA"))
    dirs.append((os.path.expanduser(DEFAULT_CACHE), "default cache"))
    return dirs


def _find(directory: str, name: str) -> Optional[str]:
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _load_pair(images_path, labels_path) -> Tuple[ImageSet, List[int]]:
    dims, pixels = read_idx(images_path)
    if len(dims) != 3 or dims[1:] != IMAGE_SHAPE[1:]:
        raise DatasetError(
            f"MNIST images file {images_path}: expected dims (N, 28, 28). "
            f"Received: {dims}."
        )
    label_dims, label_bytes = read_idx(labels_path)
    if len(label_dims) != 1:
        raise DatasetError(
            f"MNIST labels file {labels_path}: expected dims (N,). Received: {label_dims}."
        )
    if label_dims[0] != dims[0]:
        raise DatasetError(
            f"MNIST files {images_path} and {labels_path}: expected as many "
            f"labels as images. Received: {dims[0]} images and {label_dims[0]} labels."
        )
    if label_bytes and max(label_bytes) >= NUM_CLASSES:
        bad = next(i for i, y in enumerate(label_bytes) if y >= NUM_CLASSES)
        raise DatasetError(
            f"MNIST labels file {labels_path}: expected labels in 0..9. "
            f"Received: {label_bytes[bad]} at index {bad}."
        )
    return ImageSet(pixels, IMAGE_SHAPE), list(label_bytes)
