"""The compiled kernels: fused GD step, layouts, batches, threads, the small eigensolver.

The kernels are driven exactly as ``mfsim.simulate`` drives them (see :func:`_state`). No test
asserts on wall time.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba import njit

from mfsim.engine import kernels

B = kernels.BLOCK_ROWS


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _segments(d, r, rng):
    """Eigenvalue segments like the engine's: r + 1 explicit rows, then a few arithmetic runs
    whose boundaries fall inside blocks and chunks."""
    counts = [1] * (r + 1)
    rest = d - (r + 1)
    cuts = np.sort(rng.choice(np.arange(1, rest), size=min(3, rest - 1), replace=False))
    counts += list(np.diff(np.concatenate([[0], cuts, [rest]])))
    first, inc = [], []
    top = 2.0
    for c in counts:
        first.append(top)
        step = -0.5 / max(d, 1) if c > 1 else 0.0
        inc.append(step)
        top = top + step * (c - 1) - 0.01
    seg_count = np.array(counts, dtype=np.int64)
    seg_start = np.concatenate([[0], np.cumsum(seg_count)[:-1]]).astype(np.int64)
    seg_first = np.array(first)
    seg_inc = np.array(inc)
    lam = np.concatenate(
        [
            f + i * np.arange(c, dtype=np.float64)
            for f, i, c in zip(seg_first, seg_inc, seg_count, strict=True)
        ]
    )
    return seg_first, seg_inc, seg_start, seg_count, lam


class _State:
    """Arguments of ``run_seed_parallel`` / ``run_row_parallel`` for a batch of iterates."""

    def __init__(self, xs, segs, eta=0.05, max_steps=10**6):
        self.xs = np.ascontiguousarray(xs)
        nb, d, r = self.xs.shape
        self.seg_first, self.seg_inc, self.seg_start, self.seg_count, self.lam = segs
        self.segs = kernels.Segments(self.seg_first, self.seg_inc, self.seg_start, self.seg_count)
        self.params = kernels.Params(
            self.lam[:r].copy(), eta, float(self.lam[0]), 0.0, max_steps, 1e-15
        )
        self.tok = kernels.rank_token(r)
        self.state = kernels.new_state(self.xs, self.segs)
        self.t0 = 0
        self.outs = []

    @property
    def status(self):
        return self.state.status

    @property
    def stop_step(self):
        return self.state.stop_step

    @property
    def hs(self):
        return self.state.bulk[:, :-1]

    def run(self, kernel, nsteps):
        nb, _, r = self.xs.shape
        out = kernels.empty_outputs(nb, nsteps, r)
        kernel(self.tok, self.state, self.segs, self.params, self.t0, nsteps, out)
        self.t0 += nsteps
        self.outs.append(list(out))
        return self

    def results(self):
        return [
            self.xs,
            self.state.bulk,
            self.status,
            self.stop_step,
            *[np.concatenate(parts, axis=1) for parts in zip(*self.outs, strict=True)],
        ]


def _random_x(rng, nb, d, r, scale=1.0, dtype=np.float64):
    return (rng.standard_normal((nb, d, r)) * (scale / np.sqrt(d))).astype(dtype)


def _assert_all_equal(a, b):
    for u, v in zip(a, b, strict=True):
        assert u.shape == v.shape
        assert np.array_equal(u, v, equal_nan=True)


@njit(cache=True)
def _reference_block(
    x, i0, i1, r, seg_first, seg_inc, seg_start, seg_count, eta, gram, uhat, partial
):
    """The plain row-by-row fused step, as the reference: H and the noise sums of rows >= r."""
    for p in range(r + 1):
        for q in range(r):
            partial[p, q] = 0.0
    s = 0
    while i0 >= seg_start[s] + seg_count[s]:
        s += 1
    y = np.empty(r)
    for i in range(i0, i1):
        while i >= seg_start[s] + seg_count[s]:
            s += 1
        lam = seg_first[s] + seg_inc[s] * float(i - seg_start[s])
        a = 1.0 + eta * lam
        for q in range(r):
            acc = 0.0
            for p in range(r):
                acc += x[i, p] * gram[p, q]
            y[q] = a * x[i, q] - eta * acc
        for q in range(r):
            x[i, q] = y[q]
        if i >= r:
            for p in range(r):
                xp = np.float64(x[i, p])
                for q in range(p, r):
                    partial[p, q] += xp * np.float64(x[i, q])
            for k in range(r):
                dot = 0.0
                for p in range(r):
                    dot += np.float64(x[i, p]) * uhat[k, p]
                partial[r, k] += dot * dot
    for p in range(r):
        for q in range(p):
            partial[p, q] = partial[q, p]


# --------------------------------------------------------------------------------------------
# (1) the fused step is a GD step
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("d", [37, 2 * B + 1234])
def test_fused_step_equals_numpy_step(r, d):
    rng = np.random.default_rng(100 * r + d % 97)
    segs = _segments(d, r, rng)
    lam = segs[-1]
    xs = _random_x(rng, 2, d, r, scale=1.5)
    st = _State(xs.copy(), segs, eta=0.1)
    st.run(kernels.run_seed_parallel, 1)  # diagnostics of X_0, then the step to X_1
    for b in range(2):
        x = xs[b]
        want = x + 0.1 * (lam[:, None] * x - x @ (x.T @ x))
        scale = np.max(np.abs(want))
        assert np.max(np.abs(st.xs[b] - want)) <= 1e-13 * scale
        # H of the new iterate (rows >= r), accumulated in the same pass
        j = want[r:]
        assert np.max(np.abs(st.hs[b] - j.T @ j)) <= 1e-13 * np.max(np.abs(j.T @ j))
        assert np.array_equal(st.hs[b], st.hs[b].T)
        # and the noise sums sum_{i >= r} (x_i . u_k)^2 of the new iterate (u_k scaled by 2^-e_k)
        u = want[:r]
        scale = 2.0 ** np.frexp(np.max(np.abs(u), axis=1))[1]
        np.testing.assert_allclose(
            st.state.bulk[b, r], np.sum((j @ (u / scale[:, None]).T) ** 2, axis=0), rtol=1e-12
        )
    # the recorded diagnostics of step 0 are those of X_0
    x = xs[0]
    err = np.linalg.norm(np.diag(lam[:r]) - x[:r] @ x[:r].T) ** 2
    err += 2 * np.sum((x[:r] @ x[r:].T) ** 2) + np.linalg.norm(x[r:].T @ x[r:]) ** 2
    assert st.outs[0][0][0, 0] == pytest.approx(np.sqrt(err), rel=1e-12)
    assert st.outs[0][4][0, 0] == pytest.approx(np.linalg.eigvalsh(x.T @ x)[-1], rel=1e-12)


@pytest.mark.parametrize("r", [1, 2, 3, 4, 5, 6, 7, 10, 11, 16, 17, 19])
def test_fused_step_is_bit_identical_to_the_row_by_row_loop(r):
    """Compile-time-r and tiled kernels keep the arithmetic (order of every sum) of the loop."""
    d = B + 4 * 97 + 3  # two blocks, partial last block, row count not a multiple of 4
    rng = np.random.default_rng(r)
    segs = _segments(d, r, rng)
    seg_first, seg_inc, seg_start, seg_count, _ = segs
    for dtype in (np.float64, np.float32):
        x = _random_x(rng, 1, d, r, scale=2.0, dtype=dtype)[0]
        gram = (x.astype(np.float64).T @ x) * 1.1
        uhat = rng.standard_normal((r, r))
        segs = kernels.Segments(seg_first, seg_inc, seg_start, seg_count)
        tok = kernels.rank_token(r)
        got, want = x.copy(), x.copy()
        for i0 in (0, B):
            i1 = min(i0 + B, d)
            p_got, p_want = np.empty((r + 1, r)), np.empty((r + 1, r))
            kernels.advance_block(tok, got, i0, i1, segs, 0.07, gram, uhat, p_got)
            _reference_block(
                want, i0, i1, r, seg_first, seg_inc, seg_start, seg_count, 0.07, gram, uhat, p_want
            )
            assert np.array_equal(p_got, p_want)
        assert np.array_equal(got, want)
        # the initial bulk sums too (u_k scaled by a power of two)
        parts = np.empty((2, r + 1, r))
        kernels.initial_bulk_sums(tok, x, parts)
        u = x[:r].astype(np.float64)
        scale = 2.0 ** np.frexp(np.max(np.abs(u), axis=1))[1]
        for blk, (i0, i1) in enumerate(((r, B), (B, d))):
            rows = x[i0:i1].astype(np.float64)
            assert np.max(np.abs(parts[blk, :r] - rows.T @ rows)) <= 1e-13 * np.max(rows.T @ rows)
            want_noise = np.sum((rows @ (u / scale[:, None]).T) ** 2, axis=0)
            np.testing.assert_allclose(parts[blk, r], want_noise, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# (2) layouts, (3) batches, (5) threads
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 2, 3, 10])
def test_seed_and_row_layouts_are_bit_identical(r):
    d = 2 * B + 4321
    rng = np.random.default_rng(7 + r)
    segs = _segments(d, r, rng)
    xs = _random_x(rng, 2, d, r, scale=1.2)
    seed = _State(xs.copy(), segs).run(kernels.run_seed_parallel, 6)
    row = _State(xs.copy(), segs).run(kernels.run_row_parallel, 6)
    _assert_all_equal(seed.results(), row.results())
    # split into blocks of steps the same way
    row2 = _State(xs.copy(), segs).run(kernels.run_row_parallel, 2)
    row2.run(kernels.run_seed_parallel, 4)
    _assert_all_equal(seed.results()[:4], row2.results()[:4])


@pytest.mark.parametrize(("d", "r"), [(3000, 2), (B + 77, 3), (500, 7)])
def test_batch_of_64_equals_each_seed_alone(d, r):
    rng = np.random.default_rng(d + r)
    segs = _segments(d, r, rng)
    xs = _random_x(rng, 64, d, r, scale=1.0)
    batch = _State(xs.copy(), segs).run(kernels.run_seed_parallel, 5).results()
    for b in range(64):
        kernel = kernels.run_row_parallel if b % 8 == 0 else kernels.run_seed_parallel
        alone = _State(xs[b : b + 1].copy(), segs).run(kernel, 5).results()
        _assert_all_equal([a[b : b + 1] for a in batch], alone)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_batch_with_stopping_seeds_equals_each_seed_alone(r):
    """Seeds that diverge at different steps leave odd numbers of running seeds (the small-r
    seed-parallel kernel steps running seeds two at a time)."""
    d, nb = 700, 12
    rng = np.random.default_rng(40 + r)
    segs = _segments(d, r, rng)
    # divergence (sigma_1^2 >= (3 + eta lambda_1) / eta = 32): seed 0 at step 0 (11 seeds left),
    # seeds 7 and 10 a step or two later (sigma_1^2(X_0) ~ 22-23 grows); the others run on
    scales = np.ones(nb)
    scales[[0, 7, 10]] = 10.0, np.sqrt(23.0), np.sqrt(22.0)
    xs = _random_x(rng, nb, d, r) * scales[:, None, None]
    batch = _State(xs.copy(), segs, eta=0.1).run(kernels.run_seed_parallel, 7)
    batch.run(kernels.run_seed_parallel, 5)
    got = batch.results()
    assert batch.stop_step[0] == 0 and batch.stop_step[7] > 0
    assert np.sum(batch.stop_step == -1) >= 9
    for b in range(nb):
        alone = _State(xs[b : b + 1].copy(), segs, eta=0.1).run(kernels.run_seed_parallel, 12)
        _assert_all_equal([a[b : b + 1] for a in got], alone.results())


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
@pytest.mark.parametrize("kernel", ["seed", "row"])
def test_one_thread_and_two_threads_are_bit_identical(kernel):
    run = {"seed": kernels.run_seed_parallel, "row": kernels.run_row_parallel}[kernel]
    d, r, nb = (2 * B + 999, 2, 1) if kernel == "row" else (5000, 3, 4)
    rng = np.random.default_rng(11)
    segs = _segments(d, r, rng)
    xs = _random_x(rng, nb, d, r, scale=1.3)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(_State(xs.copy(), segs).run(run, 7).results())
    finally:
        numba.set_num_threads(before)
    _assert_all_equal(*results)


def test_float32_storage_rounds_each_step():
    d, r = B + 500, 2
    rng = np.random.default_rng(3)
    segs = _segments(d, r, rng)
    lam = segs[-1]
    xs = _random_x(rng, 1, d, r, scale=1.5, dtype=np.float32)
    seed = _State(xs.copy(), segs, eta=0.1).run(kernels.run_seed_parallel, 1)
    row = _State(xs.copy(), segs, eta=0.1).run(kernels.run_row_parallel, 1)
    _assert_all_equal(seed.results(), row.results())
    assert seed.xs.dtype == np.float32
    x = xs[0].astype(np.float64)
    want = x + 0.1 * (lam[:, None] * x - x @ (x.T @ x))
    assert np.max(np.abs(seed.xs[0] - want)) <= 1e-6 * np.max(np.abs(want))
    # H is the Gram of the *stored* (rounded) iterate, with float64 products
    j = seed.xs[0, r:].astype(np.float64)
    assert np.max(np.abs(seed.hs[0] - j.T @ j)) <= 1e-13 * np.max(j.T @ j)


def test_stopped_runs_stay_stopped_and_fill_nan():
    d, r = 800, 2
    rng = np.random.default_rng(5)
    segs = _segments(d, r, rng)
    xs = _random_x(rng, 3, d, r)
    st = _State(xs.copy(), segs, max_steps=3).run(kernels.run_seed_parallel, 6)
    assert np.all(st.status == kernels.MAX_STEPS)
    assert np.all(st.stop_step == 3)
    err = st.outs[0][0]
    assert np.all(np.isfinite(err[:, :4])) and np.all(np.isnan(err[:, 4:]))
    row = _State(xs.copy(), segs, max_steps=3).run(kernels.run_row_parallel, 6)
    _assert_all_equal(st.results(), row.results())


# --------------------------------------------------------------------------------------------
# (4) the small symmetric eigensolver
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 12])
def test_sym_eigvalsh_matches_lapack(n):
    rng = np.random.default_rng(n)
    for trial in range(20):
        a = rng.standard_normal((n, n))
        sym = (a + a.T) / 2
        psd = a @ a.T
        if trial % 5 == 0:  # nearly rank-deficient, widely spread spectrum
            q, _ = np.linalg.qr(a)
            psd = (q * np.logspace(0, -14, n)) @ q.T
        for m in (sym, psd):
            got = kernels.sym_eigvalsh(m)
            want = np.linalg.eigvalsh(m)
            assert np.all(np.diff(got) >= 0)
            assert np.max(np.abs(got - want)) <= 1e-13 * np.linalg.norm(m, 2)
            # the allocation-free helpers of the diagnostics agree bit for bit
            work = np.empty((n, n))
            assert kernels._eig_max(m, work) == got[-1]


def test_eig_helpers_follow_sort_order_with_nan():
    a = np.array([[1.0, 0.0], [0.0, np.nan]])
    work = np.empty((2, 2))
    assert np.isnan(kernels.sym_eigvalsh(a)[-1]) and np.isnan(kernels._eig_max(a, work))
