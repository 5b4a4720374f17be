"""Numbers to colours for the app's small pictures, as the text Tk's ``PhotoImage.put`` takes.

    >>> photo_data([0.0, 1.0, 0.5, 0.25], 2, 2, gray)
    '{#000000 #ffffff} {#808080 #404040}'
    >>> GRAY(0.5) == gray(0.5)                  # the same colours from a table of 256
    True
    >>> diverging(-1.0), diverging(0.0), diverging(1.0)
    ('#2166ac', '#f7f7f7', '#b2182b')

The window shows three kinds of picture: the 28x28 input (gray: ink
white on black, exactly what the network gets), the first conv layer's
kernels (:func:`diverging`: negative weights blue, positive red, zero
white) and the feature maps (:func:`heat`: dark to bright, a map's value
relative to the strongest response in the whole layer). The pictures are
built at their true size and enlarged by Tk (``copy -zoom``), so the text
here stays small: one colour per pixel. No Tk in this module.
"""

from typing import Callable, List, Sequence, Tuple

__all__ = ["photo_data", "Palette", "gray", "heat", "diverging", "normalise", "GRAY", "HEAT", "DIVERGING"]

Colour = Callable[[float], str]

# a few colour stops, interpolated linearly
_HEAT = ((0.0, (16, 18, 40)), (0.35, (96, 34, 120)), (0.7, (230, 90, 60)), (1.0, (255, 236, 150)))
_DIVERGING = ((-1.0, (33, 102, 172)), (0.0, (247, 247, 247)), (1.0, (178, 24, 43)))


def photo_data(values: Sequence[float], width: int, height: int, colour: "Palette") -> str:
    """``height`` rows of ``width`` colours, ``{#rrggbb ...} {...}``, for ``PhotoImage.put``."""
    if len(values) != width * height:
        raise ValueError(f"photo_data: expected {width} x {height} = {width * height} values; "
                         f"Received: {len(values)}.")
    names = list(map(colour, values))
    return " ".join("{" + " ".join(names[y * width : (y + 1) * width]) + "}" for y in range(height))


class Palette:
    """A colour function read from a table of ``LEVELS`` colours: the window calls it for
    thousands of pixels per prediction, and a lookup is far cheaper than interpolating."""

    LEVELS = 256

    def __init__(self, colour: Colour, low: float = 0.0, high: float = 1.0):
        self.low, self.scale = low, (self.LEVELS - 1) / (high - low)
        self.table = [colour(low + i / self.scale) for i in range(self.LEVELS)]

    def __call__(self, v: float) -> str:
        i = int((v - self.low) * self.scale + 0.5)
        return self.table[0 if i < 0 else self.LEVELS - 1 if i >= self.LEVELS else i]


def _hex(rgb: Tuple[float, float, float]) -> str:
    return "#%02x%02x%02x" % tuple(int(c + 0.5) for c in rgb)


def _ramp(stops, v: float) -> str:
    if v <= stops[0][0]:
        return _hex(stops[0][1])
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if v <= b:
            t = (v - a) / (b - a)
            return _hex(tuple(x + t * (y - x) for x, y in zip(ca, cb)))
    return _hex(stops[-1][1])


def gray(v: float) -> str:
    """0 black, 1 white."""
    return _hex((255.0 * min(max(v, 0.0), 1.0),) * 3)


def heat(v: float) -> str:
    """0 (no response) dark blue-black, through purple and orange, to 1 pale yellow."""
    return _ramp(_HEAT, v)


def diverging(v: float) -> str:
    """-1 blue, 0 white, 1 red."""
    return _ramp(_DIVERGING, v)


def normalise(groups: Sequence[Sequence[float]], signed: bool = False) -> List[List[float]]:
    """Divide every value by the largest (absolute, with ``signed``) value over all groups,
    so the groups stay comparable; all zeros stay zeros."""
    top = max((abs(v) if signed else v for g in groups for v in g), default=0.0)
    if top <= 0.0:
        return [[0.0] * len(g) for g in groups]
    return [[v / top for v in g] for g in groups]


GRAY = Palette(gray)
HEAT = Palette(heat)
DIVERGING = Palette(diverging, -1.0, 1.0)
