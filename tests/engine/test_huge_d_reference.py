"""The reduced engine at d = 10^600 and 10^1000 against an exponent-carrying NumPy model written
here: every recorded diagnostic to 1e-10 relative at 10^600, the rises and t_1^* at 10^1000.

The model holds each row as a mantissa row and an int exponent (renormalized every step with
frexp), computes G from the rows scaled to floats (terms below float64's range relative to G's
O(1) entries vanish, as they must), and evaluates the diagnostics in log form from the
mantissas: sums of squares of rows with their own exponents, and sigma_r^2(U) by mpmath's SVD at
40 digits on the exact rows. Both start from the same X_0 (the engine's sampler; the sampler is
not what is tested here).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import mfsim
from mfsim.engine.exponent_init import exponent_initial_state
from mfsim.engine.initialization import effective_system
from mfsim.engine.reduced_simulation import row_eigenvalues, simulate_reduced
from mfsim.engine.simulation import noise_floor_factor
from mfsim.theory import contraction, t_star

LN2 = math.log(2.0)
ETA = 0.1
R = 2


class ExponentModel:
    """GD on the reduced rows x_i = m_i 2**e_i (NumPy, Python ints for exponents)."""

    def __init__(self, system, seed):
        self.m, self.e = exponent_initial_state(system, 0.5, seed)
        self.m = self.m.copy()
        self.e = self.e.astype(object)  # Python ints
        self.growth = 1.0 + ETA * row_eigenvalues(system)
        self.top = system.spectrum.top(R)

    def floats(self):
        return np.array([np.ldexp(row, int(e)) for row, e in zip(self.m, self.e, strict=True)])

    def step(self):
        x = self.floats()
        gram = x.T @ x
        self.m = self.growth[:, None] * self.m - ETA * (self.m @ gram)
        mx = np.max(np.abs(self.m), axis=1)
        _, ex = np.frexp(mx)
        self.m = np.ldexp(self.m, -ex[:, None])
        self.e = self.e + ex.astype(object)

    def ln_signal(self, k):
        return math.log(float(np.sum(self.m[k] ** 2))) + 2 * self.e[k] * LN2

    def diagnostics(self):
        """Every diagnostic; tiny ones as natural logs (``ln_*``)."""
        x = self.floats()
        u, bulk = x[:R], x[R:]
        h = bulk.T @ bulk
        gram = u.T @ u + h
        out = {"error": None, "s1x": np.linalg.eigvalsh(gram)[-1]}
        out["s1j"] = np.linalg.eigvalsh(h)[-1]
        out["s1k"] = [np.linalg.eigvalsh(h + u[k + 1 :].T @ u[k + 1 :])[-1] for k in range(R)]
        top_block = u @ u.T
        quad = sum(max(float(uk @ h @ uk), 0.0) for uk in u)
        out["error"] = math.sqrt(
            np.sum((np.diag(self.top) - top_block) ** 2) + 2 * quad + np.sum(h**2)
        )
        ln_sig = [self.ln_signal(k) for k in range(R)]
        out["ln_signal"] = ln_sig
        ln_noise = []
        for k in range(R):
            # sum_{i > k} (x_i . u_k)^2 = 2**(2 e_k) [sum_bulk (x_i . m_k)^2 + sum_top ...]
            terms = [float(np.sum((bulk @ self.m[k]) ** 2))]
            terms += [
                float(self.m[i] @ self.m[k]) ** 2 * 2.0 ** (2 * int(self.e[i]))
                for i in range(k + 1, R)
            ]
            ln_noise.append(0.5 * (math.log(sum(terms)) + 2 * self.e[k] * LN2))
        out["ln_noise"] = ln_noise
        floor = noise_floor_factor(ETA, self.spectrum_delta, "float64")
        tail = np.trace(h)
        ln_floor = [0.0] * R
        for k in range(R - 1, -1, -1):
            ln_floor[k] = math.log(floor) + 0.5 * ln_sig[k] + 0.5 * math.log(tail)
            tail += math.exp(ln_sig[k]) if ln_sig[k] > -700 else 0.0
        out["ln_noise_floor"] = ln_floor
        with mpmath.workdps(40):
            um = mpmath.matrix(
                [
                    [mpmath.ldexp(mpmath.mpf(float(v)), int(self.e[k])) for v in self.m[k]]
                    for k in range(R)
                ]
            )
            smin = min(mpmath.svd_r(um, compute_uv=False))
            out["ln_sru"] = float(2 * mpmath.log(smin))
        return out


def engine_run(log10_d, steps, record_stride, seeds):
    spec = mfsim.spectrum("flat", {"log10": log10_d}, r=R, kappa=5)
    system = effective_system(spec)
    ds, pairs = simulate_reduced(
        system,
        eta=ETA,
        steps=steps,
        varpi=0.5,
        seeds=seeds,
        X0=None,
        epsilons=(1e-2,),
        stop_error=0.0,
        learned_tolerance=0.01,
        record="stride",
        record_stride=record_stride,
        record_num=None,
        heatmap_steps=(0,),
        floor_factor=noise_floor_factor(ETA, spec.Delta, "float64"),
        progress_bar=_NoBar(),
        attrs=None,
        keep_pairs=True,
    )
    return spec, system, ds, pairs


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def ln_pair(mant, expo):
    return math.log(mant) + int(expo) * LN2


def test_every_diagnostic_matches_the_exponent_model_at_1e600():
    steps, stride = 40_000, 2_000
    spec, system, ds, pairs = engine_run(600, steps, stride, seeds=[0])
    assert ds.attrs["reduced_engine"] == 1
    model = ExponentModel(system, 0)
    model.spectrum_delta = spec.Delta
    # the top 3 x 3 block of X X^T at step 0 (rows near 10^-300 each): mantissa and exponent
    for a in range(3):
        for c in range(3):
            ref = float(model.m[a] @ model.m[c])
            scale = math.sqrt(float(model.m[a] @ model.m[a]) * float(model.m[c] @ model.m[c]))
            got = math.ldexp(
                pairs.top[0, 0, a, c], int(pairs.top_exp[0, 0, a, c]) - int(model.e[a] + model.e[c])
            )
            assert abs(got - ref) <= 1e-12 * scale, ("top_gram", a, c)
    recorded = list(ds.step.values)
    compared = 0
    noise_resolved = 0
    for t in range(steps + 1):
        if t in recorded:
            j = recorded.index(t)
            ref = model.diagnostics()
            for name, key in (("error", "error"), ("s1x", "s1x"), ("s1j", "s1j")):
                got = getattr(pairs, key)[0, j]
                assert got == pytest.approx(ref[name], rel=1e-10), (name, t)
            for k in range(R):
                assert pairs.s1k[0, j, k] == pytest.approx(ref["s1k"][k], rel=1e-10), t
                got = ln_pair(pairs.signal[0, j, k], pairs.signal_exp[0, j, k])
                assert abs(got - ref["ln_signal"][k]) <= 1e-10, ("signal", k, t)
                # noise_k is a cancellation-free sum of tiny dot products: relative 1e-10 above
                # its resolution, within 10 noise floors (rounding level, docs/accuracy.md) below
                got = ln_pair(pairs.noise[0, j, k], pairs.noise_exp[0, j, k])
                lnf = ref["ln_noise_floor"][k]
                diff = abs(math.exp(got - lnf) - math.exp(ref["ln_noise"][k] - lnf))
                assert diff <= 1e-10 * math.exp(ref["ln_noise"][k] - lnf) + 10.0, ("noise", k, t)
                noise_resolved += ref["ln_noise"][k] > lnf + math.log(1e6)
                got = ln_pair(pairs.noise_floor[0, j, k], pairs.noise_floor_exp[0, j, k])
                assert abs(got - ref["ln_noise_floor"][k]) <= 1e-10, ("noise_floor", k, t)
            got = ln_pair(pairs.sru[0, j], pairs.sru_exp[0, j])
            assert abs(got - ref["ln_sru"]) <= 1e-10, ("sigmar_sq_U", t)
            compared += 1
        model.step()
    assert compared == len(recorded) == steps // stride + 1
    assert noise_resolved >= compared  # most comparisons are of resolved noise (relative 1e-10)
    # the run crossed both rises inside the compared range, from signals near 10^-600
    rise = ds.rise.values[0]
    assert np.all(np.isfinite(rise)) and rise[1] < steps
    assert ln_pair(pairs.signal[0, 0, 0], pairs.signal_exp[0, 0, 0]) < -600 * math.log(10) + 5


def reference_stages(model, spec, steps):
    """rise_k and t_1^* (eq. 15 in logs) of the model, by the literal chain."""
    delta_gap = spec.Delta
    ln_half = math.log(delta_gap / 2.0)
    rise = [None] * R
    t_init = None
    t_1 = None
    q = contraction(ETA, delta_gap)
    offset = math.ceil(t_star(ETA, delta_gap, spec.lambda_1, R))
    ln_c8 = 0.5 * math.log(delta_gap / 8.0)
    t_1_star = None
    for t in range(steps + 1):
        ln_sig = [model.ln_signal(k) for k in range(R)]
        if t_init is None:
            d = model.diagnostics_s()
            if d:
                t_init = t
        for k in range(R):
            if rise[k] is None and ln_sig[k] >= ln_half:
                rise[k] = t
        if t_init is not None and t_1 is None and t >= t_init and ln_sig[0] >= ln_half:
            t_1 = t + offset
        if t_1 is not None and t_1_star is None and t >= t_1:
            s = t - t_1
            lhs = math.log(R) + s * math.log(q)
            rhs = ln_c8 + min(0.5 * ln_sig[1], 0.5 * ln_half)
            if lhs <= rhs:
                t_1_star = s
        if all(v is not None for v in rise) and t_1_star is not None:
            return rise, t_1_star
        model.step()
    return rise, t_1_star


def _in_s(model):
    x = model.floats()
    u, bulk = x[:R], x[R:]
    h = bulk.T @ bulk
    s1x = np.linalg.eigvalsh(u.T @ u + h)[-1]
    top = model.top
    delta_gap = model.spectrum_delta
    ok = [
        np.linalg.eigvalsh(h + u[k + 1 :].T @ u[k + 1 :])[-1] <= top[k] - 0.75 * delta_gap
        for k in range(R)
    ]
    return bool(s1x <= 2.0 * top[0] and all(ok))


def test_rises_and_t_star_match_the_exponent_model_at_1e1000():
    steps = 70_000
    spec, system, ds, _ = engine_run(1000, steps, steps, seeds=[0, 1])
    assert ds.log10_d.values == 1000.0 and ds.d.values == -1000.0
    for b, seed in enumerate((0, 1)):
        model = ExponentModel(system, seed)
        model.spectrum_delta = spec.Delta
        model.diagnostics_s = lambda model=model: _in_s(model)
        rise, t_1_star = reference_stages(model, spec, steps)
        assert rise[0] is not None and rise[1] is not None and t_1_star is not None
        assert ds.rise.values[b].tolist() == [float(v) for v in rise]
        assert ds.t_k_star.values[b, 0] == float(t_1_star)
        assert not ds.t_k_star_bound_dominated.values[b, 0]
