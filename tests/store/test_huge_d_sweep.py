"""A sweep config with d beyond float64 ({log10: x} up to 10^1000) through mfsim.sweep: the
plan, the chunk stores, assemble and fit_scaling, checked against direct mfsim.simulate runs
and a least-squares line written here against ln d of the exact integers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mfsim
from mfsim.config.validate import load_config
from mfsim.plan.grid import make_chunks

#: log10 of the grid's d: 100, 10^400 and 10^1000 (the last two beyond float64).
LOG10_D = [2, 400, 1000]
SEEDS = [0, 1]
#: eta = 0.1 with kappa = 2.5 (lambda_2 = 0.6, lambda_3 = 0.2): the last signal rises near
#: step ln d / (2 ln(1.06 / 1.02)) ~ 30,000 at d = 10^1000; the runs converge before 32,000.
STEPS = 32_000

CONFIG = {
    "sweep": "huge_config",
    "spectrum": {"family": "flat"},
    "grid": {
        "d": [100, {"log10": 400}, {"log10": 1000}],
        "r": [2],
        "kappa": [2.5],
        "varpi": [0.5],
        "eta": [0.1],
        "seeds": SEEDS,
    },
    "run": {"steps": STEPS, "heatmap_steps": [0]},
}
GROUP = ("kappa", "varpi", "varpi_exponent", "eta", "r")


@pytest.fixture(scope="module")
def sweep():
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        return mfsim.sweep(CONFIG, client=c).load()


@pytest.fixture(scope="module")
def direct():
    """The engine's own runs at the same d, seeds and constants (mfsim.simulate)."""
    out = {}
    for x in LOG10_D:
        spec = mfsim.spectrum("flat", {"log10": x}, r=2, kappa=2.5)
        out[x] = mfsim.simulate(spec, eta=0.1, varpi=0.5, steps=STEPS, seeds=SEEDS)
    return out


def test_the_plan_holds_every_d_of_the_config():
    config = load_config(CONFIG, results_root=None)
    assert config["grid"]["d"] == CONFIG["grid"]["d"]
    chunks = make_chunks(config)
    planned = sorted(batch.point.d for chunk in chunks for batch in chunk.batches)
    assert planned == [10**x for x in LOG10_D]  # exact integers, not floats
    assert len({chunk.chunk_id for chunk in chunks}) == len(chunks)


def test_sweep_store_keeps_log10_d_exact_and_d_finite(sweep):
    assert sweep["log10_d"].values.tolist() == [2.0, 400.0, 1000.0]
    d = sweep["d"].values
    assert d.dtype == np.float64 and np.isfinite(d).all()
    # beyond float64 d holds -log10(d) (docs/design.md, "d beyond float64")
    assert d.tolist() == [100.0, -400.0, -1000.0]
    assert sweep["status"].values.size == len(LOG10_D) * len(SEEDS)
    assert (sweep["status"].values == mfsim.datamodel.CONVERGED).all()


def test_sweep_values_are_the_engines(sweep, direct):
    for i, x in enumerate(LOG10_D):
        stored = sweep.isel(d=i).squeeze(GROUP)
        for name in ("rise", "t_k", "stop_step"):
            np.testing.assert_array_equal(
                stored[name].values, direct[x][name].values, err_msg=f"{name} at 10^{x}"
            )


def test_fit_scaling_slope_of_rise_is_the_least_squares_line_in_ln_d(sweep, direct):
    fit = mfsim.fit_scaling(sweep, "rise", n_boot=20)
    # independent route: ln d of the exact Python integers, the engine's rises, numpy lstsq
    ln_d = np.repeat([math.log(10**x) for x in LOG10_D], len(SEEDS))
    for j, k in enumerate(direct[2]["k"].values):
        rises = np.concatenate([direct[x]["rise"].values[:, j] for x in LOG10_D])
        design = np.column_stack([np.ones_like(ln_d), ln_d])
        (_, slope), *_ = np.linalg.lstsq(design, rises, rcond=None)
        fitted = float(fit["log_slope"].sel(k=k).squeeze().values)
        assert fitted == pytest.approx(slope, rel=1e-9)
    # the last signal's rise grows ~ ln d / (2 ln((1 + 0.1 * 0.6) / (1 + 0.1 * 0.2))), 13 per ln d
    assert 11 < float(fit["log_slope"].sel(k=2).squeeze()) < 14
    sentence = str(fit["verdict_sentence"].sel(k=2).squeeze().values)
    assert "d in [100, 1e+1000] (3 values)" in sentence
    assert fit["d_curve"].values[0] == 100.0 and fit["d_curve"].values[-1] == -1000.0


def test_fit_table_and_noise_floor_read_d_beyond_float64(sweep):
    from mfsim.analysis.audit import noise_floor_closed_form
    from mfsim.analysis.fit_table import fits_table
    from mfsim.analysis.scaling import fit_all

    table = fits_table(fit_all(sweep, n_boot=20), sweep)
    rise = table[table["quantity"] == "rise"]
    assert rise["d_min"].tolist() == [100.0, 100.0]
    assert rise["d_max"].tolist() == [-1000.0, -1000.0]  # 10^1000 as stored
    # the theory columns read log10 d = 1000 for the largest d, not log10 of a negative
    theory = [c for c in table.columns if "predicted" in c or "theory" in c]
    assert theory and rise[theory].notna().any(axis=None)
    floor = noise_floor_closed_form(sweep)
    assert all(bool(np.isfinite(floor.isel(d=i)).any()) for i in range(len(LOG10_D)))
