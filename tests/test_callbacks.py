"""Callbacks in ``fit``: Keras's call order, ``stop_training``, and every built-in callback.

Small data (tens of rows, a Dense layer or two) keeps each test well under a
second in one process; the two-worker runs start one forked process each.
"""

import csv
import io
import math
import multiprocessing
import random
import warnings

import pytest

import purenet as pn
from purenet.augment import Augment
from purenet.callbacks import (
    Callback, CSVLogger, EarlyStopping, HealthCheck, LearningRateScheduler, ModelCheckpoint, ProgressBar,
    TerminateOnNaN, TrainingWarning,
)

has_fork = "fork" in multiprocessing.get_all_start_methods()


def blobs(n=10, seed=0):
    """``n`` rows of 4 features in two separable classes."""
    rng = random.Random(seed)
    x, y = [], []
    for i in range(n):
        c = i % 2
        x.append([rng.uniform(-1, 1) + (2.0 if c else -2.0) * (j % 2) for j in range(4)])
        y.append(c)
    return x, y


def small_model(seed=0):
    return pn.Sequential([pn.Dense(5), pn.ReLU(), pn.Dense(2), pn.Softmax()], input_shape=(4,), seed=seed)


def weights(model):
    return {k: list(v.data) for k, v in model.state_dict().items()}


class Recorder(Callback):
    """Every hook call, in order, with the logs it got."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch))
        self.batch_logs = dict(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch))
        self.epoch_logs = dict(logs)

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))
        self.end_logs = dict(logs)


def keras_order(epochs, batches, first_epoch=0):
    calls = [("train_begin",)]
    for e in range(first_epoch, epochs):
        calls.append(("epoch_begin", e))
        for b in range(batches):
            calls += [("batch_begin", b), ("batch_end", b)]
        calls.append(("epoch_end", e))
    return calls + [("train_end",)]


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.skipif(not has_fork, reason="fork"))])
def test_a_callback_sees_the_keras_call_sequence(workers):
    x, y = blobs(10)
    recorder = Recorder()
    model = small_model()
    history = model.fit(x, y, epochs=3, batch_size=4, optimizer=pn.SGD(0.1), validation_data=(x, y),
                        callbacks=[recorder], workers=workers)
    assert recorder.calls == keras_order(3, 3)  # 10 rows: batches of 4, 4, 2
    assert recorder.model is model
    assert recorder.params == {"epochs": 3, "initial_epoch": 0, "steps": 3, "samples": 10, "batch_size": 4,
                               "workers": workers, "validation_samples": 10}
    assert sorted(recorder.batch_logs) == ["accuracy", "loss"]
    assert recorder.epoch_logs == {k: v[-1] for k, v in history.items()}
    assert sorted(recorder.epoch_logs) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert recorder.end_logs == recorder.epoch_logs
    # the batch logs are the running means: the last batch's are the epoch's training figures
    assert recorder.batch_logs["loss"] == history["loss"][-1]
    assert recorder.batch_logs["accuracy"] == history["accuracy"][-1]


def test_initial_epoch_resumes_the_count():
    x, y = blobs(6)
    recorder = Recorder()
    small_model().fit(x, y, epochs=3, initial_epoch=1, batch_size=4, callbacks=[recorder])
    assert recorder.calls == keras_order(3, 2, first_epoch=1)
    with pytest.raises(ValueError, match="initial_epoch"):
        small_model().fit(x, y, epochs=2, initial_epoch=3)


def test_callbacks_must_be_callback_objects():
    x, y = blobs(4)
    with pytest.raises(TypeError, match=r"callbacks\[0\] must be a purenet.callbacks.Callback"):
        small_model().fit(x, y, callbacks=[lambda: None])
    with pytest.raises(TypeError, match="callbacks must be a list of Callback objects.*Received: EarlyStopping"):
        small_model().fit(x, y, callbacks=EarlyStopping())


def test_stop_training_ends_after_the_current_batch():
    x, y = blobs(12)

    class StopAt(Recorder):
        def on_batch_end(self, batch, logs=None):
            super().on_batch_end(batch, logs)
            if batch == 1:
                self.model.stop_training = True

    stop = StopAt()
    model = small_model()
    history = model.fit(x, y, epochs=4, batch_size=4, shuffle=False, optimizer=pn.SGD(0.1), callbacks=[stop])
    assert stop.calls == [("train_begin",), ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0),
                          ("batch_begin", 1), ("batch_end", 1), ("epoch_end", 0), ("train_end",)]
    assert len(history["loss"]) == 1
    two_batches = small_model()  # the same two steps, and no third
    two_batches.fit(x[:8], y[:8], epochs=1, batch_size=4, shuffle=False, optimizer=pn.SGD(0.1))
    assert weights(model) == weights(two_batches)


# --- EarlyStopping -------------------------------------------------------------

class Snapshots(Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(weights(self.model))


def rising_validation():
    """Training on blobs, validating on the same rows with the labels swapped: the better
    the model fits, the higher the validation loss."""
    x, y = blobs(16)
    return x, y, (x, [1 - c for c in y])


def test_early_stopping_restores_the_best_epochs_weights_bit_for_bit():
    x, y, val = rising_validation()
    snapshots, stop = Snapshots(), EarlyStopping(patience=1, restore_best_weights=True)
    model = small_model()
    history = model.fit(x, y, epochs=10, batch_size=4, optimizer=pn.SGD(0.2), validation_data=val,
                        callbacks=[snapshots, stop])
    losses = history["val_loss"]
    assert losses[1] > losses[0]  # the run's validation loss rises from the first epoch
    assert len(losses) == 2 and stop.stopped_epoch == 1 and stop.best_epoch == 0
    assert snapshots.weights[1] != snapshots.weights[0]
    assert weights(model) == snapshots.weights[0]  # the best epoch's, exactly


def test_early_stopping_waits_for_patience_and_min_delta():
    x, y, val = rising_validation()
    stop = EarlyStopping(patience=3)
    history = small_model().fit(x, y, epochs=10, batch_size=4, optimizer=pn.SGD(0.2), validation_data=val,
                                callbacks=[stop])
    assert len(history["val_loss"]) == 4 and stop.stopped_epoch == 3
    # an improvement must beat the best by more than min_delta: a huge one stops at the second epoch
    x, y = blobs(16)
    stop = EarlyStopping(monitor="loss", min_delta=1e9)
    history = small_model().fit(x, y, epochs=10, batch_size=4, optimizer=pn.SGD(0.2), callbacks=[stop])
    assert history["loss"][1] < history["loss"][0] and len(history["loss"]) == 2
    # accuracies are maximised ("auto" mode), losses minimised
    assert EarlyStopping(monitor="val_accuracy").mode == "max" and EarlyStopping().mode == "min"
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")


def test_early_stopping_without_its_monitor_warns_and_keeps_training():
    x, y = blobs(8)
    with pytest.warns(RuntimeWarning, match="'val_loss'"):
        history = small_model().fit(x, y, epochs=3, batch_size=4, callbacks=[EarlyStopping()])
    assert len(history["loss"]) == 3


# --- LearningRateScheduler -----------------------------------------------------

class LearningRates(Callback):
    def on_train_begin(self, logs=None):
        self.seen = []

    def on_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.seen.append(self.model.optimizer.lr)


def test_learning_rate_scheduler_sets_the_rate_every_epoch():
    x, y = blobs(8)
    rates, calls = LearningRates(), []

    def halve(epoch, lr):
        calls.append((epoch, lr))
        return lr / 2

    optimizer = pn.SGD(0.8)
    small_model().fit(x, y, epochs=3, batch_size=4, optimizer=optimizer,
                      callbacks=[LearningRateScheduler(halve), rates])
    assert calls == [(0, 0.8), (1, 0.4), (2, 0.2)]
    assert rates.seen == [0.4, 0.2, 0.1] and optimizer.lr == 0.1
    # the rate really is the one used: the same as setting it by hand before each epoch's steps
    scheduled = small_model()
    scheduled.fit(x, y, epochs=2, batch_size=4, optimizer=pn.SGD(1.0),
                  callbacks=[LearningRateScheduler(lambda e, lr: 0.3 * 0.5 ** e)])
    by_hand, optimizer = small_model(), pn.SGD(0.3)
    by_hand.fit(x, y, epochs=1, batch_size=4, optimizer=optimizer)
    optimizer.lr = 0.15
    by_hand.fit(x, y, epochs=1, batch_size=4, optimizer=optimizer)
    assert weights(scheduled) == weights(by_hand)


def test_learning_rate_scheduler_refuses_bad_rates():
    x, y = blobs(4)
    with pytest.raises(ValueError, match="positive, finite number; Received: -1"):
        small_model().fit(x, y, callbacks=[LearningRateScheduler(lambda e, lr: -1)])
    with pytest.raises(TypeError, match="schedule must be a function"):
        LearningRateScheduler(0.1)


# --- ModelCheckpoint -----------------------------------------------------------

def test_model_checkpoint_resumes_bit_identically(tmp_path):
    x, y = blobs(12)
    path = str(tmp_path / "run.ckpt")
    straight = small_model()
    straight.fit(x, y, epochs=3, batch_size=4, optimizer=pn.SGD(0.1, momentum=0.9), validation_data=(x, y))
    first = small_model()
    first.fit(x, y, epochs=1, batch_size=4, optimizer=pn.SGD(0.1, momentum=0.9), validation_data=(x, y),
              callbacks=[ModelCheckpoint(path, extra={"note": "one"})])
    ckpt = pn.load_checkpoint(path)
    assert ckpt.epoch == 1 and ckpt.extra == {"note": "one"}
    ckpt.model.fit(x, y, epochs=3, initial_epoch=ckpt.epoch, batch_size=4, optimizer=ckpt.optimizer,
                   validation_data=(x, y))
    assert weights(ckpt.model) == weights(straight)
    assert ckpt.model.history == straight.history


def test_model_checkpoint_names_and_save_best_only(tmp_path):
    x, y, val = rising_validation()
    pattern = str(tmp_path / "run-{epoch:02d}.ckpt")
    best = ModelCheckpoint(str(tmp_path / "best.ckpt"), save_best_only=True)
    calls = []
    every = ModelCheckpoint(pattern, extra=lambda: calls.append(1) or {"calls": len(calls)})
    small_model().fit(x, y, epochs=3, batch_size=4, optimizer=pn.SGD(0.2), validation_data=val,
                      callbacks=[every, best])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "run-01.ckpt", "run-02.ckpt", "run-03.ckpt"]
    assert pn.load_checkpoint(str(tmp_path / "run-03.ckpt")).extra == {"calls": 3}
    assert pn.load_checkpoint(str(tmp_path / "best.ckpt")).epoch == 1  # the validation loss only rose after it
    assert every.last_path.endswith("run-03.ckpt")


# --- TerminateOnNaN -----------------------------------------------------------

def poisoned():
    rows = [[(i * 7 + j) % 5 / 4 for j in range(4)] for i in range(12)]
    targets = [[float(i % 3 == k) for k in range(3)] for i in range(12)]
    targets[9] = [1e200, 0.0, 0.0]  # in batch 2 (from 0) of 4 rows: its squared error overflows
    return rows, targets


def test_terminate_on_nan_stops_quietly_before_the_batch_touches_the_weights(capsys):
    rows, targets = poisoned()
    recorder = Recorder()
    model = pn.Sequential([pn.Dense(3)], input_shape=(4,), seed=0)
    history = model.fit(rows, targets, epochs=3, batch_size=4, shuffle=False, optimizer=pn.SGD(0.1),
                        loss=pn.MeanSquaredError(), callbacks=[TerminateOnNaN(), recorder])
    assert "batch 2: invalid loss inf, terminating training" in capsys.readouterr().err
    assert recorder.calls[-3:] == [("batch_end", 2), ("epoch_end", 0), ("train_end",)]
    assert len(history["loss"]) == 1 and math.isinf(history["loss"][0])
    clean = pn.Sequential([pn.Dense(3)], input_shape=(4,), seed=0)
    clean.fit(rows[:8], targets[:8], epochs=1, batch_size=4, shuffle=False, optimizer=pn.SGD(0.1),
              loss=pn.MeanSquaredError())
    assert weights(model) == weights(clean)
    # without it: an error naming the epoch and batch (as people count)
    with pytest.raises(FloatingPointError, match="the loss became inf at epoch 1, batch 3"):
        pn.Sequential([pn.Dense(3)], input_shape=(4,), seed=0).fit(
            rows, targets, epochs=3, batch_size=4, shuffle=False, loss=pn.MeanSquaredError())


# --- CSVLogger, ProgressBar ------------------------------------------------------

def test_csv_logger_writes_a_row_per_epoch(tmp_path):
    x, y = blobs(8)
    path = str(tmp_path / "log.csv")
    model = small_model()
    history = model.fit(x, y, epochs=2, batch_size=4, validation_data=(x, y), callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert [float(r[2]) for r in rows[1:]] == history["loss"]  # exact: written with repr
    model.fit(x, y, epochs=3, initial_epoch=2, batch_size=4, validation_data=(x, y),
              callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 4 and rows[0][0] == "epoch" and rows[3][0] == "2"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_and_elsewhere():
    x, y = blobs(8)
    terminal = Terminal()
    small_model().fit(x, y, epochs=2, batch_size=4, validation_data=(x, y),
                      callbacks=[ProgressBar(stream=terminal, interval=0.0)])
    text = terminal.getvalue()
    assert "\r\033[Kepoch 1/2 [=====     ] 4/8  loss " in text and "ETA" in text and "samples/s" in text
    assert "8/8" in text and "evaluating on 8 validation samples" in text
    lines = [line.split("\r\033[K")[-1] for line in text.split("\n") if line]
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2 - ") and "val_accuracy: " in lines[1]
    plain = io.StringIO()
    small_model().fit(x, y, epochs=2, batch_size=4, callbacks=[ProgressBar(stream=plain)])
    assert "\r" not in plain.getvalue() and len(plain.getvalue().split("\n")) == 3  # two lines


def test_verbose_prints_one_line_per_epoch_on_stderr(capsys):
    x, y = blobs(8)
    small_model().fit(x, y, epochs=2, batch_size=4, verbose=1)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("epoch 1/2 - ") and "loss: " in err[0]


# --- HealthCheck ---------------------------------------------------------------

def test_health_check_warns_when_the_loss_grows_a_hundredfold():
    # SGD too fast for this least-squares problem: each step multiplies the error by 1 - 2*lr*5 = -9
    x, y = [[1.0, 1.0, 1.0, 1.0]] * 6, [[0.5]] * 6
    model = pn.Sequential([pn.Dense(1)], input_shape=(4,), seed=0)
    with pytest.warns(TrainingWarning, match=r"the loss grew from .* \(over 100x\) by epoch 1, batch \d: training "
                                             "is diverging"):
        model.fit(x, y, epochs=1, batch_size=1, optimizer=pn.SGD(1.0), loss=pn.MeanSquaredError(),
                  callbacks=[HealthCheck()])


def test_health_check_warns_at_chance_accuracy_only():
    same = [[0.5, 0.5, 0.5, 0.5]] * 8  # identical rows: one prediction for all, right for half of them
    with pytest.warns(TrainingWarning, match=r"training ended at chance accuracy \(accuracy 50.0%; guessing "
                                             r"among 2 classes gives 50.0%\)"):
        small_model().fit(same, [0, 1] * 4, epochs=1, batch_size=4, callbacks=[HealthCheck()])
    x, y = blobs(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that learns: no warning
        history = small_model().fit(x, y, epochs=5, batch_size=4, optimizer=pn.SGD(0.2), validation_data=(x, y),
                                    callbacks=[HealthCheck()])
    assert history["val_accuracy"][-1] > 0.9


# --- augment -------------------------------------------------------------------

def digit_rows(n=12):
    images, labels = pn.datasets.load_bundled("test")
    return images[:n], labels[:n]


def tiny_cnn(seed=0):
    return pn.Sequential([pn.Conv2D(2, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(10), pn.Softmax()],
                         input_shape=(1, 28, 28), seed=seed)


def test_augment_transforms_every_training_batch():
    images, labels = digit_rows()
    seen = []

    def spy(batch):  # the same transform as a function, recording what it was given
        seen.append(batch.rows)
        return Augment(rng=spy.rng)(batch, image_shape=(1, 28, 28))

    spy.rng = random.Random(3)
    with_augment = tiny_cnn()
    with_augment.fit(images, labels, epochs=2, batch_size=5, augment=Augment(rng=random.Random(3)),
                     validation_data=(images, labels))
    with_function = tiny_cnn()
    with_function.fit(images, labels, epochs=2, batch_size=5, augment=spy, validation_data=(images, labels))
    assert seen == [5, 5, 2, 5, 5, 2]  # training batches only, never the validation data
    assert weights(with_augment) == weights(with_function)
    plain = tiny_cnn()
    plain.fit(images, labels, epochs=2, batch_size=5)
    assert weights(plain) != weights(with_augment)


def test_augment_is_checked():
    images, labels = digit_rows()
    rows = images.to_matrix()
    flat = pn.Sequential([pn.Dense(10), pn.Softmax()], input_shape=(784,), seed=0)
    with pytest.raises(ValueError, match=r"an Augment needs the images' shape \(C, H, W\)"):
        flat.fit(rows, labels, augment=Augment())
    flat.fit(images, labels, augment=Augment())  # an image collection says its shape
    with pytest.raises(ValueError, match=r"must return a Matrix of the batch's shape \(12, 784\)"):
        flat.fit(rows, labels, batch_size=12, augment=lambda batch: batch[:1])
    with pytest.raises(TypeError, match="augment must be a purenet Augment or a function"):
        flat.fit(rows, labels, augment=3)
    with pytest.raises(ValueError, match="with workers > 1 it must be a purenet Augment"):
        flat.fit(rows, labels, augment=lambda batch: batch, workers=2)


def test_early_stopping_takes_keras_arguments_in_keras_order(capsys):
    x, y, val = rising_validation()
    stop = EarlyStopping("val_loss", 0.0, 1, 1, "auto", None, True, 2)  # start_from_epoch=2: a warm-up
    history = small_model().fit(x, y, epochs=10, batch_size=4, optimizer=pn.SGD(0.2), validation_data=val,
                                callbacks=[stop])
    assert len(history["val_loss"]) == 4 and stop.best_epoch == 2 and stop.stopped_epoch == 3
    assert capsys.readouterr().err == "epoch 4: early stopping\nrestoring the weights of the best epoch, 3\n"
