"""The import graph of graphc/, parsed with `ast` (top-level imports and those inside functions).

Checks: no import cycle; every import follows the layer order that docs/architecture.md declares
("Layers: what may import what"); an import inside a function names one of the modules the
same page lists as lazy for start-up time (onnxruntime, sklearn, ...: the only reason left for
one). The oracle is the source text itself, read without importing graphc.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "graphc"
DOC = ROOT / "docs" / "architecture.md"

# Cycles another change removes; each is tolerated only while it still exists.
# ir/dims.py <-> ir/types.py: issue 10 part 1 (normalized symbolic dims) takes it apart.
KNOWN_CYCLES = [{"graphc.ir.dims", "graphc.ir.types"}]


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `package` (a package is its __init__)."""
    files = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _resolve(name: str, modules: dict) -> str | None:
    """The graphc module an imported dotted name lives in (`graphc.ops.OPS` -> `graphc.ops`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(modules: dict[str, Path]) -> list[tuple[str, str, int, bool, str]]:
    """(importer, imported module, line, inside a function, imported name as written) for every
    import statement of every module; imported modules outside graphc are kept by their name."""
    found = []
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                if base == "__future__":
                    continue
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            nested = id(node) not in top
            for name in names:
                target = _resolve(name, modules) if name.split(".")[0] == "graphc" else name
                if target != mod:
                    found.append((mod, target, node.lineno, nested, name))
    return found


def graph_of(edges) -> nx.DiGraph:
    g = nx.DiGraph()
    for src, dst, line, _, _ in edges:
        if dst.split(".")[0] == "graphc":
            g.add_edge(src, dst, line=line)
    return g


def cycles(g: nx.DiGraph) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (none when the graph is a DAG)."""
    found = []
    for group in nx.strongly_connected_components(g):
        if len(group) > 1 and not any(group == known for known in KNOWN_CYCLES):
            found.append([a for a, _ in nx.find_cycle(g.subgraph(group))])
    return sorted(found)


def _section(marker: str) -> list[str]:
    """The lines of docs/architecture.md from `<!-- marker -->` to the next blank line after content."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- {marker} -->") + 1
    out: list[str] = []
    for line in lines[start:]:
        if not line.strip() and out:
            break
        if line.strip() and not line.startswith("```"):
            out.append(line)
    return out


def declared_layers() -> list[list[str]]:
    """The layers, bottom first; each a list of units (a package or a top-level module) before `#`."""
    rows = [re.findall(r"\bgraphc(?:\.\w+)?\b", line.split("#")[0]) for line in _section("import-layers")]
    return [row for row in rows if row][::-1]


def lazy_modules() -> set[str]:
    """Third-party modules that may be imported inside functions (start-up time only)."""
    return {m for line in _section("lazy-imports") for m in re.findall(r"^\|\s*`([\w.]+)`", line)}


def unit_of(module: str, layers: list[list[str]]) -> str | None:
    units = [u for row in layers for u in row]
    if module in units:
        return module
    parts = module.split(".")
    return ".".join(parts[:2]) if ".".join(parts[:2]) in units else None


def layer_violations(modules: dict[str, Path], edges, layers: list[list[str]]) -> list[str]:
    level = {u: k for k, row in enumerate(layers) for u in row}
    bad = [f"{m}: not in the layer list of docs/architecture.md (add it there)"
           for m in modules if unit_of(m, layers) is None]
    for src, dst, line, _, _ in edges:
        a, b = unit_of(src, layers), unit_of(dst, layers)
        if dst.split(".")[0] != "graphc" or a is None or b is None:
            continue
        if a != b and level[b] >= level[a]:
            why = "the same layer" if level[a] == level[b] else "a higher layer"
            bad.append(f"{src}:{line} imports {dst}, which is in {why}")
    return sorted(set(bad))


def test_graphc_has_no_import_cycle():
    found = cycles(graph_of(imports(module_files())))
    assert not found, "import cycles (top-level or inside functions):\n" + "\n".join(
        " -> ".join(c + [c[0]]) for c in found)


def test_imports_follow_the_declared_layers():
    layers = declared_layers()
    assert len(layers) >= 8 and ["graphc.ir"] in layers
    modules = module_files()
    bad = layer_violations(modules, imports(modules), layers)
    assert not bad, "imports against the layer order of docs/architecture.md:\n" + "\n".join(bad)


def test_nothing_imports_the_package_facade():
    """graphc/__init__.py imports the API on top of everything; a module importing it back is a cycle."""
    bad = [f"{src}:{line}" for src, dst, line, _, _ in imports(module_files())
           if dst == "graphc" and src not in ("graphc.__main__",)]
    assert not bad, "import graphc.version (or the module itself), not the package: " + ", ".join(bad)


def test_imports_inside_functions_are_only_the_listed_lazy_ones():
    lazy = lazy_modules()
    assert {"onnxruntime", "sklearn"} <= lazy
    bad = [f"{src}:{line}: {name}" for src, dst, line, nested, name in imports(module_files())
           if nested and dst.split(".")[0] not in lazy and dst not in lazy and not any({src, dst} <= known for known in KNOWN_CYCLES)]
    assert not bad, ("imports inside functions (move them to the top; only the lazy list of "
                     "docs/architecture.md may be imported late):\n" + "\n".join(sorted(bad)))


# -- the checker itself can fail ------------------------------------------------------------
def _fake_package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / "graphc" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(tmp_path / "graphc")


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    modules = _fake_package(tmp_path, {
        "__init__.py": "",
        "ir/__init__.py": "",
        "ir/builder.py": "def f():\n    from graphc.ops import OPS\n",
        "ops/__init__.py": "from graphc.ops.registry import OPS\n",
        "ops/registry.py": "from graphc.ir.builder import f\nOPS = {}\n",
    })
    found = cycles(graph_of(imports(modules)))
    assert len(found) == 1 and sorted(found[0]) == ["graphc.ir.builder", "graphc.ops", "graphc.ops.registry"]


def test_an_import_up_the_layers_is_found(tmp_path):
    modules = _fake_package(tmp_path, {
        "__init__.py": "", "ir/__init__.py": "from graphc.ops import OPS\n", "ops/__init__.py": "OPS = {}\n",
        "new/__init__.py": "",
    })
    bad = layer_violations(modules, imports(modules), [["graphc"], ["graphc.ir"], ["graphc.ops"]])
    assert bad == ["graphc.ir:1 imports graphc.ops, which is in a higher layer",
                   "graphc.new: not in the layer list of docs/architecture.md (add it there)"]


@pytest.mark.parametrize("text", ["from ..ops import OPS\n", "from graphc.ops.OPS import x\n"])
def test_relative_and_attribute_imports_resolve_to_modules(tmp_path, text):
    modules = _fake_package(tmp_path, {"__init__.py": "", "ir/__init__.py": "", "ir/a.py": text,
                                       "ops/__init__.py": "OPS = {}\n"})
    assert ("graphc.ir.a", "graphc.ops") in {(s, d) for s, d, *_ in imports(modules)}
