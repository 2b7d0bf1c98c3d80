"""Leave-one-d-out cross validation of the three models and the preferred model."""

from __future__ import annotations

import numpy as np

from mfsim.analysis.scaling.models import MODELS


def _cross_validate(
    x: np.ndarray, y: np.ndarray, blocks: np.ndarray, power: bool = True
) -> np.ndarray:
    """Leave-one-d-out CV RMSE on the original y scale, batched over leading replicates.

    Parameters
    ----------
    x, y : numpy.ndarray
        Shape (n_rep, n): ``log d`` and the values of each replicate.
    blocks : numpy.ndarray
        Shape (n,): the d index (fold) of each point position; the same for all replicates.

    Returns
    -------
    numpy.ndarray
        Shape (n_rep, len(MODELS)). Each fold holds out all points of one d, fits on the others
        and predicts the held-out points; ``RMSE = sqrt(mean over folds of the fold MSE)``, so
        every d counts equally. NaN if a model cannot be fitted in some fold or there are fewer
        than 2 folds.
    """
    folds, starts, counts = np.unique(blocks, return_index=True, return_counts=True)
    rmse = np.full((x.shape[0], len(MODELS)), np.nan)
    if folds.size < 2:
        return rmse
    if not np.array_equal(np.repeat(folds, counts), blocks):
        raise ValueError("points must be grouped by d (contiguous blocks)")
    # x is constant within a fold and every fit is linear least squares, so the fits on all
    # folds but one follow from per-fold sums: O(n_rep n) once, then O(n_rep n_folds^2)
    xl = x[:, starts]  # (n_rep, n_folds)
    n = counts.astype(float)
    sums = np.add.reduceat(y, starts, axis=-1)
    mean = sums / n
    within = np.add.reduceat((y - np.repeat(mean, counts, axis=-1)) ** 2, starts, axis=-1)
    preds = np.full((x.shape[0], len(MODELS), folds.size), np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        intercept, slope = _held_out_lines(xl, n, sums)
        preds[:, MODELS.index("log")] = intercept + slope * xl
        preds[:, MODELS.index("const")] = (sums.sum(-1, keepdims=True) - sums) / (n.sum() - n)
        if power:
            log_sums = np.add.reduceat(np.log(y), starts, axis=-1)
            intercept, slope = _held_out_lines(xl, n, log_sums)
            preds[:, MODELS.index("power")] = np.exp(intercept + slope * xl)
        # mean squared error of a constant prediction p over a fold = within / n + (mean - p)^2
        mse = within[:, None, :] / n + (mean[:, None, :] - preds) ** 2
    return np.sqrt(mse.mean(axis=-1))


def _held_out_lines(xl: np.ndarray, n: np.ndarray, sums: np.ndarray):
    """Least-squares line through all points of every fold but one, for each held-out fold.

    ``xl`` (n_rep, n_folds) the fold's x, ``n`` (n_folds,) points per fold, ``sums`` (n_rep,
    n_folds) the sum of the fitted variable per fold. Returns intercepts and slopes (n_rep,
    n_folds), entry j fitted without fold j.
    """
    w = n.sum() - n
    sx = (n * xl).sum(-1, keepdims=True) - n * xl
    sxx = (n * xl * xl).sum(-1, keepdims=True) - n * xl * xl
    sy = sums.sum(-1, keepdims=True) - sums
    sxy = (xl * sums).sum(-1, keepdims=True) - xl * sums
    mean_x, mean_y = sx / w, sy / w
    var = sxx / w - mean_x**2
    slope = np.where(
        var > 1e-12 * np.maximum(sxx / w, 1e-300), (sxy / w - mean_x * mean_y) / var, np.nan
    )
    return mean_y - slope * mean_x, slope


def _preferred_index(cv_rmse: np.ndarray) -> np.ndarray:
    """Index of the model with the lowest CV RMSE along the last axis (-1 if none finite).

    Exact ties (relative 1e-12) go to the simpler model, i.e. the earlier one in ``MODELS``.
    """
    finite = np.isfinite(cv_rmse)
    filled = np.where(finite, cv_rmse, np.inf)
    best = filled.min(axis=-1, keepdims=True)
    ties = finite & (filled <= best * (1.0 + 1e-12))
    return np.where(finite.any(axis=-1), np.argmax(ties, axis=-1), -1)
