"""Side-by-side costs of the other problems (issue 21 item 5): asymmetric vs symmetric, sensing vs
a NumPy reference, and the peak memory of sensing.

Run from the repository root (niced on a shared machine)::

    nice -n 10 python benchmarks/bench_problems.py            # about a minute, warm numba cache
    nice -n 10 python benchmarks/bench_problems.py --quick    # smoke: fewer steps and repeats

All rows in one process and one run, the load average printed beside every row and the machine
facts (:mod:`machine_facts`) in the header. Times are medians of the repeats after a warm-up
(which also compiles or loads the kernels); every repeat starts from X_0.

asymmetric
    ``mfsim.simulate(problem='asymmetric')`` (the compiled kernel of
    ``mfsim/engine/asymmetric_kernels.py``; every step's diagnostics) against
    ``mfsim.simulate(problem='factorization', record='all', stop_error=0)`` (the symmetric
    engine, every step recorded) at the same spectrum (linear: no flat bulk, so neither run is
    reduced), d, r, seeds and steps; wall time / (steps), end to end (start, Dataset included).
    Target: asym/sym <= 2 (a step does about twice the symmetric arithmetic).
sensing
    ``mfsim.simulate(problem='sensing', operator='rank_one')`` (the compiled kernel of
    ``mfsim/engine/sensing_kernels.py``, every step's diagnostics): its ``wall_time`` (the GD
    loop, y_i = <A_i, Sigma> included; drawing the operator left out) times the batch / steps,
    against the bare NumPy step of the same operator with the same O(m d r) algorithm, batched
    over seeds and with no diagnostics: ``pa = a @ X; pb = b @ X; w = (|pa|^2 - |pb|^2)/2 - y;
    X -= eta/m (a^T (w pa) - b^T (w pb)) / 2``. Target: sensing/NumPy <= 2. ``peak MB`` is the
    tracemalloc peak of one whole ``simulate`` call (operator generation included), beside
    the O(m d) floor 2 m d 8 batch bytes of the vectors a_i, b_i and what one dense m x d x d
    tensor per run would take.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import mfsim
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    import mfsim
import machine_facts  # noqa: E402

from mfsim.engine.sensing_operators import RankOne  # noqa: E402

#: (d, r, seeds, steps): d = 200 as in the issue's tests, then larger d
ASYMMETRIC = [(200, 3, 8, 2000), (20_000, 3, 4, 200), (1_000_000, 2, 1, 20)]
#: (d, r, m, seeds, steps)
SENSING = [(200, 3, 2_000, 4, 20), (1_000, 3, 3_000, 2, 10), (2_000, 2, 8_000, 1, 6)]


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: compiles or loads the kernels, touches the memory
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        time.sleep(0.2)  # let spinning BLAS threads of one phase settle before the next
    return float(np.median(times))


def asymmetric_row(d, r, seeds, steps, repeats):
    spec = mfsim.spectrum("linear", d, r=r, kappa=5)
    seeds = list(range(seeds))
    common = {"eta": 0.1, "steps": steps, "seeds": seeds, "varpi": 0.5}

    def asym():
        mfsim.simulate(spec, problem="asymmetric", imbalance=2.0, **common)

    def sym():
        mfsim.simulate(spec, record="all", stop_error=0, **common)

    t_asym = _median_time(asym, repeats) / steps
    t_sym = _median_time(sym, repeats) / steps
    return t_asym, t_sym


def numpy_sensing_reference(op, lam, x, eta, steps):
    """The bare sensing step of the rank-one operator, batched over runs (no diagnostics)."""
    a, b = op.a, op.b
    at, bt = np.swapaxes(a, 1, 2), np.swapaxes(b, 1, 2)
    y = 0.5 * ((a**2) @ lam - (b**2) @ lam)
    m = a.shape[1]
    for _ in range(steps):
        pa, pb = a @ x, b @ x
        w = 0.5 * (np.sum(pa**2, axis=2) - np.sum(pb**2, axis=2)) - y
        x = x - (eta / m) * 0.5 * (at @ (w[..., None] * pa) - bt @ (w[..., None] * pb))
    return x


def sensing_row(d, r, m, seeds, steps, repeats):
    spec = mfsim.spectrum("linear", d, r=r, kappa=5)
    seeds = list(range(seeds))
    lam = spec.eigenvalues()
    x0 = np.random.default_rng(0).standard_normal((len(seeds), d, r)) * 0.5 / np.sqrt(d)
    op = RankOne.generate(seeds, d, m)

    loop_times = []

    def engine():
        ds = mfsim.simulate(
            spec, eta=0.05, steps=steps, seeds=seeds, X0=x0, problem="sensing", measurements=m
        )
        # wall_time: the GD loop per run (operator generation and the Dataset left out)
        loop_times.append(float(ds.wall_time[0]) * len(seeds))

    def reference():
        numpy_sensing_reference(op, lam, x0, 0.05, steps)

    _median_time(engine, repeats)
    t_engine = float(np.median(loop_times[1:])) / steps
    t_ref = _median_time(reference, repeats) / steps
    tracemalloc.start()
    mfsim.simulate(spec, steps=2, seeds=seeds, problem="sensing", measurements=m)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return t_engine, t_ref, peak


def main(argv=None) -> int:
    # the short timing runs stop before t_k^* can be decided; the warning says so every row
    warnings.simplefilter("ignore", category=UserWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    shrink = 10 if args.quick else 1
    print(f"bench_problems: mfsim {mfsim.__version__}, Python {platform.python_version()}, "
          f"numpy {np.__version__}")  # fmt: skip
    for line in machine_facts.describe():
        print(line)
    print(f"load before: {machine_facts.load()}")
    print()
    print("| d | r | seeds | steps | asymmetric ms/step | symmetric ms/step | asym/sym | "
          "target <= 2 | load 1/5/15 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for d, r, n, steps in ASYMMETRIC:
        steps = max(steps // shrink, 5)
        t_asym, t_sym = asymmetric_row(d, r, n, steps, repeats)
        ratio = t_asym / t_sym
        print(f"| {d} | {r} | {n} | {steps} | {1e3 * t_asym:.4f} | {1e3 * t_sym:.4f} | "
              f"{ratio:.2f} | {'met' if ratio <= 2 else 'MISS'} | {machine_facts.load()} |",
              flush=True)  # fmt: skip
    print()
    print("| d | r | m | seeds | steps | sensing ms/step | NumPy ref ms/step | sensing/NumPy | "
          "target <= 2 | peak MB | 2 m d 8 seeds MB | dense m d^2 8 seeds MB | "
          "load 1/5/15 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d, r, m, n, steps in SENSING:
        steps = max(steps // shrink, 3)
        t_engine, t_ref, peak = sensing_row(d, r, m, n, steps, repeats)
        ratio = t_engine / t_ref
        print(f"| {d} | {r} | {m} | {n} | {steps} | {1e3 * t_engine:.3f} | {1e3 * t_ref:.3f} | "
              f"{ratio:.2f} | {'met' if ratio <= 2 else 'MISS'} | {peak / 1e6:.1f} | "
              f"{2 * m * d * 8 * n / 1e6:.1f} | {m * d * d * 8 * n / 1e6:.0f} | "
              f"{machine_facts.load()} |", flush=True)  # fmt: skip
    print()
    print(f"load after: {machine_facts.load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
