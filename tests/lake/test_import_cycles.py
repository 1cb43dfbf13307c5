"""No module of supplylake imports a module that imports it back, directly or around a circle.

A circle works until the day someone imports the modules in another order, then fails with a
half-initialised module; one closed by an import inside a function (to dodge exactly that) still
ties two layers into one. The graph is read from the source (`ast`), so the check costs no
imports. Left out: imports under `TYPE_CHECKING` (they never run) and a submodule's import of
its own package (which Python has already begun).
"""

from __future__ import annotations

import ast
from pathlib import Path

import supplylake

ROOT = Path(supplylake.__file__).parent


def test_supplylake_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert "supplylake.lake.api" in graph  # the walk found the package
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def test_the_check_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "supplylake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from supplylake.b import x\n")
    (package / "b.py").write_text("import supplylake.a\nx = 1\n")
    (package / "c.py").write_text("def f():\n    from supplylake import d\n")
    (package / "d.py").write_text(
        "import typing\nif typing.TYPE_CHECKING:\n    import supplylake.e\n"
    )
    (package / "e.py").write_text("def f():\n    import supplylake.c\n")
    cycles = [c for c in strongly_connected(import_graph(package)) if len(c) > 1]
    assert cycles == [{"supplylake.a", "supplylake.b"}]
    (package / "d.py").write_text("import supplylake.e\n")
    cycles = [c for c in strongly_connected(import_graph(package)) if len(c) > 1]
    assert {"supplylake.c", "supplylake.d", "supplylake.e"} in cycles


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the supplylake modules it imports when it is imported."""
    modules = {_name(root, path): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                names = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for name in names:
                # Importing a.b.c runs a/__init__ and a/b/__init__ first.
                parts = name.split(".")
                targets |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
        ancestors = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
        graph[module] = {t for t in targets if t in modules and t != module and t not in ancestors}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

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
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import of the module, wherever it runs, but those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
        else:
            pending += ast.iter_child_nodes(node)
    return found
