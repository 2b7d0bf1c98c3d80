"""Issue 20 item 4: provenance records mfsim's own commit, never a foreign repository's.

Each case copies the package into a fresh git repository and imports the copy in a subprocess
(PYTHONPATH), as a user's project with a vendored mfsim would; the expected commit comes from
``git rev-parse HEAD`` run by the test itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mfsim._version import __version__

PACKAGE = Path(__file__).resolve().parents[2] / "mfsim"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=m"]


def make_repository(root: Path, project_name: str, package_at: str) -> tuple[str, Path]:
    """A git repository at `root` whose pyproject names `project_name`, holding a copy of the
    package under `package_at`; returns (HEAD, the directory to put on PYTHONPATH)."""
    root.mkdir()
    (root / "pyproject.toml").write_text(f'[project]\nname = "{project_name}"\nversion = "1"\n')
    target = root / package_at / "mfsim"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "c"], cwd=root, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    return head, target.parent


def provenance_of_copy(path_entry: Path, cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(path_entry)}
    code = (
        "import json, mfsim.store.provenance as p; "
        "print(json.dumps({'file': p.__file__, **p.provenance_attrs()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_vendored_copy_in_a_foreign_repository_records_no_commit(tmp_path):
    head, path_entry = make_repository(tmp_path / "userproject", "userproject", "vendor")
    (path_entry / "mfsim" / "__init__.py").open("a").write("\n")  # the user's tree is dirty
    attrs = provenance_of_copy(path_entry, tmp_path)
    assert attrs["file"].startswith(str(path_entry))
    assert attrs["git_commit"] == "unknown" and attrs["git_dirty"] == "unknown"
    assert head not in json.dumps(attrs)
    # imported from a directory, not an installed distribution: said so, with where it is
    distribution = json.loads(attrs["mfsim_distribution"])
    assert distribution == {"distribution": "none", "package_dir": str(path_entry / "mfsim")}
    assert attrs["mfsim_version"] == __version__


def test_copy_at_the_root_of_a_foreign_repository_records_no_commit(tmp_path):
    """The package directory directly under a foreign root (pyproject name differs)."""
    head, path_entry = make_repository(tmp_path / "other", "not-mfsim", ".")
    attrs = provenance_of_copy(path_entry, tmp_path)
    assert attrs["git_commit"] == "unknown" and head not in json.dumps(attrs)


def test_mfsims_own_repository_records_its_commit_and_dirty_flag(tmp_path):
    head, path_entry = make_repository(tmp_path / "mfsim-checkout", "mfsim", ".")
    attrs = provenance_of_copy(path_entry, tmp_path)
    assert attrs["git_commit"] == head and attrs["git_dirty"] == 0
    (path_entry / "mfsim" / "__init__.py").open("a").write("\n")
    attrs = provenance_of_copy(path_entry, tmp_path)
    assert attrs["git_commit"] == head and attrs["git_dirty"] == 1


def test_mfsim_repository_with_the_package_elsewhere_is_not_its_own(tmp_path):
    """A repository named mfsim whose mfsim/ is not the imported package (e.g. a copy of the
    package under a user's subdirectory of an mfsim fork) records no commit."""
    head, path_entry = make_repository(tmp_path / "fork", "mfsim", "lib")
    attrs = provenance_of_copy(path_entry, tmp_path)
    assert attrs["git_commit"] == "unknown" and head not in json.dumps(attrs)
