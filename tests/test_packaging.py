"""Issue 20 item 4: a wheel install (not only an editable one) runs a sweep.

The project is built into a wheel, installed into a fresh virtual environment outside the
checkout (its dependencies come from the system site-packages, so no index is needed), and
``mfsim.sweep``, ``mfsim plan``, ``mfsim run`` and ``mfsim status`` run from it with the working
directory outside the checkout. Before the schema was package data, the wheel had no
``config.schema.yaml`` and every one of them stopped with FileNotFoundError.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


#: A sweep of two runs at one grid point, in one chunk.
TINY_SWEEP = {
    "sweep": "wheel",
    "spectrum": {"family": "flat"},
    "grid": {
        "d": [40],
        "r": [2],
        "kappa": [5.0],
        "varpi": [0.5],
        "eta": [0.1],
        "seeds": {"start": 0, "count": 2},
    },
    "run": {"steps": 50},
}

SWEEP_SCRIPT = """
import json, sys
from pathlib import Path
import mfsim
from mfsim.config.model import parse
from mfsim.plan.chunk_plan import make_plan, write_chunk_plans

if __name__ == "__main__":  # the default cluster's worker processes re-import this file
    config = json.loads(Path(sys.argv[1]).read_text())
    ds = mfsim.sweep(config, out="sweep")
    # the plan files the workflow writes, so that `mfsim status sweep` has a sweep to read
    write_chunk_plans(make_plan(parse(config)), "sweep")
    print(json.dumps({"module": mfsim.__file__, "schema": str(mfsim.SCHEMA_PATH),
                      "seeds": [int(s) for s in ds.seed.values],
                      "git_commit": ds.attrs["git_commit"],
                      "distribution": json.loads(ds.attrs["mfsim_distribution"])}))
"""


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of the project, built from a copy of its package files (the checkout stays
    clean: setuptools writes build/ and *.egg-info beside the sources)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "mfsim", source / "mfsim", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(dist), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = dist.glob("mfsim-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A virtual environment with the wheel installed (no index); returns its bin directory."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        capture_output=True,
    )
    bin_dir = venv / "bin"
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
        + [str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    return bin_dir


def outside_env() -> dict:
    """The environment of a user's shell: no PYTHONPATH pointing into a checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(cmd: list, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=outside_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_wheel_holds_the_schema(tmp_path):
    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()
    assert "mfsim/config/schema/config.schema.yaml" in names


@pytest.mark.slow
@pytest.mark.scenario
def test_wheel_install_runs_sweep_plan_run_and_status(tmp_path):
    wheel = build_wheel(tmp_path)
    bin_dir = fresh_venv(tmp_path, wheel)
    work = tmp_path / "work"
    work.mkdir()
    (work / "sweep.json").write_text(json.dumps(TINY_SWEEP))
    (work / "sweep.py").write_text(SWEEP_SCRIPT)

    swept = json.loads(run([str(bin_dir / "python"), "sweep.py", "sweep.json"], work).stdout)
    # the installed copy ran, not the checkout (nor an editable install of it)
    assert Path(swept["module"]).is_relative_to(tmp_path / "venv")
    assert Path(swept["schema"]).is_file()
    assert swept["seeds"] == [0, 1]
    # provenance: no commit (the venv is not mfsim's repository), the installed wheel instead
    assert swept["git_commit"] == "unknown"
    distribution = swept["distribution"]
    assert distribution["name"] == "mfsim" and distribution["installer"] == "pip"
    assert distribution["direct_url"]["url"].endswith(wheel.name)

    status = run([str(bin_dir / "mfsim"), "status", "sweep"], work).stdout
    assert "chunks 1/1 complete" in status and "runs 2/2" in status, status

    planned = run([str(bin_dir / "mfsim"), "plan", "sweep.json"], work).stdout
    assert "sweep 'wheel'" in planned and "2 runs" in planned, planned

    run(
        [str(bin_dir / "mfsim"), "run", "--family", "flat", "--kappa", "5", "--d", "40"]
        + ["--steps", "20", "--seeds", "0-1", "--quiet", "--out", "one.zarr"],
        work,
    )
    assert (work / "one.zarr").is_dir()
