"""Classification of the runs of a stage quantity: reached, not reached, bound-dominated,
undefined for this k, diverged (the counts every scaling fit reports)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from mfsim.datamodel import FAILED_STATUSES, NO_RUN

#: Stage quantities of the sweep Dataset (float step numbers, NaN = not reached).
STAGE_QUANTITIES = ("t_k_star", "escape", "plateau", "rise", "learned", "t_eps")
#: Quantities that are only defined for ``k < r`` (they involve signal ``k + 1``).
BELOW_R_QUANTITIES = frozenset({"t_k_star", "escape", "plateau"})
BOUND_FLAG_SUFFIX = "_bound_dominated"
RUN_DIMS = ("d", "seed")
PER_STEP_DIMS = ("step", "heatmap_step")

STATUS_NO_RUN = NO_RUN
STATUS_DIVERGED = FAILED_STATUSES  # diverged, nonfinite

_COUNTS = ("n_runs", "n_reached", "n_not_reached", "n_bound_dominated", "n_undefined", "n_diverged")
_COUNT_DESCRIPTIONS = {
    "n_runs": "existing runs (status != -1)",
    "n_reached": "runs with a finite value that enters the fit (not bound-dominated)",
    "n_not_reached": "existing runs where the stage was not reached (NaN); not fitted",
    "n_bound_dominated": "t_k_star values where the geometric bound dominates; not fitted",
    "n_undefined": "existing runs where the quantity is not defined for this k",
    "n_diverged": "existing runs with status diverged (2) or nonfinite (3); informational",
}


#: count variable -> per-run flag of :func:`classify_runs` (counted over seeds)
_RUN_COUNTS = {
    "n_runs": "exists",
    "n_reached": "reached",
    "n_not_reached": "not_reached",
    "n_bound_dominated": "bound_dominated",
    "n_undefined": "undefined",
    "n_diverged": "diverged",
}


def _as_bool(da: xr.DataArray) -> xr.DataArray:
    """Boolean view of a flag variable; missing (NaN/None) entries become False."""
    if da.dtype == bool:
        return da
    if np.issubdtype(da.dtype, np.number):
        return da.fillna(0) != 0
    values = np.asarray(da.values, dtype=object)
    flat = [bool(v) if not pd.isna(v) else False for v in values.ravel()]
    return da.copy(data=np.array(flat, dtype=bool).reshape(values.shape))


def _undefined_mask(value: xr.DataArray, quantity: str) -> xr.Variable:
    """True where the quantity does not exist for signal index ``k`` (given rank ``r``)."""
    if "k" not in value.dims or "r" not in value.coords:
        return xr.Variable((), False)
    k, r = value["k"].variable, value["r"].variable
    return (k >= r) if quantity in BELOW_R_QUANTITIES else (k > r)


def classify_runs(ds: xr.Dataset, quantity: str) -> xr.Dataset:
    """Classify every (grid point, seed, k/eps) entry of a stage quantity.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (``docs/design.md``) with the stage variable ``quantity`` having dims
        ``d`` and ``seed``; ``status`` and, for ``t_k_star``, ``t_k_star_bound_dominated`` are
        used when present.
    quantity : str
        Name of the stage variable, e.g. ``"escape"``.

    Returns
    -------
    xarray.Dataset
        With the dims of ``ds[quantity]``: ``value`` (float) and boolean masks ``exists``
        (status != -1), ``reached`` (finite, defined, not bound-dominated: the values that are
        fitted), ``not_reached`` (NaN among existing defined runs), ``bound_dominated``,
        ``undefined`` (existing runs where the quantity is not defined for this k) and
        ``diverged`` (status 2 or 3).

    Raises
    ------
    KeyError
        ``quantity`` is not a variable of ``ds``.
    ValueError
        ``ds[quantity]`` lacks the dims ``d`` or ``seed``, or is a per-step variable.

    Notes
    -----
    Among existing runs the masks ``reached``, ``not_reached``, ``bound_dominated`` and
    ``undefined`` partition the entries, so
    ``n_runs = n_reached + n_not_reached + n_bound_dominated + n_undefined``.
    ``diverged`` overlaps with them: a stage reached before a run diverged is a genuine stage
    time and is kept. A quantity is undefined for ``k > r`` and, for ``t_k_star``, ``escape``
    and ``plateau`` (which involve signal ``k + 1``), for ``k >= r``. Without a ``status``
    variable every grid cell counts as an existing run.
    """
    if quantity not in ds.data_vars:
        raise KeyError(f"{quantity!r} is not a variable of the Dataset ({sorted(ds.data_vars)})")
    value = ds[quantity]
    missing = [dim for dim in RUN_DIMS if dim not in value.dims]
    if missing:
        raise ValueError(f"{quantity!r} lacks the run dims {missing}; dims are {value.dims}")
    per_step = [dim for dim in PER_STEP_DIMS if dim in value.dims]
    if per_step:
        raise ValueError(f"{quantity!r} is a per-step variable (dims {per_step}), not a stage")
    value = value.compute().astype(float)
    dims, shape = value.dims, value.shape
    sizes = dict(zip(dims, shape, strict=True))

    def spread(variable: xr.Variable) -> np.ndarray:
        # the variables of one Dataset share its indexes: broadcasting by dim name is the
        # alignment xarray would do, without building a DataArray per mask
        return np.broadcast_to(variable.set_dims(sizes).transpose(*dims).values, shape)

    finite = np.isfinite(value.values)
    if "status" in ds.data_vars:
        status = ds["status"].variable.compute()
        exists = spread(status.notnull() & (status != STATUS_NO_RUN))
        failed = status.copy(data=np.isin(status.values, list(STATUS_DIVERGED)))
        diverged = exists & spread(failed)
    else:
        exists = np.ones(shape, dtype=bool)
        diverged = np.zeros(shape, dtype=bool)

    flag_name = quantity + BOUND_FLAG_SUFFIX
    if flag_name in ds.data_vars:
        bound = spread(_as_bool(ds[flag_name].compute()).variable) & finite
    else:
        if quantity == "t_k_star":
            warnings.warn(
                f"{flag_name!r} is missing: no t_k_star value is treated as bound-dominated",
                stacklevel=2,
            )
        bound = np.zeros(shape, dtype=bool)

    undefined = spread(_undefined_mask(value, quantity))
    defined_run = exists & ~undefined
    masks = {
        "exists": exists,
        "reached": defined_run & finite & ~bound,
        "not_reached": defined_run & ~finite,
        "bound_dominated": defined_run & bound,
        "undefined": exists & undefined,
        "diverged": diverged,
    }
    orphan = int((finite & ~exists).sum())
    if orphan:
        warnings.warn(
            f"{orphan} finite {quantity!r} values sit in grid cells without a run "
            "(status == -1); they are ignored",
            stacklevel=2,
        )
    data = {name: (dims, np.array(mask, dtype=bool, order="C")) for name, mask in masks.items()}
    return xr.Dataset({"value": value, **data})
