"""Issue 8.5: a bad config stops the workflow before any job, with a message naming the key,
and writes nothing (no ``results/`` directory).

Covered elsewhere, not repeated here:

* at the workflow level, unknown key (``grid.bogus``) and d <= r:
  ``tests/workflow/test_workflow.py::test_invalid_config_stops_before_any_job``;
* every class in-process (``load_config``) in ``tests/config/test_validate.py``:
  ``test_unknown_top_level_key``, ``test_unknown_nested_key_lists_allowed_keys``,
  ``test_wrong_type``, ``test_out_of_range_values`` (eta <= 0, varpi <= 0, seed < 0, ...),
  ``test_d_must_exceed_r``, ``test_kappa_below_r_is_impossible``,
  ``test_custom_spectrum_missing_file``, ``test_custom_spectrum_bad_file_contents``
  (non-numeric, not decreasing, NaN, inf, negative, empty), ``test_non_finite_numbers``,
  ``test_bad_sweep_names``, ``test_limits_are_checked_by_load_config`` (max_runs).

Every Snakemake run here is rejected while the Snakefile is parsed (~2-3 s); the runs are
started together by a module fixture and each test checks one of them.
"""

from __future__ import annotations

import copy
import math
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from mfsim.config.validate import load_config
from mfsim.plan.grid import count_runs, estimate_store_bytes
from tests.helpers import snakemake_cmd, tiny, write_config

pytestmark = [pytest.mark.slow, pytest.mark.scenario]


def custom(eigenvalues: str | None) -> dict:
    """Family custom with an eigenvalues file holding `eigenvalues` (None: no file)."""
    return {
        "sweep": "custom",
        "spectrum": {"family": "custom", "eigenvalues_file": "eigenvalues.txt"},
        "grid": {"d": [4], "r": [2], "varpi": [0.5], "eta": [0.1], "seeds": [0, 1]},
        "run": {"steps": 100},
        "_eigenvalues": eigenvalues,
    }


def grid(**values) -> dict:
    return tiny(grid=values)


def limits(**values) -> dict:
    return tiny(limits=values)


MAX_BYTES = limits(max_bytes=1000)

#: id -> (config, fragments that stderr must hold). Fragments start with the key path.
CASES = {
    "wrong-type": (tiny(run={"steps": "many"}), ["run.steps", "integer"]),
    "eta-zero": (grid(eta=[0.0]), ["grid.eta[0]", "0"]),
    "eta-negative": (grid(eta=[-0.1]), ["grid.eta[0]"]),
    "varpi-negative": (grid(varpi=[-0.5]), ["grid.varpi[0]"]),
    "seed-negative": (grid(seeds=[-1, 0]), ["grid.seeds[0]"]),
    "kappa-impossible": (grid(kappa=[1.5]), ["grid.kappa", "kappa = 1.5", "kappa >= 2"]),
    "nan-in-config": (grid(eta=[0.1, math.nan]), ["grid.eta[1]", "finite"]),
    "eigenvalues-missing": (custom(None), ["spectrum.eigenvalues_file", "does not exist"]),
    "eigenvalues-non-numeric": (
        custom("3 2 x 1\n"),
        ["spectrum.eigenvalues_file", "'x' is not a number"],
    ),
    "eigenvalues-not-decreasing": (
        custom("3 2 1 1.5\n"),
        ["spectrum.eigenvalues_file", "decreasing"],
    ),
    "eigenvalues-nan": (custom("3 2 nan 1\n"), ["spectrum.eigenvalues_file", "finite"]),
    "sweep-name-slash": (tiny(sweep="a/b"), ["sweep: 'a/b' is not allowed"]),
    "sweep-name-dotdot": (tiny(sweep="../escape"), ["sweep: '../escape' is not allowed"]),
    "max-runs": (
        limits(max_runs=5),
        ["limits.max_runs", f"estimated {count_runs(load_config(tiny(), results_root=None))} runs"],
    ),
    "max-bytes": (
        MAX_BYTES,
        [
            "limits.max_bytes",
            # the estimate, stated in bytes
            f"{estimate_store_bytes(load_config(tiny(), results_root=None)):,} bytes",
        ],
    ),
}


def run_bad(name: str, base) -> tuple[subprocess.CompletedProcess, object]:
    config, _ = CASES[name]
    workdir = base / name
    workdir.mkdir()
    config = copy.deepcopy(config)
    eigenvalues = config.pop("_eigenvalues", None)
    if eigenvalues is not None:
        (workdir / "eigenvalues.txt").write_text(eigenvalues)
    configfile = write_config(workdir, config)
    result = subprocess.run(
        snakemake_cmd(workdir, configfile, 1),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, workdir


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_bad, name, base) for name in CASES}
        return {name: future.result() for name, future in futures.items()}


def test_the_cases_are_valid_apart_from_their_fault():
    """The base configs are valid, so each case fails for its own fault only."""
    load_config(tiny(), results_root=None)
    load_config(tiny(limits={"max_runs": 6, "max_bytes": 10**9}), results_root=None)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_config_is_rejected_before_any_job(results, name):
    result, workdir = results[name]
    _, fragments = CASES[name]
    assert result.returncode != 0, result.stdout[-2000:]
    assert "invalid config:" in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-3000:])
    assert not (workdir / "results").exists()
    assert "rule simulate" not in result.stdout + result.stderr  # no job was scheduled
