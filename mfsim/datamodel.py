"""The data model of every mfsim Dataset: names, dims, attributes, status codes, fill values.

The one source that dataset building (:mod:`mfsim.engine.dataset`), the stores
(:mod:`mfsim.store`), the fits (:mod:`mfsim.analysis.scaling`) and the figures read. A leaf
module: it imports nothing of mfsim.

Vocabulary
----------
batch Dataset
    One ``mfsim.simulate`` call: dims ``(seed, k, step, eps, heatmap_step, row, col)``.
chunk store
    The runs of one chunk (one Snakemake job) along the dim :data:`RUN_DIM`.
sweep store
    Dense over the grid dims :data:`AXES`, then the variable's own dims.

``kappa`` is the condition number *requested* from the spectrum family (the grid value; for
families that fix kappa, figure1 and custom, the value they fix); ``kappa_realized`` is
``lambda_1 / Delta`` of the spectrum actually built (section 4.1).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "AXES",
    "BATCH_SCALARS",
    "CONVERGED",
    "COORD_ATTRS",
    "DIVERGED",
    "FLOAT64_D_LIMIT",
    "FAILED_STATUSES",
    "GRID_DIMS",
    "MAX_STEPS",
    "MISSING_VALUES",
    "NONDETERMINISTIC_VARIABLES",
    "NONFINITE",
    "NO_RUN",
    "PROBLEM_COORD_ATTRS",
    "PROBLEM_DIM",
    "PROBLEM_VARIABLES",
    "PER_K_VARIABLES",
    "RUNNING",
    "RUN_DIM",
    "SPECTRUM_COORDS",
    "STAGE_VARIABLES",
    "STATUS_FLAGS",
    "STATUS_MEANINGS",
    "STATUS_NAMES",
    "UNDERFLOW",
    "VARIABLE_ATTRS",
    "attrs",
    "fill_value",
    "stored_dimension",
    "stored_dimension_log10",
    "stored_dimension_of_log10",
    "stored_dimension_text",
]

#: The largest d stored as its float64 value; from here on a float64 ``d`` holds -log10(d).
FLOAT64_D_LIMIT = 10**308


def stored_dimension(d: int) -> float:
    """The float64 a store's ``d`` holds for the dimension `d` (a Python int of any size).

    The nearest double of `d` below :data:`FLOAT64_D_LIMIT`; beyond, where d does not fit a
    float64, the negative number -log10(d): never +inf or NaN, distinct for distinct d, and
    recognizable (a dimension is >= 1), so ``log10_d`` (exact at every d) must be read there.
    ``docs/design.md`` ("d beyond float64") states the rule.
    """
    d = int(d)
    return float(d) if d < FLOAT64_D_LIMIT else -math.log10(d)


def stored_dimension_of_log10(log10_d: float) -> float:
    """:func:`stored_dimension` of d = 10^`log10_d` (e.g. a point of a fitted curve)."""
    return 10.0**log10_d if log10_d < 308 else -float(log10_d)


def stored_dimension_log10(stored) -> np.ndarray:
    """log10(d) of stored ``d`` values (array): log10 of a positive value, minus a negative one
    (d beyond float64). Orders stored d values by size."""
    stored = np.asarray(stored, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(stored > 0, np.log10(np.abs(stored)), -stored)


def stored_dimension_text(stored: float) -> str:
    """A stored ``d`` as text with 3 significant digits: ``"100"``, ``"1e+300"``, and beyond
    float64 (stored -log10 d) the same form from log10 d, ``"1e+1000"``."""
    stored = float(stored)
    if stored > 0:
        return f"{stored:.3g}"
    exponent = math.floor(-stored)
    mantissa = 10.0 ** (-stored - exponent)
    if f"{mantissa:.3g}" == "10":
        mantissa, exponent = 1.0, exponent + 1
    return f"{mantissa:.3g}e+{exponent}"


# --------------------------------------------------------------------------------------------
# run status (CF flag_values / flag_meanings)

#: A run still iterating: only inside the engine, never in a Dataset.
RUNNING = -1
CONVERGED = 0
MAX_STEPS = 1
DIVERGED = 2
NONFINITE = 3
#: A positive diagnostic fell below float64's normal range (docs/accuracy.md).
UNDERFLOW = 4
#: Status of a sweep-store cell without a run (same value as the engine's RUNNING, which
#: never reaches a store).
NO_RUN = -1
#: Status code -> name.
STATUS_NAMES = {CONVERGED: "converged", MAX_STEPS: "max_steps", DIVERGED: "diverged",
                NONFINITE: "nonfinite", UNDERFLOW: "underflow"}  # fmt: skip
STATUS_MEANINGS = " ".join(STATUS_NAMES.values())
#: Runs that failed numerically (diverged, or a non-finite iterate).
FAILED_STATUSES = (DIVERGED, NONFINITE)
STATUS_FLAGS = {
    "flag_values": np.array(list(STATUS_NAMES), dtype=np.int8),
    "flag_meanings": STATUS_MEANINGS,
}

# --------------------------------------------------------------------------------------------
# dims

#: Grid dims of the sweep store, in order.
AXES = ("d", "kappa", "varpi", "varpi_exponent", "eta", "r", "seed")
#: Grid dims of the sweep store without ``seed``.
GRID_DIMS = tuple(axis for axis in AXES if axis != "seed")
#: The dim of a chunk store along which runs follow each other.
RUN_DIM = "run"
#: Own dims of the variables that every run shares (their coordinates are the same for all).
SHARED_DIMS = ("step", "eps", "heatmap_step", "row", "col")
#: Variables of one value per batch; in the sweep store on dims ``(d, kappa, eta, r)``.
BATCH_SCALARS = ("t_star", "t_sharp")
BATCH_SCALAR_DIMS = ("d", "kappa", "eta", "r")
#: Per-run coordinates of a chunk store besides the grid position.
RUN_COORDS = ("varpi_effective", "kappa_realized", "lambda_1", "Delta")
#: Coordinates of the sweep store that depend on the spectrum only: dims (d, kappa, r).
SPECTRUM_COORDS = ("kappa_realized", "lambda_1", "Delta")
#: Data variables that legitimately differ between reruns (timings).
NONDETERMINISTIC_VARIABLES = ("wall_time",)

# --------------------------------------------------------------------------------------------
# fill values


def fill_value(dtype) -> bool | int | float:
    """The value of a cell without a run: False (bool), -1 (integers, e.g. ``status``,
    ``in_S``, ``in_R``), NaN (floats)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return False
    if np.issubdtype(dtype, np.integer):
        return NO_RUN
    return np.nan


MISSING_VALUES = (
    "cells without a run: NaN (float), -1 (status, in_S, in_R), False (t_k_star_bound_dominated)"
)

# --------------------------------------------------------------------------------------------
# attributes


def attrs(long_name: str, units: str, description: str) -> dict:
    """CF-style attributes ``long_name``, ``units``, ``description``."""
    return {"long_name": long_name, "units": units, "description": description}


_STEP = "steps"
VARIABLE_ATTRS = {
    "error": attrs("error", "1", "||Sigma_r - X_t X_t^T||_F (Theorem 6, property 6)"),
    "signal": attrs("signal strength", "1", "sigma_1^2(u_{k,t}) = ||u_{k,t}||^2, u_k the k-th row"),
    "noise": attrs(
        "coupling noise",
        "1",
        "sigma_1(u_{k,t} K_{k,t}^T), K_k the rows k+1..d (Theorem 6, property 4)",
    ),
    "noise_floor": attrs(
        "noise rounding floor",
        "1",
        "eps |u_{k,t}| ||K_{k,t}||_F / sqrt(1 - q^2), q = 1 - eta Delta/6: noise values below it "
        "are not resolved by a float64 iterate (docs/accuracy.md)",
    ),
    "sigma1_sq_X": attrs("sigma_1^2(X_t)", "1", "largest eigenvalue of X_t^T X_t"),
    "sigma1_sq_K": attrs("sigma_1^2(K_{k,t})", "1", "rows k+1..d; enters S (eq. 13)"),
    "sigmar_sq_U": attrs("sigma_r^2(U_t)", "1", "U = first r rows; enters R (eq. 10)"),
    "sigma1_sq_J": attrs("sigma_1^2(J_t)", "1", "J = rows r+1..d; enters R (eq. 10)"),
    "in_S": attrs("X_t in S", "1", "membership in S (eq. 13); -1 after the run stopped"),
    "in_R": attrs("X_t in R", "1", "membership in R (eq. 10); -1 after the run stopped"),
    "top_gram": attrs("top 3x3 block of X_t X_t^T", "1", "heat maps of Figure 1"),
    "t_init": attrs(
        "t_init,k",
        _STEP,
        "t_init,1 = first step in S (eq. 13); t_init,k+1 = t_k + t_k^* (section 4.2); "
        "NaN = not determined",
    ),
    "T_u": attrs(
        "T_{u_k}",
        _STEP,
        "min{t >= 0: sigma_1^2(u_{k,t+t_init,k}) >= Delta/2}; NaN = not observed "
        "(0 when completed at a settled converged stop, docs/stages.md)",
    ),
    "t_k": attrs(
        "t_k",
        _STEP,
        "t_init,k + T_{u_k} + ceil(t^*) for every k <= r (Lemma 10, property 2); "
        "formula-defined: recorded once t_init,k and T_{u_k} are, also past stop_step",
    ),
    "t_k_star": attrs(
        "t_k^*",
        _STEP,
        "smallest integer s with r q^s <= sqrt(Delta/8) "
        "min(sigma_1(u_{k+1,t_k+s}), sqrt(Delta/2)), q = 1 - eta Delta/6 (eq. 15); "
        "defined for k < r; NaN = not observed (ceil(t^sharp), bound-dominated, when completed "
        "at a settled converged stop, docs/stages.md)",
    ),
    "t_k_star_bound_dominated": attrs(
        "t_k^* bound-dominated",
        "1",
        "true when the min in eq. 15 is attained by sqrt(Delta/2): "
        "t_k^* = ceil(t^sharp) whatever the dynamics",
    ),
    "t_R": attrs(
        "t_R",
        _STEP,
        "t_init,r + T_{u_r} + ceil(t^* + t^sharp) (Theorem 6, property 5); formula-defined: "
        "recorded once t_init,r and T_{u_r} are, also past stop_step",
    ),
    "first_in_S": attrs("first step in S", _STEP, "min{t: X_t in S} (eq. 13)"),
    "first_in_R": attrs("first step in R", _STEP, "min{t: X_t in R} (eq. 10)"),
    "t_eps": attrs(
        "epsilon-accuracy time",
        _STEP,
        "min{t: ||Sigma_r - X_t X_t^T||_F <= eps} (Theorem 6, property 6)",
    ),
    "rise": attrs("rise time", _STEP, "min{t: sigma_1^2(u_{k,t}) >= Delta/2}"),
    "learned": attrs(
        "learned time",
        _STEP,
        "first step after which |lambda_k - sigma_1^2(u_k)| "
        "<= delta lambda_k holds to the end of the run",
    ),
    "escape": attrs("saddle escape time", _STEP, "rise_{k+1} - rise_k (k < r)"),
    "plateau": attrs(
        "plateau length",
        _STEP,
        "rise_{k+1} - learned_k (k < r); negative when u_{k+1} rises before u_k is learned",
    ),
    "status": {
        **attrs(
            "run status",
            "1",
            "how the run ended; underflow: a positive diagnostic fell below float64's normal "
            "range (docs/accuracy.md)",
        ),
        **STATUS_FLAGS,
    },
    "stop_step": attrs("stop step", _STEP, "last step whose diagnostics were computed"),
    "wall_time": attrs(
        "wall time per run",
        "s",
        "batch wall time divided by the batch size, numba compilation excluded",
    ),
    "t_star": attrs(
        "t^*",
        _STEP,
        "log(Delta^2/(8 lambda_1^3 + 144 r^2 lambda_1)) / log(1 - eta Delta/6) (eq. 14)",
    ),
    "t_sharp": attrs("t^sharp", _STEP, "log(Delta/(4r)) / log(1 - eta Delta/6) (eq. 14)"),
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
#: Stage variables with a ``k`` dim.
PER_K_VARIABLES = frozenset(
    {"t_init", "T_u", "t_k", "t_k_star", "t_k_star_bound_dominated", "rise", "learned", "escape",
     "plateau"}
)  # fmt: skip

#: Diagnostics of the problems other than factorization (``grid.problem``): name ->
#: (dims of a batch Dataset, attributes). In a sweep that runs such a problem every run has
#: them, NaN where the run's problem does not define them (factorization runs: all five).
PROBLEM_VARIABLES = {
    "distance": (
        ("seed", "step"),
        attrs(
            "distance to Sigma",
            "1",
            "||Sigma - X_t Y_t^T||_F (Y = X for sensing); absolute error about "
            "sqrt(eps) (||Sigma - Sigma_r||_F + ||X_t||_F ||Y_t||_F) (cancellation, "
            "docs/stages.md)",
        ),
    ),
    "residual": (
        ("seed", "step"),
        attrs(
            "measurement residual",
            "1",
            "sensing: (1/m) sum_i (<A_i, X_t X_t^T> - y_i)^2, y_i = <A_i, Sigma>; relative "
            "error about m eps",
        ),
    ),
    "imbalance_norm": (
        ("seed", "step"),
        attrs(
            "imbalance of the factors",
            "1",
            "asymmetric: ||X_t^T X_t - Y_t^T Y_t||_F; absolute error about "
            "eps (||X_t||_F^2 + ||Y_t||_F^2)",
        ),
    ),
    "signal_X": (
        ("seed", "k", "step"),
        attrs("signal of X", "1", "asymmetric: ||x_{k,t}||^2, x_k the k-th row of X_t"),
    ),
    "signal_Y": (
        ("seed", "k", "step"),
        attrs("signal of Y", "1", "asymmetric: ||y_{k,t}||^2, y_k the k-th row of Y_t"),
    ),
}
#: The dim of a sweep store that runs problems besides factorization, and its coordinates.
PROBLEM_DIM = "problem"
PROBLEM_COORD_ATTRS = {
    "problem": (
        "problem",
        "1",
        "the optimization problem of the run and its option: factorization, "
        "'sensing m/(dr)=x' (or 'sensing m=x'), 'asymmetric imbalance=x' (grid.problem)",
    ),
    "measurements": (
        "measurements (grid value)",
        "1",
        "sensing: grid.measurements, m / (d r) or m by sensing.measurements_unit; NaN otherwise",
    ),
    "imbalance": (
        "imbalance varpi' / varpi",
        "1",
        "asymmetric: Y_0 = imbalance varpi N_0'; NaN otherwise",
    ),
}

#: Coordinates of batch Datasets and stores: name -> (long_name, units, description).
COORD_ATTRS = {
    "d": (
        "dimension d",
        "1",
        "Sigma is d x d, X is d x r; int64 when every d of the store is below 2^53, else float64",
    ),
    "log10_d": ("log10 of the dimension d", "1", "log10(d) computed from the exact integer d"),
    "kappa": (
        "condition number kappa (requested)",
        "1",
        "grid value of lambda_1 / Delta; for families that fix kappa (figure1, custom) "
        "the realized value when it is the same at every grid point, else NaN",
    ),
    "varpi": (
        "initialization scale c (grid value, not the varpi of X_0 when varpi_exponent != 0)",
        "1",
        "the scale c of the grid; X_0 = varpi_effective N_0 with varpi_effective = "
        "c d^-varpi_exponent, equal to c only where varpi_exponent = 0",
    ),
    "varpi_exponent": (
        "initialization exponent a",
        "1",
        "varpi_effective = varpi d^-a; a = 0 is large initialization",
    ),
    "eta": ("step size eta", "1", "GD step size"),
    "r": ("rank r", "1", "X is d x r"),
    "seed": ("seed", "1", "run seed; X_0 depends on (seed, d, r) only"),
    "k": ("signal index k", "1", "1..max r; entries with k > r are NaN"),
    "step": ("step", "steps", "recorded GD steps (shared by all runs)"),
    "eps": ("accuracy level", "1", "epsilon of t_eps"),
    "heatmap_step": ("heat-map step", "steps", "steps at which top_gram is kept"),
    "row": ("row", "1", "row index of the top 3x3 block of X X^T"),
    "col": ("column", "1", "column index of the top 3x3 block of X X^T"),
    "varpi_effective": (
        "initialization scale varpi of X_0 = varpi N_0 (the paper's varpi)",
        "1",
        "varpi_effective = c d^-varpi_exponent with c the coordinate varpi",
    ),
    "kappa_realized": ("condition number", "1", "lambda_1 / Delta of the spectrum (section 4.1)"),
    "lambda_1": ("lambda_1", "1", "top eigenvalue of Sigma"),
    "Delta": ("eigengap", "1", "min_{i<=r}(lambda_i - lambda_{i+1})"),
    "lambda_k": ("lambda_k", "1", "top r eigenvalues of Sigma; NaN for k > r"),
}
COORD_ATTRS.update(PROBLEM_COORD_ATTRS)
