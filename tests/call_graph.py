"""A static call graph of a Python package, for the no-recursion audit (tests/test_graph_hazards.py).

Nodes are functions and methods (`path:Qual.name`). An edge F -> G means that F's body names G:
a bare name resolved through enclosing function scopes, the module, and `import`/`from ... import`
of the package's own modules (re-exports followed); `module.name` through an imported module; and
`self.name` / `cls.name` (the class's own or inherited method, and every override in a subclass),
`super().name` and `Class(...).name`, bases and subclasses in the package; calling a class calls
its `__init__`.
A name counts whether it is called or passed on (`map(f, xs)` recurses as surely as `f(x)`).
One form is not a call: `yield g(...)` where g is a generator function. That only creates g's
generator and hands it to whoever runs this one (graphc.util.walk.trampoline runs it on an explicit
stack); nothing of g runs here. `yield from g()`, `for x in g()` and `list(g())` do run it: edges.
A function is recursive when it lies on a cycle of this graph: it calls itself, or two or more
functions call each other, in one module or across modules.

What a static graph without types cannot see: a method called on another object (`item.walk()`
inside `Item.walk`: only self/cls are resolved; a hand review of every call `x.m()` inside a
method `m` found one, `viz/structure.py:Item.layer_names`, now iterative), and calls through
values (the op registry's function fields, callbacks kept in objects, getattr). See
docs/architecture.md, "No recursion", for the one re-entry through the op registry.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass
class _Module:
    name: str  # dotted
    path: str  # relative to the root, for reports
    is_package: bool
    tree: ast.Module
    functions: dict[str, str] = field(default_factory=dict)  # top-level name -> node
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # alias -> (module, name|None)


def _modules(package: str, root: str) -> dict[str, _Module]:
    parent = os.path.dirname(os.path.abspath(package))
    found = {}
    for folder, dirs, files in os.walk(package):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            parts = os.path.relpath(path, parent)[:-3].split(os.sep)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            found[name] = _Module(name, os.path.relpath(path, root), is_package, tree)
    return found


def _absolute(mod: _Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.name.split(".")
    if not mod.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_bindings(mod: _Module, node: ast.Import | ast.ImportFrom) -> dict[str, tuple[str, str | None]]:
    """alias -> (module, name) for `from module import name`, (module, None) for `import module`."""
    if isinstance(node, ast.Import):  # `import a.b.c` binds `a`; `a.b.c.f` resolves through the chain
        return {a.asname or a.name.split(".")[0]: (a.name if a.asname else a.name.split(".")[0], None)
                for a in node.names}
    source = _absolute(mod, node)
    return {a.asname or a.name: (source, a.name) for a in node.names}


def _collect_imports(mod: _Module) -> None:
    """The module's own imports (those at module level, in `if`/`try` blocks included)."""
    todo = list(mod.tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod.imports.update(_import_bindings(mod, node))
        elif not isinstance(node, (ast.ClassDef,) + FUNCS):
            todo.extend(ast.iter_child_nodes(node))


class CallGraph:
    """Build with `CallGraph(package_dir, root)`; `recursive()` lists the functions on cycles."""

    def __init__(self, package: str, root: str) -> None:
        self.modules = _modules(package, root)
        self.graph = nx.DiGraph()
        self.defs: dict[int, str] = {}  # id(def node) -> graph node
        self.generators: set[str] = set()  # the defs that are generator functions
        for mod in self.modules.values():
            _collect_imports(mod)
            self._name_defs(mod)
        self.subclasses: dict[int, list[tuple[_Module, ast.ClassDef]]] = {}  # id(class) -> direct subclasses
        for mod in self.modules.values():
            for cls in mod.classes.values():
                for base in cls.bases:
                    hit = self._resolve_expr(mod, base, [])
                    if hit and hit[0] == "class":
                        self.subclasses.setdefault(id(hit[1][1]), []).append((mod, cls))
        for mod in self.modules.values():
            self._walk_module(mod)

    # -- resolution -------------------------------------------------------------------------
    def _lookup(self, module: str, name: str) -> tuple[str, object] | None:
        """What `name` is in `module`: ("function", node) / ("class", (mod, ClassDef)) / ("module", name)."""
        seen = set()
        while (module, name) not in seen:
            seen.add((module, name))
            sub = f"{module}.{name}"
            mod = self.modules.get(module)
            if mod is None:
                return ("module", sub) if sub in self.modules else None
            if name in mod.functions:
                return "function", mod.functions[name]
            if name in mod.classes:
                return "class", (mod, mod.classes[name])
            if name in mod.imports:
                source, attr = mod.imports[name]
                if attr is None:
                    return ("module", source) if source in self.modules else None
                module, name = source, attr
                continue
            return ("module", sub) if sub in self.modules else None
        return None

    def _method(self, mod: _Module, cls: ast.ClassDef, name: str, skip_self: bool = False) -> str | None:
        """The method `name` of `cls` or of the first base (in the package) that defines it."""
        todo, seen = [(mod, cls, skip_self)], set()
        while todo:
            m, c, skip = todo.pop(0)
            if id(c) in seen:
                continue
            seen.add(id(c))
            if not skip:
                for item in c.body:
                    if isinstance(item, FUNCS) and item.name == name:
                        return self.defs[id(item)]
            for base in c.bases:
                hit = self._resolve_expr(m, base, [])
                if hit and hit[0] == "class":
                    todo.append((*hit[1], False))
        return None

    def _overrides(self, cls: ast.ClassDef, name: str) -> list[str]:
        """The methods `name` of every subclass of `cls` in the package: `self.name` may be one."""
        found, todo, seen = [], list(self.subclasses.get(id(cls), [])), set()
        while todo:
            m, c = todo.pop()
            if id(c) in seen:
                continue
            seen.add(id(c))
            found += [self.defs[id(item)] for item in c.body if isinstance(item, FUNCS) and item.name == name]
            todo += self.subclasses.get(id(c), [])
        return found

    def _resolve_expr(self, mod: _Module, expr: ast.expr, scopes: list[dict[str, str]]):
        """Resolve a Name or a dotted Attribute chain to a function, class or module."""
        chain = []
        while isinstance(expr, ast.Attribute):
            chain.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        local = next((scope for scope in reversed(scopes) if expr.id in scope), None)
        if local is None:
            hit = self._lookup(mod.name, expr.id)
        elif isinstance(local[expr.id], tuple):  # imported inside the function
            source, attr = local[expr.id]
            hit = self._lookup(source, attr) if attr else ("module", source) if source in self.modules else None
        else:  # a nested def, or a variable (None) that hides the module's name
            return ("function", local[expr.id]) if local[expr.id] and not chain else None
        for attr in reversed(chain):
            if hit is None:
                return None
            kind, value = hit
            if kind == "module":
                hit = self._lookup(value, attr)
            elif kind == "class":
                m, c = value
                target = self._method(m, c, attr)
                hit = ("function", target) if target else None
            else:
                return None
        return hit

    # -- the walk ---------------------------------------------------------------------------
    def _walk_module(self, mod: _Module) -> None:
        """Visit every def in the module (at any depth) with its class and enclosing scopes."""
        # (node, (module, class, name of self) of the method it is in, enclosing function scopes)
        todo: list[tuple[ast.AST, tuple | None, list[dict]]] = [(mod.tree, None, [])]
        while todo:
            node, owner, scopes = todo.pop()
            if isinstance(node, ast.ClassDef):
                for child in node.body:
                    todo.append((child, (mod, node, None), scopes))
                continue
            if isinstance(node, FUNCS):
                if owner and owner[2] is None:  # a method: its first parameter is self / cls
                    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
                    first = node.args.args[0].arg if node.args.args and not static else None
                    owner = (owner[0], owner[1], first)
                elif owner and owner[2] in _bindings(node, mod):  # a nested def that rebinds self
                    owner = None
                scope = _bindings(node, mod)
                scopes = scopes + [{k: self.defs[id(v)] if isinstance(v, ast.AST) else v for k, v in scope.items()}]
                self._edges(mod, node, owner, scopes)
                for child in node.body:
                    todo.append((child, owner, scopes))
                continue
            for child in ast.iter_child_nodes(node):
                todo.append((child, owner, scopes))

    def _name_defs(self, mod: _Module) -> None:
        """Name every def `path:Outer.inner` and record the module's top-level functions and classes."""
        todo: list[tuple[ast.AST, str, bool]] = [(mod.tree, "", True)]
        while todo:
            n, p, top = todo.pop()
            if isinstance(n, FUNCS):
                self.defs[id(n)] = f"{mod.path}:{p}{n.name}"
                self.graph.add_node(self.defs[id(n)])
                if any(isinstance(x, (ast.Yield, ast.YieldFrom)) for x in _own_nodes(n)):
                    self.generators.add(self.defs[id(n)])
                if top:
                    mod.functions[n.name] = self.defs[id(n)]
            elif isinstance(n, ast.ClassDef) and top:
                mod.classes[n.name] = n
            inner = isinstance(n, (ast.ClassDef,) + FUNCS)
            for child in ast.iter_child_nodes(n):
                todo.append((child, p + n.name + "." if inner else p, top and not inner))

    def _edges(self, mod: _Module, fn: ast.AST, owner: tuple | None, scopes: list[dict]) -> None:
        me = self.defs[id(fn)]
        nodes = _own_nodes(fn)
        called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
        handed_out = {id(n.value.func) for n in nodes if isinstance(n, ast.Yield) and isinstance(n.value, ast.Call)}
        for sub in nodes:
            target, more = None, []
            if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and owner
                    and sub.value.id == owner[2]):
                target = self._method(owner[0], owner[1], sub.attr)
                more = self._overrides(owner[1], sub.attr)
            elif (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Call) and owner
                  and isinstance(sub.value.func, ast.Name) and sub.value.func.id == "super"):
                target = self._method(owner[0], owner[1], sub.attr, skip_self=True)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Call):  # `Class(...).method`
                hit = self._resolve_expr(mod, sub.value.func, scopes)
                target = self._method(*hit[1], sub.attr) if hit and hit[0] == "class" else None
            elif isinstance(sub, (ast.Name, ast.Attribute)) and isinstance(sub.ctx, ast.Load):
                hit = self._resolve_expr(mod, sub, scopes)
                if hit and hit[0] == "function":
                    target = hit[1]
                elif hit and hit[0] == "class" and id(sub) in called:
                    target = self._method(*hit[1], "__init__")
            for t in ([target] if target else []) + more:
                if not (id(sub) in handed_out and t in self.generators):
                    self.graph.add_edge(me, t)

    def recursive(self) -> set[str]:
        """Every function on a cycle of the call graph (calling itself included)."""
        found = set()
        for part in nx.strongly_connected_components(self.graph):
            if len(part) > 1 or any(self.graph.has_edge(n, n) for n in part):
                found |= part
        return found


def _bindings(fn: ast.AST, module: _Module) -> dict[str, Any]:
    """The names `fn` binds locally: a nested def (its node), an import ((module, name or None)),
    or anything else (None: a variable, which hides a function of the same name)."""
    a = fn.args
    names: dict[str, ast.AST | None] = {p.arg: None for p in a.posonlyargs + a.args + a.kwonlyargs}
    names.update({p.arg: None for p in (a.vararg, a.kwarg) if p})
    outer = set()
    for n in _own_nodes(fn):
        if isinstance(n, FUNCS):
            names[n.name] = n
        elif isinstance(n, ast.ClassDef):
            names[n.name] = None
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.setdefault(n.id, None)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update(_import_bindings(module, n))
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            outer.update(n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.setdefault(n.name, None)
    return {k: v for k, v in names.items() if k not in outer}


def _own_nodes(fn: ast.AST) -> list[ast.AST]:
    """The nodes of `fn`'s body, stopping at (but including) nested defs and classes.

    A nested def's decorators and defaults run in `fn`, so they count as `fn`'s."""
    out, todo = [], list(fn.body)
    while todo:
        n = todo.pop()
        out.append(n)
        if isinstance(n, FUNCS):
            todo.extend(n.decorator_list + n.args.defaults + [d for d in n.args.kw_defaults if d])
        elif isinstance(n, ast.ClassDef):
            todo.extend(n.decorator_list + n.bases)
        elif isinstance(n, ast.AnnAssign):  # the annotation is not evaluated (`from __future__ import annotations`)
            todo.extend([n.target] + ([n.value] if n.value else []))
        else:
            todo.extend(ast.iter_child_nodes(n))
    return out


def recursive_functions(package: str, root: str) -> set[str]:
    """`path:Qual.name` for every function in `package` that can recurse."""
    return CallGraph(package, root).recursive()
