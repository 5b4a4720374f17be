"""Labelled drawings on disk: IDX files that survive the session, written atomically."""

import os

import pytest

from purenet.app import userdata
from purenet.app.userdata import IMAGES_FILE, LABELS_FILE, Drawings
from purenet.datasets.idx import read_idx, write_idx
from purenet.errors import DatasetError


def picture(level):
    return [level] * 784


def test_nothing_is_created_until_the_first_label(tmp_path):
    folder = tmp_path / "drawings"
    d = Drawings(str(folder))
    assert len(d) == 0 and d.images() == [] and not folder.exists()


def test_add_writes_an_mnist_style_pair_at_once(tmp_path):
    d = Drawings(str(tmp_path))
    x = [i / 783 for i in range(784)]
    d.add(x, 3)
    d.add(picture(1.0), 9)
    dims, pixels = read_idx(tmp_path / IMAGES_FILE)
    ldims, labels = read_idx(tmp_path / LABELS_FILE)
    assert dims == (2, 28, 28) and ldims == (2,) and list(labels) == [3, 9]
    assert pixels[:784] == bytes(int(v * 255 + 0.5) for v in x) and pixels[784:] == b"\xff" * 784
    again = Drawings(str(tmp_path))  # the next session
    assert again.labels == [3, 9]
    assert max(abs(a - b) for a, b in zip(again.image(0), x)) <= 0.5 / 255 + 1e-12
    assert again.counts() == {**{k: 0 for k in range(10)}, 3: 1, 9: 1}
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # no temporary files left


def test_an_image_without_its_label_is_dropped(tmp_path):
    """A crash between the two renames leaves one image too many: the labelled ones survive."""
    d = Drawings(str(tmp_path))
    d.add(picture(0.5), 1)
    write_idx(tmp_path / IMAGES_FILE, (2, 28, 28), bytes([128] * 784 + [255] * 784))
    again = Drawings(str(tmp_path))
    assert again.labels == [1] and len(again.images()) == 1
    again.add(picture(0.0), 2)
    assert read_idx(tmp_path / IMAGES_FILE)[0] == (2, 28, 28)
    assert Drawings(str(tmp_path)).labels == [1, 2]


@pytest.mark.parametrize("case", ["labels alone", "wrong image size", "more labels", "label 10"])
def test_broken_folders_are_reported(tmp_path, case):
    if case != "labels alone":
        n, side = (2, 28) if case != "wrong image size" else (1, 27)
        write_idx(tmp_path / IMAGES_FILE, (n, side, side), bytes(n * side * side))
    labels = {"more labels": [1, 2, 3], "label 10": [1, 10]}.get(case, [1])
    write_idx(tmp_path / LABELS_FILE, (len(labels),), bytes(labels))
    with pytest.raises(DatasetError, match="labelled drawings in"):
        Drawings(str(tmp_path))


@pytest.mark.parametrize("digit", [-1, 10, 1.0, True, "3"])
def test_labels_are_digits(tmp_path, digit):
    with pytest.raises(ValueError, match="digit 0-9"):
        Drawings(str(tmp_path)).add(picture(0.0), digit)


def test_images_are_preprocessed_drawings(tmp_path):
    with pytest.raises(ValueError, match="784 floats"):
        Drawings(str(tmp_path)).add([0.0] * 10, 1)
    with pytest.raises(ValueError, match="784 floats"):
        Drawings(str(tmp_path)).add([2.0] * 784, 1)


def test_a_failed_write_keeps_the_old_state(tmp_path, monkeypatch):
    d = Drawings(str(tmp_path))
    d.add(picture(0.0), 1)
    real, calls = userdata.write_idx, []

    def full_disk(path, dims, payload):  # the images are written, then the disk fills up
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, dims, payload)

    monkeypatch.setattr(userdata, "write_idx", full_disk)
    with pytest.raises(OSError, match="No space"):
        d.add(picture(1.0), 2)
    assert d.labels == [1] and len(d.images()) == 1
    assert Drawings(str(tmp_path)).labels == [1]  # the extra image on disk has no label: dropped


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("PURENET_DRAWINGS", str(tmp_path / "mine"))
    assert userdata.default_folder() == str(tmp_path / "mine")
    monkeypatch.delenv("PURENET_DRAWINGS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert userdata.default_folder() == os.path.join(str(tmp_path / "xdg"), "purenet", "drawings")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert userdata.default_folder() == os.path.join(str(tmp_path / "home"), ".local", "share", "purenet", "drawings")
