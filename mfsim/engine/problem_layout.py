"""A batch Dataset of another problem in the factorization data model, for the sweep stores.

``mfsim.simulate(problem='sensing'|'asymmetric')`` records every step and its own diagnostics
(:mod:`mfsim.engine.problem_common`). A sweep store holds the runs of every problem of the
``problem`` axis side by side, so each batch is brought to one layout here:

* the per-step diagnostics are kept at the sweep's recorded steps (the steps of factorization
  runs), the problem's own ones (:data:`mfsim.datamodel.PROBLEM_VARIABLES`) included;
* the stage quantities are computed by the factorization's stage analysis
  (:class:`mfsim.engine.stages.StageTracker`) from every step of ``signal`` and ``error``:
  ``rise``, ``learned``, ``escape``, ``plateau`` and ``t_eps`` are defined for any problem by
  these two diagnostics; the chain of Theorem 6 (``t_init``, ``T_u``, ``t_k``, ``t_k^*``,
  ``t_R``, ``first_in_S``, ``first_in_R``) needs the singular values of X's blocks that
  these engines do not compute, so it is NaN (not determined) and ``in_S``, ``in_R`` are -1;
* ``status`` is ``nonfinite`` for a run whose error became NaN or infinite, else
  ``max_steps`` (these engines never stop early); ``t_star`` and ``t_sharp`` are eq. 14's
  formulas of (eta, Delta, lambda_1, r), the same as for factorization.

So downstream code (fits, report) reads the diagnostics, not the problem.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mfsim.datamodel import (
    MAX_STEPS,
    NONFINITE,
    PROBLEM_VARIABLES,
    STAGE_VARIABLES,
    VARIABLE_ATTRS,
)
from mfsim.engine.stages import StageTracker

__all__ = ["add_missing_problem_variables", "to_sweep_layout"]

_PER_STEP = ("error", "signal", "noise")
# factorization diagnostics the other engines do not compute: dims and fill
_NOT_COMPUTED = {
    "noise_floor": (("seed", "k", "step"), np.nan),
    "sigma1_sq_X": (("seed", "step"), np.nan),
    "sigma1_sq_K": (("seed", "k", "step"), np.nan),
    "sigmar_sq_U": (("seed", "step"), np.nan),
    "sigma1_sq_J": (("seed", "step"), np.nan),
    "in_S": (("seed", "step"), -1),
    "in_R": (("seed", "step"), -1),
}
_STAGE_DIMS = {"t_eps": ("seed", "eps"), "t_R": ("seed",), "first_in_S": ("seed",),
               "first_in_R": ("seed",)}  # fmt: skip


def _stages(ds: xr.Dataset, epsilons, learned_tolerance, status):
    """Stage quantities from every step of signal and error (the S/R inputs NaN: not known)."""
    signal = ds["signal"].transpose("seed", "step", "k").values
    error = ds["error"].transpose("seed", "step").values
    n, n_steps, r = signal.shape
    unknown = np.full((n, n_steps), np.nan)
    tracker = StageTracker(
        n, r, ds["lambda_k"].values, float(ds["Delta"]), float(ds["eta"]), epsilons,
        learned_tolerance,
    )  # fmt: skip
    tracker.update(0, signal, error, unknown, np.full_like(signal, np.nan), unknown, unknown)
    return tracker, tracker.finalize(status)


def to_sweep_layout(
    ds: xr.Dataset,
    *,
    recorded_steps,
    epsilons,
    learned_tolerance: float,
    heatmap_steps,
    varpi_exponent: float = 0.0,
    varpi_scale: float | None = None,
) -> xr.Dataset:
    """The batch Dataset `ds` of ``simulate(problem='sensing'|'asymmetric')`` in the
    factorization layout (module notes), with every :data:`~mfsim.datamodel.PROBLEM_VARIABLES`.

    Parameters
    ----------
    ds : xarray.Dataset
        Every step 0..steps recorded (dims seed, k, step).
    recorded_steps : array of int
        The sweep's recorded steps (a subset of 0..steps).
    epsilons : sequence of float
        Accuracy levels of ``t_eps``.
    learned_tolerance : float
        delta of ``learned``.
    heatmap_steps : sequence of int
        Steps of ``top_gram`` (NaN: not computed by these engines).
    varpi_exponent, varpi_scale : float
        The grid's initialization exponent and scale c (coordinates ``varpi_exponent`` and
        ``varpi``); ``varpi_effective`` is the scale the run used (``ds.varpi``).

    Raises
    ------
    ValueError
        A recorded step that `ds` does not hold.
    """
    recorded_steps = np.asarray(recorded_steps, dtype=np.int64)
    missing = np.setdiff1d(recorded_steps, ds["step"].values)
    if missing.size:
        raise ValueError(f"recorded steps {missing[:3].tolist()} are past the run's last step")
    error = ds["error"].transpose("seed", "step").values
    finite = np.isfinite(error)
    status = np.where(finite.all(axis=1), MAX_STEPS, NONFINITE).astype(np.int8)
    last_finite = np.where(
        finite.any(axis=1), finite.shape[1] - 1 - np.argmax(finite[:, ::-1], 1), 0
    )
    tracker, stages = _stages(ds, epsilons, learned_tolerance, status)
    out = ds.sel(step=recorded_steps)[[n for n in (*_PER_STEP, *PROBLEM_VARIABLES) if n in ds]]
    n_seed, r, n_rec = ds.sizes["seed"], ds.sizes["k"], len(recorded_steps)
    sizes = {"seed": n_seed, "k": r, "step": n_rec}
    for name, (dims, fill) in _NOT_COMPUTED.items():
        dtype = np.int8 if fill == -1 else np.float64
        out[name] = (dims, np.full(tuple(sizes[d] for d in dims), fill, dtype=dtype))
    heat = np.asarray(sorted({int(s) for s in heatmap_steps if 0 <= s <= int(ds["step"][-1])}))
    out["top_gram"] = (
        ("seed", "heatmap_step", "row", "col"),
        np.full((n_seed, len(heat), 3, 3), np.nan),
    )
    for name in STAGE_VARIABLES:
        dims = _STAGE_DIMS.get(name, ("seed", "k"))
        out[name] = (dims, stages[name])
    out["status"] = (("seed",), status)
    out["stop_step"] = (("seed",), last_finite.astype(np.float64))
    out["wall_time"] = ds["wall_time"]
    out["t_star"] = ((), tracker.t_star)
    out["t_sharp"] = ((), tracker.t_sharp)
    out = out.assign_coords(
        eps=("eps", np.asarray(epsilons, dtype=np.float64)),
        heatmap_step=("heatmap_step", heat.astype(np.int64)),
        row=("row", np.arange(1, 4)),
        col=("col", np.arange(1, 4)),
        kappa_realized=float(ds["lambda_1"]) / float(ds["Delta"]),
        varpi_effective=float(ds["varpi"]),
        varpi_exponent=float(varpi_exponent),
        varpi=float(ds["varpi"]) if varpi_scale is None else float(varpi_scale),
    )
    for name, attrs in VARIABLE_ATTRS.items():
        if name in out and name not in ("signal", "noise", "error"):
            out[name].attrs.update(attrs)
    out = add_missing_problem_variables(out)
    out.attrs.update(ds.attrs)
    return out


def add_missing_problem_variables(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with every :data:`~mfsim.datamodel.PROBLEM_VARIABLES` it lacks, NaN (not defined
    for the run's problem), and their attributes."""
    ds = ds.copy()
    for name, (dims, attrs) in PROBLEM_VARIABLES.items():
        if name not in ds:
            shape = tuple(ds.sizes[dim] for dim in dims)
            ds[name] = (dims, np.full(shape, np.nan))
        ds[name].attrs.update(attrs)
    return ds
