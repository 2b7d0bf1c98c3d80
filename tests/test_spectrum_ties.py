"""Tied top eigenvalues: accepted, clustered, Delta over the distinct gaps, top_gap."""

from __future__ import annotations

import numpy as np
import pytest

import mfsim
from mfsim.spectra import SpectrumError
from mfsim.spectrum_ties import distinct_gap, has_ties, top_clusters


def test_the_issue_example_is_accepted_with_delta_over_the_distinct_gaps():
    lam = [1.0, 1.0, 0.3, 0.2, 0.1, 0.0]
    spec = mfsim.spectrum("custom", 6, r=2, eigenvalues=lam)
    assert spec.Delta == 1.0 - 0.3  # the only distinct gap among lambda_1..lambda_3
    assert spec.kappa == 1.0 / 0.7
    assert top_clusters(spec.top(2)) == ((0, 2),)


@pytest.mark.parametrize(
    ("top", "clusters", "delta"),
    [
        ([1.0, 1.0, 1.0, 0.4], ((0, 3),), 0.6),
        ([1.0, 0.8, 0.8, 0.5], ((0, 1), (1, 3)), 0.2),
        ([2.0, 2.0, 1.0, 1.0, 0.5], ((0, 2), (2, 4)), 0.5),
        ([1.0, 0.75, 0.5], ((0, 1), (1, 2)), 0.25),
    ],
)
def test_clusters_and_distinct_gap_by_hand(top, clusters, delta):
    r = len(top) - 1
    assert top_clusters(top[:r]) == clusters
    assert has_ties(top[:r]) == any(b - a > 1 for a, b in clusters)
    assert distinct_gap(top) == pytest.approx(delta, rel=1e-15)


@pytest.mark.parametrize("family", ["linear", "flat", "staircase"])
@pytest.mark.parametrize("r", [1, 2, 3])
def test_without_ties_delta_is_the_papers_minimum_gap_bit_for_bit(family, r):
    spec = mfsim.spectrum(family, 500, r=r, kappa=7)
    lam = spec.top(r + 1)
    assert spec.Delta == float(np.min(lam[:-1] - lam[1:]))  # eq. of section 4.2, written here


def test_a_tie_across_r_is_refused_naming_the_rule():
    with pytest.raises(
        SpectrumError, match=r"strictly above lambda_\{r\+1\}.*got \[1.0, 0.5, 0.5\]"
    ):
        mfsim.spectrum("custom", r=2, eigenvalues=[1.0, 0.5, 0.5, 0.1])
    with pytest.raises(SpectrumError, match="tie_tolerance = 0.3"):
        mfsim.spectrum("flat", 100, r=2, kappa=5, tie_tolerance=0.3)


@pytest.mark.parametrize("gap", [0.0, 1e-9, 1e-4, 1e-2, 0.1])
def test_top_gap_sets_lambda_2_and_keeps_the_rest(gap):
    base = mfsim.spectrum("flat", 1000, r=2, kappa=5)
    spec = mfsim.spectrum("flat", 1000, r=2, kappa=5, top_gap=gap)
    assert spec.top(1)[0] - spec.top(2)[1] == pytest.approx(gap, abs=1e-16)
    assert spec.top(3)[2] == base.top(3)[2] and spec.d == base.d
    expected = 0.4 if gap == 0.0 else min(gap, 0.4 - gap)
    assert spec.Delta == pytest.approx(expected, abs=1e-15)  # lambda_2 = 1 - gap, rounded
    assert dict(spec.params)["top_gap"] == gap


def test_tie_tolerance_makes_a_near_tie_one_cluster_with_the_ties_delta():
    near = mfsim.spectrum("flat", 1000, r=2, kappa=5, top_gap=1e-9, tie_tolerance=1e-6)
    tie = mfsim.spectrum("flat", 1000, r=2, kappa=5, top_gap=0.0)
    assert top_clusters(near.top(2), 1e-6) == ((0, 2),)
    assert near.Delta == pytest.approx(tie.Delta, abs=2e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(top_gap=-0.1), "top_gap = -0.1"),
        (dict(top_gap=float("nan")), "top_gap"),
        (dict(top_gap=0.5), r"top_gap must lie in \[0, lambda_1 - lambda_3 = 0.4\], got 0.5"),
        (dict(tie_tolerance=-1.0), "tie_tolerance = -1"),
    ],
)
def test_bad_tie_parameters_name_the_argument(kwargs, match):
    with pytest.raises(SpectrumError, match=match):
        mfsim.spectrum("flat", 100, r=2, kappa=5, **kwargs)


def test_top_gap_needs_a_graded_family_and_r_at_least_2():
    with pytest.raises(SpectrumError, match="r >= 2"):
        mfsim.spectrum("flat", 100, r=1, kappa=5, top_gap=0.0)
    with pytest.raises(SpectrumError, match="'figure1' fixes its eigenvalues"):
        mfsim.spectrum("figure1", 100, top_gap=0.0)
