"""Stage analysis on hand-built trajectories where the answer is known."""

import math

import numpy as np
import pytest

from mfsim.engine.stages import StageTracker, analyze_stages, t_sharp, t_star

LAM = np.array([1.0, 0.5])
DELTA, ETA, T = 0.5, 1.0, 600


def trajectory(signal_2_value, signal_1_final=1.0):
    """r = 2: enters S at step 5, u_1 rises at 20 and is learned (within 1%) from step 50."""
    steps = np.arange(T)
    signal = np.zeros((1, T, 2))
    signal[0, :, 0] = np.where(steps < 20, 0.01, np.where(steps < 50, 0.6, 1.0))
    signal[0, -1, 0] = signal_1_final
    signal[0, :, 1] = signal_2_value(steps)
    error = np.where(steps < 300, 0.5, 1e-3)[None].astype(float)
    s1x = np.ones((1, T))
    s1k = np.where(steps[:, None] < 5, 0.9, [0.6, 0.1])[None]
    sru = np.full((1, T), 0.3)
    s1j = np.where(steps < 400, 0.3, 0.1)[None].astype(float)
    return signal, error, s1x, s1k, sru, s1j


def literal_t1_star(signal_2, t1, r=2):
    """Eq. 15 by a direct loop: smallest s, r q^s <= sqrt(Delta/8) min(sigma, sqrt(Delta/2))."""
    q = 1 - ETA * DELTA / 6
    for s in range(T - t1):
        sigma = math.sqrt(signal_2[t1 + s])
        if r * q**s <= math.sqrt(DELTA / 8) * min(sigma, math.sqrt(DELTA / 2)):
            return s
    return None


def analyze(traj, **kw):
    return analyze_stages(*traj, top_lambda=LAM, Delta=DELTA, eta=ETA, epsilons=(1e-2, 1e-6), **kw)


def test_literal_chain_with_a_slow_second_signal():
    # u_2 tiny until step 230, then growing: the escape sets t_1^*
    sig2 = lambda t: np.where(t < 230, 1e-8, np.minimum(1e-8 * 1.2 ** (t - 230.0), 0.5))  # noqa: E731
    traj = trajectory(sig2)
    out = analyze(traj)
    assert out["first_in_S"][0] == 5 and out["t_init"][0, 0] == 5
    assert out["T_u"][0, 0] == 15
    t1 = 5 + 15 + math.ceil(t_star(ETA, DELTA, 1.0, 2))
    assert out["t_k"][0, 0] == t1
    expected = literal_t1_star(sig2(np.arange(T)), t1)
    assert out["t_k_star"][0, 0] == expected and expected > math.ceil(t_sharp(ETA, DELTA, 2))
    assert not out["t_k_star_bound_dominated"][0, 0]
    assert out["t_init"][0, 1] == t1 + expected
    rise2 = np.flatnonzero(sig2(np.arange(T)) >= DELTA / 2)[0]
    assert out["rise"][0].tolist() == [20, rise2]
    assert out["T_u"][0, 1] == max(rise2 - out["t_init"][0, 1], 0)
    assert out["escape"][0, 0] == rise2 - 20 and np.isnan(out["escape"][0, 1])
    assert out["learned"][0, 0] == 50 and out["plateau"][0, 0] == rise2 - 50
    assert out["t_eps"][0].tolist()[0] == 300 and np.isnan(out["t_eps"][0, 1])
    assert np.isnan(out["t_k_star"][0, 1])  # defined for k < r only
    assert out["t_R"][0] == pytest.approx(
        out["t_init"][0, 1] + out["T_u"][0, 1] + t_star(ETA, DELTA, 1.0, 2) + t_sharp(ETA, DELTA, 2)
    )


def test_bound_dominated_t_k_star_is_flagged():
    traj = trajectory(lambda t: np.full(t.shape, 0.3))  # u_2 already above Delta/2
    out = analyze(traj)
    assert out["t_k_star"][0, 0] == math.ceil(t_sharp(ETA, DELTA, 2))
    assert out["t_k_star_bound_dominated"][0, 0]


def test_not_reached_is_nan_never_zero_or_last_step():
    traj = trajectory(lambda t: np.full(t.shape, 1e-12), signal_1_final=0.5)
    out = analyze(traj)
    assert np.isnan(out["rise"][0, 1]) and np.isnan(out["escape"][0, 0])
    assert np.isnan(out["learned"][0, 0])  # fails at the last step: not learned "to the end"
    assert np.isnan(out["T_u"][0, 1]) and np.isnan(out["t_R"][0])


def test_never_in_S_leaves_the_chain_unstarted():
    signal, error, s1x, s1k, sru, s1j = trajectory(lambda t: np.full(t.shape, 0.3))
    out = analyze((signal, error, s1x * 5, s1k, sru, s1j))
    assert np.isnan(out["first_in_S"][0]) and np.isnan(out["t_init"][0]).all()
    assert out["rise"][0, 0] == 20  # empirical quantities do not depend on S


def test_first_in_R_follows_eq_10():
    traj = trajectory(lambda t: np.full(t.shape, 0.3))
    out = analyze(traj)
    # sigma_1^2(J) <= lambda_r - Delta/2 = 0.25 only from step 400
    assert out["first_in_R"][0] == 400


def test_streaming_in_blocks_equals_one_block():
    sig2 = lambda t: np.where(t < 230, 1e-8, np.minimum(1e-8 * 1.2 ** (t - 230.0), 0.5))  # noqa: E731
    traj = trajectory(sig2)
    whole = analyze(traj)
    tracker = StageTracker(1, 2, LAM, DELTA, ETA, (1e-2, 1e-6))
    for t0 in range(0, T, 7):
        tracker.update(t0, *(a[:, t0 : t0 + 7] for a in traj))
    blocks = tracker.finalize()
    for name, value in whole.items():
        np.testing.assert_array_equal(value, blocks[name], err_msg=name)


def test_diverged_runs_have_no_stage_times():
    traj = trajectory(lambda t: np.full(t.shape, 0.3))
    out = analyze(traj, status=np.array([2]))
    assert np.isnan(out["rise"]).all() and np.isnan(out["first_in_S"]).all()
    assert not out["t_k_star_bound_dominated"].any()
