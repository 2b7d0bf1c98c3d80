"""The flat public API of ``mfsim`` is imported lazily: analysis and output jobs do not import
the engine (numba), and every listed name still resolves to the object its module defines."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import mfsim

INIT = Path(mfsim.__file__)


def _modules_after(code: str) -> set[str]:
    """Modules in ``sys.modules`` of a fresh interpreter after running `code`."""
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_analysis_and_output_do_not_import_the_engine():
    loaded = _modules_after(
        "import mfsim.jobs, mfsim.analysis.scaling, mfsim.analysis.audit, "
        "mfsim.analysis.linearized, mfsim.output.plots, mfsim.output.report"
    )
    assert "mfsim.analysis.scaling" in loaded and "mfsim.output.plots" in loaded
    assert "numba" not in loaded
    assert not {m for m in loaded if m.startswith("mfsim.engine")}


def test_import_mfsim_registers_the_accessor_only():
    loaded = _modules_after("import mfsim, xarray\nassert hasattr(xarray.Dataset(), 'mfsim')")
    assert "mfsim.analysis.accessor" in loaded
    assert "numba" not in loaded and "mfsim.execute" not in loaded


def test_a_public_name_imports_its_module_on_first_use():
    loaded = _modules_after("from mfsim import simulate")
    assert "mfsim.engine.simulation" in loaded and "numba" in loaded


def test_every_public_name_resolves_to_its_definition():
    for name in mfsim.__all__:
        value = getattr(mfsim, name)
        if name == "__version__":
            continue
        module = importlib.import_module(mfsim._EXPORTS[name])
        assert value is getattr(module, name), name
    assert set(mfsim.__all__) <= set(dir(mfsim))


def test_unknown_name_raises_attribute_error():
    try:
        mfsim.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("mfsim.no_such_name did not raise AttributeError")


def test_exports_table_matches_all_and_the_type_checking_imports():
    """The name -> module table, ``__all__`` and the TYPE_CHECKING imports list the same."""
    assert set(mfsim._EXPORTS) == set(mfsim.__all__) - {"__version__"}
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    imported = {
        alias.name: node.module
        for node in ast.walk(block)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == mfsim._EXPORTS
