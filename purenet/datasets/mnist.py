"""MNIST: find the IDX files on disk, load them, and pick classes out of them.

    >>> x_train, y_train = load_bundled("train")   # shipped with purenet
    >>> x_train.shape, len(y_train)
    ((10000, 1, 28, 28), 10000)
    >>> x01, y01 = select_classes(x_train, y_train, (0, 1))
    >>> sorted(set(y01))
    [0, 1]

What this file is for: ``load_mnist`` for the full dataset (60,000 training
and 10,000 test images), found on disk or downloaded once from public
mirrors and verified by SHA-256; ``load_bundled`` for the stratified subset
inside the package (10,000 + 2,000 images, built by
``scripts/build_bundled.py``) so everything works offline; and
``select_classes`` for small binary or few-class problems.

Downloads. When no searched directory holds a split's two files,
``load_mnist`` downloads the original ``.gz`` files (only the missing ones)
into the *first* directory it searches (``root``, else ``$PURENET_DATA``,
else ``~/.cache/purenet``), trying the mirrors in order; each file is
checked against the SHA-256 in ``MNIST_SHA256`` before it is renamed into
place (see ``download.py``), so a partial download never looks complete.
Next to each downloaded file goes a ``<file>.sha256`` line in ``sha256sum``
format: it marks the file as downloaded by purenet. Downloads are disabled
by ``download=False`` or by the environment variable ``PURENET_OFFLINE=1``
(any value but empty, ``0``, ``false``, ``no`` or ``off``); then, as when
every mirror fails, the error names the files, the directories searched and
why nothing was downloaded.

Verification of files already on disk. A file that carries purenet's
``.sha256`` marker is hashed again on every load and must still match the
table: that catches a damaged cache (it is downloaded again, or with
downloads disabled reported). Files without the marker are the user's own
(raw IDX, re-compressed, or some other build of MNIST) and are not hashed;
like every file they go through the strict IDX reader, which rejects
truncated or corrupt files (gzip also checks its own CRC-32).

What it is not: it never looks in the current directory unless ``root``
says so, and never overwrites or mixes with files it did not download. File
parsing lives in ``idx.py``, the image container in ``images.py``, HTTP in
``download.py``.
"""

import os
import tempfile
from importlib import resources
from typing import Callable, List, Optional, Sequence, Tuple, Union

from purenet.datasets.download import DEFAULT_TIMEOUT, download_file, sha256_file
from purenet.datasets.idx import PathLike, read_idx
from purenet.datasets.images import ImageSet
from purenet.errors import DatasetError

__all__ = ["load_mnist", "load_bundled", "select_classes", "MNISTNotFoundError"]

# split -> (images file, labels file), without the optional ".gz".
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The four original files as every mirror serves them: name -> (SHA-256, bytes).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}
# Base URLs tried in order; a file's URL is the base followed by its name.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
DEFAULT_CACHE = os.path.join("~", ".cache", "purenet")
MARKER_SUFFIX = ".sha256"
_NOT_OFFLINE = ("", "0", "false", "no", "off")


def load_mnist(
    split: str,
    root: Optional[PathLike] = None,
    download: bool = True,
    mirrors: Optional[Sequence[str]] = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Optional[Callable[[str, int, Optional[int]], None]] = None,
) -> Tuple[ImageSet, List[int]]:
    """Load the full MNIST ``"train"`` (60,000) or ``"test"`` (10,000) split.

    The two files of the split (``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte``, or ``t10k-...``; raw or ``.gz``) must sit
    in the same directory, the first of: ``root``, ``$PURENET_DATA``,
    ``~/.cache/purenet``. When none holds both, the missing original
    ``.gz`` files are downloaded into the first of those directories
    (unless downloads are disabled), verified by SHA-256 and loaded. Files
    that are found are used as they are: nothing is fetched.

    Args:
        split: ``"train"`` or ``"test"``.
        root: a directory to look in first (relative paths are relative to
            the current directory), and to download into.
        download: allow downloading missing files. The environment variable
            ``PURENET_OFFLINE=1`` disables downloads whatever this says.
        mirrors: base URLs to download from, tried in order (each file's
            URL is a base followed by the file name); default
            ``MNIST_MIRRORS``. Only ``http(s)://`` URLs are fetched.
        timeout: seconds allowed for connecting and for each read.
        progress: called as ``progress(file_name, done_bytes, total_bytes)``
            while a file downloads (e.g. for a progress bar).

    Returns:
        ``(images, labels)``: an ImageSet of shape ``(N, 1, 28, 28)`` and a
        list of N ints in 0..9.

    Raises:
        DatasetError: the files are missing and downloading is disabled or
            failed (the message says which and why), a file downloaded
            earlier by purenet no longer matches its SHA-256 and cannot be
            downloaded again, or the files are malformed or inconsistent.
        ValueError: ``split`` is unknown or ``mirrors`` is empty.
        TypeError: ``mirrors`` is not a sequence of strings.
    """
    images_name, labels_name = _split_files(split)
    bases = _mirror_list(mirrors)
    offline = _offline_reason(download)
    searched = []
    dirs = _search_dirs(root)
    for directory, why in dirs:
        images_path = _find(directory, images_name)
        labels_path = _find(directory, labels_name)
        if images_path and labels_path:
            for path in (images_path, labels_path):
                _check_downloaded(path, offline, bases, timeout, progress)
            return _load_pair(images_path, labels_path)
        lone = images_path or labels_path
        note = f"; holds only {os.path.basename(lone)}" if lone else ""
        searched.append(f"  {directory}  ({why}{note})")

    target = dirs[0][0]
    cause = None
    if offline is None:
        try:
            paths = _download_split(target, (images_name, labels_name), bases, timeout, progress)
        except DatasetError as exc:
            cause = exc
            reason = f"downloading them into {target} failed: {exc}"
        else:
            return _load_pair(*paths)
    else:
        reason = offline
    places = "\n".join(searched)
    raise MNISTNotFoundError(
        split, offline is not None, cause,
        f"MNIST {split!r} files not found: expected {images_name}(.gz) and "
        f"{labels_name}(.gz) together in one of these directories:\n{places}\n"
        f"Received: no directory holding both, and {reason}.\nPut the MNIST IDX files (the "
        f".gz downloads are fine) in {os.path.expanduser(DEFAULT_CACHE)}, or "
        f"set PURENET_DATA or pass root= to their directory. For the "
        f"10,000-image subset shipped with purenet, use "
        f"purenet.datasets.load_bundled({split!r})."
    ) from cause


class MNISTNotFoundError(DatasetError):
    """No directory holds a split's two MNIST files and they could not be downloaded.

    ``split`` names the split, ``offline`` says downloading was disabled;
    otherwise ``cause`` is the error downloading met. The message is the
    full explanation.
    """

    def __init__(self, split: str, offline: bool, cause: Optional[Exception], message: str):
        super().__init__(message)
        self.split, self.offline, self.cause = split, offline, cause


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


def _mirror_list(mirrors: Optional[Union[str, Sequence[str]]]) -> List[str]:
    """The base URLs to try, each ending in "/"."""
    if mirrors is None:
        mirrors = MNIST_MIRRORS
    elif isinstance(mirrors, str):
        mirrors = [mirrors]
    if not isinstance(mirrors, Sequence) or not all(isinstance(m, str) and m for m in mirrors):
        raise TypeError(
            f"load_mnist expected mirrors as a sequence of base-URL strings. Received: {mirrors!r}"
        )
    if not mirrors:
        raise ValueError("load_mnist expected at least one mirror. Received: an empty sequence.")
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _offline_reason(download: bool) -> Optional[str]:
    """Why downloading is disabled, or None when it is allowed."""
    if not download:
        return "downloading is disabled (download=False; pass download=True to fetch them)"
    env = os.environ.get("PURENET_OFFLINE", "")
    if env.strip().lower() not in _NOT_OFFLINE:
        return (
            f"downloading is disabled by PURENET_OFFLINE={env} (unset it, or set it to 0, "
            f"to fetch them)"
        )
    return None


def _named_progress(progress, name: str):
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def _fetch_original(path: str, bases: List[str], timeout: float, progress) -> None:
    """Download the original file named like ``path`` onto ``path``; mark it as ours."""
    name = os.path.basename(path)
    digest, size = MNIST_SHA256[name]
    download_file(
        [base + name for base in bases], path, digest,
        timeout=timeout, progress=_named_progress(progress, name), size=size,
    )
    _write_marker(path, digest)


def _write_marker(path: str, digest: str) -> None:
    """Write ``<path>.sha256`` (sha256sum format) atomically; best effort."""
    marker = path + MARKER_SUFFIX
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(marker), prefix="." + os.path.basename(marker) + ".")
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{digest}  {os.path.basename(path)}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, marker)
    except OSError:  # the data file is complete and verified; the marker only adds re-checks
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _is_ours(path: str) -> bool:
    """Whether ``path`` is an original MNIST file that purenet downloaded."""
    return os.path.basename(path) in MNIST_SHA256 and os.path.isfile(path + MARKER_SUFFIX)


def _check_downloaded(path: str, offline: Optional[str], bases, timeout, progress) -> None:
    """Re-verify a file purenet downloaded; fetch it again (or fail) if it changed."""
    if not _is_ours(path):
        return  # the user's own file: only the IDX reader checks it
    expected = MNIST_SHA256[os.path.basename(path)][0]
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise DatasetError(f"cannot read MNIST file {path}: expected a readable file. Received: {exc}") from exc
    if actual == expected:
        return
    problem = (
        f"MNIST file {path} was downloaded by purenet (see {os.path.basename(path)}{MARKER_SUFFIX}) "
        f"but has changed since: expected SHA-256 {expected}. Received: SHA-256 {actual}"
    )
    if offline is not None:
        raise DatasetError(
            f"{problem}; {offline}. Delete the file to fetch it again, or replace it with the original."
        )
    try:
        _fetch_original(path, bases, timeout, progress)
    except DatasetError as exc:
        raise DatasetError(f"{problem}; downloading it again failed: {exc}") from exc


def _download_split(target: str, names: Sequence[str], bases, timeout, progress) -> List[str]:
    """Complete the pair ``names`` in ``target`` by downloading; return both paths."""
    paths = []
    missing = []
    for name in names:
        existing = _find(target, name)
        if existing is None:
            path = os.path.join(target, name + ".gz")
            paths.append(path)
            missing.append(path)
        elif _is_ours(existing):  # e.g. an earlier download that fetched only this one
            _check_downloaded(existing, None, bases, timeout, progress)
            paths.append(existing)
        else:
            raise DatasetError(
                f"{target} holds {os.path.basename(existing)}, which purenet did not download, "
                f"so it will not pair it with a downloaded file: expected both files of the "
                f"split. Received: only this one (add its partner, or move it away to download both)"
            )
    for path in missing:
        _fetch_original(path, bases, timeout, progress)
    return paths


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
