"""mfsim.store.footprint: the disk estimate against what sweeps really occupy (``du``).

Every shipped config's layout (its spectrum family, axes, heat maps, recording policy and
chunking) is run small (at most three d values up to 2000, two seeds, at most 400 steps), and
the estimate of each part must be within a factor of 2 of the allocated size of the files.
"""

from __future__ import annotations

import collections
import copy
import os
from pathlib import Path

import pytest
import xarray as xr
import yaml

from mfsim.config.model import parse
from mfsim.jobs import _write_zarr
from mfsim.plan.chunk_plan import make_plan
from mfsim.store import assemble
from mfsim.store.footprint import _run_variables, shared_dim_sizes, sweep_footprint
from tests.helpers import ROOT, run_all, store_tiny

CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def allocated_bytes(path: Path) -> int:
    """``du -s --block-size=1``: the blocks allocated to every file and directory under
    `path` (directories excluded: the estimate counts files)."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            total += os.lstat(Path(root) / name).st_blocks * 512
    return total


def small_variant(path: Path) -> dict:
    """The config at `path` with its layout kept and its size cut (see the module doc)."""
    raw = yaml.safe_load(path.read_text())
    config = copy.deepcopy(raw)
    grid = config["grid"]
    grid["d"] = [100, 400, 2000] if not isinstance(grid["d"], list) or len(grid["d"]) > 1 else [400]
    if "sensing" in grid.get("problem", []):
        # sensing costs O(m d r) per step with m up to 30 d r: its layout at small d
        grid["d"] = [16, 32, 64]
    grid["seeds"] = {"start": 0, "count": 2}
    run = config.setdefault("run", {})
    steps = int(run.get("steps", 1000))
    run["steps"] = min(steps, 400)
    if steps > 10000:  # the auto policy records log-spaced steps there
        run["record"] = {"policy": "log", "num": 100}
    if "heatmap_steps" in run:
        run["heatmap_steps"] = [s for s in run["heatmap_steps"] if s <= run["steps"]]
    config["sweep"] = f"small_{raw['sweep']}"
    if config["spectrum"].get("eigenvalues_file"):
        config["spectrum"]["eigenvalues_file"] = str(ROOT / config["spectrum"]["eigenvalues_file"])
    return config


def test_the_model_has_the_variables_of_a_real_chunk_store(many_chunks):
    _, _, paths, _ = many_chunks
    ds = xr.open_zarr(paths[0])
    sizes = dict(ds.sizes)
    real = collections.Counter(
        (tuple(d for d in var.dims if d != "run"), var.dtype.itemsize)
        for var in ds.data_vars.values()
    )
    model = collections.Counter(_run_variables(sizes))
    assert real == model


def measure(config: dict, tmp_path: Path) -> tuple[dict, dict]:
    """(estimate, allocated bytes) of chunk stores, sweep.zarr and the analysis stores."""
    from mfsim.analysis.audit import audit_theorem6
    from mfsim.analysis.scaling import fit_all

    config = parse(config)
    plan = make_plan(config)
    paths = run_all(config, tmp_path)
    store = assemble(paths, config, tmp_path / "sweep.zarr")
    ds = xr.open_zarr(store, chunks=None).load()
    _write_zarr(fit_all(ds), tmp_path / "scaling.zarr", "scaling")
    _write_zarr(audit_theorem6(ds), tmp_path / "audit.zarr", "audit")
    footprint = sweep_footprint(plan)
    from mfsim.store.footprint import FIGURES_BYTES, FILES_PER_CHUNK, FILES_PER_SWEEP

    small_files = (FILES_PER_CHUNK * len(plan.chunks) + FILES_PER_SWEEP) * 4096
    estimate = {
        "chunks": footprint.chunk_stores,
        "sweep.zarr": footprint.sweep_store,
        "analysis stores": footprint.analysis - FIGURES_BYTES - small_files,
    }
    actual = {
        "chunks": allocated_bytes(tmp_path / "chunks"),
        "sweep.zarr": allocated_bytes(store),
        "analysis stores": allocated_bytes(tmp_path / "scaling.zarr")
        + allocated_bytes(tmp_path / "audit.zarr"),
    }
    return estimate, actual


def assert_within_factor_2(estimate: dict, actual: dict, name: str) -> None:
    for part in estimate:
        ratio = estimate[part] / actual[part]
        print(f"{name} {part}: estimate {estimate[part]:,} / du {actual[part]:,} = {ratio:.2f}")
        assert 0.5 <= ratio <= 2.0, (name, part, estimate[part], actual[part])


def test_estimate_within_a_factor_2_of_a_small_sweep(tmp_path):
    estimate, actual = measure(store_tiny(target_seconds=0.01), tmp_path)
    assert_within_factor_2(estimate, actual, "store_tiny")


@pytest.mark.scenario
@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_estimate_within_a_factor_2_for_every_shipped_layout(path, tmp_path):
    estimate, actual = measure(small_variant(path), tmp_path)
    assert_within_factor_2(estimate, actual, path.stem)


def test_shared_dims_are_the_stores(many_chunks):
    config, _, paths, _ = many_chunks
    ds = xr.open_zarr(paths[0])
    assert shared_dim_sizes(config if hasattr(config, "run") else parse(config)) == {
        dim: ds.sizes[dim] for dim in ("step", "k", "eps", "heatmap_step", "row", "col")
    }


@pytest.mark.scenario
@pytest.mark.parametrize("eta", [0.002, 0.1], ids=["still-learning", "stop-at-convergence"])
def test_estimate_within_a_factor_2_with_long_runs(eta, tmp_path):
    # 5000 steps, every step recorded, 8 seeds. With eta = 0.002 the runs are still learning
    # at the step limit: the chunk stores hold ~10 MB of trajectories. With eta = 0.1 they
    # stop at convergence and the later steps are fill values, which the compressor removes
    # (the estimate counts the steps mfsim.plan.grid.estimate_steps expects).
    config = small_variant(ROOT / "config" / "config.yaml")
    config["grid"].update({"d": [100, 200], "eta": [eta], "seeds": {"start": 0, "count": 8}})
    config["run"].update({"steps": 5000})
    estimate, actual = measure(config, tmp_path)
    if eta < 0.01:
        assert actual["chunks"] > 5e6
    assert_within_factor_2(estimate, actual, f"eta={eta}")
