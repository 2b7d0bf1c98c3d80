"""One warning when a step limit leaves the literal t_k^* undetermined.

A run stopped by its step limit (status ``max_steps``) has ``t_k_star`` = NaN for every k whose
determination needs more steps: the literal t_k^* (eq. 15) is known only at step
``t_k + t_k^*`` with ``t_k^* >= ceil(t^sharp)`` and ``t_k = t_init,k + T_u(k) + ceil(t^*)``
(section 4.2). :func:`warn_if_t_k_star_undetermined` says so once per ``mfsim.simulate`` call,
with the number of steps this predicts to be needed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from mfsim.datamodel import MAX_STEPS

__all__ = ["StepLimitWarning", "steps_needed_for_t_k_star", "warn_if_t_k_star_undetermined"]


class StepLimitWarning(UserWarning):
    """The step limit ended runs before a stage quantity could be determined."""


def steps_needed_for_t_k_star(ds: xr.Dataset) -> np.ndarray:
    """Predicted step by which each run's t_k^* is determined, shape ``(seed, k)``.

    ``t_k + ceil(t^sharp)``, the earliest step at which eq. 15 can be decided (exact when t_k^*
    is bound-dominated), where ``t_k`` is recorded; where it is not (signal k not yet risen by
    the last step), ``stop_step + ceil(t^*) + ceil(t^sharp)``, a lower bound. NaN for k >= r
    (t_k^* is not defined there).

    Parameters
    ----------
    ds : xarray.Dataset
        A batch Dataset of ``mfsim.simulate`` (variables ``t_k``, ``stop_step``, ``t_star``,
        ``t_sharp``; coordinates ``k``, ``r``).

    Returns
    -------
    numpy.ndarray, shape (n_seeds, n_k)
        Steps (float).
    """
    t_star = math.ceil(float(ds["t_star"]))
    t_sharp = math.ceil(float(ds["t_sharp"]))
    t_k = ds["t_k"].transpose("seed", "k").values
    stop = ds["stop_step"].values[:, None]
    needed = np.where(np.isfinite(t_k), t_k, stop + t_star) + t_sharp
    defined = ds["k"].values[None, :] < int(ds["r"])
    return np.where(defined, needed, np.nan)


def warn_if_t_k_star_undetermined(ds: xr.Dataset, steps: int) -> None:
    """Warn once if the step limit left t_k^* undetermined in some run.

    Parameters
    ----------
    ds : xarray.Dataset
        A batch Dataset of ``mfsim.simulate``.
    steps : int
        The step limit of the call.

    Warns
    -----
    StepLimitWarning
        Some run has status ``max_steps`` and ``t_k_star`` NaN at some k < r: how many, why,
        and the step limit predicted to be needed (:func:`steps_needed_for_t_k_star`).
    """
    if "t_k_star" not in ds or int(ds["r"]) < 2:
        return
    limited = ds["status"].values == MAX_STEPS
    star = ds["t_k_star"].transpose("seed", "k").values
    needed = steps_needed_for_t_k_star(ds)
    missing = limited[:, None] & np.isnan(star) & np.isfinite(needed)
    if not missing.any():
        return
    runs = int(missing.any(axis=1).sum())
    ks = ", ".join(str(int(k)) for k in ds["k"].values[missing.any(axis=0)])
    predicted = int(np.nanmax(np.where(missing, needed, np.nan)))
    warnings.warn(
        f"t_k_star is undetermined (NaN) in {runs} of {ds.sizes['seed']} runs (k = {ks}): the "
        f"step limit steps={steps} ends them before t_k + ceil(t^sharp), the first step at "
        f"which eq. 15 can be decided (t_k = t_init,k + T_u(k) + ceil(t^*), t^* = "
        f"{float(ds['t_star']):.0f}, t^sharp = {float(ds['t_sharp']):.0f} steps). About "
        f"steps={predicted} is predicted to be needed (a lower bound where signal k had not "
        "risen), fewer if the runs converge first: with stop_error > 0 a converged run has "
        "t_k_star filled in at its stop.",
        StepLimitWarning,
        stacklevel=3,
    )
