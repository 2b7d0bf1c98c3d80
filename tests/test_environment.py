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
