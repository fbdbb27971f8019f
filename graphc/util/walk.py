"""Rebuild a nested value without recursion: an explicit stack, so any depth fits in memory.

`rebuild(root, split, leaf)` visits the tree depth first, left to right, in the order a recursive
function would (a parent is split before its children, children are done in order, a parent is
combined after its last child), so the first error raised is the one the recursive version raised.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Sequence

Split = Callable[[Any], "tuple[Sequence[Any], Callable[[list], Any]] | None"]


def rebuild(root: Any, split: Split, leaf: Callable[[Any], Any] = lambda x: x) -> Any:
    """Fold a tree bottom-up. `split(node)` gives `(children, combine)` for an inner node, where
    `combine(results)` makes the node from its children's results, or None for a leaf, whose
    result is `leaf(node)`."""
    frames: list[tuple[Sequence[Any], Callable[[list], Any], list]] = []
    node = root
    while True:
        parts = split(node)
        if parts is None:
            result = leaf(node)
        elif len(parts[0]):
            frames.append((parts[0], parts[1], []))
            node = parts[0][0]
            continue
        else:
            result = parts[1]([])
        while frames:  # hand the result up until a frame has a child left to do
            children, combine, done = frames[-1]
            done.append(result)
            if len(done) < len(children):
                node = children[len(done)]
                break
            frames.pop()
            result = combine(done)
        else:
            return result


def post_order(root: Any, children: Callable[[Any], Sequence[Any]]) -> list:
    """`root` and the nodes under it, each after its children, in the order a recursive post-order
    visit reaches them (a node reached twice is listed twice)."""
    out: list = []
    rebuild(root, lambda node: (children(node), lambda _: out.append(node)))
    return out


def trampoline(gen: Generator[Any, Any, Any]) -> Any:
    """Run a generator whose calls are written `result = yield sub_generator` and return what it
    returns: each sub-generator runs on an explicit stack, not Python's, so the calls nest as deep
    as memory allows. An exception in a sub-generator is thrown into its caller at that `yield`,
    so `try`/`except` around a call behaves as it would around a plain call."""
    stack = [gen]
    value: Any = None
    error: BaseException | None = None
    while True:
        thrown, error = error, None
        try:
            call = stack[-1].send(value) if thrown is None else stack[-1].throw(thrown)
        except StopIteration as done:
            stack.pop()
            if not stack:
                return done.value
            value = done.value
            continue
        except BaseException as e:  # noqa: BLE001 - handed to the caller, as a plain call would
            stack.pop()
            if not stack:
                raise
            error = e
            continue
        stack.append(call)
        value = None
