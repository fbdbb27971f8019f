"""VAE sampling on: every 2-input (inference form) `reparameterize` gets a `random_normal_like` eps.

    z = reparameterize(mu, logvar)   ->   eps = random_normal_like(mu); z = reparameterize(mu, logvar, eps)
"""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.ops.sampling import name_salt
from graphc.passes.log import PassLog

NAME = "enable_sampling"
LEVEL = None  # not in the -O levels: run on request (see graphc/ops/sampling.py)


def run(graph: Graph, log: PassLog, seed: int | None = None) -> int:
    """Rewrite in place; returns how many nodes changed."""
    changed = 0
    for node in list(graph.nodes):
        if node.op != "reparameterize" or len(node.inputs) != 2:
            continue
        mu = node.inputs[0]
        noise = graph.add_node("random_normal_like", [mu], {"seed": seed, "salt": name_salt(node.name)}, [mu.type],
                               f"{node.name}/eps", node.layer, node.loc)
        graph.move_before(noise, node)
        node.inputs.append(noise.outputs[0])
        log(f"{node.name} samples its eps", node)
        changed += 1
    return changed
