"""``purenet bench`` and the several-interpreter mode of benchmarks/run.py (no timing asserted)."""

import importlib.util
import io
import json
import os
import sys

import pytest

from purenet import bench, cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module():
    spec = importlib.util.spec_from_file_location("purenet_bench_run_many", os.path.join(ROOT, "benchmarks", "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_command_prints_a_row_per_workload_and_the_latency():
    out, err = io.StringIO(), io.StringIO()
    args = cli.build_parser().parse_args(["bench", "--workloads", "mlp,cnn-small", "--seconds", "0.05"])
    assert cli.bench_command(args, out=out, err=err) == 0
    lines = out.getvalue().splitlines()
    rows = [line.split() for line in lines if line.startswith(("mlp ", "cnn-small "))]
    assert [r[0] for r in rows] == ["mlp", "cnn-small"]
    assert all(float(r[1]) > 0 and ":" in r[2] for r in rows)  # samples/s, m:ss per epoch
    assert "one-image prediction (shipped lenet): median" in out.getvalue()
    assert "timing mlp training" in err.getvalue()


def test_bench_rejects_unknown_workloads(capsys):
    assert cli.main(["bench", "--workloads", "resnet"]) == 2
    assert "expected names from cnn-small, mlp, lenet, cnn-bn; Received: 'resnet'" in capsys.readouterr().err


def test_run_training_rows_are_consistent():
    rows = bench.run_training(["cnn-small"], seconds=0.05, rounds=2)
    (row,) = rows
    assert row["steps"] >= 2
    assert row["epoch_seconds"] == pytest.approx(60000 / row["samples_per_s"])


def test_runner_worker_answers_json_commands():
    """The worker protocol of a several-interpreter run, in process: info, setup
    (verification included), one round, latency, quit."""
    run = run_module()
    commands = [
        {"op": "info"},
        {"op": "setup", "workload": "mlp", "batch_size": 4, "lr": 0.01, "only": ["purenet", "naive"], "warmup": 0.0},
        {"op": "round", "implementation": "naive", "seconds": 0.0, "min_steps": 2},
        {"op": "latency", "samples": 3},
        {"op": "round", "implementation": "no-such", "seconds": 0.0, "min_steps": 1},
        {"op": "quit"},
    ]
    out = io.StringIO()
    run.serve([json.dumps(c) + "\n" for c in commands], out)
    info, setup, round_, latency, error, quit_ = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {"purenet", "naive"} <= set(info["implementations"])
    assert setup["implementations"] == ["naive", "purenet"]
    assert setup["verification"]["naive"]["weight_diff"] <= 1e-9
    assert round_["steps"] == 2 and round_["seconds"] > 0
    assert latency["predict"]["median_ms"] > 0 and latency["preprocess+predict"]["best_ms"] > 0
    assert "KeyError" in error["error"]
    assert "peak_rss_kib" in quit_


def test_runner_several_interpreters_in_one_run(tmp_path):
    """Two worker processes (this interpreter twice, under two labels), interleaved:
    every pair timed, ratios between them, JSON written."""
    run = run_module()
    out = tmp_path / "many.json"
    argv = ["--workloads", "mlp", "--seconds", "0.02", "--rounds", "2", "--latency-samples", "2",
            "--interpreter", "a=%s:purenet,naive" % sys.executable,
            "--interpreter", "b=%s:purenet" % sys.executable, "--json", str(out)]
    assert run.main(argv) == 0
    data = json.loads(out.read_text())
    pairs = sorted((r["interpreter"], r["implementation"]) for r in data["results"])
    assert pairs == [("a", "naive"), ("a", "purenet"), ("b", "purenet")]
    assert all(len(r["rounds"]) == 2 for r in data["results"])
    rate = {(r["interpreter"], r["implementation"]): r["samples_per_s"] for r in data["results"]}
    ratios = data["ratios"]["mlp"]
    assert ratios["purenet/naive@a"] == pytest.approx(rate["a", "purenet"] / rate["a", "naive"])
    assert ratios["purenet@b / purenet@a"] == pytest.approx(rate["b", "purenet"] / rate["a", "purenet"])
    assert set(data["latency"]) == set(data["peak_rss_kib"]) == {"a", "b"}
    assert data["verification"]["a"]["mlp"]["naive"]["weight_diff"] <= 1e-9


def test_runner_rejects_a_malformed_interpreter_option():
    run = run_module()
    with pytest.raises(ValueError, match="LABEL=PYTHON"):
        run.parse_interpreter("pypy3")
    assert run.parse_interpreter("p=pypy3:purenet,naive") == ("p", "pypy3", {"purenet", "naive"})
    assert run.parse_interpreter("c=/usr/bin/python3") == ("c", "/usr/bin/python3", None)


def test_epoch_script_smoke_run(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("purenet_bench_epoch", os.path.join(ROOT, "benchmarks", "epoch.py"))
    epoch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(epoch)
    out = tmp_path / "epoch.json"
    assert epoch.main(["--arch", "cnn-small", "--bundled", "--limit", "64", "--workers", "1,2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["images"] == 64 and data["arch"] == "cnn-small"
    first = data["runs"][0]
    assert first["workers"] == 1 and first["samples_per_s"] == pytest.approx(64 / first["seconds"])
    assert first["peak_rss_mib"] > 0
    second = data["runs"][1]  # measured when fit takes workers=, else skipped with the reason
    assert second["workers"] == 2 and ("seconds" in second or "workers argument" in second["skipped"])
