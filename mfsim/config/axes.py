"""Expansion of the grid axes of a config: lists and range specs -> sorted values.

Part of parsing (a bad range is a config error); :mod:`mfsim.plan` builds batches and chunks on
the expanded axes.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from mfsim.config.errors import ConfigError
from mfsim.datamodel import AXES
from mfsim.spectra import MAX_LOG10_D, SpectrumError, as_dimension

__all__ = [
    "AXES",
    "SIGNIFICANT_DIGITS",
    "expand_dimensions",
    "expand_values",
    "grid_axes",
    "round_significant",
]

#: Range values (and the realized kappa of fixed-kappa families) are rounded to this many
#: significant digits, so that values and the hashes built from them do not depend on the last
#: bits of ``numpy.geomspace``.
SIGNIFICANT_DIGITS = 12


def round_significant(value: float) -> float:
    """Round to :data:`SIGNIFICANT_DIGITS` significant digits (stable range values)."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") + 0.0


def _range_values(spec: dict, key: str) -> np.ndarray:
    start, stop, num = float(spec["start"]), float(spec["stop"]), int(spec["num"])
    spacing = spec["spacing"]
    if num == 1:
        if start != stop:
            raise ConfigError(
                f"{key}: a range with num = 1 needs start == stop (got start = {start:g}, "
                f"stop = {stop:g}); use a list for a single value"
            )
        return np.array([start])
    if spacing == "linear":
        return np.linspace(start, stop, num)
    if spacing == "log":
        if start <= 0 or stop <= 0:
            raise ConfigError(f"{key}: a log range needs start > 0 and stop > 0")
        return np.geomspace(start, stop, num)
    raise ConfigError(f"{key}.spacing: {spacing!r} is not one of 'linear', 'log'")


def _as_integer(value: float, key: str) -> int:
    if not float(value).is_integer():
        raise ConfigError(f"{key}: {value!r} is not an integer")
    return int(value)


def expand_values(spec: list | dict, integer: bool = False, *, key: str = "grid") -> list:
    """Expand a list or range spec of one grid axis into its sorted values.

    Parameters
    ----------
    spec : list or dict
        A list ``[a, b, ...]``; a range ``{start, stop, num, spacing: linear|log}`` with
        inclusive endpoints; or (integers only) a count ``{start: 0, count: n}`` meaning
        ``start, start + 1, ..., start + n - 1``.
    integer : bool, default False
        Integer axis (d, r, seeds): range values are rounded to the nearest integer.
    key : str, default "grid"
        Key path used in error messages, e.g. ``"grid.d"``.

    Returns
    -------
    list
        Sorted unique values: ``int`` when `integer`, else ``float``.

    Raises
    ------
    mfsim.config.validate.ConfigError
        Empty list, duplicate values, rounding that collapses range values onto the same
        integer, a single-point range with ``start != stop``, a non-integer in an integer list.

    Notes
    -----
    Range values (not list values) are rounded to 12 significant digits so that they, and the
    content hashes built from them, do not depend on the last bits of ``numpy.geomspace``.
    """
    if isinstance(spec, list | tuple):
        if len(spec) == 0:
            raise ConfigError(f"{key}: the list is empty; give at least one value")
        if integer:
            values = [_as_integer(value, key) for value in spec]
        else:
            values = [float(value) + 0.0 for value in spec]
        if len(set(values)) != len(values):
            raise ConfigError(f"{key}: duplicate values in {list(spec)}")
        return sorted(values)
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: expected a list or a range spec, got {spec!r}")
    if "count" in spec:
        if not integer:
            raise ConfigError(f"{key}: {{start, count}} is only allowed for integer axes (seeds)")
        start = _as_integer(spec.get("start", 0), f"{key}.start")
        return list(range(start, start + int(spec["count"])))
    raw = _range_values(spec, key)
    if integer:
        values = sorted({int(value) for value in np.rint(raw)})
        if len(values) != len(raw):
            raise ConfigError(
                f"{key}: rounding the range to integers collapses {len(raw)} values to "
                f"{len(values)} ({values}); use a smaller num or a wider range"
            )
        return values
    values = sorted({round_significant(value) for value in raw})
    if len(values) != len(raw):
        raise ConfigError(f"{key}: the range gives repeated values; check start, stop and num")
    return values


#: The largest float64; an integer d above it cannot go through float (only Python ints can).
MAX_FLOAT = sys.float_info.max


def _dimension(value, key: str) -> int:
    """One d value of a config: an integer or ``{log10: x}``, as an exact Python int."""
    if isinstance(value, dict) and "log10" in value:
        x = value["log10"]
        if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x <= MAX_LOG10_D:
            raise ConfigError(
                f"{key}: log10 = {x!r} is not allowed; allowed: a number in [0, {MAX_LOG10_D}] "
                f"(d up to 10^{MAX_LOG10_D}, families flat and staircase beyond 10^300)"
            )
    try:
        return as_dimension(value)
    except SpectrumError as error:
        raise ConfigError(f"{key}: {value!r} is not allowed: {error}") from None


def _log10_endpoint(value, key: str) -> float:
    if isinstance(value, dict):
        _dimension(value, key)  # range check with the key in the message
        return float(value["log10"])
    if value <= 0:
        raise ConfigError(f"{key}: a log range needs start > 0 and stop > 0, got {value!r}")
    return math.log10(value)


def expand_dimensions(spec: list | dict, *, key: str = "grid.d") -> list[int]:
    """Expand the d axis of a config into its sorted values, exact Python ints of any size.

    Parameters
    ----------
    spec : list or dict
        A list of integers and ``{log10: x}`` items (d = the integer nearest 10^x, exactly
        10^x for integral x; :func:`mfsim.spectra.as_dimension`), or a range as for
        :func:`expand_values` whose ``start`` and ``stop`` may be ``{log10: x}``; such a range
        must have ``spacing: log`` and places its values at ``num`` equally spaced log10 d
        (rounded to 12 significant digits), each then read as ``{log10: x}``.
    key : str, default "grid.d"
        Key path used in error messages.

    Returns
    -------
    list of int
        Sorted unique values.

    Raises
    ------
    mfsim.config.errors.ConfigError
        Those of :func:`expand_values`; a ``{log10: x}`` with x outside [0, 10^4]; a range
        with ``{log10: x}`` endpoints and linear spacing.

    Notes
    -----
    Lists and ranges without ``{log10: x}`` give exactly the values of
    ``expand_values(spec, integer=True)`` (so chunk ids of existing configs do not move).
    Whether the spectrum family supports each d is checked later
    (:func:`mfsim.spectra.check_spectrum_grid`: d explicit rows for linear and figure1).
    """
    if isinstance(spec, list | tuple):
        beyond_float = [isinstance(v, dict) or (isinstance(v, int) and v > MAX_FLOAT) for v in spec]
        if not any(beyond_float):
            return expand_values(spec, integer=True, key=key)
        values = [_dimension(value, f"{key}[{i}]") for i, value in enumerate(spec)]
        if len(set(values)) != len(values):
            raise ConfigError(f"{key}: duplicate values in {list(spec)}")
        return sorted(values)
    if not (isinstance(spec, dict) and {"start", "stop"} <= set(spec)):
        return expand_values(spec, integer=True, key=key)
    if not any(isinstance(spec[end], dict) for end in ("start", "stop")):
        return expand_values(spec, integer=True, key=key)
    if spec.get("spacing") != "log":
        raise ConfigError(
            f"{key}.spacing: a range with {{log10: x}} endpoints must have spacing 'log', got "
            f"{spec.get('spacing')!r}"
        )
    start = _log10_endpoint(spec["start"], f"{key}.start")
    stop = _log10_endpoint(spec["stop"], f"{key}.stop")
    num = int(spec["num"])
    if num == 1 and start != stop:
        raise ConfigError(f"{key}: a range with num = 1 needs start == stop")
    exponents = [round_significant(x) for x in np.linspace(start, stop, num)]
    values = sorted({_dimension({"log10": x}, key) for x in exponents})
    if len(values) != num:
        raise ConfigError(
            f"{key}: rounding the range to integers collapses {num} values to {len(values)}; "
            "use a smaller num or a wider range"
        )
    return values


def _varpi_specs(varpi_spec: list | dict) -> tuple[list | dict, list | dict]:
    """Split a varpi spec into (scale spec, exponent spec); a plain spec has exponent [0.0]."""
    if isinstance(varpi_spec, dict) and "scale" in varpi_spec:
        return varpi_spec["scale"], varpi_spec["exponent"]
    return varpi_spec, [0.0]


def grid_axes(config: dict) -> dict[str, list]:
    """Expand every grid axis of a validated config.

    Parameters
    ----------
    config : dict
        Validated config (defaults injected).

    Returns
    -------
    dict
        Keys :data:`AXES` (``d, kappa, varpi, varpi_exponent, eta, r, seed``), each a sorted
        list of values; ``kappa`` is ``[None]`` when the family fixes kappa (figure1, custom).
    """
    grid = config["grid"]
    scale_spec, exponent_spec = _varpi_specs(grid["varpi"])
    kappa_spec = grid.get("kappa")
    return {
        "d": expand_dimensions(grid["d"], key="grid.d"),
        "kappa": [None] if kappa_spec is None else expand_values(kappa_spec, key="grid.kappa"),
        "varpi": expand_values(scale_spec, key="grid.varpi"),
        "varpi_exponent": expand_values(exponent_spec, key="grid.varpi.exponent"),
        "eta": expand_values(grid["eta"], key="grid.eta"),
        "r": expand_values(grid["r"], integer=True, key="grid.r"),
        "seed": expand_values(grid["seeds"], integer=True, key="grid.seeds"),
    }
