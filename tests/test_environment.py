"""environment.yml (for conda users) lists the same packages as pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted.update({_name(r): r for r in extra})
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = {_name(dep): dep for dep in env["dependencies"] if isinstance(dep, str)}
    listed.pop("python"), listed.pop("pip")
    assert set(listed) == set(wanted)
    for name, requirement in wanted.items():
        # same lower bounds too
        assert listed[name].replace(" ", "") == requirement.replace(" ", ""), name


def _minimum(requirement: str) -> tuple[int, ...]:
    match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    assert match, f"{requirement}: no lower bound"
    return tuple(int(part) for part in match.group(1).split("."))


def test_declared_minimums_have_the_apis_the_code_calls():
    """Issue 15.7: with zarr 2.18 (allowed by zarr>=2.17) the first chunk write failed on the
    zarr-3 keyword ``zarr_format``. The code calls ``Dataset.to_zarr(zarr_format=...)`` (xarray
    2024.10) and ``zarr.consolidate_metadata(..., zarr_format=...)`` (zarr 3.0)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r): _minimum(r) for r in project["dependencies"]}
    assert declared["zarr"] >= (3, 0)
    assert declared["xarray"] >= (2024, 10)


def test_installed_versions_meet_the_declared_minimums():
    """The environment the tests run in is one the declarations allow."""
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        installed = tuple(int(p) for p in re.findall(r"[0-9]+", version(_name(requirement)))[:3])
        assert installed >= _minimum(requirement), requirement
