"""The ``purenet`` command line (also ``python -m purenet``).

    purenet train                                   # cnn-small on the bundled MNIST subset -> model.safetensors
    purenet train --arch lenet --data mnist --epochs 3 --augment --out lenet.safetensors
    purenet train --resume model.safetensors.ckpt   # continue an interrupted run, bit for bit
    purenet evaluate model.safetensors --report report/
    purenet predict digit.png another.pgm --top 3   # with the pretrained model shipped in the package
    purenet predict --number --json photo.jpg       # the digits of a number, as JSON
    purenet summary model.safetensors
    purenet export model.safetensors --onnx model.onnx
    purenet bench                                   # training samples/s and prediction latency here
    purenet draw                                    # draw digits, see them recognised live, teach the model

- ``train`` loads MNIST (the subset shipped in the package, the full set
  from the usual places, or a directory), builds a named architecture from
  :mod:`purenet.architectures`, trains it with a progress line and an epoch
  summary, writes a checkpoint after every epoch (and on Ctrl-C) and saves
  the model (``--out``). ``--resume`` continues from a checkpoint with the
  same weights, optimizer state, random generators and learning-rate
  schedule, so the result is bit-identical to a run that never stopped.
- ``evaluate`` prints accuracy, per-class accuracy and the confusion matrix
  on a test split; ``--report DIR`` adds pictures (:mod:`purenet.report`).
- ``predict`` reads PNG/JPEG/PGM/PPM pictures of digits, preprocesses them
  the MNIST way (:func:`purenet.preprocess`) and prints the model's guesses,
  or "not a digit"; ``--number`` reads several digits
  (:func:`purenet.read_digits`), ``--json`` prints one JSON object per picture.
- ``summary`` prints a model file's architecture and metadata.
- ``export`` writes a model (or a checkpoint's model) as an ONNX file
  (:func:`purenet.export_onnx`).
- ``bench`` times training steps and one-image prediction (:mod:`purenet.bench`).
- ``draw`` opens the drawing app (:mod:`purenet.app.window`, Tk); it is
  imported only when the command runs, so the rest never needs tkinter.

What this module is for: argument parsing, loading, printing. Everything it
computes goes through the public API (``load_bundled``/``load_mnist``,
``select_classes``, ``architectures.build``, ``model.fit`` with callbacks
(:mod:`purenet.callbacks`: the live line, the learning-rate decay, the
checkpoint after every epoch), ``model.evaluate``/``predict``,
``pn.save_checkpoint``/``pn.load_checkpoint``),
so the core never depends on it. Bad arguments, missing or broken data and
unreadable model files print one line on stderr and exit with status 2, with
no traceback; a run that diverges exits with status 1; Ctrl-C exits with 130.
"""

import argparse
import math
import os
import platform
import random
import shlex
import sys
import tempfile
import textwrap
import time
import warnings
import zlib
from typing import Dict, List, Optional, Sequence

from . import __version__, architectures, datasets, report, rngstate
from .vision.preprocess import preprocess
from .augment import Augment
from .errors import DatasetError, ImageError, ModelFileError
from .callbacks import Callback, HealthCheck, LearningRateScheduler, ModelCheckpoint, ProgressBar
from .io import checkpoint as checkpoint_io
from .io.checkpoint import load_checkpoint
from .io.imagefile import read_image
from .io.modelfile import load_model
from .io.onnx import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, is_onnx, load_onnx
from .layers import Conv2D, Softmax
from .layers.base import shape_size
from .losses import CrossEntropy
from .optimizers import SGD, Adam
from .progress import LiveLine, duration

__all__ = ["main", "build_parser", "PRETRAINED_MODEL"]

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
DEFAULT_BATCH_SIZE = 32
DEFAULT_OUT = "model.safetensors"

#: The model ``purenet predict`` uses when no ``--model`` is given.
PRETRAINED_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "lenet-mnist.safetensors")

# The settings that define a training run. A checkpoint stores them, and a
# resumed run keeps them: changing any would break the bit-for-bit promise.
RUN_SETTINGS = ("arch", "classes", "limit", "batch_size", "optimizer", "lr", "lr_decay", "momentum", "seed", "augment")


class UsageError(Exception):
    """A bad argument or unusable data: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (``prog: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------- argument types
def _number(convert, accept, expected):
    """An argparse type: ``convert`` the text, then check it with ``accept``;
    either failing gives "expected <expected>; Received: '<text>'"."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}; Received: {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
_fraction = _number(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
_decay = _number(float, lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")


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
DATA_HELP = (
    "'bundled': the subset shipped with purenet (default, offline); 'mnist': the full "
    "60,000 + 10,000 images from $PURENET_DATA or ~/.cache/purenet; DIR: a directory holding "
    "the four MNIST IDX files (raw or .gz). Missing MNIST files are downloaded there once "
    "and checked by SHA-256, unless PURENET_OFFLINE=1"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``purenet`` argument parser (one sub-parser per command)."""
    parser = _Parser(
        prog="purenet",
        description="Convolutional neural networks in pure Python: train on MNIST, evaluate, "
        "recognise digits in pictures, from the command line.",
        epilog="Run 'purenet COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"purenet {__version__}")
    parser.add_argument(
        "--import", dest="imports", action="append", metavar="MODULE",
        help="import MODULE first (repeatable): a module of yours that registers layers with "
        "@pn.register_layer (and may add architectures to purenet.architectures.ARCHITECTURES), "
        "so that their model files and checkpoints load",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_summary(commands)
    _add_export(commands)
    _add_bench(commands)
    _add_draw(commands)
    return parser


def _add_train(commands) -> None:
    archs = "\n".join(f"  {name:<10} {architectures.describe(name)}" for name in architectures.ARCHITECTURES)
    train = commands.add_parser(
        "train",
        help="train a model on MNIST, report its test accuracy and save it",
        description=textwrap.fill(
            "Train a model on MNIST, report its accuracy on the test split and save it. "
            "With no options: cnn-small on the MNIST subset bundled with purenet "
            "(10,000 training and 2,000 test images), about two minutes on one CPython core, "
            f"saved to {DEFAULT_OUT}. A checkpoint is written after every epoch and on Ctrl-C; "
            "--resume continues from it and ends with the same weights, bit for bit, as a run "
            "that was never interrupted."
        ),
        epilog="architectures:\n" + archs,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Run settings default to None so that a resumed run can tell an option
    # given on purpose (checked against the checkpoint) from one left out.
    train.add_argument("--data", metavar="bundled|mnist|DIR", help=DATA_HELP)
    train.add_argument(
        "--arch", choices=list(architectures.ARCHITECTURES),
        help="model architecture (default: cnn-small; listed below)",
    )
    train.add_argument(
        "--classes", type=_classes, metavar="LIST",
        help="train on these digits only, e.g. 0,1 (relabelled 0..k-1 in the order given; "
        "the saved model keeps the list, so evaluate and predict print the digits)",
    )
    train.add_argument(
        "--epochs", type=_positive_int,
        help=f"passes over the training data (default: {DEFAULT_EPOCHS}); with --resume, "
        "the total to reach (default: the interrupted run's)",
    )
    train.add_argument(
        "--batch-size", type=_positive_int, help=f"samples per gradient step (default: {DEFAULT_BATCH_SIZE})",
    )
    train.add_argument(
        "--optimizer", choices=("sgd", "adam"),
        help="sgd: SGD with momentum (default); adam: Adam",
    )
    train.add_argument(
        "--lr", type=_positive_float,
        help=f"initial learning rate (default: {DEFAULT_LR['sgd']} for sgd, {DEFAULT_LR['adam']} for adam)",
    )
    train.add_argument(
        "--lr-decay", type=_decay,
        help=f"multiply the learning rate by this after every epoch; 1 keeps it constant (default: {DEFAULT_LR_DECAY})",
    )
    train.add_argument(
        "--momentum", type=_fraction,
        help=f"SGD momentum (default: {DEFAULT_MOMENTUM}; ignored by adam)",
    )
    train.add_argument(
        "--augment", action="store_true", default=None,
        help="randomly shift (up to 2 px), rotate (up to 12 degrees) and scale (0.9-1.1) every "
        "training image, so digits drawn by people are recognised better; seeded by --seed",
    )
    train.add_argument("--seed", type=int, help="seeds the weights, the shuffling and --augment (default: 0)")
    train.add_argument(
        "--workers", type=_positive_int, metavar="N",
        help="processes that share each batch (data parallel; Linux and macOS): about N times faster "
        "with N idle cores, same results up to rounding (default: 1; with --resume, the interrupted run's)",
    )
    train.add_argument(
        "--limit", type=_positive_int, metavar="N", help="train on the first N training samples only (quick tries)",
    )
    train.add_argument(
        "--out", metavar="FILE",
        help=f"where to save the trained model, a safetensors file (default: {DEFAULT_OUT}; "
        "with --resume, the interrupted run's)",
    )
    train.add_argument(
        "--checkpoint", metavar="FILE",
        help="the checkpoint written after every epoch and on Ctrl-C (default: the --out file + .ckpt)",
    )
    train.add_argument(
        "--resume", metavar="CHECKPOINT",
        help="continue the run saved in CHECKPOINT (its settings are kept; --epochs sets the total)",
    )
    train.set_defaults(run=train_command)


def _add_evaluate(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy, per-class accuracy and confusion matrix of a saved model",
        description=textwrap.fill(
            "Evaluate a saved model (or a checkpoint) on the MNIST test split: accuracy, per-class "
            "accuracy and the confusion matrix. A model trained with --classes is evaluated on those "
            "digits. --report DIR also writes pictures: training curves, the confusion matrix, the "
            "first layer's filters and the misclassified test images, with REPORT.md."
        ),
    )
    evaluate.add_argument("model", metavar="MODEL", help="a model file saved by purenet train (or model.save)")
    evaluate.add_argument("--data", default="bundled", metavar="bundled|mnist|DIR", help=DATA_HELP)
    evaluate.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate on the first N test images only")
    evaluate.add_argument("--report", metavar="DIR", help="write PNG pictures and REPORT.md into DIR (created if needed)")
    evaluate.set_defaults(run=evaluate_command)


def _add_predict(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="recognise the digit (or the number) in PNG/JPEG/PGM pictures",
        description=textwrap.fill(
            "Recognise the digit in each picture: PNG (gray, RGB, with or without alpha, palette), "
            "JPEG, PGM or PPM; a drawing, a scan or a photo of paper, "
            "dark on light or light on dark. Each picture is cropped to its ink, scaled and centred "
            "as MNIST digits are (purenet.preprocess), and one line per picture gives the predicted "
            "digit and its probability, or 'not a digit' for a scribble, a letter, a blot or an "
            "empty page. --number reads several digits left to right (purenet.read_digits) and "
            "gives the least certain digit's probability."
        ),
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="picture files")
    predict.add_argument(
        "--model", metavar="FILE",
        help="the model to use (default: the pretrained model shipped with purenet, "
        "models/lenet-mnist.safetensors in the package)",
    )
    predict.add_argument("--top", type=_positive_int, metavar="K", help="also list the K most likely classes")
    predict.add_argument("--number", action="store_true",
                         help="read all the digits in each picture, left to right (a number such as 2026)")
    predict.add_argument("--json", action="store_true",
                         help='print one JSON object per picture: {"file", "digit", "probability"} '
                         '(and "number", "digits" with --number); "digit" is null for no digit')
    predict.add_argument("--no-reject", dest="reject", action="store_false",
                         help="always name a class, even for what looks like no digit at all")
    predict.set_defaults(run=predict_command)


def _add_summary(commands) -> None:
    summary = commands.add_parser(
        "summary",
        help="the architecture and metadata of a saved model",
        description="Print a saved model's (or checkpoint's) layers, output shapes, parameter counts, "
        "classes and training history.",
    )
    summary.add_argument("model", metavar="MODEL", help="a model file or checkpoint")
    summary.set_defaults(run=summary_command)


def _add_export(commands) -> None:
    export = commands.add_parser(
        "export",
        help="write a saved model as an ONNX file",
        description=textwrap.fill(
            f"Write a saved model (or a checkpoint's model) as an ONNX file (opset {OPSET}) that onnxruntime "
            "and other ONNX tools run: input 'input' of shape (N, C, H, W) for any batch size N, output "
            "'output', the same probabilities as purenet computes (to float32 precision)."
        ),
    )
    export.add_argument("model", metavar="MODEL", help="a model file or checkpoint")
    export.add_argument("--onnx", required=True, metavar="OUT", help="the ONNX file to write (replaced if it exists)")
    export.set_defaults(run=export_command)


def _add_bench(commands) -> None:
    bench = commands.add_parser(
        "bench",
        help="how fast purenet trains and predicts here",
        description="Time training steps of the named architectures on bundled MNIST batches, and the "
        "shipped model's one-image prediction. A short check; the full comparison (naive pure Python, "
        "NumPy, PyTorch, several interpreters) is benchmarks/run.py in a source checkout.",
    )
    bench.add_argument(
        "--workloads",
        default=",".join(architectures.ARCHITECTURES),
        help="comma-separated architectures to time (default: all)",
    )
    bench.add_argument(
        "--seconds", type=_positive_float, default=3.0, help="timed seconds per workload (default: 3)"
    )
    bench.set_defaults(run=bench_command)


def _add_draw(commands) -> None:
    draw = commands.add_parser(
        "draw",
        help="draw digits and watch the network recognise them live (a Tk window)",
        description=textwrap.fill(
            "Open a window to draw digits in with the mouse: the network's guess and one probability bar "
            "per class update as you draw, with the 28x28 picture it is given. 'Look inside' shows the "
            "first conv layer's filters and their feature maps; 'Teach it' labels drawings (digit keys), "
            "fine-tunes the model on them and saves it, to start from next time with --model. "
            "Needs tkinter (Debian: apt install python3-tk, or pypy3-tk for PyPy)."
        ),
    )
    draw.add_argument(
        "--model", metavar="FILE",
        help="the model to start from (default: the pretrained model shipped with purenet)",
    )
    draw.add_argument(
        "--drawings", metavar="DIR",
        help="where labelled drawings are kept (default: $PURENET_DRAWINGS, else "
        "$XDG_DATA_HOME/purenet/drawings, i.e. ~/.local/share/purenet/drawings)",
    )
    draw.add_argument(
        "--log", action="store_true",
        help="print one JSON line per prediction shown (and per label, fine-tune and save) on stdout",
    )
    draw.set_defaults(run=draw_command)


# --------------------------------------------------------------------- data
def load_data(spec: str, err=None, splits: Sequence[str] = ("train", "test")):
    """``([(images, labels) per split], description)`` for ``--data``; download
    progress, if any, goes to ``err``."""
    if spec == "bundled":
        return [datasets.load_bundled(s) for s in splits], "the MNIST subset bundled with purenet"
    root = None if spec == "mnist" else spec
    if root is not None and os.path.isfile(root):
        raise UsageError(
            f"--data {spec}: expected 'bundled', 'mnist' or a directory holding the MNIST IDX files; "
            "Received: a file. Pass the directory it is in."
        )
    if root is not None and not os.path.isdir(root):
        raise UsageError(f"--data {spec}: expected 'bundled', 'mnist' or a directory; Received: no such directory.")
    progress = _DownloadReport(err or sys.stderr)
    try:
        loaded = [datasets.load_mnist(s, root=root, progress=progress) for s in splits]
    except datasets.MNISTNotFoundError as e:
        where = f"in {root}" if root is not None else "in $PURENET_DATA or ~/.cache/purenet"
        if e.offline:
            fix = "unset PURENET_OFFLINE and pass --data mnist to download them, or pass --data DIR"
            why = " (PURENET_OFFLINE forbids downloading)"
        else:
            fix = "pass --data DIR"
            why = f" and downloading them failed ({str(e.cause).splitlines()[0] if e.cause else 'no mirror answered'})"
        raise UsageError(
            f"MNIST {e.split} files not found {where}{why}: {fix} for a directory holding the four MNIST IDX files."
        ) from None
    return loaded, ("MNIST" if root is None else f"MNIST from {root}")


class _DownloadReport:
    """``progress(file, done_bytes, total_bytes)`` for ``load_mnist``: a live line on
    a terminal, otherwise one line per file when it starts."""

    def __init__(self, stream):
        self.stream = stream
        self.live = LiveLine(stream) if stream.isatty() else None
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


def _select(images, labels, classes, what: str):
    """The images of ``classes`` only, relabelled 0..k-1 (UsageError when one is missing)."""
    try:
        return datasets.select_classes(images, labels, classes)
    except ValueError as e:  # a class missing from the data
        raise UsageError(f"{what} {','.join(map(str, classes))}: {e}") from None


def _fingerprint(images, labels) -> int:
    """A CRC-32 of the training images and labels: a resumed run must see the same data."""
    return zlib.crc32(bytes(labels), zlib.crc32(images.data))


def _load_any(path: str):
    """``(model, checkpoint or None)`` from a model file, an ONNX file (by its ``.onnx``
    name or its first byte) or, failing those, a checkpoint."""
    if os.path.isfile(path) and is_onnx(path):
        return load_onnx(path), None
    _check_model_file(path)
    try:
        return load_model(path), None
    except ModelFileError as first:
        try:
            ckpt = load_checkpoint(path)
        except ModelFileError:
            raise first from None
        return ckpt.model, ckpt


def _check_model_file(path: str) -> None:
    """A one-line UsageError for a path that is no file, or a file that does not
    even start like a safetensors file (the reader's own errors are for files
    that do, but are broken)."""
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not a purenet model file (expected a .safetensors file).")
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise UsageError(f"{path}: cannot open it ({e.strerror or e}).") from None
    declared = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) < 9 or head[8:9] != b"{" or not 0 < declared <= size - 8:
        raise UsageError(
            f"{path} is not a purenet model file (expected a .safetensors file written by purenet or safetensors)."
        )


def _check_out(path: str, what: str = "--out") -> None:
    """Fail before training, not after it, when ``path`` cannot be written:
    a directory, a missing parent, or a place this user may not write."""
    if os.path.isdir(path):
        raise UsageError(
            f"{what} {path}: expected a file to write the model to; Received: a directory "
            f"(try {os.path.join(path, DEFAULT_OUT)})."
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{what} {path}: the directory {parent} does not exist; create it first.")
    try:  # the real test: the model and checkpoint are written by temp file + rename in this directory
        fd, probe = tempfile.mkstemp(prefix=".purenet-write-test-", dir=parent)
    except OSError as e:
        raise UsageError(f"{what} {path}: cannot write in {parent} ({e.strerror or e}).") from None
    os.close(fd)
    os.remove(probe)


# Bytes of memory one sample takes in a training step, per value it makes: each
# layer output, gradient and cache is a list of Python floats (a 24-byte float
# object and an 8-byte list slot); a convolution's patches are mostly references
# to its input's floats. Fitted to the peak memory of train_on_batch on the
# built-in architectures (within ~1.5x, over rather than under).
_BYTES_PER_OUTPUT = 28
_BYTES_PER_PATCH_VALUE = 40
BATCH_MEMORY_LIMIT = 1 << 30


def batch_memory(model, batch_size: int) -> int:
    """About how many bytes one training step on ``batch_size`` samples needs."""
    per_sample = _BYTES_PER_OUTPUT * model.in_features
    for layer in model.layers:
        per_sample += _BYTES_PER_OUTPUT * shape_size(layer.output_shape)
        if type(layer) is Conv2D:
            taps = layer.input_shape[0] * layer.kernel[0] * layer.kernel[1]
            per_sample += _BYTES_PER_PATCH_VALUE * taps * layer.output_shape[1] * layer.output_shape[2]
    return per_sample * batch_size


def _check_batch_memory(model, batch_size: int) -> None:
    need = batch_memory(model, batch_size)
    if need > BATCH_MEMORY_LIMIT:
        largest = max(1, BATCH_MEMORY_LIMIT * batch_size // need)
        raise UsageError(
            f"--batch-size {batch_size}: one batch would need about {need / 1e9:.1f} GB of memory "
            f"(purenet holds a batch as Python floats); use --batch-size {largest} or less."
        )


def _digit_model(model, path: str) -> List:
    """Check ``model`` reads 28x28 gray images; returns its class names, one per output."""
    if tuple(model.input_shape) not in ((1, 28, 28), (784,)):
        raise UsageError(
            f"{path}: expected a model for 28x28 gray digits, input shape (1, 28, 28) or (784,); "
            f"Received: input shape {tuple(model.input_shape)}."
        )
    if model.out_features < 2:
        raise UsageError(f"{path}: expected a classifier with one output per class; Received: {model.out_features} output.")
    names = model.classes if model.classes is not None else list(range(model.out_features))
    if len(names) != model.out_features:
        raise UsageError(
            f"{path}: the model has {model.out_features} outputs but its metadata names "
            f"{len(names)} classes ({names})."
        )
    return list(names)


# ------------------------------------------------------------------ train
def _settings(args, ckpt) -> Dict:
    """The run's settings: the options (fresh run) or the checkpoint's (resumed run)."""
    if ckpt is None:
        optimizer = args.optimizer or "sgd"
        run = {
            "data": args.data or "bundled",
            "arch": args.arch or "cnn-small",
            "classes": args.classes,
            "limit": args.limit,
            "batch_size": args.batch_size or DEFAULT_BATCH_SIZE,
            "optimizer": optimizer,
            "lr": args.lr if args.lr is not None else DEFAULT_LR[optimizer],
            "lr_decay": args.lr_decay if args.lr_decay is not None else DEFAULT_LR_DECAY,
            "momentum": args.momentum if args.momentum is not None else DEFAULT_MOMENTUM,
            "seed": args.seed if args.seed is not None else 0,
            "augment": bool(args.augment),
            "epochs": args.epochs or DEFAULT_EPOCHS,
            "out": args.out or DEFAULT_OUT,
            "workers": args.workers or 1,
        }
    else:
        saved = ckpt.extra.get("train") if isinstance(ckpt.extra, dict) else None
        if not isinstance(saved, dict) or not all(k in saved for k in RUN_SETTINGS + ("data", "epochs", "out")):
            raise UsageError(
                f"--resume {args.resume}: expected a checkpoint written by purenet train; Received: a checkpoint "
                "without its training settings (continue it in Python with pn.load_checkpoint)."
            )
        for name in RUN_SETTINGS:
            given = getattr(args, name)
            if given is not None and given != saved[name]:
                was = saved[name]
                trained = f"with {_option(name, was)}" if was not in (None, False) else f"without {_option(name, True)}"
                raise UsageError(
                    f"{_option(name, given)}: the checkpoint was trained {trained}; a resumed run keeps its "
                    "settings (leave the option out, or start a new run without --resume)."
                )
        run = {k: saved[k] for k in RUN_SETTINGS}
        run.update(data=args.data or saved["data"], epochs=args.epochs or saved["epochs"], out=args.out or saved["out"])
        # not a RUN_SETTING: it changes only the speed (and the rounding), so a resumed run may pick another
        run["workers"] = args.workers or saved.get("workers", 1)
        if isinstance(run["workers"], bool) or not isinstance(run["workers"], int) or run["workers"] < 1:
            raise UsageError(f"--resume {args.resume}: the checkpoint's workers setting is malformed; give --workers N.")
        if run["epochs"] <= ckpt.epoch:
            if args.epochs is None:
                raise UsageError(
                    f"--resume {args.resume}: the run already completed its {ckpt.epoch} epoch(s); "
                    f"give --epochs N with N > {ckpt.epoch} to train further."
                )
            raise UsageError(
                f"--epochs {run['epochs']}: the checkpoint has already completed {ckpt.epoch} epoch(s); "
                "ask for more to continue training."
            )
    run["checkpoint"] = args.checkpoint or run["out"] + ".ckpt"
    if os.path.abspath(run["checkpoint"]) == os.path.abspath(run["out"]):
        raise UsageError(f"--checkpoint {run['checkpoint']}: expected a file other than the --out model file.")
    for option in ("out", "checkpoint"):
        folder = os.path.dirname(run[option]) or "."
        if not os.path.isdir(folder):
            raise UsageError(
                f"--{option} {run[option]}: expected a file in an existing directory; Received: no directory {folder}."
            )
    return run


def _option(name: str, value) -> str:
    """A setting as it is written on the command line: ``--classes 3,7``, ``--augment``."""
    option = "--" + name.replace("_", "-")
    if value is True:
        return option
    return f"{option} {','.join(map(str, value)) if isinstance(value, list) else value}"


class _Boundary:
    """Everything training changes, as it was at the end of an epoch (copies).

    Ctrl-C can come in the middle of an epoch, with the weights half-way
    through it; the checkpoint written then must hold this state instead,
    so that resuming replays the interrupted epoch exactly.
    """

    def __init__(self, epoch, model, optimizer, augment):
        self.epoch = epoch
        self.weights = model.state_dict()
        self.optimizer = optimizer.state_dict(model.named_parameters())
        self.rng = model.rng.getstate()
        self.layer_rngs = [(layer, layer.rng.getstate()) for _, layer in rngstate.layers_with_rng(model)]
        self.augment = augment.rng.getstate() if augment else None
        self.history = {k: list(v) for k, v in model.history.items()}

    def restore(self, model, optimizer, augment) -> None:
        model.load_state_dict(self.weights)
        optimizer.load_state_dict(self.optimizer, model.named_parameters())
        model.rng.setstate(self.rng)
        for layer, state in self.layer_rngs:
            layer.rng.setstate(state)
        if augment:
            augment.rng.setstate(self.augment)
        model.history = {k: list(v) for k, v in self.history.items()}


def _load_checkpoint(path: str):
    try:
        return load_checkpoint(path)
    except ModelFileError as e:
        try:
            load_model(path)
        except ModelFileError:
            raise e from None
        raise UsageError(
            f"--resume {path}: expected a training checkpoint (purenet train writes one next to the model, "
            f"named like {path}.ckpt); Received: a model file, which keeps no optimizer state."
        ) from None


def _augmenter(seed: int) -> Augment:
    # Its own generator, seeded from --seed but not equal to the model's
    # (a str seed is hashed with SHA-512: the same on every run and interpreter).
    return Augment(rng=random.Random(f"purenet-augment-{seed}"))


def train_command(args, out=None, err=None) -> int:
    """Run ``purenet train`` with parsed ``args``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    ckpt = _load_checkpoint(args.resume) if args.resume else None
    run = _settings(args, ckpt)
    _check_out(run["out"])
    (train, test), what = load_data(run["data"], err)
    (x_train, y_train), (x_test, y_test) = train, test
    classes = run["classes"]
    if classes:
        x_train, y_train = _select(x_train, y_train, classes, "--classes")
        x_test, y_test = _select(x_test, y_test, classes, "--classes")
        what += f", digits {','.join(map(str, classes))}"
    if run["limit"]:
        x_train, y_train = x_train[: run["limit"]], y_train[: run["limit"]]
    fingerprint = _fingerprint(x_train, y_train)
    n_classes = len(classes) if classes else 10

    augment = _augmenter(run["seed"]) if run["augment"] else None
    if ckpt is None:
        model = architectures.build(run["arch"], classes=n_classes, seed=run["seed"])
        model.classes = list(classes) if classes else None
        optimizer = Adam(run["lr"]) if run["optimizer"] == "adam" else SGD(run["lr"], momentum=run["momentum"])
        loss = CrossEntropy()
        done = 0
    else:
        saved = ckpt.extra["train"]
        if saved.get("data_crc32") != fingerprint:
            raise UsageError(
                f"--data {run['data']}: these are not the training images the checkpoint was trained on "
                f"({len(x_train):,} images here, {saved.get('train_images', '?')} then, different contents); "
                "resume with the same data."
            )
        model, optimizer, done = ckpt.model, ckpt.optimizer, ckpt.epoch
        loss = model.loss if type(model.loss) is CrossEntropy else CrossEntropy()
        if augment:
            try:
                augment.rng.setstate(rngstate.from_json(saved.get("augment_rng_state")))
            except ValueError:
                raise UsageError(f"--resume {args.resume}: the checkpoint's augmentation generator state is malformed.") from None
    epochs, lr, decay, bs = run["epochs"], run["lr"], run["lr_decay"], run["batch_size"]
    _check_batch_memory(model, bs)

    def say(text=""):
        print(text, file=out, flush=True)

    def extra():
        settings = {k: run[k] for k in RUN_SETTINGS + ("data", "epochs", "out", "workers")}
        settings.update(
            data_crc32=fingerprint, train_images=len(x_train),
            augment_rng_state=rngstate.to_json(augment.rng.getstate()) if augment else None,
        )
        return {"train": settings}

    optimizer.lr = lr * decay ** done  # the rate of the first epoch to run
    say(f"purenet {__version__} on {platform.python_implementation()} {platform.python_version()}")
    say(f"data: {what}: {len(x_train):,} training and {len(x_test):,} test images, {n_classes} classes")
    if ckpt is not None:
        say(f"resuming from {args.resume}: {done} of {epochs} epochs done")
    schedule = f", lr x{decay:g} after each epoch" if decay != 1.0 else ""
    augmented = f", augmented by {augment!r}" if augment else ""
    workers = f", {run['workers']} processes" if run["workers"] > 1 else ""
    say(f"training {run['arch']} for {epochs} epoch{'s' if epochs != 1 else ''}, "
        f"batch {bs}, {optimizer!r}{schedule}{augmented}, seed {run['seed']}{workers}")
    model.summary(print_fn=say)

    started = time.perf_counter()
    guard = _Guard(_Boundary(done, model, optimizer, augment), augment)
    epoch_lines = _EpochLines(say)
    callbacks = [
        LearningRateScheduler(lambda epoch, _: lr * decay ** epoch),  # the rate of epoch (from 0)
        ProgressBar(stream=err, epoch_lines=False),  # a live line on a terminal only
        guard,  # stops a diverging run before its checkpoint is written
        ModelCheckpoint(run["checkpoint"], extra=extra),
        epoch_lines,
        HealthCheck(),
    ]
    try:
        with warnings.catch_warnings():  # one plain line each, not Python's warning format
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *_, **__: print(f"purenet train: warning: {message}", file=err)
            model.fit(x_train, y_train, epochs=epochs, initial_epoch=done, batch_size=bs, loss=loss,
                      optimizer=optimizer, validation_data=(x_test, y_test), workers=run["workers"],
                      augment=augment, callbacks=callbacks)
    except _Diverged as e:
        if err.isatty():
            LiveLine(err).clear()
        print(_diverged(str(e), guard.boundary.epoch, run, lr), file=err)
        return 1
    except KeyboardInterrupt:
        if err.isatty():
            LiveLine(err).clear()
        boundary = guard.boundary
        boundary.restore(model, optimizer, augment)
        checkpoint_io.save_checkpoint(run["checkpoint"], model, optimizer, boundary.epoch, extra=extra())
        quoted = shlex.quote(run["checkpoint"])
        if boundary.epoch < epochs:
            message = (f"interrupted in epoch {boundary.epoch + 1}/{epochs}; saved the state after epoch "
                       f"{boundary.epoch} to {run['checkpoint']}. Continue with: purenet train --resume {quoted}")
        else:  # while the last checkpoint was being written
            message = (f"interrupted after the last epoch, before saving {run['out']}; the trained model is in "
                       f"{run['checkpoint']} (purenet evaluate {quoted} reads it).")
        print(f"\npurenet train: {message}", file=err, flush=True)
        return 130
    elapsed = time.perf_counter() - started
    test = epoch_lines.last
    correct = round(test["val_accuracy"] * len(x_test))
    say(f"test accuracy: {test['val_accuracy']:.2%} ({correct}/{len(x_test)}) after {duration(elapsed)}")
    model.save(run["out"])
    say(f"saved the model to {run['out']} (checkpoint: {run['checkpoint']})")
    return 0


class _Diverged(Exception):
    """Raised by :class:`_Guard` from inside ``fit``: where the run diverged."""


class _Guard(Callback):
    """Stops ``purenet train`` when it diverges, and keeps the state of the last finished
    epoch (:class:`_Boundary`) for Ctrl-C: called after each epoch before its checkpoint."""

    def __init__(self, boundary: "_Boundary", augment):
        super().__init__()
        self.boundary, self.augment = boundary, augment

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1  # as people count

    def on_batch_end(self, batch, logs=None):
        value = logs["loss"]  # the epoch's running mean: not finite from the first batch that is not
        if not math.isfinite(value):  # (that batch took no step)
            raise _Diverged(f"the loss became {value} in epoch {self.epoch}/{self.params['epochs']}, "
                            f"batch {batch + 1}/{self.params['steps']}")

    def on_epoch_end(self, epoch, logs=None):
        epochs, steps = self.params["epochs"], self.params["steps"]
        wild = _wild_weight(self.model)
        if wild is not None:  # the epoch's last step blew them up: do not checkpoint them
            raise _Diverged(f"a weight became {wild:g} in epoch {self.epoch}/{epochs}, batch {steps}/{steps}")
        if not math.isfinite(logs["val_loss"]):  # finite weights, but large enough to overflow
            raise _Diverged(f"the test loss became {logs['val_loss']} after epoch {self.epoch}/{epochs}")
        self.boundary = _Boundary(self.epoch, self.model, self.model.optimizer, self.augment)


class _EpochLines(Callback):
    """``purenet train``'s line per epoch, on stdout: time, rate, loss and accuracy, test figures."""

    def __init__(self, say):
        super().__init__()
        self.say = say
        self.last = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.took = time.perf_counter() - self.start  # training only, as the rate should say

    def on_epoch_end(self, epoch, logs=None):
        self.last = logs
        took, n = self.took, self.params["samples"]
        self.say(f"epoch {epoch + 1}/{self.params['epochs']}  {took:6.1f}s  {n / took:5.0f} samples/s  "
                 f"loss {logs['loss']:.4f}  accuracy {logs['accuracy']:.2%}  "
                 f"test loss {logs['val_loss']:.4f}  test accuracy {logs['val_accuracy']:.2%}")


_FLOAT32_MAX = 3.4028234663852886e38


def _wild_weight(model) -> Optional[float]:
    """A weight that is not finite or too large for a model file (F32), or None."""
    for p in model.parameters():
        if not all(-_FLOAT32_MAX <= v <= _FLOAT32_MAX for v in p.data):  # also False for NaN
            return next(v for v in p.data if not -_FLOAT32_MAX <= v <= _FLOAT32_MAX)
    return None


def _diverged(what: str, good_epoch: int, run: Dict, lr: float) -> str:
    """The message for a run whose loss or weights stopped being finite: where, what
    was kept, what to try."""
    quoted = shlex.quote(run["checkpoint"])
    if good_epoch:
        kept = (f"The checkpoint {run['checkpoint']} still holds the state after epoch {good_epoch} "
                f"(purenet evaluate {quoted} reads it)")
    else:
        kept = "No checkpoint was written (that comes at the end of the first epoch)"
    adam = ", or --optimizer adam" if run["optimizer"] == "sgd" else ""
    return (f"purenet train: error: {what}: training diverged. {kept}, and {run['out']} was left as it was. "
            f"Try a smaller --lr than {lr:g} (e.g. {lr / 10:g}) in a new run{adam}.")


# --------------------------------------------------------------- evaluate
def evaluate_command(args, out=None, err=None) -> int:
    """Run ``purenet evaluate``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr

    def say(text=""):
        print(text, file=out, flush=True)

    model, _ = _load_any(args.model)
    names = _digit_model(model, args.model)
    [(x_test, y_test)], what = load_data(args.data, err, splits=("test",))
    index = list(range(len(y_test)))  # each evaluated image's index in the test split
    if names != list(range(10)):
        if not all(type(c) is int and 0 <= c <= 9 for c in names):
            raise UsageError(f"{args.model}: expected a model of MNIST digits 0-9; Received: classes {names}.")
        index = [i for i, y in enumerate(y_test) if y in names]  # select_classes keeps the order
        x_test, y_test = _select(x_test, y_test, names, f"{args.model}: classes")
        what += f", digits {','.join(map(str, names))}"
    if args.limit:
        x_test, y_test, index = x_test[: args.limit], y_test[: args.limit], index[: args.limit]
    n, k = len(x_test), len(names)

    progress = LiveLine(err) if err.isatty() else None
    t0 = time.perf_counter()
    rows: List[float] = []
    chunk = 500
    for s in range(0, n, chunk):
        rows += model.predict(x_test[s : s + chunk]).data
        if progress:
            done = min(n, s + chunk)
            rate = done / max(time.perf_counter() - t0, 1e-9)
            progress.show(f"evaluating: {done:,}/{n:,} test images  {rate:.0f} images/s  ETA {duration((n - done) / rate)}")
    if progress:
        progress.clear()
    probs = [rows[i * k : (i + 1) * k] for i in range(n)]
    predicted = [p.index(max(p)) for p in probs]
    matrix = report.confusion_matrix(y_test, predicted, k)
    correct = sum(matrix[i][i] for i in range(k))
    history = model.history or {}
    epochs = max((len(v) for v in history.values()), default=0)
    text = [
        f"model: {args.model} ({model.count_params():,} parameters, {k} classes"
        + (f", trained {epochs} epoch{'s' if epochs != 1 else ''})" if epochs else ")"),
        f"data: {what}: {n:,} test images",
    ]
    line = f"accuracy: {correct / n:.2%} ({correct}/{n})"
    if isinstance(model.layers[-1], Softmax):
        line += f"  loss {_mean_loss(probs, y_test):.4f}"
    text += [line, "", "per-class accuracy:", report.format_per_class(matrix, names), "",
             "confusion matrix (rows: true class, columns: predicted class):", report.format_confusion(matrix, names)]
    say("\n".join(text))
    if args.report:
        mistakes = [
            (index[i], x_test.pixels(i), names[y_test[i]], names[p], probs[i][p])
            for i, p in enumerate(predicted) if p != y_test[i]
        ]
        written = report.write_report(
            args.report, matrix=matrix, names=names, history=history,
            filters=report.first_layer_filters(model), mistakes=mistakes, summary="\n".join(text),
        )
        say("")
        say(f"report: wrote {', '.join(os.path.basename(p) for p in written)} to {args.report}")
    return 0


def _mean_loss(probs: List[List[float]], labels: List[int]) -> float:
    """Mean cross-entropy of probability rows (what ``model.evaluate`` reports)."""
    return math.fsum(-math.log(max(p[t], 1e-300)) for p, t in zip(probs, labels)) / len(labels)


# ---------------------------------------------------------------- predict
#: ``predict`` reads pictures reduced to no less than this shorter side (a
#: 4032x3024 photo at 1/8, 504x378): a digit filling a tenth of it still
#: spans 30 pixels, more than the 20 of an MNIST digit's box. In gray: the
#: digit is read in gray anyway, and a JPEG's chroma is then only skipped.
PREDICT_MIN_SIDE = 300


def read_picture(image, model, names, *, number: bool = False, reject: bool = True):
    """What ``purenet predict`` makes of one picture (already read): ``(record, ranked)``.

    ``record`` is the JSON object of ``predict_command`` without ``file``;
    ``ranked``: ``[(class index, probability), ...]``, most probable first, of
    the picture read as one digit (None when it has no ink). One digit: the
    picture through :func:`purenet.preprocess` (all its ink), refused when
    the rejection model says no digit; ``number``: :func:`purenet.read_digits`.
    """
    from .vision.digits import read_digits
    from .vision.rejection import THRESHOLD as REJECT_THRESHOLD
    from .vision.rejection import not_digit_probability

    record = {"digit": None, "probability": 1.0}
    ranked = None
    x = preprocess(image)
    if x is not None:
        probs = model.predict([x]).data
        ranked = sorted(enumerate(probs), key=lambda t: -t[1])
        refused = not_digit_probability([x])[0] if reject else 0.0
        if refused > REJECT_THRESHOLD:
            record["probability"] = refused
        else:
            record["digit"], record["probability"] = names[ranked[0][0]], ranked[0][1]
    if number:
        found = read_digits(image, model, reject=reject)
        record["number"] = "".join("?" if d.digit is None else str(names[d.digit]) for d in found)
        record["digits"] = [{"digit": None if d.digit is None else names[d.digit], "probability": d.probability,
                             "box": list(d.box)} for d in found]
    return record, ranked


def predict_command(args, out=None, err=None) -> int:
    """Run ``purenet predict``; returns 0, or 2 when any picture could not be read.

    JSON (``--json``), one object per picture: ``file``; ``digit`` (the
    picture read as one digit; null when it is no digit or has no ink);
    ``probability`` (of that digit, or, for null, the probability that it is
    no digit: 1 for no ink); with ``--number`` also ``number`` (the digits
    left to right, ``?`` for a part that is no digit) and ``digits``
    (``digit``, ``probability`` and ``box`` ``[x0, y0, x1, y1]``, in pixels,
    ``x1``/``y1`` exclusive, each).
    """
    import json

    out = out or sys.stdout
    err = err or sys.stderr
    path = args.model
    if path is None:
        path = PRETRAINED_MODEL
        if not os.path.isfile(path):
            raise UsageError(
                f"no --model given and the pretrained model is not installed (expected {path}); "
                "train one with 'purenet train' and pass --model model.safetensors."
            )
    model, _ = _load_any(path)
    names = _digit_model(model, path)
    top = min(args.top, len(names)) if args.top else 0
    reject = getattr(args, "reject", True)
    status = 0
    for name in args.images:
        try:
            image = read_image(name, min_side=PREDICT_MIN_SIDE, gray=True)
        except ImageError as e:
            hint = " It looks like a model file: give models with --model FILE." if name.endswith(
                (".safetensors", ".ckpt")) else ""
            print(f"purenet predict: error: {' '.join(str(e).split())}{hint}", file=err, flush=True)
            status = 2
            continue
        except OSError as e:
            print(f"purenet predict: error: cannot read {name}: {e.strerror or e}", file=err, flush=True)
            status = 2
            continue
        found, ranked = read_picture(image, model, names, number=args.number, reject=reject)
        record = {"file": name, **found}
        if args.json:
            print(json.dumps(record), file=out, flush=True)
            continue
        if args.number:
            known = [d for d in record["digits"] if d["digit"] is not None]
            if not known:
                line = f"{name}: {'not a digit' if record['digits'] else 'not a digit (no ink)'}"
            else:
                least = min(d["probability"] for d in known)
                line = f"{name}: {record['number']} (least certain digit {least:.1%})"
        elif ranked is None:
            line = f"{name}: not a digit (no ink)"
        elif record["digit"] is None:
            line = f"{name}: not a digit ({record['probability']:.1%})"
        else:
            line = f"{name}: {record['digit']} ({record['probability']:.1%})"
            if top:
                line += f"  top {top}: " + ", ".join(f"{names[i]} {p:.1%}" for i, p in ranked[:top])
        print(line, file=out, flush=True)
    return status


# ------------------------------------------------------------------ bench
def bench_command(args, out=None, err=None) -> int:
    """Run ``purenet bench``; returns the exit status."""
    from . import bench  # only this command needs it

    out = out or sys.stdout
    err = err or sys.stderr
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in architectures.ARCHITECTURES]
    if unknown or not names:
        raise UsageError(
            f"--workloads: expected names from {', '.join(architectures.ARCHITECTURES)}; Received: {args.workloads!r}."
        )
    rows = bench.run_training(names, args.seconds, progress=lambda text: print(text, file=err, flush=True))
    latency = bench.prediction_latency(load_model(PRETRAINED_MODEL)) if os.path.isfile(PRETRAINED_MODEL) else None
    print(bench.format_results(rows, latency), file=out, flush=True)
    return 0


# ---------------------------------------------------------------- summary
def summary_command(args, out=None, err=None) -> int:
    """Run ``purenet summary``; returns the exit status."""
    out = out or sys.stdout

    def say(text=""):
        print(text, file=out, flush=True)

    model, ckpt = _load_any(args.model)
    kind = "a purenet training checkpoint" if ckpt else "a purenet model"
    say(f"{args.model}: {kind}, {os.path.getsize(args.model):,} bytes")
    model.summary(print_fn=say)
    if model.classes is not None:
        say(f"classes: {', '.join(map(str, model.classes))} (output i is class number i of this list)")
    else:
        say(f"classes: {model.out_features} outputs, output i is class i")
    history = model.history or {}
    epochs = max((len(v) for v in history.values()), default=0)
    if epochs:
        order = ["loss", "accuracy", "val_loss", "val_accuracy"]
        keys = sorted(history, key=lambda k: (order.index(k) if k in order else len(order), k))
        last = ", ".join(f"{k} {_metric(k, history[k][-1])}" for k in keys if history[k])
        say(f"history: {epochs} epoch{'s' if epochs != 1 else ''}; last: {last}")
    else:
        say("history: none saved")
    if ckpt:
        say(f"checkpoint: {ckpt.epoch} epoch(s) done, optimizer {ckpt.optimizer!r}")
    return 0


# ----------------------------------------------------------------- export
def export_command(args, out=None, err=None) -> int:
    """Run ``purenet export``; returns the exit status."""
    out = out or sys.stdout
    model, _ = _load_any(args.model)
    if os.path.exists(args.onnx) and os.path.samefile(args.onnx, args.model):
        raise UsageError(f"--onnx {args.onnx}: expected a new file; Received: the model file itself, "
                         "which this would overwrite.")
    try:
        export_onnx(model, args.onnx)
    except ValueError as e:  # a weight float32 cannot hold
        raise UsageError(f"{args.model}: {e}") from None
    except OSError as e:  # named after OUT, not the temporary file write_atomic was writing
        raise UsageError(f"--onnx {args.onnx}: cannot write the file: {e.strerror or e}.") from None
    print(f"wrote {args.onnx} ({os.path.getsize(args.onnx):,} bytes): ONNX opset {OPSET}, "
          f"input '{INPUT_NAME}' {_batch_shape(model.input_shape)}, "
          f"output '{OUTPUT_NAME}' {_batch_shape(model.output_shape)}",
          file=out, flush=True)
    return 0


def _batch_shape(shape) -> str:
    """``(1, 28, 28)`` -> ``"(N, 1, 28, 28)"``: a sample shape with the batch dimension."""
    return "(" + ", ".join(["N"] + [str(d) for d in shape]) + ")"


def _metric(key: str, value: Optional[float]) -> str:
    if value is None:
        return "nan"
    return f"{value:.2%}" if "accuracy" in key else f"{value:.4f}"


# ------------------------------------------------------------------- draw
def draw_command(args, out=None, err=None) -> int:
    """Run ``purenet draw``: the Tk window until it is closed; 2 without tkinter or a display."""
    out = out or sys.stdout
    err = err or sys.stderr
    path = args.model or PRETRAINED_MODEL
    if args.model is None and not os.path.isfile(path):
        raise UsageError(f"no --model given and the pretrained model is not installed (expected {path}).")
    model, _ = _load_any(path)
    names = _digit_model(model, path)
    try:  # the only place the command line touches Tk: the rest of purenet never imports it
        from .app import window
    except ImportError as e:
        if getattr(e, "name", None) not in ("tkinter", "_tkinter"):
            raise
        package = "pypy3-tk" if platform.python_implementation() == "PyPy" else "python3-tk"
        print(f"purenet draw: error: this Python has no tkinter, which the drawing app needs. Install it: "
              f"on Debian/Ubuntu 'apt install {package}' (other systems: the Tk package of your Python).",
              file=err, flush=True)
        return 2
    from .app.state import Recogniser
    from .app.userdata import Drawings

    drawings = Drawings(args.drawings)
    try:
        root = window.tk.Tk()
    except window.tk.TclError as e:
        print(f"purenet draw: error: cannot open a window: {e}", file=err, flush=True)
        return 2
    app = window.App(root, Recogniser(model, names), drawings, model_name=os.path.basename(path),
                     log=window.json_log(out) if args.log else None)
    app.announce()
    root.mainloop()
    return 0


# ------------------------------------------------------------------- main
def _import_user_modules(argv: List[str]) -> None:
    """Import the modules named by ``--import MODULE`` / ``--import=MODULE`` before the command."""
    import importlib

    names, i = [], 0
    while i < len(argv) and argv[i].startswith("-"):  # global options come before the command
        if argv[i] == "--import" and i + 1 < len(argv):
            names.append(argv[i + 1])
            i += 2
            continue
        if argv[i].startswith("--import="):
            names.append(argv[i][len("--import="):])
        i += 1
    for name in names:
        if "" not in sys.path and os.getcwd() not in sys.path:  # `purenet` finds modules where `python -m` would
            sys.path.insert(0, "")
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UsageError(f"--import {name}: cannot import it ({e}).") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # before the parser is built: a module may add architectures that --arch then offers
        _import_user_modules(argv)
    except UsageError as e:
        print(f"purenet: error: {e}", file=sys.stderr)
        return 2
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    try:
        return args.run(args)
    except (UsageError, DatasetError, ModelFileError) as e:
        print(f"purenet {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `purenet ... | head`: the reader left, nothing more to say
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except (OSError, ValueError, AttributeError):  # stdout is not a real file
            pass
        return 1
    except OSError as e:  # e.g. --out in a read-only directory, a full disk
        where = f": {e.filename}" if e.filename else ""
        print(f"purenet {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\npurenet {args.command}: interrupted", file=sys.stderr)
        return 130
