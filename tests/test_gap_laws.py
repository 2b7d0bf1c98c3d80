"""mfsim.gap_laws: an eigengap that shrinks with d, as a spectrum option."""

from __future__ import annotations

import math

import pytest

from mfsim.spectra import SpectrumError, spectrum


@pytest.mark.parametrize("log10_d", [2, 20, 300, 5000])
def test_inverse_log_gap_of_every_gap(log10_d):
    """Delta(d) = (lambda_1 / kappa) / ln d, with ln d = log10_d ln 10 written here."""
    spec = spectrum("flat", {"log10": log10_d}, r=3, kappa=5, gap={"law": "inverse_log"})
    expected = 0.2 / (log10_d * math.log(10))
    assert spec.Delta == pytest.approx(expected, rel=1e-9)
    gaps = spec.top_eigenvalues[:-1] - spec.top_eigenvalues[1:]
    assert gaps == pytest.approx([expected] * 3, rel=1e-6)
    assert spec.top(1)[0] == 1.0 and dict(spec.params)["gap"]


def test_power_gap_and_its_limit():
    spec = spectrum("flat", 10**20, r=2, kappa=5, gap={"law": "power", "exponent": 0.05})
    assert spec.Delta == pytest.approx(0.2 * 10 ** (-1.0), rel=1e-9)
    # Delta(1e300) = 2e-16: below what float64 eigenvalues near lambda_1 = 1 resolve
    with pytest.raises(SpectrumError, match=r"Delta\(d\) = 2e-16 at d = 10\^300 is below 1e-12"):
        spectrum("flat", 10**300, r=2, kappa=5, gap={"law": "power", "exponent": 0.05})


def test_last_gap_only_moves_the_bulk_top():
    """shrinks: last keeps lambda_1 - lambda_2 = Delta_0 and puts lambda_3 at lambda_2 -
    Delta_0 / ln d (the bulk's top level approaching lambda_r)."""
    d = 10**40
    spec = spectrum("flat", d, r=2, kappa=5, gap={"law": "inverse_log", "shrinks": "last"})
    lam = spec.top_eigenvalues
    assert lam[0] - lam[1] == pytest.approx(0.2)
    assert lam[1] - lam[2] == pytest.approx(0.2 / (40 * math.log(10)), rel=1e-9)
    assert spec.Delta == pytest.approx(lam[1] - lam[2]) and spec.groups() == [(lam[2], d - 2)]


@pytest.mark.parametrize(
    ("family", "gap", "message"),
    [
        ("flat", {"law": "cubic"}, "spectrum.gap.law = 'cubic'; allowed: inverse_log, power"),
        ("flat", {"law": "power"}, "needs spectrum.gap.exponent"),
        ("flat", {"law": "power", "exponent": -1}, "spectrum.gap.exponent"),
        ("flat", {"law": "inverse_log", "exponent": 1}, "only used by law 'power'"),
        ("flat", {"law": "inverse_log", "bogus": 1}, "unknown key(s) ['bogus']"),
        ("linear", {"law": "inverse_log", "shrinks": "last"}, "for family flat only"),
        ("flat", {"law": "inverse_log", "shrinks": "first"}, "shrinks = 'first'"),
    ],
)
def test_bad_gap_is_named(family, gap, message):
    with pytest.raises(SpectrumError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace("^", r"\^")):  # fmt: skip
        spectrum(family, 1000, r=2, kappa=5, gap=gap)


def test_config_with_a_gap_validates_and_reaches_the_runs():
    from mfsim.config.errors import ConfigError
    from mfsim.config.validate import load_config

    raw = {
        "sweep": "g",
        "spectrum": {"family": "flat", "gap": {"law": "inverse_log"}},
        "grid": {
            "d": [100, 10000],
            "r": [2],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"start": 0, "count": 2},
        },  # fmt: skip
        "run": {"steps": 100},
    }
    from mfsim.config.model import as_sweep_config

    config = as_sweep_config(load_config(raw, results_root=None))
    assert config.spectrum.family_params()["gap"] == {"law": "inverse_log", "shrinks": "all"}
    raw["spectrum"]["gap"] = {"law": "power"}
    with pytest.raises(ConfigError, match="exponent"):
        load_config(raw, results_root=None)
