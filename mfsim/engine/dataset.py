"""The xarray data model of a batch of runs (CF-style attributes on every variable)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from mfsim._version import __version__
from mfsim.datamodel import (
    COORD_ATTRS,
    STAGE_VARIABLES,
    STATUS_FLAGS,
    VARIABLE_ATTRS,
    stored_dimension,
)
from mfsim.datamodel import PER_K_VARIABLES as _PER_K
from mfsim.datamodel import attrs as _attrs

__all__ = [
    "build_dataset",
    "dimension_coordinate",
    "VARIABLE_ATTRS",
    "STAGE_VARIABLES",
    "STATUS_FLAGS",
]


def dimension_coordinate(d) -> np.generic:
    """d as stored: exact int64 below 2^53, float64 up to 10^308, -log10(d) beyond.

    Beyond float64's range (d >= 10^308, reachable by the reduced engine up to 10^10000) the
    value of d does not fit a float64; +inf or NaN would stand for a real value, and one fill for
    all of them would make the d index non-unique. The stored value is then the negative number
    -log10(d): a dimension is >= 1, so a negative d can only mean "read ``log10_d``", it keeps
    distinct d distinct, and ``log10_d`` = -d there. ``docs/design.md`` states the rule.
    """
    if d < 2**53 and float(d) == int(d):
        return np.int64(int(d))
    return np.float64(stored_dimension(d))


def build_dataset(
    *,
    spec,
    eta,
    varpi,
    seeds,
    recorder,
    stages,
    tracker,
    status,
    stop_step,
    wall_time,
    epsilons,
    reduced,
    dtype,
    stop_error,
    learned_tolerance,
    extra_attrs=None,
) -> xr.Dataset:
    """Assemble the Dataset of one batch (see ``docs/design.md``)."""
    from mfsim.engine.stages import membership_R, membership_S

    r = spec.r
    # kappa as requested from the family; families that fix kappa request their own
    requested_kappa = dict(spec.params).get("kappa")
    data = recorder.data
    valid = np.isfinite(data["error"])
    top_lam = spec.top(r)
    in_s = membership_S(data["s1x"], data["s1k"], top_lam, spec.lambda_1, spec.Delta)
    in_r = membership_R(
        data["s1x"], data["sru"], data["s1j"], spec.lambda_1, top_lam[-1], spec.Delta
    )
    as_flag = np.where(valid, 1, -1).astype(np.int8)
    per_step = {
        "error": (("seed", "step"), data["error"]),
        "signal": (("seed", "k", "step"), data["signal"].transpose(0, 2, 1)),
        "noise": (("seed", "k", "step"), data["noise"].transpose(0, 2, 1)),
        "noise_floor": (("seed", "k", "step"), data["noise_floor"].transpose(0, 2, 1)),
        "sigma1_sq_X": (("seed", "step"), data["s1x"]),
        "sigma1_sq_K": (("seed", "k", "step"), data["s1k"].transpose(0, 2, 1)),
        "sigmar_sq_U": (("seed", "step"), data["sru"]),
        "sigma1_sq_J": (("seed", "step"), data["s1j"]),
        "in_S": (("seed", "step"), np.where(in_s, as_flag, np.minimum(as_flag, 0))),
        "in_R": (("seed", "step"), np.where(in_r, as_flag, np.minimum(as_flag, 0))),
        "top_gram": (("seed", "heatmap_step", "row", "col"), recorder.top),
    }
    variables = dict(per_step)
    for name in STAGE_VARIABLES:
        dims = (
            ("seed", "k") if name in _PER_K else ("seed", "eps") if name == "t_eps" else ("seed",)
        )
        variables[name] = (dims, stages[name])
    variables["status"] = (("seed",), status.astype(np.int8))
    variables["stop_step"] = (("seed",), stop_step.astype(np.float64))
    variables["wall_time"] = (("seed",), np.full(len(seeds), wall_time))
    variables["t_star"] = ((), tracker.t_star)
    variables["t_sharp"] = ((), tracker.t_sharp)
    coords = {
        "seed": ("seed", np.asarray(seeds, dtype=np.int64)),
        "k": ("k", np.arange(1, r + 1)),
        "step": ("step", recorder.steps),
        "eps": ("eps", np.asarray(epsilons, dtype=np.float64)),
        "heatmap_step": ("heatmap_step", recorder.heatmap_steps),
        "row": ("row", np.arange(1, 4)),
        "col": ("col", np.arange(1, 4)),
        "d": dimension_coordinate(spec.d),
        "log10_d": math.log10(spec.d),
        "r": r,
        "kappa": spec.kappa if requested_kappa is None else float(requested_kappa),
        "kappa_realized": spec.kappa,
        "varpi": float(varpi),
        "varpi_exponent": 0.0,
        "varpi_effective": float(varpi),
        "eta": float(eta),
        "lambda_1": spec.lambda_1,
        "Delta": spec.Delta,
        "lambda_k": ("k", top_lam),
    }
    ds = xr.Dataset(variables, coords=coords)
    for name, attrs in VARIABLE_ATTRS.items():
        if name in ds:
            ds[name].attrs.update(attrs)
    ds["lambda_k"].attrs.update(_attrs("lambda_k", "1", "top r eigenvalues of Sigma"))
    ds["Delta"].attrs.update(_attrs("eigengap", "1", "min_{i<=r}(lambda_i - lambda_{i+1})"))
    ds["kappa"].attrs.update(_attrs("condition number kappa (requested)", "1", "as requested"))
    ds["kappa_realized"].attrs.update(
        _attrs("condition number", "1", "lambda_1 / Delta (section 4.1)")
    )
    for name in ("varpi", "varpi_effective"):  # the scale c and the paper's varpi, told apart
        ds[name].attrs.update(_attrs(*COORD_ATTRS[name]))
    ds["varpi_exponent"].attrs.update(
        _attrs("initialization exponent a", "1", "simulate takes the scale as given: a = 0")
    )
    ds["d"].attrs.update(
        _attrs(
            "dimension",
            "1",
            "d; int64 when exact (d < 2^53), float64 below 10^308, -log10(d) (negative) beyond "
            "float64's range: read log10_d",
        )
    )
    ds["log10_d"].attrs.update(_attrs("log10 of the dimension", "1", "log10(d), exact for any d"))
    ds.attrs.update(
        {
            "title": "GD for matrix factorization from large initialization",
            "mfsim_version": __version__,
            "spectrum": spec.name,
            "spectrum_params": repr(dict(spec.params)),
            "reduced_engine": int(reduced),
            "dtype": dtype,
            "stop_error": float(stop_error),
            "learned_tolerance": float(learned_tolerance),
            "Conventions": "CF-1.10",
        }
    )
    if extra_attrs:
        ds.attrs.update(extra_attrs)
    return ds
