"""Weight initialisers: He (for ReLU networks) and Glorot (for tanh/sigmoid).

Each initialiser takes the fan-in, the fan-out, the number of values to draw
and a ``random.Random``; all randomness comes from that object, never from
the global ``random`` state. Layers name their initialiser by a string
looked up in :data:`INITIALIZERS`, so a saved config never refers to code.
"""

import math
import random
from typing import Callable, Dict, List

__all__ = ["he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "zeros", "INITIALIZERS", "get"]


def he_uniform(fan_in: int, fan_out: int, n: int, rng: random.Random) -> List[float]:
    """U(-b, b) with b = sqrt(6 / fan_in): keeps ReLU activations' variance steady."""
    b = math.sqrt(6.0 / fan_in)
    return [rng.uniform(-b, b) for _ in range(n)]


def he_normal(fan_in: int, fan_out: int, n: int, rng: random.Random) -> List[float]:
    """N(0, 2 / fan_in)."""
    s = math.sqrt(2.0 / fan_in)
    return [rng.gauss(0.0, s) for _ in range(n)]


def glorot_uniform(fan_in: int, fan_out: int, n: int, rng: random.Random) -> List[float]:
    """U(-b, b) with b = sqrt(6 / (fan_in + fan_out))."""
    b = math.sqrt(6.0 / (fan_in + fan_out))
    return [rng.uniform(-b, b) for _ in range(n)]


def glorot_normal(fan_in: int, fan_out: int, n: int, rng: random.Random) -> List[float]:
    """N(0, 2 / (fan_in + fan_out))."""
    s = math.sqrt(2.0 / (fan_in + fan_out))
    return [rng.gauss(0.0, s) for _ in range(n)]


def zeros(fan_in: int, fan_out: int, n: int, rng: random.Random) -> List[float]:
    return [0.0] * n


INITIALIZERS: Dict[str, Callable[..., List[float]]] = {
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "zeros": zeros,
}


def get(name: str) -> Callable[..., List[float]]:
    """The initialiser called ``name``; unknown names raise ``ValueError``."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initializer: expected one of {sorted(INITIALIZERS)}; Received: {name!r}.") from None
