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
    small["sweep"] = f"{config['sweep']}_bracket"
    return small


@pytest.mark.slow
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
