"""The rejection model ("not a digit") on small seeded sets of things it was not trained on.

Photos of non-digits and letters are drawn here by ``scripts/photos.py`` in
pure Python (small, seeded, with seeds that made none of its training
examples); the full measured sets are in docs/photos.md.
"""

import os
import random
import sys

import pytest

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
    assert os.path.getsize(REJECTOR_MODEL) < 300 * 1024


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
