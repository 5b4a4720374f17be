"""What the command line says when it is given something it cannot use: one
line on stderr, exit status 2, before any training starts."""

import os

import pytest

from purenet import architectures, cli
from test_cli import in_tmp_path, run  # noqa: F401  (each test in its own directory; main() in-process)

QUICK = ["train", "--classes", "0,1", "--limit", "64", "--epochs", "1"]


def one_error_line(err, prog="train"):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"purenet {prog}: error: "), err
    return lines[0]


def test_out_naming_a_directory_fails_before_training(capsys, tmp_path):
    (tmp_path / "models").mkdir()
    status, out, err = run(capsys, *QUICK, "--out", "models")
    assert status == 2 and "epoch" not in out and "Total parameters" not in out
    line = one_error_line(err)
    assert "--out models" in line and "a directory" in line and os.path.join("models", "model.safetensors") in line
    assert os.listdir(tmp_path / "models") == []


def test_out_in_a_missing_or_unwritable_place_fails_before_training(capsys, tmp_path):
    status, out, err = run(capsys, *QUICK, "--out", str(tmp_path / "nowhere" / "m.safetensors"))
    assert status == 2 and "epoch" not in out
    assert "nowhere" in one_error_line(err)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: a file in place of a directory then
            target = tmp_path / "plain-file" / "m.safetensors"
            (tmp_path / "plain-file").write_text("x")
        else:
            target = locked / "m.safetensors"
        status, out, err = run(capsys, *QUICK, "--out", str(target))
        assert status == 2 and "epoch" not in out and str(target) in one_error_line(err)
    finally:
        locked.chmod(0o700)


def test_batch_size_too_large_for_memory_is_refused_before_training(capsys):
    status, out, err = run(capsys, *QUICK, "--batch-size", "10000")
    assert status == 2 and "epoch" not in out
    line = one_error_line(err)
    largest = int(line.rsplit("--batch-size ", 1)[1].split()[0])
    model = architectures.build("cnn-small", classes=2)
    assert cli.batch_memory(model, 10000) > cli.BATCH_MEMORY_LIMIT >= cli.batch_memory(model, largest)
    assert cli.batch_memory(model, largest + 1) > cli.BATCH_MEMORY_LIMIT
    assert "GB" in line


def test_batch_memory_grows_with_the_batch_and_the_model():
    small, lenet = architectures.build("cnn-small"), architectures.build("lenet")
    assert cli.batch_memory(small, 64) == 2 * cli.batch_memory(small, 32)
    assert cli.batch_memory(lenet, 32) > cli.batch_memory(small, 32) > cli.batch_memory(architectures.build("mlp"), 32)


@pytest.mark.parametrize("content", [b"", b"hello\n", b"\x00" * 7, b"x" * 100, b"\xff" * 16 + b"{}"])
@pytest.mark.parametrize("command", ["evaluate", "summary", "predict-model", "export"])
def test_a_file_that_is_no_model_file_says_so(capsys, tmp_path, content, command):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    argv = {"evaluate": ["evaluate", str(path)], "summary": ["summary", str(path)],
            "predict-model": ["predict", "--model", str(path), str(path)],
            "export": ["export", str(path), "--onnx", str(tmp_path / "m.onnx")]}[command]
    status, _, err = run(capsys, *argv)
    assert status == 2
    line = one_error_line(err, argv[0])
    assert line.endswith(f"{path} is not a purenet model file "
                         "(expected a .safetensors file written by purenet or safetensors).")


def test_data_naming_a_file_says_it_is_a_file(capsys, tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    status, _, err = run(capsys, *QUICK, "--data", "train-images-idx3-ubyte.gz")
    assert status == 2 and "Received: a file" in one_error_line(err)


@pytest.mark.parametrize("offline", ["1", None])
def test_missing_mnist_says_what_to_pass_in_one_line(capsys, tmp_path, monkeypatch, offline):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PURENET_DATA", raising=False)
    if offline:
        monkeypatch.setenv("PURENET_OFFLINE", offline)
        status, out, err = run(capsys, *QUICK, "--data", "mnist")
        line = one_error_line(err)
        assert "PURENET_OFFLINE" in line and "--data DIR" in line and "--data mnist" in line
    else:  # downloads allowed but nowhere to download from: a mirror on a closed local port
        monkeypatch.delenv("PURENET_OFFLINE", raising=False)
        monkeypatch.setattr("purenet.datasets.mnist.MNIST_MIRRORS", ("http://127.0.0.1:9/",))
        status, out, err = run(capsys, *QUICK, "--data", str(empty))
        line = one_error_line(err)
        assert str(empty) in line and "downloading them failed" in line and "--data DIR" in line
    assert status == 2 and "epoch" not in out
    assert "purenet.datasets" not in line and "load_bundled(" not in line and "root=" not in line
