"""Write the functional-Python twin of a YAML spec (how examples/python/*.py were made).

    python tools/yaml_to_python.py specs/mlp_small.yaml > examples/python/mlp_small.py

Blocks become Python functions repeated with gc.repeat, several models become several gc.Model
calls (sharing weights by calling one model on a tensor), $params become their values.
"""

from __future__ import annotations

import keyword
import sys

from graphc.layers.base import LAYERS
from graphc.ops import OPS
from graphc.ops.registry import REQUIRED
from graphc.spec.build import load_spec
from graphc.spec.params import substitute
from graphc.spec.writer import _plain


def _var(name: str, taken: set[str]) -> str:
    v = name.replace(".", "_")
    if keyword.iskeyword(v) or v in ("gc", "model", "np"):
        v += "_"
    taken.add(v)
    return v


def _definition(op: str):
    return LAYERS.get(op) or OPS.get(op)


def _call(op: str, args: list[str], attrs: dict, blocks: dict, models: set) -> str:
    attrs = dict(attrs)
    name = attrs.pop("name", None)
    parts = list(args)
    if op in blocks or op in models:
        fn = op
    else:
        fn = f"gc.layers.{op}"
        definition = _definition(op)
        for key, default in definition.attrs.items():
            if default is REQUIRED and key in attrs:
                parts.append(repr(attrs.pop(key)))
            else:
                break
    parts += [f"{k}={v!r}" for k, v in attrs.items()]
    if name is not None:
        parts.append(f"name={name!r}")
    return f"{fn}({', '.join(parts)})"


class _Writer:
    def __init__(self, spec):
        self.spec = spec
        self.lines: list[str] = []

    def layers(self, body, params, env: dict[str, str], inputs: list[str], indent: str, multi_out: dict) -> str:
        """Emit the layers of one list; returns the expression of the last layer's first output."""
        counts: dict[str, int] = {}
        last = None
        referenced = set()
        for item in body["layers"]:
            attrs = next(iter(item.values())) or {}
            refs = attrs.get("in")
            for r in refs if isinstance(refs, list) else [refs]:
                if isinstance(r, str):
                    referenced.add(r.split(".")[0])
        free = [n for n in inputs if n not in referenced] or inputs
        for item in body["layers"]:
            op = next(iter(item))
            attrs = substitute(_plain(item[op] or {}), params, None)
            counts[op] = counts.get(op, 0) + 1
            lname = attrs.get("name", f"{op}_{counts[op]}")
            refs = attrs.pop("in", None)
            repeat = attrs.pop("repeat", None)
            if refs is None:
                args = [last] if last is not None else ([env[free[0]]] if (OPS.get(op) is None or OPS[op].inputs)
                                                        and free else [])
            else:
                args = [self.ref(r, env, multi_out) for r in (refs if isinstance(refs, list) else [refs])]
            var = _var(lname, set())
            if op in self.spec.blocks:
                block_params = {k: v for k, v in attrs.items() if k != "name"}
                fn = op if not block_params else (f"functools.partial({op}, "
                                                  + ", ".join(f"{k}={v!r}" for k, v in block_params.items())
                                                  + ")")
                extra = f", block={op!r}" if block_params else ""
                nm = f", name={attrs['name']!r}" if "name" in attrs else ""
                n = repeat if repeat is not None else 1
                expr = f"gc.repeat({fn}, {n}{extra}{nm})({', '.join(args)})"
            else:
                expr = _call(op, args, attrs, self.spec.blocks, set(self.spec.models) if self.spec.multi else set())
            self.lines.append(f"{indent}{var} = {expr}")
            definition = _definition(op)
            n_out = len(definition.outputs) if definition is not None and op not in self.spec.blocks else 1
            if op == "split":
                n_out = 2
            if n_out > 1:
                multi_out[lname] = tuple(definition.outputs)
                env[lname] = var
                last = f"{var}[0]"
            else:
                env[lname] = var
                last = var
        return last

    def ref(self, r, env, multi_out) -> str:
        if not isinstance(r, str):
            return repr(r)
        if r in env:
            return env[r] + ("[0]" if r in multi_out else "")
        base, _, suffix = r.partition(".")
        names = multi_out.get(base, ())
        index = int(suffix) if suffix.isdigit() else names.index(suffix)
        return f"{env[base]}[{index}]"

    def block(self, name, body) -> None:
        params = dict(substitute(_plain(body.get("params") or {}), self.spec.params, None))
        inputs = list(body.get("inputs", ["x"]))
        sig = ", ".join(inputs + [f"{k}={v!r}" for k, v in params.items()])
        self.lines.append(f"def {name}({sig}):")
        if body.get("doc"):
            self.lines.append(f"    {body['doc']!r}")
        env = {i: i for i in inputs}
        symbolic = {**self.spec.params, **{k: _Name(k) for k in params}}  # $p -> the argument p
        last = self.layers(body, symbolic, env, inputs, "    ", {})
        outs = body.get("outputs")
        if outs:
            self.lines.append(f"    return {', '.join(env[o] for o in outs)}")
        else:
            self.lines.append(f"    return {last}")
        self.lines.append("")
        self.lines.append("")


class _Name:
    """A block parameter inside the block function: printed as the argument's name."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


def main(path: str) -> str:
    spec = load_spec(path)
    w = _Writer(spec)
    doc = spec.doc
    title = f"Python twin of specs/{path.split('/')[-1]} (byte-identical ONNX)"
    w.lines += [f'"""{title}: {doc}"""' if doc else f'"""{title}."""', ""]
    needs_partial = any((u := next(iter(i.values())) or {}) and next(iter(i)) in spec.blocks and
                        any(k not in ("repeat", "name", "in") for k in u)
                        for m in spec.models.values() for i in m["layers"])
    if needs_partial:
        w.lines.append("import functools")
        w.lines.append("")
    w.lines += ["import graphc as gc", "", ""]
    for name, body in spec.blocks.items():
        w.block(name, body)
    last_model = None
    for mname, body in spec.models.items():
        env: dict[str, str] = {}
        inputs = []
        for iname, decl in body["inputs"].items():
            decl = substitute(_plain(decl), spec.params, None)
            shape, dtype = (decl["shape"], decl.get("dtype", "float32")) if isinstance(decl, dict) else (decl, "float32")
            extra = f", dtype={dtype!r}" if dtype != "float32" else ""
            var = _var(iname, set())
            w.lines.append(f"{var} = gc.Input({iname!r}, {shape!r}{extra})")
            env[iname] = var
            inputs.append(iname)
        multi_out: dict = {}
        last = w.layers(body, spec.params, env, inputs, "", multi_out)
        outs = body.get("outputs")
        out_exprs = [w.ref(o, env, multi_out) for o in outs] if outs else [last]
        mdoc = body.get("doc") or spec.doc
        kw = f", doc={mdoc!r}" if mdoc else ""
        if spec.multi:
            kw += f", spec_name={spec.name!r}"
        target = mname if spec.multi else "model"
        model_name = mname if spec.multi else spec.name
        w.lines.append(f"{target} = gc.Model({model_name!r}, inputs=[{', '.join(env[i] for i in inputs)}], "
                       f"outputs=[{', '.join(out_exprs)}]{kw})")
        w.lines.append("")
        last_model = target
    if spec.multi:
        w.lines.append(f"model = {last_model}  # its spec holds every model: --model {' / '.join(spec.models)}")
    if spec.training is not None:
        t = substitute(_plain(spec.training), spec.params, None)
        args = ", ".join(f"{k}={v!r}" for k, v in t.items())
        w.lines.append(f"model.training({args})")
    w.lines += ["", "if __name__ == \"__main__\":",
                f"    print(model.export({spec.name + '.onnx'!r}))"]
    return "\n".join(w.lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1]))
