"""The exact Gram reduction of repeated eigenvalues (issue: d up to 10^12)."""

import numpy as np
import pytest
from scipy import stats

import mfsim

DIAGNOSTICS = (
    "error",
    "signal",
    "noise",
    "sigma1_sq_X",
    "sigma1_sq_K",
    "sigmar_sq_U",
    "sigma1_sq_J",
    "top_gram",
)


@pytest.mark.parametrize("r,group_sizes", [(2, [1, 2, 7, 300]), (3, [2, 3, 40]), (1, [5, 120])])
def test_reduced_equals_plain_given_the_same_x0(r, group_sizes):
    """Groups of size n < r, n = r and n > r; every diagnostic at every step to 1e-10 (relative)."""
    top = list(np.linspace(3.0, 2.0, r + 1))
    values = top + [
        v
        for n, v in zip(group_sizes, np.linspace(1.5, 0.1, len(group_sizes)), strict=True)
        for _ in range(n)
    ]
    spec = mfsim.spectrum("custom", r=r, eigenvalues=values)
    x0 = np.random.default_rng(1).standard_normal((spec.d, r)) * 0.7 / np.sqrt(spec.d)
    kw = dict(eta=0.05, steps=400, X0=x0, stop_error=0, heatmap_steps=range(0, 401, 50))
    plain = mfsim.simulate(spec, reduce=False, **kw)
    reduced = mfsim.simulate(spec, reduce=True, **kw)
    assert reduced.attrs["reduced_engine"] == 1 and plain.attrs["reduced_engine"] == 0
    for name in DIAGNOSTICS:
        a, b = plain[name].values, reduced[name].values
        scale = np.nanmax(np.abs(a)) if name != "noise" else 1.0
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10 * scale, err_msg=name)
    for name in ("rise", "learned", "first_in_S", "first_in_R", "t_eps"):
        np.testing.assert_array_equal(plain[name].values, reduced[name].values)


def test_flat_bulk_at_huge_d_runs_in_seconds_and_is_continuous_in_log_d():
    rises = {}
    for d in (10**4, 10**6, 10**9, 10**12):
        spec = mfsim.spectrum("flat", d, r=2, kappa=5)
        ds = mfsim.simulate(spec, eta=0.1, steps=3000, varpi=0.5, seeds=range(16))
        assert (ds.status == 0).all()
        rises[d] = np.median(ds.rise.sel(k=2).values)
    logs = np.log10(list(rises))
    med = np.array(list(rises.values()))
    # monotone in d and roughly linear in log d: no jump between plain-sized and huge d
    assert np.all(np.diff(med) > 0)
    slopes = np.diff(med) / np.diff(logs)
    assert slopes.max() < 3 * slopes.min()


def test_reduced_and_plain_agree_in_distribution():
    """Stage times over 150 seeds at d = 400: reduced (Bartlett Gram) vs plain (Gaussian X_0).

    Two-sample Kolmogorov-Smirnov test per quantity, rejected at p < 1e-3 (false-alarm rate
    about 3e-3 over the three quantities).
    """
    spec = mfsim.spectrum("flat", 400, r=2, kappa=5)
    kw = dict(eta=0.1, steps=2000, varpi=0.5, seeds=range(150))
    reduced = mfsim.simulate(spec, reduce=True, **kw)
    plain = mfsim.simulate(spec, reduce=False, **kw)
    assert reduced.attrs["reduced_engine"] == 1 and plain.attrs["reduced_engine"] == 0
    for name, k in (("rise", 1), ("rise", 2), ("learned", 2)):
        a = reduced[name].sel(k=k).values
        b = plain[name].sel(k=k).values
        assert np.isfinite(a).all() and np.isfinite(b).all()
        assert not np.array_equal(a, b)  # different random streams
        assert stats.ks_2samp(a, b).pvalue > 1e-3, (name, k)
