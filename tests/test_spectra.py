"""Spectra: the named families, derived quantities and clear errors."""

import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import mfsim
from mfsim.spectra import (
    MAX_EXPLICIT_ROWS,
    STAIRCASE_LEVELS,
    SpectrumError,
    as_dimension,
    check_spectrum_grid,
    max_dimension,
)


def test_figure1_is_the_papers_spectrum():
    spec = mfsim.spectrum("figure1", 4000)
    lam = spec.eigenvalues()
    expected = np.concatenate([[1.0, 0.5], np.linspace(0.3, 0.0, 3998)])
    np.testing.assert_allclose(lam, expected, rtol=0, atol=1e-15)
    assert lam.size == 4000 and spec.r == 2
    assert spec.Delta == pytest.approx(0.2) and spec.kappa == pytest.approx(5.0)


@pytest.mark.parametrize("family", ["linear", "flat"])
@pytest.mark.parametrize("r,kappa", [(1, 1.5), (2, 5.0), (3, 7.0), (10, 40.0)])
def test_kappa_is_a_true_knob(family, r, kappa):
    spec = mfsim.spectrum(family, 500, r=r, kappa=kappa, lambda_1=2.0)
    lam = spec.eigenvalues()
    gaps = lam[:r] - lam[1 : r + 1]
    assert np.all(np.diff(lam) <= 0)
    # realized kappa from the dense eigenvalues, independently of Spectrum.kappa
    assert lam[0] / gaps.min() == pytest.approx(kappa, rel=1e-12)
    assert spec.kappa == pytest.approx(kappa, rel=1e-12)
    if family == "flat":
        assert np.all(lam[r:] == lam[r])


def test_flat_spectrum_at_huge_d_is_segments_only():
    spec = mfsim.spectrum("flat", 10**12, r=2, kappa=5)
    assert len(spec.segments) == 3 and spec.groups() == [(spec.segments[-1].first, 10**12 - 2)]
    with pytest.raises(SpectrumError, match="too large"):
        spec.eigenvalues()


def test_custom_from_list_and_file(tmp_path):
    values = [3.0, 2.0, 1.0, 1.0, 0.5, 0.0]
    spec = mfsim.spectrum("custom", r=2, eigenvalues=values)
    np.testing.assert_array_equal(spec.eigenvalues(), values)
    path = tmp_path / "lam.txt"
    path.write_text("\n".join(map(str, values)))
    assert mfsim.spectrum("custom", r=2, path=path).eigenvalues().tolist() == values


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: mfsim.spectrum("linear", 100, r=3, kappa=2.0), "kappa"),
        (lambda: mfsim.spectrum("flat", 2, r=2, kappa=5.0), "d must be"),
        (lambda: mfsim.spectrum("custom", r=1, eigenvalues=[1.0, -0.5]), ">= 0"),
        (lambda: mfsim.spectrum("custom", r=2, eigenvalues=[1.0, 0.5, 0.5]), "strictly"),
        (lambda: mfsim.spectrum("custom", r=1, eigenvalues=[1.0, 2.0]), "decreasing"),
        (lambda: mfsim.spectrum("custom", r=1, eigenvalues=[1.0, np.nan]), "finite"),
        (lambda: mfsim.spectrum("figure1", 100, r=3), "r must be 2"),
        (lambda: mfsim.spectrum("figure1", 100, kappa=3), "kappa"),
        (lambda: mfsim.spectrum("linear", 100, r=2), "kappa is required"),
        (lambda: mfsim.spectrum("gaussian", 100), "allowed"),
    ],
)
def test_impossible_requests_fail_clearly(call, match):
    with pytest.raises(SpectrumError, match=match):
        call()


def test_bad_eigenvalue_files(tmp_path):
    with pytest.raises(SpectrumError, match="does not exist"):
        mfsim.spectrum("custom", r=1, path=tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("1.0 two 0.1")
    with pytest.raises(SpectrumError, match="line 1: .two. is not a number"):
        mfsim.spectrum("custom", r=1, path=bad)


# ---- exactness of the linear bulk ------------------------------------------------------------


@pytest.mark.parametrize("d", [100, 1000, 4321, 99_999, 100_000, 1_000_003])
@pytest.mark.parametrize("r,kappa", [(1, 1.5), (2, 5.0), (3, 5.0), (3, 7.3), (5, 11.0)])
@pytest.mark.parametrize("bulk_bottom", [0.0, 0.013])
def test_linear_bulk_ends_exactly_at_its_end_point(d, r, kappa, bulk_bottom):
    spec = mfsim.spectrum("linear", d, r=r, kappa=kappa, bulk_bottom=bulk_bottom)
    lam = spec.eigenvalues()
    assert lam.size == d and lam[-1] == bulk_bottom and lam.min() == bulk_bottom
    assert np.all(np.diff(lam) <= 0)
    # against the exact rational values at sampled indices (independent of the segments)
    top = Fraction(1) - r * Fraction(1) / Fraction(kappa)
    lam_r1 = float(1.0 - r * (1.0 / kappa))  # the float the family starts the bulk from
    n = d - r
    for j in [0, 1, n // 3, n // 2, n - 2, n - 1]:
        exact = Fraction(lam_r1) - (Fraction(lam_r1) - Fraction(bulk_bottom)) * Fraction(j, n - 1)
        assert abs(lam[r + j] - float(exact)) <= 4 * np.spacing(lam_r1), j
    assert abs(lam_r1 - float(top)) < 1e-15


def test_the_issue_spectra_build():
    spec = mfsim.spectrum("linear", 100000, r=3, kappa=5)
    assert spec.segments[-1].first == 0.0 and spec.top(4)[-1] == pytest.approx(0.4)
    figure1 = mfsim.spectrum("figure1", 4001)
    assert figure1.eigenvalues()[-1] == 0.0 and figure1.eigenvalues().min() == 0.0


# ---- d of any size ---------------------------------------------------------------------------


@pytest.mark.parametrize("given", [10**300, 1e300, {"log10": 300}, {"log10": 300.0}])
def test_d_up_to_10_to_the_300_in_every_form(given):
    spec = mfsim.spectrum("flat", given, r=2, kappa=5)
    expected = int(1e300) if isinstance(given, float) else 10**300
    assert type(spec.d) is int and spec.d == expected
    assert spec.log10_d == pytest.approx(300.0, abs=1e-12)
    assert sum(s.count for s in spec.segments) == spec.d  # exact integer bookkeeping
    stair = mfsim.spectrum("staircase", given, r=3, kappa=5)
    assert stair.d == expected and len(stair.segments) == 4 + STAIRCASE_LEVELS
    assert sum(s.count for s in stair.segments) == stair.d


@pytest.mark.parametrize("x", [0.5, 2.5, 12.5, 250.5])
def test_log10_form_is_the_nearest_integer(x):
    # 10^(m + 1/2) = sqrt(10^(2m+1)): the nearest integer n satisfies (2n-1)^2 < 4 N < (2n+1)^2
    d = as_dimension({"log10": x})
    big = 10 ** int(2 * x)
    assert (2 * d - 1) ** 2 < 4 * big < (2 * d + 1) ** 2


def test_log10_form_non_half_values_against_integer_powers():
    d = as_dimension({"log10": 12.3})
    # 10^12.3 = 1995262314968.88...: the nearest integer, by integer arithmetic on 10^123 = d^10
    assert d == 1995262314969
    assert (d - 1) ** 10 < 10**123 < (d + 1) ** 10


@pytest.mark.parametrize(
    "bad,match",
    [
        (True, "integer"),
        (1.5, "integer"),
        (float("nan"), "integer"),
        (-3, ">= 1"),
        ("100", "integer"),
        ({"log10": 10001}, r"\[0, 10000\]"),
        ({"log": 3}, "log10"),
        ({"log10": float("inf")}, "finite"),
        pytest.param(10**10001, "largest supported d", id="10^10001"),
    ],
)
def test_bad_dimensions_fail_clearly(bad, match):
    with pytest.raises(SpectrumError, match=match):
        mfsim.spectrum("flat", bad, r=2, kappa=5)


@pytest.mark.parametrize("family", ["linear", "figure1"])
def test_families_with_explicit_rows_name_their_largest_d(family):
    kappa = None if family == "figure1" else 5
    started = time.perf_counter()
    with pytest.raises(SpectrumError, match=r"d = 1\.000000e\+30.*50000000"):
        mfsim.spectrum(family, 10**30, r=2, kappa=kappa)
    assert time.perf_counter() - started < 1.0  # before any work
    assert max_dimension(family) == MAX_EXPLICIT_ROWS
    assert max_dimension("flat") == max_dimension("staircase") == 10**10000
    assert mfsim.spectrum(family, MAX_EXPLICIT_ROWS, r=2, kappa=kappa).d == MAX_EXPLICIT_ROWS


# ---- grids -----------------------------------------------------------------------------------


def test_check_spectrum_grid_builds_every_point_and_names_the_failing_one():
    count = check_spectrum_grid("linear", [100, 10**5], [2, 3], [5.0, 10.0], lambda_1=1.0)
    assert count == 8
    with pytest.raises(SpectrumError, match=r"d = 100, r = 3, kappa = 2.0.*kappa"):
        check_spectrum_grid("linear", [100], [2, 3], [2.0])
    with pytest.raises(SpectrumError, match=r"d = 1000000000000.*largest d"):
        check_spectrum_grid("linear", [100, 10**12], [2], [5.0])
    assert check_spectrum_grid("flat", [{"log10": x} for x in range(2, 301, 2)], [2, 3], [5]) == 300


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_named_config_builds_a_valid_spectrum_at_every_grid_point(path, monkeypatch):
    from mfsim.config import parse

    monkeypatch.chdir(path.parents[1])  # eigenvalue files are relative to the project
    config = parse(path)
    axes = config.grid.axes
    family, params = config.spectrum.family, config.spectrum.family_params()
    count = check_spectrum_grid(family, axes["d"], axes["r"], axes["kappa"], **params)
    assert count == len(axes["d"]) * len(axes["r"]) * len(axes["kappa"]) > 0
    for d in axes["d"]:
        for r in axes["r"]:
            for kappa in axes["kappa"]:
                spec = mfsim.spectrum(family, d, r=r, kappa=kappa, **params)
                if spec.d <= 10**6:  # independent check on the materialized eigenvalues
                    lam = spec.eigenvalues()
                    assert lam.min() >= 0 and np.all(np.diff(lam) <= 0)
                    assert lam[r - 1] > lam[r]  # ties only among the top r (spectrum_ties)


# ---- staircase structure ---------------------------------------------------------------------


@pytest.mark.parametrize("d,r,levels", [(1000, 2, 32), (10_007, 3, 7), (36, 2, 33), (5000, 1, 1)])
def test_staircase_levels_are_block_means_of_the_linear_bulk(d, r, levels):
    stair = mfsim.spectrum("staircase", d, r=r, kappa=5, levels=levels)
    linear = mfsim.spectrum("linear", d, r=r, kappa=5)
    lam_s, lam_l = stair.eigenvalues(), linear.eigenvalues()
    np.testing.assert_array_equal(lam_s[: r + 1], lam_l[: r + 1])  # lambda_{r+1} included
    assert stair.Delta == linear.Delta and stair.kappa == linear.kappa
    bulk = stair.segments[r + 1 :]
    counts = [s.count for s in bulk]
    assert len(bulk) == levels and sum(counts) == d - r - 1 and max(counts) - min(counts) <= 1
    start = r + 1
    for seg in bulk:  # each level is the mean of the linear values it replaces
        block = lam_l[start : start + seg.count].astype(np.longdouble)
        assert seg.increment == 0.0
        assert abs(seg.first - float(block.mean())) <= 4 * np.spacing(lam_l[r])
        start += seg.count
    assert abs(lam_s.sum() - lam_l.sum()) <= 1e-12 * d


def test_staircase_cost_is_independent_of_d():
    from mfsim.engine.initialization import effective_system

    rows = {
        effective_system(mfsim.spectrum("staircase", d, r=2, kappa=5), "auto").n_rows
        for d in (10**4, 10**6, 10**30, 10**300)
    }
    assert rows == {3 + 2 * STAIRCASE_LEVELS}  # rows 1..3 explicit, r per level


def test_staircase_needs_enough_bulk_rows():
    with pytest.raises(SpectrumError, match="levels"):
        mfsim.spectrum("staircase", 34, r=2, kappa=5, levels=32)
    assert mfsim.spectrum("staircase", 35, r=2, kappa=5, levels=32).d == 35
    with pytest.raises(SpectrumError, match="levels = 0 is out of range; allowed: an integer >= 1"):
        mfsim.spectrum("staircase", 200, r=2, kappa=5, levels=0)


# ---- compression of custom lists ---------------------------------------------------------------


@pytest.mark.parametrize(
    "family,d,r,kwargs",
    [
        ("figure1", 1_000_003, 2, {}),
        ("linear", 1_000_000, 2, {"kappa": 4.0}),
        ("linear", 99_999, 3, {"kappa": 5.0}),
        ("linear", 100_000, 5, {"kappa": 7.3, "bulk_bottom": 0.1}),
        ("linear", 1_000_000, 10, {"kappa": 20.0}),
        ("linear", 4321, 16, {"kappa": 40.0, "lambda_1": 2.7}),
        ("flat", 100_000, 2, {"kappa": 4.0}),
        ("staircase", 100_000, 2, {"kappa": 5.0}),
    ],
)
def test_custom_list_of_a_named_family_compresses_to_its_segments(family, d, r, kwargs):
    named = mfsim.spectrum(family, d, r=r, **kwargs)
    lam = named.eigenvalues()
    custom = mfsim.spectrum("custom", r=r, eigenvalues=lam)
    # every value bit for bit, as Segment.values evaluates it
    assert custom.eigenvalues().view(np.int64).tolist() == lam.view(np.int64).tolist()
    assert len(custom.segments) <= len(named.segments) + 1
    # runs of equal values stay groups (the exact Gram reduction)
    assert custom.groups() == named.groups()


def test_compression_of_mixed_and_random_lists_is_exact():
    rng = np.random.default_rng(3)
    head = 5.0 + (-1.0 / 7.0) * np.arange(10.0)  # an arithmetic run
    flat = np.full(50, head[-1] - 0.5)  # a group
    noise = np.sort(rng.uniform(0.0, 2.5, 200))[::-1]  # nothing to compress
    linear = np.linspace(3.0, 2.901, 100)  # another run (numpy's start + step * j)
    lam = np.sort(np.concatenate([head, flat, linear, noise]))[::-1]
    spec = mfsim.spectrum("custom", r=2, eigenvalues=lam)
    assert spec.eigenvalues().view(np.int64).tolist() == lam.view(np.int64).tolist()
    assert spec.groups() == [(head[-1] - 0.5, 50)]
    # 200 single rows, one segment per run (the head's last value may start the group's
    # neighbour run instead): 204 at most
    assert len(spec.segments) <= 204


@pytest.mark.parametrize("d", [7, 1000, 123_457])
def test_linspace_list_is_one_or_two_segments(d):
    lam = np.linspace(2.5, 0.01, d)
    spec = mfsim.spectrum("custom", r=1, eigenvalues=lam)
    assert spec.eigenvalues().view(np.int64).tolist() == lam.view(np.int64).tolist()
    assert len(spec.segments) <= 2


def test_compression_keeps_tiny_and_zero_values_exact():
    lam = np.array([1.0, 1e-300, 5e-324, 0.0, 0.0])
    spec = mfsim.spectrum("custom", r=1, eigenvalues=lam)
    assert spec.eigenvalues().view(np.int64).tolist() == lam.view(np.int64).tolist()
