"""A naive exponent-carrying reference of GD on the flat spectrum at any d (tests only).

Independent of the engine and of ``mfsim.analysis.linearized``: Sigma = diag(lambda_1..r,
lambda_{r+1} x (d - r)) with lambda_k = lambda_1 (1 - (k - 1)/kappa); X_0 = varpi N_0. The
bulk rows enter only through their r x r Gram matrix, carried as a factor R (R^T R = B^T B,
B <- B M so R <- R M); each top row u_k is carried as a unit vector times e^{e_k}, so
||u_k||^2 = e^{2 e_k} never underflows. The Gram matrix G = R^T R + sum_k u_k^T u_k takes
e^{2 e_k} as it is (it underflows to 0 only where it is negligible next to R^T R).
Stage times follow the definitions of section 4.2 (eqs. 13-15), written out here again.
"""

from __future__ import annotations

import math

import numpy as np


def reference_flat(log10_d, r, *, kappa=5.0, eta=0.1, varpi=0.5, seeds=(0,), n_steps=20000):
    """Rise times, t_k and t_k^* (with the bound-dominated flag) of the flat family.

    Returns
    -------
    dict of arrays, shape (n_seeds, r) for ``rise`` and (n_seeds, r - 1) for ``t_k``,
    ``t_k_star``, ``bound_dominated``.
    """
    d_log = float(log10_d) * math.log(10.0)
    lam = 1.0 - np.arange(r) / kappa
    lam_bulk = 1.0 - r / kappa
    gap = 1.0 / kappa
    n = len(seeds)
    unit = np.empty((n, r, r))
    expo = np.empty((n, r))
    bulk = np.empty((n, r, r))
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((r, r))
        norms = np.linalg.norm(z, axis=1)
        unit[i] = z / norms[:, None]
        expo[i] = np.log(varpi * norms) - 0.5 * d_log
        # Bartlett factor of the Wishart(d - r, I) Gram matrix of the bulk, scaled by varpi^2/d;
        # chi^2_m / m for m ~ d is 1 + sqrt(2/m) N(0, 1) to O(1/m)
        spread = math.sqrt(2.0) * math.exp(-0.5 * d_log)
        chi = 1.0 + spread * rng.standard_normal(r)
        factor = np.diag(np.sqrt(chi))
        iu = np.triu_indices(r, 1)
        factor[iu] = rng.standard_normal(iu[0].size) * math.exp(-0.5 * d_log)
        bulk[i] = varpi * factor
    log_signal = np.empty((n_steps + 1, n, r))
    sigma1_x = np.empty((n_steps + 1, n))
    sigma1_k = np.empty((n_steps + 1, n, r))
    eye = np.eye(r)
    for t in range(n_steps + 1):
        rows = unit * np.exp(expo)[..., None]  # (n, r, r): row k is u_k
        outer = np.einsum("nki,nkj->nkij", rows, rows)
        gram = np.einsum("nki,nkj->nij", bulk, bulk) + outer.sum(1)
        log_signal[t] = 2.0 * expo
        sigma1_x[t] = np.linalg.eigvalsh(gram)[:, -1]
        for k in range(r):
            rest = gram - outer[:, : k + 1].sum(1)
            sigma1_k[t, :, k] = np.linalg.eigvalsh(rest)[:, -1]
        if t == n_steps:
            break
        step_top = (1.0 + eta * lam)[None, :, None, None] * eye - eta * gram[:, None]
        unit = np.einsum("nki,nkij->nkj", unit, step_top)
        norms = np.linalg.norm(unit, axis=-1)
        unit /= norms[..., None]
        expo += np.log(norms)
        bulk = bulk @ ((1.0 + eta * lam_bulk) * eye - eta * gram)
    return _stages(log_signal, sigma1_x, sigma1_k, lam, gap, eta, r)


def _stages(log_signal, sigma1_x, sigma1_k, lam, gap, eta, r):
    """The stage chain of section 4.2 from the per-step diagnostics (one loop per run)."""
    n_steps1, n, _ = log_signal.shape
    q = 1.0 - eta * gap / 6.0
    t_star = math.log(gap**2 / (8 * lam[0] ** 3 + 144 * r**2 * lam[0])) / math.log(q)
    risen = log_signal >= math.log(gap / 2.0)
    in_s = (sigma1_x <= 2 * lam[0]) & np.all(sigma1_k <= lam - 0.75 * gap, axis=-1)
    rise = np.full((n, r), np.nan)
    t_k = np.full((n, r - 1), np.nan)
    t_k_star = np.full((n, r - 1), np.nan)
    bound = np.zeros((n, r - 1), dtype=bool)
    cap = math.sqrt(gap / 2.0)
    for i in range(n):
        for k in range(r):
            hit = np.flatnonzero(risen[:, i, k])
            rise[i, k] = hit[0] if hit.size else np.nan
        entry = np.flatnonzero(in_s[:, i])
        if not entry.size:
            continue
        t_init = int(entry[0])
        for k in range(r - 1):
            hit = np.flatnonzero(risen[t_init:, i, k])
            if not hit.size:
                break
            tk = t_init + int(hit[0]) + math.ceil(t_star)
            if tk >= n_steps1:
                break
            t_k[i, k] = tk
            s = np.arange(n_steps1 - tk)
            sigma_next = np.exp(0.5 * log_signal[tk:, i, k + 1])
            ok = r * q**s <= math.sqrt(gap / 8.0) * np.minimum(sigma_next, cap)
            j = np.flatnonzero(ok)
            if not j.size:
                break
            t_k_star[i, k] = j[0]
            bound[i, k] = sigma_next[j[0]] >= cap
            t_init = tk + int(j[0])
    return {"rise": rise, "t_k": t_k, "t_k_star": t_k_star, "bound_dominated": bound}
