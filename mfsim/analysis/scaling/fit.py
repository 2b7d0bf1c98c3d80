"""fit_scaling and fit_all: every group of a sweep fitted, judged and assembled."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import xarray as xr

from mfsim.analysis.scaling.assembly import (
    _MODEL_VARS,
    _PARAMETERS,
    CURVE_VARS,
    _assemble,
    _bounds,
)
from mfsim.analysis.scaling.bootstrap import _group_rng
from mfsim.analysis.scaling.group_fit import _fit_group
from mfsim.analysis.scaling.models import MODELS
from mfsim.analysis.scaling.power_analysis import DETECTION_POWER, detectable_alpha
from mfsim.analysis.scaling.runs import (
    _COUNTS,
    _RUN_COUNTS,
    RUN_DIMS,
    STAGE_QUANTITIES,
    classify_runs,
)
from mfsim.analysis.scaling.verdict import (
    GROWTH_VERDICTS,
    decide_verdict,
    reconcile,
    verdict_rule_text,
    verdict_sentence,
)
from mfsim.analysis.scaling.wording import NONPOSITIVE_POLICY, _case, _caveat, _literal_context
from mfsim.datamodel import stored_dimension_of_log10

#: Separator between quantity and variable name in :func:`fit_all` output.
SEP = "__"


def _scalar(value):
    return value.item() if hasattr(value, "item") else value


def fit_scaling(
    ds: xr.Dataset,
    quantity: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    min_d: int = 3,
    min_seeds: int = 2,
    confidence: float = 0.95,
    n_curve: int = 60,
) -> xr.Dataset:
    """Fit stage time versus d for every group of grid points that differ only in d.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset (``docs/design.md``). ``ds[quantity]`` must have dims ``d`` and ``seed``;
        its other dims (``kappa, varpi, varpi_exponent, eta, r`` and ``k`` or ``eps``) define
        the groups.
    quantity : str
        Stage variable to fit, e.g. ``"t_k_star"``, ``"escape"``, ``"t_eps"``.
    n_boot : int, default 1000
        Bootstrap replicates.
    seed : int, default 0
        Seed of the bootstrap; each group uses ``numpy.random.default_rng([seed,
        crc32(group coordinates)])``, so results are reproducible and independent of which
        other groups are in ``ds``.
    min_d : int, default 3
        Minimum number of usable d values (below: verdict ``"not enough data"``).
    min_seeds : int, default 2
        A d value is usable, and enters the fits, if it has at least this many reached runs.
    confidence : float, default 0.95
        Level of the percentile bootstrap intervals.
    n_curve : int, default 60
        Number of log-spaced d values (``d_curve``) on which fitted curves and their pointwise
        bootstrap bands are stored (for plots).

    Returns
    -------
    xarray.Dataset
        Dims: the group dims, ``model`` (``const, log, power``), ``d``, ``d_curve``.
        Parameters ``log_intercept, log_slope, power_prefactor, power_exponent,
        const_mean`` with ``_lo``/``_hi`` interval bounds; per model
        ``cv_rmse`` (+ ``_lo``/``_hi``), ``cv_excess`` (+ ``_lo``/``_hi``),
        ``cv_win_fraction``, ``r2``, ``resid_sd``, ``aic``;
        ``curve``, ``curve_lo``, ``curve_hi`` (model, d_curve); ``preferred_model``,
        ``verdict``, ``verdict_sentence``, ``verdict_detail``, ``case``, ``case_text``,
        ``caveat`` (str), ``decisive`` (bool), ``n_d_used``, ``boxcox_alpha`` (+ ``_lo``,
        ``_hi``), ``log_log_gamma``, ``detectable_alpha``; per (group, d) the counts ``n_runs,
        n_reached, n_not_reached, n_bound_dominated, n_undefined, n_diverged``, the bool
        ``used_in_fit`` and ``median``, ``quantile_90``, ``quantile_99``. Every variable has a
        ``description`` attr; the Dataset attrs record the quantity and all settings.

    Raises
    ------
    KeyError
        ``quantity`` is not a variable of ``ds``.
    ValueError
        A setting out of range (named, with its value), d values <= 0, or ``ds[quantity]``
        without the dims ``d`` and ``seed``.

    Notes
    -----
    With ``x = log d`` and the reached values ``y_{ij}`` (d index ``i``, seed ``j``) of the d
    values in use, the models are fitted by ordinary least squares on all points:

    * log: ``y = a + b x``, minimising ``sum (y - a - b x)^2``;
    * power: ``log y = log c + alpha x`` on the points with ``y > 0``, i.e. ``y = c d^alpha``
      (a median curve under multiplicative noise; no retransformation/smearing correction,
      see ``docs/scaling.md``);
    * const: ``y = m`` with ``m`` the mean.

    **Bootstrap.** Seeds are replicates: each replicate resamples, for every d separately, the
    ``n_i`` reached values of that d with replacement (so every d keeps its ``n_i`` points) and
    refits all models. Intervals are percentile intervals
    ``[q_{(1-confidence)/2}, q_{(1+confidence)/2}]`` of the replicates; curve bands are
    pointwise percentiles of the replicate curves. With few seeds per d percentile intervals
    are somewhat too narrow (the resampling variance carries a factor ``(n_i - 1) / n_i``).

    **Goodness of fit.** ``r2`` is ``1 - SS_res / SS_tot`` on the scale the model was fitted
    on (y for log, log y for power; 0 for const by definition); ``resid_sd`` is
    ``sqrt(SS_res / (n - p))`` on the same scale.

    **Model comparison.** Leave-one-d-out cross validation: for each d in use, fit on the other
    d values, predict the held-out seeds at that d on the original y scale (power predicts
    ``c d^alpha``) and take the fold MSE; ``cv_rmse = sqrt(mean over folds of MSE)``, every d
    weighted equally. This measures what the Transition Assumption is about, predicting the
    stage time at an unseen d. The same CV is repeated on every bootstrap replicate (folds are
    whole d values, so resampled duplicates never straddle training and test set), giving
    intervals for ``cv_rmse``, for the paired difference ``cv_excess = cv_rmse(model) -
    cv_rmse(preferred)`` and the share of replicates each model wins (``cv_win_fraction``).
    The preferred model is ``decisive`` if ``cv_excess_lo > 0`` for every other model.

    AIC is not used to choose: the power model is fitted to ``log y``, and a likelihood of
    ``log y`` is not comparable with a likelihood of ``y``. The stored ``aic`` is secondary
    information, all on the y scale: Gaussian errors for const and log,
    ``n log(2 pi SS_res / n) + n + 2 (p + 1)``, and lognormal errors for power, the log-scale
    AIC plus the Jacobian term ``2 sum log y`` (NaN if some ``y <= 0``); it depends on these
    error models, CV does not.

    **Verdict.** :func:`decide_verdict` applies :data:`VERDICT_RULE` (the only statement of
    the rule; ``attrs["verdict_rule"]`` prints it). Besides the three models it uses the
    Box-Cox family with a slowly varying correction, ``y = a + b ((d^alpha - 1) / alpha -
    gamma ln ln d)`` with gamma profiled over [0, 3], fitted to the per-d means
    (``boxcox_alpha`` with its profile interval, ``log_log_gamma``): it holds every O(log d)
    law ``S (ln d - gamma ln ln d)`` at alpha = 0 and the power laws ``c d^alpha``, so
    "faster than log d" is a test of one parameter that a convex but logarithmic law passes;
    ``detectable_alpha`` comes from a simulation-based power analysis under the fitted log
    law (:func:`detectable_alpha`). The verdict takes precedence over the CV preference:
    ``preferred_model`` and ``decisive`` show only what the verdict allows
    (:data:`~mfsim.analysis.scaling.verdict.PRECEDENCE`), the caveat names an overridden CV
    choice. ``verdict_sentence`` and ``verdict_detail`` name the fitted range of d, which is
    all a verdict describes; ``case``/``case_text`` say whether the group is measured,
    bound-dominated or not reached and why.

    **Seed quantiles.** ``median``, ``quantile_90`` and ``quantile_99`` (group, d) over the
    reached seeds, beside the fits: the seed scatter of rise times has an exponential tail.

    **Values <= 0.** :data:`NONPOSITIVE_POLICY`: in a group with any value <= 0 the power law
    is neither fitted nor compared; every compared model uses the same points.

    **Missing values.** NaN (not reached), bound-dominated ``t_k_star`` values (flag
    ``t_k_star_bound_dominated``) and d values with fewer than ``min_seeds`` reached runs are
    never fitted and never filled; they are counted per (group, d) and summarised in
    ``caveat``. Not-reached runs are censored observations (the stage may come after
    ``max_steps``), so the fit describes the reached runs and is biased low where they occur.
    """
    _check_settings(n_boot, confidence, min_d, min_seeds)
    sweep = _prepare(ds, quantity, n_curve)
    settings = {
        "n_boot": n_boot,
        "seed": seed,
        "min_d": min_d,
        "min_seeds": min_seeds,
        "confidence": confidence,
    }
    arrays = _empty_arrays(sweep["n_groups"], sweep["d_values"].size, n_curve)
    for g in range(sweep["n_groups"]):
        _judge_group(g, sweep, arrays, settings, quantity)
    arrays.update(_seed_quantiles(sweep["runs"], sweep["group_dims"]))
    out = _assemble(sweep["runs"], sweep["group_dims"], sweep["counts"], arrays, sweep["curve_d"])
    out.attrs = _fit_attrs(quantity, settings)
    return out


def _check_settings(n_boot: int, confidence: float, min_d: int, min_seeds: int) -> None:
    """Reject settings :func:`fit_scaling` cannot use, naming the argument and the value."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if min_d < 2 or min_seeds < 1:
        raise ValueError(f"need min_d >= 2 and min_seeds >= 1, got {min_d!r} and {min_seeds!r}")


def _prepare(ds: xr.Dataset, quantity: str, n_curve: int) -> dict:
    """Classified runs in (groups, d, seed) order with their counts and per-(group, d) context."""
    runs = classify_runs(ds, quantity)
    # beyond float64 the stored d (-log10 d) is not monotone in d: sort by log10_d
    exact = "log10_d" in runs.coords and runs["log10_d"].dims == ("d",)
    runs = runs.sortby(runs["log10_d"] if exact else "d")
    group_dims = [dim for dim in runs["value"].dims if dim not in RUN_DIMS]
    runs = runs.transpose(*group_dims, *RUN_DIMS)
    d_values, log_d, log10_d = _dimension_values(runs)
    if log10_d is not None:  # d beyond float64 (stored as -log10 d): curves placed in log10 d
        curve_log10_d = np.linspace(log10_d.min(), log10_d.max(), n_curve)
        curve_log_d = curve_log10_d * np.log(10.0)
        curve_d = np.array([stored_dimension_of_log10(x) for x in curve_log10_d])
    else:
        curve_d = np.geomspace(d_values.min(), d_values.max(), n_curve)
        curve_log_d = np.log(curve_d)
    counts = xr.Dataset(
        {name: runs[flag].sum("seed") for name, flag in _RUN_COUNTS.items()}
    ).astype(np.int64)
    group_shape = tuple(runs.sizes[dim] for dim in group_dims)
    n_groups = int(np.prod(group_shape, dtype=np.int64))
    n_d, n_seed = d_values.size, runs.sizes["seed"]
    context = _literal_context(ds, runs, quantity)
    return {
        "runs": runs,
        "group_dims": group_dims,
        "group_shape": group_shape,
        "n_groups": n_groups,
        "coords": [np.asarray(runs[dim].values) for dim in group_dims],
        "d_values": d_values,
        "log_d": log_d,
        "curve_d": curve_d,
        "curve_log_d": curve_log_d,
        "counts": counts,
        "values": runs["value"].values.reshape(n_groups, n_d, n_seed),
        "reached": runs["reached"].values.reshape(n_groups, n_d, n_seed),
        "per_d": {name: counts[name].values.reshape(n_groups, n_d) for name in _COUNTS},
        "context": {name: v.values.reshape(n_groups, n_d) for name, v in context.items()},
    }


def _dimension_values(runs: xr.Dataset) -> tuple:
    """(d for the text, ln d, log10 d or None when every d fits a float64) of the sorted runs.

    ln d is ``np.log(d)`` while every d fits a float64 (the fits of such sweeps stay
    bit-identical) and ``log10_d * ln 10`` where the store holds -log10(d) (d >= 10^308,
    :func:`mfsim.datamodel.stored_dimension`). The d for the text are then the stored values,
    read by :func:`mfsim.analysis.scaling.verdict.d_range_text` (negative: 10^-value).
    """
    stored = np.asarray(runs["d"].values, dtype=float)
    if "log10_d" in runs.coords and np.any(stored < 0):
        log10_d = np.asarray(runs["log10_d"].values, dtype=float)
        log_d = np.where(stored > 0, np.log(np.abs(stored)), log10_d * np.log(10.0))
        return stored, log_d, log10_d
    if np.any(stored <= 0):
        raise ValueError("d values must be positive")
    return stored, np.log(stored), None


_SCALAR_FIT_VARS = (
    "boxcox_alpha",
    "boxcox_alpha_lo",
    "boxcox_alpha_hi",
    "log_log_gamma",
    "detectable_alpha",
)
_TEXT_VARS = ("verdict", "verdict_sentence", "verdict_detail", "case", "case_text", "caveat")


def _empty_arrays(n_groups: int, n_d: int, n_curve: int) -> dict:
    """Per-group result arrays, NaN / False / empty until a group fills its entries."""
    n_models = len(MODELS)
    arrays = {name: np.full(n_groups, np.nan) for p in _PARAMETERS for name in _bounds(p)}
    arrays.update({name: np.full((n_groups, n_models), np.nan) for name in _MODEL_VARS})
    arrays.update({name: np.full((n_groups, n_models, n_curve), np.nan) for name in CURVE_VARS})
    arrays.update({name: np.full(n_groups, np.nan) for name in _SCALAR_FIT_VARS})
    arrays["used_in_fit"] = np.zeros((n_groups, n_d), dtype=bool)
    arrays["n_d_used"] = np.zeros(n_groups, dtype=np.int64)
    arrays["decisive"] = np.zeros(n_groups, dtype=bool)
    arrays["preferred_model"] = ["none"] * n_groups
    arrays.update({name: [""] * n_groups for name in _TEXT_VARS})
    return arrays


def _judge_group(g: int, sweep: dict, arrays: dict, settings: dict, quantity: str) -> None:
    """Fit group ``g``, apply the verdict rule and its precedence, and fill its entries."""
    position = np.unravel_index(g, sweep["group_shape"]) if sweep["group_dims"] else ()
    key = tuple(
        (dim, _scalar(c[i]))
        for dim, c, i in zip(sweep["group_dims"], sweep["coords"], position, strict=True)
    )
    per_d = {name: v[g] for name, v in sweep["per_d"].items()}
    n_runs = int(per_d["n_runs"].sum())
    evidence = {
        "exists": n_runs > 0,
        "defined": bool(per_d["n_undefined"].sum() < n_runs),
        "min_d": settings["min_d"],
        "n_d_used": 0,
        "n_bound_dominated": int(per_d["n_bound_dominated"].sum()),
        "n_not_reached": int(per_d["n_not_reached"].sum()),
    }
    res: dict = {}
    rng = _group_rng(settings["seed"], key)
    if evidence["exists"] and evidence["defined"]:
        res = _fit_group(
            sweep["log_d"],
            sweep["values"][g],
            sweep["reached"][g],
            rng=rng,
            n_boot=settings["n_boot"],
            confidence=settings["confidence"],
            min_seeds=settings["min_seeds"],
            curve_log_d=sweep["curve_log_d"],
        )
        arrays["used_in_fit"][g] = res["used_in_fit"]
        arrays["n_d_used"][g] = evidence["n_d_used"] = res["n_d_used"]
        if "cv_rmse" in res:
            evidence.update(
                {name: res.get(name, np.nan) for name in _EVIDENCE_FROM_FIT},
                preferred=res["preferred"],
                decisive_over=res["decisive_over"],
                power_fitted=res["power_fitted"],
                d_fitted=sweep["d_values"][res["used_in_fit"]],
            )
    summary = res.get("summary")

    def detect() -> float:
        if summary is not None:
            arrays["detectable_alpha"][g] = detectable_alpha(summary, settings["confidence"], rng)
        return arrays["detectable_alpha"][g]

    verdict, arrays["verdict_detail"][g] = decide_verdict(evidence, detect)
    arrays["verdict"][g] = verdict
    growth = verdict in GROWTH_VERDICTS
    used = arrays["used_in_fit"][g]
    arrays["verdict_sentence"][g] = verdict_sentence(
        verdict, sweep["d_values"][used if growth else per_d["n_runs"] > 0]
    )
    context = {name: v[g] for name, v in sweep["context"].items()}
    arrays["case"][g], arrays["case_text"][g] = _case(
        verdict, quantity, sweep["d_values"], per_d, used, context
    )
    if not res:
        return
    caveat = _caveat(
        per_d["n_runs"],
        per_d["n_not_reached"],
        per_d["n_bound_dominated"],
        used,
        settings["min_seeds"],
        res.get("n_nonpositive", 0),
    )
    if "cv_rmse" not in res:
        arrays["caveat"][g] = caveat
        return
    _store_fit(g, res, arrays)
    shown, decisive, note = reconcile(verdict, res["preferred"], res["decisive"])
    arrays["preferred_model"][g] = shown
    arrays["decisive"][g] = decisive
    arrays["caveat"][g] = "; ".join(part for part in (caveat, note) if part)


def _store_fit(g: int, res: dict, arrays: dict) -> None:
    """Copy the numbers of one group's fit into the result arrays."""
    for p in _PARAMETERS:
        for name in _bounds(p):
            arrays[name][g] = res[name]
    for name in _SCALAR_FIT_VARS[:-1]:
        arrays[name][g] = res.get(name, np.nan)
    for name in _MODEL_VARS:
        source = res["goodness"][name] if name in ("r2", "resid_sd", "aic") else res[name]
        arrays[name][g] = [source[m] for m in MODELS] if isinstance(source, dict) else source
    for m, model in enumerate(MODELS):
        for name, curve in zip(CURVE_VARS, res["curves"][model], strict=True):
            arrays[name][g, m] = curve


#: Quantiles over seeds stored per (group, d) beside the fits (``docs/scaling.md``).
SEED_QUANTILES = {"median": 0.5, "quantile_90": 0.9, "quantile_99": 0.99}


def _seed_quantiles(runs: xr.Dataset, group_dims: list[str]) -> dict[str, np.ndarray]:
    """Median, 90% and 99% quantiles over the reached seeds, per (group, d): (groups..., d)."""
    kept = runs["value"].where(runs["reached"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = kept.quantile(list(SEED_QUANTILES.values()), dim="seed", skipna=True)
    q = q.transpose("quantile", *group_dims, "d").values
    return {name: q[i] for i, name in enumerate(SEED_QUANTILES)}


def _fit_attrs(quantity: str, settings: dict) -> dict:
    """Attrs of a :func:`fit_scaling` result: the quantity, the settings and the methods."""
    return {
        "quantity": quantity,
        "models": ", ".join(MODELS),
        "n_boot": int(settings["n_boot"]),
        "seed": int(settings["seed"]),
        "confidence": float(settings["confidence"]),
        "min_d": int(settings["min_d"]),
        "min_seeds": int(settings["min_seeds"]),
        "bootstrap": "resample seeds with replacement within each d; percentile intervals",
        "model_selection": "leave-one-d-out cross-validated RMSE on the original scale "
        "(AIC is not comparable between the log-y power fit and the y-scale fits)",
        "verdict_rule": verdict_rule_text(),
        "verdict_scope": "every verdict describes the sampled range of d only "
        "(verdict_sentence names it); nothing is said about d beyond it",
        "precedence": PRECEDENCE_TEXT,
        "nonpositive_values": NONPOSITIVE_POLICY,
        "boxcox": "y = a + b ((d^alpha - 1)/alpha - gamma ln ln d), gamma profiled over "
        "[0, 3] in closed form (the log law with the correction of a bulk edge at alpha = 0; "
        "gamma = 0 when fewer than 5 d values or d <= e) "
        "fitted by weighted least squares to the per-d means (weights n_d / variance at d, "
        "variance floored at 1/12); profile interval RSS(alpha) - RSS_min <= phi chi2_1, "
        "phi = max(1, RSS_min / (n_d - 4)) (n_d - 3 without gamma)",
        "power_analysis": f"detectable_alpha: smallest alpha detected by the Box-Cox rule in "
        f"{DETECTION_POWER:.0%} of 200 data sets simulated under the fitted log law (within-d "
        "residuals resampled); computed only for the verdict that reports it",
        "seed_quantiles": "median, quantile_90, quantile_99: linear-interpolation quantiles "
        "over the reached seeds at each d (numpy default); with n seeds the 99% quantile "
        "interpolates between the two largest values when n < 100",
    }


#: :data:`~mfsim.analysis.scaling.verdict.PRECEDENCE` in words (attrs, report, docs).
PRECEDENCE_TEXT = (
    "the verdict (rule) comes first; preferred_model shows the CV choice only where the "
    "verdict allows it (O(log d) decisive: log; both consistent: log or power; faster: power; "
    "no detectable growth: const or log; decreases: log or power), else 'none' with the CV "
    "result in the caveat; decisive is True only for log under 'O(log d), decisive', power "
    "under 'faster', const under 'no detectable growth' and log/power under 'decreases'"
)


_EVIDENCE_FROM_FIT = (
    "log_slope_lo",
    "log_slope_hi",
    "boxcox_alpha_lo",
    "boxcox_alpha_hi",
)


def fit_quantities(fits: xr.Dataset) -> list[str]:
    """Quantities present in a :func:`fit_scaling` or :func:`fit_all` result."""
    if "quantity" in fits.attrs:
        return [fits.attrs["quantity"]]
    return [q for q in fits.attrs.get("quantities", "").split(", ") if q]


def fits_for(fits: xr.Dataset, quantity: str) -> xr.Dataset:
    """The :func:`fit_scaling`-style result of one quantity from a fit result.

    Parameters
    ----------
    fits : xarray.Dataset
        Output of :func:`fit_scaling` (returned as is if it is for ``quantity``) or of
        :func:`fit_all` (variables ``"<quantity>__<name>"``).
    quantity : str
        Stage quantity.

    Returns
    -------
    xarray.Dataset
        Variables without the prefix, only the coordinates they use, attrs of the fit.
    """
    if fits.attrs.get("quantity") == quantity:
        return fits
    prefix = quantity + SEP
    names = [name for name in fits.data_vars if str(name).startswith(prefix)]
    if not names:
        raise KeyError(f"no fit for {quantity!r}; available: {fit_quantities(fits)}")
    sub = fits[names].rename({name: name[len(prefix) :] for name in names})
    sub.attrs = {k: v for k, v in fits.attrs.items() if k != "quantities"}
    sub.attrs["quantity"] = quantity
    return sub


def fit_all(ds: xr.Dataset, quantities: Iterable[str] = STAGE_QUANTITIES, **kwargs) -> xr.Dataset:
    """Run :func:`fit_scaling` for several stage quantities and merge the results.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    quantities : iterable of str
        Stage variables to fit; names missing from ``ds`` are skipped with a warning and listed
        in the attr ``missing_quantities``.
    **kwargs
        Passed to :func:`fit_scaling` (``n_boot``, ``seed``, ``min_d``, ...).

    Returns
    -------
    xarray.Dataset
        One Dataset with variables ``"<quantity>__<name>"`` (e.g. ``escape__verdict``), because
        the quantities do not share dims (``t_eps`` has ``eps`` where the others have ``k``);
        a common ``quantity`` dim would broadcast each fit over the other's index. Attrs:
        ``quantities`` (comma separated) and the fit settings. Use :func:`fits_for` to get one
        quantity back. Strings are stored as fixed-width unicode, so the result can be written
        with ``to_netcdf``.

    Notes
    -----
    Every quantity is fitted exactly as :func:`fit_scaling` documents (same ``seed``; the
    bootstrap stream of a group depends on ``seed`` and the group coordinates only).
    """
    parts, missing = [], []
    for quantity in quantities:
        if quantity not in ds.data_vars:
            missing.append(quantity)
            continue
        fit = fit_scaling(ds, quantity, **kwargs)
        parts.append((quantity, fit.rename({v: f"{quantity}{SEP}{v}" for v in fit.data_vars})))
    if missing:
        warnings.warn(f"quantities not in the Dataset, not fitted: {missing}", stacklevel=2)
    if not parts:
        raise KeyError("none of the requested quantities is in the Dataset")
    merged = xr.merge(
        [part for _, part in parts], compat="no_conflicts", combine_attrs="override", join="outer"
    )
    attrs = {k: v for k, v in parts[0][1].attrs.items() if k != "quantity"}
    attrs["quantities"] = ", ".join(q for q, _ in parts)
    attrs["missing_quantities"] = ", ".join(missing)
    merged.attrs = attrs
    return merged
