"""rnn / lstm / gru / attention / reparameterize layers and the seed specs that use them.

Oracles: PyTorch (nn.RNN/LSTM/GRU, nn.MultiheadAttention, autograd) with the same weights loaded
through `Model.load_weights`, and hand-written numpy. graphc's numpy references and the exported
ONNX (onnxruntime) are both compared against the oracle.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch

import graphc
from graphc.errors import SpecError
from graphc.ir.graph import Graph
from graphc.ops import Builder
from graphc.ir.types import TensorType
from graphc.ops import interpret
from graphc.ops import OPS
from graphc.passes import rewrite

torch.set_num_threads(1)
RTOL = ATOL = 1e-5
SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")
TORCH_RNN = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def close(actual, expected, what=""):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def save_npz(tmp_path, arrays: dict) -> str:
    path = str(tmp_path / "w.npz")
    np.savez(path, **arrays)
    return path


def both_runs(model, feeds):
    """(onnxruntime results, numpy-reference results) by output name."""
    return model.run(feeds), model.evaluate(feeds)


# -- recurrent layers vs PyTorch ------------------------------------------------------------
RECURRENT_CASES = [(k, 1, False) for k in TORCH_RNN] + [(k, 1, True) for k in TORCH_RNN] + \
                  [(k, 2, True) for k in TORCH_RNN] + [("lstm", 2, False)]


def _recurrent_spec(kind, layers, bi, c_in=3, hidden=5):
    outs = "[rnn_out.y, rnn_out.h" + (", rnn_out.c]" if kind == "lstm" else "]")
    return f"""
graphc: 1
name: seq
inputs: {{x: [N, T, {c_in}]}}
layers:
  - {kind}: {{hidden: {hidden}, layers: {layers}, bidirectional: {str(bi).lower()}, name: rnn_out}}
outputs: {outs}
"""


@pytest.mark.parametrize("kind,layers,bi", RECURRENT_CASES)
def test_recurrent_matches_pytorch(kind, layers, bi, tmp_path):
    torch.manual_seed(0)
    net = TORCH_RNN[kind](3, 5, num_layers=layers, bidirectional=bi, batch_first=True)
    single = layers == 1 and not bi
    weights = {"rnn_out." + (k[:-3] if single else k): v.detach().numpy() for k, v in net.state_dict().items()}
    model = graphc.loads(_recurrent_spec(kind, layers, bi)).load_weights(save_npz(tmp_path, weights))
    d = 2 if bi else 1
    rng = np.random.default_rng(0)
    for n, t in ((1, 4), (7, 6)):  # symbolic N and T: two batch sizes, two lengths
        x = rng.standard_normal((n, t, 3)).astype(np.float32)
        y, state = net(torch.from_numpy(x))
        h_n, c_n = state if kind == "lstm" else (state, None)
        expected = {"rnn_out.y": y.detach().numpy(),
                    "rnn_out.h": torch.cat(list(h_n[-d:]), dim=-1).detach().numpy()}
        if kind == "lstm":
            expected["rnn_out.c"] = torch.cat(list(c_n[-d:]), dim=-1).detach().numpy()
        ort_out, ref_out = both_runs(model, {"x": x})
        assert set(ort_out) == set(expected)
        for name, want in expected.items():
            assert ort_out[name].shape == ((n, t, d * 5) if name.endswith(".y") else (n, d * 5))
            close(ort_out[name], want, f"onnxruntime {name}")
            close(ref_out[name], want, f"numpy reference {name}")


@pytest.mark.parametrize("kind", list(TORCH_RNN))
def test_recurrent_output_shapes_and_param_names(kind):
    model = graphc.loads(_recurrent_spec(kind, 2, True, c_in=3, hidden=5))
    types = {v.name: v.type.shape for v in model.graph.outputs}
    assert types["rnn_out.y"] == ("N", "T", 10)
    assert types["rnn_out.h"] == ("N", 10)
    if kind == "lstm":
        assert types["rnn_out.c"] == ("N", 10)
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    shapes = {k: v.shape for k, v in model.graph.params.items()}
    assert shapes["rnn_out.weight_ih_l0"] == (g * 5, 3)
    assert shapes["rnn_out.weight_ih_l1_reverse"] == (g * 5, 10)
    assert shapes["rnn_out.weight_hh_l1"] == (g * 5, 5)
    assert len(shapes) == 16
    single = graphc.loads(_recurrent_spec(kind, 1, False))
    assert sorted(single.graph.params) == [f"rnn_out.{p}" for p in ("bias_hh", "bias_ih", "weight_hh", "weight_ih")]
    onnx.checker.check_model(model.to_onnx(), full_check=True)


def test_rnn_relu_activation(tmp_path):
    torch.manual_seed(1)
    net = torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True)
    model = graphc.loads("graphc: 1\nname: r\ninputs: {x: [N, T, 3]}\nlayers:\n"
                         "  - rnn: {hidden: 4, activation: relu, name: r}\noutputs: [r.y]\n")
    model.load_weights(save_npz(tmp_path, {"r." + k[:-3]: v.detach().numpy() for k, v in net.state_dict().items()}))
    x = np.random.default_rng(2).standard_normal((7, 5, 3)).astype(np.float32)
    want = net(torch.from_numpy(x))[0].detach().numpy()
    ort_out, ref_out = both_runs(model, {"x": x})
    close(ort_out["r.y"], want)
    close(ref_out["r.y"], want)


# -- recurrent gradients (unrolled) vs PyTorch autograd ------------------------------------
@pytest.mark.parametrize("kind,bi", [(k, b) for k in TORCH_RNN for b in (False, True)])
def test_recurrent_vjp_matches_autograd(kind, bi):
    torch.manual_seed(3)
    c_in, hidden, n, t = 3, 4, 2, 5
    net = TORCH_RNN[kind](c_in, hidden, bidirectional=bi, batch_first=True)
    names = [f"{p}{s}" for s in (["_l0", "_l0_reverse"] if bi else ["_l0"])
             for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    params = [net.state_dict()[k].numpy() for k in names]
    graph = Graph("g")
    b = Builder(graph)
    x = graph.add_input("x", TensorType("float32", ("N", t, c_in)))
    node = b.emit_node(kind, x, *[graph.add_param(f"p{i}", p) for i, p in enumerate(params)])
    cots = [graph.add_input(f"g{i}", o.type) for i, o in enumerate(node.outputs)]
    grads = OPS[kind].vjp(b, node, cots)
    graph.outputs = grads
    rng = np.random.default_rng(4)
    x_val = rng.standard_normal((n, t, c_in)).astype(np.float32)
    g_vals = [rng.standard_normal((n,) + tuple(o.shape[1:])).astype(np.float32) for o in node.outputs]
    got = list(interpret(graph, {"x": x_val, **{f"g{i}": v for i, v in enumerate(g_vals)}}).values())

    xt = torch.from_numpy(x_val).requires_grad_()
    y, state = net(xt)
    states = list(state) if kind == "lstm" else [state]
    loss = (y * torch.from_numpy(g_vals[0])).sum()
    for s, gv in zip(states, g_vals[1:]):
        loss = loss + (torch.cat(list(s), dim=-1) * torch.from_numpy(gv)).sum()
    loss.backward()
    want = [xt.grad.numpy()] + [dict(net.named_parameters())[k].grad.numpy() for k in names]
    for i, (a, w) in enumerate(zip(got, want)):
        close(a, w, f"cotangent of input {i}")


def test_recurrent_vjp_needs_static_length():
    graph = Graph("g")
    b = Builder(graph)
    x = graph.add_input("x", TensorType("float32", ("N", "T", 2)))
    ps = [graph.add_param(f"p{i}", np.zeros(s, np.float32)) for i, s in enumerate([(12, 2), (12, 3), (12,), (12,)])]
    node = b.emit_node("lstm", x, *ps)
    from graphc.errors import ShapeError
    with pytest.raises(ShapeError, match="fixed length T"):
        OPS["lstm"].vjp(b, node, [node.outputs[0], None, None])


# -- attention vs nn.MultiheadAttention -----------------------------------------------------
def _mha_weights(mha: torch.nn.MultiheadAttention, prefix: str) -> dict:
    sd = {k: v.detach().numpy() for k, v in mha.state_dict().items()}
    e = mha.embed_dim
    if "in_proj_weight" in sd:
        q, k, v = np.split(sd["in_proj_weight"], 3)
    else:
        q, k, v = sd["q_proj_weight"], sd["k_proj_weight"], sd["v_proj_weight"]
    qb, kb, vb = np.split(sd["in_proj_bias"], 3)
    assert qb.shape == (e,)
    return {f"{prefix}.q.weight": q, f"{prefix}.k.weight": k, f"{prefix}.v.weight": v,
            f"{prefix}.q.bias": qb, f"{prefix}.k.bias": kb, f"{prefix}.v.bias": vb,
            f"{prefix}.out.weight": sd["out_proj.weight"], f"{prefix}.out.bias": sd["out_proj.bias"]}


def _randomize(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)  # non-zero biases too


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_pytorch(causal, tmp_path):
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    _randomize(mha, 0)
    model = graphc.loads(f"graphc: 1\nname: a\ninputs: {{x: [N, T, 8]}}\nlayers:\n"
                         f"  - attention: {{heads: 2, causal: {str(causal).lower()}, name: att}}\n")
    model.load_weights(save_npz(tmp_path, _mha_weights(mha, "att")))
    rng = np.random.default_rng(5)
    for n, t in ((1, 3), (7, 6)):
        x = rng.standard_normal((n, t, 8)).astype(np.float32)
        mask = torch.triu(torch.full((t, t), float("-inf")), 1) if causal else None
        want = mha(*[torch.from_numpy(x)] * 3, attn_mask=mask, need_weights=False)[0].detach().numpy()
        ort_out, ref_out = both_runs(model, {"x": x})
        close(ort_out["att"], want, "onnxruntime")
        close(ref_out["att"], want, "numpy reference")


def test_cross_attention_matches_pytorch(tmp_path):
    mha = torch.nn.MultiheadAttention(8, 4, kdim=6, vdim=6, batch_first=True)
    _randomize(mha, 1)
    model = graphc.loads("graphc: 1\nname: a\ninputs: {x: [N, T, 8], mem: [N, S, 6]}\nlayers:\n"
                         "  - attention: {heads: 4, in: [x, mem], name: att}\n")
    model.load_weights(save_npz(tmp_path, _mha_weights(mha, "att")))
    assert model.graph.params["att.k.weight"].shape == (8, 6)
    rng = np.random.default_rng(6)
    for n, t, s in ((1, 2, 5), (7, 4, 3)):
        x = rng.standard_normal((n, t, 8)).astype(np.float32)
        mem = rng.standard_normal((n, s, 6)).astype(np.float32)
        want = mha(torch.from_numpy(x), torch.from_numpy(mem), torch.from_numpy(mem),
                   need_weights=False)[0].detach().numpy()
        ort_out, ref_out = both_runs(model, {"x": x, "mem": mem})
        assert ort_out["att"].shape == (n, t, 8)
        close(ort_out["att"], want, "onnxruntime")
        close(ref_out["att"], want, "numpy reference")


def test_causal_mask_op():
    x = np.random.default_rng(7).standard_normal((2, 3, 4)).astype(np.float32)
    want = x.copy()
    for i in range(3):
        want[:, i, i + 1:] = -np.inf  # hand oracle
    (got,) = [np.asarray(r) for r in [OPS["causal_mask"].ref([x], {"fill": float("-inf")})]]
    np.testing.assert_array_equal(got, want)
    graph = Graph("g")
    b = Builder(graph)
    xv = graph.add_input("x", TensorType("float32", ("N", "T", "S")))
    node = b.emit_node("causal_mask", xv)
    graph.outputs = [node.outputs[0], OPS["causal_mask"].vjp(b, node, [xv])[0]]
    from graphc.export.onnx_export import to_onnx
    import onnxruntime as ort
    m = to_onnx(graph)
    onnx.checker.check_model(m, full_check=True)
    y, gx = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(gx, np.where(np.isinf(want), 0.0, x))  # the gradient is 0 where masked


def test_attention_errors():
    with pytest.raises(SpecError, match=r"<spec>:5:\d+: error: att: attention: dim 8 does not divide into heads=3"):
        graphc.loads("graphc: 1\nname: a\ninputs: {x: [N, T, 8]}\nlayers:\n  - attention: {heads: 3, name: att}\n")
    with pytest.raises(SpecError, match=r"attention needs \[N, T, D\]"):
        graphc.loads("graphc: 1\nname: a\ninputs: {x: [N, 8]}\nlayers:\n  - attention: {heads: 2}\n")
    with pytest.raises(SpecError, match="lstm needs the attribute 'hidden'"):
        graphc.loads("graphc: 1\nname: a\ninputs: {x: [N, T, 8]}\nlayers:\n  - lstm: {}\n")
    with pytest.raises(SpecError, match="did you mean 'hidden'"):
        graphc.loads("graphc: 1\nname: a\ninputs: {x: [N, T, 8]}\nlayers:\n  - gru: {hiden: 3, hidden: 2}\n")


# -- reparameterize -------------------------------------------------------------------------
REPARAM = """graphc: 1
name: r
params: {sample: false}
inputs: {mu: [N, 4], logvar: [N, 4]}
layers:
  - reparameterize: {in: [mu, logvar], sample: $sample, seed: 3, name: z}
"""


def test_reparameterize_inference_returns_mu():
    model = graphc.loads(REPARAM)
    rng = np.random.default_rng(8)
    for n in (1, 7):
        feeds = {"mu": rng.standard_normal((n, 4)).astype(np.float32),
                 "logvar": rng.standard_normal((n, 4)).astype(np.float32)}
        ort_out, ref_out = both_runs(model, feeds)
        np.testing.assert_array_equal(ort_out["z"], feeds["mu"])
        np.testing.assert_array_equal(ref_out["z"], feeds["mu"])
    onnx.checker.check_model(model.to_onnx(), full_check=True)


def test_reparameterize_training_form_and_gradient():
    rng = np.random.default_rng(9)
    mu, logvar, eps = (rng.standard_normal((7, 4)).astype(np.float32) for _ in range(3))
    want = mu + np.exp(0.5 * logvar) * eps  # hand oracle
    close(OPS["reparameterize"].ref([mu, logvar, eps], {}), want)
    graph = Graph("g")
    b = Builder(graph)
    ins = [graph.add_input(k, TensorType("float32", ("N", 4))) for k in ("mu", "logvar", "eps")]
    node = b.emit_node("reparameterize", *ins)
    gy = graph.add_input("gy", TensorType("float32", ("N", 4)))
    graph.outputs = [node.outputs[0]] + OPS["reparameterize"].vjp(b, node, [gy])
    g = rng.standard_normal((7, 4)).astype(np.float32)
    feeds = {"mu": mu, "logvar": logvar, "eps": eps, "gy": g}
    from graphc.export.onnx_export import to_onnx
    import onnxruntime as ort
    got = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    std = np.exp(0.5 * logvar)
    for a, w in zip(got, [want, g, g * eps * std * 0.5, g * std]):
        close(a, w)


def test_reparameterize_sampling():
    sampled = graphc.loads(REPARAM, params={"sample": True})
    feeds = {"mu": np.full((4000, 4), 2.0, np.float32), "logvar": np.full((4000, 4), np.log(9.0), np.float32)}
    z = sampled.run(feeds)["z"]
    assert abs(z.mean() - 2.0) < 0.15 and abs(z.std() - 3.0) < 0.15  # N(2, 3^2) samples
    graph = graphc.loads(REPARAM).graph
    assert rewrite(graph, "enable_sampling", verify=True, seed=0) == 1
    assert [n.op for n in graph.nodes] == ["random_normal_like", "reparameterize"]
    z = interpret(graph, feeds)["z"]
    assert abs(z.mean() - 2.0) < 0.15 and abs(z.std() - 3.0) < 0.15


# -- seed specs -----------------------------------------------------------------------------
SPEC_FEEDS = {
    "lstm_classifier": lambda r, n: {"x": r.standard_normal((n, 8, 8))},
    "gru": lambda r, n: {"tokens": r.integers(0, 1000, (n, 5))},
    "rnn": lambda r, n: {"chars": r.integers(0, 96, (n, 7))},
    "transformer_encoder": lambda r, n: {"tokens": r.integers(0, 1000, (n, 6))},
    "self_attention": lambda r, n: {"x": r.standard_normal((n, 5, 64)), "memory": r.standard_normal((n, 3, 32))},
    "vae": lambda r, n: {"x": r.random((n, 784))},
    "gan": lambda r, n: {"z": r.standard_normal((n, 100))},
}


def _typed(feeds):
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v.astype(np.int64) for k, v in feeds.items()}


@pytest.mark.parametrize("spec,model_name", [(s, None) for s in SPEC_FEEDS] + [("gan", "discriminator"),
                                                                               ("gan", "gan")])
def test_seed_specs_export_and_agree(spec, model_name):
    model = graphc.load(os.path.join(SPECS, f"{spec}.yaml"), model=model_name)
    proto = model.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    assert model.onnx_bytes() == graphc.load(os.path.join(SPECS, f"{spec}.yaml"), model=model_name).onnx_bytes()
    rng = np.random.default_rng(10)
    for n in (1, 7):
        if model_name == "discriminator":
            feeds = {"x": rng.standard_normal((n, 784)).astype(np.float32)}
        else:
            feeds = _typed(SPEC_FEEDS[spec](rng, n))
        ort_out, ref_out = both_runs(model, feeds)
        for name in ort_out:
            assert ort_out[name].shape[0] == n
            np.testing.assert_allclose(ort_out[name], ref_out[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_gan_combined_model_is_d_of_g(tmp_path):
    path = os.path.join(SPECS, "gan.yaml")
    gen, disc, gan = (graphc.load(path, model=m) for m in ("generator", "discriminator", "gan"))
    shared = {f"generator.{k}": v for k, v in gen.weights.items()}
    shared.update({f"discriminator.{k}": v for k, v in disc.weights.items()})
    assert sorted(shared) == sorted(gan.weights)  # the combined model's parameters are the two models'
    gan.load_weights(save_npz(tmp_path, shared))
    z = np.random.default_rng(11).standard_normal((3, 100)).astype(np.float32)
    fake = list(gen.run({"z": z}).values())[0]
    want = list(disc.run({"x": fake}).values())[0]
    got = gan.run({"z": z})["score"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- training gradients through graphc.autodiff (whole layers) vs PyTorch autograd ----------
def _grads_vs_torch(model, feeds, out_name, torch_fn, torch_params: dict):
    """graphc's grad graph (numpy reference and onnxruntime) against autograd of torch_fn."""
    autodiff = pytest.importorskip("graphc.autodiff")
    graph = autodiff.grad_graph(model.graph, wrt="params")
    rng = np.random.default_rng(12)
    out_type = next(v for v in model.graph.outputs if v.name == out_name).type
    n = next(iter(feeds.values())).shape[0]
    cot = rng.standard_normal((n,) + tuple(out_type.shape[1:])).astype(np.float32)
    feeds = dict(feeds, **{f"grad.{out_name}": cot})
    ref = interpret(graph, feeds)
    from graphc.export.onnx_export import to_onnx
    import onnxruntime as ort
    proto = to_onnx(graph)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {k: feeds[k] for k in names})))
    (torch_fn() * torch.from_numpy(cot)).sum().backward()
    for name, p in torch_params.items():
        close(ref[f"grad.{name}"], p.grad.numpy(), f"numpy reference grad.{name}")
        close(got[f"grad.{name}"], p.grad.numpy(), f"onnxruntime grad.{name}")


def test_lstm_classifier_training_gradients():
    model = graphc.load(os.path.join(SPECS, "lstm_classifier.yaml"))
    lstm, lin = torch.nn.LSTM(8, 32, batch_first=True), torch.nn.Linear(32, 10)
    w = model.weights
    params = {}
    with torch.no_grad():
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, k + "_l0").copy_(torch.from_numpy(w["lstm." + k]))
            params["lstm." + k] = getattr(lstm, k + "_l0")
        lin.weight.copy_(torch.from_numpy(w["logits.weight"]))
        lin.bias.copy_(torch.from_numpy(w["logits.bias"]))
    params.update({"logits.weight": lin.weight, "logits.bias": lin.bias})
    x = np.random.default_rng(13).standard_normal((3, 8, 8)).astype(np.float32)
    _grads_vs_torch(model, {"x": x, "label": np.zeros(3, np.int64)}, "logits",
                    lambda: lin(lstm(torch.from_numpy(x))[1][0][-1]), params)


def test_causal_attention_training_gradients(tmp_path):
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    _randomize(mha, 2)
    model = graphc.loads("graphc: 1\nname: a\ninputs: {x: [N, 5, 8]}\nlayers:\n"
                         "  - attention: {heads: 2, causal: true, name: att}\n")
    model.load_weights(save_npz(tmp_path, _mha_weights(mha, "att")))
    x = np.random.default_rng(14).standard_normal((3, 5, 8)).astype(np.float32)
    mask = torch.triu(torch.full((5, 5), float("-inf")), 1)
    _grads_vs_torch(model, {"x": x}, "att",
                    lambda: mha(*[torch.from_numpy(x)] * 3, attn_mask=mask, need_weights=False)[0],
                    {"att.out.weight": mha.out_proj.weight, "att.out.bias": mha.out_proj.bias})
    # q/k/v gradients are slices of PyTorch's packed in_proj_weight gradient
    graph = pytest.importorskip("graphc.autodiff").grad_graph(model.graph, wrt="params")
    cot = np.random.default_rng(12).standard_normal((3, 5, 8)).astype(np.float32)
    ref = interpret(graph, {"x": x, "grad.att": cot})
    packed = np.concatenate([ref[f"grad.att.{p}.weight"] for p in "qkv"])
    close(packed, mha.in_proj_weight.grad.numpy(), "q/k/v weights")
    close(np.concatenate([ref[f"grad.att.{p}.bias"] for p in "qkv"]), mha.in_proj_bias.grad.numpy(), "q/k/v biases")
