"""The command line (``purenet ...`` / ``python -m purenet ...``) and the named architectures.

Most tests call ``purenet.cli.main([...])`` in-process and read what it
printed; two run ``python -m purenet`` in a subprocess, as a user would.
Training runs are kept to a few seconds: two digits (--classes 0,1, so the
test split is 400 images), a few hundred training samples, one epoch.
"""

import io
import os
import random
import re
import subprocess
import sys

import pytest

import purenet
from purenet import architectures, cli
from purenet.datasets import write_idx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["train", "--classes", "0,1", "--limit", "200", "--epochs", "1"]
ACCURACY_LINE = re.compile(r"^test accuracy: (\d+\.\d\d)% \((\d+)/(\d+)\) after \S+", re.M)
EPOCH_LINE = re.compile(
    r"^epoch (\d+)/(\d+) +[\d.]+s +\d+ samples/s  loss ([\d.]+)  test loss ([\d.]+)  test accuracy ([\d.]+)%$", re.M
)


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
    with pytest.raises(ValueError, match=r"unknown architecture: expected one of cnn-small, mlp, lenet; Received: 'resnet'"):
        architectures.build("resnet")
    for bad in (1, 0, True, 2.0, "10"):
        with pytest.raises(ValueError, match="classes must be an int >= 2"):
            architectures.build("mlp", classes=bad)


# --- help, version, usage ----------------------------------------------------


def test_help_lists_the_train_command(capsys):
    status, out, err = run(capsys, "--help")
    assert status == 0 and err == ""
    assert out.startswith("usage: purenet")
    assert "train" in out and "COMMAND --help" in out


def test_train_help_lists_every_option_and_architecture(capsys):
    status, out, err = run(capsys, "train", "--help")
    assert status == 0 and err == ""
    for option in ("--data", "--arch", "--classes", "--epochs", "--batch-size", "--lr", "--lr-decay",
                   "--momentum", "--optimizer", "--seed", "--limit"):
        assert option in out
    for name in architectures.ARCHITECTURES:
        assert re.search(rf"^  {re.escape(name)} +\S", out, re.M), f"{name} not described in --help"
    assert f"(default: {cli.DEFAULT_EPOCHS})" in out


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
    assert float(epochs[0][4]) == pct  # the last epoch's test accuracy is the final one


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


@pytest.mark.parametrize("arch", ["mlp", "lenet"])
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
    assert progress.endswith("\r\033[K")  # cleared before the epoch line
    final_accuracy(out)


def test_diverging_run_exits_1(capsys):
    status, out, err = run(capsys, "train", "--classes", "0,1", "--limit", "64", "--epochs", "1",
                           "--optimizer", "sgd", "--lr", "1e300")
    assert status == 1
    assert "diverged" in err and "Traceback" not in err
    assert not ACCURACY_LINE.search(out)


# --- as a user runs it ---------------------------------------------------------


def run_module(*argv):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "purenet", *argv], capture_output=True, text=True, env=env, timeout=120,
    )


def test_python_m_purenet_train():
    proc = run_module(*QUICK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("purenet ")
    pct, _, total = final_accuracy(proc.stdout)
    assert total == 400 and pct >= 90.0


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
