"""Fine-tune a model on a person's labelled drawings, in a background thread.

    >>> import purenet as pn
    >>> from purenet.cli import PRETRAINED_MODEL
    >>> model = pn.load(PRETRAINED_MODEL)
    >>> replay = pn.datasets.load_bundled("test")
    >>> job = FineTune(model, [replay[0][0]], [replay[1][0]], replay=replay, replay_size=8, check=0)
    >>> result = job.run()                      # what the thread runs; start() runs it in one
    >>> result.model is model, result.trained_on
    (False, (1, 8))

Why a replay sample: a few dozen drawings of one person, trained on alone,
pull the network towards them so hard that it forgets the shapes it knew
(catastrophic forgetting). Each pass therefore mixes the person's drawings,
repeated ``USER_REPEAT`` times, with a random sample of the MNIST training
images bundled with purenet, and every batch is lightly augmented
(:class:`purenet.augment.Augment`: shifts, small rotations and scaling) so
the network learns the drawing, not its exact pixels. The learning rate is
small (SGD 0.01 with momentum): a nudge, not a retraining.

Why a copy: the app keeps predicting with the live model while this runs.
The job trains a copy (:func:`copy_model`) and hands it back in
:class:`Result`; the caller swaps it in when the job is done, so the live
model never has half-updated weights. Cancelling leaves the live model as
it was.

Threads: :meth:`FineTune.start` runs :meth:`FineTune.run` in a daemon
thread and calls ``on_progress(done, total)`` from that thread after every
batch; a Tk caller must hand those calls to its own thread (the window puts
them on a queue it polls). Pure Python computation holds the GIL in slices
(``sys.getswitchinterval()``, 5 ms), so the window's thread keeps getting
turns and stays responsive while training.

What it is not: no early stopping, no validation split of the person's
drawings (there are too few); ``Result.check_before``/``check_after``
measure the MNIST accuracy on a bundled test sample to show nothing was forgotten.
"""

import random
import threading
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

from ..augment import Augment
from ..callbacks import Callback
from ..datasets import load_bundled
from ..model import Sequential
from ..optimizers import SGD
from .state import class_names

__all__ = ["FineTune", "Result", "copy_model", "Cancelled"]

EPOCHS = 2
BATCH_SIZE = 16
LR = 0.01
MOMENTUM = 0.9
USER_REPEAT = 3  # each drawing appears this many times per pass (differently augmented each time)
REPLAY_PER_DRAWING = 10  # MNIST images mixed in per drawing...
REPLAY_RANGE = (200, 2000)  # ...at least / at most
CHECK = 500  # bundled MNIST test images measured before and after


class Cancelled(Exception):
    """:meth:`FineTune.cancel` was called: the job stopped between two batches."""


def copy_model(model: Sequential) -> Sequential:
    """An independent model with the same architecture, weights, classes and history."""
    twin = Sequential.from_architecture(model.architecture, seed=model.seed)
    twin.load_state_dict(model.state_dict())
    twin.classes = getattr(model, "classes", None)
    twin.history = {k: list(v) for k, v in (model.history or {}).items()}
    return twin


class Result:
    """What a finished job gives back.

    Attributes:
        model: the fine-tuned copy (the caller decides to use it).
        trained_on: ``(drawings, replayed MNIST images)`` per pass.
        skipped: drawings left out because their digit is not a class of the model.
        user_before, user_after: the fraction of the drawings the model got right before / after.
        check_before, check_after: accuracy on the bundled MNIST test sample (None with ``check=0``).
    """

    def __init__(self, model, trained_on, skipped, user_before, user_after, check_before, check_after):
        self.model = model
        self.trained_on = trained_on
        self.skipped = skipped
        self.user_before, self.user_after = user_before, user_after
        self.check_before, self.check_after = check_before, check_after

    def summary(self) -> str:
        """One line for the window's status."""
        n, m = self.trained_on
        text = f"Fine-tuned on {n} drawing{'s' if n != 1 else ''} + {m} MNIST images"
        if self.skipped:
            text += f" ({self.skipped} drawing{'s' if self.skipped != 1 else ''} of other digits left out)"
        text += f". Right on your drawings: {self.user_before:.0%} -> {self.user_after:.0%}"
        if self.check_before is not None:
            text += f"; MNIST: {self.check_before:.1%} -> {self.check_after:.1%}"
        return text


class FineTune:
    """One fine-tuning job: ``model`` (left untouched) + labelled drawings -> :class:`Result`.

    Args:
        model: the live model; its classes decide which drawings are used.
        images: the drawings, each 784 floats in [0, 1] (preprocessed).
        digits: their labels, digits 0-9.
        replay: ``(images, digit labels)`` to mix in; default the bundled MNIST training set.
        replay_size: how many replay images per pass (default from the number of drawings).
        epochs, batch_size, lr, seed: the training run.
        check: how many bundled MNIST test images to measure before and after (0: none).
    """

    def __init__(
        self, model: Sequential, images: Sequence[Sequence[float]], digits: Sequence[int], *,
        replay=None, replay_size: Optional[int] = None, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
        lr: float = LR, seed: int = 0, check: int = CHECK,
    ):
        if len(images) != len(digits):
            raise ValueError(f"FineTune: expected one digit per drawing; Received: {len(images)} drawings, "
                             f"{len(digits)} digits.")
        names = class_names(model)
        index = {name: i for i, name in enumerate(names)}
        used = [(list(x), index[d]) for x, d in zip(images, digits) if d in index]
        if not used:
            raise ValueError(f"FineTune: expected drawings of the model's classes {names}; "
                             f"Received: {len(images)} drawings of {sorted(set(digits))}.")
        self.model = copy_model(model)
        self.names = names
        self.drawings = used
        self.skipped = len(images) - len(used)
        self.replay = replay
        self.replay_size = replay_size if replay_size is not None else \
            min(max(REPLAY_PER_DRAWING * len(used), REPLAY_RANGE[0]), REPLAY_RANGE[1])
        self.epochs, self.batch_size, self.lr, self.seed, self.check = epochs, batch_size, lr, seed, check
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.result: Optional[Result] = None
        self.error: Optional[BaseException] = None

    # ----------------------------------------------------------- threading
    def start(self, on_progress: Callable[[int, int], None] = lambda done, total: None) -> None:
        """Run the job in a daemon thread; see :attr:`running`, :attr:`result`, :attr:`error`."""
        def work():
            try:
                self.result = self.run(on_progress)
            except BaseException as e:  # reported to the caller's thread, which shows it
                self.error = e

        self._thread = threading.Thread(target=work, name="purenet-finetune", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self) -> None:
        """Ask the job to stop after the current batch (:attr:`error` becomes :class:`Cancelled`)."""
        self._cancel.set()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------- the work
    def run(self, on_progress: Callable[[int, int], None] = lambda done, total: None) -> Result:
        """Train the copy; returns the :class:`Result` (raises :class:`Cancelled` when cancelled)."""
        rng = random.Random(self.seed)
        model = self.model
        replay = self._replay_sample(rng)
        user_x = [x for x, _ in self.drawings]
        user_y = [y for _, y in self.drawings]
        check = self._check_set()
        user_before = _accuracy(model, user_x, user_y)
        check_before = _accuracy(model, *check) if check else None
        samples = [(x, y) for x, y in self.drawings for _ in range(USER_REPEAT)] + replay
        augment = Augment(max_shift=2.0, max_rotation=12.0, scale=(0.9, 1.1), rng=random.Random(self.seed + 1))
        shape = tuple(model.input_shape)
        if len(shape) != 3:  # a model of flat rows (mlp): its rows are still 28x28 pictures
            augment = partial(augment, image_shape=(1, 28, 28))
        model.fit([x for x, _ in samples], [y for _, y in samples], epochs=self.epochs, batch_size=self.batch_size,
                  optimizer=SGD(self.lr, momentum=MOMENTUM), validation_data=check, augment=augment,
                  callbacks=[_Progress(on_progress, self._cancel)])
        model.loss = model.optimizer = None  # the copy goes live: nothing of training left attached
        return Result(model, (len(self.drawings), len(replay)), self.skipped, user_before,
                      _accuracy(model, user_x, user_y), check_before,
                      _accuracy(model, *check) if check else None)

    def _replay_sample(self, rng: random.Random) -> List[Tuple[List[float], int]]:
        """``replay_size`` random (image, class index) pairs of the model's classes."""
        if not self.replay_size:
            return []
        images, digits = self.replay if self.replay is not None else load_bundled("train")
        index = {name: i for i, name in enumerate(self.names)}
        usable = [i for i, d in enumerate(digits) if d in index]
        picked = rng.sample(usable, min(self.replay_size, len(usable)))
        return [(images[i], index[digits[i]]) for i in picked]

    def _check_set(self):
        """``(images, class indices)``: the first ``check`` bundled test images of the model's classes."""
        if not self.check:
            return None
        images, digits = load_bundled("test")
        index = {name: i for i, name in enumerate(self.names)}
        keep = [i for i, d in enumerate(digits) if d in index][: self.check]
        if not keep:
            return None
        return [images[i] for i in keep], [index[digits[i]] for i in keep]


class _Progress(Callback):
    """Reports ``on_progress(batches done, batches in all)`` after every batch, and stops
    the job before a batch once it is cancelled."""

    def __init__(self, on_progress: Callable[[int, int], None], cancelled: threading.Event):
        super().__init__()
        self.on_progress, self.cancelled = on_progress, cancelled

    def on_train_begin(self, logs=None):
        self.done = 0
        self.total = self.params["steps"] * (self.params["epochs"] - self.params["initial_epoch"])
        self.on_progress(self.done, self.total)

    def on_batch_begin(self, batch, logs=None):
        if self.cancelled.is_set():
            raise Cancelled()

    def on_batch_end(self, batch, logs=None):
        self.done += 1
        self.on_progress(self.done, self.total)


def _accuracy(model: Sequential, images: List[List[float]], labels: List[int]) -> float:
    predicted = model.predict_classes(images)
    return sum(p == y for p, y in zip(predicted, labels)) / len(labels)
