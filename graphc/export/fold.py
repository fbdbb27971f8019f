"""-O2 at export: ONNX nodes whose every input is an initializer become initializers.

The lowering of some ops, and many imported models, compute on weights alone: the LSTM lowering
re-orders PyTorch's gate rows (Split + Concat) and adds a directions axis (Unsqueeze); a PyTorch
export without constant folding transposes each Linear weight before its MatMul and slices the
attention's packed in-projection. onnxruntime folds such nodes when a session starts, other
runtimes may not, and every one is a box in a viewer. Folding them here is what onnxsim does;
the folded tensor takes the name of the node's output. `FOLD_CONSTANTS` folds only nodes over the
lowering's and the passes' constants; `FOLD_ALL` folds parameters too, so their initializers may
go (imported models: their names are the exporter's, not the spec contract's `<layer>.<param>`).
Only value-exact ops fold (data movement, casts and single IEEE arithmetic ops, evaluated by
`onnx.reference`), never a node with a graph output, and never one whose result would be much
larger than its inputs (Expand, ConstantOfShape).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

FOLDABLE = frozenset({
    "Cast", "Concat", "Flatten", "Gather", "Identity", "Reshape", "Slice", "Split", "Squeeze", "Transpose",
    "Unsqueeze", "Add", "Sub", "Mul", "Div", "Neg", "ConstantOfShape", "Expand"})
FOLD_CONSTANTS, FOLD_ALL = "constants", "all"  # what `to_onnx_parts(fold=...)` takes (None: no folding)
WITH_SUBGRAPHS = frozenset({"If", "Loop", "Scan", "SequenceMap"})  # the standard ops with graph attributes
GROWTH_BYTES = 1 << 16  # a folded result may exceed its inputs by this much (a small zero state, a broadcast)


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [g for a in node.attribute for g in ([a.g] if a.HasField("g") else a.graphs)]


def subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Every name read inside the node's graph attributes (a Scan or Loop body reads outer values)."""
    names: set[str] = set()
    stack = _subgraphs(node)
    while stack:
        for inner in stack.pop().node:
            names.update(inner.input)
            stack += _subgraphs(inner)
    return names


class Folder:
    """Folds the nodes of a lowering as they are emitted (see `fold_new`); `arrays` maps every
    initializer name to a function giving its array (read only when a node needs it)."""

    def __init__(self, arrays: dict[str, Callable[[], np.ndarray]], protected: set[str], opset: int):
        self.arrays = arrays
        self.protected = protected  # graph outputs: these stay node outputs
        self.opset = opset
        self.folded: dict[str, np.ndarray] = {}  # new initializers, in the order they were made
        self.read: set[str] = set()  # initializer names a kept node reads
        self.fed_folded: set[str] = set()  # names a folded node read
        self._constants_seen = 0

    def add_constants(self, tensors) -> None:
        """Register the lowering's constants made since the last call (`tensors` only grows)."""
        for proto in tensors[self._constants_seen:]:
            self.arrays[proto.name] = lambda p=proto: numpy_helper.to_array(p)
        self._constants_seen = len(tensors)

    def fold_new(self, nodes, start: int) -> None:
        """Fold what can be folded among `nodes[start:]` (a repeated NodeProto field), in place."""
        i = start
        while i < len(nodes):
            node = nodes[i]
            values = self._evaluate(node)
            if values is None:
                self.read.update(n for n in node.input if n in self.arrays)
                if node.op_type in WITH_SUBGRAPHS:
                    self.read.update(subgraph_inputs(node))
                i += 1
                continue
            for name, value in zip(node.output, values):
                self.folded[name] = value
                self.arrays[name] = lambda v=value: v
            self.fed_folded.update(n for n in node.input if n)
            del nodes[i]

    def unread(self) -> set[str]:
        """Initializers only folded nodes read: they are left out of the file."""
        return self.fed_folded - self.read - self.protected

    def _evaluate(self, node: onnx.NodeProto) -> list[np.ndarray] | None:
        if (node.op_type not in FOLDABLE or node.domain not in ("", "ai.onnx") or not node.input
                or not all(n in self.arrays for n in node.input)  # ("" is never a key: optional inputs stay)
                or not all(o and o not in self.protected for o in node.output)):
            return None
        inputs = [np.asarray(self.arrays[n]()) for n in node.input]
        budget = sum(a.nbytes for a in inputs) + GROWTH_BYTES
        if node.op_type in ("ConstantOfShape", "Expand"):  # check the size before building it
            if node.op_type == "ConstantOfShape":
                shape, itemsize = tuple(int(d) for d in inputs[0]), 8
            else:
                shape, itemsize = np.broadcast_shapes(inputs[0].shape, tuple(int(d) for d in inputs[1])), \
                    inputs[0].itemsize
            if int(np.prod(shape, dtype=np.int64)) * itemsize > budget:
                return None
        from onnx.reference import ReferenceEvaluator

        try:
            values = ReferenceEvaluator(node, opsets={"": self.opset}).run(None, dict(zip(node.input, inputs)))
        except Exception:  # an input the reference does not take: leave the node to the runtime
            return None
        values = [np.asarray(v) for v in values]
        if sum(v.nbytes for v in values) > budget:
            return None
        return values
