"""The rejection model ("not a digit") on small seeded sets of things it was not trained on.

Photos of non-digits and letters are drawn here by ``scripts/photos.py`` in
pure Python (small, seeded, with seeds that made none of its training
examples); the full measured sets are in docs/photos.md.
"""

import os
import random
import sys

import pytest
from conftest import require

import purenet as pn
from purenet.datasets import load_bundled
from purenet.io.image import Image
from purenet.vision.rejection import REJECTOR_MODEL, THRESHOLD, build_rejector, is_digit, not_digit_probability

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import photos  # noqa: E402  scripts/photos.py


def picture(kind, rng, width=160):
    """One photo of ``scripts/photos.py`` as purenet reads it, and what it shows."""
    record, pixels, w, h = photos.make(kind, rng, None, width)
    return Image(w, h, 3, pixels), record["source"]


def test_the_shipped_file_is_build_rejector():
    shipped = pn.load(REJECTOR_MODEL)
    fresh = build_rejector()
    assert [name for name, _ in shipped.named_parameters()] == [name for name, _ in fresh.named_parameters()]
    assert [len(p.data) for _, p in shipped.named_parameters()] == [len(p.data) for _, p in fresh.named_parameters()]
    assert os.path.getsize(REJECTOR_MODEL) < 600 * 1024


def test_photographed_non_digits_are_mostly_flagged():
    rng = random.Random(123)
    verdicts = []
    for _ in range(16):
        image, what = picture("nondigit", rng)
        x = pn.preprocess(image)
        verdicts.append((what, not is_digit(x)))  # no ink at all (an empty page) is no digit either
    flagged = sum(v for _, v in verdicts)
    assert flagged >= 10, verdicts  # pictures 160 px wide; the rate on 300 photos is in docs/photos.md


def test_letters_are_not_digits():
    rng = random.Random(5)
    inputs = []
    for name in sorted(photos.LETTERS):
        for _ in range(3):
            glyph = photos.letter_glyph(name, rng)
            inputs.append(pn.preprocess([glyph.values[y * glyph.w : (y + 1) * glyph.w] for y in range(glyph.h)],
                                        invert=False))
    p = not_digit_probability(inputs)
    assert sum(v > THRESHOLD for v in p) >= 0.85 * len(inputs)


def test_digits_mostly_pass():
    images, _ = load_bundled("test")
    flagged = sum(p > THRESHOLD for p in not_digit_probability([images[i] for i in range(1000)]))
    assert flagged <= 15  # 1.5% of 1,000; the rate on the full MNIST test set is in docs/photos.md


def test_photographed_digits_mostly_pass():
    images, labels = load_bundled("test")
    rng = random.Random(321)
    sources = photos.Sources(321, (images, labels))
    inputs = []
    for _ in range(12):
        record, pixels, w, h = photos.make("digit", rng, sources, 160)
        inputs.append(pn.preprocess(Image(w, h, 3, pixels)))
    assert all(x is not None for x in inputs)
    assert sum(not is_digit(x) for x in inputs) <= 1


@pytest.mark.parametrize("bad", [[0.0] * 783, [0.0] * 785])
def test_inputs_must_be_28_by_28(bad):
    with pytest.raises(ValueError, match="784"):
        not_digit_probability([bad])


def test_rejector_photos_gives_what_predict_gives_the_rejection_model(tmp_path):
    """``scripts/rejector_photos.py``: JPEG photos, then the exact inputs ``pn.preprocess`` makes of them."""
    require("PIL.Image")
    require("numpy")
    import array
    import json

    import rejector_photos
    from eval_photos import read

    folder = str(tmp_path)
    records = rejector_photos.generate(folder, 6, seed=99, max_width=240, mnist=load_bundled("train"))
    assert [r["kind"] for r in records] == ["digit", "nondigit"] * 3
    assert all(r["file"].endswith(".jpg") and os.path.isfile(os.path.join(folder, r["file"])) for r in records)
    kept = rejector_photos.inputs(folder)
    with open(os.path.join(folder, "inputs.json")) as f:
        labels = json.load(f)
    values = array.array("f")
    with open(os.path.join(folder, "inputs.f32"), "rb") as f:
        values.frombytes(f.read())
    assert len(labels) == kept and len(values) == 784 * kept
    expected = [pn.preprocess(read(os.path.join(folder, r["file"]))) for r in records]
    assert kept == sum(x is not None for x in expected) >= 3  # every digit has ink; an empty page has none
    expected = [(x, r) for x, r in zip(expected, records) if x is not None]
    assert [k["label"] for k in labels] == [0 if r["kind"] == "digit" else 1 for _, r in expected]
    for i, (x, _) in enumerate(expected):
        assert list(values[784 * i : 784 * (i + 1)]) == pytest.approx(x, abs=1e-6)  # float32 of the same input
