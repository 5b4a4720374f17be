#!/usr/bin/env python3
"""Render the JSON of a benchmark run as the Markdown tables of docs/performance.md.

Usage::

    python benchmarks/table.py benchmarks/results        # steps.json, epoch-*.json, scaling-*.json there

Reads what ``reproduce.sh`` writes into a directory and prints Markdown:
the training-throughput table with its ratios, the headline ratios, the
prediction latency and peak memory, the epoch times and the scaling
sweeps. Files that are missing are left out. Standard library only.
"""

import glob
import json
import os
import sys

# the ratios the performance issue asks about, in the order shown, when present
HEADLINES = [
    ("cnn-small", "purenet/naive@cpython-3.13"),
    ("cnn-small", "purenet@pypy-3.9 / purenet@cpython-3.13"),
    ("cnn-small", "purenet@pypy-3.9 / numpy-float64@cpython-3.13"),
    ("cnn-small", "purenet@pypy-3.9 / numpy-float32@cpython-3.13"),
    ("cnn-small", "purenet@pypy-3.9 / numpy-float64@cpython-ref"),
    ("cnn-small", "purenet@pypy-3.9 / numpy-float32@cpython-ref"),
    ("cnn-small", "purenet@pypy-3.9 / numpy-float64@cpython-3.11"),
    ("cnn-small", "purenet@pypy-3.9 / numpy-float32@cpython-3.11"),
    ("cnn-small", "purenet@pypy-3.9 / torch-float32@cpython-3.11"),
    ("cnn-small", "purenet@pypy-3.9 / torch-float32@cpython-ref"),
    ("cnn-small", "purenet/naive@pypy-3.9"),
    ("cnn-small", "manual loop/train_on_batch@cpython-3.13"),
    ("cnn-small", "manual loop/train_on_batch@pypy-3.9"),
    ("mlp", "purenet/naive@cpython-3.13"),
    ("mlp", "purenet@pypy-3.9 / purenet@cpython-3.13"),
    ("lenet", "purenet/naive@cpython-3.13"),
    ("lenet", "purenet@pypy-3.9 / purenet@cpython-3.13"),
]


def load(path):
    with open(path) as f:
        return json.load(f)


def steps_tables(steps):
    out = ["| workload | interpreter | implementation | samples/s | x naive (same interpreter) |",
           "|---|---|---|---:|---:|"]
    naive = {(r["workload"], r["interpreter"]): r["samples_per_s"]
             for r in steps["results"] if r["implementation"] == "naive"}
    for r in steps["results"]:
        base = naive.get((r["workload"], r["interpreter"]))
        ratio = "%.2f" % (r["samples_per_s"] / base) if base else ""
        out.append("| %s | %s | %s | %.0f | %s |" % (r["workload"], r["interpreter"], r["implementation"],
                                                    r["samples_per_s"], ratio))
    out += ["", "| workload | ratio | value |", "|---|---|---:|"]
    for workload, name in HEADLINES:
        value = steps["ratios"].get(workload, {}).get(name)
        if value is not None:
            out.append("| %s | %s | %.2fx |" % (workload, name.replace("|", "/"), value))
    out += ["", "| interpreter | version | one-image `predict` median (best) | `preprocess` + `predict` median | peak memory |",
            "|---|---|---:|---:|---:|"]
    for label, info in steps["interpreters"].items():
        lat = steps["latency"].get(label)
        rss = steps["peak_rss_kib"].get(label)
        version = "%s %s" % (info["implementation"], info["version"])
        if lat:
            out.append("| %s | %s | %.1f ms (%.1f) | %.1f ms | %s |" % (
                label, version, lat["predict"]["median_ms"], lat["predict"]["best_ms"],
                lat["preprocess+predict"]["median_ms"], "%.0f MiB" % (rss / 1024.0) if rss else ""))
    return out


def epoch_table(paths):
    out = ["| interpreter | arch | images | workers | epoch | samples/s | peak memory |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for path in paths:
        data = load(path)
        name = "%s %s" % (data["interpreter"]["implementation"], data["interpreter"]["version"])
        for run in data["runs"]:
            if "seconds" not in run:
                out.append("| %s | %s | %d | %d | not measured: %s | | |" % (
                    name, data["arch"], data["images"], run["workers"], run["skipped"]))
                continue
            minutes, seconds = divmod(int(round(run["seconds"])), 60)
            peak = max(run["peak_rss_mib"] or 0, run.get("peak_rss_children_mib") or 0)
            out.append("| %s | %s | %d | %d | %d:%02d | %.0f | %.0f MiB |" % (
                name, data["arch"], data["images"], run["workers"], minutes, seconds,
                run["samples_per_s"], peak))
    return out


def scaling_table(paths):
    datasets = [load(p) for p in paths]
    if not datasets:
        return []
    names = ["%s %s" % (d["interpreter"]["implementation"], d["interpreter"]["version"]) for d in datasets]
    out = ["| sweep | setting | MACs/sample | " + " | ".join("%s samples/s (ns/MAC)" % n for n in names) + " |",
           "|---|---|---:|" + "---:|" * len(names)]
    for i, row in enumerate(datasets[0]["rows"]):
        cells = []
        for d in datasets:
            r = d["rows"][i]
            cells.append("%.0f (%.0f)" % (r["samples_per_s"], r["ns_per_mac"]))
        out.append("| %s | %s | %d | %s |" % (row["sweep"], row["setting"], row["macs_per_sample"], " | ".join(cells)))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folder = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    lines = []
    steps = os.path.join(folder, "steps.json")
    if os.path.exists(steps):
        lines += steps_tables(load(steps)) + [""]
    epochs = sorted(glob.glob(os.path.join(folder, "epoch-*.json")))
    if epochs:
        lines += epoch_table(epochs) + [""]
    lines += scaling_table(sorted(glob.glob(os.path.join(folder, "scaling-*.json"))))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
