"""Issue 8.6: numerical faults are data. A grid with a diverging (eta, varpi) and a step-limit
bound cell completes; the status and the step it happened at are stored, and the analysis
counts the diverged runs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mfsim.analysis.audit import audit_theorem6
from mfsim.analysis.scaling import classify_runs, fit_all, fit_scaling
from tests.helpers import in_process_sweep, tiny

CONVERGED, MAX_STEPS, DIVERGED, NONFINITE = 0, 1, 2, 3
STEPS = 300
#: Stage times observed along a run (the others, t_init, T_u, t_k, t_k_star, are Theorem 6
#: bounds computed from the run's start and may exceed its last step).
OBSERVED = ("first_in_S", "first_in_R", "t_eps", "rise", "learned", "escape", "plateau")
#: t_k and t_R are formula-defined (docs/stages.md): recorded also past the stop step
STAGES = ("t_init", "T_u", "t_k", "t_k_star", "t_R", *OBSERVED)

#: eta 0.5 with varpi 10: diverges at once; eta 0.001 with varpi 0.5: bound by the step limit.
CONFIG = tiny(
    sweep="faults",
    grid={
        "d": [50, 100, 200],
        "varpi": [0.5, 10.0],
        "eta": [0.001, 0.1, 0.5],
        "seeds": {"start": 0, "count": 4},
    },
    run={"steps": STEPS},
)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("faults")
    in_process_sweep(CONFIG, directory)  # run_chunk + assemble: what the simulate jobs do
    return directory


@pytest.fixture(scope="module")
def ds(sweep_dir):
    return xr.open_zarr(sweep_dir / "sweep.zarr").load()


def test_diverged_runs_are_stored_with_their_step(ds):
    cell = ds.sel(eta=0.5, varpi=10.0)
    assert (cell["status"].values == DIVERGED).all()
    stop = cell["stop_step"].values
    assert np.isfinite(stop).all() and (stop >= 0).all() and (stop < STEPS).all()
    # nothing recorded after the stop step; the stage times of these runs are NaN
    error = cell["error"]
    after = error["step"] > cell["stop_step"]
    assert bool(error.where(after).isnull().all())  # kept after the stop, NaN: all NaN
    for name in STAGES:
        assert np.isnan(cell[name].values).all(), name
    assert (cell["in_S"].where(after, -1).values == -1).all()


def test_step_limit_bound_runs_are_stored_as_max_steps(ds):
    cell = ds.sel(eta=0.001, varpi=0.5)
    assert (cell["status"].values == MAX_STEPS).all()
    assert (cell["stop_step"].values == STEPS).all()
    assert np.isfinite(cell["error"].sel(step=STEPS).values).all()


def test_observed_stage_times_never_after_the_stop(ds):
    status = ds["status"].values
    assert set(np.unique(status)) >= {MAX_STEPS, DIVERGED}
    assert (status >= 0).all()  # every run of the grid is present: the sweep completed
    for name in OBSERVED:
        value, stop = xr.broadcast(ds[name], ds["stop_step"])
        finite = np.isfinite(value.values)
        assert (value.values[finite] <= stop.values[finite]).all(), name


def test_analysis_counts_the_diverged_runs(ds):
    n_diverged = int(np.isin(ds["status"].values, [DIVERGED, NONFINITE]).sum())
    assert n_diverged >= 3 * 4  # the eta 0.5, varpi 10 cell at each d, every seed
    runs = classify_runs(ds, "rise")
    per_run = runs["diverged"].any("k") if "k" in runs["diverged"].dims else runs["diverged"]
    assert int(per_run.sum()) == n_diverged
    fits = fit_scaling(ds, "rise", n_boot=20)
    counts = fits["n_diverged"]
    if "k" in counts.dims:
        counts = counts.max("k")
    assert int(counts.sum()) == n_diverged
    assert (counts.sel(eta=0.5, varpi=10.0).values == 4).all()


def test_all_fits_and_the_audit_complete_with_diverged_runs(ds):
    """What the fit_scaling and audit rules compute (fewer bootstrap replicates)."""
    n_diverged = np.isin(ds["status"], [DIVERGED, NONFINITE]).sum(axis=-1)  # per grid point
    fits = fit_all(ds, n_boot=20)
    for quantity in ("rise", "escape", "t_eps"):
        counts = fits[f"{quantity}__n_diverged"]
        # the same count for every k / eps of a grid point
        counts = counts.max([dim for dim in ("k", "eps") if dim in counts.dims])
        expected = xr.DataArray(n_diverged, dims=ds["status"].dims[:-1]).squeeze()
        assert int(counts.sum()) == int(expected.sum()), quantity
    audit = audit_theorem6(ds)
    assert audit.sizes  # computed, diverged runs included
