"""The ``purenet`` command line (also ``python -m purenet``).

    purenet train                                   # cnn-small on the bundled MNIST subset
    purenet train --arch lenet --data mnist --epochs 3
    purenet train --classes 0,1 --limit 500 --epochs 1

One command so far, ``train``: it loads MNIST (the subset shipped in the
package, the full set from the usual places, or a directory), builds a named
architecture from :mod:`purenet.architectures`, trains it with a progress
line per epoch and prints the test accuracy.

What this module is for: argument parsing, loading, printing. Everything it
computes goes through the public API (``load_bundled``/``load_mnist``,
``select_classes``, ``architectures.build``, ``model.train_on_batch``,
``model.evaluate``), so the core never depends on it. Bad arguments and
missing or broken data print one line on stderr and exit with status 2, with
no traceback; a run that diverges exits with status 1.

Planned, not here yet (see DESIGN.md): ``--out FILE`` to save the trained
model (``model.save``), ``--resume CHECKPOINT`` and a checkpoint written on
Ctrl-C (``pn.save_checkpoint`` / ``pn.load_checkpoint``), ``--augment``
(:mod:`purenet.augment`), and the other commands: ``evaluate``, ``predict``,
``draw``, ``export``, ``bench``, ``summary``.
"""

import argparse
import math
import os
import platform
import shutil
import sys
import textwrap
import time
from typing import List, Optional, Sequence

from . import __version__, architectures, datasets
from .errors import DatasetError
from .optimizers import SGD, Adam

__all__ = ["main", "build_parser"]

# Defaults of `purenet train`, measured (README.md shows a run): on one
# CPython 3.13 core, 6 epochs of cnn-small over the 10,000 bundled images
# take about two minutes and reach 97.4% on the 2,000 bundled test images
# (97.0-97.4% from the third epoch on). The learning rate shrinks by
# DEFAULT_LR_DECAY after every epoch: big steps first, then small ones to
# settle; constant rates took more epochs to pass 97% or never did.
DEFAULT_EPOCHS = 6
DEFAULT_LR = {"sgd": 0.03, "adam": 0.003}
DEFAULT_MOMENTUM = 0.9
DEFAULT_LR_DECAY = 0.75
PROGRESS_INTERVAL = 0.25  # seconds between updates of the live progress line


class UsageError(Exception):
    """A bad argument or unusable data: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (``prog: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------- argument types
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; Received: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; Received: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; Received: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number; Received: {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1); Received: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1); Received: {text!r}")
    return value


def _decay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1]; Received: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1]; Received: {text!r}")
    return value


def _classes(text: str) -> List[int]:
    """``"0,1"`` -> ``[0, 1]``: at least two distinct digits 0-9."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated digits such as 0,1 or 3,5,8; Received: {text!r}"
        )
    classes = [int(p) for p in parts]
    bad = [c for c in classes if c > 9]
    if bad:
        raise argparse.ArgumentTypeError(f"MNIST classes are 0-9; Received: {bad[0]}")
    if len(set(classes)) != len(classes):
        raise argparse.ArgumentTypeError(f"expected distinct classes; Received: {text!r}")
    if len(classes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two classes to tell apart; Received: {text!r}")
    return classes


# ------------------------------------------------------------------ parsers
def build_parser() -> argparse.ArgumentParser:
    """The ``purenet`` argument parser (one sub-parser per command)."""
    parser = _Parser(
        prog="purenet",
        description="Convolutional neural networks in pure Python: train on MNIST from the command line.",
        epilog="Run 'purenet COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"purenet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    archs = "\n".join(f"  {name:<10} {architectures.describe(name)}" for name in architectures.ARCHITECTURES)
    train = commands.add_parser(
        "train",
        help="train a model on MNIST and report its test accuracy",
        description=textwrap.fill(
            "Train a model on MNIST and report its accuracy on the test split. "
            "With no options: cnn-small on the MNIST subset bundled with purenet "
            "(10,000 training and 2,000 test images), about two minutes on one CPython core."
        ),
        epilog="architectures:\n" + archs,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--data", default="bundled", metavar="bundled|mnist|DIR",
        help="'bundled': the subset shipped with purenet (default, offline); 'mnist': the full "
        "60,000 + 10,000 images from $PURENET_DATA or ~/.cache/purenet; DIR: a directory holding "
        "the four MNIST IDX files (raw or .gz). Missing MNIST files are downloaded there once "
        "and checked by SHA-256, unless PURENET_OFFLINE=1",
    )
    train.add_argument(
        "--arch", default="cnn-small", choices=list(architectures.ARCHITECTURES),
        help="model architecture (default: cnn-small; listed below)",
    )
    train.add_argument(
        "--classes", type=_classes, metavar="LIST",
        help="train on these digits only, e.g. 0,1 (relabelled 0..k-1 in the order given)",
    )
    train.add_argument("--epochs", type=_positive_int, default=DEFAULT_EPOCHS, help=f"passes over the training data (default: {DEFAULT_EPOCHS})")
    train.add_argument("--batch-size", type=_positive_int, default=32, help="samples per gradient step (default: 32)")
    train.add_argument(
        "--optimizer", default="sgd", choices=("sgd", "adam"),
        help="sgd: SGD with momentum (default); adam: Adam",
    )
    train.add_argument(
        "--lr", type=_positive_float,
        help=f"initial learning rate (default: {DEFAULT_LR['sgd']} for sgd, {DEFAULT_LR['adam']} for adam)",
    )
    train.add_argument(
        "--lr-decay", type=_decay, default=DEFAULT_LR_DECAY,
        help=f"multiply the learning rate by this after every epoch; 1 keeps it constant (default: {DEFAULT_LR_DECAY})",
    )
    train.add_argument(
        "--momentum", type=_fraction, default=DEFAULT_MOMENTUM,
        help=f"SGD momentum (default: {DEFAULT_MOMENTUM}; ignored by adam)",
    )
    train.add_argument("--seed", type=int, default=0, help="seeds the weights and the shuffling (default: 0)")
    train.add_argument("--limit", type=_positive_int, metavar="N", help="train on the first N training samples only (quick tries)")
    # Planned with the model-file format: --out FILE (save the trained model),
    # --resume CHECKPOINT, and a checkpoint on Ctrl-C.
    train.set_defaults(run=train_command)
    return parser


# ------------------------------------------------------------------ train
def load_data(spec: str, err=None):
    """``(x_train, y_train, x_test, y_test, description)`` for ``--data``;
    download progress, if any, goes to ``err``."""
    if spec == "bundled":
        what = "the MNIST subset bundled with purenet"
        train, test = datasets.load_bundled("train"), datasets.load_bundled("test")
    else:
        root = None if spec == "mnist" else spec
        if root is not None and not os.path.isdir(root):
            raise UsageError(f"--data {spec}: expected 'bundled', 'mnist' or a directory; Received: no such directory.")
        what = "MNIST" if root is None else f"MNIST from {root}"
        report = _DownloadReport(err or sys.stderr)
        train = datasets.load_mnist("train", root=root, progress=report)
        test = datasets.load_mnist("test", root=root, progress=report)
    return train[0], train[1], test[0], test[1], what


class _DownloadReport:
    """``progress(file, done_bytes, total_bytes)`` for ``load_mnist``: a live line on
    a terminal, otherwise one line per file when it starts."""

    def __init__(self, stream):
        self.stream = stream
        self.live = _Progress(stream) if stream.isatty() else None
        self.started = set()

    def __call__(self, name: str, done: int, total: Optional[int]) -> None:
        size = f"{total / 1e6:.1f} MB" if total else "size unknown"
        if self.live is None:
            if name not in self.started:
                self.started.add(name)
                print(f"downloading {name} ({size})", file=self.stream, flush=True)
            return
        if total and done >= total:
            self.live.clear()
            print(f"downloaded {name} ({size})", file=self.stream, flush=True)
        elif total:
            self.live.show(f"downloading {name}: {done / total:.0%} of {size}")
        else:
            self.live.show(f"downloading {name}: {done / 1e6:.1f} MB")


def train_command(args, out=None, err=None) -> int:
    """Run ``purenet train`` with parsed ``args``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    x_train, y_train, x_test, y_test, what = load_data(args.data, err)
    classes = 10
    if args.classes:
        try:
            x_train, y_train = datasets.select_classes(x_train, y_train, args.classes)
            x_test, y_test = datasets.select_classes(x_test, y_test, args.classes)
        except ValueError as e:  # a class missing from the data
            raise UsageError(f"--classes {','.join(map(str, args.classes))}: {e}") from None
        classes = len(args.classes)
        what += f", digits {','.join(map(str, args.classes))}"
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]

    model = architectures.build(args.arch, classes=classes, seed=args.seed)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = Adam(lr) if args.optimizer == "adam" else SGD(lr, momentum=args.momentum)

    def say(text=""):
        print(text, file=out, flush=True)

    say(f"purenet {__version__} on {platform.python_implementation()} {platform.python_version()}")
    say(f"data: {what}: {len(x_train):,} training and {len(x_test):,} test images, {classes} classes")
    decay = f", lr x{args.lr_decay:g} after each epoch" if args.lr_decay != 1.0 else ""
    say(f"training {args.arch} for {args.epochs} epoch{'s' if args.epochs != 1 else ''}, "
        f"batch {args.batch_size}, {optimizer!r}{decay}, seed {args.seed}")
    model.summary(print_fn=say)

    progress = _Progress(err) if err.isatty() else None
    n, bs = len(x_train), args.batch_size
    started = time.perf_counter()
    test = None
    for epoch in range(1, args.epochs + 1):
        optimizer.lr = lr * args.lr_decay ** (epoch - 1)
        t0 = time.perf_counter()
        order = list(range(n))
        model.rng.shuffle(order)  # the model's seeded generator, as fit() shuffles
        total = 0.0
        for s in range(0, n, bs):
            idx = order[s : s + bs]
            value = model.train_on_batch(x_train.take(idx).to_matrix(), [y_train[i] for i in idx], optimizer=optimizer)
            if not math.isfinite(value):
                if progress:
                    progress.clear()
                print(f"purenet train: error: the loss became {value} in epoch {epoch}: training diverged "
                      f"(try a smaller --lr)", file=err)
                return 1
            total += value * len(idx)
            if progress:
                progress.update(epoch, args.epochs, s + len(idx), n, total / (s + len(idx)), t0)
        took = time.perf_counter() - t0
        if progress:
            progress.show(f"epoch {epoch}/{args.epochs}: evaluating on {len(x_test):,} test images")
        test = model.evaluate(x_test, y_test)
        if progress:
            progress.clear()
        say(f"epoch {epoch}/{args.epochs}  {took:6.1f}s  {n / took:5.0f} samples/s  "
            f"loss {total / n:.4f}  test loss {test['loss']:.4f}  test accuracy {test['accuracy']:.2%}")
    elapsed = time.perf_counter() - started
    correct = round(test["accuracy"] * len(x_test))
    say(f"test accuracy: {test['accuracy']:.2%} ({correct}/{len(x_test)}) after {_duration(elapsed)}")
    return 0


class _Progress:
    """A live, overwritten progress line on a terminal: samples, loss, rate, ETA."""

    def __init__(self, stream):
        self.stream = stream
        self.last = 0.0
        self.width = shutil.get_terminal_size().columns - 1  # a wrapped line could not be overwritten

    def show(self, text):
        self.stream.write("\r\033[K" + text[: self.width])
        self.stream.flush()

    def update(self, epoch, epochs, done, n, loss, t0):
        now = time.perf_counter()
        if now - self.last < PROGRESS_INTERVAL and done < n:
            return
        self.last = now
        rate = done / max(now - t0, 1e-9)
        eta = _duration((n - done) / rate)
        width = 20
        bar = "=" * (width * done // n)
        self.show(f"epoch {epoch}/{epochs} [{bar:<{width}}] {done:,}/{n:,}  "
                  f"loss {loss:.4f}  {rate:.0f} samples/s  ETA {eta}")

    def clear(self):
        self.stream.write("\r\033[K")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# ------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    try:
        return args.run(args)
    except (UsageError, DatasetError) as e:
        print(f"purenet {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\npurenet {args.command}: interrupted", file=sys.stderr)
        return 130
