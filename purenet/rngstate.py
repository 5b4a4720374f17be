"""A ``random.Random`` state as JSON and back, without pickle.

A run is reproducible only if its generators are saved with it: the
model's (shuffling), each Dropout's (masks) and ``purenet train``'s
augmentation generator. Checkpoints store them in their JSON metadata, and
the parallel workers (:mod:`purenet.parallel`) receive the Dropout states
the same way. ``getstate()`` is ``(version, 625 ints, gauss_next)``; its JSON
form is the list ``[version, [625 ints], gauss_next]``.

    >>> import random
    >>> rng = random.Random(7)
    >>> state = from_json(to_json(rng.getstate()))
    >>> random.Random(0).setstate(state) is None and state == rng.getstate()
    True
"""

import random
from typing import List, Tuple

from .io.safetensors import short_repr

__all__ = ["EXPECTED", "layers_with_rng", "to_json", "from_json"]

#: What :func:`from_json` accepts, for error messages.
EXPECTED = "[version, [625 ints], gauss_next] (a random.Random state)"


def layers_with_rng(model) -> List[Tuple[int, object]]:
    """``(index, layer)`` for each of ``model``'s layers with its own generator (Dropout)."""
    return [(i, layer) for i, layer in enumerate(model.layers) if isinstance(getattr(layer, "rng", None), random.Random)]


def to_json(state, name: str = "rng_state") -> list:
    """``random.Random().getstate()`` as a JSON-able list; ValueError (naming ``name``) for anything else."""
    try:
        version, internal, gauss = state
        ok = (
            isinstance(version, int)
            and all(isinstance(x, int) for x in internal)
            and (gauss is None or isinstance(gauss, float))
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a random.Random().getstate() tuple; Received: {short_repr(state)}.")
    return [version, list(internal), gauss]


def from_json(value) -> tuple:
    """The state :func:`to_json` wrote, checked by a throwaway generator.

    Raises:
        ValueError: ``value`` is not such a state; the message says what came.
    """
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(short_repr(value))
    version, internal, gauss = value
    if (
        type(version) is not int
        or not isinstance(internal, list)
        or len(internal) != 625
        or not all(type(x) is int and 0 <= x < 2 ** 32 for x in internal)
        or not (gauss is None or type(gauss) is float)
    ):
        raise ValueError(short_repr(value))
    state = (version, tuple(internal), gauss)
    try:
        random.Random(0).setstate(state)
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(f"a state random.Random rejects ({short_repr(str(e))})") from None
    return state

