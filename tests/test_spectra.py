"""Spectra: the named families, derived quantities and clear errors."""

import numpy as np
import pytest

import mfsim
from mfsim.spectra import SpectrumError


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
