"""Engine time per run-step of the reduced kernel against a minimal numba loop, side by side.

The system: the reduced flat family (r rows of U, the explicit rows, r rows per flat level), at
Theorem 6's step size eta = Delta / (100 lambda_1^2) = 0.002 (kappa = 5, lambda_1 = 1),
varpi = 0.5, 64 seeds. Three timings, interleaved over ``--repeats`` rounds (the minimum of each
is printed, with the load average beside it):

* ``engine``: :func:`mfsim.simulate` (the lean reduced kernel with its diagnostics, stage
  analysis and exponent-carrying rows, quiet steps short-cut: :mod:`mfsim.engine.reduced_fast`),
  its ``wall_time`` (compilation excluded) per run-step;
* ``step``: the same kernel with every step through the stop rules and the stage analysis
  (``kernel='reduced-step'``, the cost before the short-cut; the same bits);
* ``minimal``: a numba loop over the same rows doing only G = X^T X and the update
  x_i <- (1 + eta lambda_i) x_i - eta x_i G, in parallel over seeds: a floor for any kernel;
* ``plain``: the plain engine (``kernel='seed'``) on the same system (d <= 10^300 only), the
  cost before this kernel.

Usage: ``python benchmarks/bench_reduced.py [--steps 100000] [--log10-d 300] [--r 2]``.
``--point``: instead, one whole Theorem-6 point (64 seeds to convergence, about 10^6 steps a
run at d = 10^300) with ``engine`` and ``step`` once each, its engine wall time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from numba import njit, prange

import mfsim
from mfsim.engine.exponent_init import exponent_initial_state
from mfsim.engine.initialization import effective_system
from mfsim.engine.reduced_simulation import row_eigenvalues
from mfsim.theory import step_size_bound


@njit(cache=True, parallel=True)
def minimal_loop(tok, xs, growth, eta, steps):
    """GD on the reduced rows, G and the update only (no diagnostics, no exponents); r is a
    compile-time constant (``tok = (0,) * r``), as in the engine."""
    r = len(tok)
    n_runs, n = xs.shape[0], xs.shape[1]
    for b in prange(n_runs):
        x = xs[b]
        g = np.empty((r, r))
        y = np.empty(r)
        for _ in range(steps):
            for p in range(r):
                for q in range(r):
                    acc = 0.0
                    for i in range(n):
                        acc += x[i, p] * x[i, q]
                    g[p, q] = acc
            for i in range(n):
                for q in range(r):
                    acc = 0.0
                    for p in range(r):
                        acc += x[i, p] * g[p, q]
                    y[q] = growth[i] * x[i, q] - eta * acc
                for q in range(r):
                    x[i, q] = y[q]


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--log10-d", type=float, default=300.0)
    parser.add_argument("--r", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--family", default="flat", choices=("flat", "staircase"))
    parser.add_argument("--point", action="store_true")
    args = parser.parse_args()
    if args.point:
        whole_point(args)
        return
    spec = mfsim.spectrum(args.family, {"log10": args.log10_d}, r=args.r, kappa=5)
    eta = step_size_bound(spec.Delta, spec.lambda_1)
    system = effective_system(spec)
    seeds = range(args.seeds)
    kw = dict(eta=eta, steps=args.steps, varpi=0.5, seeds=seeds, record="log", record_num=200)
    print(f"{spec!r}: {system.n_rows} effective rows, eta = {eta:.6g}, {args.seeds} seeds")
    pairs = [exponent_initial_state(system, 0.5, s) for s in seeds]
    xs0 = np.stack([np.ldexp(m, e[:, None]) for m, e in pairs])
    growth = 1.0 + eta * row_eigenvalues(system)
    minimal_loop((0,) * args.r, xs0.copy(), growth, eta, 2)  # compile
    mfsim.simulate(spec, **{**kw, "steps": 10})
    plain_ok = args.log10_d <= 300
    if plain_ok:
        mfsim.simulate(spec, kernel="seed", **{**kw, "steps": 10})
    mfsim.simulate(spec, kernel="reduced-step", **{**kw, "steps": 10})
    best = {"engine": np.inf, "step": np.inf, "minimal": np.inf, "plain": np.inf}
    for _ in range(args.repeats):
        for name, kernel in (("engine", "reduced"), ("step", "reduced-step")):
            ds = mfsim.simulate(spec, kernel=kernel, **kw)
            run_steps = float(np.sum(ds.stop_step.values + 1))
            per = float(ds.wall_time.values[0]) * args.seeds / run_steps
            best[name] = min(best[name], per)
            print(f"  {name:8} {best[name] * 1e9:9.1f} ns/run-step  {load()}")
        started = time.perf_counter()
        minimal_loop((0,) * args.r, xs0.copy(), growth, eta, args.steps)
        elapsed = time.perf_counter() - started
        best["minimal"] = min(best["minimal"], elapsed / (args.seeds * args.steps))
        print(f"  minimal  {best['minimal'] * 1e9:9.1f} ns/run-step  {load()}")
        if plain_ok:
            plain_steps = min(args.steps, 20_000)
            pl = mfsim.simulate(spec, kernel="seed", **{**kw, "steps": plain_steps})
            per = float(pl.wall_time.values[0]) * args.seeds / float(np.sum(pl.stop_step + 1))
            best["plain"] = min(best["plain"], per)
            print(f"  plain    {best['plain'] * 1e9:9.1f} ns/run-step  {load()}")
    print(
        f"best of {args.repeats}: engine {best['engine'] * 1e9:.1f} ns (step-by-step "
        f"{best['step'] * 1e9:.1f} ns, step/engine {best['step'] / best['engine']:.2f}x), "
        f"minimal loop "
        f"{best['minimal'] * 1e9:.1f} ns, ratio engine/minimal "
        f"{best['engine'] / best['minimal']:.2f}"
        + (
            f"; plain engine {best['plain'] * 1e9:.1f} ns (plain/engine "
            f"{best['plain'] / best['engine']:.1f}x)"
            if plain_ok
            else ""
        )
        + f"; a {args.seeds}-seed point of 10^6 steps: about "
        f"{best['engine'] * args.seeds * 1e6:.1f} s of engine time  ({load()})"
    )


def whole_point(args) -> None:
    """One Theorem-6 point, 64 seeds to convergence, with the short-cut and the step-by-step
    kernel: engine wall time (compilation excluded) and the load beside it."""
    spec = mfsim.spectrum(args.family, {"log10": args.log10_d}, r=args.r, kappa=5)
    eta = step_size_bound(spec.Delta, spec.lambda_1)
    kw = dict(eta=eta, steps=4_000_000, varpi=0.5, seeds=range(args.seeds), record="log")
    for kernel in ("reduced", "reduced-step"):
        mfsim.simulate(spec, kernel=kernel, **{**kw, "steps": 10})
        before = load()
        ds = mfsim.simulate(spec, kernel=kernel, **kw)
        wall = float(ds.wall_time.values[0]) * args.seeds
        steps = float(np.sum(ds.stop_step.values + 1))
        print(
            f"{spec!r} eta = {eta:.6g}, {args.seeds} seeds, kernel={kernel!r}: engine wall "
            f"{wall:.1f} s for {steps:.4g} run-steps ({wall / steps * 1e9:.0f} ns/run-step), "
            f"median stop step {np.median(ds.stop_step.values):.0f}  ({before}; after: {load()})"
        )


if __name__ == "__main__":
    main()
