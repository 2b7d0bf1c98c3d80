"""spectrum.top_gap and spectrum.tie_tolerance in sweep configs."""

from __future__ import annotations

import pytest

from mfsim.config.errors import ConfigError
from mfsim.config.model import SpectrumSpec
from mfsim.config.validate import load_config
from mfsim.plan.grid import run_identity


def _config(**spectrum):
    return {
        "sweep": "ties",
        "spectrum": {"family": "flat", **spectrum},
        "grid": {
            "d": [100, 1000],
            "r": [2],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"start": 0, "count": 2},
        },
        "run": {"steps": 100},
    }


def test_a_top_gap_reaches_the_runs_and_the_identity():
    config = load_config(_config(top_gap=0.0, tie_tolerance=1e-6))
    params = SpectrumSpec.from_section(config["spectrum"]).family_params()
    assert params == {"lambda_1": 1.0, "top_gap": 0.0, "tie_tolerance": 1e-6}
    identity = run_identity(config)["spectrum"]
    assert identity["top_gap"] == 0.0 and identity["tie_tolerance"] == 1e-6


def test_without_them_nothing_is_added():
    config = load_config(_config())
    assert SpectrumSpec.from_section(config["spectrum"]).family_params() == {"lambda_1": 1.0}
    assert "top_gap" not in run_identity(config)["spectrum"]


@pytest.mark.parametrize(
    ("spectrum", "match"),
    [
        ({"top_gap": 0.5}, r"top_gap must lie in \[0, lambda_1 - lambda_3 = 0.4\], got 0.5"),
        ({"top_gap": -1}, "top_gap"),
        ({"tie_tolerance": 0.3}, "tie_tolerance = 0.3"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(spectrum, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_config(**spectrum))
