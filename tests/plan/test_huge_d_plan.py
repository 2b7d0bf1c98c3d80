"""Planning a sweep whose d reach beyond float64 (10^1000): cost estimates, varpi_effective
and the plan's warnings use log10 d of the exact integers, never float(d)."""

from __future__ import annotations

import math

from mfsim.config.model import parse
from mfsim.plan.grid import expand_grid
from mfsim.plan.guidance import plan_warnings

CONFIG = {
    "sweep": "huge_plan",
    "spectrum": {"family": "flat"},
    "grid": {
        "d": [100, {"log10": 1000}],
        "r": [2],
        "kappa": [2.5],
        "varpi": {"scale": [0.5], "exponent": [0.0, 0.25]},
        "eta": [0.1],
        "seeds": [0],
    },
    "run": {"steps": 1000, "heatmap_steps": [0]},
}


def test_varpi_effective_beyond_float64_is_the_power_of_ten():
    points = {(b.point.d, b.point.varpi_exponent): b.point for b in expand_grid(parse(CONFIG))}
    assert points[(10**1000, 0.0)].varpi_effective == 0.5
    # 0.5 * (10^1000)^-0.25 = 0.5e-250
    assert math.isclose(points[(10**1000, 0.25)].varpi_effective, 0.5e-250, rel_tol=1e-12)
    assert points[(100, 0.25)].varpi_effective == 0.5 * 100.0**-0.25


def test_steps_warning_predicts_the_rise_at_1e1000():
    warnings = [w for w in plan_warnings(parse(CONFIG)) if w.kind == "steps"]
    (warning,) = [w for w in warnings if w.group["varpi_exponent"] == 0.0]
    assert "d = 1e1000" in warning.message
    # rise of the last signal ~ ln(d / varpi^2) / (2 ln(1.06 / 1.02)) against lambda_3 = 0.2,
    # about 29,950 steps; the guidance reads the bulk's saturated level, 2% lower (the engine
    # measures 29,369 and 29,388 for seeds 0 and 1: tests/store/test_huge_d_sweep.py)
    rise = (1000 * math.log(10) - 2 * math.log(0.5)) / (2 * math.log(1.06 / 1.02))
    assert math.isclose(warning.values["rise_last"], rise, rel_tol=0.03)
    assert f"rises near step {warning.values['rise_last']:.0f}" in warning.message
