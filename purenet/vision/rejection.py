"""Is it a digit at all? A small second network that says "not a digit" when the digit model cannot.

    >>> import purenet as pn
    >>> blot = [0.0] * 784
    >>> for y in range(6, 22):
    ...     for x in range(6, 22):
    ...         blot[y * 28 + x] = 1.0                   # a filled square: no digit
    >>> not_digit_probability([blot])[0] > 0.5
    True

A classifier of the ten digits has no answer "none of these": its softmax
shares all the probability among the ten, so a scribble or a letter X can
come out as an 8 at 99.99%, and its confidence does not separate digits
from the rest. The rejection model (``models/digit-or-not.safetensors``,
trained by ``scripts/train_rejector.py``) looks at the same 28 x 28 input
and gives the probability that it is no digit. It learnt from MNIST
training digits, mouse drawings and photographed digits against drawn and
photographed scribbles, loops, spirals, zigzags, letters and signs, blots,
dots, dashes, hatching and pairs of touching digits, each as
:func:`purenet.preprocess` gives it. It has the shipped LeNet's shape at
twice its width (two 3 x 3 conv layers of 16 and 32 filters, a dense layer
of 128; 107,586 parameters): a few times the LeNet's work per input, small
beside reading a photo.

:func:`is_digit` and the apps use ``THRESHOLD`` (0.9): an input is no digit
when that probability is above it. An empty picture (no ink) is not a
digit either, but it never gets here: :func:`purenet.preprocess` returns None.
"""

import os
from typing import Dict, List, Optional, Sequence

from ..matrix import Matrix

__all__ = ["THRESHOLD", "REJECTOR_MODEL", "build_rejector", "default_rejector", "not_digit_probability", "is_digit"]

THRESHOLD = 0.9  # chosen on examples kept out of training (docs/photos.md)
#: The shipped rejection model.
REJECTOR_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models",
                              "digit-or-not.safetensors")

_LOADED: Dict[str, object] = {}


def build_rejector(seed: int = 0):
    """The rejection model's architecture (untrained): 28 x 28 in, ``[digit, not digit]`` out.

    Shape:
        input ``(N, 1, 28, 28)`` (or ``(N, 784)``), output ``(N, 2)``.
    """
    from ..layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax
    from ..model import Sequential

    return Sequential([
        Conv2D(16, 3), ReLU(), MaxPool2D(2),
        Conv2D(32, 3), ReLU(), MaxPool2D(2),
        Flatten(), Dense(128), ReLU(), Dense(2), Softmax(),
    ], input_shape=(1, 28, 28), seed=seed)


def default_rejector():
    """The shipped rejection model (loaded once, on first use)."""
    if REJECTOR_MODEL not in _LOADED:
        from ..io.modelfile import load_model

        _LOADED[REJECTOR_MODEL] = load_model(REJECTOR_MODEL)
    return _LOADED[REJECTOR_MODEL]


def not_digit_probability(inputs: Sequence[Sequence[float]], probs=None, rejector=None) -> List[float]:
    """For each 28 x 28 input (784 floats, as :func:`purenet.preprocess` gives), the probability
    that it is no digit.

    Args:
        inputs: MNIST-style inputs.
        probs: the digit model's probabilities for them (unused by the shipped
            rejection model; kept so that a rule may use both).
        rejector: a model with two outputs ``[digit, not digit]`` (default: the shipped one).

    Shape:
        ``(N, 784)`` -> ``(N,)``.
    """
    if not inputs:
        return []
    for x in inputs:
        if len(x) != 784:
            raise ValueError(f"not_digit_probability expects 784 values per input (28 x 28). Received: {len(x)}")
    model = rejector if rejector is not None else default_rejector()
    out = model.predict(Matrix.from_flat([v for x in inputs for v in x], len(inputs), 784))  # (N, 2)
    return [out.data[2 * i + 1] for i in range(len(inputs))]


def is_digit(x: Optional[Sequence[float]], rejector=None) -> bool:
    """False for no ink (None) or an input the rejection model takes for no digit."""
    return x is not None and not_digit_probability([x], rejector=rejector)[0] <= THRESHOLD
