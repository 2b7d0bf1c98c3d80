"""What the asymmetric and sensing engines share: starting points, diagnostics, the Dataset.

Diagnostics are computed batched over seeds from the factors alone, at O(d r^2) per step and
without any d x d matrix (Sigma = diag(lambda) is held as its eigenvalue vector). Definitions
and accuracy: ``docs/stages.md``, section "Other problems".
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from mfsim._version import __version__
from mfsim.arguments import ArgumentError
from mfsim.datamodel import attrs as _attrs
from mfsim.engine.dataset import dimension_coordinate
from mfsim.engine.initialization import check_dimension, effective_system, initial_state

__all__ = [
    "PROBLEMS",
    "eigenvalue_vector",
    "starting_points",
    "second_factor",
    "explicit_points",
    "errors",
    "noise",
    "rise_steps",
    "problem_dataset",
]

PROBLEMS = ("factorization", "asymmetric", "sensing")
# the stream of Y_0 = varpi' N_0' (X_0 keeps the factorization stream: same seed, same X_0)
_SECOND_FACTOR_TAG = 2


def eigenvalue_vector(spec) -> np.ndarray:
    """All d eigenvalues of Sigma (decreasing), float64; d must be materializable."""
    check_dimension(spec.d)
    return np.asarray(spec.eigenvalues(), dtype=np.float64)


def starting_points(spec, varpi: float, seeds) -> np.ndarray:
    """X_0 = varpi N_0 per seed, (n_runs, d, r): the same numbers as ``simulate`` draws."""
    system = effective_system(spec, False)
    return np.stack([initial_state(system, varpi, int(s)) for s in seeds])


def second_factor(spec, varpi: float, seeds) -> np.ndarray:
    """Y_0 = varpi' N_0' per seed, (n_runs, d, r), from a stream independent of X_0's."""
    d, r = spec.d, spec.r
    out = np.empty((len(seeds), d, r))
    for b, s in enumerate(seeds):
        ss = np.random.SeedSequence([int(s), int(d), int(r), _SECOND_FACTOR_TAG])
        out[b] = np.random.default_rng(ss).standard_normal((d, r)) * (varpi / math.sqrt(d))
    return out


def explicit_points(name: str, value, d: int, r: int) -> np.ndarray:
    """An explicit starting point (d, r) or (n_runs, d, r) as float64 (n_runs, d, r)."""
    x = np.array(value, dtype=np.float64)
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[1:] != (d, r):
        raise ArgumentError(
            f"{name} has shape {np.shape(value)}: allowed (d, r) = ({d}, {r}) or (n_runs, {d}, {r})"
        )
    if not np.all(np.isfinite(x)):
        raise ArgumentError(f"{name} has NaN or infinite entries: allowed finite numbers")
    return x


def _trace_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """tr(A B) for batches of symmetric r x r matrices: sum of the elementwise product."""
    return np.einsum("bij,bij->b", a, b)


def errors(lam: np.ndarray, x: np.ndarray, y: np.ndarray, r: int):
    """(||Sigma_r - X Y^T||_F, ||Sigma - X Y^T||_F) per run, O(d r^2), no d x d matrix.

    Split by rows: top (first r rows of X and Y, t) and bulk (the rest, b). Then
    ||Sigma_r - X Y^T||^2 = ||diag(lam_t) - X_t Y_t^T||^2 + tr(X_t^T X_t Y_b^T Y_b)
    + tr(X_b^T X_b Y_t^T Y_t) + tr(X_b^T X_b Y_b^T Y_b): the r x r block is formed directly and
    the other three terms are traces of products of positive semidefinite Grams (no
    cancellation there); the r x r block differs O(lambda_1) numbers once learned: relative
    accuracy about r^2 eps down to an absolute floor of about r eps lambda_1. ``distance`` adds
    the bulk of Sigma:
    ||Sigma_b - X_b Y_b^T||^2 = ||lam_b||^2 - 2 sum_i lam_i x_i . y_i + tr(X_b^T X_b Y_b^T Y_b),
    which cancels: absolute error about 4 eps (||lam_b||^2 + ||X_b||_F^2 ||Y_b||_F^2) in the
    square (floor of ``distance`` about 2 sqrt(eps) times that root, 3e-8 relative).
    """
    xt, xb, yt, yb = x[:, :r], x[:, r:], y[:, :r], y[:, r:]
    top = np.einsum("bkj,blj->bkl", xt, yt)
    top[:, np.arange(r), np.arange(r)] -= lam[:r]
    gxt, gyt = _gram(xt), _gram(yt)
    gxb, gyb = _gram(xb), _gram(yb)
    bulk_product = _trace_product(gxb, gyb)
    err2 = (
        np.sum(top**2, axis=(1, 2))
        + _trace_product(gxt, gyb)
        + _trace_product(gxb, gyt)
        + bulk_product
    )
    lam_b = lam[r:]
    bulk2 = lam_b @ lam_b - 2.0 * np.einsum("i,bij,bij->b", lam_b, xb, yb) + bulk_product
    dist2 = err2 - bulk_product + np.maximum(bulk2, 0.0)
    return np.sqrt(err2), np.sqrt(np.maximum(dist2, 0.0))


def _gram(x: np.ndarray) -> np.ndarray:
    return np.einsum("bij,bik->bjk", x, x)


def noise(x: np.ndarray, y: np.ndarray, r: int) -> np.ndarray:
    """noise_k = sqrt((||X_{>k} y_k||^2 + ||Y_{>k} x_k||^2) / 2), (n_runs, r).

    x_k, y_k are row k of X and Y, X_{>k} the rows after k: the off-diagonal part of column and
    row k of X Y^T below the diagonal. With Y = X it is the factorization's ||K_k u_k||.
    O(d r^2) per step.
    """
    xy = np.einsum("bij,bkj->bik", x, y[:, :r])  # column k: X y_k, (n_runs, d, r)
    yx = np.einsum("bij,bkj->bik", y, x[:, :r])
    below = np.arange(x.shape[1])[:, None] > np.arange(r)[None, :]
    a = np.sum(np.where(below, xy, 0.0) ** 2, axis=1)
    b = np.sum(np.where(below, yx, 0.0) ** 2, axis=1)
    return np.sqrt((a + b) / 2.0)


def rise_steps(signal: np.ndarray, delta_gap: float) -> np.ndarray:
    """rise_k = first step with signal_k >= Delta / 2 (NaN if never), signal (n_runs, steps, r)."""
    risen = signal >= delta_gap / 2.0
    first = np.argmax(risen, axis=1).astype(np.float64)
    return np.where(np.any(risen, axis=1), first, np.nan)


_VARIABLE_ATTRS = {
    "error": ("distance to Sigma_r", "1", "||Sigma_r - X Y^T||_F (Y = X unless asymmetric)"),
    "distance": ("distance to Sigma", "1", "||Sigma - X Y^T||_F (Y = X unless asymmetric)"),
    "signal": ("signal", "1", "(X Y^T)_kk = x_k . y_k (||u_k||^2 when Y = X)"),
    "signal_X": ("signal of X", "1", "||x_k||^2, row k of X"),
    "signal_Y": ("signal of Y", "1", "||y_k||^2, row k of Y"),
    "noise": ("noise", "1", "sqrt((||X_{>k} y_k||^2 + ||Y_{>k} x_k||^2) / 2)"),
    "imbalance_norm": ("imbalance of the factors", "1", "||X^T X - Y^T Y||_F"),
    "residual": ("measurement residual", "1", "(1/m) sum_i (<A_i, X X^T> - y_i)^2"),
    "rise": ("rise time", "step", "first step with signal_k >= Delta/2"),
}


def problem_dataset(
    *, problem, spec, eta, varpi, seeds, per_step, extra_coords, wall_time, extra_attrs=None
) -> xr.Dataset:
    """The Dataset of one batch of a non-factorization problem (dims seed, k, step).

    ``per_step`` maps names to arrays (n_runs, steps+1) or (n_runs, steps+1, r).
    """
    r = spec.r
    variables = {}
    for name, value in per_step.items():
        if value.ndim == 2:
            variables[name] = (("seed", "step"), value)
        else:
            variables[name] = (("seed", "k", "step"), value.transpose(0, 2, 1))
    variables["rise"] = (("seed", "k"), rise_steps(per_step["signal"], spec.Delta))
    variables["wall_time"] = (("seed",), np.full(len(seeds), wall_time))
    n_steps = next(iter(per_step.values())).shape[1]
    coords = {
        "seed": ("seed", np.asarray(seeds, dtype=np.int64)),
        "k": ("k", np.arange(1, r + 1)),
        "step": ("step", np.arange(n_steps)),
        "problem": problem,
        "d": dimension_coordinate(spec.d),
        "log10_d": math.log10(spec.d),
        "r": r,
        "varpi": float(varpi),
        "eta": float(eta),
        "lambda_1": spec.lambda_1,
        "Delta": spec.Delta,
        "lambda_k": ("k", spec.top(r)),
        **extra_coords,
    }
    ds = xr.Dataset(variables, coords=coords)
    for name, (long_name, units, description) in _VARIABLE_ATTRS.items():
        if name in ds:
            ds[name].attrs.update(_attrs(long_name, units, description))
    ds["wall_time"].attrs.update(_attrs("wall time per run", "s", "GD loop only"))
    ds.attrs.update(
        {
            "title": f"GD for {problem} from large initialization",
            "problem": problem,
            "mfsim_version": __version__,
            "spectrum": spec.name,
            "spectrum_params": repr(dict(spec.params)),
            "Conventions": "CF-1.10",
        }
    )
    if extra_attrs:
        ds.attrs.update(extra_attrs)
    return ds
