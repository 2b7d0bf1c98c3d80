"""A run stopped at convergence reports the same stage values as the run continued to its limit.

docs/stages.md: once the last computed step is settled (error <= min(Delta/4, delta lambda_r)
gives in S, in R, every signal learned and above Delta/2) and eta lambda_1 < 1, the remaining
literal chain is determined without stepping on. Checked here against the same runs continued
to a step limit beyond every literal quantity (stop_error = 0), which observe the chain directly.
"""

import numpy as np
import pytest

import mfsim

LITERAL = ("t_init", "T_u", "t_k", "t_k_star", "t_k_star_bound_dominated", "t_R")
EMPIRICAL = ("first_in_S", "first_in_R", "rise", "learned", "escape", "plateau")

CASES = [
    # family, d, r, kappa, eta, steps for the continued run
    ("figure1", 300, 2, None, 0.1, 5_000),
    ("flat", 10**6, 2, 5, 0.1, 5_000),
    ("linear", 400, 2, 3, 0.5, 2_000),
    ("flat", 10**4, 3, 5, 0.1, 9_000),
    ("linear", 300, 3, 4, 0.5, 3_000),
    ("staircase", 10**8, 3, 6, 0.3, 6_000),
    # long escapes at d = 10^300: every t_k^* is observed before the stop
    ("flat", 10**300, 2, 2.5, 0.9, 3_000),
    ("flat", 10**300, 3, 3.5, 0.9, 3_000),
    ("staircase", 10**300, 2, 2.5, 0.8, 3_000),
]


@pytest.mark.parametrize("family,d,r,kappa,eta,steps", CASES)
def test_stop_at_convergence_loses_no_stage_value(family, d, r, kappa, eta, steps):
    spec = mfsim.spectrum(family, d, r=r, kappa=kappa)
    kwargs = dict(eta=eta, steps=steps, varpi=0.5, seeds=range(24), epsilons=(1e-2, 1e-6))
    stopped = mfsim.simulate(spec, stop_error=1e-12, **kwargs)
    continued = mfsim.simulate(spec, stop_error=0.0, **kwargs)
    assert (stopped.status == 0).all() and (continued.status == 1).all()
    assert (stopped.stop_step < steps).all()
    # the continued runs observed every literal quantity inside their step limit
    last_scan = continued.t_k.isel(k=slice(0, r - 1)) + continued.t_k_star.isel(k=slice(0, r - 1))
    assert (last_scan <= steps).all()
    for name in LITERAL + EMPIRICAL + ("t_eps",):
        np.testing.assert_array_equal(
            stopped[name].values, continued[name].values, err_msg=f"{name} ({family}, r={r})"
        )
    assert np.isfinite(stopped.t_R).all() and np.isfinite(stopped.t_k).all()


def test_the_cases_cover_quantities_reached_before_and_after_the_stop():
    """Some t_k^* were observed before the stop, others completed after it."""
    before = after = 0
    for family, d, r, kappa, eta, _ in CASES:
        spec = mfsim.spectrum(family, d, r=r, kappa=kappa)
        ds = mfsim.simulate(spec, eta=eta, steps=20_000, seeds=range(24), stop_error=1e-12)
        end_of_scan = ds.t_k.isel(k=slice(0, r - 1)) + ds.t_k_star.isel(k=slice(0, r - 1))
        before += int((end_of_scan <= ds.stop_step).sum())
        after += int((end_of_scan > ds.stop_step).sum())
    assert before > 0 and after > 0
