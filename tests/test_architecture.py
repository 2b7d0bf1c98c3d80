"""The layout is the data flow: no import cycle, and no module imports one later in the flow.

Flow (docs/design.md): config -> plan -> engine -> store -> execute -> analysis -> output.
Leaf modules (arguments, spectra, datamodel, theory, small_signal, _version) import nothing
of mfsim but leaves and may be imported by every module; the entry points (``mfsim/__init__``,
cli, jobs, analysis/accessor) come last and may import anything. The graph is read from the
source (ast), function-level imports included, so a lazy import cannot hide an arrow against
the flow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mfsim"
FLOW = ("config", "plan", "engine", "store", "execute", "analysis", "output")
LEAVES = {
    "mfsim.arguments",
    "mfsim.spectra",
    "mfsim.datamodel",
    "mfsim.theory",
    "mfsim.small_signal",
    "mfsim.spectrum_compression",
    "mfsim.bulk_levels",
    "mfsim.spectrum_ties",
    "mfsim.gap_laws",
    "mfsim._version",
}
ENTRY_POINTS = {"mfsim", "mfsim.cli", "mfsim.jobs", "mfsim.analysis.accessor"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str:
    """The module an import names: itself if it is a module, else its package."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """Every mfsim module imported anywhere in `module` (functions included)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from mfsim.config import limits`: the submodule when there is one
            names = [f"{node.module}.{alias.name}" for alias in node.names] or [node.module]
        else:
            continue
        for name in names:
            if name == "mfsim" or name.startswith("mfsim."):
                target = resolve(name)
                if target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def rank(module: str) -> int | None:
    """Position in the flow; None for leaves, entry points and modules outside the flow (the
    last are reported by test_every_module_has_a_place_in_the_flow)."""
    package = module.split(".")[1] if "." in module else None
    if module in LEAVES or module in ENTRY_POINTS or package not in FLOW:
        return None
    return FLOW.index(package)


def test_every_module_has_a_place_in_the_flow():
    for module in MODULES:
        assert module in LEAVES or module in ENTRY_POINTS or module.split(".")[1] in FLOW, module


def test_leaves_import_nothing_of_mfsim():
    for module in LEAVES:
        assert GRAPH[module] <= LEAVES, (module, GRAPH[module] - LEAVES)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if rank(m) is not None))
def test_no_import_against_the_flow(module):
    against = {
        target
        for target in GRAPH[module]
        if target in ENTRY_POINTS or (rank(target) is not None and rank(target) > rank(module))
    }
    assert not against, f"{module} imports {sorted(against)}, later in the flow {FLOW}"


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(module):
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checker_sees_an_arrow_against_the_flow(tmp_path):
    """The checker itself: a lazy import of execute from config would be reported."""
    source = "def f():\n    from mfsim.execute.runner import run_chunk\n"
    tree = ast.parse(source)
    names = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    target = resolve(names[0])
    assert target == "mfsim.execute.runner"
    assert rank(target) > rank("mfsim.config.validate")
