"""The command line (``purenet ...`` / ``python -m purenet ...``), the named
architectures and the report pictures.

Most tests call ``purenet.cli.main([...])`` in-process and read what it
printed; two run ``python -m purenet`` in a subprocess, as a user would.
Training runs are kept to a few seconds: two digits (--classes 0,1, so the
test split is 400 images), a few hundred training samples, one or two
epochs. Every test runs in its own temporary directory, where ``purenet
train`` writes ``model.safetensors`` and its checkpoint by default.
"""

import contextlib
import io
import os
import random
import re
import subprocess
import sys

import pytest

import purenet
from purenet import architectures, cli, report
from purenet.datasets import write_idx
from purenet.io import read_safetensors
from purenet.io.image import Image
from purenet.io.png import read_png, write_png

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["train", "--classes", "0,1", "--limit", "200", "--epochs", "1"]
ACCURACY_LINE = re.compile(r"^test accuracy: (\d+\.\d\d)% \((\d+)/(\d+)\) after \S+", re.M)
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/(\d+) +[\d.]+s +\d+ samples/s  loss ([\d.]+)  accuracy ([\d.]+)%  "
    r"test loss ([\d.]+)  test accuracy ([\d.]+)%$",
    re.M,
)


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Each test in its own directory: default output files land there."""
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv):
    """``main(argv)`` in-process: (exit status, stdout, stderr)."""
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def final_accuracy(out):
    """The accuracy (percent), correct count and test-set size of the final line."""
    match = ACCURACY_LINE.search(out)
    assert match, f"no final accuracy line in:\n{out}"
    pct, correct, total = float(match.group(1)), int(match.group(2)), int(match.group(3))
    assert abs(pct - 100.0 * correct / total) < 0.006
    return pct, correct, total


def without_timings(out):
    """The output with the seconds and samples/s figures blanked (they vary run to run)."""
    out = re.sub(r"[\d.]+s +\d+ samples/s", "T", out)
    return re.sub(r"after \S+( \S+s)?$", "after T", out, flags=re.M)


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, got:\n{err}"
    assert "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


# --- architectures -----------------------------------------------------------


@pytest.mark.parametrize(
    "name, params, layers",
    [
        ("cnn-small", 13_610, ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "Softmax"]),
        ("mlp", 101_770, ["Flatten", "Dense", "ReLU", "Dense", "Softmax"]),
        ("lenet", 27_562, ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D",
                           "Flatten", "Dense", "ReLU", "Dense", "Softmax"]),
        ("cnn-bn", 6_298, ["Conv2D", "ReLU", "MaxPool2D", "BatchNorm2D", "Conv2D", "ReLU", "MaxPool2D",
                           "BatchNorm2D", "Conv2D", "BatchNorm2D", "LeakyReLU", "GlobalAvgPool2D", "Dense",
                           "Softmax"]),
    ],
)
def test_architectures_build_the_documented_models(name, params, layers):
    model = architectures.build(name)
    assert [type(layer).__name__ for layer in model.layers] == layers
    assert model.input_shape == (1, 28, 28)
    assert model.output_shape == (10,)
    assert model.count_params() == params
    assert architectures.build(name, classes=3).output_shape == (3,)
    assert name in architectures.ARCHITECTURES


def test_cnn_small_is_the_performance_workload():
    conv, _, pool, _, dense, _ = architectures.build("cnn-small").layers
    assert (conv.filters, conv.kernel, conv.strides, conv.padding) == (8, (3, 3), (1, 1), 0)
    assert pool.pool == (2, 2)
    assert dense.weight.shape == (10, 8 * 13 * 13)


def test_architectures_are_seeded():
    a = architectures.build("lenet", seed=1).state_dict()
    b = architectures.build("lenet", seed=1).state_dict()
    c = architectures.build("lenet", seed=2).state_dict()
    assert list(a) == list(b) and all(a[k] == b[k] for k in a)
    assert a["0.weight"] != c["0.weight"]


def test_architectures_reject_bad_names_and_class_counts():
    with pytest.raises(ValueError, match=r"unknown architecture: expected one of cnn-small, mlp, lenet, cnn-bn; Received: 'resnet'"):
        architectures.build("resnet")
    for bad in (1, 0, True, 2.0, "10"):
        with pytest.raises(ValueError, match="classes must be an int >= 2"):
            architectures.build("mlp", classes=bad)


# --- help, version, usage ----------------------------------------------------


def test_help_lists_the_commands(capsys):
    status, out, err = run(capsys, "--help")
    assert status == 0 and err == ""
    assert out.startswith("usage: purenet")
    for command in ("train", "evaluate", "predict", "summary"):
        assert re.search(rf"^    {command} +\S", out, re.M), f"{command} not listed in --help"
    assert "COMMAND --help" in out


@pytest.mark.parametrize(
    "command, options",
    [
        ("evaluate", ["MODEL", "--data", "--limit", "--report"]),
        ("predict", ["IMAGE", "--model", "--top", "lenet-mnist.safetensors"]),
        ("summary", ["MODEL"]),
    ],
)
def test_every_command_has_help(capsys, command, options):
    status, out, err = run(capsys, command, "--help")
    assert status == 0 and err == ""
    assert out.startswith(f"usage: purenet {command}")
    for option in options:
        assert option in out


def test_train_help_lists_every_option_and_architecture(capsys):
    status, out, err = run(capsys, "train", "--help")
    assert status == 0 and err == ""
    for option in ("--data", "--arch", "--classes", "--epochs", "--batch-size", "--lr", "--lr-decay",
                   "--momentum", "--optimizer", "--seed", "--limit", "--augment", "--out", "--checkpoint",
                   "--resume"):
        assert option in out
    for name in architectures.ARCHITECTURES:
        assert re.search(rf"^  {re.escape(name)} +\S", out, re.M), f"{name} not described in --help"
    assert f"(default: {cli.DEFAULT_EPOCHS})" in out
    assert f"(default: {cli.DEFAULT_OUT};" in out


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"purenet {purenet.__version__}"


@pytest.mark.parametrize(
    "argv, fragments",
    [
        ([], ["required: COMMAND"]),
        (["fly"], ["invalid choice: 'fly'"]),
        (["train", "--classes", "1"], ["--classes", "at least two classes"]),
        (["train", "--classes", "0,0"], ["--classes", "distinct"]),
        (["train", "--classes", "0,12"], ["--classes", "0-9"]),
        (["train", "--classes", "a,b"], ["--classes", "comma-separated digits"]),
        (["train", "--classes", ""], ["--classes"]),
        (["train", "--arch", "resnet"], ["--arch", "invalid choice"]),
        (["train", "--epochs", "0"], ["--epochs", "positive integer"]),
        (["train", "--batch-size", "x"], ["--batch-size", "positive integer"]),
        (["train", "--lr", "-1"], ["--lr", "positive number"]),
        (["train", "--lr", "nan"], ["--lr", "positive number"]),
        (["train", "--lr-decay", "0"], ["--lr-decay"]),
        (["train", "--momentum", "1"], ["--momentum"]),
        (["train", "--optimizer", "rmsprop"], ["--optimizer"]),
        (["train", "--limit", "-5"], ["--limit"]),
        (["train", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["evaluate"], ["MODEL"]),
        (["evaluate", "m.safetensors", "--limit", "0"], ["--limit", "positive integer"]),
        (["predict"], ["IMAGE"]),
        (["predict", "a.png", "--top", "0"], ["--top", "positive integer"]),
        (["summary"], ["MODEL"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, fragments):
    status, out, err = run(capsys, *argv)
    assert out == ""
    assert_one_line_error(status, err, *fragments)


# --- data errors -------------------------------------------------------------


def test_missing_directory_exits_2(capsys, tmp_path):
    status, out, err = run(capsys, "train", "--data", str(tmp_path / "nowhere"))
    assert out == ""
    assert_one_line_error(status, err, "nowhere", "no such directory")


def test_missing_mnist_exits_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # so ~/.cache/purenet is empty
    monkeypatch.setenv("PURENET_DATA", str(tmp_path / "empty"))
    status, out, err = run(capsys, "train", "--data", "mnist")
    assert out == ""
    assert_one_line_error(status, err, "not found")


def test_directory_without_mnist_files_exits_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PURENET_DATA", raising=False)
    status, out, err = run(capsys, "train", "--data", str(tmp_path))
    assert_one_line_error(status, err, "not found", str(tmp_path))


def write_tiny_mnist(directory, train=64, test=20, digits=(0, 1, 2), seed=0, corrupt=False):
    """Four IDX files of random 28x28 'images' with labels cycling through ``digits``."""
    rng = random.Random(seed)
    for prefix, n in (("train", train), ("t10k", test)):
        pixels = bytes(rng.randrange(256) for _ in range(n * 784))
        labels = bytes(digits[i % len(digits)] for i in range(n))
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), (n, 28, 28), pixels)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"), (n,), labels)
    if corrupt:
        path = os.path.join(directory, "t10k-labels-idx1-ubyte")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 3)


def test_train_from_a_directory(capsys, tmp_path):
    write_tiny_mnist(str(tmp_path))
    status, out, err = run(capsys, "train", "--data", str(tmp_path), "--arch", "mlp", "--epochs", "2")
    assert status == 0, err
    assert f"MNIST from {tmp_path}: 64 training and 20 test images, 10 classes" in out
    assert len(EPOCH_LINE.findall(out)) == 2
    _, correct, total = final_accuracy(out)
    assert total == 20 and 0 <= correct <= 20


def fake_load_mnist(calls):
    """A stand-in for ``load_mnist`` that 'downloads' one file through ``progress``."""

    def load_mnist(split, root=None, progress=None):
        calls.append((split, root))
        name = f"{split}-file.gz"
        for done in (0, 1_500_000, 3_000_000):
            progress(name, done, 3_000_000)
        n = 40 if split == "train" else 10
        return purenet.datasets.ImageSet(bytes(n * 784)), [i % 2 for i in range(n)]

    return load_mnist


@pytest.mark.parametrize("terminal", [False, True])
def test_downloads_are_reported(capsys, monkeypatch, tmp_path, terminal):
    class Stderr(io.StringIO):
        def isatty(self):
            return terminal

    calls = []
    monkeypatch.setattr(purenet.datasets, "load_mnist", fake_load_mnist(calls))
    stderr = Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    status = cli.main(["train", "--data", str(tmp_path), "--epochs", "1", "--arch", "mlp"])
    assert status == 0
    assert calls == [("train", str(tmp_path)), ("test", str(tmp_path))]
    report = stderr.getvalue()
    if terminal:
        assert "downloading train-file.gz: 50% of 3.0 MB" in report
        assert "downloaded train-file.gz (3.0 MB)\n" in report and "downloaded test-file.gz (3.0 MB)\n" in report
    else:
        assert report == "downloading train-file.gz (3.0 MB)\ndownloading test-file.gz (3.0 MB)\n"
    assert "40 training and 10 test images" in capsys.readouterr().out


def test_corrupt_data_exits_2(capsys, tmp_path):
    write_tiny_mnist(str(tmp_path), corrupt=True)
    status, out, err = run(capsys, "train", "--data", str(tmp_path))
    assert_one_line_error(status, err, "t10k-labels-idx1-ubyte", "truncated")


def test_class_missing_from_the_data_exits_2(capsys, tmp_path):
    write_tiny_mnist(str(tmp_path), digits=(0, 1, 2))
    status, out, err = run(capsys, "train", "--data", str(tmp_path), "--classes", "1,7")
    assert_one_line_error(status, err, "--classes 1,7", "[7]")


# --- training ----------------------------------------------------------------


def test_quick_training_run(capsys):
    status, out, err = run(capsys, *QUICK)
    assert status == 0, err
    assert err == ""  # stderr is not a terminal here: no live progress line
    assert "data: the MNIST subset bundled with purenet, digits 0,1: 200 training and 400 test images, 2 classes" in out
    assert f"training cnn-small for 1 epoch, batch 32, SGD(lr={cli.DEFAULT_LR['sgd']}, momentum=0.9)" in out
    assert "Total parameters: 2,786" in out  # the summary, with a 2-class head
    epochs = EPOCH_LINE.findall(out)
    assert len(epochs) == 1 and epochs[0][:2] == ("1", "1")
    pct, correct, total = final_accuracy(out)
    assert total == 400
    assert pct >= 90.0  # zeros against ones: easy even after 200 samples
    assert float(epochs[0][5]) == pct  # the last epoch's test accuracy is the final one
    assert float(epochs[0][3]) >= 50.0  # the running training accuracy
    assert out.rstrip().endswith("saved the model to model.safetensors (checkpoint: model.safetensors.ckpt)")
    model = purenet.load("model.safetensors")
    assert model.classes == [0, 1]
    assert model.history["val_accuracy"] == [pytest.approx(pct / 100, abs=5e-5)]
    assert purenet.load_checkpoint("model.safetensors.ckpt").epoch == 1


def test_training_is_deterministic(capsys):
    argv = ["train", "--classes", "3,5", "--limit", "96", "--epochs", "2", "--seed", "7", "--optimizer", "adam"]
    first = run(capsys, *argv)
    second = run(capsys, *argv)
    assert first[0] == second[0] == 0
    assert without_timings(first[1]) == without_timings(second[1])
    assert f"Adam(lr={cli.DEFAULT_LR['adam']}" in first[1]
    assert f"lr x{cli.DEFAULT_LR_DECAY} after each epoch" in first[1]


def test_seed_and_learning_rate_change_the_run(capsys):
    base = run(capsys, "train", "--classes", "3,5", "--limit", "96", "--epochs", "1")[1]
    seeded = run(capsys, "train", "--classes", "3,5", "--limit", "96", "--epochs", "1", "--seed", "1")[1]
    slower = run(capsys, "train", "--classes", "3,5", "--limit", "96", "--epochs", "1", "--lr", "0.001")[1]
    loss = lambda out: EPOCH_LINE.search(out).group(3)  # noqa: E731
    assert loss(base) != loss(seeded)
    assert loss(base) != loss(slower)
    assert "SGD(lr=0.001, momentum=0.9)" in slower


@pytest.mark.parametrize("arch", ["mlp", "lenet", "cnn-bn"])
def test_other_architectures_train(capsys, arch):
    status, out, err = run(capsys, "train", "--arch", arch, "--classes", "0,1", "--limit", "64", "--epochs", "1",
                           "--batch-size", "16")
    assert status == 0, err
    assert f"training {arch} for 1 epoch, batch 16" in out
    final_accuracy(out)


def test_live_progress_on_a_terminal(capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = cli.main(["train", "--classes", "0,1", "--limit", "64", "--epochs", "1"])
    out = capsys.readouterr().out
    assert status == 0
    progress = terminal.getvalue()
    assert "\r" in progress and "ETA" in progress and "64/64" in progress
    assert re.search(r"64/64  loss \d\.\d{4}  acc \d+\.\d%  ETA 0s  \d+ samples/s", progress)
    assert progress.endswith("\r\033[K")  # cleared before the epoch line
    final_accuracy(out)


def test_diverging_run_exits_1(capsys):
    status, out, err = run(capsys, "train", "--classes", "0,1", "--limit", "64", "--epochs", "1",
                           "--optimizer", "sgd", "--lr", "1e300")
    assert status == 1
    assert "diverged" in err and "Traceback" not in err
    assert not ACCURACY_LINE.search(out)
    assert not os.path.exists("model.safetensors")


def test_a_run_that_learns_nothing_warns_in_one_line(capsys, tmp_path):
    """Every test image the same blank picture, half of them 0s and half 1s: whatever the
    model learns, it gets exactly half right, chance for two classes."""
    write_tiny_mnist(str(tmp_path), train=16, test=4, digits=(0, 1))
    write_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz"), (4, 28, 28), bytes(4 * 784))
    status, out, err = run(capsys, "train", "--data", str(tmp_path), "--arch", "mlp", "--classes", "0,1",
                           "--epochs", "1", "--batch-size", "4")
    assert status == 0, err
    assert err == ("purenet train: warning: training ended at chance accuracy (val_accuracy 50.0%; guessing among "
                   "2 classes gives 50.0%): the model learned next to nothing. Try another learning rate, more "
                   "epochs, or check the labels.\n")
    assert "test accuracy: 50.00% (2/4)" in out


# --- as a user runs it ---------------------------------------------------------


def run_module(*argv):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "purenet", *argv], capture_output=True, text=True, env=env, timeout=120,
        cwd=os.getcwd(),  # the test's temporary directory
    )


def test_python_m_purenet_train():
    proc = run_module(*QUICK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("purenet ")
    pct, _, total = final_accuracy(proc.stdout)
    assert total == 400 and pct >= 90.0
    assert purenet.load("model.safetensors").classes == [0, 1]


def test_python_m_purenet_error_exit():
    proc = run_module("train", "--classes", "7")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_line_error(proc.returncode, proc.stderr, "--classes")


def test_console_script_is_declared():
    from importlib import metadata

    try:
        dist = metadata.distribution("purenet")
    except metadata.PackageNotFoundError:
        pytest.skip("purenet is not installed (pip install -e .)")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("purenet") == "purenet.cli:main"


# --- train: --out, checkpoints, --resume, Ctrl-C, --augment ---------------------

# A straight two-epoch run of each kind; the tests below interrupt or split the
# same run and must end with exactly these files.
RUNS = {
    "sgd": ["--classes", "3,7", "--limit", "200"],
    "adam-augment": ["--classes", "0,1", "--limit", "200", "--optimizer", "adam", "--augment", "--seed", "5"],
}


def main_quietly(argv):
    """``cli.main(argv)`` with its output captured (for module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    assert status == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Run name -> the model file of its uninterrupted two-epoch run (made on first use)."""
    made = {}

    def get(name):
        if name not in made:
            path = str(tmp_path_factory.mktemp(name) / "straight.safetensors")
            main_quietly(["train", *RUNS[name], "--epochs", "2", "--out", path])
            made[name] = path
        return made[name]

    return get


@pytest.fixture(scope="module")
def digits_model(straight):
    """A cnn-small trained two epochs on 3s and 7s (model.classes == [3, 7])."""
    return straight("sgd")


def tensors(path):
    return {name: (t.shape, list(t.values)) for name, t in read_safetensors(path)[0].items()}


def assert_same_run(path, reference):
    """Model files and final checkpoints are identical: weights (F64 in the
    checkpoint), optimizer state and history, bit for bit."""
    with open(path, "rb") as a, open(reference, "rb") as b:
        assert a.read() == b.read()  # F32 weights, architecture, history, classes
    mine, theirs = tensors(path + ".ckpt"), tensors(reference + ".ckpt")
    assert sorted(mine) == sorted(theirs) and any(k.startswith("optimizer.") for k in mine)
    for name in mine:
        assert mine[name] == theirs[name], name
    ckpt = purenet.load_checkpoint(path + ".ckpt")
    assert ckpt.epoch == 2
    assert ckpt.rng_state == purenet.load_checkpoint(reference + ".ckpt").rng_state


def test_out_writes_a_model_pn_load_reads(capsys, digits_model):
    status, out, err = run(capsys, "train", "--classes", "3,7", "--limit", "64", "--epochs", "1",
                           "--out", "sub.safetensors", "--checkpoint", "run.ckpt")
    assert status == 0, err
    assert "saved the model to sub.safetensors (checkpoint: run.ckpt)" in out
    model = purenet.load("sub.safetensors")
    assert model.classes == [3, 7]
    assert sorted(model.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 1 for v in model.history.values())
    epoch = EPOCH_LINE.search(out)
    assert model.history["loss"][0] == pytest.approx(float(epoch.group(3)), abs=5e-5)
    assert model.history["val_accuracy"][0] == pytest.approx(float(epoch.group(6)) / 100, abs=5e-5)
    x, y = purenet.datasets.select_classes(*purenet.datasets.load_bundled("test"), [3, 7])
    assert model.evaluate(x, y)["accuracy"] == pytest.approx(final_accuracy(out)[0] / 100, abs=5e-5)
    ckpt = purenet.load_checkpoint("run.ckpt")
    assert ckpt.epoch == 1 and ckpt.model.classes == [3, 7]
    assert not os.path.exists("model.safetensors")
    # the two-epoch fixture: its history has one entry per epoch
    assert [len(v) for v in purenet.load(digits_model).history.values()] == [2, 2, 2, 2]


def test_out_in_a_missing_directory_exits_2_before_training(capsys):
    status, out, err = run(capsys, *QUICK, "--out", os.path.join("nowhere", "m.safetensors"))
    assert out == ""
    assert_one_line_error(status, err, "--out", "nowhere")


@pytest.mark.parametrize("name", list(RUNS))
def test_resume_is_bit_identical(capsys, straight, name):
    status, out, err = run(capsys, "train", *RUNS[name], "--epochs", "1", "--out", "split.safetensors")
    assert status == 0, err
    assert purenet.load_checkpoint("split.safetensors.ckpt").epoch == 1
    status, out, err = run(capsys, "train", "--resume", "split.safetensors.ckpt", "--epochs", "2")
    assert status == 0, err
    assert "resuming from split.safetensors.ckpt: 1 of 2 epochs done" in out
    assert [m[0] for m in EPOCH_LINE.findall(out)] == ["2"]
    if name == "adam-augment":
        assert "Adam(lr=" in out and "augmented by Augment(max_shift=2.0" in out
    assert_same_run("split.safetensors", straight(name))


class Interrupt:
    """Raises KeyboardInterrupt (as Ctrl-C would) at the end of batch number ``at``
    (counted over the run), after its step: the weights have moved."""

    def __init__(self, at):
        self.at = at
        self.calls = 0
        self.original = purenet.callbacks.CallbackList.on_batch_end

    def install(self, monkeypatch):
        interrupt = self

        def on_batch_end(hooks, *args, **kwargs):
            interrupt.original(hooks, *args, **kwargs)  # the weights moved...
            interrupt.calls += 1
            if interrupt.calls == interrupt.at:
                raise KeyboardInterrupt  # ...and the checkpoint must not keep them

        monkeypatch.setattr(purenet.callbacks.CallbackList, "on_batch_end", on_batch_end)


@pytest.mark.parametrize("at, epoch", [(10, 2), (3, 1)])  # 7 batches of <= 32 per epoch
def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_identically(capsys, monkeypatch, straight, at, epoch):
    with monkeypatch.context() as patch:
        Interrupt(at).install(patch)
        status, out, err = run(capsys, "train", *RUNS["sgd"], "--epochs", "2", "--out", "run.safetensors")
    assert status == 130
    assert "Traceback" not in err
    assert (f"interrupted in epoch {epoch}/2; saved the state after epoch {epoch - 1} to run.safetensors.ckpt. "
            "Continue with: purenet train --resume run.safetensors.ckpt") in err
    assert not os.path.exists("run.safetensors")  # no model from a half-finished run
    ckpt = purenet.load_checkpoint("run.safetensors.ckpt")
    assert ckpt.epoch == epoch - 1
    assert all(len(v) == epoch - 1 for v in ckpt.history.values())
    if epoch == 1:  # nothing finished: the checkpoint holds the initial weights
        fresh = architectures.build("cnn-small", classes=2, seed=0).state_dict()
        assert all(ckpt.model.state_dict()[k].data == fresh[k].data for k in fresh)
    status, out, err = run(capsys, "train", "--resume", "run.safetensors.ckpt")
    assert status == 0, err
    assert [m[0] for m in EPOCH_LINE.findall(out)] == [str(e) for e in range(epoch, 3)]
    assert_same_run("run.safetensors", straight("sgd"))


def test_ctrl_c_after_the_last_epoch_keeps_the_trained_model(capsys, monkeypatch):
    calls = []

    def save_checkpoint(*args, **kwargs):
        calls.append(args[3])  # the epoch
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C while the last epoch's checkpoint is written
        purenet.save_checkpoint(*args, **kwargs)

    monkeypatch.setattr(purenet.io.checkpoint, "save_checkpoint", save_checkpoint)  # where the command saves
    status, out, err = run(capsys, "train", "--classes", "3,7", "--limit", "64", "--epochs", "1")
    assert status == 130 and calls == [1, 1]
    assert ("interrupted after the last epoch, before saving model.safetensors; the trained model is in "
            "model.safetensors.ckpt (purenet evaluate model.safetensors.ckpt reads it).") in err
    assert not os.path.exists("model.safetensors")
    status, out, err = run(capsys, "evaluate", "model.safetensors.ckpt", "--limit", "20")
    assert status == 0, err
    assert "trained 1 epoch)" in out and "digits 3,7: 20 test images" in out


def test_resume_can_train_further(capsys, digits_model):
    status, out, err = run(capsys, "train", "--resume", digits_model + ".ckpt", "--epochs", "3",
                           "--out", "more.safetensors")
    assert status == 0, err
    assert "resuming from" in out and "2 of 3 epochs done" in out
    assert [m[0] for m in EPOCH_LINE.findall(out)] == ["3"]
    assert f"SGD(lr={cli.DEFAULT_LR['sgd'] * cli.DEFAULT_LR_DECAY ** 2}" in out  # the schedule goes on
    model = purenet.load("more.safetensors")
    assert all(len(v) == 3 for v in model.history.values()) and model.classes == [3, 7]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--arch", "lenet"], ["--arch lenet", "trained with --arch cnn-small", "keeps its settings"]),
        (["--limit", "100"], ["--limit 100", "trained with --limit 200"]),
        (["--augment"], ["--augment: the checkpoint was trained without --augment"]),
        (["--classes", "0,1"], ["--classes 0,1: the checkpoint was trained with --classes 3,7"]),
        (["--lr", "0.5"], ["--lr 0.5: the checkpoint was trained with --lr 0.03"]),
        (["--epochs", "2"], ["--epochs 2", "already completed 2 epoch(s)"]),
        ([], ["already completed its 2 epoch(s)", "--epochs N"]),
    ],
)
def test_resume_refuses_other_settings(capsys, digits_model, extra, fragments):
    status, out, err = run(capsys, "train", "--resume", digits_model + ".ckpt", *extra)
    assert out == ""
    assert_one_line_error(status, err, *fragments)


def test_resume_refuses_other_data(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write_tiny_mnist(str(first), seed=0)
    write_tiny_mnist(str(second), seed=1)
    status, _, err = run(capsys, "train", "--data", str(first), "--arch", "mlp", "--epochs", "1")
    assert status == 0, err
    status, out, err = run(capsys, "train", "--resume", "model.safetensors.ckpt", "--epochs", "2", "--data", str(second))
    assert_one_line_error(status, err, "not the training images the checkpoint was trained on")


def test_resume_needs_a_checkpoint(capsys, digits_model, tmp_path):
    status, out, err = run(capsys, "train", "--resume", digits_model)  # a model file
    assert_one_line_error(status, err, "expected a training checkpoint", "Received: a model file")
    status, out, err = run(capsys, "train", "--resume", str(tmp_path / "missing.ckpt"))
    assert_one_line_error(status, err, "missing.ckpt", "cannot open")
    model = architectures.build("mlp")
    purenet.save_checkpoint("api.ckpt", model, purenet.SGD(0.1), epoch=1)  # not from purenet train
    status, out, err = run(capsys, "train", "--resume", "api.ckpt", "--epochs", "2")
    assert_one_line_error(status, err, "without its training settings")


def test_augment_changes_the_run_reproducibly(capsys):
    argv = ["train", "--classes", "3,7", "--limit", "64", "--epochs", "1"]
    plain = run(capsys, *argv)[1]
    augmented = run(capsys, *argv, "--augment")[1]
    again = run(capsys, *argv, "--augment")[1]
    loss = lambda out: EPOCH_LINE.search(out).group(3)  # noqa: E731
    assert loss(plain) != loss(augmented)
    assert without_timings(augmented) == without_timings(again)


# --- evaluate -------------------------------------------------------------------

CONFUSION_ROW = re.compile(r"^ +(\d) +(\d+) +(\d+)$", re.M)


def test_evaluate_prints_accuracy_per_class_and_confusion_matrix(capsys, digits_model):
    status, out, err = run(capsys, "evaluate", digits_model)
    assert status == 0, err
    assert err == ""
    assert "data: the MNIST subset bundled with purenet, digits 3,7: 400 test images" in out
    assert "(2,786 parameters, 2 classes, trained 2 epochs)" in out
    match = re.search(r"^accuracy: (\d+\.\d\d)% \((\d+)/400\)  loss (\d\.\d{4})$", out, re.M)
    assert match, out
    assert "per-class accuracy:\nclass  images  correct  accuracy\n    3     200" in out
    table = out[out.index("confusion matrix (rows: true class, columns: predicted class):"):]
    assert table.splitlines()[1] == "true \\ predicted     3     7"
    rows = CONFUSION_ROW.findall(table)
    assert [r[0] for r in rows] == ["3", "7"]
    matrix = [[int(r[1]), int(r[2])] for r in rows]
    assert sum(map(sum, matrix)) == 400 and [sum(r) for r in matrix] == [200, 200]
    assert matrix[0][0] + matrix[1][1] == int(match.group(2))
    # the same figures through the library
    model = purenet.load(digits_model)
    x, y = purenet.datasets.select_classes(*purenet.datasets.load_bundled("test"), [3, 7])
    expected = model.evaluate(x, y)
    assert float(match.group(1)) == pytest.approx(100 * expected["accuracy"], abs=0.006)
    assert float(match.group(3)) == pytest.approx(expected["loss"], abs=6e-5)
    assert float(match.group(1)) >= 90.0


def test_evaluate_a_ten_class_model_on_a_directory(capsys, tmp_path):
    write_tiny_mnist(str(tmp_path), test=20, digits=(0, 1, 2))
    architectures.build("mlp", seed=3).save("untrained.safetensors")
    status, out, err = run(capsys, "evaluate", "untrained.safetensors", "--data", str(tmp_path), "--limit", "12")
    assert status == 0, err
    assert f"data: MNIST from {tmp_path}: 12 test images" in out
    assert "(101,770 parameters, 10 classes)" in out
    table = out[out.index("true \\ predicted"):].splitlines()
    assert table[0].split()[3:] == [str(d) for d in range(10)]
    counts = [list(map(int, line.split()[1:])) for line in table[1:11]]
    assert [sum(r) for r in counts] == [4, 4, 4] + [0] * 7  # labels cycle 0, 1, 2
    assert "    5       0        0         -" in out  # a class with no test images


def test_evaluate_report_writes_valid_pngs(capsys, digits_model):
    status, out, err = run(capsys, "evaluate", digits_model, "--report", "report")
    assert status == 0, err
    assert "report: wrote curves.png, confusion.png, filters.png, misclassified.png, REPORT.md to report" in out
    model = purenet.load(digits_model)
    curves = read_png(os.path.join("report", "curves.png"))
    assert (curves.width, curves.height, curves.channels) == (840, 280, 3)  # loss and accuracy side by side
    assert curves == report.training_curves(model.history)
    rows = CONFUSION_ROW.findall(out)
    matrix = [[int(r[1]), int(r[2])] for r in rows]
    assert read_png(os.path.join("report", "confusion.png")) == report.confusion_heatmap(matrix, [3, 7])
    filters = read_png(os.path.join("report", "filters.png"))
    assert filters == report.filter_grid(*report.first_layer_filters(model))
    assert filters.width >= 8 * 54  # eight 3x3 filters enlarged 18 times
    wrong = matrix[0][1] + matrix[1][0]
    grid = read_png(os.path.join("report", "misclassified.png"))
    columns = min(10, wrong)
    assert grid.width == 6 + columns * (84 + 6)  # 28x28 digits enlarged 3 times
    with open(os.path.join("report", "REPORT.md"), encoding="utf-8") as f:
        text = f.read()
    listed = re.findall(r"^\| (\d+) \| ([37]) \| ([37]) \| [\d.]+% \|$", text, re.M)
    assert len(listed) == wrong and all(t != p for _, t, p in listed)
    x, y = purenet.datasets.load_bundled("test")
    assert all(y[int(i)] == int(t) for i, t, _ in listed)  # indices into the whole test split
    assert "![Confusion matrix](confusion.png)" in text and "accuracy:" in text


def test_evaluate_errors_exit_2(capsys, tmp_path, digits_model):
    with open("broken.safetensors", "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    status, out, err = run(capsys, "evaluate", "broken.safetensors")
    assert_one_line_error(status, err, "broken.safetensors")
    purenet.Sequential([purenet.Dense(2), purenet.Softmax()], input_shape=(3,)).save("tiny.safetensors")
    status, out, err = run(capsys, "evaluate", "tiny.safetensors")
    assert_one_line_error(status, err, "28x28", "(3,)")
    status, out, err = run(capsys, "evaluate", "absent.safetensors")
    assert_one_line_error(status, err, "absent.safetensors")
    open("taken", "w").close()
    status, out, err = run(capsys, "evaluate", digits_model, "--limit", "10", "--report", "taken")
    assert_one_line_error(status, err, "File exists: taken")


# --- predict --------------------------------------------------------------------


def enlarged(pixels, zoom=4, size=28):
    """A 28x28 digit as bytes, each pixel a zoom x zoom block."""
    return bytes(pixels[(r // zoom) * size + c // zoom] for r in range(size * zoom) for c in range(size * zoom))


def write_digits(directory):
    """Bundled test 3s and 7s as 112x112 files: PNG dark-on-light, PNG RGBA, PGM light-on-dark.
    Returns [(path, true digit)]."""
    x, y = purenet.datasets.load_bundled("test")
    files = []
    picks = [i for i in range(len(y)) if y[i] in (3, 7)][:6]
    for n, i in enumerate(picks):
        big = enlarged(x.pixels(i))
        if n % 3 == 0:
            path = os.path.join(directory, f"digit{n}.png")
            write_png(path, Image(112, 112, 1, bytes(255 - b for b in big)))  # ink on paper
        elif n % 3 == 1:
            path = os.path.join(directory, f"digit{n}.png")
            write_png(path, Image(112, 112, 4, bytes(v for b in big for v in (0, 0, 0, b))))  # on transparency
        else:
            path = os.path.join(directory, f"digit{n}.pgm")
            with open(path, "wb") as f:
                f.write(b"P5\n112 112\n255\n" + big)
        files.append((path, y[i]))
    return files


PREDICTION = re.compile(r"^(\S+): ([37]) \((\d+\.\d)%\)(?:  top 2: ([37]) (\d+\.\d)%, ([37]) (\d+\.\d)%)?$", re.M)


def test_predict_png_and_pgm_files(capsys, digits_model, tmp_path):
    files = write_digits(str(tmp_path))
    status, out, err = run(capsys, "predict", "--model", digits_model, *[p for p, _ in files], "--top", "2")
    assert status == 0, err
    assert err == ""
    lines = PREDICTION.findall(out)
    assert [line[0] for line in lines] == [p for p, _ in files]
    model = purenet.load(digits_model)
    right = 0
    for (path, digit), (_, guess, pct, first, p1, second, p2) in zip(files, lines):
        probs = model.predict([purenet.preprocess(purenet.io.read_image(path))]).data
        assert int(guess) == [3, 7][probs.index(max(probs))]  # the library's answer, through model.classes
        assert float(pct) == pytest.approx(100 * max(probs), abs=0.051)
        assert first == guess and second != guess and float(p1) >= float(p2)
        right += int(guess) == digit
    assert right >= 5  # a model at ~95% on these digits


def test_predict_reports_empty_and_unreadable_pictures(capsys, digits_model, tmp_path):
    files = write_digits(str(tmp_path))[:1]
    write_png("blank.png", Image(30, 30, 1, bytes([250]) * 900))
    with open("notes.txt", "w") as f:
        f.write("not a picture")
    argv = ["predict", "--model", digits_model, "notes.txt", files[0][0], "blank.png", "missing.png"]
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out.splitlines()[1] == "blank.png: not a digit (no ink)"
    assert PREDICTION.match(out.splitlines()[0])  # the good picture is still classified
    errors = err.splitlines()
    assert len(errors) == 2 and "Traceback" not in err
    assert errors[0].startswith("purenet predict: error: cannot read image 'notes.txt': expected one of PNG")
    assert errors[1] == "purenet predict: error: cannot read missing.png: No such file or directory"


def test_predict_uses_the_shipped_model_by_default(capsys, monkeypatch, digits_model, tmp_path):
    files = write_digits(str(tmp_path))[:2]
    monkeypatch.setattr(cli, "PRETRAINED_MODEL", str(tmp_path / "absent" / "lenet-mnist.safetensors"))
    status, out, err = run(capsys, "predict", files[0][0])
    assert out == ""
    assert_one_line_error(status, err, "pretrained model is not installed", "absent", "--model")
    monkeypatch.setattr(cli, "PRETRAINED_MODEL", digits_model)
    status, out, err = run(capsys, "predict", *[p for p, _ in files])
    assert status == 0, err
    assert len(PREDICTION.findall(out)) == 2


def test_the_default_model_lives_in_the_package():
    assert cli.PRETRAINED_MODEL == os.path.join(
        os.path.dirname(purenet.__file__), "models", "lenet-mnist.safetensors"
    )


# --- summary --------------------------------------------------------------------


def test_summary_of_a_model_and_a_checkpoint(capsys, digits_model):
    status, out, err = run(capsys, "summary", digits_model)
    assert status == 0, err
    size = os.path.getsize(digits_model)
    assert out.startswith(f"{digits_model}: a purenet model, {size:,} bytes\n#  Layer")
    assert "4  Dense(units=2)" in out and "Total parameters: 2,786" in out
    assert "classes: 3, 7" in out
    assert re.search(r"^history: 2 epochs; last: loss \d\.\d{4}, accuracy [\d.]+%, val_loss \d\.\d{4}, "
                     r"val_accuracy [\d.]+%$", out, re.M)
    status, out, err = run(capsys, "summary", digits_model + ".ckpt")
    assert status == 0, err
    assert "a purenet training checkpoint" in out
    assert "checkpoint: 2 epoch(s) done, optimizer SGD(lr=0.0225, momentum=0.9)" in out


def test_summary_of_a_model_without_metadata(capsys):
    architectures.build("lenet").save("bare.safetensors")
    status, out, err = run(capsys, "summary", "bare.safetensors")
    assert status == 0, err
    assert "classes: 10 outputs, output i is class i" in out and "history: none saved" in out
    status, out, err = run(capsys, "summary", "nothing.safetensors")
    assert_one_line_error(status, err, "nothing.safetensors", "cannot open")


# --- report pictures, on their own ----------------------------------------------


def pixel(image, x, y):
    i = (y * image.width + x) * image.channels
    return tuple(image.pixels[i : i + image.channels])


def test_text_tables():
    matrix = report.confusion_matrix([0, 0, 0, 1, 2], [0, 0, 1, 1, 0], 3)
    assert matrix == [[2, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert report.format_confusion(matrix, [4, 5, 6]).splitlines() == [
        "true \\ predicted     4     5     6",
        "               4     2     1     0",
        "               5     0     1     0",
        "               6     1     0     0",
    ]
    assert report.format_per_class(matrix, [4, 5, 6]).splitlines()[1:] == [
        "    4       3        2    66.67%",
        "    5       1        1   100.00%",
        "    6       1        0     0.00%",
    ]
    with pytest.raises(ValueError, match="classes in \\[0, 3\\)"):
        report.confusion_matrix([3], [0], 3)


def test_confusion_heatmap_shades_by_row():
    image = report.confusion_heatmap([[90, 10], [0, 5]], ["a", "b"])
    # cell (row, column) has its top-left corner at (left + column * CELL, 60 + row * CELL)
    left = report.text_width("A") + 12
    corner = lambda r, c: pixel(image, left + c * report.CELL + 2, 60 + r * report.CELL + 2)  # noqa: E731
    assert corner(1, 1) == report.DARK  # 5 of 5
    assert corner(1, 0) == report.WHITE  # 0 of 5
    assert sum(corner(0, 0)) < sum(corner(0, 1)) < 3 * 255  # 90% darker than 10%


def test_filter_grid_scales_each_filter_to_its_range():
    image = report.filter_grid([[0.0, 1.0, 2.0, 3.0], [-5.0, -5.0, 5.0, 5.0]], (1, 2, 2), columns=2)
    zoom = 56 // 2
    top, gap = 30, 8
    first = [pixel(image, gap + x * zoom, top + y * zoom) for y in (0, 1) for x in (0, 1)]
    assert first == [(0, 0, 0), (85, 85, 85), (170, 170, 170), (255, 255, 255)]
    second_x = gap + 2 * zoom + gap
    assert pixel(image, second_x, top) == (0, 0, 0) and pixel(image, second_x, top + zoom) == (255, 255, 255)
    with pytest.raises(ValueError, match="expected 4 weights per filter"):
        report.filter_grid([[0.0] * 3], (1, 2, 2))


def test_image_grid_enlarges_and_captions():
    digit = bytes([255 if 2 <= r < 5 else 0 for r in range(8) for _ in range(8)])  # a bar across rows 2-4
    image = report.image_grid([digit, [v / 255 for v in digit]], shape=(8, 8), captions=["3>5 90%", "x"], zoom=3)
    assert (image.width, image.height) == (6 + 2 * (24 + 6), 6 + 24 + 16 + 6)
    assert pixel(image, 6, 6) == (0, 0, 0) and pixel(image, 6, 6 + 2 * 3) == (255, 255, 255)
    assert pixel(image, 36, 6 + 3 * 3) == (255, 255, 255)  # the float copy is the same picture
    caption = [pixel(image, x, y) for x in range(6, 30) for y in range(33, 44)]
    assert (0, 0, 0) in caption  # some text below the first image


def test_training_curves_from_a_history():
    history = {"loss": [0.9, 0.5, 0.4], "val_loss": [0.8, None, 0.45], "accuracy": [0.7, 0.8, 0.9]}
    image = report.training_curves(history, width=300, height=200)
    assert (image.width, image.height) == (600, 200)
    colours = set(pixel(image, x, y) for x in range(image.width) for y in range(image.height))
    assert report.TRAIN in colours and report.TEST in colours
    assert report.training_curves({"loss": [None]}) is None
    one = report.training_curves({"val_accuracy": [0.5]})
    assert one.width == 420  # only an accuracy chart


def test_canvas_clips_and_draws_lines():
    canvas = report.Canvas(5, 5, background=report.BLACK)
    canvas.line(-3, -3, 10, 10, report.WHITE)  # the diagonal, clipped
    canvas.rect(3, -2, 9, 1, (255, 0, 0))
    image = canvas.to_image()
    assert [pixel(image, i, i) for i in (1, 2, 4)] == [report.WHITE] * 3
    assert pixel(image, 4, 0) == (255, 0, 0) and pixel(image, 0, 4) == report.BLACK
