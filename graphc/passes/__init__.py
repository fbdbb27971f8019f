"""Optimization passes over the IR, and the pass manager that runs and explains them.

`optimize(graph, level=2, passes=None, explain=None)` is the entry point (graphc.api calls it
on the pruned inference graph). Each pass lives in its own module with a docstring saying what it
rewrites; see manager.py for levels and docs/passes.md for the list.
"""

from graphc.passes.manager import PASSES, REWRITES, Pass, describe_passes, folds_at_export, optimize, rewrite, select
from graphc.passes.verify import InvalidGraph, verify_graph

__all__ = ["PASSES", "REWRITES", "InvalidGraph", "Pass", "describe_passes", "folds_at_export", "optimize", "rewrite",
           "select", "verify_graph"]
