"""Provenance of the sweep store: which copy of mfsim's code wrote it.

A git commit is recorded only when the package sits in mfsim's own repository: the repository
root holds a ``pyproject.toml`` whose project name is ``mfsim`` and the imported package is that
repository's ``mfsim/``. A copy of mfsim inside another project (vendored, or in a ``.venv`` of
that project) would otherwise report that project's HEAD and dirty flag. Otherwise the store
records the version and the installed distribution's metadata (``importlib.metadata``: name,
version, installer and ``direct_url.json`` when pip wrote one).
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from mfsim._version import __version__

__all__ = [
    "PACKAGE_DIR",
    "distribution_metadata",
    "git_commit",
    "own_repository",
    "provenance_attrs",
]

#: The directory of the imported mfsim package.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
DISTRIBUTION = "mfsim"
UNKNOWN = "unknown"


def _git(args: list[str], cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
    ).stdout


def own_repository(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The root of mfsim's own git repository holding `package_dir`, else None.

    The root must hold a ``pyproject.toml`` with ``[project] name = "mfsim"`` and `package_dir`
    must be its ``mfsim/`` directory; any other repository (a user's project with a vendored
    copy or a virtual environment inside) is not mfsim's.
    """
    try:
        root = Path(_git(["rev-parse", "--show-toplevel"], package_dir.parent).strip()).resolve()
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, subprocess.SubprocessError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    name = project.get("project", {}).get("name")
    if name != DISTRIBUTION or (root / "mfsim").resolve() != package_dir:
        return None
    return root


def git_commit(package_dir: Path = PACKAGE_DIR) -> tuple[str, bool | None]:
    """``(commit, dirty)`` of mfsim's own repository holding the package.

    Returns
    -------
    tuple
        ``("unknown", None)`` when the package is not in mfsim's own repository
        (:func:`own_repository`) or git cannot tell.
    """
    root = own_repository(package_dir)
    if root is None:
        return UNKNOWN, None
    try:
        commit = _git(["rev-parse", "HEAD"], root).strip()
        dirty = _git(["status", "--porcelain", "--untracked-files=no"], root)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN, None
    return commit, bool(dirty.strip())


def _holds_this_package(dist: metadata.Distribution, package_dir: Path) -> bool:
    """Whether `dist` installed the imported package (a wheel install or an editable one)."""
    for file in dist.files or ():
        if str(file).replace("\\", "/") == "mfsim/__init__.py":
            return Path(dist.locate_file(file)).resolve() == package_dir / "__init__.py"
    direct_url = _direct_url(dist)
    url = (direct_url or {}).get("url", "")
    if url.startswith("file:"):
        return (Path(url2pathname(urlparse(url).path)) / "mfsim").resolve() == package_dir
    return False


def _direct_url(dist: metadata.Distribution) -> dict | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def distribution_metadata(package_dir: Path = PACKAGE_DIR) -> dict:
    """The installed distribution that holds the imported package, as a dict.

    Returns
    -------
    dict
        ``name``, ``version``, ``installer`` and, when present, ``direct_url`` (PEP 610: where
        pip installed it from, e.g. a local directory, an editable checkout or a VCS commit).
        ``{"distribution": "none", "package_dir": ...}`` when the package was imported from a
        directory that no installed distribution holds (a vendored copy, ``PYTHONPATH``).
    """
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is None or not _holds_this_package(dist, package_dir):
        return {"distribution": "none", "package_dir": str(package_dir)}
    found = {
        "name": dist.metadata["Name"],
        "version": dist.version,
        "installer": (dist.read_text("INSTALLER") or UNKNOWN).strip(),
    }
    direct_url = _direct_url(dist)
    if direct_url is not None:
        found["direct_url"] = direct_url
    return found


def provenance_attrs(package_dir: Path = PACKAGE_DIR) -> dict:
    """The provenance attributes of a store, by :mod:`mfsim.store.assemble`.

    Returns
    -------
    dict
        ``mfsim_version``; ``git_commit`` and ``git_dirty`` (0/1) from mfsim's own repository,
        or ``"unknown"`` outside it; ``mfsim_distribution``: :func:`distribution_metadata` as
        JSON text (Zarr attributes hold text, and the report prints it as is).
    """
    commit, dirty = git_commit(package_dir)
    return {
        "mfsim_version": __version__,
        "git_commit": commit,
        "git_dirty": UNKNOWN if dirty is None else int(dirty),
        "mfsim_distribution": json.dumps(distribution_metadata(package_dir), sort_keys=True),
    }
