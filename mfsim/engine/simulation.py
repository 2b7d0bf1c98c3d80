"""The GD engine: ``simulate`` runs a batch of seeds of GD (paper, eq. 9) on a diagonal Sigma.

Precision: float64 by default. float32 storage (``dtype='float32'``) is offered for experiments
only: near a saddle the signal u_k is tiny; in any frame other than Sigma's eigenbasis float32
rounding of the iterate re-seeds it with O(1e-8 |x|) noise, shortening escape times, and
underflow can make a saddle exact. Both are shown in ``tests/engine/test_simulation.py``
(``test_float32_rounding_reseeds_a_saddle_and_shortens_the_escape``,
``test_float32_underflow_makes_the_saddle_exact``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import numba
import numpy as np

from mfsim.arguments import (
    ArgumentError,
    check_integer,
    check_number,
    check_seeds,
)
from mfsim.engine import kernels
from mfsim.engine.advice import warn_if_t_k_star_undetermined
from mfsim.engine.compilation import compiling
from mfsim.engine.dataset import build_dataset
from mfsim.engine.initialization import (
    check_dimension,
    effective_system,
    initial_state,
    reduce_explicit,
)
from mfsim.engine.problems import check_problem, simulate_problem
from mfsim.engine.recording import recorded_steps
from mfsim.engine.reduced_simulation import simulate_reduced
from mfsim.engine.stages import StageTracker
from mfsim.engine.ties import cluster_outputs, tie_clusters
from mfsim.spectra import Spectrum

__all__ = ["simulate", "simulate_dense", "noise_floor_factor"]

# about 64 MB of per-step diagnostics per block of steps
_BLOCK_BYTES = 64 * 2**20


def _choose_block_steps(n_runs: int, r: int, steps: int) -> int:
    per_step = n_runs * 8 * (16 + 4 * r)
    return int(np.clip(_BLOCK_BYTES // per_step, 16, 4096).item()) if steps > 16 else steps + 1


def simulate(
    spectrum: Spectrum,
    r: int | None = None,
    eta: float = 0.1,
    steps: int = 1000,
    *,
    varpi: float = 0.5,
    seeds=(0,),
    X0=None,
    epsilons=(1e-2, 1e-4, 1e-6),  # noqa: N803
    stop_error: float = 1e-10,
    learned_tolerance: float = 0.01,
    record="auto",
    record_stride: int | None = None,
    record_num: int | None = None,
    heatmap_steps=(0,),
    dtype="float64",
    reduce="auto",
    kernel="auto",
    progress: bool = False,
    attrs: dict | None = None,
    problem: str = "factorization",
    imbalance: float | None = None,
    Y0=None,  # noqa: N803
    measurements: int | None = None,
    operator=None,
):
    """Run GD from X_0 = varpi N_0 for a batch of seeds; return an ``xarray.Dataset``.

    Parameters
    ----------
    spectrum : Spectrum
        Sigma = diag(lambda) (see :func:`mfsim.spectrum`). ``spectrum.d`` may be a Python int of
        any size or a float: up to 10^10000 for reduced systems (flat bulks are reduced exactly:
        cost independent of d; the lean kernel carries an exponent per row), 10^300 otherwise.
    r : int, optional
        Rank; defaults to ``spectrum.r``.
    eta : float
        Step size (> 0).
    steps : int
        Step limit. Diagnostics are computed at steps 0..steps.
    varpi : float
        Initialization scale (>= 0); N_0 has i.i.d. N(0, 1/d) entries. Recorded as the
        coordinates ``varpi`` and ``varpi_effective`` (``varpi_exponent`` = 0: the scale is
        taken as given, see ``docs/design.md``).
    seeds : int or iterable of int
        One run per seed; the random stream depends on (seed, d, r) only. Integers with
        0 <= seed < 2**63 (floats, even 2.0, are refused), unique; any iterable, generators too.
    X0 : array, optional
        Explicit initial point(s), (d, r) or (n_runs, d, r); then ``seeds`` only label runs and
        ``varpi`` is ignored: the recorded scale is X_0's own, sqrt(mean ||X_0||_F^2 / r) (the
        varpi with E||varpi N_0||_F^2 = ||X_0||_F^2).
    epsilons : sequence of float
        Accuracy levels for ``t_eps``.
    stop_error : float
        A run stops (status ``converged``) when ||Sigma_r - X X^T||_F <= stop_error; 0 disables.
    learned_tolerance : float
        delta in the definition of ``learned``.
    record, record_stride, record_num
        Recording policy (see :func:`mfsim.engine.recording.recorded_steps`).
    heatmap_steps : sequence of int
        Steps at which the top 3x3 block of X X^T is kept.
    dtype : {'float64', 'float32'}
        Storage precision of the iterate.
    reduce : {'auto', True, False}
        Exact Gram reduction of repeated eigenvalues (see
        :func:`mfsim.engine.initialization.effective_system`).
    kernel : {'auto', 'seed', 'row', 'reduced'}
        ``seed``/``row``: the plain kernels' parallel layouts (bit-identical to each other, d up
        to 10^300). ``reduced``: the lean exponent-carrying kernel of
        :mod:`mfsim.engine.reduced` (reduced systems, float64 only; bit-identical to the plain
        kernels in float64's range), the steps on which the stage analysis does nothing
        short-cut (:mod:`mfsim.engine.reduced_fast`). ``reduced-step``: the same kernel with
        every step through the stage analysis, the reference of the short-cut (the same bits).
        ``auto``: ``reduced`` for a reduced float64 system, else the
        plain layout that suits the batch.
    progress : bool
        Show a progress bar (tqdm) over steps.
    attrs : dict, optional
        Extra global attributes.
    problem : {'factorization', 'asymmetric', 'sensing'}
        ``factorization`` (default): min ||Sigma - X X^T||_F^2, the paper's GD (eq. 9), as
        described above. ``asymmetric``: X, Y in R^{d x r}, simultaneous steps
        X <- X + eta (Sigma - X Y^T) Y, Y <- Y + eta (Sigma - X Y^T)^T X
        (:mod:`mfsim.engine.asymmetric`). ``sensing``: GD on
        f(X) = (1/4m) sum_i (<A_i, X X^T> - y_i)^2, y_i = <A_i, Sigma>, step
        X <- X - eta (1/m) sum_i <A_i, X X^T - Sigma> A_i X (:mod:`mfsim.engine.sensing`).
        The two new problems run in NumPy, materialize the d eigenvalues (d up to 5e7), record
        every step in float64, take no ``record*``, ``dtype``, ``reduce`` or ``kernel`` and do
        not stop early (``stop_error``, ``epsilons``, ``heatmap_steps`` are ignored).
    imbalance : float, optional
        ``asymmetric`` only: varpi' / varpi > 0, Y_0 = imbalance * varpi N_0' with N_0'
        independent of N_0 (X_0 = varpi N_0 is factorization's X_0 for the seed). Default 1.
    Y0 : array, optional
        ``asymmetric`` only, with ``X0``: the explicit second factor, X0's shape; the recorded
        ``varpi`` and ``imbalance`` are then the root-mean-square scales of X0 and Y0 / X0.
    measurements : int, optional
        ``sensing`` only: m >= 1, needed by the generated operator families.
    operator : {'rank_one', 'goe'} or array (m, d, d), optional
        ``sensing`` only (default 'rank_one'). ``rank_one``: A_i = (a_i a_i^T - b_i b_i^T)/2,
        Gaussian a_i, b_i, O(m d r) per step and O(m d) memory; ``goe``: (G + G^T)/2, Gaussian
        G, dense (refused above 256 MiB of matrices). Both satisfy E[<A, M> A] = M, so the
        expected step is factorization's; drawn per run from (seed, d, m). An array: m
        symmetric d x d matrices used as given for every run
        (:mod:`mfsim.engine.sensing_operators`).

    Returns
    -------
    xarray.Dataset
        Variables and dims as documented in ``docs/design.md``; the accuracy of every
        diagnostic and the ``noise_floor`` variable in ``docs/accuracy.md``. ``d`` is stored as
        int64 below 2^53 and float64 above, with a ``log10_d`` coordinate. ``wall_time``
        excludes numba compilation. For ``asymmetric`` and ``sensing``: dims (seed, step, k),
        a scalar coordinate ``problem``, variables ``error`` (||Sigma_r - X Y^T||_F, Y = X for
        sensing), ``distance`` (||Sigma - X Y^T||_F), ``signal``, ``noise``, ``rise`` (seed, k),
        and ``signal_X``, ``signal_Y``, ``imbalance_norm`` (asymmetric) or ``residual``
        (sensing); definitions and accuracy in ``docs/stages.md``, "Other problems".

    Raises
    ------
    mfsim.arguments.ArgumentError
        (a ValueError) An argument of the wrong type, NaN, infinite or out of range; a float
        where an integer is needed (steps, seeds); a numeric string; a repeated seed. The
        message names the argument, the value as given and what is allowed.
    ValueError
        Invalid run arguments (the message names the argument); d > 10^300 on the plain
        kernels (10^10000 on the reduced one); an unknown ``kernel``; a spectrum that
        leaves more than 50,000,000 rows after the exact reduction; X0 of the wrong shape.
        For the other problems (ArgumentError, naming the argument): an unknown ``problem``;
        an option given to a problem that does not take it; ``imbalance`` <= 0;
        ``measurements`` < 1 or missing; an ``operator`` array not of shape (m, d, d), not
        symmetric or not finite; X0 without Y0; ``goe`` operators over 256 MiB.

    Warns
    -----
    mfsim.engine.advice.StepLimitWarning
        Once, when the step limit leaves the literal t_k^* undetermined in some run, with the
        predicted step count (:func:`mfsim.engine.advice.warn_if_t_k_star_undetermined`).
    """
    if r is not None:
        r = check_integer("r", r, low=1)
    spec = spectrum if r is None or r == spectrum.r else spectrum.with_rank(r)
    r = spec.r
    eta, steps, varpi, stop_error, learned_tolerance, epsilons = _check_run_args(
        eta, steps, varpi, stop_error, learned_tolerance, epsilons, dtype
    )
    seeds = np.asarray(check_seeds(seeds), dtype=np.int64)
    options = {"imbalance": imbalance, "Y0": Y0, "measurements": measurements, "operator": operator}
    check_problem(problem, options)
    if problem != "factorization":
        unused = {"record": record, "record_stride": record_stride, "record_num": record_num}
        unused.update(dtype=dtype, reduce=reduce, kernel=kernel)
        return simulate_problem(
            problem, spec, eta=eta, steps=int(steps), varpi=varpi, seeds=seeds, X0=X0,
            options=options, unused=unused, attrs=attrs,
        )  # fmt: skip
    heatmap_steps = [check_integer(f"heatmap_steps[{i}]", s) for i, s in enumerate(heatmap_steps)]
    if kernel not in ("auto", "seed", "row", "reduced", "reduced-step"):
        raise ValueError(
            f"kernel must be 'auto', 'seed', 'row', 'reduced' or 'reduced-step', got {kernel!r}"
        )
    # an explicit X_0 is taken exactly: 'auto' then means no reduction
    system = effective_system(spec, False if (X0 is not None and reduce == "auto") else reduce)
    clusters = tie_clusters(spec)  # None without ties; the reduced kernel tracks single rows
    if kernel in ("reduced", "reduced-step") and clusters is not None:
        raise ValueError(f"kernel={kernel!r} does not support tied top eigenvalues; use 'auto'")
    if kernel in ("reduced", "reduced-step") or (
        kernel == "auto" and system.is_reduced and np.dtype(dtype) == np.float64 and not clusters
    ):
        if not system.is_reduced or np.dtype(dtype) != np.float64:
            raise ValueError(
                f"kernel={kernel!r} needs a reduced system (reduce=True or 'auto') and float64"
            )
        ds = simulate_reduced(
            system,
            eta=eta,
            steps=int(steps),
            varpi=varpi,
            seeds=seeds,
            X0=X0,
            epsilons=epsilons,
            stop_error=stop_error,
            learned_tolerance=learned_tolerance,
            record=record,
            record_stride=record_stride,
            record_num=record_num,
            heatmap_steps=heatmap_steps,
            floor_factor=noise_floor_factor(eta, spec.Delta, dtype),
            progress_bar=_progress_bar(int(steps) + 1, progress),
            attrs=attrs,
            layout="step" if kernel == "reduced-step" else "fast",
        )
        warn_if_t_k_star_undetermined(ds, int(steps))
        return ds
    check_dimension(spec.d)
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
    if X0 is None:
        # drawn in place: no per-seed temporaries of X_0's size, no copy into the batch
        xs = np.empty((len(seeds), system.n_rows, r), dtype=dtype)
        for b, s in enumerate(seeds):
            initial_state(system, varpi, int(s), dtype, out=xs[b])
    else:
        x0 = np.asarray(X0, dtype=np.float64)
        x0 = x0[None] if x0.ndim == 2 else x0
        if x0.shape[1:] != (spec.d, r):
            raise ValueError(f"X0 must have shape (d, r) = ({spec.d}, {r}), got {x0.shape[1:]}")
        xs = np.stack([reduce_explicit(system, x) for x in x0]).astype(dtype)
        if len(seeds) != len(xs):
            seeds = np.arange(len(xs), dtype=np.int64)
        # the scale of the given X_0: varpi with E||varpi N_0||_F^2 = varpi^2 r = ||X_0||_F^2
        # (root mean square over the runs of the batch)
        varpi = float(np.sqrt(np.mean(np.sum(x0**2, axis=(1, 2))) / r))
    xs = np.ascontiguousarray(xs)
    n_runs, n_rows = xs.shape[0], xs.shape[1]

    segs = kernels.Segments(
        np.array([s.first for s in system.segments], dtype=np.float64),
        np.array([s.increment for s in system.segments], dtype=np.float64),
        np.concatenate([[0], np.cumsum([s.count for s in system.segments])[:-1]]).astype(np.int64),
        np.array([s.count for s in system.segments], dtype=np.int64),
    )
    top_lam = spec.top(r)
    lam1, delta_gap = spec.lambda_1, spec.Delta
    params = kernels.Params(
        top_lam,
        float(eta),
        float(lam1),
        float(stop_error),
        int(steps),
        noise_floor_factor(eta, delta_gap, dtype),
    )
    tok = kernels.rank_token(r)

    record_grid = recorded_steps(steps, record, record_stride, record_num)
    heatmap_steps = np.asarray(
        sorted({int(s) for s in heatmap_steps if 0 <= s <= steps}), dtype=np.int64
    )
    rec = _Recorder(n_runs, r, record_grid, heatmap_steps)
    tracker = StageTracker(n_runs, r, top_lam, delta_gap, eta, epsilons, learned_tolerance)
    if kernel == "auto":
        kernel = (
            "row" if (n_runs < numba.get_num_threads() and n_rows > kernels.BLOCK_ROWS) else "seed"
        )
    run_block = {"seed": kernels.run_seed_parallel, "row": kernels.run_row_parallel}[kernel]
    # compile (or load from the cache) before the clock starts: wall_time excludes compilation;
    # one process at a time compiles a specialization (the others then load it)
    key = (kernel, r if tok is not None else "tiled", str(xs.dtype))
    with compiling(key):
        state = kernels.new_state(xs, segs)
        run_block(tok, state, segs, params, 0, 0, kernels.empty_outputs(n_runs, 0, r))

    block_steps = _choose_block_steps(n_runs, r, steps)
    bar = _progress_bar(steps + 1, progress)
    started = time.perf_counter()
    t0 = 0
    while t0 <= steps and np.any(state.status == kernels.RUNNING):
        nsteps = min(block_steps, steps + 1 - t0)
        out = kernels.empty_outputs(n_runs, nsteps, r)
        run_block(tok, state, segs, params, t0, nsteps, out)
        out = cluster_outputs(out, clusters)
        tracker.update(t0, out.signal, out.error, out.s1x, out.s1k, out.sru, out.s1j)
        rec.take(t0, out)
        t0 += nsteps
        bar.update(nsteps)
    bar.close()
    wall = time.perf_counter() - started
    status, stop_step = state.status, state.stop_step

    stages = tracker.finalize(status)
    ds = build_dataset(
        spec=spec,
        eta=eta,
        varpi=varpi,
        seeds=seeds,
        recorder=rec,
        stages=stages,
        tracker=tracker,
        status=status,
        stop_step=stop_step,
        wall_time=wall / n_runs,
        epsilons=epsilons,
        reduced=system.is_reduced,
        dtype=str(np.dtype(dtype)),
        stop_error=stop_error,
        learned_tolerance=learned_tolerance,
        extra_attrs=attrs,
    )
    warn_if_t_k_star_undetermined(ds, steps)
    return ds


def noise_floor_factor(eta: float, Delta: float, dtype="float64") -> float:  # noqa: N803
    """F in noise_floor_k = F |u_k| ||K_k||_F: the level below which float64 cannot resolve noise_k.

    Rounding of one step perturbs every row x_i by about eps |x_i| (relative rounding of
    (1 + eta lambda_i) x_i - eta x_i G, whose terms have size |x_i|), hence x_i . u_k by about
    eps |x_i| |u_k| with random sign: noise_k by about eps |u_k| ||K_k||_F per step. Where the
    noise decays (the regime where it is small) the exact dynamics contract it by at most
    q = 1 - eta Delta / 6 per step (eq. 14, property 4), so the injected errors accumulate to
    at most eps |u_k| ||K_k||_F / sqrt(1 - q^2). Derivation and checks: ``docs/accuracy.md``.

    Parameters
    ----------
    eta, Delta : float
        Step size and eigengap (> 0).
    dtype : {'float64', 'float32'}
        Storage precision of the iterate: its eps is the rounding of each step.

    Returns
    -------
    float
        eps / sqrt(1 - q^2), eps = 2^-52 (float64 storage) or 2^-23 (float32).
    """
    q = 1.0 - eta * Delta / 6.0
    return float(np.finfo(np.dtype(dtype)).eps) / math.sqrt(max(1.0 - q * q, 1e-300))


def _check_run_args(eta, steps, varpi, stop_error, learned_tolerance, epsilons, dtype):
    """The run arguments by the shared rules of :mod:`mfsim.arguments`; returns them checked."""
    eta = check_number("eta", eta, low=0, low_open=True)
    steps = check_integer("steps", steps, low=1)
    varpi = check_number("varpi", varpi, low=0)
    stop_error = check_number("stop_error", stop_error, low=0)
    learned_tolerance = check_number(
        "learned_tolerance", learned_tolerance, low=0, high=1, low_open=True, high_open=True
    )
    if isinstance(epsilons, str) or not isinstance(epsilons, Iterable):
        raise ArgumentError(f"epsilons = {epsilons!r}: expected an iterable of numbers > 0")
    epsilons = tuple(
        check_number(f"epsilons[{i}]", e, low=0, low_open=True) for i, e in enumerate(epsilons)
    )
    if not epsilons:
        raise ArgumentError("epsilons is empty; give at least one number > 0")
    try:
        valid_dtype = np.dtype(dtype) in (np.float64, np.float32)
    except TypeError:
        valid_dtype = False
    if not valid_dtype:
        raise ArgumentError(f"dtype = {dtype!r}: allowed: float64 or float32")
    return eta, steps, varpi, stop_error, learned_tolerance, epsilons


class _Recorder:
    """Keeps the diagnostics of the recorded steps (and the heat maps of the heat-map steps)."""

    NAMES = ("error", "signal", "noise", "noise_floor", "s1x", "s1k", "sru", "s1j")

    def __init__(self, n_runs, r, record_grid, heatmap_steps):
        self.steps = record_grid
        self.heatmap_steps = heatmap_steps
        n = record_grid.size
        per_k = ("signal", "noise", "noise_floor", "s1k")
        self.data = {
            name: np.full((n_runs, n, r) if name in per_k else (n_runs, n), np.nan)
            for name in self.NAMES
        }
        self.top = np.full((n_runs, heatmap_steps.size, 3, 3), np.nan)

    def take(self, t0, out: kernels.Outputs):
        t1 = t0 + out.error.shape[1]
        sel = np.flatnonzero((self.steps >= t0) & (self.steps < t1))
        local = self.steps[sel] - t0
        for name in self.NAMES:
            self.data[name][:, sel] = getattr(out, name)[:, local]
        sel = np.flatnonzero((self.heatmap_steps >= t0) & (self.heatmap_steps < t1))
        self.top[:, sel] = out.top[:, self.heatmap_steps[sel] - t0]


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total, enabled):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", desc="GD")


def simulate_dense(
    sigma: np.ndarray,
    X0: np.ndarray,
    eta: float,
    steps: int,  # noqa: N803
    r: int | None = None,
    dtype="float64",
):
    """Plain GD with a dense symmetric PSD Sigma, O(d^2 r) per step (small d only).

    Demonstrates rotation invariance: the diagnostics are evaluated in Sigma's eigenbasis
    (eigenvalues decreasing), where they must match the diagonal engine started from V^T X_0.

    With ``dtype='float32'`` the iterate and Sigma are float32 throughout: rounding in the
    rotated frame injects ~1e-7 relative noise into every eigendirection, which re-seeds a signal
    stuck at a saddle (the reason the diagonal engine defaults to float64).

    Returns
    -------
    dict with ``error`` (steps+1,), ``signal`` and ``noise`` (steps+1, r).
    """
    sigma64 = np.asarray(sigma, dtype=np.float64)
    sigma = sigma64.astype(dtype)
    x = np.array(X0, dtype=dtype)
    eta = np.dtype(dtype).type(eta)
    r = x.shape[1] if r is None else r
    lam, vecs = np.linalg.eigh(sigma64)
    lam, vecs = lam[::-1], vecs[:, ::-1]
    sigma_r = (vecs[:, :r] * lam[:r]) @ vecs[:, :r].T
    error, signal, noise = [], [], []
    for _ in range(steps + 1):
        x64 = x.astype(np.float64)
        error.append(np.linalg.norm(sigma_r - x64 @ x64.T))
        y = vecs.T @ x64
        signal.append(np.sum(y[:r] ** 2, axis=1))
        noise.append([np.linalg.norm(y[k + 1 :] @ y[k]) for k in range(r)])
        x = x + eta * (sigma @ x - x @ (x.T @ x))
    return {"error": np.array(error), "signal": np.array(signal), "noise": np.array(noise)}
