"""Run ONNX's node conformance tests of every op graphc imports; write the counts into docs/onnx-import.md.

Uses onnx's own runner (`onnx.backend.test.BackendTest`) with `graphc.onnx_backend.GraphcBackend`
(import into graphc's IR, export, onnxruntime). A node test belongs to a claimed op when every
node of its model has an op type graphc imports. Each test ends as: pass; an import error
(an unsupported attribute, dtype or input form: refused, never a wrong answer); or a wrong
result (a mismatch: a bug). The tests refused only because an attribute-like input (axes, shape,
scales, ...) is fed at run time run a second time with those inputs as constants, as exporters
write them (`run_constant_inputs`). The data comes from tools/onnx_node_data.py (generated once into
~/.cache/graphc/onnx-node-data). Usage: python docs/gen_onnx_conformance.py [--check] [--reference]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import unittest
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = os.environ.get("GRAPHC_ONNX_NODE_DATA", os.path.join(os.path.expanduser("~"), ".cache", "graphc",
                                                              "onnx-node-data"))
DOC = os.path.join(ROOT, "docs", "onnx-import.md")
BEGIN, END = "<!-- conformance:begin -->", "<!-- conformance:end -->"


def ensure_data(data_dir: str = DATA) -> str:
    if not os.path.isdir(os.path.join(data_dir, "node")):
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        from onnx_node_data import generate

        generate(data_dir)
    return data_dir


def claimed_tests(data_dir: str) -> dict[str, str]:
    """test name -> the (first) ONNX op type of a node test whose ops graphc all imports."""
    import onnx

    from graphc.onnx_in.importer import import_table

    table = {op for (domain, op) in import_table() if domain == ""}
    result = {}
    node_dir = os.path.join(data_dir, "node")
    for name in sorted(os.listdir(node_dir)):
        path = os.path.join(node_dir, name, "model.onnx")
        if not os.path.exists(path):
            continue
        model = onnx.load(path, load_external_data=False)
        ops = [n.op_type for n in model.graph.node]
        if ops and all(n.domain in ("", "ai.onnx") and n.op_type in table for n in model.graph.node):
            result[name] = ops[0]
    for name in result:  # a function's expanded test counts for the function's op
        base = re.sub(r"_expanded(_ver\d+)?$", "", name)
        if base != name:
            result[name] = result.get(base, _op_of(os.path.join(node_dir, base)) or result[name])
    return result


def _op_of(test_dir: str) -> str | None:
    import onnx

    path = os.path.join(test_dir, "model.onnx")
    return onnx.load(path).graph.node[0].op_type if os.path.exists(path) else None


def run(data_dir: str, names: list[str], reference: bool = False) -> dict[str, tuple[str, str]]:
    """test name -> (outcome, first line of the reason) with onnx's BackendTest runner."""
    import onnx.backend.test.runner as runner_mod
    from onnx.backend.test.loader import load_model_tests

    import graphc.onnx_backend as backend

    def load(kind: str | None = None, **kwargs):
        if kind and not os.path.isdir(os.path.join(data_dir, kind)):
            return []
        return load_model_tests(data_dir=data_dir, kind=kind, **kwargs)

    runner_mod.load_model_tests = load
    be = backend.GraphcReferenceBackend if reference else backend.GraphcBackend
    bt = runner_mod.Runner(be, __name__)
    for name in names:
        bt.include(f"^{re.escape(name)}_cpu$")
    suite = unittest.TestSuite()
    for case in bt.test_cases.values():
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    outcome = {n: ("pass", "") for n in names}

    def reason(trace: str) -> str:
        lines = [l for l in trace.strip().splitlines() if l.strip()]
        last = lines[-1] if lines else ""
        return re.sub(r"^[\w.]+Error: ", "", last)[:160]

    for test, trace in result.errors + result.failures:
        name = test.id().rsplit(".", 1)[-1].removesuffix("_cpu")
        text = reason(trace)
        kind = "wrong" if "AssertionError" in trace or "Mismatch" in trace or "Not equal" in trace else "refused"
        if "SpecError" in trace or "cannot be imported" in trace or "not supported" in trace:
            kind = "refused"
        outcome[name] = (kind, text)
    for test, why in result.skipped:
        name = test.id().rsplit(".", 1)[-1]
        if name.endswith("_cpu") and name.removesuffix("_cpu") in outcome:
            outcome[name.removesuffix("_cpu")] = ("skipped", why)
    return outcome


RUNTIME_INPUT = "must be a constant"  # the refusal of an attribute-like input fed at run time


def _inlined(test_dir: str):
    """(model with every input after the first made an initializer, [(first input, outputs)] per
    data set): the node test as an exporter writes it, with axes/shape/scales/... as constants."""
    import glob

    import onnx
    from onnx import numpy_helper

    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    sets = []
    for data in sorted(glob.glob(os.path.join(test_dir, "test_data_set_*"))):
        def arrays(kind: str) -> list:
            paths = sorted(glob.glob(os.path.join(data, f"{kind}_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
            return [numpy_helper.to_array(onnx.load_tensor(p)) for p in paths]
        sets.append((arrays("input"), arrays("output")))
    g = model.graph
    for vi, arr in list(zip(g.input, sets[0][0]))[1:]:
        g.initializer.append(numpy_helper.from_array(arr, vi.name))
    del g.input[1:]
    return model, [(ins[0], outs) for ins, outs in sets]


def run_constant_inputs(data_dir: str, names: list[str], reference: bool = False) -> dict[str, tuple[str, str]]:
    """test name -> (outcome, reason) of each node test run with its inputs after the first as
    constants (the first data set's values), against every data set whose other inputs match."""
    import numpy as np

    import graphc.onnx_backend as backend
    from graphc.errors import GraphcError, ShapeError

    be = backend.GraphcReferenceBackend if reference else backend.GraphcBackend
    result = {}
    for name in names:
        test_dir = os.path.join(data_dir, "node", name)
        try:
            model, sets = _inlined(test_dir)
        except ValueError as e:  # e.g. sequence inputs, which onnx's numpy_helper cannot read as tensors
            result[name] = ("refused", f"its data are not plain tensors: {str(e).strip()[:120]}")
            continue
        try:
            rep = be.prepare(model)
        except (GraphcError, ShapeError) as e:  # refused at import: the reason is the outcome
            result[name] = ("refused", str(e).strip().splitlines()[0][:160])
            continue
        except Exception as e:  # noqa: BLE001 - the export does not load: a failure
            result[name] = ("error", f"{type(e).__name__}: {str(e).strip().splitlines()[0][:140]}")
            continue
        try:
            for x, want in sets[:1]:
                got = rep.run([x])
                assert len(got) == len(want), "output count"
                for g, w in zip(got, want):
                    np.testing.assert_array_equal(g.shape, w.shape)
                    np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-7)
            result[name] = ("pass", "")
        except AssertionError as e:
            result[name] = ("wrong", " ".join(str(e).split())[:160])
        except Exception as e:  # noqa: BLE001 - a failure at run time
            result[name] = ("error", f"{type(e).__name__}: {str(e).strip().splitlines()[0][:140]}")
    return result


def constant_table(claimed: dict[str, str], outcome: dict[str, tuple[str, str]],
                   constant: dict[str, tuple[str, str]]) -> str:
    """The tests refused only for an attribute-like input fed at run time, run again with it constant."""
    per_op: dict[str, list[int]] = {}
    for name, (kind, _) in constant.items():
        counts = per_op.setdefault(claimed[name], [0, 0, 0, 0])
        counts[{"pass": 0, "refused": 1, "wrong": 2, "error": 3}[kind]] += 1
    total = [sum(c[i] for c in per_op.values()) for i in range(4)]
    lines = [f"{len(constant)} node tests are refused only because they feed an attribute-like input (axes, "
             f"shape, scales, sizes, pads, ...) at run time. Run again with those inputs as constants (initializers, "
             f"as exporters write them): {total[0]} pass, {total[1]} are refused for another reason, {total[2]} give a "
             f"wrong result, {total[3]} fail at run time.", "",
             "| ONNX op | tests | pass | refused | wrong result | run-time failure |", "|---|---|---|---|---|---|"]
    for op in sorted(per_op):
        c = per_op[op]
        lines.append(f"| {op} | {sum(c)} | {c[0]} | {c[1]} | {c[2]} | {c[3]} |")
    other = sorted((n, k, r) for n, (k, r) in constant.items() if k != "pass")
    if other:
        lines += ["", "<details><summary>Not passing with constant inputs</summary>", "",
                  "| test | outcome | reason |", "|---|---|---|"]
        lines += [f"| {n} | {k} | {r.replace('|', '/')} |" for n, k, r in other]
        lines += ["", "</details>"]
    return "\n".join(lines)


def table(claimed: dict[str, str], outcome: dict[str, tuple[str, str]]) -> str:
    per_op: dict[str, list[int]] = {}
    for name, op in claimed.items():
        counts = per_op.setdefault(op, [0, 0, 0, 0])
        kind = outcome.get(name, ("skipped", ""))[0]
        counts[{"pass": 0, "refused": 1, "wrong": 2}.get(kind, 3)] += 1
    total = [sum(c[i] for c in per_op.values()) for i in range(4)]
    lines = [f"{total[0]} of {len(claimed)} node tests pass; {total[1]} are refused with an import error "
             f"(an unsupported attribute, dtype or input form); {total[2]} give a wrong result.", "",
             "| ONNX op | imported as | tests | pass | import error | wrong result |", "|---|---|---|---|---|---|"]
    from graphc.onnx_in.importer import import_table

    imports = import_table()
    for op in sorted(per_op):
        c = per_op[op]
        entry = imports.get(("", op))
        how = f"`{entry.name}`" if hasattr(entry, "onnx_import") else "decomposed"
        lines.append(f"| {op} | {how} | {sum(c)} | {c[0]} | {c[1]} | {c[2]} |")
    refused = sorted((n, r) for n, (k, r) in outcome.items() if k in ("refused", "wrong"))
    lines += ["", "<details><summary>Expected failures and their reasons</summary>", "",
              "| test | outcome | reason |", "|---|---|---|"]
    for name, why in refused:
        lines.append(f"| {name} | {outcome[name][0]} | {why.replace('|', '/')} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="run graphc's numpy interpreter instead")
    parser.add_argument("--json", help="also write the outcomes here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data_dir = ensure_data()
    claimed = claimed_tests(data_dir)
    outcome = run(data_dir, list(claimed), args.reference)
    runtime_only = [n for n, (k, r) in sorted(outcome.items()) if k == "refused" and RUNTIME_INPUT in r]
    constant = run_constant_inputs(data_dir, runtime_only, args.reference)
    text = table(claimed, outcome) + "\n\n" + constant_table(claimed, outcome, constant)
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    from graphc.util.atomic import write_text

    write_text(DOC, doc[:start] + "\n" + text + "\n" + doc[end:])
    if args.json:
        write_text(args.json, json.dumps({"runner": {n: list(o) for n, o in sorted(outcome.items())},
                                          "constant_inputs": {n: list(o) for n, o in sorted(constant.items())}},
                                         indent=1))
    print(text.splitlines()[0])
    print(constant_table(claimed, outcome, constant).splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
