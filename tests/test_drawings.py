"""The synthetic mouse drawings of scripts/drawings.py, and a small seeded accuracy check.

The reported figure (1,000 held-out drawings) is measured by
scripts/eval_drawings.py, not here; this checks that the generator makes
valid, varied, reproducible drawings and that a small sample of them,
through the app's own canvas path, is mostly read right by the shipped model.
"""

import math
import os
import sys

import pytest

import purenet as pn
from purenet.app.strokes import to_input
from purenet.matrix import Matrix

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import drawings  # noqa: E402
import train_pretrained  # noqa: E402

MODEL = os.path.join(os.path.dirname(pn.__file__), "models", "lenet-mnist.safetensors")


def bounds(d):
    xs = [x for s in d.strokes for x, _ in s]
    ys = [y for s in d.strokes for _, y in s]
    return min(xs), min(ys), max(xs), max(ys)


def test_every_digit_has_templates_in_both_splits():
    for split in ("dev", "held_out"):
        by_digit = drawings.templates(split)
        assert all(by_digit[d] for d in range(10)), split
    names = [(t.digit, t.name) for t in drawings.TEMPLATES]
    assert len(names) == len(set(names))
    assert {t.split for t in drawings.TEMPLATES} == {"dev", "held_out"}


def test_templates_are_pen_paths_in_the_unit_box():
    for t in drawings.TEMPLATES:
        assert t.strokes and all(len(s) >= 2 for s in t.strokes), t.name
        for s in t.strokes:
            gaps = [math.dist(a, b) for a, b in zip(s, s[1:])]
            assert max(gaps) < 0.05, (t.digit, t.name)  # one pen-down path, no jumps
            assert all(-0.35 < x < 0.8 and -0.1 < y < 1.1 for x, y in s), (t.digit, t.name)


def test_drawings_are_valid_mouse_recordings():
    items = list(drawings.generate(200, seed=5))
    assert [d.digit for d in items] == [i % 10 for i in range(200)]
    heights = []
    for d in items:
        assert d.strokes and all(d.strokes)
        assert all(type(x) is int and type(y) is int for s in d.strokes for x, y in s)
        assert all(a != b for s in d.strokes for a, b in zip(s, s[1:]))  # the pointer moved
        x0, y0, x1, y1 = bounds(d)
        assert 0 <= x0 and 0 <= y0 and x1 < d.width and y1 < d.height
        assert 6.0 <= d.pen_width <= 30.0
        heights.append(max(x1 - x0, y1 - y0))
    assert min(heights) < 60 and max(heights) > 200  # small to canvas-filling
    assert len({d.template for d in items}) > 20


def test_generation_is_seeded():
    a = list(drawings.generate(20, seed=3, split="held_out"))
    b = list(drawings.generate(20, seed=3, split="held_out"))
    c = list(drawings.generate(20, seed=4, split="held_out"))
    assert a == b and a != c
    assert all(d.template in {t.name for t in drawings.templates("held_out")[d.digit]} for d in a)


def test_no_dev_template_copies_a_held_out_one():
    held_out = [t.strokes for t in drawings.TEMPLATES if t.split == "held_out"]
    for t in drawings.TEMPLATES:
        if t.split == "dev":
            assert t.strokes not in held_out, (t.digit, t.name)


def test_training_drawings_are_dev_drawings_through_to_input_as_bytes():
    # what scripts/train_pretrained.py --drawings appends to MNIST each epoch
    x, y = pn.datasets.load_bundled("test")
    x, y = x[:3], y[:3]
    xe, ye = train_pretrained.with_drawings(x, y, 20, seed=9)
    assert len(xe) == 23 and ye[:3] == y and ye[3:] == [i % 10 for i in range(20)]
    assert xe.data[: 3 * 784] == x.data
    expected = list(drawings.generate(20, seed=9, split="dev"))
    for k in (0, 7, 19):
        d = expected[k]
        pixels = [round(v * 255) for v in to_input(d.strokes, d.width, d.height, d.pen_width)]
        assert list(xe.pixels(3 + k)) == pixels
    assert train_pretrained.with_drawings(x, y, 20, seed=9)[0].data == xe.data
    assert train_pretrained.with_drawings(x, y, 20, seed=10)[0].data != xe.data
    assert train_pretrained.with_drawings(x, y, 0, seed=9) == (x, y)


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        drawings.templates("test")


def read_by_shipped_model(items):
    """What the shipped model reads in each drawing, through the app's canvas path; and how many are right."""
    flat = []
    for d in items:
        flat.extend(to_input(d.strokes, d.width, d.height, d.pen_width))
    predicted = pn.load(MODEL).predict_classes(Matrix.from_flat(flat, len(items), 28 * 28))
    return predicted, sum(p == d.digit for p, d in zip(predicted, items))


def test_shipped_model_reads_a_sample_of_held_out_drawings():
    items = list(drawings.generate(100, seed=77, split="held_out"))
    predicted, correct = read_by_shipped_model(items)
    # the full figure is 99.5% (docs/drawing-accuracy.md); 95 leaves room for a
    # sample of 100 and still fails if the canvas path or the model goes wrong
    # (without the pen-width clamp of strokes.to_input the model reads ~85%)
    assert correct >= 95, [(d.digit, d.template, p) for p, d in zip(predicted, items) if p != d.digit]


def test_shipped_model_reads_a_sample_of_the_independent_handwriting():
    import handwriting  # scripts/handwriting.py: written blind to drawings.py and to any model

    items = list(handwriting.generate(200, seed=5))
    predicted, correct = read_by_shipped_model(items)
    # the reported figure is 2000/2000 (docs/drawing-accuracy.md; a NumPy MLP
    # trained on MNIST reads 98.65%): 198 of 200 is the 99% on a sample,
    # and fails if the canvas path or the shipped model get worse
    assert correct >= 198, [(d.digit, d.style, p) for p, d in zip(predicted, items) if p != d.digit]


def test_train_pretrained_trains_through_fit_with_fresh_drawings_each_epoch(tmp_path, capsys):
    """scripts/train_pretrained.py in small: MNIST + drawings redrawn before every epoch,
    the model saved after each, with its history."""
    from purenet.datasets import write_idx

    x, y = pn.datasets.load_bundled("train")
    for prefix, n in (("train", 20), ("t10k", 10)):
        write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte"), (n, 28, 28), x[:n].data)
        write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte"), (n,), bytes(y[:n]))
    images = train_pretrained.EpochImages(x[:20], 20, seed=0, spread=1.0)
    first = images.current.data
    images.redraw(2)
    assert images.current.data[: 20 * 784] == first[: 20 * 784] and images.current.data != first
    out = str(tmp_path / "model.safetensors")
    assert train_pretrained.main(["--data", str(tmp_path), "--epochs", "2", "--drawings", "0.5", "--out", out]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert "20 + 20 drawn" in lines[0] and "lr 0.0450" in lines[1]  # 0.05 x 0.9 in the second epoch
    history = pn.load(out).history
    assert all(len(history[k]) == 2 for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
