"""The Box-Cox family in d with a slowly varying correction, fitted to the per-d means:

    y = a + b ((d^alpha - 1) / alpha - gamma ln ln d),    0 <= gamma <= GAMMA_MAX,

the log law with the correction of a continuous bulk edge, ``S (ln d - gamma ln ln d)``
(``gamma = beta + 1`` for an edge exponent beta, ``docs/transition.md``), at alpha = 0; the
power laws for alpha != 0; gamma is profiled out on [0, :data:`GAMMA_MAX`] in closed form.
Every such O(log d) law (local slope ``b (1 - gamma / ln d)``, converging from below) sits
at alpha = 0, so the profile interval of alpha lies above 0 only for growth that none of them
describes (``docs/scaling.md``)."""

from __future__ import annotations

import numpy as np

#: Profile grid of the Box-Cox exponent, in units of 1 / (ln d_max - ln d_min): up to
#: e^{700} over the d range (the largest growth float64 holds); steps of 0.005 near 0, 5%
#: relative in the tails.
_ALPHA_GRID_SCALED = 0.1 * np.sinh(np.linspace(-np.arcsinh(7000.0), np.arcsinh(7000.0), 401))
_ALPHA_GRID_SCALED[200] = 0.0  # the log law itself
#: Alternatives of the power analysis, alpha times (ln d_max - ln d_min).
_POWER_GRID_SCALED = np.geomspace(0.005, 40.0, 37)
#: Variance floor of a stage time: an integer step number carries rounding variance 1/12.
_VARIANCE_FLOOR = 1.0 / 12.0


def _level_summary(x: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> dict:
    """Per-d means, weights ``n_i / v_i`` and centred within-d residuals of one group.

    ``v_i`` is the sample variance at that d (ddof 1, floored at 1/12) when ``n_i >= 5``, else
    the pooled variance of the d values that have >= 2 points (floored likewise).
    """
    levels = np.unique(blocks)
    xs = np.array([x[blocks == i][0] for i in levels])
    groups = [y[blocks == i] for i in levels]
    n = np.array([g.size for g in groups], dtype=float)
    mean = np.array([g.mean() for g in groups])
    var = np.array([g.var(ddof=1) if g.size > 1 else np.nan for g in groups])
    several = n >= 2
    pooled = (
        float(np.sum((n[several] - 1) * var[several]) / np.sum(n[several] - 1))
        if several.any()
        else 1.0
    )
    var = np.where(n >= 5, var, pooled)
    var = np.maximum(np.nan_to_num(var, nan=pooled), _VARIANCE_FLOOR)
    return {
        "x": xs,
        "mean": mean,
        "n": n,
        "weight": n / var,
        "residuals": [g - g.mean() for g in groups],
    }


def _boxcox_raw(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``z = (e^{alpha (x - x_min)} - 1) / alpha`` (``x - x_min`` at alpha = 0): (n_alpha, n)."""
    u = x - x.min()
    a = alpha[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(a == 0, u[None, :], np.expm1(a * u[None, :]) / np.where(a == 0, 1.0, a))
    return z


def _boxcox_design(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """:func:`_boxcox_raw` with every row divided by its largest magnitude (no overflow in the
    sums of squares; a line fit with intercept has the same residuals on a rescaled design)."""
    z = _boxcox_raw(x, alpha)
    return z / np.maximum(np.abs(z).max(axis=-1, keepdims=True), 1e-300)


def _wls_moments(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted centred moments of straight-line fits of ``y`` on every row of ``z``.

    ``z`` (n_alpha, n), ``y`` (..., n), ``w`` (n,): returns ``zbar, szz`` (n_alpha,),
    ``ybar, syy`` (...) and ``szy`` (..., n_alpha).
    """
    sw = w.sum()
    zbar = (z * w).sum(-1) / sw  # (n_alpha,)
    zc = z - zbar[:, None]
    szz = (w * zc * zc).sum(-1)  # (n_alpha,)
    ybar = (y * w).sum(-1) / sw  # (...)
    yc = y - ybar[..., None]
    syy = (w * yc * yc).sum(-1)  # (...)
    szy = np.einsum("an,...n->...a", zc * w, yc)  # (..., n_alpha)
    return {"zbar": zbar, "szz": szz, "ybar": ybar, "syy": syy, "szy": szy}


def _rss_in_place(szy: np.ndarray, syy: np.ndarray, szz: np.ndarray) -> np.ndarray:
    """``max(syy - szy^2 / szz, 0)``, the residual sums of squares, written over ``szy``.

    The same operations in the same order as :func:`_wls_rss`, without its temporaries.
    """
    slope = szy / szz
    np.multiply(szy, slope, out=szy)
    np.subtract(syy[..., None], szy, out=szy)
    return np.maximum(szy, 0.0, out=szy)


def _wls_rss(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted straight-line fits of ``y`` on every row of ``z``.

    ``z`` (n_alpha, n), ``y`` (..., n), ``w`` (n,): returns the residual sums of squares
    (..., n_alpha), intercepts and slopes (same shape).
    """
    m = _wls_moments(z, y, w)
    szy = m["szy"]
    slope = szy / m["szz"]
    rss = np.maximum(m["syy"][..., None] - szy * slope, 0.0)
    intercept = m["ybar"][..., None] - slope * m["zbar"]
    return rss, intercept, slope


#: Largest correction gamma in ``S (ln d - gamma ln ln d)`` (0 is the plain log law): bulk edge
#: exponents beta = gamma - 1 up to 2. gamma is profiled out continuously on [0, GAMMA_MAX].
GAMMA_MAX = 3.0


def log_log_regressor(x: np.ndarray) -> np.ndarray | None:
    """``ln ln d`` at ``x = ln d``, the correction's regressor; None if some ``d <= e`` or
    fewer than 5 d values (then the correction is left out: with a, b, alpha and gamma the fit
    would keep no residual degree of freedom for the dispersion)."""
    if x.size < 5 or not x.min() > 0:
        return None
    return np.log(x)


def _corrected_rss(
    x: np.ndarray, alpha: np.ndarray, q: np.ndarray | None, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted RSS of ``y ~ 1 + ((e^{alpha u} - 1)/alpha - gamma q)``, minimised over gamma.

    ``x`` (n,) = ln d, ``alpha`` (n_alpha,), ``q`` (n,) = ln ln d or None (then gamma = 0),
    ``y`` (..., n), ``w`` (n,). Returns the RSS (..., n_alpha) and the minimising gamma in
    [0, GAMMA_MAX] (same shape; :func:`_rss_over_gamma`), with z scaled per row as in
    :func:`_boxcox_design` (the RSS of a fit with intercept does not depend on the
    regressor's scale).
    """
    return _rss_over_gamma(_design_moments(x, alpha, q, w), y)


def _design_moments(x: np.ndarray, alpha: np.ndarray, q: np.ndarray | None, w: np.ndarray):
    """The parts of :func:`_corrected_rss` that do not depend on ``y`` (reused over data sets)."""
    z = _boxcox_design(x, alpha)
    sw = w.sum()
    zbar = (z * w).sum(-1) / sw
    zc = z - zbar[:, None]
    out = {"w": w, "sw": sw, "zcw": zc * w, "szz": (w * zc * zc).sum(-1), "q": None}
    if q is not None:
        # q in the units of each row of z (1 / the row's scale underflows harmlessly to 0)
        inverse_scale = 1.0 / np.maximum(np.abs(_boxcox_raw(x, alpha)).max(axis=-1), 1e-300)
        qc = q - (w * q).sum() / sw
        out.update(
            q=qc * w,
            inverse_scale=inverse_scale,
            szq=(w * zc * qc).sum(-1) * inverse_scale,
            sqq=(w * qc * qc).sum() * inverse_scale * inverse_scale,
        )
    return out


def _rss_over_gamma(m: dict, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RSS minimised over gamma in [0, GAMMA_MAX] and the minimising gamma, from
    :func:`_design_moments` and the data ``y`` (..., n).

    With ``A = szy, B = sqy, C = szz, D = szq, E = sqq`` the explained sum of squares of the
    regressor ``z - gamma q`` is ``f(gamma) = (A - gamma B)^2 / (C - 2 gamma D + gamma^2 E)``.
    On the real line f has one maximum, at the two-regressor fit's ratio ``gamma* = (D A - C
    B) / (E A - D B)`` with ``f(gamma*) = (E A^2 - 2 D A B + C B^2) / (C E - D^2)``, and one zero
    (``gamma = A / B``), so on [0, GAMMA_MAX] the maximum is at gamma* when it lies inside,
    else at an end. Closed form: no grid in gamma.
    """
    w = m["w"]
    yc = y - ((y * w).sum(-1) / m["sw"])[..., None]
    syy = (w * yc * yc).sum(-1)  # (...)
    szy = np.einsum("an,...n->...a", m["zcw"], yc)  # (..., n_alpha)
    if m["q"] is None:
        rss = _rss_in_place(szy, syy, m["szz"])
        return rss, np.zeros(rss.shape)
    sqy = (m["q"] * yc).sum(-1)[..., None] * m["inverse_scale"]  # (..., n_alpha)
    c, d, e, top = m["szz"], m["szq"], m["sqq"], GAMMA_MAX
    det = c * e - d * d
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f_zero = szy * szy / c
        f_top = (szy - top * sqy) ** 2 / (c - 2.0 * top * d + top * top * e)
        star = (d * szy - c * sqy) / (e * szy - d * sqy)
        f_star = (e * szy * szy - 2.0 * d * szy * sqy + c * sqy * sqy) / det
    inside = (det > 1e-12 * c * e) & (star >= 0.0) & (star <= top) & np.isfinite(f_star)
    end_top = np.nan_to_num(f_top, nan=-np.inf) > f_zero
    explained = np.where(inside, f_star, np.where(end_top, f_top, f_zero))
    gamma = np.where(inside, star, np.where(end_top, top, 0.0))
    return np.maximum(syy[..., None] - explained, 0.0), gamma


#: ``scipy.special.ndtri(0.5 + c / 2) ** 2`` of the usual levels ``c``, the same float64 (a test
#: compares them): a fit job at these levels does not import scipy.special (0.2 s).
CHI2_1_QUANTILES = {0.9: 2.705543454095413, 0.95: 3.8414588206941254, 0.99: 6.634896601021214}


def _chi2_1_quantile(confidence: float) -> float:
    """Quantile ``confidence`` of chi^2 with 1 degree of freedom (normal quantile squared)."""
    if confidence in CHI2_1_QUANTILES:
        return CHI2_1_QUANTILES[confidence]
    from scipy.special import ndtri

    return ndtri(0.5 + confidence / 2.0) ** 2


def _profile(
    rss: np.ndarray,
    n_levels: int,
    confidence: float,
    columns: int | None = None,
    n_parameters: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the minimum and the profile acceptance mask along the last axis.

    A grid value is inside the interval if ``RSS(alpha) - RSS_min <= phi chi2_{1,confidence}``
    with the dispersion ``phi = max(1, RSS_min / (n_levels - n_parameters))`` (3 parameters
    a, b, alpha; 4 with the correction c; weights are inverse
    variances of the means, so ``phi = 1`` when the family fits; ``phi > 1`` widens the
    interval for lack of fit). With `columns`, the mask covers the first `columns` grid values
    only (the minimum is always over all of them).
    """
    finite = np.isfinite(rss)
    if not finite.all():
        rss = np.where(finite, rss, np.inf)
    best = np.argmin(rss, axis=-1)
    rss_min = np.take_along_axis(rss, best[..., None], axis=-1)
    dof = n_levels - n_parameters
    phi = np.maximum(1.0, rss_min / dof) if dof > 0 else np.ones_like(rss_min)
    head = rss if columns is None else rss[..., :columns]
    inside = head - rss_min <= phi * _chi2_1_quantile(confidence)
    return best, inside


def boxcox_interval(summary: dict, confidence: float) -> dict:
    """Box-Cox exponent of the per-d means, with the ``gamma ln ln d`` correction profiled out:
    estimate and profile interval.

    Parameters
    ----------
    summary : dict
        From :func:`_level_summary` (needs >= 3 d values).
    confidence : float
        Level of the interval.

    Returns
    -------
    dict
        ``boxcox_alpha``, ``boxcox_alpha_lo``, ``boxcox_alpha_hi`` (1 / ln-unit; the grid
        values enclosing the profile interval, so it is never narrower than the grid; an end at
        the edge of the profile grid, ``+-700 / (ln d_max - ln d_min)``, is reported as
        -inf/+inf); ``log_log_gamma`` (the best gamma at alpha = 0; NaN without the
        correction); ``log_fit`` = (a, b, gamma) of the weighted law ``a + b ((ln d - ln
        d_min) - gamma ln ln d)`` on the means (gamma = 0 without the correction).

    Notes
    -----
    The correction is used with at least 5 d values, all above e
    (:func:`log_log_regressor`); otherwise the family is the plain Box-Cox family and the
    dispersion counts 3 parameters (a, b, alpha) instead of 4.
    """
    x, y, w = summary["x"], summary["mean"], summary["weight"]
    q = log_log_regressor(x)
    span = x.max() - x.min()
    alpha = _ALPHA_GRID_SCALED / span
    rss, gammas = _corrected_rss(x, alpha, q, y, w)
    best, inside = _profile(rss, x.size, confidence, n_parameters=3 if q is None else 4)
    # the interval's ends lie between grid values: report the enclosing grid values
    accepted = np.flatnonzero(inside)
    lo = -np.inf if accepted[0] == 0 else alpha[accepted[0] - 1]
    hi = np.inf if accepted[-1] == alpha.size - 1 else alpha[accepted[-1] + 1]
    zero = int(np.argmin(np.abs(alpha)))
    gamma = float(gammas[zero]) if q is not None else 0.0
    regressor = (x - x.min()) - (gamma * q if q is not None else 0.0)
    design = np.stack([np.ones_like(x), regressor], axis=1) * np.sqrt(w)[:, None]
    a, b = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)[0]
    return {
        "boxcox_alpha": float(alpha[best]),
        "boxcox_alpha_lo": float(lo),
        "boxcox_alpha_hi": float(hi),
        "log_log_gamma": gamma if q is not None else float("nan"),
        "log_fit": (float(a), float(b), gamma),
    }
