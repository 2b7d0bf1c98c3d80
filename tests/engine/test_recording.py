"""The recorded step grid."""

import numpy as np
import pytest

import mfsim


@pytest.mark.parametrize("steps", [1, 50, 1500, 20_000, 10**6])
@pytest.mark.parametrize("policy", ["auto", "all", "stride", "log"])
def test_grid_is_sorted_unique_and_holds_both_ends(steps, policy):
    if policy == "all" and steps > 10**5:
        return
    grid = mfsim.recorded_steps(steps, policy, stride=7, num=300)
    assert grid[0] == 0 and grid[-1] == steps
    assert np.all(np.diff(grid) > 0) and grid.dtype == np.int64


def test_auto_is_every_step_up_to_10000_then_about_1000_log_spaced():
    np.testing.assert_array_equal(mfsim.recorded_steps(10_000), np.arange(10_001))
    grid = mfsim.recorded_steps(10**6)
    assert 1000 <= grid.size <= 1002
    ratios = grid[200:] / grid[199:-1]
    assert ratios.max() < 1.05  # log spacing: bounded ratio between neighbours


def test_stride_and_explicit_grids():
    np.testing.assert_array_equal(mfsim.recorded_steps(10, "stride", stride=4), [0, 4, 8, 10])
    np.testing.assert_array_equal(mfsim.recorded_steps(10, [3, 5]), [0, 3, 5, 10])
    with pytest.raises(ValueError, match="unknown record policy"):
        mfsim.recorded_steps(10, "sometimes")
    with pytest.raises(ValueError, match="within|lie in"):
        mfsim.recorded_steps(10, [11])
