"""mfsim.theory: each formula checked against its defining property, in extended precision."""

from __future__ import annotations

import numpy as np
import pytest

from mfsim import theory

CASES = [(0.1, 0.2, 1.0, 2), (0.01, 0.05, 1.0, 1), (1.0e-3, 1.0e-2, 2.0, 5)]


@pytest.mark.parametrize(("eta", "Delta", "lambda_1", "r"), CASES)
def test_t_star_and_t_sharp_solve_their_equations(eta, Delta, lambda_1, r):  # noqa: N803
    """q^t^* = Delta^2 / (8 lambda_1^3 + 144 r^2 lambda_1) and q^t^sharp = Delta / (4 r), with
    q = 1 - eta Delta / 6 (eq. 14); both sides in np.longdouble.

    Accuracy contract: t = log(a) / log(q) in float64 carries the rounding of q = 1 - x
    (x = eta Delta / 6), a relative error of about eps / x in log(q), which becomes
    |log a| eps / x in q^t. The bound below is 8 times that.
    """
    q = np.longdouble(1) - np.longdouble(eta) * np.longdouble(Delta) / 6
    star = np.longdouble(theory.t_star(eta, Delta, lambda_1, r))
    sharp = np.longdouble(theory.t_sharp(eta, Delta, r))
    lam = np.longdouble(lambda_1)
    target_star = np.longdouble(Delta) ** 2 / (8 * lam**3 + 144 * r**2 * lam)
    target_sharp = np.longdouble(Delta) / (4 * r)
    eps, x = np.finfo(np.float64).eps, eta * Delta / 6
    for t, target in ((star, target_star), (sharp, target_sharp)):
        bound = 8 * abs(float(np.log(target))) * eps / x
        assert float(abs(q**t / target - 1)) < bound
    assert star > 0 and sharp > 0


def test_rates():
    assert theory.contraction(0.6, 0.5) == 1 - 0.05
    assert theory.contraction_signal_error(0.8, 0.5) == 1 - 0.05


def test_membership_S_by_hand():  # noqa: N802
    # lambda = (1, 0.8), Delta = 0.2:
    # S needs sigma_1^2(X) <= 2 and sigma_1^2(K_k) <= lambda_k - 0.15
    top = [1.0, 0.8]
    ok_k = np.array([[0.85, 0.65]])
    assert theory.membership_S(np.array([2.0]), ok_k, top, 1.0, 0.2).tolist() == [True]
    assert theory.membership_S(np.array([2.01]), ok_k, top, 1.0, 0.2).tolist() == [False]
    assert theory.membership_S(
        np.array([1.0]), np.array([[0.85, 0.66]]), top, 1.0, 0.2
    ).tolist() == [False]


def test_membership_R_by_hand():  # noqa: N802
    # lambda_1 = 1, lambda_r = 0.8, Delta = 0.2: sigma_r^2(U) >= 0.05, sigma_1^2(J) <= 0.7
    x, u, j = (
        np.array([1.0, 1.0, 1.0, 2.5]),
        np.array([0.05, 0.04, 0.1, 0.1]),
        np.array([0.7, 0.1, 0.71, 0.1]),
    )
    assert theory.membership_R(x, u, j, 1.0, 0.8, 0.2).tolist() == [True, False, False, False]


def test_theorem6_conditions_and_divergence_limit():
    # eta <= Delta / (100 lambda_1^2) = 0.002 and sigma_1^2(X_0) <= 1/(3 eta)
    assert theory.step_size_bound(0.2, 1.0) == pytest.approx(0.002, rel=1e-15)
    assert bool(theory.theorem6_conditions(0.002, 0.2, 1.0, 1 / 0.006))
    assert not bool(theory.theorem6_conditions(0.0021, 0.2, 1.0, 1.0))
    # Delta as the flat family computes it, 1.0 - 0.8 (rounds below 0.2): eta = 0.002 is at
    # the bound, not above it (the audit of Theorem 6's step size counts such runs)
    assert bool(theory.theorem6_conditions(0.002, 1.0 - 0.8, 1.0, 1.0))
    assert not bool(theory.theorem6_conditions(0.002 * (1 + 1e-9), 1.0 - 0.8, 1.0, 1.0))
    assert not bool(theory.theorem6_conditions(0.002, 0.2, 1.0, 1 / 0.006 * (1 + 1e-12)))
    assert theory.divergence_limit_sigma1(1 / 3) == pytest.approx(1.0, rel=1e-15)
