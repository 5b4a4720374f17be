"""The web page's Python side: what its JavaScript calls, built on the app's own pieces.

    >>> from purenet.cli import PRETRAINED_MODEL
    >>> import purenet as pn
    >>> sketch = Sketch(pn.load(PRETRAINED_MODEL))
    >>> sketch.view()["digit"]                     # nothing drawn: no guess
    ''
    >>> sketch.begin(140, 40)                      # a "1"
    >>> sketch.extend([(140, 140), (140, 240)])
    >>> sketch.end()["digit"]
    '1'
    >>> model_from_bytes(model_to_bytes(sketch.model)).count_params() == sketch.model.count_params()
    True

The static page in ``web/`` runs this package unchanged in the browser
(Pyodide) inside two Web Workers. One keeps a :class:`Sketch`: the strokes
(:class:`purenet.app.state.Drawing`, with its undo), the live model
(:class:`purenet.app.state.Recogniser`) and what the network sees; the page
sends it the pen's points and shows the :meth:`Sketch.view` it answers.
The other fine-tunes on the labelled drawings (:func:`finetune`, which is
:class:`purenet.app.finetune.FineTune`, the Tk app's own job) or trains a
model from scratch on the bundled MNIST subset (:class:`Training`, through
``fit``). Models travel between the two, to the browser's storage and to
the person's disk as safetensors bytes (:func:`model_to_bytes`,
:func:`model_from_bytes`: the validating reader of ``pn.load``).

Everything returned is plain data (dicts, lists, str, float, int, bytes)
that converts to JavaScript objects without Python references leaking out.

What it is not: no DOM, no JavaScript, no threads; it runs, and is tested,
on CPython as well.
"""

import math
import os
import random
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

from .. import architectures
from ..cli import DEFAULT_LR, DEFAULT_LR_DECAY, DEFAULT_MOMENTUM
from ..datasets import load_bundled
from ..errors import ModelFileError
from ..io.modelfile import load_model, save_model
from ..io.onnx import is_onnx, load_onnx
from ..model import Sequential
from ..optimizers import SGD
from .finetune import FineTune
from .pictures import DIVERGING, GRAY, HEAT, Palette, normalise
from .state import PAPER, Drawing, Recogniser

__all__ = ["PAPER", "Sketch", "Training", "finetune", "model_from_bytes", "model_to_bytes", "rgba"]


def model_to_bytes(model: Sequential) -> bytes:
    """The model as a purenet safetensors file, in memory (what ``model.save`` writes)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        save_model(model, path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data: bytes, name: str = "model.safetensors") -> Sequential:
    """Read a model file's bytes with every check of ``pn.load`` (:class:`purenet.ModelFileError`
    on anything malformed): a purenet ``.safetensors`` file, or an ONNX model
    (:func:`purenet.load_onnx`, recognised by its name or first byte); ``name``
    only appears in error messages."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"model_from_bytes: expected the file's bytes; Received: {type(data).__name__}.")
    base = os.path.basename(str(name)) or "model.safetensors"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, base)
        with open(path, "wb") as f:
            f.write(bytes(data))
        try:
            return load_onnx(path) if is_onnx(path) else load_model(path)
        except ModelFileError as e:  # name the file as the person knows it, not by its temporary path
            raise ModelFileError(str(e).replace(path, base)) from None


def rgba(values: Sequence[float], palette: Palette) -> bytes:
    """The colours the Tk window gives ``values`` (:mod:`purenet.app.pictures`), as the
    RGBA bytes of a canvas ``ImageData``, four per value.

    >>> list(rgba([0.0, 1.0], GRAY))
    [0, 0, 0, 255, 255, 255, 255, 255]
    """
    table = _rgba_table(palette)
    out = bytearray()
    for v in values:
        out += table[palette(v)]
    return bytes(out)


def _rgba_table(palette: Palette) -> Dict[str, bytes]:
    return {name: bytes((int(name[1:3], 16), int(name[3:5], 16), int(name[5:7], 16), 255))
            for name in palette.table}


class Sketch:
    """The drawing on the page and the model reading it.

    Points are in drawing units, ``0..PAPER`` on both axes (the page maps
    its canvas, whatever its size on screen, onto that square), as in the
    Tk window.
    """

    def __init__(self, model: Sequential):
        self.drawing = Drawing()
        self.recogniser = Recogniser(model)

    @property
    def model(self) -> Sequential:
        return self.recogniser.model

    def set_model(self, model: Sequential) -> dict:
        """Read the drawing with ``model`` from now on; returns the new :meth:`view`."""
        self.recogniser = Recogniser(model)
        return self.view()

    # ------------------------------------------------------------ the pen
    def begin(self, x: float, y: float) -> None:
        self.drawing.begin(x, y)

    def extend(self, points: Sequence[Sequence[float]]) -> None:
        """The pen moved through ``points``, ``[(x, y), ...]`` (the page sends them in bunches)."""
        for x, y in points:
            self.drawing.extend(x, y)

    def end(self, inside: bool = False) -> dict:
        """Pen up: the :meth:`view` of the finished drawing."""
        self.drawing.end()
        return self.view(inside)

    def undo(self, inside: bool = False) -> dict:
        self.drawing.undo()
        return self.view(inside)

    def clear(self) -> dict:
        self.drawing.clear()
        return self.view()

    def load_strokes(self, strokes: Sequence[Sequence[Sequence[float]]], inside: bool = False) -> dict:
        """Replace the drawing by ``strokes`` (a labelled drawing shown again)."""
        self.drawing.clear()
        for stroke in strokes:
            if not stroke:
                continue
            self.drawing.begin(*stroke[0])
            self.extend(stroke[1:])
            self.drawing.end()
        return self.view(inside)

    # ------------------------------------------------------- what it says
    def view(self, inside: bool = False) -> dict:
        """What the page shows.

        ``digit``: the predicted class as text, ``""`` with nothing drawn;
        ``verdict``: words to show instead of a digit, ``"not a digit"`` when
        the drawing is none (a scribble, a letter, a blot: ``digit`` is then
        ``""``), else None;
        ``probabilities`` and ``names``: one per class; ``seen``: the 784
        floats the network sees (28x28, ink 1.0), or None, and ``seen_rgba``
        its picture; ``strokes``: the drawing, for redrawing after undo.
        With ``inside``, also ``maps``: the first conv layer's feature maps
        as pictures (RGBA bytes, coloured as in the Tk window) and their
        ``map_shape`` (None for a model without one).
        """
        prediction = self.recogniser.recognise(self.drawing)
        names = [str(n) for n in self.recogniser.names]
        result = {
            "digit": "", "verdict": None, "confidence": 0.0, "probabilities": [0.0] * len(names), "names": names,
            "seen": None, "seen_rgba": None, "maps": None, "map_shape": None,
            "strokes": [[list(p) for p in s] for s in self.drawing.strokes],
        }
        if prediction is None:
            return result
        digit, verdict = (str(prediction.label), None) if prediction.is_digit else ("", "not a digit")
        result.update(digit=digit, verdict=verdict, confidence=prediction.confidence,
                      probabilities=list(prediction.probabilities), seen=list(prediction.input),
                      seen_rgba=rgba(prediction.input, GRAY))
        if inside and prediction.feature_maps is not None:
            result.update(maps=[rgba(m, HEAT) for m in normalise(prediction.feature_maps)],
                          map_shape=list(prediction.map_shape))
        return result

    def labelled(self) -> Optional[List[float]]:
        """The current drawing as the 784 floats a labelled example holds, or None with no ink."""
        return self.drawing.to_input()

    def filters(self) -> Optional[dict]:
        """The first conv layer's kernels as pictures (``kernels``: RGBA bytes each, negative
        weights blue, positive red) and their ``shape`` ``[KH, KW]``; None without a conv layer."""
        found = self.recogniser.filters()
        if found is None:
            return None
        kernels, shape = found
        return {"kernels": [rgba(k, DIVERGING) for k in normalise(kernels, signed=True)], "shape": list(shape)}

    def describe(self) -> dict:
        """The model in a few words: ``layers`` (the ``repr`` of each), ``parameters``, ``classes``."""
        model = self.model
        return {"layers": [repr(layer) for layer in model.layers], "parameters": model.count_params(),
                "classes": [str(n) for n in self.recogniser.names]}


def finetune(model: Sequential, images: Sequence[Sequence[float]], digits: Sequence[int], seed: int = 0,
             on_progress: Callable[[int, int], None] = lambda done, total: None, **options) -> dict:
    """Fine-tune a copy of ``model`` on labelled drawings with the Tk app's job
    (:class:`purenet.app.finetune.FineTune`, same replay and augmentation); ``options``
    go to it. Returns ``model`` (the copy, as safetensors bytes), ``summary`` (the
    app's status line), ``user_before``/``user_after``, ``check_before``/``check_after``
    and ``seconds``."""
    start = time.perf_counter()
    job = FineTune(model, [list(x) for x in images], [int(d) for d in digits], seed=seed, **options)
    result = job.run(on_progress)
    return {"model": model_to_bytes(result.model), "summary": result.summary(),
            "user_before": result.user_before, "user_after": result.user_after,
            "check_before": result.check_before, "check_after": result.check_after,
            "seconds": time.perf_counter() - start}


class Training:
    """Train a named architecture from scratch on the bundled MNIST subset, a few batches at a time.

    The page calls :meth:`step` again and again so that, between two calls,
    the Worker can read a "stop" message and post the progress; each call
    runs ``fit`` for one epoch over the next ``batches`` batches of the
    epoch's shuffled order. At the end of each epoch the model is measured
    on the bundled test split. The recipe is ``purenet train``'s default:
    SGD with momentum, the learning rate times ``lr_decay`` after each epoch.

    Args:
        arch: a name of :mod:`purenet.architectures` (``cnn-small``, ``lenet``, ``mlp``).
        epochs, batch_size, seed, lr, momentum, lr_decay: the run.
        limit: train on the first ``limit`` bundled training images only (None: all).
        test_limit: measure on the first ``test_limit`` bundled test images (None: all).
    """

    def __init__(self, arch: str = "cnn-small", epochs: int = 2, batch_size: int = 32, seed: int = 0,
                 limit: Optional[int] = None, test_limit: Optional[int] = None, lr: float = DEFAULT_LR["sgd"],
                 momentum: float = DEFAULT_MOMENTUM, lr_decay: float = DEFAULT_LR_DECAY):
        if arch not in architectures.ARCHITECTURES:
            raise ValueError(f"Training: expected an architecture among {sorted(architectures.ARCHITECTURES)}; "
                             f"Received: {arch!r}.")
        self.x, self.y = load_bundled("train")
        self.x_test, self.y_test = load_bundled("test")
        if limit is not None:
            self.x, self.y = self.x[:limit], self.y[:limit]
        if test_limit is not None:
            self.x_test, self.y_test = self.x_test[:test_limit], self.y_test[:test_limit]
        self.model = architectures.build(arch, seed=seed)
        self.epochs, self.batch_size = epochs, batch_size
        self.lr, self.lr_decay = lr, lr_decay
        self.optimizer = SGD(lr, momentum=momentum)
        self.rng = random.Random(seed)
        self.epoch = 0
        self.position = 0  # samples of the current epoch done
        self.order: List[int] = []
        self.history: Dict[str, List[float]] = {"loss": [], "accuracy": [], "test_accuracy": []}
        self.seconds = 0.0  # spent in fit
        self.samples = 0

    @property
    def total(self) -> int:
        """Samples to train on in all, over every epoch."""
        return self.epochs * len(self.x)

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs

    def step(self, batches: int = 10) -> dict:
        """Train on the next ``batches`` batches; returns the progress: ``epoch``
        (completed ones), ``seen`` of ``total`` samples, the chunk's ``loss`` and
        ``accuracy``, ``samples_per_s`` so far, ``test_accuracy`` when an epoch
        ended (else None) and ``done``."""
        if self.done:
            raise ValueError(f"Training.step: expected a run still going; Received: all {self.epochs} epochs done.")
        if self.position == 0:
            self.order = list(range(len(self.x)))
            self.rng.shuffle(self.order)
        idx = self.order[self.position : self.position + batches * self.batch_size]
        start = time.perf_counter()
        self.optimizer.lr = self.lr * self.lr_decay ** self.epoch
        record = self.model.fit(self.x.take(idx), [self.y[i] for i in idx], epochs=1,
                                batch_size=self.batch_size, optimizer=self.optimizer)
        self.seconds += time.perf_counter() - start
        self.samples += len(idx)
        self.position += len(idx)
        self.history["loss"].append(record["loss"][0])
        self.history["accuracy"].append(record["accuracy"][0])
        test_accuracy = None
        if self.position >= len(self.order):
            self.epoch += 1
            self.position = 0
            test_accuracy = self.model.evaluate(self.x_test, self.y_test)["accuracy"]
            self.history["test_accuracy"].append(test_accuracy)
        return {"epoch": self.epoch, "seen": self.epoch * len(self.x) + self.position, "total": self.total,
                "loss": record["loss"][0], "accuracy": record["accuracy"][0], "test_accuracy": test_accuracy,
                "samples_per_s": self.samples / self.seconds if self.seconds > 0 else math.nan,
                "done": self.done}

    def model_bytes(self) -> bytes:
        return model_to_bytes(self.model)
