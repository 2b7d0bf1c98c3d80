"""The paragraph on ties: verdicts follow the fits, measured and predicted are told apart."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mfsim.output.finding_ties import slope_verdict, sweep_tie_note, ties_paragraph


def _row(gap, sep_slope, sep_se, predicted, medians):
    fit = {"slope": 12.0, "se": 0.2, "intercept": 0.0, "n": 100}
    return {
        "gap": gap,
        "d_min": 100.0,
        "d_max": 1e12,
        "n_seeds": 32,
        "separation": {"slope": sep_slope, "se": sep_se, "intercept": 0.0, "n": 100},
        "separation_median": medians,
        "learned_1": fit,
        "t_eps": fit,
        "eps": 0.01,
        "predicted_separation": predicted,
        "predicted_learned_1": 12.75,
    }


def test_verdicts_follow_two_standard_errors():
    flat = slope_verdict({"slope": 0.3, "se": 0.2}, 0.0)
    assert "consistent with no growth" in flat and "as the small-signal" in flat
    grows = slope_verdict({"slope": 4.9, "se": 0.2}, 4.16)
    assert "growing" in grows and "predicts 4.16" in grows
    assert "not determined" in slope_verdict({"slope": float("nan"), "se": float("nan")}, 0.0)


def test_the_paragraph_opens_with_the_tie_and_names_every_gap():
    rows = [_row(0.0, 0.1, 0.3, 0.0, [40, 34, 36]), _row(0.1, 4.9, 0.2, 4.16, [41, 90, 155])]
    text = ties_paragraph(rows, "flat bulk, r = 2")
    assert text.startswith("What ties do to the stages (flat bulk, r = 2; d = 100..10^12")
    assert "medians of 34 to 40 steps" in text and "consistent with no growth" in text
    assert "delta = 0.1 (distinct rows) the separation goes from 41 to 155 steps" in text
    assert "Measured" in text and "predicts 4.16" in text
    assert "difference 0 ± 0.283, within two standard errors" in text  # learned_1 slopes


def test_first_stage_slopes_apart_are_said_to_be_apart():
    tie, wide = _row(0.0, 0.1, 0.3, 0.0, [40, 34]), _row(0.1, 4.9, 0.2, 4.16, [41, 155])
    wide["learned_1"] = {"slope": 11.0, "se": 0.2, "intercept": 0.0, "n": 100}
    assert "difference 1 ± 0.283, apart" in ties_paragraph([tie, wide], "x")


def test_without_a_tie_the_paragraph_is_refused():
    with pytest.raises(ValueError, match="need a gap of 0"):
        ties_paragraph([_row(0.1, 1.0, 0.1, 1.0, [1, 2])], "x")


def _sweep(top, separation_slope):
    """A synthetic sweep: learned_1 = 100 + 13 ln d, learned_2 = learned_1 + 30 +
    separation_slope ln d, plus seed noise of 2 steps."""
    d = np.array([1e2, 1e4, 1e6, 1e8])
    rng = np.random.default_rng(1)
    first = 100 + 13 * np.log(d)[:, None] + rng.normal(0, 2, (4, 32))
    second = first + 30 + separation_slope * np.log(d)[:, None] + rng.normal(0, 2, (4, 32))
    learned = np.stack([first, second], axis=-1)[:, None]  # (d, kappa, seed, k)
    return xr.Dataset(
        {"learned": (("d", "kappa", "seed", "k"), learned)},
        coords={"d": d, "kappa": [5.0], "seed": np.arange(32), "k": [1, 2],
                "lambda_k": (("kappa", "k"), [top])},
    )  # fmt: skip


def test_the_sweep_note_fits_the_separation_of_the_tied_stages():
    flat = sweep_tie_note(_sweep([1.0, 1.0], 0.0))
    assert "d = 100..10^8" in flat and "consistent with no growth" in flat
    growing = sweep_tie_note(_sweep([1.0, 1.0], 3.0))
    slope = float(growing.split("slope ")[1].split(" ")[0])
    assert abs(slope - 3.0) < 0.2 and "growing" in growing


def test_the_sweep_note_is_empty_without_ties():
    assert sweep_tie_note(_sweep([1.0, 0.8], 3.0)) == ""
    assert sweep_tie_note(_sweep([1.0, 1.0], 3.0).drop_vars("lambda_k")) == ""
