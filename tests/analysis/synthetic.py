"""Synthetic sweep Datasets with the layout of docs/design.md, for tests of fits, plots, report."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import expit

K_QUANTITIES = {"escape": 1.0, "plateau": 1.5, "rise": 0.8, "learned": 2.0, "t_k_star": 1.2}
BELOW_R = {"t_k_star", "escape", "plateau"}
LAMBDAS = (1.0, 0.5, 0.25, 0.125)
D_VALUES = tuple(np.geomspace(1e2, 1e6, 6))


def law_values(law, d, k, rng, *, noise, log_noise, size):
    """Stage times of signal k at dims d (n_d,) for ``size`` seeds: array (n_d, size)."""
    d = np.asarray(d, dtype=float)[:, None]
    if law == "log":
        return k * (5.0 + 20.0 * np.log(d)) + noise * rng.standard_normal((d.size, size))
    if law == "power":
        return k * 3.0 * d**0.5 * np.exp(log_noise * rng.standard_normal((d.size, size)))
    if law == "const":
        return k * 40.0 + noise * rng.standard_normal((d.size, size))
    raise ValueError(law)


def make_synthetic_sweep(
    laws=("log",),
    *,
    d_values=D_VALUES,
    n_seeds=16,
    r=3,
    noise=10.0,
    log_noise=0.2,
    rng_seed=0,
    eps=(1e-2, 1e-4),
    heatmap_steps=(0, 37, 80, 140, 300),
    n_recorded=121,
):
    """A sweep Dataset whose stage times follow a known law of d.

    One ``kappa`` value per entry of ``laws`` (kappa = 1, 2, ...), each following that law
    (``"log"``: ``k (5 + 20 log d) + N(0, noise^2)``; ``"power"``: ``3 k d^0.5 e^{N(0,
    log_noise^2)}``; ``"const"``: ``40 k + N(0, noise^2)``); the quantity factors of
    ``K_QUANTITIES`` multiply the law (escape has factor 1). Grid dims ``varpi,
    varpi_exponent, eta, r`` have size 1; ``k = 1..r``, undefined entries are NaN.
    """
    rng = np.random.default_rng(rng_seed)
    d_values = np.asarray(d_values, dtype=float)
    kappas = np.arange(1, len(laws) + 1, dtype=float)
    ks = np.arange(1, r + 1)
    seeds = np.arange(n_seeds)
    grid = {
        "d": d_values,
        "kappa": kappas,
        "varpi": [0.5],
        "varpi_exponent": [0.0],
        "eta": [0.1],
        "r": [r],
    }
    gdims = tuple(grid)
    gshape = tuple(len(v) for v in grid.values())

    data = {}
    for quantity, factor in K_QUANTITIES.items():
        arr = np.full(gshape + (n_seeds, r), np.nan)
        for ik, law in enumerate(laws):
            for k in ks:
                if quantity in BELOW_R and k >= r:
                    continue
                vals = factor * law_values(
                    law, d_values, k, rng, noise=noise, log_noise=log_noise, size=n_seeds
                )
                arr[:, ik, 0, 0, 0, 0, :, k - 1] = vals
        data[quantity] = (gdims + ("seed", "k"), arr, {"units": "steps"})
    data["t_k_star_bound_dominated"] = (
        gdims + ("seed", "k"),
        np.zeros(gshape + (n_seeds, r), dtype=bool),
        {},
    )
    t_eps = np.full(gshape + (n_seeds, len(eps)), np.nan)
    for ik, law in enumerate(laws):
        for ie, _ in enumerate(eps):
            t_eps[:, ik, 0, 0, 0, 0, :, ie] = (3.0 + ie) * law_values(
                law, d_values, 1, rng, noise=noise, log_noise=log_noise, size=n_seeds
            )
    data["t_eps"] = (gdims + ("seed", "eps"), t_eps, {"units": "steps"})
    data["status"] = (gdims + ("seed",), np.zeros(gshape + (n_seeds,), dtype=np.int8), {})

    # per-step diagnostics driven by the `rise` times: signal k switches on around rise_k;
    # a run stops (NaN afterwards) at 1.2 times its last `learned` time
    rise = np.where(np.isfinite(data["rise"][1]), data["rise"][1], np.inf)
    stop = 1.2 * np.nanmax(data["learned"][1], axis=-1)
    max_step = float(np.nanmax(stop))
    steps = np.unique(np.linspace(0.0, max_step, n_recorded).round())
    lam = np.asarray(LAMBDAS[:r])
    width = 0.04 * np.where(np.isfinite(rise), rise, 1.0) + 1.0
    t = steps.reshape((1,) * (len(gshape) + 2) + (-1,))
    switch = expit((t - rise[..., None]) / width[..., None])
    signal = lam.reshape((1,) * (len(gshape) + 1) + (r, 1)) * switch
    residual = 0.3 * np.exp(-(t[..., 0, :] / stop[..., None]) * 12.0)
    error = np.sqrt(np.sum((lam[:, None] - signal) ** 2, axis=-2) + residual**2) + 1e-8
    error = np.where(t[..., 0, :] <= stop[..., None], error, np.nan)
    signal = np.where(t <= stop[..., None, None], signal, np.nan)
    noise_level = residual[..., None, :] * np.ones_like(signal)
    data["error"] = (gdims + ("seed", "step"), error, {"long_name": "error", "units": "1"})
    data["signal"] = (gdims + ("seed", "k", "step"), signal, {"units": "1"})
    data["noise"] = (
        gdims + ("seed", "k", "step"),
        noise_level,
        {"units": "1"},
    )

    hsteps = np.asarray(heatmap_steps, dtype=float)
    th = hsteps.reshape((1,) * (len(gshape) + 2) + (-1,))
    sw = expit((th - rise[..., None]) / width[..., None])  # (..., seed, k, h)
    gram = np.zeros(gshape + (n_seeds, hsteps.size, 3, 3))
    n_diag = min(r, 3)
    for i in range(n_diag):
        gram[..., i, i] = lam[i] * sw[..., i, :] + 0.25
    off = 0.2 * np.exp(-hsteps / 100.0)
    for i in range(3):
        for j in range(3):
            if i != j:
                gram[..., i, j] = off * (1 if (i + j) % 2 else -1)
    data["top_gram"] = (gdims + ("seed", "heatmap_step", "row", "col"), gram, {"units": "1"})

    coords = dict(grid)
    coords.update(
        {
            "seed": seeds,
            "k": ks,
            "eps": np.asarray(eps),
            "step": steps,
            "heatmap_step": hsteps,
            "row": [1, 2, 3],
            "col": [1, 2, 3],
        }
    )
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "mfsim_version": "0.1.0",
        "git_commit": "synthetic",
        "config": "sweep: synthetic\nlaws: " + ", ".join(laws) + "\n<script>x</script>",
    }
    return ds


def make_single_run(
    d=400, r=2, varpi=0.5, eta=0.1, n_steps=400, seed=0, heatmap_steps=(0, 37, 80, 140, 300)
):
    """A real GD run of the paper's Figure 1 setting (smaller d) as a single-run Dataset.

    ``Sigma = diag(1, 0.5, e)`` with ``e`` linear from 0.3 to 0; ``X_0 = varpi N_0``,
    ``N_0 ~ N(0, 1/d)``; ``X <- X + eta (Sigma - X X^T) X``; error ``||Sigma_r - X X^T||_F``.
    """
    rng = np.random.default_rng(seed)
    lam = np.concatenate([[1.0, 0.5][:r], np.linspace(0.3, 0.0, d - r)])
    sigma_r = np.zeros(d)
    sigma_r[:r] = lam[:r]
    x = varpi * rng.standard_normal((d, r)) / np.sqrt(d)
    errors, grams = np.empty(n_steps + 1), {}
    hset = set(heatmap_steps)
    for step in range(n_steps + 1):
        gram_small = x.T @ x
        # ||S_r - X X^T||_F^2 = ||S_r||^2 - 2 tr(X^T S_r X) + ||X^T X||_F^2
        errors[step] = np.sqrt(
            max(
                np.sum(sigma_r**2) - 2 * np.sum(sigma_r[:, None] * x * x) + np.sum(gram_small**2),
                0.0,
            )
        )
        if step in hset:
            grams[step] = x[:3] @ x[:3].T
        x = x + eta * (lam[:, None] * x - x @ gram_small)
    hs = np.asarray(heatmap_steps, dtype=float)
    ds = xr.Dataset(
        {
            "error": (("seed", "step"), errors[None, :], {"long_name": "error", "units": "1"}),
            "top_gram": (
                ("seed", "heatmap_step", "row", "col"),
                np.stack([grams[int(s)] for s in hs])[None],
                {"units": "1"},
            ),
            "status": (("seed",), np.zeros(1, dtype=np.int8)),
        },
        coords={
            "seed": [seed],
            "step": np.arange(n_steps + 1.0),
            "heatmap_step": hs,
            "row": [1, 2, 3],
            "col": [1, 2, 3],
            "d": d,
            "r": r,
            "eta": eta,
            "varpi": varpi,
        },
    )
    return ds


# --------------------------------------------------------------------------------------------
# Single groups with known laws, for the verdict rule and its measured rates
# --------------------------------------------------------------------------------------------
def _log_law(sd):
    return lambda d, rng, size: (
        5.0 + 20.0 * np.log(d)[:, None] + sd * rng.standard_normal((d.size, size))
    )


def _power_law(prefactor, alpha, log_sd):
    return lambda d, rng, size: (
        prefactor * d[:, None] ** alpha * np.exp(log_sd * rng.standard_normal((d.size, size)))
    )


#: Steps per unit of ln d of the skewed laws (the last signal's rise slope at kappa = 5).
S_SKEWED = 25.0


def _skewed(mean):
    """``mean(ln d)`` plus the seed scatter of a rise time, ``-S ln chi^2_1`` (the squared
    projection of the initial row, docs/transition.md): right-skewed, SD S pi / sqrt(2)."""
    return lambda d, rng, size: (
        mean(np.log(d))[:, None] - S_SKEWED * np.log(rng.chisquare(1, (d.size, size)))
    )


#: The laws of the asymptotic study (docs/scaling.md), all with -S ln chi^2_1 scatter: O(log d)
#: laws with and without a ln ln d correction, and growth faster than log d.
SKEWED_LAWS = {
    "S ln d": _skewed(lambda x: S_SKEWED * x),
    "S (ln d - ln ln d)": _skewed(lambda x: S_SKEWED * (x - np.log(x))),
    "S (ln d - 2 ln ln d)": _skewed(lambda x: S_SKEWED * (x - 2.0 * np.log(x))),
    "(ln d)^1.5": _skewed(lambda x: x**1.5),
    "(ln d)^1.2": _skewed(lambda x: 6.0 * x**1.2),
    "(S / 0.002) d^0.002": _skewed(lambda x: S_SKEWED / 0.002 * np.exp(0.002 * x)),
}

#: name -> law(d (n_d,), rng, n_seeds) -> stage times (n_d, n_seeds)
LAWS = {
    "log, sd 10": _log_law(10.0),
    "log, sd 60": _log_law(60.0),
    "log, sd 150": _log_law(150.0),
    "d^0.5, lognormal 0.2": _power_law(3.0, 0.5, 0.2),
    "d^0.5, lognormal 1": _power_law(3.0, 0.5, 1.0),
    "d^0.2, lognormal 0.2": _power_law(30.0, 0.2, 0.2),
    "d^0.1, lognormal 0.1": _power_law(100.0, 0.1, 0.1),
    "d^0.05, lognormal 0.05": _power_law(200.0, 0.05, 0.05),
    "const, sd 10": lambda d, rng, size: 40.0 + 10.0 * rng.standard_normal((d.size, size)),
    "60 - 4 log d, sd 3": lambda d, rng, size: (
        60.0 - 4.0 * np.log(d)[:, None] + 3.0 * rng.standard_normal((d.size, size))
    ),
    "200 d^-0.2, lognormal 0.1": _power_law(200.0, -0.2, 0.1),
    **SKEWED_LAWS,
}


def group_dataset(d_values, y) -> xr.Dataset:
    """One group (kappa = 1, k = 1) of a stage quantity ``escape`` with values y (n_d, n_seed)."""
    y = np.asarray(y, dtype=float)
    return xr.Dataset(
        {"escape": (("d", "seed", "kappa", "k"), y[:, :, None, None])},
        coords={
            "d": np.asarray(d_values, dtype=float),
            "seed": np.arange(y.shape[1]),
            "kappa": [1.0],
            "k": [1],
        },
    )


def verdict_of(d_values, y, *, n_boot=200, seed=0, full=False):
    """Verdict (and detail, or the whole fit with ``full``) of one group, via fit_scaling."""
    from mfsim.analysis.scaling import fit_scaling

    fit = fit_scaling(group_dataset(d_values, y), "escape", n_boot=n_boot, seed=seed)
    verdict = str(fit["verdict"].values.ravel()[0])
    return verdict, (fit if full else str(fit["verdict_detail"].values.ravel()[0]))


def verdict_rates(law, *, n_sets, n_boot=200, seed=0, d_values=D_VALUES, n_seeds=16):
    """Share of each verdict over ``n_sets`` data sets drawn from ``LAWS[law]``."""
    d = np.asarray(d_values, dtype=float)
    counts: dict[str, int] = {}
    for i in range(n_sets):
        rng = np.random.default_rng([seed, i])
        verdict, _ = verdict_of(d, LAWS[law](d, rng, n_seeds), n_boot=n_boot, seed=i)
        counts[verdict] = counts.get(verdict, 0) + 1
    return {verdict: count / n_sets for verdict, count in counts.items()}
