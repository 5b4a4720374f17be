"""What the drawing app knows, as plain Python: the strokes, the model and what it says.

    >>> import purenet as pn
    >>> from purenet.app.state import Drawing, Recogniser
    >>> drawing = Drawing()
    >>> drawing.begin(140, 40)                                          # a "1"
    >>> drawing.extend(140, 240)
    True
    >>> drawing.end()
    >>> from purenet.cli import PRETRAINED_MODEL
    >>> recogniser = Recogniser(pn.load(PRETRAINED_MODEL))
    >>> recogniser.recognise(drawing).label
    1
    >>> drawing.clear()
    >>> recogniser.recognise(drawing) is None                           # nothing drawn: no guess
    True

The Tk window (``window.py``) only turns mouse events into calls on a
:class:`Drawing` and shows the :class:`Prediction` a :class:`Recogniser`
returns; everything here runs, and is tested, without a display.

Coordinates: strokes are kept on a square sheet of ``PAPER`` x ``PAPER``
units, whatever the size of the window. The window maps its canvas onto
that sheet (the largest centred square that fits), so resizing the window
rescales the drawing on screen but leaves the strokes, the raster and
therefore the prediction unchanged; a person who enlarges the window to
draw comfortably gets the same answer as in a small one. The pen width is
in the same units (it scales with the window too).

What it is not: no Tk, no threads, no files (``userdata.py`` keeps the
labelled drawings, ``finetune.py`` trains).
"""

import math
from typing import List, Optional, Sequence, Tuple

from ..layers import Conv2D, Flatten, Layer
from ..matrix import Matrix
from ..vision.rejection import THRESHOLD as REJECT_THRESHOLD
from ..vision.rejection import not_digit_probability
from . import strokes as _strokes

__all__ = ["PAPER", "PEN_WIDTH", "Drawing", "Prediction", "Recogniser", "class_names"]

PAPER = 280  # the sheet's side in drawing units: ten units per MNIST pixel
PEN_WIDTH = 20.0  # in drawing units: about two MNIST pixels wide once the digit is scaled into its 20x20 box

Point = Tuple[float, float]


class Drawing:
    """The strokes on the sheet, in order, with undo.

    A stroke is the list of points the pen went through, ``(x, y)`` in
    drawing units (0..``PAPER``; points beyond the sheet are kept, they
    just fall off the raster). A stroke of one point is a dot.
    """

    def __init__(self, pen_width: float = PEN_WIDTH):
        if not (isinstance(pen_width, (int, float)) and math.isfinite(pen_width) and pen_width > 0):
            raise ValueError(f"Drawing: pen_width must be a positive number; Received: {pen_width!r}.")
        self.pen_width = float(pen_width)
        self.strokes: List[List[Point]] = []
        self._open = False  # a stroke is being drawn (pen down)

    @property
    def empty(self) -> bool:
        return not self.strokes

    @property
    def pen_down(self) -> bool:
        """A stroke is being drawn: :meth:`begin` was called and :meth:`end` not yet."""
        return self._open

    def begin(self, x: float, y: float) -> None:
        """Pen down at ``(x, y)``: a new stroke (a dot until the pen moves)."""
        self.strokes.append([_point(x, y)])
        self._open = True

    def extend(self, x: float, y: float) -> bool:
        """The pen moved to ``(x, y)``; returns False when there is no stroke to extend
        (a motion without a press) or the point repeats the last one."""
        if not self._open:
            return False
        point = _point(x, y)
        stroke = self.strokes[-1]
        if point == stroke[-1]:
            return False
        stroke.append(point)
        return True

    def end(self) -> None:
        """Pen up: the stroke is finished (undo removes it as a whole)."""
        self._open = False

    def undo(self) -> bool:
        """Remove the last stroke; returns False when there was none."""
        self._open = False
        if not self.strokes:
            return False
        self.strokes.pop()
        return True

    def clear(self) -> None:
        self._open = False
        self.strokes = []

    def to_input(self) -> Optional[List[float]]:
        """The 784 floats the network sees (MNIST preprocessing), or None with no ink."""
        if not self.strokes:
            return None
        return _strokes.to_input(self.strokes, PAPER, PAPER, self.pen_width)


def _point(x, y) -> Point:
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, y)):
        raise ValueError(f"Drawing: a point must be two finite numbers; Received: ({x!r}, {y!r}).")
    return float(x), float(y)


def class_names(model) -> List:
    """One name per output of ``model``: its saved ``classes``, else 0, 1, 2, ..."""
    names = getattr(model, "classes", None)
    if names is None:
        return list(range(model.out_features))
    if len(names) != model.out_features:
        raise ValueError(
            f"class_names: the model has {model.out_features} outputs; Received: {len(names)} class names ({names})."
        )
    return list(names)


class Prediction:
    """What the network made of one drawing.

    Attributes:
        input: the 784 floats it saw (28x28, row-major, ink 1.0).
        probabilities: one per class, in the model's output order.
        names: the class names, in the same order.
        best: the index of the most likely class; ``label`` is its name.
        feature_maps: the first conv layer's output for this input, after its
            activation when one follows: ``F`` lists of ``H * W`` floats
            (``None`` when the model does not start with a Conv2D).
        map_shape: ``(H, W)`` of each feature map, or None.
    """

    def __init__(self, input, probabilities, names, feature_maps=None, map_shape=None, not_digit=None):
        self.input = input
        self.probabilities = list(probabilities)
        self.names = list(names)
        self.best = max(range(len(self.probabilities)), key=self.probabilities.__getitem__)
        self.label = self.names[self.best]
        self.feature_maps = feature_maps
        self.map_shape = map_shape
        self.not_digit = not_digit

    @property
    def confidence(self) -> float:
        return self.probabilities[self.best]

    @property
    def is_digit(self) -> bool:
        """False when the rejection model takes the drawing for no digit at all (a scribble,
        a letter, a blot): show "not a digit" instead of ``label``. True when it was not asked."""
        return self.not_digit is None or self.not_digit <= REJECT_THRESHOLD

    def to_json(self) -> dict:
        """The ``--log`` record (and what a web page shows): the winner (``digit``, None when
        it is no digit), its probability and all of them, by class, and the probability that
        it is no digit (None when not asked)."""
        return {
            "digit": self.label if self.is_digit else None,
            "confidence": round(self.confidence, 6),
            "classes": self.names,
            "probabilities": [round(p, 6) for p in self.probabilities],
            "is_digit": self.is_digit,
            "not_digit": None if self.not_digit is None else round(self.not_digit, 6),
        }


class Recogniser:
    """A model and the names of its classes, turning drawings into :class:`Prediction` s.

    ``model`` is any purenet classifier of 28x28 gray images (input shape
    ``(1, 28, 28)`` or ``(784,)``), e.g. the shipped LeNet or a two-class
    0-vs-1 model from ``purenet train --classes 0,1``. With ``reject``
    (the default) each prediction also says whether the drawing is a digit
    at all (:mod:`purenet.vision.rejection`; ``Prediction.is_digit``).
    """

    def __init__(self, model, names: Optional[Sequence] = None, reject: bool = True):
        if tuple(model.input_shape or ()) not in ((1, 28, 28), (784,)):
            raise ValueError(
                "Recogniser: expected a model of 28x28 gray images, input shape (1, 28, 28) or (784,); "
                f"Received: input shape {model.input_shape}."
            )
        self.model = model
        self.names = list(names) if names is not None else class_names(model)
        if len(self.names) != model.out_features:
            raise ValueError(
                f"Recogniser: the model has {model.out_features} outputs; Received: {len(self.names)} names."
            )
        self._split = _first_conv_block(model.layers)
        self.reject = reject

    @property
    def map_shape(self) -> Optional[Tuple[int, int]]:
        """``(H, W)`` of the first conv layer's feature maps, or None without one."""
        if self._split is None:
            return None
        _, h, w = self.model.layers[self._split[0]].output_shape
        return h, w

    def filters(self) -> Optional[Tuple[List[List[float]], Tuple[int, int]]]:
        """The first conv layer's kernels, ``(F lists of KH*KW floats, (KH, KW))``, summed over
        input channels (one for gray images); None when the model does not start with a Conv2D."""
        if self._split is None:
            return None
        conv = self.model.layers[self._split[0]]
        f, c, kh, kw = conv.weight.tensor_shape
        w = conv.weight.data
        size = kh * kw
        kernels = []
        for i in range(f):
            row = w[i * c * size : (i + 1) * c * size]
            kernels.append([sum(row[ch * size + k] for ch in range(c)) for k in range(size)])
        return kernels, (kh, kw)

    def recognise(self, drawing: Drawing) -> Optional[Prediction]:
        """The model's view of ``drawing``, or None when the sheet holds no ink."""
        x = drawing.to_input()
        return None if x is None else self.predict(x)

    def predict(self, x: List[float]) -> Prediction:
        """Run the model on one preprocessed input (784 floats), keeping the first feature maps."""
        out = Matrix.from_flat(list(x), 1, len(x))  # (1, 784)
        maps = shape = None
        for i, layer in enumerate(self.model.layers):
            out = layer.forward(out, False)
            if self._split is not None and i == self._split[1]:
                f, h, w = layer.output_shape
                data = out.data
                maps = [data[k * h * w : (k + 1) * h * w] for k in range(f)]
                shape = (h, w)
        not_digit = not_digit_probability([x])[0] if self.reject else None
        return Prediction(x, out.data, self.names, maps, shape, not_digit)


def _first_conv_block(layers: Sequence[Layer]) -> Optional[Tuple[int, int]]:
    """``(index of the first Conv2D, index of the layer whose output shows its feature maps)``:
    the conv itself, or the activation right after it. None when a weighted layer comes first."""
    for i, layer in enumerate(layers):
        if isinstance(layer, Conv2D):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            shows = i + 1 if nxt is not None and not nxt.parameters() and not isinstance(nxt, Flatten) \
                and tuple(nxt.output_shape) == tuple(layer.output_shape) else i
            return i, shows
        if layer.parameters():
            return None
    return None
