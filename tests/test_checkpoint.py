"""Checkpoints: optimizer state survives a file, and resuming is bit-identical.

The resume test is the contract: training 2 epochs straight must give exactly
the weights (and history) of training 1 epoch, saving a checkpoint, loading
it into fresh objects and training 1 more. A control run shows the check has
teeth: resuming without the saved generator state gives different weights.
"""

import json
import os
import random
import struct

import pytest

import purenet as pn
from conftest import resave
from purenet.io.safetensors import read_safetensors


def data(n=48):
    x, y = pn.datasets.load_bundled("train")
    return x[:n], y[:n]


def small_model(seed=0):
    """Conv, pool, dropout (a layer with its own generator), dense: 28x28 inputs."""
    return pn.Sequential(
        [pn.Conv2D(2, 5, stride=3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dropout(0.3), pn.Dense(10), pn.Softmax()],
        input_shape=(1, 28, 28), seed=seed,
    )


def weights(model):
    return {name: m.data for name, m in model.state_dict().items()}


OPTIMIZERS = {
    "sgd": lambda: pn.SGD(0.05, momentum=0.9, weight_decay=1e-4),
    "adam": lambda: pn.Adam(0.003, beta1=0.8, weight_decay=1e-3),
    "plain-sgd": lambda: pn.SGD(0.05),
}


def trained(kind, epochs=1):
    model, optimizer = small_model(seed=4), OPTIMIZERS[kind]()
    x, y = data()
    model.fit(x, y, epochs=epochs, batch_size=8, optimizer=optimizer)
    return model, optimizer


def state(optimizer, model):
    return optimizer.state_dict(model.named_parameters())


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_round_trip_of_optimizer_state(tmp_path, kind):
    model, optimizer = trained(kind)
    path = tmp_path / "run.ckpt"
    pn.save_checkpoint(path, model, optimizer, epoch=1, extra={"argv": ["train", "--epochs", "3"], "lr": 0.5})
    ckpt = pn.load_checkpoint(path)
    assert ckpt.epoch == 1 and ckpt.extra == {"argv": ["train", "--epochs", "3"], "lr": 0.5}
    assert type(ckpt.optimizer) is type(optimizer)
    assert ckpt.optimizer.get_config() == optimizer.get_config()
    assert ckpt.optimizer.iterations == optimizer.iterations == 6
    assert state(ckpt.optimizer, ckpt.model) == state(optimizer, model)  # exact, every buffer
    assert weights(ckpt.model) == weights(model)
    assert ckpt.model.optimizer is ckpt.optimizer
    assert ckpt.model.rng.getstate() == model.rng.getstate() == ckpt.rng_state
    assert ckpt.model.layers[4].rng.getstate() == model.layers[4].rng.getstate()  # Dropout's own generator
    assert ckpt.history == model.history == ckpt.model.history
    assert type(ckpt.model.loss) is pn.CrossEntropy
    assert "epoch=1" in repr(ckpt)
    if kind == "plain-sgd":
        assert state(optimizer, model)["state"] == {}
    else:
        assert set(state(optimizer, model)["state"]) == {"0.weight", "0.bias", "5.weight", "5.bias"}


def test_file_contents(tmp_path):
    model, optimizer = trained("adam")
    path = tmp_path / "run.ckpt"
    pn.save_checkpoint(path, model, optimizer, epoch=1)
    tensors, meta = read_safetensors(path, aligned=True)
    assert all(t.dtype == "F64" for t in tensors.values())  # exact
    assert sorted(tensors) == sorted(
        [n for n, _ in model.named_parameters()]
        + [f"optimizer.{n}.{k}" for n, _ in model.named_parameters() for k in ("m", "v")]
    )
    assert tensors["optimizer.0.weight.m"].shape == (2, 1, 5, 5)
    assert tensors["optimizer.0.weight.v"].values == optimizer._state(model.layers[0].weight)["v"]
    assert meta["format"] == "purenet-checkpoint" and meta["format_version"] == "1"
    assert json.loads(meta["epoch"]) == 1
    spec = json.loads(meta["optimizer"])
    assert spec["class"] == "Adam" and spec["iterations"] == 6
    assert spec["config"] == {"lr": 0.003, "beta1": 0.8, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-3}
    assert spec["state"]["0.weight"] == {"t": 6}
    version, internal, gauss = json.loads(meta["rng_state"])
    assert (version, tuple(internal), gauss) == model.rng.getstate()
    assert list(json.loads(meta["layer_rng_states"])) == ["4"]
    assert json.loads(meta["architecture"]) == model.architecture
    assert json.loads(meta["loss"]) == {"class": "CrossEntropy", "config": {}}
    # a checkpoint is no model file, and a model file no checkpoint
    with pytest.raises(pn.ModelFileError, match="pn.load_checkpoint"):
        pn.load(path)
    model.save(tmp_path / "model.safetensors")
    with pytest.raises(pn.ModelFileError, match=r"a model file, open it with pn\.load"):
        pn.load_checkpoint(tmp_path / "model.safetensors")


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_resume_is_bit_identical(tmp_path, kind):
    x, y = data()
    straight, opt = small_model(seed=4), OPTIMIZERS[kind]()
    straight.fit(x, y, epochs=2, batch_size=8, optimizer=opt)

    first, opt1 = small_model(seed=4), OPTIMIZERS[kind]()
    first.fit(x, y, epochs=1, batch_size=8, optimizer=opt1)
    pn.save_checkpoint(tmp_path / "run.ckpt", first, opt1, epoch=1)
    del first, opt1

    ckpt = pn.load_checkpoint(tmp_path / "run.ckpt")
    ckpt.model.fit(x, y, epochs=1, batch_size=8, optimizer=ckpt.optimizer)
    assert weights(ckpt.model) == weights(straight)  # exact equality, not closeness
    assert ckpt.model.history == straight.history
    assert state(ckpt.optimizer, ckpt.model) == state(opt, straight)

    # the control: the same resume with a fresh shuffling generator drifts apart
    again = pn.load_checkpoint(tmp_path / "run.ckpt")
    again.model.rng.seed(12345)
    again.model.fit(x, y, epochs=1, batch_size=8)
    assert weights(again.model) != weights(straight)


def test_explicit_rng_state_and_history(tmp_path):
    model, optimizer = trained("sgd")
    other = random.Random(99)
    pn.save_checkpoint(tmp_path / "c", model, optimizer, epoch=0, rng_state=other.getstate(), history={"loss": [2.0]})
    ckpt = pn.load_checkpoint(tmp_path / "c")
    assert ckpt.rng_state == other.getstate() and ckpt.model.rng.random() == other.random()
    assert ckpt.history == {"loss": [2.0]} and ckpt.epoch == 0 and ckpt.extra is None


def test_save_rejects_bad_arguments(tmp_path):
    model, optimizer = trained("sgd")
    with pytest.raises(ValueError, match="epoch"):
        pn.save_checkpoint(tmp_path / "c", model, optimizer, epoch=-1)
    with pytest.raises(TypeError, match="optimizer"):
        pn.save_checkpoint(tmp_path / "c", model, object(), epoch=1)
    with pytest.raises(ValueError, match="extra"):
        pn.save_checkpoint(tmp_path / "c", model, optimizer, epoch=1, extra={"x": float("nan")})
    with pytest.raises(ValueError, match="rng_state"):
        pn.save_checkpoint(tmp_path / "c", model, optimizer, epoch=1, rng_state=(3, "abc"))
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer = trained("adam")
    path = tmp_path / "run.ckpt"
    pn.save_checkpoint(path, model, optimizer, epoch=1)
    before = path.read_bytes()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pn.save_checkpoint(path, model, optimizer, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.ckpt"]
    assert pn.load_checkpoint(path).epoch == 1


def test_optimizer_load_state_dict_validates():
    model, optimizer = trained("adam")
    named = model.named_parameters()
    good = optimizer.state_dict(named)
    fresh = pn.Adam()
    fresh.load_state_dict(good, named)
    assert fresh.state_dict(named)["state"] == good["state"] and fresh.iterations == 6
    with pytest.raises(ValueError, match="Adam"):
        pn.SGD().load_state_dict(good, named)
    with pytest.raises(ValueError, match="unknown parameter '9.weight'"):
        fresh.load_state_dict(dict(good, state={"9.weight": {"t": 1}}), named)
    with pytest.raises(ValueError, match="0.bias.m must be 2 finite numbers"):
        fresh.load_state_dict(dict(good, state={"0.bias": {"m": [0.0], "v": [0.0, 0.0], "t": 1}}), named)
    with pytest.raises(ValueError, match="iterations"):
        fresh.load_state_dict(dict(good, iterations=-1), named)
    assert fresh.state_dict(named)["state"] == good["state"]  # failed loads changed nothing


# ------------------------------------------------------------------ errors


@pytest.fixture
def ckpt_path(tmp_path):
    model, optimizer = trained("adam")
    path = tmp_path / "good.ckpt"
    pn.save_checkpoint(path, model, optimizer, epoch=1)
    return path


def raises(path, *fragments):
    with pytest.raises(pn.ModelFileError) as info:
        pn.load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


def edit_json(key, edit, replace=False):
    """Edit the JSON in metadata ``key`` in place (or replace it by ``edit``'s result)."""

    def meta(m):
        value = json.loads(m[key])
        result = edit(value)
        m[key] = json.dumps(result if replace else value)

    return meta


def test_truncated_checkpoint(ckpt_path, tmp_path):
    blob = ckpt_path.read_bytes()
    for cut in (5, 100, len(blob) // 2, len(blob) - 1):
        (tmp_path / "cut").write_bytes(blob[:cut])
        raises(tmp_path / "cut", "truncated")


def test_bad_epoch_and_keys(ckpt_path, tmp_path):
    out = tmp_path / "x"
    raises(resave(ckpt_path, out, meta=lambda m: m.update(epoch="-1")), "__metadata__['epoch']", "non-negative int")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(epoch="1.5")), "__metadata__['epoch']")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(epoch="true")), "__metadata__['epoch']")
    raises(resave(ckpt_path, out, meta=lambda m: m.pop("rng_state")), "no ['rng_state']")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(secret="x")), "unknown key(s) ['secret']")


def test_bad_optimizer_spec(ckpt_path, tmp_path):
    out = tmp_path / "x"
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s.update({"class": "Evil"}))),
           "__metadata__['optimizer'] class", "the unknown optimizer 'Evil'")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s["config"].update(lr=-1.0))),
           "__metadata__['optimizer'] config", "lr")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s["config"].update(nesterov=True))),
           "__metadata__['optimizer'] config", "nesterov")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s["config"].update(lr=[1]))),
           "__metadata__['optimizer'] config", "an object of numbers")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s.update(iterations=True))), "iterations")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s.pop("state"))), "exactly the keys")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s["state"]["0.weight"].update(t=-3))),
           "state '0.weight'", "exactly the counts ['t']")
    raises(resave(ckpt_path, out, meta=edit_json("optimizer", lambda s: s["state"].update({"7.weight": {"t": 1}}))),
           "the unknown parameter '7.weight'")


def test_bad_optimizer_tensors(ckpt_path, tmp_path):
    out = tmp_path / "x"
    raises(resave(ckpt_path, out, tensors=lambda t: t.pop("optimizer.0.weight.v")), "optimizer state of 0.weight",
           "['m', 't', 'v']", "only ['m', 't']")
    raises(resave(ckpt_path, out, tensors=lambda t: t.update({"optimizer.0.weight.momentum": t["optimizer.0.weight.m"]})),
           "tensor 'optimizer.0.weight.momentum'", "an unknown tensor")
    raises(resave(ckpt_path, out, tensors=lambda t: t.update({"optimizer.8.weight.m": t["optimizer.0.weight.m"]})),
           "tensor 'optimizer.8.weight.m'", "an unknown tensor")
    raises(resave(ckpt_path, out, tensors=lambda t: t.update({"optimizer.0.bias.m": t["optimizer.0.weight.m"]})),
           "tensor 'optimizer.0.bias.m' shape", "(2,)", "(2, 1, 5, 5)")
    raises(resave(ckpt_path, out, tensors=lambda t: t.pop("5.bias")), "tensors", "missing ['5.bias']")

    def marked(t):  # the writer refuses NaN: write a marker value, then patch its bytes
        dtype, shape, values = t["optimizer.5.weight.v"]
        t["optimizer.5.weight.v"] = (dtype, shape, values[:3] + [1e300] + values[4:])

    resave(ckpt_path, out, tensors=marked)
    out.write_bytes(out.read_bytes().replace(struct.pack("<d", 1e300), struct.pack("<d", float("nan"))))
    raises(out, "tensor 'optimizer.5.weight.v'", "finite numbers", "flat index 3")


def test_plain_sgd_must_not_carry_momentum(tmp_path):
    model, optimizer = trained("sgd")
    pn.save_checkpoint(tmp_path / "c", model, optimizer, epoch=1)
    out = resave(tmp_path / "c", tmp_path / "x", meta=edit_json("optimizer", lambda s: s["config"].pop("momentum")))
    raises(out, "tensor 'optimizer.0.", ".momentum'", "SGD(lr=0.05, weight_decay=0.0001) keeps no per-weight state")


def test_bad_rng_states(ckpt_path, tmp_path):
    out = tmp_path / "x"
    field = "__metadata__['rng_state']"
    raises(resave(ckpt_path, out, meta=edit_json("rng_state", lambda s: s[1].pop())), field, "625 ints")
    raises(resave(ckpt_path, out, meta=edit_json("rng_state", lambda s: s[1].__setitem__(3, -1))), field)
    raises(resave(ckpt_path, out, meta=edit_json("rng_state", lambda s: s[1].__setitem__(3, 2 ** 32))), field)
    raises(resave(ckpt_path, out, meta=edit_json("rng_state", lambda s: s[1].__setitem__(624, 700))), field,
           "random.Random rejects")
    raises(resave(ckpt_path, out, meta=edit_json("rng_state", lambda s: s.__setitem__(0, 99))), field,
           "random.Random rejects")
    raises(resave(ckpt_path, out, meta=edit_json("rng_state", lambda s: s.__setitem__(2, "x"))), field)
    raises(resave(ckpt_path, out, meta=lambda m: m.update(rng_state="{}")), field)
    raises(resave(ckpt_path, out, meta=lambda m: m.pop("layer_rng_states")), "layer_rng_states", "['4']")
    raises(resave(ckpt_path, out, meta=edit_json("layer_rng_states", lambda s: {"3": s["4"]}, replace=True)), "layer_rng_states",
           "['3']")
    raises(resave(ckpt_path, out, meta=edit_json("layer_rng_states", lambda s: s["4"].pop())),
           "__metadata__['layer_rng_states'] 4")


def test_bad_loss_history_extra(ckpt_path, tmp_path):
    out = tmp_path / "x"
    raises(resave(ckpt_path, out, meta=lambda m: m.update(loss='{"class": "Evil", "config": {}}')),
           "__metadata__['loss'] class", "the unknown loss 'Evil'")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(loss='{"class": "CrossEntropy", "config": {"k": 1}}')),
           "__metadata__['loss'] config", "k")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(history='{"loss": "low"}')), "history")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(extra="{")), "__metadata__['extra']", "valid JSON")
    raises(resave(ckpt_path, out, meta=lambda m: m.update(extra='{"a": 1, "a": 2}')), "duplicate key 'a'")
