"""The sensing survival rule and the opening paragraph, on hand-built fits whose answer is
known by construction."""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.output.finding_problems import RISE_TOLERANCE, sensing_survival

LABELS = ["factorization", "sensing m/(dr)=3", "sensing m/(dr)=10", "sensing m/(dr)=30"]
D = [16.0, 64.0, 256.0]


def _fit(slopes, medians, reached):
    """A rise fit over (r, problem, k, d): slopes (problem, k) with +-1 intervals, medians
    (problem, k, d), reached (problem, k, d) out of 4 runs."""
    shape = (1, len(LABELS), 2)
    slopes = np.asarray(slopes, dtype=float).reshape(shape)
    per_d = ("r", "problem", "k", "d")
    return xr.Dataset(
        {
            "log_slope": (("r", "problem", "k"), slopes),
            "log_slope_lo": (("r", "problem", "k"), slopes - 1.0),
            "log_slope_hi": (("r", "problem", "k"), slopes + 1.0),
            "median": (per_d, np.asarray(medians, dtype=float).reshape(shape + (3,))),
            "n_reached": (per_d, np.asarray(reached).reshape(shape + (3,))),
            "n_runs": (per_d, np.full(shape + (3,), 4)),
        },
        coords={
            "r": [2],
            "problem": LABELS,
            "k": [1, 2],
            "d": D,
            "measurements": ("problem", [np.nan, 3.0, 10.0, 30.0]),
        },  # fmt: skip
    )


def test_survival_from_the_ratio_on_which_every_criterion_holds():
    base = np.array([[10.0, 20.0, 30.0], [20.0, 40.0, 60.0]])
    medians = np.stack([base, 2.0 * base, base * (1 + RISE_TOLERANCE / 2), base])
    slopes = [[5, 9], [5, 20], [5.5, 9.5], [5, 9]]  # m/(dr)=3: k=2 slope interval disjoint
    reached = np.full((4, 2, 3), 4)
    reached[3, 1, 0] = 3  # m/(dr)=30: one run at d=16 where signal 2 never rises
    rows = sensing_survival(_fit(slopes, medians, reached))
    assert [row["value"] for row in rows] == [3.0, 10.0, 30.0]
    assert [row["survives"] for row in rows] == [False, True, False]
    assert not rows[0]["slopes_overlap"] and rows[2]["all_reached"] is False
    assert np.isclose(rows[1]["max_rel_diff"], RISE_TOLERANCE / 2)
    # all reached at 30: survival from 10 on
    reached[3, 1, 0] = 4
    rows = sensing_survival(_fit(slopes, medians, reached))
    assert [row["survives"] for row in rows] == [False, True, True]
