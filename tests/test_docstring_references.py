"""Every ``mfsim.<name>`` a docstring names in backticks exists: it is imported here.

Docstrings point readers to functions (``:func:`mfsim.analysis.scaling.fit_scaling```,
```mfsim.simulate```); a renamed or removed function would leave a pointer to nothing.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import mfsim

PACKAGE = Path(mfsim.__file__).resolve().parent
#: a dotted mfsim name inside backticks (``x``, `x`, :func:`~x`), not an accessor call
#: such as ``ds.mfsim.stage_table`` (preceded by a dot or a word character)
REFERENCE = re.compile(r"`~?(?<![\w.])(mfsim(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")


def docstrings(path: Path):
    """(qualified place, docstring) of the module, its classes and functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=False)
            if text:
                name = getattr(node, "name", "<module>")
                yield f"{path.relative_to(PACKAGE.parent)}:{name}", text


def references() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for place, text in docstrings(path):
            found.extend((place, name) for name in REFERENCE.findall(text))
    return sorted(set(found))


def resolve(name: str):
    """Import the longest importable module prefix of `name`, then get the rest as attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)  # AttributeError: the reference names nothing
        return obj
    raise ModuleNotFoundError(name)


REFERENCES = references()


def test_the_pattern_finds_references_and_skips_accessor_calls():
    text = "see :func:`~mfsim.plan.grid.make_chunks`, ``mfsim.simulate()``; ``ds.mfsim.fit_all``"
    assert REFERENCE.findall(text) == ["mfsim.plan.grid.make_chunks", "mfsim.simulate"]
    assert len(REFERENCES) > 50  # the package's docstrings do point to each other


@pytest.mark.parametrize(("place", "name"), REFERENCES, ids=[f"{p}->{n}" for p, n in REFERENCES])
def test_every_referenced_name_exists(place, name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{place} names `{name}`, which does not exist ({error})")
