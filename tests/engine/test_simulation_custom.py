"""Custom spectra in the engine: the same numbers as the named families, and arbitrary values
against a dense NumPy GD loop written here."""

import numpy as np
import pytest

import mfsim

FIELDS = ("error", "signal", "noise", "noise_floor", "sigma1_sq_X", "sigma1_sq_K", "sigmar_sq_U")

# (family, d, r, kwargs): named families whose eigenvalues are given back as a custom list
NAMED = [
    ("linear", 40_000, 2, {"kappa": 5.0}),
    ("linear", 20_000, 3, {"kappa": 5.0, "bulk_bottom": 0.013}),
    ("linear", 20_000, 12, {"kappa": 30.0}),
    ("figure1", 33_000, 2, {}),
    ("flat", 20_000, 2, {"kappa": 4.0}),
    ("staircase", 20_000, 3, {"kappa": 6.0}),
]


def _bits(ds, name):
    return np.ascontiguousarray(ds[name].values).view(np.int64)


@pytest.mark.parametrize("family,d,r,kwargs", NAMED)
def test_custom_list_equals_the_named_family_bit_for_bit(family, d, r, kwargs, tmp_path):
    named = mfsim.spectrum(family, d, r=r, **kwargs)
    lam = named.eigenvalues()
    custom = mfsim.spectrum("custom", r=r, eigenvalues=lam)
    # compressed: a few segments, not one per eigenvalue
    assert len(custom.segments) <= len(named.segments) + 1
    run = dict(eta=0.1, steps=60, seeds=[0, 1], stop_error=0.0, record="all")
    a = mfsim.simulate(named, **run)
    b = mfsim.simulate(custom, **run)
    for name in FIELDS:
        np.testing.assert_array_equal(_bits(a, name), _bits(b, name), err_msg=name)
    if family == "figure1":  # the same list from a file
        path = tmp_path / "lam.txt"
        path.write_text("\n".join(repr(float(v)) for v in lam))
        c = mfsim.simulate(mfsim.spectrum("custom", r=r, path=path), **run)
        np.testing.assert_array_equal(_bits(a, "error"), _bits(c, "error"))


def _dense_gd(x, lam, r, eta, steps):
    """GD on diag(lam) row by row in NumPy: the error and the signals ||u_k||^2 per step."""
    sigma_r = np.diag(np.concatenate([lam[:r], np.zeros(lam.size - r)]))
    error, signal = [], []
    for _ in range(steps + 1):
        error.append(np.linalg.norm(sigma_r - x @ x.T))
        signal.append(np.sum(x[:r] ** 2, axis=1))
        x = x + eta * (lam[:, None] * x - x @ (x.T @ x))
    return np.array(error), np.array(signal)


@pytest.mark.parametrize("r", [2, 12])
def test_arbitrary_custom_spectrum_against_a_dense_numpy_loop(r):
    """Random eigenvalues (no arithmetic run to compress; a repeated value too) read as a stream
    beside X; rows cross block boundaries (d > BLOCK_ROWS is not needed for the stream: slabs)."""
    d, eta, steps = 1500, 0.1, 300
    rng = np.random.default_rng(r)
    lam = np.sort(rng.uniform(0.0, 0.6, d))[::-1]
    lam[:r] = np.linspace(2.0, 1.0, r)
    lam[500:540] = lam[500]  # a run of equal values amid the stream
    spec = mfsim.spectrum("custom", r=r, eigenvalues=lam)
    assert sum(seg.count == 1 for seg in spec.segments) > d // 2
    x0 = rng.standard_normal((d, r)) * 0.5 / np.sqrt(d)
    ds = mfsim.simulate(spec, eta=eta, steps=steps, X0=x0, stop_error=0.0, record="all")
    error, signal = _dense_gd(x0, lam, r, eta, steps)
    np.testing.assert_allclose(ds.error.values[0], error, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ds.signal.values[0], signal.T, rtol=1e-12, atol=0)
