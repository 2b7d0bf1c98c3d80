"""Side-by-side benchmark of the fused GD step (issue 7): engine vs NumPy vs the bandwidth floor.

Run from the repository root::

    python benchmarks/bench_engine.py            # full run (< 3 minutes with a warm numba cache)
    python benchmarks/bench_engine.py --quick    # CI smoke: fewer steps and repeats

For each configuration (d, r, batch), all in one process and one run:

engine
    The compiled kernels ``kernels.run_seed_parallel`` / ``kernels.run_row_parallel`` (the layout
    ``mfsim.simulate(kernel='auto')`` picks), called exactly as ``mfsim.simulate`` calls them, with
    full per-step diagnostics (every step's error, signal, noise, sigma_1^2(X), sigma_1^2(K_k),
    sigma_r^2(U), sigma_1^2(J), noise floor, heat map block: what ``record="all"`` keeps),
    stop_error = 0.
    Wall time of one call advancing ``steps`` steps, divided by ``steps``; nothing subtracted.
simulate
    End-to-end ``mfsim.simulate(..., stop_error=0, record='all')`` wall time / steps, nothing
    subtracted (includes drawing X_0, the stage tracker and building the Dataset), at 4x the
    engine's step count (>= 32 steps); measured at a second, shorter length too, the two give
    simulate's per-step cost (slope, ``sim/step``) and its fixed cost (intercept, ``sim fixed``).
numpy
    ``G = Y.T @ Y; Y = a * Y - eta * (Y @ G)`` per step, no diagnostics, seed after seed.
floors
    memory: bytes that must move per step (read X once + write X once: 2 d r 8 batch) divided by
    the copy bandwidth measured in this run (median of ``np.copyto`` of a 200 MB array, read +
    write bytes). flop: the flops of the fused pass per step (:func:`step_flops`: update, Gram,
    noise sums; d batch rows) at the float64 rate of a 1024^3 dgemm measured in this run (the
    machine's practical FMA peak, every core). eng/floor = engine / max(memory, flop).

Times are medians of the repeats, after a warm-up (which also compiles or loads the kernels). The
load average is printed beside every row, the machine facts (CPU model, caches, SMT siblings,
numba's threads) in the header: see benchmarks/README.md for what the kernel depends on.
Targets: issue 7: (4000, 2, 64) >= 10x NumPy; (1e6, 2, 1) >= 8x NumPy; (1e6, 10, 1) >= 2x NumPy.
Issue 23: engine <= 2x max(memory floor, flop floor) and simulate <= 1.2x the engine at d = 1e6
for r in {2, 5, 10, 16}.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import mfsim
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    import mfsim
import machine_facts  # noqa: E402

from mfsim.engine import kernels  # noqa: E402
from mfsim.engine.initialization import effective_system, initial_state  # noqa: E402
from mfsim.engine.simulation import noise_floor_factor  # noqa: E402

ETA = 0.1
# every timed repeat starts from X_0; this many steps keep every entry far from subnormal numbers
MAX_STEPS = 2000

# (d, r, batch, spectrum kwargs, targets); targets: min NumPy speedup, max engine / floor
CONFIGS = [
    (4000, 2, 64, {"kappa": 4}, {"speedup": 10.0}),
    (100_000, 2, 1, {"kappa": 4}, {}),
    (1_000_000, 2, 1, {"kappa": 4}, {"speedup": 8.0, "floor": 2.0, "simulate": 1.2}),
    (1_000_000, 5, 1, {"kappa": 10}, {"floor": 2.0, "simulate": 1.2}),
    (1_000_000, 10, 1, {"kappa": 20}, {"speedup": 2.0, "floor": 2.0, "simulate": 1.2}),
    (1_000_000, 16, 1, {"kappa": 32}, {"floor": 2.0, "simulate": 1.2}),
]


def _settle():
    """Let the worker threads of the previous phase (OpenBLAS spins ~0.1 s after a call, OpenMP a
    little) go idle, so that one phase does not compete with the other for the 2 cores."""
    time.sleep(0.3)


def _median_time(fn, repeats, setup=None):
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def fma_rate(repeats, n=1024):
    """Floating-point rate in flop/s (a multiply-add counts 2) of a cache-blocked float64 matrix
    product (OpenBLAS dgemm, all its threads): the machine's practical FMA peak."""
    a = np.random.default_rng(0).standard_normal((n, n))
    b = a.T.copy()
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    t = _median_time(lambda: np.matmul(a, b, out=c), repeats)
    return 2.0 * n**3 / t


def step_flops(r):
    """Flops per row and step of the fused pass: the update x G (r^2 multiply-adds) and
    a x - eta y (3 r), the Gram's upper triangle (r (r + 1) / 2 multiply-adds), the noise sums
    (r^2 multiply-adds and r squares added)."""
    return 2 * r * r + 3 * r + r * (r + 1) + 2 * r * r + 2 * r


def copy_bandwidth(repeats, nbytes=200 * 2**20):
    """Copy bandwidth in bytes/s (read + write), median of ``repeats`` np.copyto."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t = _median_time(lambda: np.copyto(dst, src), repeats)
    return 2 * src.nbytes / t


class EngineState:
    """The arguments ``mfsim.simulate`` passes to the kernels, for one batch (same code path)."""

    def __init__(self, spec, batch):
        r = spec.r
        system = effective_system(spec, "auto")
        self.xs = np.ascontiguousarray(
            np.stack([initial_state(system, 0.5, s, "float64") for s in range(batch)])
        )
        n_rows = self.xs.shape[1]
        counts = [s.count for s in system.segments]
        self.segs = kernels.Segments(
            np.array([s.first for s in system.segments], dtype=np.float64),
            np.array([s.increment for s in system.segments], dtype=np.float64),
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
            np.array(counts, dtype=np.int64),
        )
        self.params = kernels.Params(
            spec.top(r), ETA, float(spec.lambda_1), 0.0, 2**62, noise_floor_factor(ETA, spec.Delta)
        )
        self.tok = kernels.rank_token(r)
        self.state = kernels.new_state(self.xs, self.segs)
        self.status = self.state.status
        row = batch < numba.get_num_threads() and n_rows > kernels.BLOCK_ROWS
        self.layout = "row" if row else "seed"
        self.run_block = kernels.run_row_parallel if row else kernels.run_seed_parallel
        self.batch, self.r, self.t0 = batch, r, 0
        self._initial = (self.xs.copy(), self.state.bulk.copy(), self.state.partials.copy())

    def reset(self):
        """Back to X_0 (long runs would reach subnormal numbers, which are slow everywhere)."""
        current = (self.xs, self.state.bulk, self.state.partials)
        for dst, src in zip(current, self._initial, strict=True):
            np.copyto(dst, src)
        self.status[:] = kernels.RUNNING
        self.t0 = 0

    def advance(self, nsteps):
        out = kernels.empty_outputs(self.batch, nsteps, self.r)
        self.run_block(self.tok, self.state, self.segs, self.params, self.t0, nsteps, out)
        self.t0 += nsteps
        if np.any(self.status != kernels.RUNNING):
            raise RuntimeError(f"a run stopped (status {self.status}); benchmark invalid")


def numpy_loop(spec, batch, steps):
    """The plain NumPy GD loop, seed after seed; returns a callable timing ``steps`` steps."""
    lam = np.concatenate([s.values() for s in spec.segments])
    a = (1.0 + ETA * lam)[:, None]
    rng = np.random.default_rng(0)
    ys0 = [rng.standard_normal((spec.d, spec.r)) * (0.5 / np.sqrt(spec.d)) for _ in range(batch)]

    def run():
        for y0 in ys0:
            y = y0
            for _ in range(steps):
                g = y.T @ y
                y = a * y - ETA * (y @ g)

    return run


def _calibrated_steps(fn_steps, target, lo, hi):
    """Steps so that one timed repeat of ``fn_steps(steps)`` takes about ``target`` seconds."""
    t = time.perf_counter()
    fn_steps(lo)
    per_step = (time.perf_counter() - t) / lo
    return int(np.clip(target / per_step, lo, hi))


def bench_config(d, r, batch, spec_kw, quick, bandwidth, flop_rate):
    spec = mfsim.spectrum("linear", d, r=r, **spec_kw)
    repeats = 3 if quick else 5
    target = 0.05 if quick else 0.25

    state = EngineState(spec, batch)
    state.advance(2)  # warm-up (compiles or loads the kernels)
    _settle()
    state.reset()
    eng_steps = _calibrated_steps(state.advance, target, 4, MAX_STEPS)
    t_engine = _median_time(lambda: state.advance(eng_steps), repeats, state.reset) / eng_steps

    # simulate at two lengths: per-step cost (slope) and fixed cost (X_0, Dataset: intercept)
    sim_short, sim_steps = max(eng_steps, 8), max(4 * eng_steps, 32)

    def sim(steps):
        mfsim.simulate(spec, eta=ETA, steps=steps, seeds=range(batch), stop_error=0.0, record="all")

    sim(2)
    _settle()
    t_short = _median_time(lambda: sim(sim_short), 1 if quick else 3)
    _settle()
    t_long = _median_time(lambda: sim(sim_steps), 1 if quick else 3)
    t_sim = t_long / sim_steps
    t_sim_step = (t_long - t_short) / (sim_steps - sim_short)
    t_sim_fixed = t_long - t_sim_step * sim_steps

    _settle()
    np_steps = _calibrated_steps(lambda s: numpy_loop(spec, batch, s)(), target, 2, MAX_STEPS)
    run_np = numpy_loop(spec, batch, np_steps)
    t_numpy = _median_time(run_np, repeats) / np_steps

    _settle()
    t_memory = 2 * d * r * 8 * batch / bandwidth
    t_compute = d * batch * step_flops(r) / flop_rate
    t_floor = max(t_memory, t_compute)
    return {
        "d": d,
        "r": r,
        "batch": batch,
        "layout": state.layout,
        "engine": t_engine,
        "simulate": t_sim,
        "sim_step": t_sim_step,
        "sim_fixed": t_sim_fixed,
        "numpy": t_numpy,
        "memory": t_memory,
        "compute": t_compute,
        "floor": t_floor,
        "speedup": t_numpy / t_engine,
        "vs_floor": t_engine / t_floor,
        "sim_vs_engine": t_sim / t_engine,
        "steps": (eng_steps, sim_steps, np_steps),
        "load": _fmt_load(os.getloadavg()),
    }


def verdicts(res, targets):
    out = []
    if "speedup" in targets:
        ok = res["speedup"] >= targets["speedup"]
        out.append(f"speedup >= {targets['speedup']:g}x {'PASS' if ok else 'MISS'}")
    if "floor" in targets:
        ok = res["vs_floor"] <= targets["floor"]
        out.append(f"engine/floor <= {targets['floor']:g} {'PASS' if ok else 'MISS'}")
    if "simulate" in targets:
        ok = res["sim_vs_engine"] <= targets["simulate"]
        out.append(f"simulate/engine <= {targets['simulate']:g} {'PASS' if ok else 'MISS'}")
    return "; ".join(out) if out else "(no target)"


def _fmt_load(load):
    return "/".join(f"{v:.2f}" for v in load)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (CI smoke)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load_before = os.getloadavg()
    print(
        f"mfsim {mfsim.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus"
    )
    print(
        f"numba threads: {numba.get_num_threads()} (default; layer "
        f"{numba.config.THREADING_LAYER}), OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, quick={args.quick}"
    )
    for line in machine_facts.describe():
        print(line)
    bandwidth = copy_bandwidth(3 if args.quick else 7)
    print(f"copy bandwidth (np.copyto 200 MB, read+write bytes): {bandwidth / 1e9:.2f} GB/s")
    flop_rate = fma_rate(3 if args.quick else 7)
    print(f"FMA rate (dgemm 1024^3, all BLAS threads): {flop_rate / 1e9:.1f} GFLOP/s")
    print()

    rows = []
    for d, r, batch, spec_kw, targets in CONFIGS:
        res = bench_config(d, r, batch, spec_kw, args.quick, bandwidth, flop_rate)
        res["verdict"] = verdicts(res, targets)
        rows.append(res)
        print(
            f"  done d={d:.0e} r={r} batch={batch} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    print()
    cols = [
        "d",
        "r",
        "batch",
        "layout",
        "engine ms",
        "simulate ms",
        "sim/step ms",
        "sim fixed s",
        "NumPy ms",
        "mem floor ms",
        "flop floor ms",
        "speedup",
        "eng/floor",
        "sim/eng",
        "load",
        "targets",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for res in rows:
        cells = [
            f"{res['d']}",
            f"{res['r']}",
            f"{res['batch']}",
            res["layout"],
            f"{res['engine'] * 1e3:.3f}",
            f"{res['simulate'] * 1e3:.3f}",
            f"{res['sim_step'] * 1e3:.3f}",
            f"{res['sim_fixed']:.3f}",
            f"{res['numpy'] * 1e3:.3f}",
            f"{res['memory'] * 1e3:.3f}",
            f"{res['compute'] * 1e3:.3f}",
            f"{res['speedup']:.1f}x",
            f"{res['vs_floor']:.2f}",
            f"{res['sim_vs_engine']:.2f}",
            res["load"],
            res["verdict"],
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        "ms per step (for the whole batch). engine: kernels with full per-step diagnostics; "
        "simulate: end to end, nothing subtracted; sim/step and sim fixed: slope and intercept "
        "of simulate's wall time between two step counts; speedup = NumPy / engine; "
        "eng/floor = engine / max(memory floor, flop floor); sim/eng = simulate / engine."
    )
    print(
        f"total time {time.perf_counter() - started:.0f} s; load average (1, 5, 15 min) before "
        f"{_fmt_load(load_before)}, after {_fmt_load(os.getloadavg())} (other processes "
        "competing for the 2 cores distort every column)"
    )
    return rows


if __name__ == "__main__":
    main()
