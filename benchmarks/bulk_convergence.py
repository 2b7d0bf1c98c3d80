"""Convergence of the continuous-bulk reduction in the level count (issue 19, item 2).

For each bulk, r and d = 10^x (x = 4, 100, 300 by default) this runs the ``continuous`` family
at level counts G = 8, 16, 32, ... (the same seeds at every G: the top rows of X_0 are the same
draws, so the differences are paired) and prints

* the median over seeds of rise_k and t_k^* at d = 10^x,
* their slopes against ln d, from the medians at 10^(x - delta) and 10^(x + delta)
  (delta = max(1, x / 10)),
* the relative change of every one of these when G doubles (``change``: the largest over k and
  over the quantities; t_k^* only where it is measured, not bound-dominated, at all three d),
* the level count the family chooses for ``bulk_tolerance`` (``*`` in the G column).

The 32-level ``staircase`` family (the ``linear`` bulk only) is printed beside it for reference.
Constants: kappa = 5, eta = 0.1, varpi = 0.5, stop_error = 1e-10 (the transition sweeps').

Run (niced; load printed): ``nice -n 10 python3 benchmarks/bulk_convergence.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import mfsim
from mfsim.bulk_levels import BULK_SHAPES, DEFAULT_BULK_TOLERANCE

RUN = dict(eta=0.1, varpi=0.5, stop_error=1e-10, record_num=2)


def steps_for(log10_d: float) -> int:
    """Room for the last rise (~25.5 steps per unit of ln d) and the convergence after it."""
    return int(27.0 * log10_d * math.log(10.0)) + 3000


def medians(spec, seeds):
    """Median over seeds of rise_k and t_k^* (NaN where a run has none), and whether every
    t_k^* is measured (not bound-dominated)."""
    ds = mfsim.simulate(spec, steps=steps_for(spec.log10_d), seeds=seeds, **RUN)
    rise = np.median(ds["rise"].values, axis=0)
    star = np.median(ds["t_k_star"].values, axis=0)
    measured = ~np.asarray(ds["t_k_star_bound_dominated"].values, dtype=bool).any(axis=0)
    return rise, np.where(measured, star, np.nan)


def quantities(family, params, x, seeds):
    """rise, t_k^* medians at 10^x and their slopes against ln d (vectors over k)."""
    delta = max(1.0, x / 10.0)
    rows = {}
    for point in (x - delta, x, x + delta):
        rows[point] = medians(mfsim.spectrum(family, {"log10": point}, **params), seeds)
    run = math.log(10.0) * 2.0 * delta
    rise_slope = (rows[x + delta][0] - rows[x - delta][0]) / run
    star_slope = (rows[x + delta][1] - rows[x - delta][1]) / run
    return {
        "rise": rows[x][0],
        "t_star": rows[x][1],
        "rise_slope": rise_slope,
        "t_star_slope": star_slope,
    }


def relative_change(new, old) -> float:
    worst = 0.0
    for name in new:
        a, b = np.asarray(new[name]), np.asarray(old[name])
        both = np.isfinite(a) & np.isfinite(b) & (b != 0)
        if both.any():
            worst = max(worst, float(np.max(np.abs(a[both] - b[both]) / np.abs(b[both]))))
    return worst


def show(values) -> str:
    return "/".join("-" if not np.isfinite(v) else f"{v:.6g}" for v in values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk", nargs="+", default=["linear"], choices=BULK_SHAPES)
    parser.add_argument("--r", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--log10-d", nargs="+", type=float, default=[4.0, 100.0, 300.0])
    parser.add_argument("--levels", nargs="+", type=int, default=[2, 4, 8, 16, 32, 64])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_BULK_TOLERANCE)
    args = parser.parse_args(argv)

    def seeds_at(x):
        # at small d the levels' initial Gram matrices are re-drawn when the cells change:
        # more seeds there, so that the change measured is the reduction's, not seed noise
        return range(args.seeds * (8 if x <= 10 else 1))

    print(
        f"load before: {os.getloadavg()}; {args.seeds} seeds (x8 at d <= 10^10); "
        f"tolerance {args.tolerance}"
    )
    print(
        "bulk              r  log10d     G  rise_k median      t_k^* median   rise slope"
        "        t_k^* slope   change"
    )
    for bulk in args.bulk:
        for r in [2] if bulk == "figure1" else args.r:
            fixed = {} if bulk == "figure1" else {"kappa": 5.0}
            for x in args.log10_d:
                chosen = dict(
                    mfsim.spectrum(
                        "continuous",
                        {"log10": x},
                        r=r,
                        bulk=bulk,
                        bulk_tolerance=args.tolerance,
                        **fixed,
                    ).params
                )["levels"]
                previous = None
                started = time.perf_counter()
                for levels in sorted(set(args.levels) | {chosen, 2 * chosen}):
                    params = dict(r=r, bulk=bulk, levels=levels, **fixed)
                    got = quantities("continuous", params, x, seeds_at(x))
                    change = "" if previous is None else f"{relative_change(got, previous):.2%}"
                    mark = "*" if levels == chosen else " "
                    print(
                        f"{bulk:17s} {r}  {x:6g} {levels:5d}{mark} {show(got['rise']):17s} "
                        f"{show(got['t_star']):14s} {show(got['rise_slope']):17s} "
                        f"{show(got['t_star_slope']):14s} {change}",
                        flush=True,
                    )
                    previous = got
                if bulk == "linear":
                    got = quantities("staircase", dict(r=r, kappa=5.0), x, seeds_at(x))
                    print(
                        f"{'staircase G=32':17s} {r}  {x:6g}    32  {show(got['rise']):17s} "
                        f"{show(got['t_star']):14s} {show(got['rise_slope']):17s} "
                        f"{show(got['t_star_slope']):14s} vs last: "
                        f"{relative_change(got, previous):.2%}",
                        flush=True,
                    )
                print(
                    f"  ({time.perf_counter() - started:.1f} s, load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
