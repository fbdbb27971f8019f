"""Write ONNX's node conformance tests (model.onnx + test_data_set_*) under DIR/node/.

The onnx wheel ships the node test generators (onnx/backend/test/case/node) but not their data;
`python -m onnx.backend.test.cmd_tools generate-data` writes only the model tests in this onnx
version, so this runs the same writer over the node cases. Usage: python tools/onnx_node_data.py DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings


def generate(out: str) -> int:
    from onnx.backend.test import cmd_tools
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases(None)
    original = cmd_tools.model_test.collect_testcases
    cmd_tools.model_test.collect_testcases = lambda *a, **k: cases
    try:
        cmd_tools.generate_data(argparse.Namespace(output=out))
    finally:
        cmd_tools.model_test.collect_testcases = original
    return len(cases)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.expanduser("~"), ".cache", "graphc", "onnx-node-data")
    print(f"wrote {generate(target)} node tests under {target}/node")
