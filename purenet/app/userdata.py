"""The drawings a person labelled in the app, kept as MNIST-style IDX files.

    >>> import tempfile
    >>> drawings = Drawings(tempfile.mkdtemp())
    >>> drawings.add([0.0] * 783 + [1.0], 7)
    >>> len(drawings), drawings.labels, drawings.counts()[7]
    (1, [7], 1)
    >>> len(Drawings(drawings.folder))                  # what the app finds next time
    1

Two files in the folder, the same layout as MNIST's, so any MNIST reader
(``purenet.datasets.idx.read_idx``, or numpy with a few lines) opens them:

    drawings-images-idx3-ubyte   (N, 28, 28) unsigned bytes, the inputs the
                                 network saw (after preprocessing), 255 = ink
    drawings-labels-idx1-ubyte   (N,) unsigned bytes, the digit 0-9 the person said it is

Labels are digits, not a model's output indices, so drawings labelled with
one model (say a 0-vs-1 model) serve any other.

Never lost on exit: :meth:`Drawings.add` rewrites both files at once, each
through a temporary file and a rename (``write_idx``), before it returns.
The images go first; should the process die between the two renames, the
folder holds one image more than labels, and reading keeps the first
``len(labels)`` images (the unlabelled last one is dropped, nothing else).

The default folder is ``$PURENET_DRAWINGS``, else
``$XDG_DATA_HOME/purenet/drawings`` (``~/.local/share/purenet/drawings``).
Nothing is created until the first drawing is labelled.

What it is not: a database. The whole set is rewritten on every label,
which stays instant for the few hundred drawings a person makes.
"""

import os
from typing import Dict, List, Optional, Sequence

from ..datasets.idx import read_idx, write_idx
from ..errors import DatasetError

__all__ = ["Drawings", "default_folder", "IMAGES_FILE", "LABELS_FILE"]

IMAGES_FILE = "drawings-images-idx3-ubyte"
LABELS_FILE = "drawings-labels-idx1-ubyte"
SIDE = 28


def default_folder() -> str:
    """Where the app keeps labelled drawings when not told otherwise."""
    explicit = os.environ.get("PURENET_DRAWINGS")
    if explicit:
        return explicit
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "purenet", "drawings")


class Drawings:
    """The labelled drawings in ``folder`` (read when constructed, written on every :meth:`add`).

    Raises :class:`purenet.DatasetError` when the folder holds files of
    this name that are not a matching pair of 28x28 IDX images and labels.
    """

    def __init__(self, folder: Optional[str] = None):
        self.folder = os.fspath(folder) if folder is not None else default_folder()
        self._pixels = bytearray()  # N * 784 bytes
        self.labels: List[int] = []
        self._load()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def images_path(self) -> str:
        return os.path.join(self.folder, IMAGES_FILE)

    @property
    def labels_path(self) -> str:
        return os.path.join(self.folder, LABELS_FILE)

    def _load(self) -> None:
        have_images, have_labels = os.path.isfile(self.images_path), os.path.isfile(self.labels_path)
        if not have_labels:
            return  # nothing labelled yet (an image without its label never completed)
        if not have_images:
            raise DatasetError(f"labelled drawings in {self.folder}: expected {IMAGES_FILE} beside {LABELS_FILE}. "
                               "Received: the labels alone.")
        dims, pixels = read_idx(self.images_path)
        ldims, labels = read_idx(self.labels_path)
        if len(dims) != 3 or dims[1:] != (SIDE, SIDE) or len(ldims) != 1:
            raise DatasetError(
                f"labelled drawings in {self.folder}: expected (N, 28, 28) images and (N,) labels. "
                f"Received: images {dims}, labels {ldims}."
            )
        if dims[0] < ldims[0] or any(v > 9 for v in labels):
            raise DatasetError(
                f"labelled drawings in {self.folder}: expected at least as many images as labels, labels 0-9. "
                f"Received: {dims[0]} images, {ldims[0]} labels (largest {max(labels, default=0)})."
            )
        n = ldims[0]
        self._pixels = bytearray(pixels[: n * SIDE * SIDE])
        self.labels = list(labels)

    def add(self, x: Sequence[float], digit: int) -> None:
        """Keep the preprocessed drawing ``x`` (784 floats in [0, 1]) as a ``digit``, on disk now."""
        if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
            raise ValueError(f"Drawings.add: the label must be a digit 0-9; Received: {digit!r}.")
        if len(x) != SIDE * SIDE or not all(0.0 <= v <= 1.0 for v in x):
            raise ValueError(
                f"Drawings.add: expected 784 floats in [0, 1] (a preprocessed drawing); Received: {len(x)} values."
            )
        pixels = self._pixels + bytes(int(v * 255.0 + 0.5) for v in x)
        labels = self.labels + [digit]
        os.makedirs(self.folder, exist_ok=True)
        write_idx(self.images_path, (len(labels), SIDE, SIDE), pixels)
        write_idx(self.labels_path, (len(labels),), bytes(labels))
        self._pixels, self.labels = pixels, labels

    def image(self, i: int) -> List[float]:
        """Drawing ``i`` as 784 floats in [0, 1]."""
        size = SIDE * SIDE
        return [b / 255.0 for b in self._pixels[i * size : (i + 1) * size]]

    def images(self) -> List[List[float]]:
        return [self.image(i) for i in range(len(self))]

    def counts(self) -> Dict[int, int]:
        """``{digit: how many drawings of it}`` for 0-9."""
        counts = {d: 0 for d in range(10)}
        for label in self.labels:
            counts[label] += 1
        return counts
