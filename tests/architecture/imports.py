"""The package's import graph, read from its source, and the layer rules checked on it.

Every import counts: top-level, lazy (inside a function), relative, and module names given as
strings (``"lightning_diffeo.runs.config"``, e.g. a fork server's preload list or a lazy
``__getattr__`` table). The layer map is read from ``docs/architecture.md``, so the document
and the rule cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = "lightning_diffeo"
_MODULE_STRING = re.compile(rf"^{PACKAGE}(\.[A-Za-z_]\w*)+$")
_LAYER_ROW = re.compile(r"^\|\s*(\d+)\s+([^|]+?)\s*\|([^|]*)\|")


def read_layers(architecture_md: Path) -> dict[str, int]:
    """Module or package name -> layer rank, from the layer table of ``docs/architecture.md``.

    A row reads ``| <rank> <name> | `pkg`, `module`, ... | what it holds |``; the root package is
    written ``lightning_diffeo``, everything else relative to it.
    """
    layers: dict[str, int] = {}
    for line in architecture_md.read_text(encoding="utf-8").splitlines():
        row = _LAYER_ROW.match(line)
        if row is None:
            continue
        for name in re.findall(r"`([\w.]+)`", row.group(3)):
            layers[name if name == PACKAGE else f"{PACKAGE}.{name}"] = int(row.group(1))
    return layers


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``) for every ``.py`` file of the package under ``root``."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _resolve(name: str, known: dict[str, tuple[Path, bool]]) -> str | None:
    """The deepest module of the package that ``name`` names (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, known: dict[str, tuple[Path, bool]]) -> set[str]:
    """The package modules that ``module`` imports, lazily or not, or names as a string."""
    path, is_package = known[module]
    base = module.split(".") if is_package else module.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            for alias in node.names:  # a submodule imported by name counts as that submodule
                targets.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.match(node.value):
            targets.add(node.value)
    resolved = {_resolve(target, known) for target in targets if target == PACKAGE or target.startswith(PACKAGE + ".")}
    return {target for target in resolved if target is not None and target != module}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    known = modules(root)
    return {module: imports_of(module, known) for module in known}


def layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The rank of the longest entry of ``layers`` that is ``module`` or a package above it (None: unmapped)."""
    if module == PACKAGE:
        return layers.get(PACKAGE)
    name = module
    while name != PACKAGE:  # the root package's own entry covers its __init__ alone
        if name in layers:
            return layers[name]
        name = name.rpartition(".")[0]
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(root: Path, layers: dict[str, int]) -> list[str]:
    """Every module outside the layer map, every import of a higher layer, and every circle."""
    graph = import_graph(root)
    problems = [f"{module} is in no layer of docs/architecture.md" for module in graph if layer_of(module, layers) is None]
    for module, targets in sorted(graph.items()):
        rank = layer_of(module, layers)
        for target in sorted(targets):
            target_rank = layer_of(target, layers)
            if rank is not None and target_rank is not None and target_rank > rank:
                problems.append(f"{module} (layer {rank}) imports {target} (layer {target_rank}, above it)")
    problems += [f"import circle: {' -> '.join(component)}" for component in cycles(graph)]
    return problems
