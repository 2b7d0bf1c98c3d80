"""Every per-step diagnostic against an extended-precision reference (docs/accuracy.md).

The references are written here, independently of the engine: GD on the dense rows in
np.longdouble (or mpmath at 50 digits for the reduced system at huge d), every diagnostic from its
definition (noise_k from the projections x_i . u_k, sigma_r(U) from an SVD, largest eigenvalues
of the Gram matrices), no Gram shortcut for the noise.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import mfsim
from mfsim.engine import kernels
from mfsim.engine.initialization import check_dimension, effective_system, initial_state

NAMES = ("error", "signal", "noise", "sigma1_sq_X", "sigma1_sq_K", "sigmar_sq_U", "sigma1_sq_J")


def _largest_eig(gram) -> float:
    # the largest eigenvalue of a PSD matrix is perfectly conditioned relative to itself: float64
    # LAPACK on the (correctly rounded) extended-precision Gram is accurate to a few eps
    return float(np.linalg.eigvalsh(np.asarray(gram, dtype=np.float64))[-1])


def _mp(v):
    """The exact value of a float64 or longdouble number as an mpf."""
    hi = float(v)
    return mpmath.mpf(hi) + mpmath.mpf(float(v - type(v)(hi)))


def _entries(m):
    return [m[i] for i in range(m.rows)]


def _sigma_min_sq(u) -> float:
    with mpmath.workdps(40):
        a = mpmath.matrix([[_mp(v) for v in row] for row in u])
        return float(min(_entries(mpmath.svd_r(a, compute_uv=False))) ** 2)


def _dense_trajectory(x0, lam, eta, steps, r, dtype):
    """GD on the dense rows in ``dtype``; the diagnostics of every step from their definitions."""
    x = np.array(x0, dtype=dtype)
    lam_col = np.asarray(lam, dtype=dtype)[:, None]
    eta = dtype(eta)
    target = np.zeros((r, r), dtype=dtype)
    target[np.diag_indices(r)] = np.asarray(lam[:r], dtype=dtype)
    out = {
        name: np.empty((steps + 1, r) if name in ("signal", "noise", "sigma1_sq_K") else steps + 1)
        for name in NAMES
    }
    for t in range(steps + 1):
        u, j = x[:r], x[r:]
        top = target - u @ u.T
        cross = u @ j.T
        bulk = j.T @ j  # ||J J^T||_F = ||J^T J||_F
        out["error"][t] = float(np.sqrt(np.sum(top**2) + 2 * np.sum(cross**2) + np.sum(bulk**2)))
        for k in range(r):
            out["signal"][t, k] = float(np.sum(x[k] ** 2))
            proj = x[k + 1 :] @ x[k]
            out["noise"][t, k] = float(np.sqrt(np.sum(proj**2)))
            out["sigma1_sq_K"][t, k] = _largest_eig(x[k + 1 :].T @ x[k + 1 :])
        out["sigma1_sq_X"][t] = _largest_eig(x.T @ x)
        out["sigma1_sq_J"][t] = _largest_eig(bulk)
        out["sigmar_sq_U"][t] = _sigma_min_sq(u)
        x = x + eta * (lam_col * x - x @ (x.T @ x))
    return out


def _engine(ds):
    out = {}
    for name in NAMES:
        v = ds[name].values[0]
        out[name] = v.T if v.ndim == 2 else v
    return out


CASES = [
    # (family, d, r, kappa, eta, steps, saddle row (0-based) started at 1e-40 of the scale or None)
    ("figure1", 4000, 2, None, 0.1, 600, None),
    ("figure1", 200, 2, None, 0.1, 1500, 1),
    ("linear", 1000, 3, 6.0, 0.1, 700, None),
    ("linear", 600, 3, 6.0, 0.1, 1500, 2),
    ("linear", 500, 5, 10.0, 0.1, 600, None),
    ("flat", 300, 1, 2.0, 0.1, 400, None),
    ("linear", 800, 2, 4.0, 0.05, 2000, 1),
]


@pytest.mark.parametrize(("family", "d", "r", "kappa", "eta", "steps", "saddle"), CASES)
def test_every_diagnostic_equals_the_extended_reference_where_float64_resolves_it(
    family, d, r, kappa, eta, steps, saddle
):
    spec = mfsim.spectrum(family, d, r=r, kappa=kappa)
    lam = spec.eigenvalues()
    rng = np.random.default_rng(d + 10 * r)
    x0 = rng.standard_normal((d, r)) * 0.5 / np.sqrt(d)
    if saddle is not None:
        x0[saddle] *= 1e-40
    ds = mfsim.simulate(spec, eta=eta, steps=steps, X0=x0, stop_error=0)
    got = _engine(ds)
    plain = _dense_trajectory(x0, lam, eta, steps, r, np.float64)
    ext = _dense_trajectory(x0, lam, eta, steps, r, np.longdouble)
    checked = 0
    for name in NAMES:
        e = ext[name]
        # resolved: the plain float64 trajectory agrees to 1e-10 here and at every earlier step
        # (a float64 trajectory's relative error in a decaying quantity grows with time: a step
        # where it agrees again by chance is not resolved)
        plain_ok = np.abs(plain[name] - e) <= 1e-10 * np.abs(e)
        resolved = np.logical_and.accumulate(plain_ok, axis=0)
        bad = resolved & ~(np.abs(got[name] - e) <= 1e-9 * np.abs(e))
        assert not bad.any(), (name, np.argwhere(bad)[:5], got[name][bad][:5], e[bad][:5])
        checked += resolved.sum()
    assert checked > 0.6 * sum(v.size for v in ext.values())
    if saddle is not None:  # the saddle's small values were checked, not skipped
        k = saddle
        small = ext["signal"][:, k] < 1e-60
        assert small.sum() > 50
        rel = np.abs(got["signal"][small, k] / ext["signal"][small, k] - 1)
        assert rel.max() <= 1e-9
        rel = np.abs(got["noise"][small, k] / ext["noise"][small, k] - 1)
        assert rel.max() <= 1e-9


def test_noise_floor_bounds_the_rounding_of_the_noise():
    """Where the float64 noise leaves the extended-precision value, it does so below the floor."""
    spec = mfsim.spectrum("figure1", 2000)
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((2000, 2)) * 0.5 / np.sqrt(2000)
    steps = 900
    ds = mfsim.simulate(spec, eta=0.1, steps=steps, X0=x0, stop_error=0)
    ext = _dense_trajectory(x0, spec.eigenvalues(), 0.1, steps, 2, np.longdouble)
    got = ds.noise.values[0].T
    floor = ds.noise_floor.values[0].T
    deviation = np.abs(got - ext["noise"])
    assert np.all(deviation <= floor + 1e-9 * ext["noise"])
    # the run reaches the floor: noise_1 falls below it, and is not resolved there
    assert np.any(ext["noise"][:, 0] < floor[:, 0])


def test_noise_decays_geometrically_on_figure1_runs():
    """Issue 13: noise_1 at stop_error = 0, steps 300..450, 16 seeds: noise(t) / noise(t + 25)
    within 5% of its median over the window."""
    spec = mfsim.spectrum("figure1", 4000)
    ds = mfsim.simulate(spec, eta=0.1, steps=450, varpi=0.5, seeds=range(16), stop_error=0)
    noise = ds.noise.sel(k=1, step=np.arange(300, 451, 25)).values
    assert np.all(noise > ds.noise_floor.sel(k=1, step=np.arange(300, 451, 25)).values)
    ratio = noise[:, :-1] / noise[:, 1:]
    med = np.median(ratio, axis=1, keepdims=True)
    assert np.all(med > 1.5)
    assert np.all(np.abs(ratio / med - 1) <= 0.05), ratio / med


# --------------------------------------------------------------------------------------------
# huge d: the reduced flat bulk at d = 10^200 and 10^300
# --------------------------------------------------------------------------------------------


def _rows(x, i0):
    return mpmath.matrix([[x[i, c] for c in range(x.cols)] for i in range(i0, x.rows)])


def _top(x, r):
    return mpmath.matrix([[x[i, c] for c in range(x.cols)] for i in range(r)])


def _mp_reduced_reference(spec, seed, eta, steps, record):
    """GD on the effective rows of the reduced system in mpmath (50 digits), diagnostics from
    their definitions at the steps in ``record``."""
    r = spec.r
    system = effective_system(spec, True)
    x0 = initial_state(system, 0.5, seed)
    lam = np.concatenate([s.values() for s in system.segments])
    top = spec.top(r)
    record = set(int(t) for t in record)
    out = {name: {} for name in NAMES}
    with mpmath.workdps(50):
        x = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in x0])
        lam_mp = [mpmath.mpf(float(v)) for v in lam]
        eta_mp = mpmath.mpf(eta)
        n = x.rows
        for t in range(steps + 1):
            if t in record:
                g = x.T * x
                dot = [
                    [mpmath.fsum(x[i, c] * x[k, c] for c in range(r)) for k in range(n)]
                    for i in range(n)
                ]
                err = mpmath.mpf(0)
                for i in range(n):
                    for k in range(n):
                        want = mpmath.mpf(float(top[i])) if (i == k and i < r) else 0
                        err += (want - dot[i][k]) ** 2
                out["error"][t] = mpmath.sqrt(err)
                out["signal"][t] = [dot[k][k] for k in range(r)]
                out["noise"][t] = [
                    mpmath.sqrt(mpmath.fsum(dot[i][k] ** 2 for i in range(k + 1, n)))
                    for k in range(r)
                ]
                out["sigma1_sq_X"][t] = max(_entries(mpmath.eigsy(g, eigvals_only=True)))
                out["sigma1_sq_K"][t] = [
                    max(_entries(mpmath.eigsy(_rows(x, k + 1).T * _rows(x, k + 1), True)))
                    for k in range(r)
                ]
                out["sigma1_sq_J"][t] = max(
                    _entries(mpmath.eigsy(_rows(x, r).T * _rows(x, r), True))
                )
                out["sigmar_sq_U"][t] = (
                    min(_entries(mpmath.svd_r(_top(x, r), compute_uv=False))) ** 2
                )
            step = x.T * x
            x = x + eta_mp * (mpmath.diag(lam_mp) * x - x * step)
    return out


def test_reduced_engine_at_d_1e200_equals_a_50_digit_reference():
    spec = mfsim.spectrum("flat", 10**200, r=2, kappa=5)
    steps = 13000
    record = np.arange(0, steps + 1, 250)
    ds = mfsim.simulate(spec, eta=0.1, steps=steps, seeds=[3], stop_error=0, record=record)
    assert ds.status.item() == kernels.MAX_STEPS
    ref = _mp_reduced_reference(spec, 3, 0.1, steps, record)
    checked = 0
    for name in NAMES:
        for j, t in enumerate(record):
            want = np.atleast_1d(np.array(ref[name][int(t)], dtype=float))
            got = np.atleast_1d(ds[name].values[0][..., j])
            assert want.shape == got.shape
            for k, (a, b) in enumerate(zip(got, want, strict=True)):
                if name == "noise":
                    floor = ds.noise_floor.values[0, k, j]
                    if b <= 1e10 * floor:  # not resolved to 1e-10 by any float64 iterate
                        continue
                # the error's absolute floor (docs/accuracy.md): r eps lambda_1
                floor = 2 * np.finfo(float).eps * spec.lambda_1 if name == "error" else 0.0
                assert abs(a - b) <= 1e-10 * abs(b) + floor, (name, t, k, a, b)
                checked += 1
    assert checked > 0.9 * len(record) * (3 * 2 + 4)
    # tiny exact values were among them: the signals start near 0.25e-200
    assert ds.signal.values[0, :, 0].max() < 1e-195


@pytest.mark.parametrize("r", [2, 3])
def test_flat_bulk_at_d_1e300_learns_every_signal_and_keeps_every_diagnostic_positive(r):
    spec = mfsim.spectrum("flat", 10**300, r=r, kappa=5)
    ds = mfsim.simulate(spec, eta=0.1, steps=30000, seeds=range(8))
    assert (ds.status == kernels.CONVERGED).all()
    assert np.isfinite(ds.learned.values).all() and np.isfinite(ds.rise.values).all()
    for name in ("error", "signal", "sigma1_sq_X", "sigma1_sq_K", "sigmar_sq_U", "sigma1_sq_J"):
        v = ds[name].values
        ok = np.isfinite(v)
        assert ok.any(axis=-1).all()
        assert (v[ok] > 0).all(), name
    # the noise is positive wherever it is resolved (above its rounding floor)
    noise, floor = ds.noise.values, ds.noise_floor.values
    ok = np.isfinite(noise)
    assert (noise[ok] >= 0).all() and (noise[ok & (noise > floor)] > 0).all()
    assert (noise[:, :, 0] > 1e-160).all() and (noise[:, :, 0] < 1e-140).all()
    assert ds.d.dtype == np.float64 and ds.d.item() == 1e300 and ds.log10_d.item() == 300.0


def test_rise_times_are_continuous_in_log_d_up_to_1e300():
    """Median rise_k is linear in log d from 10^3 to 10^300 (same slope below and above 10^12)."""
    logd = np.array([3, 6, 9, 12, 100, 200, 300])
    med = {1: [], 2: []}
    for e in logd:
        spec = mfsim.spectrum("flat", 10 ** int(e), r=2, kappa=5)
        ds = mfsim.simulate(spec, eta=0.1, steps=30000, seeds=range(16))
        assert (ds.status == kernels.CONVERGED).all()
        for k in (1, 2):
            med[k].append(np.median(ds.rise.sel(k=k).values))
    ln_d = logd * math.log(10)
    for k in (1, 2):
        y = np.array(med[k])
        small = np.polyfit(ln_d[:4], y[:4], 1)[0]
        huge = np.polyfit(ln_d[3:], y[3:], 1)[0]
        assert abs(huge / small - 1) < 0.1, (k, small, huge)
        # and the 10^12 point lies on the line through the huge-d points
        fit = np.polyfit(ln_d[4:], y[4:], 1)
        assert abs(np.polyval(fit, ln_d[3]) - y[3]) < 0.05 * y[3]


def test_d_as_an_int_of_any_size_or_a_float_and_a_clear_error_beyond_the_limits():
    for d in (10**30, 1e30, 2**53 + 1):
        spec = mfsim.spectrum("flat", d, r=2, kappa=5)
        ds = mfsim.simulate(spec, eta=0.1, steps=50, seeds=[0])
        assert np.isfinite(ds.error.values).all()
        assert ds.d.dtype == np.float64 and ds.log10_d.item() == pytest.approx(math.log10(d))
    ds = mfsim.simulate(mfsim.spectrum("flat", 1000, r=2, kappa=5), steps=5)
    assert ds.d.dtype == np.int64 and ds.d.item() == 1000 and ds.log10_d.item() == 3.0
    # beyond 10^10000 (reduced families) a clear error naming d and the limit; the plain
    # kernels stop at 10^300 (the engine's own check, also for a Spectrum built by other means)
    with pytest.raises(ValueError, match=r"10\^10001.*10\^10000"):
        mfsim.spectrum("flat", 10**10001, r=2, kappa=5)
    with pytest.raises(ValueError, match=r"10\^301 is out of range.*10\^300"):
        mfsim.simulate(mfsim.spectrum("flat", 10**301, r=2, kappa=5), steps=5, kernel="seed")
    with pytest.raises(ValueError, match=r"d = 10\^301 is out of range.*10\^300"):
        check_dimension(10**301)


def test_a_value_below_the_float64_range_ends_the_run_with_status_underflow():
    spec = mfsim.spectrum("linear", 50, r=2, kappa=4)
    x0 = np.random.default_rng(0).standard_normal((50, 2)) * 0.1
    x0[1] = [3e-160, -2e-160]  # signal_2 = 1.3e-319: below the normal range
    ds = mfsim.simulate(spec, eta=0.1, steps=20, X0=x0)
    assert ds.status.item() == kernels.UNDERFLOW == 4
    assert ds.stop_step.item() == 0
    assert "underflow" in ds.status.attrs["flag_meanings"].split()
    # the same run with the row at 1e-150 is representable and runs on
    x0[1] = [3e-150, -2e-150]
    ds = mfsim.simulate(spec, eta=0.1, steps=20, X0=x0)
    assert ds.status.item() == kernels.MAX_STEPS


# --------------------------------------------------------------------------------------------
# the kernel's sigma_r^2(U) and noise on graded rows
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_sigma_min_sq_is_relatively_accurate_on_graded_rows(r):
    rng = np.random.default_rng(r)
    for grade in (0, 20, 40, 88, 140):  # sigma_r^2 down to ~1e-300
        for _ in range(5):
            u = rng.standard_normal((r, r)) * np.logspace(0, -grade, r)[:, None] * 1e-10
            got, resolved = kernels._sigma_min_sq(u, np.empty((r, r)))
            want = _sigma_min_sq(u)
            assert resolved
            assert got == pytest.approx(want, rel=1e-12)
