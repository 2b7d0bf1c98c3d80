"""Stage analysis on hand-built trajectories where the answer is known."""

import math

import numpy as np
import pytest

from mfsim.engine import stages
from mfsim.engine.stages import (
    StageTracker,
    analyze_stages,
    bound_only_s,
    settle_limit,
    t_sharp,
    t_star,
)

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
    # one rounding rule: the first step at or after the paper's real formula
    real_t_R = (
        out["t_init"][0, 1] + out["T_u"][0, 1] + t_star(ETA, DELTA, 1.0, 2) + t_sharp(ETA, DELTA, 2)
    )
    assert out["t_R"][0] == math.ceil(real_t_R) and out["t_R"][0] - real_t_R < 1
    real_t_2 = out["t_init"][0, 1] + out["T_u"][0, 1] + t_star(ETA, DELTA, 1.0, 2)
    assert out["t_k"][0, 1] == math.ceil(real_t_2)  # t_k at k = r (property 2)


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
    assert np.isnan(out["t_k"][0, 1])  # its T_{u_2} is not determined


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


# ---- the paper's chain by direct loops (section 4.2, eqs. 13-15, property 5) -------------------


def reference_chain(signal, in_s, eta, delta, lambda_1):
    """t_init, T_u, t_k, t_k^*, t_R of one run by plain loops over steps.

    Formula-defined indices are the first step at or after the real formula; they are reported
    whenever their inputs were observed (also past the last step).
    """
    steps, r = signal.shape
    q = 1 - eta * delta / 6
    tstar = math.log(delta**2 / (8 * lambda_1**3 + 144 * r**2 * lambda_1)) / math.log(q)
    tsharp = math.log(delta / (4 * r)) / math.log(q)
    nan = float("nan")
    out = {"t_init": [nan] * r, "T_u": [nan] * r, "t_k": [nan] * r, "t_k_star": [nan] * r}
    out["t_R"] = nan
    entry = next((t for t in range(steps) if in_s[t]), None)
    if entry is None:
        return out
    t_init = entry
    for k in range(r):
        out["t_init"][k] = t_init
        rise = next((t for t in range(t_init, steps) if signal[t, k] >= delta / 2), None)
        if rise is None:
            return out
        out["T_u"][k] = rise - t_init
        out["t_k"][k] = math.ceil(t_init + (rise - t_init) + tstar)
        if k == r - 1:
            out["t_R"] = math.ceil(t_init + (rise - t_init) + tstar + tsharp)
            return out
        t_k = out["t_k"][k]
        found = None
        for s in range(0, steps - t_k):
            sigma = math.sqrt(signal[t_k + s, k + 1])
            if r * q**s <= math.sqrt(delta / 8) * min(sigma, math.sqrt(delta / 2)):
                found = s
                break
        if found is None:
            return out
        out["t_k_star"][k] = found
        t_init = t_k + found
    return out


def random_trajectory(rng, r, steps):
    """Signals rising one after another at random steps (smooth ramps), S entered at random."""
    t = np.arange(steps)
    lam = 1.0 - 0.2 * np.arange(r)
    signal = np.empty((steps, r))
    start = rng.integers(0, 40)
    for k in range(r):
        width = rng.integers(5, 60)
        floor = 10.0 ** rng.uniform(-14, -3)
        ramp = np.clip((t - start) / width, 0, 1)
        signal[:, k] = floor + (lam[k] - floor) * ramp
        start += rng.integers(0, 400)
    entry = rng.integers(0, 30)
    s1k = np.where(t[:, None] < entry, 5.0, 0.0) + np.zeros(r)
    return signal, s1k, lam


@pytest.mark.parametrize("r", [1, 2, 3])
def test_literal_chain_equals_the_papers_formulas_by_loops(r):
    rng = np.random.default_rng(r)
    eta, delta, steps = 0.5, 0.2, 900
    for _ in range(40):
        signal, s1k, lam = random_trajectory(rng, r, steps)
        ones = np.ones((1, steps))
        out = analyze_stages(
            signal[None],
            ones,
            ones * 0.5,
            s1k[None],
            ones,
            ones * 0.0,
            top_lambda=lam,
            Delta=delta,
            eta=eta,
        )
        in_s = s1k.max(axis=1) <= lam.min() - 0.75 * delta
        ref = reference_chain(signal, in_s, eta, delta, 1.0)
        for name in ("t_init", "T_u", "t_k", "t_k_star"):
            np.testing.assert_array_equal(out[name][0], ref[name], err_msg=name)
        np.testing.assert_array_equal(out["t_R"][0], ref["t_R"])
        # t_k is finite for every k <= r whose T_{u_k} is determined (property 2)
        assert np.array_equal(np.isfinite(out["t_k"][0]), np.isfinite(out["T_u"][0]))


def test_formula_indices_past_the_last_step_are_recorded_events_are_not():
    # u_2 rises at step 580 of 600: T_{u_2} is observed, t_2 and t_R lie after the last step;
    # t_1^* is scanned from t_1 = 5 + 15 + ceil(t^*) on and found; nothing is invented.
    traj = trajectory(lambda t: np.where(t < 580, 1e-12, 0.4))
    out = analyze(traj)
    assert out["t_k"][0, 1] > T - 1 and out["t_R"][0] > T - 1
    assert out["t_k"][0, 1] == out["t_init"][0, 1] + out["T_u"][0, 1] + math.ceil(
        t_star(ETA, DELTA, 1.0, 2)
    )
    # a run that stops before t_1 + ceil(t^sharp) leaves t_1^* undetermined
    short = tuple(a[:, :100] for a in trajectory(lambda t: np.full(t.shape, 1e-12)))
    early = analyze(short)
    assert np.isfinite(early["t_k"][0, 0]) and early["t_k"][0, 0] > 99
    assert np.isnan(early["t_k_star"][0, 0]) and np.isnan(early["t_init"][0, 1])


def test_bound_only_s_is_the_first_integer_at_or_after_t_sharp():
    for eta, delta, r in [(0.1, 0.2, 2), (0.003, 0.2, 3), (1.0, 0.5, 2), (0.05, 0.1, 5)]:
        s = bound_only_s(eta, delta, r)
        q = 1 - eta * delta / 6
        rhs = math.sqrt(delta / 8) * math.sqrt(delta / 2)
        assert r * q**s <= rhs and (s == 0 or r * q ** (s - 1) > rhs)
        assert s == math.ceil(t_sharp(eta, delta, r))


def test_status_code_matches_the_kernels():
    from mfsim.engine import kernels

    assert stages.CONVERGED == kernels.CONVERGED


def settled_trajectory(stop, r=2):
    """r = 2 run converged at ``stop``: u_2 rose at 30, everything settled from step 60."""
    traj = trajectory(lambda t: np.where(t < 30, 1e-9, 0.5))
    signal, error, s1x, s1k, sru, s1j = (a[:, : stop + 1].copy() for a in traj)
    error[:, 60:] = 1e-13
    s1j[:, 60:] = 0.0
    return signal, error, s1x, s1k, sru, s1j


def analyze_settled(traj, **kw):
    # eta lambda_1 < 1: the minimizers are locally attracting (docs/stages.md)
    return analyze_stages(*traj, top_lambda=LAM, Delta=DELTA, eta=0.5, epsilons=(1e-2,), **kw)


@pytest.mark.parametrize("stop", [70, 120, 200, 260, 599])
def test_a_settled_converged_stop_completes_the_chain_as_the_continued_run(stop):
    full = analyze_settled(settled_trajectory(599))
    stopped = analyze_settled(settled_trajectory(stop), status=np.array([0]))
    for name in ("t_init", "T_u", "t_k", "t_k_star", "t_k_star_bound_dominated", "t_R"):
        np.testing.assert_array_equal(stopped[name], full[name], err_msg=f"{name} stop={stop}")
    for name in ("rise", "learned", "escape", "plateau", "first_in_S", "first_in_R"):
        np.testing.assert_array_equal(stopped[name], full[name], err_msg=name)
    # t_1 + ceil(t^sharp) lies after steps 70 and 120: completed there, bound-dominated
    assert full["t_k_star_bound_dominated"][0, 0]
    assert full["t_k_star"][0, 0] == math.ceil(t_sharp(0.5, DELTA, 2))
    assert np.isfinite(stopped["t_R"]).all()


def test_an_unsettled_or_unconverged_stop_is_not_completed():
    traj = settled_trajectory(70)
    assert np.isfinite(analyze_settled(traj, status=np.array([0]))["t_R"][0])
    as_max_steps = analyze_settled(traj, status=np.array([1]))
    assert np.isnan(as_max_steps["t_k_star"][0, 0])
    signal = traj[0].copy()
    signal[0, -1, 1] = 0.05  # u_2 below Delta/2 at the stop: not settled
    unsettled = analyze_settled((signal, *traj[1:]), status=np.array([0]))
    assert np.isnan(unsettled["t_k_star"][0, 0])
    # an error at the stop above the settle limit: the future is not guaranteed, not completed
    error = traj[1].copy()
    error[0, -1] = 2 * settle_limit(0.5, DELTA, LAM, 0.01)
    assert 2 * settle_limit(0.5, DELTA, LAM, 0.01) < min(DELTA / 4, 0.01 * LAM[-1])
    above = analyze_settled((traj[0], error, *traj[2:]), status=np.array([0]))
    assert np.isnan(above["t_k_star"][0, 0])
    # eta lambda_1 >= 1: minimizers not attracting, nothing is completed
    assert np.isnan(analyze(traj, status=np.array([0]))["t_k_star"][0, 0])


@pytest.mark.parametrize(
    "family,d,r,kappa,eta,steps",
    [("figure1", 200, 2, None, 0.1, 5000), ("linear", 300, 3, 3.5, 0.3, 4000)],
)
def test_engine_chain_equals_the_direct_loops_on_its_recorded_trajectory(
    family, d, r, kappa, eta, steps
):
    """Streaming over the engine's blocks of steps gives the loops' values on every step."""
    import mfsim

    spec = mfsim.spectrum(family, d, r=r, kappa=kappa)
    ds = mfsim.simulate(spec, eta=eta, steps=steps, seeds=range(3), stop_error=0, record="all")
    lam = spec.top(r)
    for seed in range(3):
        run = ds.isel(seed=seed)
        signal = run.signal.transpose("step", "k").values
        s1k = run.sigma1_sq_K.transpose("step", "k").values
        in_s = (run.sigma1_sq_X.values <= 2 * lam[0]) & np.all(s1k <= lam - 0.75 * spec.Delta, 1)
        ref = reference_chain(signal, in_s, eta, spec.Delta, spec.lambda_1)
        for name in ("t_init", "T_u", "t_k", "t_k_star"):
            np.testing.assert_array_equal(run[name].values, ref[name], err_msg=name)
        assert run.t_R.item() == ref["t_R"]
        assert np.isfinite(run.t_k).all()  # every k <= r, t_r included
