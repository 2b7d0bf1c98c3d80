"""The ``continuous`` family (mfsim/bulk_levels.py): continuous bulks reduced to levels graded
toward the top edge, with the level count chosen from a tolerance (issue 19, item 2).

Independent checks: the cells against exact counting of the linear family's values and against
scipy's quadrature of the Marchenko-Pastur density; the edge shift against its closed form for a
uniform density; the stage-time distributions against the explicit (unreduced) ``linear`` family
at d = 10^4 (two-sample Kolmogorov-Smirnov tests, disjoint seeds); convergence in the level
count at d = 10^300 (medians and slopes change by less than the tolerance when G doubles).
The d = 10^5 comparison and the r = 3 one at 10^4 are scenario tests (dense runs).
"""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import ks_2samp

import mfsim
from mfsim.bulk_levels import (
    MAX_LEVELS,
    bulk_cells,
    cell_boundaries,
    edge_shift,
    levels_for_tolerance,
)
from mfsim.spectra import SpectrumError

RUN = dict(eta=0.1, varpi=0.5, stop_error=1e-10, record_num=2)


# ---- structure -----------------------------------------------------------------------------


@pytest.mark.parametrize("bulk", ["linear", "marchenko_pastur", "figure1"])
@pytest.mark.parametrize("log10_d", [2, 4, 300, 10_000])
def test_levels_are_exact_counts_of_the_bulk(bulk, log10_d):
    r = 2
    kw = {} if bulk == "figure1" else {"kappa": 5}
    spec = mfsim.spectrum("continuous", {"log10": log10_d}, r=r, bulk=bulk, **kw)
    top = spec.top(r + 1)
    a = 0.3 if bulk == "figure1" else 0.6
    assert top[-1] == a  # lambda_{r+1} is the bulk's top edge, one row
    levels = spec.segments[r + 1 :]
    assert sum(s.count for s in levels) == spec.d - r - 1  # the multiplicities are all of d
    values = [s.first for s in levels]
    assert all(u > v for u, v in zip([a, *values], values, strict=False))
    assert len(levels) <= dict(spec.params)["levels"]
    reference = mfsim.spectrum("linear", 10**4, r=2, kappa=5)
    if bulk == "linear" and log10_d == 4:  # levels keep the linear family's trace
        assert math.isclose(
            sum(s.first * s.count for s in spec.segments),
            float(np.sum(reference.eigenvalues())),
            rel_tol=1e-12,
        )


def test_fine_levels_of_a_small_linear_bulk_are_the_linear_family():
    # enough levels that every cell holds at most one value: the linear family's eigenvalues
    d = 200
    spec = mfsim.spectrum("continuous", d, r=2, kappa=5, levels=4096)
    linear = mfsim.spectrum("linear", d, r=2, kappa=5).eigenvalues()
    values = np.concatenate([np.full(s.count, s.first) for s in spec.segments])
    assert values.size == d
    np.testing.assert_allclose(values, linear, rtol=0, atol=1e-15)


def test_linear_cell_counts_by_direct_counting():
    n, top, bottom = 1001, 0.6, 0.0
    b = cell_boundaries(top - bottom, math.log(n), 0.2, 12)
    counts, values = bulk_cells("linear", top, bottom, n, b)
    u = (top - bottom) * np.arange(1, n) / (n - 1)  # distances of values 1..n-1 below top
    direct = np.histogram(u, bins=b)[0]
    direct[-1] += 0  # numpy's last bin is closed, as are the family's cells
    assert counts == [int(c) for c in direct if c > 0]
    means = [top - u[(u > lo) & (u <= hi)].mean() for lo, hi in zip(b[:-1], b[1:], strict=True)]
    means = [m for m, c in zip(means, direct, strict=True) if c > 0]
    np.testing.assert_allclose(values, means, rtol=1e-12)


def test_marchenko_pastur_cells_match_scipy_quadrature():
    top, ratio, m = 0.6, 0.25, 10**300
    low = top * ((1 - math.sqrt(ratio)) / (1 + math.sqrt(ratio))) ** 2
    b = cell_boundaries(top - low, 300 * math.log(10), 0.2, 16)
    counts, values = bulk_cells("marchenko_pastur", top, 0.0, m + 1, b, mp_ratio=ratio)

    def density(x):
        return math.sqrt(max((top - x) * (x - low), 0.0)) / x

    total = integrate.quad(density, low, top, epsabs=0, epsrel=1e-13, limit=200)[0]
    for j, (count, value) in enumerate(zip(counts, values, strict=True)):
        hi, lo = top - b[j], top - b[j + 1]
        mass = integrate.quad(density, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
        first = integrate.quad(lambda x: x * density(x), lo, hi, epsabs=0, epsrel=1e-12)[0]
        assert math.isclose(count / m, mass / total, rel_tol=1e-9)
        assert math.isclose(value, first / mass, rel_tol=1e-11)
    # square-root edge: the mass within u of the top grows like u^(3/2)
    first_cells = np.array([sum(counts[: j + 1]) / m for j in range(4)])
    ratios = first_cells / b[1:5] ** 1.5
    np.testing.assert_allclose(ratios, ratios[0], rtol=0.01)


def test_edge_shift_converges_to_the_uniform_closed_form():
    span, n = 0.6, 10**300
    tau = np.array([0.0, 1.0, 30.0, 500.0, 3000.0])
    # uniform density on [0, span]: ubar = 1/tau - span / (exp(tau span) - 1), span/2 at 0;
    # at tau = 3000 the correction is e^-1800 (and exp overflows)
    exact = np.array([span / 2] + [1 / t - span / math.expm1(t * span) for t in tau[1:4]])
    exact = np.append(exact, 1 / tau[4])
    errors = []
    for levels in (32, 64, 128):
        counts, values = bulk_cells(
            "linear", span, 0.0, n, cell_boundaries(span, 690.8, 0.2, levels)
        )
        errors.append(np.max(np.abs(edge_shift(counts, values, span, tau) - exact) / exact))
    assert errors[2] < 2e-3
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3  # second order in 1 / G


def test_level_count_grows_with_the_precision_asked_and_is_capped():
    counts = [
        levels_for_tolerance("linear", 0.6, 0.0, 10**300, 690.8, 0.2, tol)
        for tol in (0.1, 0.01, 0.001)
    ]
    assert counts[0] <= counts[1] < counts[2]
    with pytest.raises(SpectrumError, match="bulk_tolerance"):
        levels_for_tolerance("linear", 0.6, 0.0, 10**6, 13.8, 0.2, 1e-12, error=SpectrumError)
    assert MAX_LEVELS >= 1024


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bulk": "semicircle", "kappa": 5}, "bulk = 'semicircle'"),
        ({"bulk": "linear", "kappa": 5, "bulk_tolerance": 0.0}, "bulk_tolerance"),
        ({"bulk": "linear", "kappa": 5, "bulk_tolerance": float("nan")}, "bulk_tolerance"),
        ({"bulk": "marchenko_pastur", "kappa": 5, "mp_ratio": 1.5}, "mp_ratio"),
        ({"bulk": "linear", "kappa": 5, "levels": 0}, "levels"),
        ({"bulk": "linear", "kappa": 5, "bulk_bottom": 0.6}, "bulk_bottom"),
        ({"bulk": "figure1", "kappa": 5}, "kappa"),
        ({"bulk": "marchenko_pastur", "kappa": 5, "bulk_bottom": 0.1}, "bulk_bottom = 0.1"),
        ({"bulk": "linear"}, "kappa"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(SpectrumError, match=match):
        mfsim.spectrum("continuous", 10**6, r=2, **kwargs)


# ---- convergence in the level count ------------------------------------------------------------


def _medians(log10_d, levels, seeds, r=2):
    spec = mfsim.spectrum("continuous", {"log10": log10_d}, r=r, kappa=5, levels=levels)
    steps = int(27 * log10_d * math.log(10)) + 3000
    ds = mfsim.simulate(spec, steps=steps, seeds=seeds, **RUN)
    assert ds.attrs["reduced_engine"] == 1
    rise = np.median(ds["rise"].values, axis=0)
    star = np.median(ds["t_k_star"].values[:, :-1], axis=0)  # t_r^* has no later signal
    return np.concatenate([rise, star])


def test_stage_medians_and_slopes_converge_when_the_level_count_doubles():
    # d = 10^300 (t_1^* measured, not bound-dominated, from about 10^150): every level holds
    # ~10^298 rows, so its initial Gram matrix is its mean to ~1e-149, and the same seeds give
    # the same top rows at every level count: the change is the reduction's, not seed noise.
    # (At d = 10^4 the levels' draws are re-sampled when the cells change;
    # benchmarks/bulk_convergence.py measures it there with more seeds.)
    log10_d, tolerance = 300, 0.01
    chosen = dict(
        mfsim.spectrum(
            "continuous", {"log10": log10_d}, r=2, kappa=5, bulk_tolerance=tolerance
        ).params
    )["levels"]
    seeds = range(8)
    delta = 30
    got = {}
    for levels in (chosen, 2 * chosen):
        rows = [_medians(x, levels, seeds) for x in (log10_d - delta, log10_d + delta)]
        slope = (rows[1] - rows[0]) / (2 * delta * math.log(10))
        got[levels] = np.concatenate([_medians(log10_d, levels, seeds), slope])
    a, b = got[chosen], got[2 * chosen]
    assert np.all(np.isfinite(a)) and np.all(a > 0)
    assert np.all(np.abs(a - b) <= tolerance * np.abs(b)), (a, b)
    # and the 32-level staircase is not within the tolerance (the test can fail)
    stair = mfsim.spectrum("staircase", {"log10": log10_d}, r=2, kappa=5)
    ds = mfsim.simulate(stair, steps=22000, seeds=seeds, **RUN)
    rise = np.median(ds["rise"].values, axis=0)
    assert np.max(np.abs(rise - b[:2]) / b[:2]) > 2 * tolerance


# ---- against the explicit linear family ------------------------------------------------------

QUANTITIES = {2: ["rise1", "rise2", "learned1", "learned2", "escape1", "t_k_star1"]}
QUANTITIES[3] = ["rise1", "rise2", "rise3", "learned1", "learned3", "escape2", "t_k_star2"]


def _samples(ds, name):
    quantity, k = name[:-1], int(name[-1])
    values = ds[quantity].sel(k=k).values
    assert np.isfinite(values).all(), name
    return values


def _compare(d, r, n_seeds, steps):
    linear = mfsim.simulate(
        mfsim.spectrum("linear", d, r=r, kappa=5), steps=steps, seeds=range(n_seeds), **RUN
    )
    spec = mfsim.spectrum("continuous", d, r=r, kappa=5)
    seeds = range(20_000, 20_000 + n_seeds)
    reduced = mfsim.simulate(spec, steps=steps, seeds=seeds, **RUN)
    assert linear.attrs["reduced_engine"] == 0 and reduced.attrs["reduced_engine"] == 1
    return linear, reduced, seeds


# r = 3 doubles the cost (dense runs): a scenario test
@pytest.fixture(scope="module", params=[2, pytest.param(3, marks=pytest.mark.scenario)])
def at_1e4(request):
    r = request.param
    return (r, *_compare(10_000, r, 128, 4000))


def test_stage_times_match_the_explicit_linear_family_at_1e4(at_1e4):
    r, linear, reduced, seeds = at_1e4
    alpha = 0.01 / sum(len(v) for v in QUANTITIES.values())
    for name in QUANTITIES[r]:
        p = ks_2samp(_samples(linear, name), _samples(reduced, name)).pvalue
        assert p > alpha, f"r = {r}, {name}: p = {p:.2e}"


def test_the_comparison_rejects_other_bulks_at_1e4(at_1e4):
    # power: the same tests, at the same level, reject a square-root edge with the same top
    # (fewer rows near the edge), and a flat bulk outright
    r, linear, _, seeds = at_1e4
    alpha = 0.01 / sum(len(v) for v in QUANTITIES.values())
    spec = mfsim.spectrum("continuous", 10_000, r=r, kappa=5, bulk="marchenko_pastur")
    other = mfsim.simulate(spec, steps=4000, seeds=seeds, **RUN)
    p = [ks_2samp(_samples(linear, q), _samples(other, q)).pvalue for q in QUANTITIES[r]]
    assert min(p) < alpha
    flat = mfsim.spectrum("flat", 10_000, r=r, kappa=5)
    flat_runs = mfsim.simulate(flat, steps=4000, seeds=seeds, **RUN)
    assert ks_2samp(_samples(linear, "rise1"), _samples(flat_runs, "rise1")).pvalue < 1e-6


@pytest.mark.scenario
def test_stage_times_match_the_explicit_linear_family_at_1e5():
    linear, reduced, _ = _compare(100_000, 2, 256, 5000)
    for name in QUANTITIES[2]:
        p = ks_2samp(_samples(linear, name), _samples(reduced, name)).pvalue
        assert p > 0.01 / len(QUANTITIES[2]), f"{name}: p = {p:.2e}"
