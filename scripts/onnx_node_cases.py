"""Regenerate ONNX's node test cases of the operators purenet reads, offline.

    python scripts/onnx_node_cases.py OUTPUT_DIR            # every operator of the table
    python scripts/onnx_node_cases.py OUTPUT_DIR --ops Conv,Gemm

The ``onnx`` wheel ships its model test data (``pytorch-converted``,
``pytorch-operator``) but not its node tests; it ships their generators
instead (``onnx.backend.test.case.node``, what ``backend-test-tools
generate-data`` runs for all of them). Importing one generator module runs
its ``export*`` functions, which compute the expected outputs with NumPy and
collect one case per call. This script imports the modules of the operators
in :data:`purenet.io.onnx.ops.OPERATORS` only and writes each case as the
wheel lays its data out::

    OUTPUT_DIR/node/test_conv_with_strides_padding/model.onnx
    OUTPUT_DIR/node/test_conv_with_strides_padding/test_data_set_0/input_0.pb ... output_0.pb

Prints how many cases it wrote. ``tests/test_onnx_cases.py`` runs it into a
temporary folder (a few seconds) wherever ``onnx`` is installed.
"""

import argparse
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from purenet.io.onnx.ops import OPERATORS  # noqa: E402

#: generator module of each operator, where its name is not the lower-cased op_type
MODULES = {"BatchNormalization": "batch_normalization"}


def generate(output: str, ops) -> int:
    """Write the node cases of ``ops`` under ``output/node``; returns how many."""
    from onnx import numpy_helper
    from onnx.backend.test.case import node as node_cases

    for op in ops:
        name = MODULES.get(op, op.lower())
        try:
            importlib.import_module(f"onnx.backend.test.case.node.{name}")
        except ModuleNotFoundError:  # an operator without node tests of its own
            continue
    count = 0
    for case in node_cases._NodeTestCases:
        if not any(n.op_type in ops for n in case.model.graph.node):
            continue
        values = [v for inputs, outputs in case.data_sets for v in list(inputs) + list(outputs)]
        if not all(hasattr(v, "shape") or hasattr(v, "SerializeToString") for v in values):
            continue  # sequences and maps: no tensor model reads them
        folder = os.path.join(output, "node", case.name)
        os.makedirs(os.path.join(folder, "test_data_set_0"), exist_ok=True)
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            data = os.path.join(folder, f"test_data_set_{i}")
            os.makedirs(data, exist_ok=True)
            for kind, values, infos in (("input", inputs, case.model.graph.input),
                                        ("output", outputs, case.model.graph.output)):
                for j, value in enumerate(values):
                    if not hasattr(value, "SerializeToString"):
                        value = numpy_helper.from_array(value, infos[j].name)
                    with open(os.path.join(data, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(value.SerializeToString())
        count += 1
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="folder to write node/<case>/ into")
    parser.add_argument("--ops", help="comma-separated op_types (default: every operator purenet reads)")
    args = parser.parse_args(argv)
    ops = args.ops.split(",") if args.ops else sorted(OPERATORS)
    count = generate(args.output, set(ops))
    print(f"{count} node cases written to {os.path.join(args.output, 'node')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
