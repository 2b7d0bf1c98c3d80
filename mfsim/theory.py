"""The paper's formulas, each written once (``gd-matrix-factorization-large-init``, sections 2-5).

A leaf module (numpy only). Functions take floats, numpy arrays or xarray objects alike unless
they say otherwise; the symbols are the paper's: ``eta`` step size, ``Delta`` eigengap
min_{i<=r}(lambda_i - lambda_{i+1}), ``lambda_1`` top eigenvalue, ``r`` rank.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "contraction",
    "contraction_signal_error",
    "divergence_limit_sigma1",
    "membership_R",
    "membership_S",
    "step_size_bound",
    "t_sharp",
    "t_star",
    "theorem6_conditions",
]


def contraction(eta, Delta):  # noqa: N803 - the paper's symbol
    """q = 1 - eta Delta / 6: the rate of eq. 14, eq. 15 and property 4 of Theorem 6."""
    return 1.0 - eta * Delta / 6.0


def contraction_signal_error(eta, Delta):  # noqa: N803
    """1 - eta Delta / 8: the rate of the signal error bound (Theorem 6, property 4, eq. 16)."""
    return 1.0 - eta * Delta / 8.0


def t_star(eta: float, Delta: float, lambda_1: float, r: int) -> float:  # noqa: N803
    """t^* = log(Delta^2 / (8 lambda_1^3 + 144 r^2 lambda_1)) / log(1 - eta Delta/6)  (eq. 14).

    Scalars only (float arithmetic of :mod:`math`); real-valued, in steps.
    """
    return math.log(Delta**2 / (8 * lambda_1**3 + 144 * r**2 * lambda_1)) / math.log(
        contraction(eta, Delta)
    )


def t_sharp(eta: float, Delta: float, r: int) -> float:  # noqa: N803
    """t^sharp = log(Delta / (4 r)) / log(1 - eta Delta/6)  (eq. 14). Scalars only; steps."""
    return math.log(Delta / (4 * r)) / math.log(contraction(eta, Delta))


def membership_S(sigma1_sq_X, sigma1_sq_K, top_lambda, lambda_1, Delta):  # noqa: N802, N803
    """X_t in S (eq. 13): sigma_1^2(X) <= 2 lambda_1 and sigma_1^2(K_k) <= lambda_k - 3 Delta/4.

    ``sigma1_sq_K`` has the k axis last (shape ``(..., r)``); ``top_lambda`` holds
    lambda_1..lambda_r. Returns a boolean array of the shape of ``sigma1_sq_X``.
    """
    ok_k = np.all(sigma1_sq_K <= np.asarray(top_lambda) - 0.75 * Delta, axis=-1)
    return (sigma1_sq_X <= 2.0 * lambda_1) & ok_k


def membership_R(sigma1_sq_X, sigmar_sq_U, sigma1_sq_J, lambda_1, lambda_r, Delta):  # noqa: N802, N803
    """X_t in R (eq. 10): sigma_1^2(X) <= 2 lambda_1, sigma_r^2(U) >= Delta/4,
    sigma_1^2(J) <= lambda_r - Delta/2. Boolean, elementwise."""
    return (
        (sigma1_sq_X <= 2.0 * lambda_1)
        & (sigmar_sq_U >= Delta / 4.0)
        & (sigma1_sq_J <= lambda_r - Delta / 2.0)
    )


def step_size_bound(Delta, lambda_1):  # noqa: N803
    """The largest step size Theorem 6 allows: eta <= Delta / (100 lambda_1^2)."""
    return Delta / (100.0 * lambda_1**2)


def divergence_limit_sigma1(eta):
    """The initialization limit sigma_1(X_0) = 1 / sqrt(3 eta) of Theorem 6 (beyond it GD can
    diverge); compared squared in :func:`theorem6_conditions`."""
    return 1.0 / np.sqrt(3.0 * eta)


#: relative slack of the step-size comparison of :func:`theorem6_conditions`: Delta is a
#: difference of eigenvalues held in float64 (1.0 - 0.8 = 0.19999999999999996), so the bound
#: Delta / (100 lambda_1^2) can round below the step size it names (0.002); 1e-12 covers that
#: rounding and admits nothing measurably above the bound
STEP_SIZE_RTOL = 1e-12


def theorem6_conditions(eta, Delta, lambda_1, sigma1_sq_X0):  # noqa: N803
    """Theorem 6's conditions: eta <= Delta/(100 lambda_1^2) (to a relative
    :data:`STEP_SIZE_RTOL`, the rounding of Delta) and sigma_1(X_0) <= 1/sqrt(3 eta), the
    latter compared as sigma_1^2(X_0) <= 1/(3 eta). Boolean, elementwise."""
    bound = step_size_bound(Delta, lambda_1) * (1.0 + STEP_SIZE_RTOL)
    return (eta <= bound) & (sigma1_sq_X0 <= 1.0 / (3.0 * eta))
