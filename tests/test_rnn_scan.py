"""The `rnn` op's two lowerings against torch.nn.RNN: the Scan (`_lower_rnn_scan`, what
`--target onnxruntime` writes) and the portable ONNX RNN op (the default).

Oracles: PyTorch's nn.RNN with the same weights, through onnxruntime and through
onnx.reference's ReferenceEvaluator (an independent interpreter of the exported Scan);
symbolic and fixed T, batch 1 and 7, one and two layers, forward and bidirectional, tanh and relu.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

import graphc

torch = pytest.importorskip("torch")


def _spec(layers: int, bi: bool, act: str, steps) -> str:
    return (f"graphc: 1\nname: r\ninputs:\n  x: [N, {steps}, 3]\nlayers:\n"
            f"  - rnn: {{hidden: 5, layers: {layers}, bidirectional: {str(bi).lower()}, activation: {act}, "
            f"name: rnn}}\noutputs: [rnn.y, rnn.h]\n")


@pytest.mark.parametrize("layers,bi,act,steps", [(1, False, "tanh", "T"), (1, True, "relu", 4), (2, True, "tanh", "T"),
                                                 (2, False, "relu", "T")])
def test_rnn_scan_matches_torch(layers, bi, act, steps, tmp_path):
    model = graphc.loads(_spec(layers, bi, act, steps))
    torch.manual_seed(0)
    net = torch.nn.RNN(3, 5, num_layers=layers, bidirectional=bi, nonlinearity=act, batch_first=True)
    state = net.state_dict()
    # graphc: rnn.weight_ih (one layer) or rnn.weight_ih_l0 ... (several), PyTorch: always _l<k>
    weights = {k: state[k.split(".", 1)[1] if k.split(".", 1)[1] in state else k.split(".", 1)[1] + "_l0"].numpy()
               for k in model.weights}
    np.savez(tmp_path / "w.npz", **weights)
    model.load_weights(str(tmp_path / "w.npz"))
    from graphc.runtime.backends import load_session

    for target, op in (("onnxruntime", "Scan"), ("portable", "RNN")):
        data = model.onnx_bytes(target=target)
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto, full_check=True)
        ops = {n.op_type for n in proto.graph.node}
        assert op in ops and ({"Scan", "RNN"} - {op}).isdisjoint(ops)
        session = load_session(data, "onnxruntime")
        for batch in (1, 7):
            x = np.random.default_rng(batch).standard_normal((batch, 4, 3)).astype(np.float32)
            y, h = net(torch.from_numpy(x))
            want_y = y.detach().numpy()
            want_h = (torch.cat([h[-2], h[-1]], -1) if bi else h[-1]).detach().numpy()
            got = session.run({"x": x})
            # (onnx.reference's RNN knows only tanh activations)
            ref_y, ref_h = ReferenceEvaluator(proto).run(None, {"x": x}) if op == "Scan" or act == "tanh" else (
                got["rnn.y"], got["rnn.h"])
            for actual in (got["rnn.y"], ref_y):
                np.testing.assert_allclose(actual, want_y, rtol=1e-5, atol=1e-6)
            for actual in (got["rnn.h"], ref_h):
                np.testing.assert_allclose(actual, want_h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,bi", [("rnn", True), ("rnn", False), ("lstm", False), ("gru", True)])
def test_unused_sequence_output_is_not_computed(kind, bi, tmp_path):
    """Only `.h` is read: the exported file has no per-step output path, and still matches PyTorch."""
    spec = (f"graphc: 1\nname: r\ninputs:\n  x: [N, T, 3]\nlayers:\n"
            f"  - {kind}: {{hidden: 4, bidirectional: {str(bi).lower()}, name: rec}}\noutputs: [rec.h]\n")
    model = graphc.loads(spec)
    torch.manual_seed(1)
    net = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](3, 4, bidirectional=bi,
                                                                                 batch_first=True)
    state = net.state_dict()
    weights = {k: state[k.split(".", 1)[1] if k.split(".", 1)[1] in state else k.split(".", 1)[1] + "_l0"].numpy()
               for k in model.weights}
    np.savez(tmp_path / "w.npz", **weights)
    model.load_weights(str(tmp_path / "w.npz"))
    proto = onnx.load_from_string(model.onnx_bytes(target="onnxruntime"))
    onnx.checker.check_model(proto, full_check=True)
    recurrent = [n for n in proto.graph.node if n.op_type in ("Scan", "LSTM", "GRU")]
    assert all(len(n.output) == 1 or n.output[0] == "" for n in recurrent)  # the state only
    x = np.random.default_rng(0).standard_normal((5, 6, 3)).astype(np.float32)
    h = net(torch.from_numpy(x))[1]
    h = h[0] if kind == "lstm" else h
    want = (torch.cat([h[-2], h[-1]], -1) if bi else h[-1]).detach().numpy()
    np.testing.assert_allclose(model.run({"x": x})["rec.h"], want, rtol=1e-5, atol=1e-6)  # the portable form
    from graphc.runtime.backends import load_session

    fast = load_session(proto.SerializeToString(), "onnxruntime").run({"x": x})["rec.h"]
    np.testing.assert_allclose(fast, want, rtol=1e-5, atol=1e-6)
    if kind == "rnn":
        np.testing.assert_allclose(ReferenceEvaluator(proto).run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
