"""The benchmark implementations are correct (no timing is asserted here).

* the naive pure-Python step and the NumPy/PyTorch references agree with each
  other on a tiny seeded batch (loss before the update, weights after it);
* the naive gradient matches a central finite difference of the loss;
* the runner's verification (purenet against every implementation, one real
  MNIST batch of 4) passes for both workloads.
"""

import importlib.util
import math
import os
import random
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "benchmarks")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import naive  # noqa: E402
from conftest import require  # noqa: E402

WORKLOADS = ("cnn-small", "mlp", "lenet")


def _have(module):
    return importlib.util.find_spec(module) is not None


def _uniform(rng, scale, *shape):
    if len(shape) == 1:
        return [rng.uniform(-scale, scale) for _ in range(shape[0])]
    return [_uniform(rng, scale, *shape[1:]) for _ in range(shape[0])]


def _random_state(workload, seed):
    """Random weights with non-zero biases (so no pre-activation sits at a kink)."""
    rng = random.Random(seed)
    if workload == "lenet":
        return {"0.weight": _uniform(rng, 0.5, 8, 1, 3, 3),
                "0.bias": _uniform(rng, 0.2, 8),
                "3.weight": _uniform(rng, 0.2, 16, 8, 3, 3),
                "3.bias": _uniform(rng, 0.2, 16),
                "7.weight": _uniform(rng, 0.1, 64, 400),
                "7.bias": _uniform(rng, 0.1, 64),
                "9.weight": _uniform(rng, 0.2, 10, 64),
                "9.bias": _uniform(rng, 0.1, 10)}
    if workload == "cnn-small":
        return {"0.weight": _uniform(rng, 0.5, 8, 1, 3, 3),
                "0.bias": _uniform(rng, 0.2, 8),
                "4.weight": _uniform(rng, 0.05, 10, 1352),
                "4.bias": _uniform(rng, 0.1, 10)}
    return {"0.weight": _uniform(rng, 0.08, 128, 784),
            "0.bias": _uniform(rng, 0.1, 128),
            "2.weight": _uniform(rng, 0.2, 10, 128),
            "2.bias": _uniform(rng, 0.1, 10)}


def _random_batch(n, seed):
    """MNIST-like images: ~75% exact zeros, the rest in (0, 1]."""
    rng = random.Random(seed)
    images = [[rng.random() if rng.random() < 0.25 else 0.0 for _ in range(784)]
              for _ in range(n)]
    labels = [rng.randrange(10) for _ in range(n)]
    return images, labels


def _flat(value):
    if isinstance(value, list):
        out = []
        for v in value:
            out.extend(_flat(v))
        return out
    return [value]


def _max_diff(a, b):
    assert sorted(a) == sorted(b)
    worst = 0.0
    for name in a:
        fa, fb = _flat(a[name]), _flat(b[name])
        assert len(fa) == len(fb), name
        worst = max([worst] + [abs(u - v) for u, v in zip(fa, fb)])
    return worst


def _naive_step(workload, seed, n, lr):
    state = _random_state(workload, seed)
    images, labels = _random_batch(n, seed + 1)
    params = naive.init_from_state(state)
    loss = naive.train_step(params, images, labels, lr)
    return state, images, labels, loss, naive.state_dict(params)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_naive_copies_its_input_and_reports_loss_before_update(workload):
    state, images, labels, loss, after = _naive_step(workload, 3, 2, 0.5)
    again = naive.init_from_state(state)
    assert naive.loss_only(again, images, labels) == pytest.approx(loss, abs=1e-12)
    assert _max_diff(naive.state_dict(again), after) > 1e-6  # the step moved the weights
    assert _max_diff(naive.state_dict(again), state) == 0.0  # the caller's lists untouched


@pytest.mark.parametrize("workload", WORKLOADS)
def test_naive_gradient_matches_finite_differences(workload):
    lr = 1.0
    state, images, labels, _, after = _naive_step(workload, 11, 2, lr)
    rng = random.Random(5)
    eps = 1e-6
    checked = nonzero = 0
    per_name = 24 // len(state)  # lenet's naive step is slow: as many checks, spread thinner
    for name in sorted(state):
        flat_before = _flat(state[name])
        flat_after = _flat(after[name])
        for index in rng.sample(range(len(flat_before)), per_name):
            analytic = (flat_before[index] - flat_after[index]) / lr
            values = []
            for sign in (1.0, -1.0):
                params = naive.init_from_state(state)
                _set_flat(params[name], index, flat_before[index] + sign * eps)
                values.append(naive.loss_only(params, images, labels))
            numeric = (values[0] - values[1]) / (2 * eps)
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), (name, index)
            checked += 1
            nonzero += abs(analytic) > 1e-6
    assert checked == 24
    assert nonzero >= 8  # the check is not vacuous


def _set_flat(value, index, new):
    """Set the index-th number (row-major) of nested lists."""
    def walk(v, i):
        for j, item in enumerate(v):
            if isinstance(item, list):
                size = len(_flat(item))
                if i < size:
                    return walk(item, i)
                i -= size
            else:
                if i == 0:
                    v[j] = new
                    return None
                i -= 1
        raise IndexError(index)
    walk(value, index)


@pytest.mark.skipif(not _have("numpy"), reason="numpy not installed")
@pytest.mark.parametrize("workload", WORKLOADS)
def test_numpy_reference_agrees_with_naive(workload):
    import reference_numpy
    state, images, labels, loss, after = _naive_step(workload, 7, 3, 0.1)
    params = reference_numpy.init_from_state(state, "float64")
    assert reference_numpy.loss_only(params, images, labels) == pytest.approx(loss, abs=1e-12)
    assert reference_numpy.train_step(params, images, labels, 0.1) == pytest.approx(
        loss, abs=1e-12)
    assert _max_diff(reference_numpy.state_dict(params), after) < 1e-12
    params32 = reference_numpy.init_from_state(state, "float32")
    assert reference_numpy.train_step(params32, images, labels, 0.1) == pytest.approx(
        loss, abs=1e-5)
    assert _max_diff(reference_numpy.state_dict(params32), after) < 1e-5


@pytest.mark.skipif(not _have("torch"), reason="torch not installed")
@pytest.mark.parametrize("workload", WORKLOADS)
def test_torch_reference_agrees_with_naive(workload):
    import reference_torch
    state, images, labels, loss, after = _naive_step(workload, 7, 3, 0.1)
    params = reference_torch.init_from_state(state, "float64")
    assert reference_torch.train_step(params, images, labels, 0.1) == pytest.approx(
        loss, abs=1e-12)
    assert _max_diff(reference_torch.state_dict(params), after) < 1e-12
    params32 = reference_torch.init_from_state(state, "float32")
    assert reference_torch.loss_only(params32, images, labels) == pytest.approx(loss, abs=1e-5)
    assert reference_torch.train_step(params32, images, labels, 0.1) == pytest.approx(
        loss, abs=1e-5)
    assert _max_diff(reference_torch.state_dict(params32), after) < 1e-5


def test_maxpool_ties_go_to_the_first_maximum():
    maps = [[[1.0, 1.0], [1.0, 0.5]]]
    pooled, winners = naive._maxpool_forward(maps, 2)
    assert pooled == [[[1.0]]] and winners == [[[(0, 0)]]]
    maps = [[[0.0, 2.0], [2.0, 2.0]]]
    assert naive._maxpool_forward(maps, 2)[1] == [[[(0, 1)]]]


def _purenet_ready():
    try:
        import purenet as pn
    except Exception:
        return False
    return all(hasattr(pn, name) for name in ("Sequential", "Conv2D", "Dense", "SGD",
                                              "CrossEntropy", "datasets"))


@pytest.mark.skipif(not _purenet_ready(), reason="purenet package not importable yet")
@pytest.mark.parametrize("workload", WORKLOADS)
def test_runner_verification_passes(workload):
    spec = importlib.util.spec_from_file_location("purenet_bench_run",
                                                  os.path.join(BENCH, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    report = run.verify(workload, batch_size=4)
    assert "naive" in report and "purenet" in report
    assert report["purenet"]["weight_change"] > 0.0
    for name, r in report.items():
        assert r["loss_diff"] <= r["tolerance"], name
        assert r["weight_diff"] <= r["tolerance"], name


@pytest.mark.skipif(not _purenet_ready(), reason="purenet package not importable yet")
def test_runner_verifies_cnn_bn_against_torch_with_its_running_statistics(monkeypatch):
    require("torch")
    spec = importlib.util.spec_from_file_location("purenet_bench_run_bn", os.path.join(BENCH, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    report = run.verify("cnn-bn", batch_size=4)
    assert set(report) == {"purenet", "torch-float64", "torch-float32"}  # naive and NumPy have no BatchNorm
    assert report["purenet"]["weight_change"] > 0.0
    for name, r in report.items():
        assert r["loss_diff"] <= r["tolerance"] and r["weight_diff"] <= r["tolerance"], name
    trainer = run._PurenetTrainer(run.build_purenet("cnn-bn"), 0.01)
    state = run.purenet_state(trainer.model, "cnn-bn")
    assert state["9.running_var"] == [1.0] * 32 and state["3.num_batches_tracked"] == [0.0]

    # a running statistic off by a little is caught, like a weight
    real_step = run.reference_torch.train_step

    def drifting(params, images, labels, lr):
        loss = real_step(params, images, labels, lr)
        params["model"][7].running_mean[2] += 1e-7
        return loss

    monkeypatch.setattr(run.reference_torch, "train_step", drifting)
    with pytest.raises(run.VerificationError, match="torch-float64: weights after one step"):
        run.verify("cnn-bn", batch_size=4)


@pytest.mark.skipif(not _purenet_ready(), reason="purenet package not importable yet")
def test_runner_command_line_writes_json(tmp_path, capsys):
    import json
    spec = importlib.util.spec_from_file_location("purenet_bench_run_cli",
                                                  os.path.join(BENCH, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    out = tmp_path / "bench.json"
    assert run.main(["--workloads", "mlp", "--seconds", "0.01", "--rounds", "1",
                     "--implementations", "naive,purenet", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "purenet / naive, mlp" in printed and "samples/s" in printed
    data = json.loads(out.read_text())
    assert data["interpreter"]["implementation"] and data["date"]
    rows = {r["implementation"]: r for r in data["results"]}
    assert set(rows) == {"naive", "purenet"}
    assert rows["naive"]["steps"] >= 2 and rows["naive"]["ratio_to_naive"] == 1.0
    assert data["purenet_over_naive"]["mlp"] == pytest.approx(
        rows["purenet"]["samples_per_s"] / rows["naive"]["samples_per_s"])
    assert data["verification"]["mlp"]["naive"]["weight_diff"] <= 1e-9


@pytest.mark.skipif(not _purenet_ready(), reason="purenet package not importable yet")
def test_runner_verification_fails_loudly_on_a_wrong_step(monkeypatch):
    spec = importlib.util.spec_from_file_location("purenet_bench_run_bad",
                                                  os.path.join(BENCH, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    real_step = run.naive.train_step

    def slightly_wrong(params, images, labels, lr):
        loss = real_step(params, images, labels, lr)
        params["2.bias"][3] += 1e-7  # far below anything a plot would show
        return loss

    monkeypatch.setattr(run.naive, "train_step", slightly_wrong)
    with pytest.raises(run.VerificationError, match="naive: weights after one step"):
        run.verify("mlp", batch_size=4)


def test_primitives_dot_products_agree_and_report(tmp_path):
    """Every dot-product kernel the primitives benchmark times computes the same dot product."""
    import primitives  # benchmarks/ is on sys.path (above)

    rng = random.Random(1)
    a, b = [rng.uniform(-1, 1) for _ in range(50)], [rng.uniform(-1, 1) for _ in range(50)]
    want = math.fsum(x * y for x, y in zip(a, b))
    kernels = [primitives.dot_map, primitives.dot_generator, primitives.dot_index]
    if hasattr(math, "sumprod"):
        kernels.append(primitives.dot_sumprod)
    for fn in kernels:
        assert abs(fn(a, b) - want) < 1e-12
    assert primitives.rate(primitives.dot_map, a, b, pairs=10, repeats=1) > 0
