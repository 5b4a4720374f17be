"""Callbacks: code that ``Sequential.fit`` runs at fixed points of training, with Keras's names.

    >>> import purenet as pn
    >>> class Count(pn.callbacks.Callback):
    ...     def on_train_begin(self, logs=None):
    ...         self.batches = 0
    ...     def on_batch_end(self, batch, logs=None):
    ...         self.batches += 1
    >>> model = pn.Sequential([pn.Dense(2), pn.Softmax()], input_shape=(3,), seed=0)
    >>> count = Count()
    >>> _ = model.fit([[0.0, 1.0, 2.0]] * 10, [0, 1] * 5, epochs=2, batch_size=4, callbacks=[count])
    >>> count.batches                     # 3 batches (4 + 4 + 2 samples) per epoch
    6

The order of the calls, as in Keras (epochs and batches counted from 0)::

    on_train_begin(logs)
    for each epoch:   on_epoch_begin(epoch, logs)
        for each batch:   on_batch_begin(batch, logs)   ... the step ...   on_batch_end(batch, logs)
        with validation data:   on_test_begin(logs)   ... evaluate ...   on_test_end(logs)
        on_epoch_end(epoch, logs)
    on_train_end(logs)

``logs`` is a dict: at a batch's end the epoch's running mean ``loss`` and
``accuracy`` so far; at an epoch's end the epoch's ``loss`` and
``accuracy`` and, with validation data, ``val_loss`` and
``val_accuracy``; at the end of training, the last epoch's. Setting
``model.stop_training = True`` in any hook ends training after the current
batch (the epoch is then closed as usual: validation, ``on_epoch_end``).
``callback.model`` is the model being trained and ``callback.params`` a
dict of the run's settings: ``epochs``, ``initial_epoch``, ``steps``
(batches per epoch), ``samples``, ``batch_size``, ``workers`` and
``validation_samples`` (0 without validation data).

A batch whose loss is not finite never moves the weights: its optimizer
step is skipped. ``fit`` then raises ``FloatingPointError`` naming the
epoch and batch, unless a callback (:class:`TerminateOnNaN`) has set
``model.stop_training``, which ends the run quietly instead.

What this module is not: a metrics library or an event bus. A callback
sees the model and the logs; it changes training through the model (its
weights, ``model.optimizer``, ``model.stop_training``) only.
"""

import csv
import math
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence

from .losses import BinaryCrossEntropy, CrossEntropy
from .progress import LiveLine, duration

__all__ = [
    "Callback", "CallbackList", "ProgressBar", "ModelCheckpoint", "LearningRateScheduler", "EarlyStopping",
    "CSVLogger", "TerminateOnNaN", "HealthCheck", "TrainingWarning",
]

Logs = Optional[Dict[str, float]]


class Callback:
    """The base class: every hook does nothing. Subclass it and override the hooks you need.

    Attributes:
        model: the model being trained (set by ``fit`` through :meth:`set_model`).
        params: the run's settings (set through :meth:`set_params`; see the module notes).
    """

    def __init__(self) -> None:
        self.model = None
        self.params: Dict[str, int] = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: Dict[str, int]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: Logs = None) -> None:
        """After the last epoch (also after ``model.stop_training``), with its logs."""

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        """Before epoch ``epoch`` (from 0; ``initial_epoch`` for the first of a resumed run)."""

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        """After epoch ``epoch``'s last batch and its validation."""

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Before batch ``batch`` (from 0 in every epoch)."""

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        """After batch ``batch``'s step, with the epoch's running ``loss`` and ``accuracy``."""

    def on_test_begin(self, logs: Logs = None) -> None:
        """Before the validation data is evaluated (at an epoch's end)."""

    def on_test_end(self, logs: Logs = None) -> None:
        """After the validation data is evaluated, with ``val_loss`` and ``val_accuracy``."""


class CallbackList:
    """Several callbacks called in order: what ``fit`` calls its hooks on."""

    def __init__(self, callbacks: Sequence[Callback] = (), model=None, params: Optional[Dict[str, int]] = None):
        self.callbacks: List[Callback] = []
        for i, callback in enumerate(callbacks):
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks[{i}] must be a purenet.callbacks.Callback (subclass it); "
                    f"Received: {type(callback).__name__}."
                )
            self.callbacks.append(callback)
        for callback in self.callbacks:
            if model is not None:
                callback.set_model(model)
            if params is not None:
                callback.set_params(params)

    def on_train_begin(self, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_train_begin(logs)

    def on_train_end(self, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_batch_end(batch, logs)

    def on_test_begin(self, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_test_begin(logs)

    def on_test_end(self, logs: Logs = None) -> None:
        for c in self.callbacks:
            c.on_test_end(logs)


# ------------------------------------------------------------------ showing
class ProgressBar(Callback):
    """A live line on a terminal during each epoch, and one line per epoch.

    The live line (samples done, running loss and accuracy, ETA, samples/s)
    is rewritten at most every ``interval`` seconds, only when ``stream`` is a
    terminal, and cleared at the epoch's end. ``fit(verbose=1)`` adds one.

    Args:
        stream: where to write; default ``sys.stderr`` (looked up when training starts).
        interval: seconds between updates of the live line.
        epoch_lines: also print ``epoch 1/3 - 2.1s (4700 samples/s) - loss: ...`` after
            each epoch (on any stream, terminal or not).
    """

    def __init__(self, stream=None, interval: float = 0.25, epoch_lines: bool = True):
        super().__init__()
        self.stream, self.interval, self.epoch_lines = stream, interval, epoch_lines
        self._out = None
        self._line: Optional[LiveLine] = None

    def on_train_begin(self, logs: Logs = None) -> None:
        self._out = self.stream if self.stream is not None else sys.stderr
        isatty = getattr(self._out, "isatty", None)
        self._line = LiveLine(self._out) if isatty is not None and isatty() else None

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._epoch = epoch
        self._start = time.perf_counter()
        self._shown = 0.0

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        if self._line is None:
            return
        n = self.params["samples"]
        done = min(n, (batch + 1) * self.params["batch_size"])
        now = time.perf_counter()
        if now - self._shown < self.interval and done < n:
            return
        self._shown = now
        logs = logs or {}
        rate = done / max(now - self._start, 1e-9)
        width = 10
        bar = "=" * (width * done // n)
        acc = f"  acc {logs['accuracy']:.1%}" if "accuracy" in logs else ""
        # the least useful figure last: a narrow terminal cuts the line's end
        self._line.show(f"epoch {self._epoch + 1}/{self.params['epochs']} [{bar:<{width}}] {done:,}/{n:,}  "
                        f"loss {logs.get('loss', math.nan):.4f}{acc}  ETA {duration((n - done) / rate)}  "
                        f"{rate:.0f} samples/s")

    def on_test_begin(self, logs: Logs = None) -> None:
        if self._line is not None:
            self._line.show(f"epoch {self._epoch + 1}/{self.params['epochs']}: evaluating on "
                            f"{self.params['validation_samples']:,} validation samples")

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if self._line is not None:
            self._line.clear()
        if self.epoch_lines:
            took = time.perf_counter() - self._start
            parts = " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{self.params['epochs']} - {took:.1f}s "
                  f"({self.params['samples'] / max(took, 1e-9):.0f} samples/s) - {parts}", file=self._out, flush=True)


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file: ``epoch`` (from 0), then the logs' keys, sorted.

    Args:
        filename: the file, written as training goes (a row per epoch, flushed).
        separator: the field separator.
        append: add to an existing file (no second header) instead of replacing it.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = filename, separator, append
        self._file = None
        self._writer = None
        self._keys: Optional[List[str]] = None

    def on_train_begin(self, logs: Logs = None) -> None:
        has_rows = False
        if self.append:
            try:
                with open(self.filename, encoding="utf-8") as f:
                    has_rows = bool(f.readline())
            except FileNotFoundError:
                pass
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._keys = None
        self._header = not has_rows

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator, lineterminator="\n")
            if self._header:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [repr(float(logs[k])) if k in logs else "NA" for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs: Logs = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --------------------------------------------------------- steering training
def _monitor_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; Received: {mode!r}.")
    if mode == "auto":  # as Keras: accuracies grow, everything else (losses) shrinks
        return "max" if "acc" in monitor else "min"
    return mode


class LearningRateScheduler(Callback):
    """Set ``model.optimizer.lr = schedule(epoch, lr)`` before every epoch.

    Args:
        schedule: ``(epoch from 0, current lr) -> new lr`` (a positive, finite number).
        verbose: 1 prints the new rate on stderr each epoch.

    Example, the command line's decay (x0.75 after every epoch)::

        LearningRateScheduler(lambda epoch, lr: 0.03 * 0.75 ** epoch)
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a function (epoch, lr) -> lr; Received: {type(schedule).__name__}.")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        optimizer = self.model.optimizer
        lr = self.schedule(epoch, optimizer.lr)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"LearningRateScheduler: schedule({epoch}, {optimizer.lr!r}) must return a positive, "
                             f"finite number; Received: {lr!r}.")
        optimizer.lr = lr
        if self.verbose:
            print(f"epoch {epoch + 1}: learning rate {lr:g}", file=sys.stderr, flush=True)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras's rules).

    An epoch improves when its value beats the best so far by more than
    ``min_delta`` (lower for losses, higher for accuracies: ``mode="auto"``).
    After ``patience`` epochs in a row without improvement training stops
    (never after the first epoch). With ``restore_best_weights`` the model
    ends with the weights of its best epoch, bit for bit (when training ends,
    stopped early or not).

    Args:
        monitor: the ``logs`` key to watch, e.g. ``"val_loss"``, ``"loss"``, ``"val_accuracy"``.
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement to accept before stopping.
        restore_best_weights: load the best epoch's weights at the end.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: a value the monitor must beat; epochs that do not count as no improvement.
        verbose: 1 prints a line on stderr when it stops training and when it restores weights.
        start_from_epoch: epochs to train before watching (a warm-up).

    The arguments are Keras's, in Keras's order.

    Attributes:
        stopped_epoch: the epoch (from 0) training stopped after, or 0.
        best_epoch: the best epoch (from 0); ``best``: its value.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0; Received: {patience!r}.")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.min_delta = abs(min_delta)
        self.restore_best_weights, self.baseline, self.start_from_epoch = restore_best_weights, baseline, start_from_epoch
        self.mode = _monitor_mode(monitor, mode)

    def _better(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs: Logs = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        value = (logs or {}).get(self.monitor)
        if epoch < self.start_from_epoch:
            return
        if value is None:
            warnings.warn(f"EarlyStopping: the logs have no {self.monitor!r} (they have {sorted(logs or {})}); "
                          "it does nothing. Pass validation_data to fit for 'val_' figures.", RuntimeWarning, stacklevel=2)
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.state_dict()  # the first epoch, even if it is not an improvement
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs = None) -> None:
        if self.stopped_epoch > 0 and self.verbose:
            print(f"epoch {self.stopped_epoch + 1}: early stopping", file=sys.stderr, flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"restoring the weights of the best epoch, {self.best_epoch + 1}", file=sys.stderr, flush=True)
            self.model.load_state_dict(self.best_weights)


class TerminateOnNaN(Callback):
    """End training quietly when a batch's loss is not finite.

    Without it ``fit`` raises ``FloatingPointError`` at such a batch; with it
    training stops (``model.stop_training``) with a line on stderr, and ``fit``
    returns normally. Either way that batch's step was not taken: the weights
    are those after the last finite batch.
    """

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"batch {batch}: invalid loss {loss}, terminating training", file=sys.stderr, flush=True)
            self.model.stop_training = True


class ModelCheckpoint(Callback):
    """Write a training checkpoint after every epoch (atomically): weights, optimizer, generators, history.

    The file is :func:`purenet.save_checkpoint`'s format, so training resumes
    from it bit for bit::

        ckpt = pn.load_checkpoint("run.ckpt")
        ckpt.model.fit(x, y, epochs=10, initial_epoch=ckpt.epoch, optimizer=ckpt.optimizer)

    The generators the file keeps are the model's and its layers'; an
    ``augment`` generator passed to ``fit`` is the caller's to keep (in ``extra``,
    as ``purenet train`` does with :func:`purenet.rngstate.to_json`).

    Args:
        filepath: the file; may hold ``{epoch}`` (from 1, epochs completed) and any
            ``logs`` key, e.g. ``"run-{epoch:02d}-{val_loss:.3f}.ckpt"``.
        monitor: the ``logs`` key ``save_best_only`` compares.
        verbose: 1 prints a line on stderr at each write.
        save_best_only: write only when ``monitor`` improved on the best so far.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (as :class:`EarlyStopping`).
        extra: plain JSON data stored with the checkpoint (``Checkpoint.extra``), or a
            function returning it, called at each write.

    Attributes:
        best: the best ``monitor`` value so far; ``last_path``: the file last written.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False, *,
                 mode: str = "auto", extra=None):
        super().__init__()
        self.filepath, self.monitor, self.save_best_only, self.extra = filepath, monitor, save_best_only, extra
        self.verbose = verbose
        self.mode = _monitor_mode(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_path = None

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                warnings.warn(f"ModelCheckpoint: the logs have no {self.monitor!r} (they have {sorted(logs)}); "
                              "nothing saved.", RuntimeWarning, stacklevel=2)
                return
            if not (value < self.best if self.mode == "min" else value > self.best):
                return
            self.best = value
        self.save(epoch + 1, logs)

    def save(self, epochs_done: int, logs: Logs = None) -> str:
        """Write the checkpoint now, as after ``epochs_done`` epochs; returns its path."""
        from .io import checkpoint  # imported here: purenet.io builds on the model, which uses this module

        path = str(self.filepath).format(epoch=epochs_done, **(logs or {}))
        extra = self.extra() if callable(self.extra) else self.extra
        checkpoint.save_checkpoint(path, self.model, self.model.optimizer, epochs_done, extra=extra)
        self.last_path = path
        if self.verbose:
            print(f"epoch {epochs_done}: saved the checkpoint {path}", file=sys.stderr, flush=True)
        return path


# -------------------------------------------------------------- warnings
class TrainingWarning(RuntimeWarning):
    """A run that goes wrong without an error: see :class:`HealthCheck`."""


_CLASSIFYING = (CrossEntropy, BinaryCrossEntropy)


class HealthCheck(Callback):
    """Warn (:class:`TrainingWarning`) when training goes wrong in a way that raises no error.

    - the running loss grows past ``growth`` times the first batch's
      (diverging: the learning rate is too large, most often), once per run;
    - a classifier (trained with a cross-entropy loss) ends at chance accuracy:
      the last epoch's ``val_accuracy`` (else ``accuracy``) is within a tenth of
      the way from chance (``1/k`` for ``k`` classes) to perfect, i.e. the model
      learned next to nothing.
    """

    def __init__(self, growth: float = 100.0):
        super().__init__()
        self.growth = growth

    def on_train_begin(self, logs: Logs = None) -> None:
        self.first = None
        self.warned = False

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or not math.isfinite(loss) or self.warned:
            return
        if self.first is None:
            self.first = loss
        elif self.first > 0 and loss > self.growth * self.first:
            self.warned = True
            warnings.warn(f"the loss grew from {self.first:.4g} to {loss:.4g} (over {self.growth:g}x) by epoch "
                          f"{self._epoch + 1}, batch {batch + 1}: training is diverging; try a smaller learning rate.",
                          TrainingWarning, stacklevel=2)

    def on_train_end(self, logs: Logs = None) -> None:
        logs = logs or {}
        key = "val_accuracy" if "val_accuracy" in logs else "accuracy"
        accuracy = logs.get(key)
        if accuracy is None or not math.isfinite(accuracy) or not isinstance(self.model.loss, _CLASSIFYING):
            return  # accuracy means something for classifiers only
        k = max(2, self.model.out_features)
        chance = 1.0 / k
        if accuracy <= chance + (1.0 - chance) / 10:
            warnings.warn(f"training ended at chance accuracy ({key} {accuracy:.1%}; guessing among {k} classes "
                          f"gives {chance:.1%}): the model learned next to nothing. Try another learning rate, more "
                          "epochs, or check the labels.", TrainingWarning, stacklevel=2)
