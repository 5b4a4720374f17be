"""Tests for ImageSet, load_mnist, load_bundled and select_classes."""

import doctest
import os
import random
from collections import Counter

import pytest

import purenet.datasets
from purenet.datasets import (
    ImageSet,
    load_bundled,
    load_mnist,
    read_idx,
    select_classes,
    write_idx,
)
from purenet.datasets import idx, images, mnist
from purenet.errors import DatasetError
from purenet.matrix import Matrix

# The full MNIST files of the development machines, next to the repository.
MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
# CI lays shared/ beside the clone, so there a missing directory is a failure, not a skip.
needs_full_mnist = pytest.mark.skipif(
    not os.path.isdir(MNIST_DIR) and os.environ.get("CI") != "true",
    reason=f"full MNIST files not found in {MNIST_DIR}",
)


def random_bytes(n, seed=0):
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(n))


# --- ImageSet ----------------------------------------------------------------


@pytest.fixture
def five():
    """5 images of shape (2, 3, 2): 12 bytes each, image k starts with byte 12*k."""
    return ImageSet(bytes(range(60)), image_shape=(2, 3, 2))


def test_imageset_shapes_and_repr(five):
    assert len(five) == 5
    assert five.image_shape == (2, 3, 2)
    assert five.shape == (5, 2, 3, 2)
    assert five.data == bytes(range(60))
    assert repr(five) == "ImageSet(n=5, image_shape=(2, 3, 2))"
    assert ImageSet(bytes(784 * 3)).shape == (3, 1, 28, 28)  # MNIST default
    assert len(ImageSet(b"")) == 0


def test_imageset_getitem_gives_floats_in_unit_range():
    data = bytes([0, 1, 127, 128, 254, 255])
    item = ImageSet(data, image_shape=(1, 2, 3))[0]
    assert item == [b / 255 for b in data]
    assert all(type(v) is float for v in item)
    assert item[0] == 0.0 and item[-1] == 1.0


def test_imageset_int_indexing(five):
    assert five.pixels(0) == bytes(range(12))
    assert five.pixels(4) == bytes(range(48, 60))
    assert five.pixels(-1) == five.pixels(4)
    assert five[-5] == five[0] == [b / 255 for b in range(12)]
    for bad in (5, -6, 100):
        with pytest.raises(IndexError, match="Received"):
            five[bad]
        with pytest.raises(IndexError):
            five.pixels(bad)
    with pytest.raises(TypeError, match="integers or slices"):
        five[1.0]


def test_imageset_slicing(five):
    middle = five[1:3]
    assert isinstance(middle, ImageSet)
    assert middle.shape == (2, 2, 3, 2)
    assert middle.data == bytes(range(12, 36))
    assert five[3:].data == bytes(range(36, 60))
    assert five[-2:].data == five[3:].data
    assert five[:100].data == five.data
    assert len(five[4:2]) == 0 and five[4:2].image_shape == (2, 3, 2)
    assert [five[::2].pixels(i) for i in range(3)] == [five.pixels(i) for i in (0, 2, 4)]
    assert [five[::-1].pixels(i) for i in range(5)] == [five.pixels(i) for i in (4, 3, 2, 1, 0)]


def test_imageset_take(five):
    taken = five.take([3, 0, 3])
    assert taken.shape == (3, 2, 3, 2)
    assert [taken.pixels(i) for i in range(3)] == [five.pixels(3), five.pixels(0), five.pixels(3)]
    assert five.take(range(5)).data == five.data
    assert five.take(iter([4])).data == five.pixels(4)
    assert len(five.take([])) == 0
    with pytest.raises(IndexError, match="expected 0 <= index < 5. Received: -1"):
        five.take([0, -1])
    with pytest.raises(IndexError, match="Received: 5"):
        five.take([5])
    with pytest.raises(TypeError):
        five.take([0.5])


def test_imageset_iterates_float_images(five):
    assert list(five) == [five[i] for i in range(5)]


@pytest.mark.parametrize(
    "data, shape, error, text",
    [
        (bytes(10), (1, 2, 2), ValueError, "multiple of 4 bytes"),
        (bytes(8), (2, 2), ValueError, "three positive ints"),
        (bytes(8), (1, 0, 2), ValueError, "three positive ints"),
        (bytes(8), (1, 2.0, 2), ValueError, "three positive ints"),
        ([0, 0, 0, 0], (1, 2, 2), TypeError, "bytes"),
        ("abcd", (1, 2, 2), TypeError, "bytes"),
    ],
)
def test_imageset_rejects_bad_construction(data, shape, error, text):
    with pytest.raises(error, match=text) as info:
        ImageSet(data, image_shape=shape)
    assert "Received" in str(info.value)


def test_imageset_accepts_bytearray_and_memoryview():
    data = bytearray(range(8))
    assert ImageSet(data, (1, 2, 2)).data == bytes(range(8))
    assert ImageSet(memoryview(bytes(range(8))), (2, 1, 2)).pixels(1) == bytes(range(4, 8))


def test_to_matrix_values_and_shape():
    data = random_bytes(3 * 2 * 4 * 4)
    m = ImageSet(data, image_shape=(2, 4, 4)).to_matrix()
    assert isinstance(m, Matrix)
    assert m.shape == (3, 32)
    assert m.data == [b / 255 for b in data]
    assert ImageSet(data, (2, 4, 4))[1:2].to_matrix().data == [b / 255 for b in data[32:64]]


# --- load_mnist ---------------------------------------------------------------


def write_fake_mnist(directory, split, n, seed=0, compress=True, label_values=None, hw=(28, 28)):
    images_name, labels_name = mnist.MNIST_FILES[split]
    suffix = ".gz" if compress else ""
    pixels = random_bytes(n * hw[0] * hw[1], seed)
    labels = bytes(label_values if label_values is not None else [i % 10 for i in range(n)])
    os.makedirs(directory, exist_ok=True)
    write_idx(os.path.join(directory, images_name + suffix), (n,) + hw, pixels)
    write_idx(os.path.join(directory, labels_name + suffix), (len(labels),), labels)
    return pixels, list(labels)


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No $PURENET_DATA, a HOME (so ~/.cache/purenet) inside tmp_path, and no
    downloads: load_mnist downloads missing files by default, and these tests
    must never reach the network (test_download.py covers downloading)."""
    monkeypatch.delenv("PURENET_DATA", raising=False)
    monkeypatch.setenv("PURENET_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_from_root(no_env, compress):
    root = no_env / "data"
    pixels, labels = write_fake_mnist(root, "train", 12, compress=compress)
    write_fake_mnist(root, "test", 5, seed=1, compress=compress)
    x, y = load_mnist("train", root=root)
    assert isinstance(x, ImageSet) and x.shape == (12, 1, 28, 28)
    assert x.data == pixels and y == labels
    assert all(type(v) is int for v in y)
    x_test, y_test = load_mnist("test", root=str(root))
    assert x_test.shape == (5, 1, 28, 28) and y_test == [0, 1, 2, 3, 4]
    assert x_test.data == random_bytes(5 * 784, 1)


def test_load_mnist_from_env(no_env, monkeypatch):
    pixels, labels = write_fake_mnist(no_env / "env", "test", 7)
    monkeypatch.setenv("PURENET_DATA", str(no_env / "env"))
    x, y = load_mnist("test")
    assert x.data == pixels and y == labels


def test_load_mnist_from_home_cache(no_env):
    pixels, _ = write_fake_mnist(no_env / "home" / ".cache" / "purenet", "test", 3)
    x, _ = load_mnist("test")
    assert x.data == pixels


def test_load_mnist_search_order(no_env, monkeypatch):
    root_pixels, _ = write_fake_mnist(no_env / "root", "test", 2, seed=1)
    env_pixels, _ = write_fake_mnist(no_env / "env", "test", 2, seed=2)
    write_fake_mnist(no_env / "home" / ".cache" / "purenet", "test", 2, seed=3)
    monkeypatch.setenv("PURENET_DATA", str(no_env / "env"))
    assert load_mnist("test", root=no_env / "root")[0].data == root_pixels
    assert load_mnist("test")[0].data == env_pixels  # env before the cache
    assert load_mnist("test", root=no_env / "empty")[0].data == env_pixels


def test_load_mnist_needs_both_files_in_one_directory(no_env, monkeypatch):
    write_fake_mnist(no_env / "root", "test", 2)
    os.remove(no_env / "root" / "t10k-labels-idx1-ubyte.gz")
    pixels, _ = write_fake_mnist(no_env / "env", "test", 2, seed=5)
    monkeypatch.setenv("PURENET_DATA", str(no_env / "env"))
    assert load_mnist("test", root=no_env / "root")[0].data == pixels


def test_load_mnist_ignores_the_current_directory(no_env, monkeypatch):
    write_fake_mnist(no_env / "cwd", "test", 2)
    monkeypatch.chdir(no_env / "cwd")
    with pytest.raises(DatasetError, match="not found"):
        load_mnist("test")
    assert len(load_mnist("test", root=".")[0]) == 2  # unless root says so


def test_load_mnist_missing_files_message(no_env, monkeypatch):
    write_fake_mnist(no_env / "root", "train", 2)
    os.remove(no_env / "root" / "train-labels-idx1-ubyte.gz")
    monkeypatch.setenv("PURENET_DATA", str(no_env / "env"))
    with pytest.raises(DatasetError) as info:
        load_mnist("train", root=no_env / "root")
    message = str(info.value)
    assert "train-images-idx3-ubyte(.gz)" in message
    assert "train-labels-idx1-ubyte(.gz)" in message
    assert f"{no_env / 'root'}  (root; holds only train-images-idx3-ubyte.gz)" in message
    assert f"{no_env / 'env'}  ($PURENET_DATA)" in message
    cache = str(no_env / "home" / ".cache" / "purenet")
    assert f"{cache}  (default cache)" in message
    assert f"Put the MNIST IDX files (the .gz downloads are fine) in {cache}" in message
    assert "load_bundled('train')" in message


def test_load_mnist_rejects_bad_split(no_env):
    with pytest.raises(ValueError, match="expected split \"train\" or \"test\". Received: 'validation'"):
        load_mnist("validation", root=no_env)


def test_load_mnist_count_mismatch(no_env):
    write_fake_mnist(no_env, "test", 4, label_values=[1, 2, 3])
    with pytest.raises(DatasetError, match="Received: 4 images and 3 labels"):
        load_mnist("test", root=no_env)


def test_load_mnist_label_out_of_range(no_env):
    write_fake_mnist(no_env, "test", 3, label_values=[1, 10, 2])
    with pytest.raises(DatasetError, match="expected labels in 0..9. Received: 10 at index 1"):
        load_mnist("test", root=no_env)


@pytest.mark.parametrize("hw", [(28, 27), (32, 32)])
def test_load_mnist_image_dims(no_env, hw):
    write_fake_mnist(no_env, "test", 2, hw=hw)
    with pytest.raises(DatasetError, match=r"expected dims \(N, 28, 28\)"):
        load_mnist("test", root=no_env)


def test_load_mnist_propagates_idx_errors(no_env):
    write_fake_mnist(no_env, "test", 2)
    path = no_env / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist("test", root=no_env)


# --- load_bundled ---------------------------------------------------------------


@pytest.fixture(scope="module")
def full_mnist():
    """Full MNIST pixels, keyed by image content -> indices, with labels."""
    result = {}
    for split in ("train", "test"):
        images_name, labels_name = mnist.MNIST_FILES[split]
        dims, pixels = read_idx(os.path.join(MNIST_DIR, images_name + ".gz"))
        _, labels = read_idx(os.path.join(MNIST_DIR, labels_name + ".gz"))
        where = {}
        for i in range(dims[0]):
            where.setdefault(pixels[i * 784 : (i + 1) * 784], []).append(i)
        result[split] = (where, labels)
    return result


@pytest.mark.parametrize("split, n, per_class", [("train", 10000, 1000), ("test", 2000, 200)])
def test_load_bundled_is_stratified(split, n, per_class):
    x, y = load_bundled(split)
    assert x.shape == (n, 1, 28, 28) and len(y) == n
    assert Counter(y) == {c: per_class for c in range(10)}
    assert len(set(x.pixels(k) for k in range(0, n, 7))) > n // 7 - 5  # real, distinct images


@needs_full_mnist
@pytest.mark.parametrize("split", ["train", "test"])
def test_bundled_images_come_from_the_full_files_in_order(full_mnist, split):
    x, y = load_bundled(split)
    # Every bundled image is an image of the full file with the same label,
    # and they appear in the full file's order.
    where, full_labels = full_mnist[split]
    previous = -1
    for k in range(len(x)):
        candidates = [i for i in where.get(x.pixels(k), ()) if i > previous]
        assert candidates, f"bundled {split} image {k} is not in the full file after index {previous}"
        previous = candidates[0]
        assert full_labels[previous] == y[k]


def test_load_bundled_rejects_bad_split():
    with pytest.raises(ValueError, match="Received: 'valid'"):
        load_bundled("valid")


def test_bundled_files_are_small():
    bundled = os.path.join(os.path.dirname(mnist.__file__), "bundled")
    total = sum(os.path.getsize(os.path.join(bundled, f)) for f in os.listdir(bundled))
    assert total < 3 * 2**20


# --- select_classes -------------------------------------------------------------


@pytest.fixture
def ten():
    """10 one-pixel images whose pixel value is 10 * label; labels 0..4 twice."""
    labels = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
    return ImageSet(bytes(10 * y for y in labels), image_shape=(1, 1, 1)), labels


def test_select_classes_keeps_order_and_remaps(ten):
    x, y = ten
    x01, y01 = select_classes(x, y, (0, 1))
    assert y01 == [0, 1, 1, 0]
    assert x01.data == bytes([0, 10, 10, 0])
    x37, y37 = select_classes(x, y, [3, 2])
    assert y37 == [1, 0, 0, 1]  # 3 -> 0, 2 -> 1, in the order given
    assert x37.data == bytes([20, 30, 30, 20])
    assert x37.image_shape == (1, 1, 1)
    assert select_classes(x, y, (4,))[1] == [0, 0]


def test_select_classes_on_bundled():
    x, y = load_bundled("test")
    x37, y37 = select_classes(x, y, (3, 7))
    assert len(x37) == 400 and Counter(y37) == {0: 200, 1: 200}
    originals = [i for i, label in enumerate(y) if label in (3, 7)]
    assert x37.pixels(0) == x.pixels(originals[0])
    assert y37[0] == (0 if y[originals[0]] == 3 else 1)
    assert x37.data == x.take(originals).data


@pytest.mark.parametrize(
    "classes, error, text",
    [
        ((), ValueError, "non-empty"),
        ((1, 1), ValueError, "distinct"),
        ((1, 9), ValueError, r"no samples of \[9\]"),
        (3, TypeError, "sequence of ints"),
        ("01", TypeError, "sequence of ints"),
        ((0, 1.0), TypeError, "sequence of ints"),
    ],
)
def test_select_classes_validates_classes(ten, classes, error, text):
    x, y = ten
    with pytest.raises(error, match=text) as info:
        select_classes(x, y, classes)
    assert "Received" in str(info.value)


def test_select_classes_validates_inputs(ten):
    x, y = ten
    with pytest.raises(ValueError, match="Received: 10 images and 9 labels"):
        select_classes(x, y[:-1], (0, 1))
    with pytest.raises(TypeError, match="ImageSet. Received: list"):
        select_classes([[0.0]] * 10, y, (0, 1))


# --- the package surface ---------------------------------------------------------


def test_public_api():
    assert sorted(purenet.datasets.__all__) == [
        "ImageSet", "MNISTNotFoundError", "load_bundled", "load_mnist", "read_idx", "select_classes", "write_idx",
    ]
    for name in purenet.datasets.__all__:
        assert getattr(purenet.datasets, name).__doc__


@pytest.mark.parametrize("module", [purenet.datasets, idx, images, mnist])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
