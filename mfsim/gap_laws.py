"""Spectrum option: an eigengap Delta that shrinks with d (degenerate regimes of issue 19).

The named families fix Delta = lambda_1 / kappa whatever d is. With the option
``gap = {"law": ..., "exponent": gamma, "shrinks": ...}`` (config ``spectrum.gap``, or the
keyword ``gap`` of :func:`mfsim.spectrum`) the gap at dimension d is

* ``law = "inverse_log"``: ``Delta(d) = Delta_0 / ln d``;
* ``law = "power"``: ``Delta(d) = Delta_0 d^(-gamma)`` (``exponent`` = gamma > 0),

with ``Delta_0 = lambda_1 / kappa`` (the grid's kappa is the constant Delta_0 sets; the runs
record the realized ``kappa_realized`` and ``Delta`` per d). ``shrinks`` says which gaps follow
the law:

* ``"all"`` (families ``flat``, ``linear``, ``staircase``): every gap of the graded top,
  i.e. the family at ``kappa(d) = lambda_1 / Delta(d)``;
* ``"last"`` (family ``flat`` only): the bulk's top level approaches lambda_r,
  ``lambda_{r+1} = lambda_r - Delta(d)``, while lambda_1 .. lambda_r keep the gaps Delta_0.
  The spectrum's Delta (the minimum gap) is then ``min(Delta_0, Delta(d))``.

The small-signal theory (:mod:`mfsim.small_signal`) is a function of the spectrum, so it
predicts these runs d by d (:mod:`mfsim.analysis.regimes`); its slope per ln d is not a
constant here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mfsim.arguments import check_number

__all__ = [
    "GAP_LAWS",
    "GAP_SHRINKS",
    "SMALLEST_RELATIVE_GAP",
    "check_gap",
    "gap_at",
    "gap_scaled_spectrum",
]

GAP_LAWS = ("inverse_log", "power")
GAP_SHRINKS = ("all", "last")
#: The smallest Delta(d) / lambda_1 accepted: float64 eigenvalues near lambda_1 are 2.2e-16
#: apart, and the engine's rise rates 1 + eta Delta need Delta well above that.
SMALLEST_RELATIVE_GAP = 1e-12


def check_gap(gap, family: str, error=ValueError) -> dict:
    """The option as a plain dict with its defaults (``exponent`` only for ``power``,
    ``shrinks = "all"``), checked before any work.

    Raises
    ------
    error
        Not a mapping, unknown key, unknown law or ``shrinks``, a ``power`` law without an
        exponent > 0, ``shrinks = "last"`` with a family other than ``flat``, or a family
        that fixes kappa (figure1, custom); the message names the key, the value and what is
        allowed.
    """
    if not isinstance(gap, Mapping):
        raise error(f"spectrum.gap must be a mapping {{law, exponent, shrinks}}, got {gap!r}")
    unknown = sorted(set(gap) - {"law", "exponent", "shrinks"})
    if unknown:
        raise error(f"spectrum.gap: unknown key(s) {unknown}; allowed: law, exponent, shrinks")
    law = gap.get("law")
    if law not in GAP_LAWS:
        raise error(f"spectrum.gap.law = {law!r}; allowed: {', '.join(GAP_LAWS)}")
    shrinks = gap.get("shrinks", "all")
    if shrinks not in GAP_SHRINKS:
        raise error(f"spectrum.gap.shrinks = {shrinks!r}; allowed: {', '.join(GAP_SHRINKS)}")
    if family not in ("flat", "linear", "staircase"):
        raise error(
            f"spectrum.gap needs a family with kappa (flat, linear, staircase), got {family!r}"
        )
    if shrinks == "last" and family != "flat":
        raise error(f"spectrum.gap.shrinks = 'last' is for family flat only, got {family!r}")
    out = {"law": law, "shrinks": shrinks}
    if law == "power":
        if "exponent" not in gap:
            raise error("spectrum.gap.law = 'power' needs spectrum.gap.exponent (gamma > 0)")
        out["exponent"] = check_number(
            "spectrum.gap.exponent", gap["exponent"], low=0, low_open=True, error=error
        )
    elif "exponent" in gap:
        raise error("spectrum.gap.exponent is only used by law 'power'; remove it")
    return out


def gap_at(delta_0: float, d: int, law: str, exponent: float | None = None) -> float:
    """Delta(d) of the law: ``Delta_0 / ln d`` or ``Delta_0 d^(-gamma)``.

    Parameters
    ----------
    delta_0 : float
        lambda_1 / kappa.
    d : int
        Dimension (a Python int of any size: ``math.log`` of an int is exact to rounding).
    law : {'inverse_log', 'power'}
    exponent : float, optional
        gamma (law ``power``).

    Returns
    -------
    float
    """
    ln_d = math.log(d)
    if law == "inverse_log":
        return delta_0 / ln_d
    return delta_0 * math.exp(-exponent * ln_d)


def gap_scaled_spectrum(
    build, name: str, d: int, r: int, kappa, gap: Mapping, params: dict, error=ValueError
):
    """The spectrum of family `name` at d with the gap of `gap` (module notes).

    Parameters
    ----------
    build : callable
        :func:`mfsim.spectra.spectrum` (passed in: this leaf does not import the module that
        hooks it in; the spectrum and segment types are taken from what `build` returns).
    name, d, r, kappa, params
        As for :func:`mfsim.spectra.spectrum`.
    gap : mapping
        The option, checked by :func:`check_gap`.
    error : type
        Exception raised for an impossible request (:class:`mfsim.spectra.SpectrumError`).

    Returns
    -------
    mfsim.spectra.Spectrum
        Its ``params`` include the option (provenance).
    """
    gap = check_gap(gap, name, error=error)
    if kappa is None:
        raise error("spectrum.gap needs kappa (Delta_0 = lambda_1 / kappa)")
    lambda_1 = float(params.get("lambda_1", 1.0))
    delta_0 = lambda_1 / float(kappa)
    if d < 3:
        raise error(f"spectrum.gap needs d >= 3 (ln d > 1), got d = {d}")
    delta = gap_at(delta_0, d, gap["law"], gap.get("exponent"))
    if delta < SMALLEST_RELATIVE_GAP * lambda_1:
        raise error(
            f"spectrum.gap: Delta(d) = {delta:.3g} at d = 10^{math.log10(d):.4g} is below "
            f"{SMALLEST_RELATIVE_GAP:g} lambda_1 (float64 eigenvalues would not resolve the "
            "gaps); use a smaller d or exponent"
        )
    option = (("gap", tuple(sorted(gap.items()))),)
    if gap["shrinks"] == "all":
        base = build(name, d, r=r, kappa=lambda_1 / delta, **params)
        return type(base)(base.name, base.d, base.r, base.segments, base.params + option)
    base = build(name, d, r=r, kappa=kappa, **params)
    segment = type(base.segments[0])
    top = base.top(r)
    bulk = float(top[-1]) - delta
    if not bulk >= 0:
        raise error(f"spectrum.gap: lambda_(r+1) = lambda_r - Delta(d) = {bulk:g} < 0 at d = {d}")
    segments = (*(segment(float(v), 0.0, 1) for v in top), segment(bulk, 0.0, d - r))
    return type(base)(name, d, r, segments, base.params + option)
