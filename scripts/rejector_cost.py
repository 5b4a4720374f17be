"""What the rejection model costs per input, beside the shipped LeNet.

    pypy3 scripts/rejector_cost.py [--inputs 2000] [--rejector FILE]

Both models predict the same inputs (bundled MNIST test digits) in batches
of 100; the CPU time (user + sys, ``resource.getrusage``) of each is
printed per input, with the ratio, the parameter counts and the size of
the model files. CPU time rather than wall time: the machine may be shared.
"""

import argparse
import os
import resource
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import purenet as pn  # noqa: E402
from purenet.cli import PRETRAINED_MODEL  # noqa: E402
from purenet.vision.rejection import REJECTOR_MODEL  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def per_input(model, batches) -> float:
    model.predict(batches[0])  # warm up (PyPy's JIT)
    start = cpu()
    for b in batches:
        model.predict(b)
    return (cpu() - start) / sum(b.rows for b in batches)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--rejector", default=REJECTOR_MODEL)
    args = parser.parse_args(argv)
    images, _ = pn.datasets.load_bundled("test")
    batches = [images[s : min(s + 100, args.inputs)].to_matrix() for s in range(0, args.inputs, 100)]
    rows = []
    for name, path in (("LeNet (digits)", PRETRAINED_MODEL), ("rejection model", args.rejector)):
        model = pn.load(path)
        params = sum(len(p.data) for _, p in model.named_parameters())
        rows.append((name, per_input(model, batches), params, os.path.getsize(path)))
    for name, t, params, size in rows:
        print(f"{name:16s} {t * 1e3:7.3f} ms CPU per input, {params:,} parameters, file {size / 1024:.0f} KB")
    print(f"rejection / LeNet: {rows[1][1] / rows[0][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
