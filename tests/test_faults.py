"""Faults during training: a kill in the middle of a checkpoint write, a poisoned batch.

- SIGKILL: ``python -m purenet train`` runs in a subprocess on a tiny
  dataset, writing a checkpoint after every (short) epoch. The test watches
  the directory and kills the process as a checkpoint write starts (at
  least three kills must provably land inside a write: the killed writer's
  temporary file is still there) or just as the new file is renamed into
  place. After every kill the checkpoint on disk must load, at an epoch no
  earlier than before; the run is then resumed from it. At the end the
  killed-and-resumed run must give the same model, bit for bit, as a run
  that was never killed.
- NaN: a batch that makes the loss overflow stops ``fit`` with a message
  naming the epoch and the batch, before the batch can touch the weights;
  and ``purenet train`` whose learning rate blows the weights up in the
  second epoch stops with that message, exit status 1, and leaves the
  first epoch's checkpoint and the model file exactly as they were.
"""

import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

import purenet as pn
from conftest import resave
from purenet import cli
from purenet.datasets.idx import write_idx

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX")

WANTED_HITS = 3  # kills that land inside a checkpoint write
MAX_ROUNDS = 25
ROUND_TIMEOUT = 60.0  # a guard against a hung subprocess, not a timing assertion
MOMENTS = ("write", "rename", "write")  # when each round kills (see kill_during_a_write)


def write_tiny_mnist(directory, train=2, test=2, seed=0):
    """IDX files of random 28x28 'images', labels cycling through the ten digits."""
    rng = random.Random(seed)
    for prefix, n in (("train", train), ("t10k", test)):
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"), (n, 28, 28),
                  bytes(rng.randrange(256) for _ in range(n * 784)))
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"), (n,), bytes(i % 10 for i in range(n)))


def temp_files(directory, target):
    """The atomic writer's temporary files for ``target`` (see purenet/io/atomic.py)."""
    prefix = "." + os.path.basename(target) + "."
    return {name for name in os.listdir(directory) if name.startswith(prefix) and name.endswith(".tmp")}


def purenet_train(workdir, *argv):
    env = dict(os.environ, PURENET_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-m", "purenet", "train", *argv], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_during_a_write(proc, workdir, ckpt, moment):
    """Kill ``proc`` while it replaces an existing checkpoint: at ``moment`` "write"
    (as soon as its temporary file appears) or "rename" (as soon as the new file is
    in place, while a non-atomic writer would still be writing it). Returns whether
    the kill landed inside the write: its temporary file survived."""
    before = temp_files(workdir, ckpt)
    inode = os.stat(ckpt).st_ino if os.path.exists(ckpt) else None
    deadline = time.monotonic() + ROUND_TIMEOUT
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the training subprocess wrote no checkpoint in time"
        try:
            now = os.stat(ckpt).st_ino
        except FileNotFoundError:
            now = None
        if inode is None:
            inode = now  # the first checkpoint of a fresh run: wait for the next one
        elif moment == "write" and temp_files(workdir, ckpt) - before or moment == "rename" and now != inode:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.0002)
    proc.wait(ROUND_TIMEOUT)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the run ended by itself ({proc.returncode}): {stderr}"
    return bool(temp_files(workdir, ckpt) - before)


def test_sigkill_during_checkpoint_writes_then_resume(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_tiny_mnist(str(data))
    ckpt = str(tmp_path / "model.safetensors.ckpt")  # where purenet train puts it, resumed or not
    settings = ["--data", str(data), "--arch", "mlp", "--batch-size", "2"]

    hits, epochs, rounds = 0, [], 0
    proc = purenet_train(tmp_path, *settings, "--epochs", "100000")
    while hits < WANTED_HITS or rounds < len(MOMENTS):
        rounds += 1
        assert rounds <= MAX_ROUNDS, f"only {hits} of {rounds - 1} kills landed inside a checkpoint write"
        hits += kill_during_a_write(proc, tmp_path, ckpt, MOMENTS[rounds % len(MOMENTS)])
        checkpoint = pn.load_checkpoint(ckpt)  # whatever the kill interrupted, this loads
        assert not epochs or checkpoint.epoch >= epochs[-1]
        epochs.append(checkpoint.epoch)
        proc = purenet_train(tmp_path, "--resume", ckpt)
    proc.send_signal(signal.SIGKILL)
    proc.wait(ROUND_TIMEOUT)
    proc.stderr.close()

    # The killed writers' temporary files are still there, and harmless: the run resumes past them.
    assert len(temp_files(tmp_path, ckpt)) >= WANTED_HITS
    total = pn.load_checkpoint(ckpt).epoch + 1
    resumed = subprocess.run([sys.executable, "-m", "purenet", "train", "--resume", ckpt, "--epochs", str(total)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=ROUND_TIMEOUT,
                             env=dict(os.environ, PURENET_OFFLINE="1"))
    assert resumed.returncode == 0, resumed.stderr
    assert pn.load_checkpoint(ckpt).epoch == total

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    straight = subprocess.run([sys.executable, "-m", "purenet", "train", *settings, "--epochs", str(total)],
                              cwd=fresh, capture_output=True, text=True, timeout=ROUND_TIMEOUT,
                              env=dict(os.environ, PURENET_OFFLINE="1"))
    assert straight.returncode == 0, straight.stderr
    killed = pn.load(str(tmp_path / "model.safetensors")).state_dict()
    never_killed = pn.load(str(fresh / "model.safetensors")).state_dict()
    assert {k: v.data for k, v in killed.items()} == {k: v.data for k, v in never_killed.items()}


# --- a poisoned batch ----------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_poisoned_batch_stops_fit_before_it_touches_the_weights(workers):
    rows = [[(i * 7 + j) % 5 / 4 for j in range(4)] for i in range(12)]
    targets = [[float(i % 3 == k) for k in range(3)] for i in range(12)]
    targets[9] = [1e200, 0.0, 0.0]  # in batch 3 of 4 rows: its squared error overflows

    def model():
        return pn.Sequential([pn.Dense(3)], input_shape=(4,), seed=0)

    poisoned = model()
    with pytest.raises(FloatingPointError, match=r"the loss became inf at epoch 1, batch 3: training diverged"):
        poisoned.fit(rows, targets, epochs=2, batch_size=4, shuffle=False, optimizer=pn.SGD(0.1),
                     loss=pn.MeanSquaredError(), workers=workers)
    clean = model()  # the two clean batches alone
    clean.fit(rows[:8], targets[:8], epochs=1, batch_size=4, shuffle=False, optimizer=pn.SGD(0.1),
              loss=pn.MeanSquaredError())
    got, expected = poisoned.state_dict(), clean.state_dict()
    worst = max(abs(a - b) for k in expected for a, b in zip(got[k].data, expected[k].data))
    assert worst <= (0.0 if workers == 1 else 1e-12)  # two processes: the same up to rounding


def test_diverging_run_names_epoch_and_batch_and_keeps_its_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    write_tiny_mnist(str(data), train=8, test=4)
    argv = ["train", "--data", str(data), "--arch", "mlp", "--batch-size", "4", "--epochs", "1"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    # The same run, had it been started with a learning rate that only shows in its second epoch:
    # its first epoch's checkpoint, with the saved --lr setting raised to 1e300.
    import json

    def huge_lr(meta):
        extra = json.loads(meta["extra"])
        extra["train"]["lr"] = 1e300
        meta["extra"] = json.dumps(extra)

    resave("model.safetensors.ckpt", "model.safetensors.ckpt", meta=huge_lr)
    checkpoint_bytes = open("model.safetensors.ckpt", "rb").read()
    model_bytes = open("model.safetensors", "rb").read()

    status = cli.main(["train", "--resume", "model.safetensors.ckpt", "--epochs", "3"])
    err = capsys.readouterr().err
    assert status == 1
    match = re.search(r"the (loss|weights) became \S+ in epoch 2/3, batch (\d)/2: training diverged\. "
                      r"The checkpoint model\.safetensors\.ckpt still holds the state after epoch 1 .*"
                      r"model\.safetensors was left as it was\. Try a smaller --lr", err)
    assert match, err
    assert "Traceback" not in err
    assert open("model.safetensors.ckpt", "rb").read() == checkpoint_bytes
    assert open("model.safetensors", "rb").read() == model_bytes
    checkpoint = pn.load_checkpoint("model.safetensors.ckpt")
    assert checkpoint.epoch == 1
    assert all(math.isfinite(v) for p in checkpoint.model.parameters() for v in p.data)
    assert cli.main(["evaluate", "model.safetensors.ckpt", "--data", str(data)]) == 0


def test_diverging_first_epoch_says_no_checkpoint_was_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    write_tiny_mnist(str(data), train=8, test=4)
    status = cli.main(["train", "--data", str(data), "--arch", "mlp", "--batch-size", "4", "--epochs", "2",
                       "--lr", "1e300"])
    err = capsys.readouterr().err
    assert status == 1
    assert re.search(r"in epoch 1/2, batch \d/2: training diverged\. No checkpoint was written", err), err
    assert not os.path.exists("model.safetensors") and not os.path.exists("model.safetensors.ckpt")


def test_weights_too_large_for_a_model_file_stop_the_run(tmp_path, monkeypatch, capsys):
    """Adam's steps are about --lr each, whatever the gradient: with 1e150 the weights stay
    finite but leave float32's range, so neither checkpoint nor model file may take them."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    write_tiny_mnist(str(data), train=4, test=4)
    status = cli.main(["train", "--data", str(data), "--arch", "mlp", "--batch-size", "4", "--epochs", "2",
                       "--optimizer", "adam", "--lr", "1e150"])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert re.search(r"a weight became -?(9\.9+e\+149|1e\+150) in epoch 1/2, batch 1/1: training diverged\. No checkpoint",
                     err), err
    assert "--optimizer adam" not in err  # it is already Adam
    assert not os.path.exists("model.safetensors") and not os.path.exists("model.safetensors.ckpt")
