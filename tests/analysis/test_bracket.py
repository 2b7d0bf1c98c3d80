"""The bracket of t_k^* (docs/transition.md), checked on every run of small sweeps of every
shipped config's shape, and shown to catch a run that leaves it."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from mfsim.analysis.bracket import _s_sharp, audit_t_k_star_bracket, bracket_summary

#: Families the engine reduces exactly (cost independent of d), docs/transition.md.
REDUCED_FAMILIES = ("flat", "staircase")
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config").glob("*.yaml"))


def _ceil_t_sharp(eta, delta, r):
    """ceil(t^sharp), t^sharp = ln(Delta / (4 r)) / ln(1 - eta Delta / 6) (eq. 14)."""
    return math.ceil(math.log(delta / (4 * r)) / math.log(1 - eta * delta / 6))


def _chain(t_k_star, flag, t_k, rise):
    """A one-run, r = 2 Dataset with the stage variables the check reads."""
    return xr.Dataset(
        {
            "t_k_star": (("k",), [t_k_star, np.nan]),
            "t_k_star_bound_dominated": (("k",), [flag, False]),
            "t_k": (("k",), [t_k, np.nan]),
            "rise": (("k",), [100.0, rise]),
        },
        coords={"k": [1, 2], "r": 2, "eta": 0.1, "Delta": 0.2},
    )


def test_the_check_catches_each_kind_of_violation():
    s = _ceil_t_sharp(0.1, 0.2, 2)  # 1105 at kappa = 5, eta = 0.1, r = 2
    assert s == 1105
    t_k = 3000.0
    cases = {
        # (t_k^*, flag, rise_2): which check must fire
        (s, True, t_k + 10.0): None,  # bound-dominated at the upper end ceil(t^sharp)
        (s + 40.0, False, t_k + s + 50.0): None,  # measured, below the upper end
        (s + 50.0, True, t_k + s + 50.0): None,  # flag set, t_k^* = rise_2 - t_k
        (s - 1.0, False, t_k + 10.0): "below_lower",
        (s + 60.0, False, t_k + s + 50.0): "above_upper",
        (s + 50.0, False, t_k + s + 50.0): "flag_mismatch",  # at the upper end, not flagged
        (s + 10.0, True, t_k + s + 50.0): "flag_mismatch",  # flagged below the upper end
        (s + 10.0, True, np.nan): "flag_mismatch",  # flagged, but u_2 never rose
    }
    for (value, flag, rise), expected in cases.items():
        audit = audit_t_k_star_bracket(_chain(value, flag, t_k, rise))
        fired = {
            name for name in ("below_lower", "above_upper", "flag_mismatch") if audit[name].any()
        }
        assert fired == ({expected} if expected else set()), (value, flag, rise, fired)
        assert audit.attrs["runs_checked"] == 1


#: Steps of a shrunk config at most (the regime configs need 380,000 to reach t_1 at 1e20).
MAX_SHAPE_STEPS = 400_000
#: Shipped configs sized for a cluster (`mfsim plan` estimates thousands of core-hours): their
#: every run is checked by the rule `audit` when they run; the scenario test below covers every
#: run of every other shipped sweep.
CLUSTER_ONLY = {"transition_map_full"}


def _shrink(config: dict) -> dict:
    """The config's shape with few values per axis: 3 seeds, d at both ends and the middle,
    at most the first and last value of every other axis; d <= 1000 for dense bulks; the
    family as shipped, and at least
    8000 steps (so the literal chain reaches t_1^* where a shipped sweep stops earlier, e.g.
    figure1's 1000 steps < t^* = 2872: there the shipped sweep has no t_k^* at all)."""
    small = copy.deepcopy(config)
    grid = small["grid"]
    grid["seeds"] = {"start": 0, "count": 3}
    for axis, spec in grid.items():
        if axis == "seeds":
            continue
        keep = 3 if axis == "d" else 2
        if isinstance(spec, dict) and "num" in spec:
            spec["num"] = min(spec["num"], keep)
        elif isinstance(spec, list) and len(spec) > keep:
            grid[axis] = (
                [spec[0], spec[len(spec) // 2], spec[-1]][-keep:]
                if keep == 3
                else [
                    spec[0],
                    spec[-1],
                ]
            )
    if small["spectrum"]["family"] not in REDUCED_FAMILIES:
        # a dense bulk costs O(d) per step: the shape at d <= 1000
        d = grid["d"]
        if isinstance(d, dict):
            d["stop"] = min(float(d["stop"]), 1000.0)
        else:
            grid["d"] = [value for value in d if float(value) <= 1000.0] or [1000]
    small.setdefault("run", {})["steps"] = max(small.get("run", {}).get("steps", 0), 8000)
    if small["run"]["steps"] > MAX_SHAPE_STEPS:
        # a cluster-sized config (transition_map_full): its first (cheapest) constants only
        small["run"]["steps"] = MAX_SHAPE_STEPS
        for axis in ("kappa", "eta", "varpi", "r"):
            if isinstance(grid.get(axis), list):
                grid[axis] = grid[axis][:1]
    if "problem" in grid:
        # the literal chain (t_k^*) is computed for factorization only: sensing and asymmetric
        # runs have no t_k^* for the bracket to check (docs/stages.md section 5)
        grid["problem"] = ["factorization"]
        for option in ("measurements", "imbalance"):
            grid.pop(option, None)
        small.pop("sensing", None)
    small["sweep"] = f"{config['sweep']}_bracket"
    return small


@pytest.mark.scenario
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_bracket_holds_on_every_run_of_every_shipped_config_shape(path, local_client):
    """Every (run, k < r) with a literal t_k^* lies in the bracket, and is bound-dominated
    exactly at its upper end. The transition configs reach the measured regime (1e300)."""
    from mfsim.execute import sweep

    config = _shrink(yaml.safe_load(path.read_text()))
    ds = sweep(config, client=local_client)
    audit = audit_t_k_star_bracket(ds)
    assert audit.attrs["runs_checked"] > 0, bracket_summary(audit)
    assert audit.attrs["violating_entries"] == 0, bracket_summary(audit)
    # the lower end is ceil(t^sharp) of eq. 14, written here; the engine's float64 version
    # (bound_only_s, used by the check) agrees with it at every shipped constant
    lower = xr.apply_ufunc(np.vectorize(_ceil_t_sharp), ds.eta, ds.Delta, ds.r)
    assert bool((_s_sharp(ds) == lower).all())
    assert bool((ds.t_k_star.where(audit.checked) >= lower).where(audit.checked, True).all())
    if path.stem.startswith("transition"):
        assert audit.attrs["measured"] > 0, bracket_summary(audit)


# --- hand-built trajectories through the engine's own stage analysis ----------------------

ETA, DELTA, LAMBDA = 0.1, 0.2, (1.0, 0.6)
RISE_1 = 10


def _stages_of(next_signal: np.ndarray) -> xr.Dataset:
    """The engine's stage analysis (mfsim.engine.stages.analyze_stages) of one run, r = 2, in
    S from step 0, u_1 risen at step RISE_1, u_2 following `next_signal` (sigma_1^2 per step)."""
    from mfsim.engine.stages import analyze_stages

    steps = next_signal.size
    first = np.where(np.arange(steps) >= RISE_1, 0.9, 0.01)
    signal = np.stack([first, next_signal], axis=-1)[None]
    ones = np.ones((1, steps))
    out = analyze_stages(
        signal, ones, 0.1 * ones, np.zeros((1, steps, 2)), 0.01 * ones, 0.1 * ones,
        top_lambda=LAMBDA, Delta=DELTA, eta=ETA,
    )  # fmt: skip
    return xr.Dataset(
        {
            name: (("k",), out[name][0])
            for name in ("t_k_star", "t_k_star_bound_dominated", "t_k", "rise")
        },  # fmt: skip
        coords={"k": [1, 2], "r": 2, "eta": ETA, "Delta": DELTA},
    )


def _eq15_naive(next_signal: np.ndarray, t_1: int) -> int:
    """eq. (15) by a plain loop (r = 2): the least s with
    r q^s <= sqrt(Delta/8) min(sigma_1(u_2), sqrt(Delta/2))."""
    q = 1 - ETA * DELTA / 6
    for s in range(next_signal.size - t_1):
        sigma = math.sqrt(next_signal[t_1 + s])
        if 2 * q**s <= math.sqrt(DELTA / 8) * min(sigma, math.sqrt(DELTA / 2)):
            return s
    raise AssertionError("eq. 15 never holds within the trajectory")


def test_a_next_signal_that_falls_back_breaks_the_upper_bound():
    """Hypothesis (H) is needed: u_2 rises at 3000 (before t_1 + ceil(t^sharp)), falls back to
    1e-12 from 3500 to 6000 and rises again. eq. (15) then first holds at 6000, far above
    max(ceil(t^sharp), rise_2 - t_1), and the check reports the run."""
    steps = 8000
    t = np.arange(steps)
    next_signal = np.where((t >= 3000) & ((t < 3500) | (t >= 6000)), 0.5, 1e-12)
    ds = _stages_of(next_signal)
    t_1 = int(ds.t_k.sel(k=1))
    s_sharp = _ceil_t_sharp(ETA, DELTA, 2)
    expected = _eq15_naive(next_signal, t_1)
    assert ds.t_k_star.sel(k=1) == expected == 6000 - t_1  # the engine scans eq. 15 as written
    upper = max(s_sharp, 3000 - t_1)
    assert upper == s_sharp < expected  # the bracket's upper end is passed
    audit = audit_t_k_star_bracket(ds)
    assert bool(audit.above_upper.sel(k=1)) and bool(audit.flag_mismatch.sel(k=1))
    assert audit.attrs["violating_entries"] == 1 and "1 violate it" in bracket_summary(audit)


def test_a_next_signal_that_stays_risen_is_inside_the_bracket():
    """u_2 grows geometrically (rho = 1.002 per step) through Delta/2 at step 5000 and stays
    above: t_1^* is measured (below rise_2 - t_1, above ceil(t^sharp)) and equals eq. (15)."""
    steps = 9000
    t = np.arange(steps)
    next_signal = np.minimum((DELTA / 2) * 1.002 ** (2 * (t - 5000.0)), 0.6)
    ds = _stages_of(next_signal)
    t_1 = int(ds.t_k.sel(k=1))
    expected = _eq15_naive(next_signal, t_1)
    assert int(ds.rise.sel(k=2)) == 5000
    assert ds.t_k_star.sel(k=1) == expected
    assert _ceil_t_sharp(ETA, DELTA, 2) < expected < 5000 - t_1  # measured, strictly inside
    audit = audit_t_k_star_bracket(ds)
    assert audit.attrs["runs_checked"] == 1 and audit.attrs["measured"] == 1
    assert audit.attrs["violating_entries"] == 0


def test_the_audit_store_carries_the_bracket_and_gives_it_back():
    """attach_bracket / bracket_from_audit: the rule `audit` writes both checks in one store."""
    from mfsim.analysis.bracket import attach_bracket, bracket_from_audit

    bracket = audit_t_k_star_bracket(_chain(1105.0, True, 3000.0, 3010.0))
    audit = xr.Dataset({"conditions_hold": xr.DataArray(False)}, attrs={"coverage": "empty"})
    both = attach_bracket(audit, bracket)
    assert "bracket_above_upper" in both and both.attrs["bracket_runs_checked"] == 1
    assert both.attrs["coverage"] == "empty"
    back = bracket_from_audit(both)
    xr.testing.assert_identical(back, bracket)
    assert bracket_from_audit(audit) is None


#: Shipped sweeps whose runs stop before any t_1 (run.steps below ceil(t^*) = 2872 at the
#: paper's constants): the bracket has nothing to check there.
NO_T_K_STAR = {"figure1"}


WORKSTATION_CONFIGS = [p for p in CONFIGS if p.stem not in CLUSTER_ONLY]


@pytest.mark.shipped
@pytest.mark.parametrize("path", WORKSTATION_CONFIGS, ids=[p.stem for p in WORKSTATION_CONFIGS])
def test_bracket_holds_on_every_run_of_every_shipped_sweep(path, local_client):
    """Every run of the shipped sweep as shipped (its whole grid, all seeds and steps; about
    5 min of engine time for all configs on 2 cores): each (run, k < r) with a literal t_k^*
    is checked, and none leaves the bracket."""
    from mfsim.execute import sweep

    config = yaml.safe_load(path.read_text())
    ds = sweep(config, client=local_client)
    if "problem" in ds.dims:
        # the literal chain is computed for factorization only (docs/stages.md section 5)
        ds = ds.sel(problem="factorization")
    audit = audit_t_k_star_bracket(ds)
    has_value = ds.t_k_star.notnull() & (ds.k < ds.r)
    assert audit.attrs["runs_checked"] == int(has_value.sum())  # every entry with a value
    assert audit.attrs["violating_entries"] == 0, bracket_summary(audit)
    if path.stem in NO_T_K_STAR:
        # t_1 = rise_1 + ceil(t^*) lies beyond run.steps: eq. (15) is never scanned
        assert bool((ds.t_k.sel(k=1) > ds.stop_step).where(ds.t_k.sel(k=1).notnull(), True).all())
        assert int(ds.t_k_star.notnull().sum()) == 0 and audit.attrs["runs_checked"] == 0
    else:
        # every run that completed its chain has its t_k^* checked
        assert audit.attrs["runs_checked"] >= int((ds.t_R.notnull()).sum()) > 0
    if path.stem.startswith("transition"):
        assert audit.attrs["measured"] > 0, bracket_summary(audit)
