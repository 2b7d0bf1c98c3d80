"""grid.d beyond float64 in sweep configs: {log10: x} items and log ranges with {log10: x}
endpoints up to 10^10000 for the reduced families (flat, staircase), and the errors for the
families that need d explicit rows, for x beyond the limit and for malformed items."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from mfsim.config.axes import expand_dimensions
from mfsim.config.errors import ConfigError
from mfsim.config.validate import load_config

BASE = {
    "sweep": "huge",
    "spectrum": {"family": "flat"},
    "grid": {
        "d": [100, {"log10": 400}],
        "r": [2],
        "kappa": [2.5],
        "varpi": [0.5],
        "eta": [0.1],
        "seeds": [0],
    },
    "run": {"steps": 100, "heatmap_steps": [0]},
}


def with_grid(d, family="flat"):
    config = copy.deepcopy(BASE)
    config["grid"]["d"] = d
    config["spectrum"]["family"] = family
    return config


@pytest.mark.parametrize("family", ["flat", "staircase"])
def test_reduced_families_take_d_up_to_1e10000(family):
    config = load_config(
        with_grid([100, {"log10": 1000}, {"log10": 10000}], family), results_root=None
    )
    assert config["grid"]["d"][2] == {"log10": 10000}


def test_yaml_log10_items_expand_to_exact_integers():
    spec = yaml.safe_load("[1.0e+12, {log10: 400}, 100, {log10: 2.5}]")
    values = expand_dimensions(spec)
    assert values == sorted([10**12, 10**400, 100, 316])  # 10^2.5 = 316.23 -> nearest integer
    assert all(type(v) is int for v in values)


def test_log_range_with_log10_endpoints_is_equally_spaced_in_log10_d():
    values = expand_dimensions({"start": 10, "stop": {"log10": 1000}, "num": 4, "spacing": "log"})
    # log10 d = 1, 334, 667, 1000: integral, so the values are exact powers of ten
    assert values == [10**1, 10**334, 10**667, 10**1000]
    values = expand_dimensions({"start": 100, "stop": {"log10": 1000}, "num": 4, "spacing": "log"})
    # log10 d = 2 + 332.666...: the integers nearest 10^x, x to 12 significant digits
    assert [round(math.log10(v), 9) for v in values] == [2, 334.666666667, 667.333333333, 1000]


def test_ranges_and_lists_without_log10_items_are_unchanged():
    spec = {"start": 100, "stop": 1e12, "num": 11, "spacing": "log"}
    values = expand_dimensions(spec)
    assert values[0] == 100 and values[-1] == 10**12 and len(values) == 11
    assert expand_dimensions([3, 1e300]) == [3, int(1e300)]


def test_linear_family_names_key_value_and_limit():
    with pytest.raises(ConfigError) as error:
        load_config(with_grid([100, {"log10": 400}], "linear"), results_root=None)
    text = str(error.value)
    assert "grid.d" in text and "10^400" in text and "50000000" in text and "'flat'" in text


@pytest.mark.parametrize(
    ("d", "fragments"),
    [
        ([100, {"log10": 20000}], ["grid.d[1].log10", "20000", "maximum of 10000"]),
        ([100, {"log10": -1}], ["grid.d[1].log10", "-1", "minimum of 0"]),
        ([100, {"log10": 400, "x": 1}], ["grid.d[1].x", "unknown key", "log10"]),
        ([100, {"log10": 400}, {"log10": 400}], ["grid.d", "non-unique"]),
        (
            {"start": 100, "stop": {"log10": 1000}, "num": 3, "spacing": "linear"},
            ["grid.d.spacing", "spacing 'log'", "'linear'"],
        ),
    ],
)
def test_bad_d_items_are_config_errors(d, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(with_grid(d), results_root=None)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_expand_dimensions_checks_log10_without_the_schema():
    with pytest.raises(ConfigError, match=r"grid.d\[0\]: log10 = 10001 .* \[0, 10000\]"):
        expand_dimensions([{"log10": 10001}])
    with pytest.raises(ConfigError, match=r"collapses 3 values to 1"):
        expand_dimensions(
            {"start": 100, "stop": {"log10": 2.0000000001}, "num": 3, "spacing": "log"}
        )


def test_distinct_huge_d_stay_distinct_in_the_store_coordinate():
    # 10^400 and 10^400 + 1 differ as integers but not in log10 (the stored -log10 d)
    with pytest.raises(ConfigError, match="round to the same float64"):
        load_config(with_grid([10**400, 10**400 + 1]), results_root=None)
    assert math.log10(10**400) == math.log10(10**400 + 1)
