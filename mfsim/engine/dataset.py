"""The xarray data model of a batch of runs (CF-style attributes on every variable)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from mfsim import __version__
from mfsim.engine.kernels import STATUS_MEANINGS

__all__ = [
    "build_dataset",
    "dimension_coordinate",
    "VARIABLE_ATTRS",
    "STAGE_VARIABLES",
    "STATUS_FLAGS",
]

STATUS_FLAGS = {
    "flag_values": np.arange(len(STATUS_MEANINGS.split()), dtype=np.int8),
    "flag_meanings": STATUS_MEANINGS,
}


def _attrs(long_name, units, description):
    return {"long_name": long_name, "units": units, "description": description}


_STEP = "steps"
VARIABLE_ATTRS = {
    "error": _attrs("error", "1", "||Sigma_r - X_t X_t^T||_F (Theorem 6, property 6)"),
    "signal": _attrs(
        "signal strength", "1", "sigma_1^2(u_{k,t}) = ||u_{k,t}||^2, u_k the k-th row"
    ),
    "noise": _attrs(
        "coupling noise",
        "1",
        "sigma_1(u_{k,t} K_{k,t}^T), K_k the rows k+1..d (Theorem 6, property 4)",
    ),
    "noise_floor": _attrs(
        "noise rounding floor",
        "1",
        "eps |u_{k,t}| ||K_{k,t}||_F / sqrt(1 - q^2), q = 1 - eta Delta/6: noise values below it "
        "are not resolved by a float64 iterate (docs/accuracy.md)",
    ),
    "sigma1_sq_X": _attrs("sigma_1^2(X_t)", "1", "largest eigenvalue of X_t^T X_t"),
    "sigma1_sq_K": _attrs("sigma_1^2(K_{k,t})", "1", "rows k+1..d; enters S (eq. 13)"),
    "sigmar_sq_U": _attrs("sigma_r^2(U_t)", "1", "U = first r rows; enters R (eq. 10)"),
    "sigma1_sq_J": _attrs("sigma_1^2(J_t)", "1", "J = rows r+1..d; enters R (eq. 10)"),
    "in_S": _attrs("X_t in S", "1", "membership in S (eq. 13); -1 after the run stopped"),
    "in_R": _attrs("X_t in R", "1", "membership in R (eq. 10); -1 after the run stopped"),
    "top_gram": _attrs("top 3x3 block of X_t X_t^T", "1", "heat maps of Figure 1"),
    "t_init": _attrs(
        "t_init,k",
        _STEP,
        "t_init,1 = first step in S (eq. 13); t_init,k+1 = t_k + t_k^* (section 4.2); "
        "NaN = not determined",
    ),
    "T_u": _attrs(
        "T_{u_k}",
        _STEP,
        "min{t >= 0: sigma_1^2(u_{k,t+t_init,k}) >= Delta/2}; NaN = not observed "
        "(0 when completed at a settled converged stop, docs/stages.md)",
    ),
    "t_k": _attrs(
        "t_k",
        _STEP,
        "t_init,k + T_{u_k} + ceil(t^*) for every k <= r (Lemma 10, property 2); "
        "formula-defined: recorded once t_init,k and T_{u_k} are, also past stop_step",
    ),
    "t_k_star": _attrs(
        "t_k^*",
        _STEP,
        "smallest integer s with r q^s <= sqrt(Delta/8) "
        "min(sigma_1(u_{k+1,t_k+s}), sqrt(Delta/2)), q = 1 - eta Delta/6 (eq. 15); "
        "defined for k < r; NaN = not observed (ceil(t^sharp), bound-dominated, when completed "
        "at a settled converged stop, docs/stages.md)",
    ),
    "t_k_star_bound_dominated": _attrs(
        "t_k^* bound-dominated",
        "1",
        "true when the min in eq. 15 is attained by sqrt(Delta/2): "
        "t_k^* = ceil(t^sharp) whatever the dynamics",
    ),
    "t_R": _attrs(
        "t_R",
        _STEP,
        "t_init,r + T_{u_r} + ceil(t^* + t^sharp) (Theorem 6, property 5); formula-defined: "
        "recorded once t_init,r and T_{u_r} are, also past stop_step",
    ),
    "first_in_S": _attrs("first step in S", _STEP, "min{t: X_t in S} (eq. 13)"),
    "first_in_R": _attrs("first step in R", _STEP, "min{t: X_t in R} (eq. 10)"),
    "t_eps": _attrs(
        "epsilon-accuracy time",
        _STEP,
        "min{t: ||Sigma_r - X_t X_t^T||_F <= eps} (Theorem 6, property 6)",
    ),
    "rise": _attrs("rise time", _STEP, "min{t: sigma_1^2(u_{k,t}) >= Delta/2}"),
    "learned": _attrs(
        "learned time",
        _STEP,
        "first step after which |lambda_k - sigma_1^2(u_k)| "
        "<= delta lambda_k holds to the end of the run",
    ),
    "escape": _attrs("saddle escape time", _STEP, "rise_{k+1} - rise_k (k < r)"),
    "plateau": _attrs(
        "plateau length",
        _STEP,
        "rise_{k+1} - learned_k (k < r); negative when u_{k+1} rises before u_k is learned",
    ),
    "status": {
        **_attrs(
            "run status",
            "1",
            "how the run ended; underflow: a positive diagnostic fell below float64's normal "
            "range (docs/accuracy.md)",
        ),
        **STATUS_FLAGS,
    },
    "stop_step": _attrs("stop step", _STEP, "last step whose diagnostics were computed"),
    "wall_time": _attrs(
        "wall time per run",
        "s",
        "batch wall time divided by the batch size, numba compilation excluded",
    ),
    "t_star": _attrs(
        "t^*",
        _STEP,
        "log(Delta^2/(8 lambda_1^3 + 144 r^2 lambda_1)) / log(1 - eta Delta/6) (eq. 14)",
    ),
    "t_sharp": _attrs("t^sharp", _STEP, "log(Delta/(4r)) / log(1 - eta Delta/6) (eq. 14)"),
}
STAGE_VARIABLES = (
    "t_init",
    "T_u",
    "t_k",
    "t_k_star",
    "t_k_star_bound_dominated",
    "t_R",
    "first_in_S",
    "first_in_R",
    "t_eps",
    "rise",
    "learned",
    "escape",
    "plateau",
)
_PER_K = {
    "t_init",
    "T_u",
    "t_k",
    "t_k_star",
    "t_k_star_bound_dominated",
    "rise",
    "learned",
    "escape",
    "plateau",
}


def dimension_coordinate(d) -> np.generic:
    """d as stored: exact int64 below 2^53, else float64 (d may be an int of any size)."""
    if d < 2**53 and float(d) == int(d):
        return np.int64(int(d))
    return np.float64(float(d))


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
        "kappa": spec.kappa,
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
    ds["kappa"].attrs.update(_attrs("condition number", "1", "lambda_1 / Delta (section 4.1)"))
    ds["varpi_effective"].attrs.update(_attrs("varpi", "1", "initialization scale of X_0"))
    ds["varpi"].attrs.update(
        _attrs("initialization scale c", "1", "varpi_effective = c d^-varpi_exponent")
    )
    ds["varpi_exponent"].attrs.update(
        _attrs("initialization exponent a", "1", "simulate takes the scale as given: a = 0")
    )
    ds["d"].attrs.update(
        _attrs("dimension", "1", "d; int64 when exact (d < 2^53), else float64 (see log10_d)")
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
