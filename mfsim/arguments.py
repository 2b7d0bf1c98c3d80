"""Arguments checked at the door: one rule and one message per kind of argument.

Shared by the API (:func:`mfsim.simulate`, :func:`mfsim.spectrum`, :func:`mfsim.sweep`), the
command line and the config, so that a value is accepted or refused the same way everywhere,
before any work. Every message names the argument, the value as given and what is allowed.

Rules
-----
* Numbers (eta, varpi, kappa, lambda_1, bulk bounds, ...): a real number (Python or NumPy);
  NaN and infinity are named as such before any range or derived check; booleans are refused;
  a string is refused with a hint (only config files and the command line hold text).
* Integers (steps, r, levels, ...): a Python or NumPy integer. Floats are refused, integral ones
  such as 100.0 too (with the integer to write instead), so that 1.7 can never become 1.
* Seeds: integers with ``0 <= seed < 2**63``. The random stream of a run is
  ``numpy.random.SeedSequence([seed, d, r, sampler])``, which takes any integer >= 0, but seeds
  are stored as the int64 coordinate ``seed`` of every store, hence the upper bound. Any
  iterable (list, tuple, range, array, generator) or a single integer; unique (each labels one
  run, a repeated seed would count one run twice).
* Environment: ``NUMBA_NUM_THREADS`` (an integer >= 1) and ``NUMBA_THREADING_LAYER`` (one of
  numba's layers), which numba reads when it is imported, are checked before it is.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = [
    "ArgumentError",
    "SEED_LIMIT",
    "THREADING_LAYERS",
    "check_environment",
    "check_integer",
    "check_number",
    "check_seeds",
]

#: Seeds are ``0 <= seed < SEED_LIMIT``: the store's ``seed`` coordinate is int64.
SEED_LIMIT = 2**63
SEED_RULE = "integers with 0 <= seed < 2**63"
#: Values numba accepts for NUMBA_THREADING_LAYER.
THREADING_LAYERS = ("default", "safe", "forksafe", "threadsafe", "tbb", "omp", "workqueue")


class ArgumentError(ValueError):
    """An argument that cannot be used; the message names it, the value given and what is
    allowed."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _string_hint(name: str, value: str, expected: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return f"{name} = {value!r} is a string; {expected}"
    as_number = int(number) if number.is_integer() and expected.startswith("an integer") else number
    return (
        f"{name} = {value!r} is a string; {expected}: pass the number {as_number!r}, not text "
        "(text is read as a number only in config files and on the command line)"
    )


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def check_number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    error: type[Exception] = ArgumentError,
) -> float:
    """`value` as a finite float within the bounds; else raise `error` naming `name`.

    Parameters
    ----------
    name : str
        The argument's name as the caller wrote it (``eta``, ``grid.kappa``, ``--eta``).
    value : object
        The value as given.
    low, high : float, optional
        Bounds; open (strict) with `low_open` / `high_open`.
    error : exception class
        Raised with the message (the caller's error type, e.g. ``SpectrumError``).

    Returns
    -------
    float

    Raises
    ------
    error
        A string (with the number to pass instead), a boolean or non-number, NaN, infinity
        (each named as such), or a value outside the bounds.
    """
    bounds = _bounds(low, high, low_open, high_open)
    expected = f"a finite number{' ' + bounds if bounds else ''}"
    if isinstance(value, str):
        raise error(_string_hint(name, value, expected))
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise error(f"{name} = {_shown(value)}: expected {expected}, got {type(value).__name__}")
    number = float(value)
    if math.isnan(number):
        raise error(f"{name} = {_shown(value)} is NaN; allowed: {expected}")
    if math.isinf(number):
        raise error(f"{name} = {_shown(value)} is infinite; allowed: {expected}")
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        raise error(f"{name} = {_shown(value)} is out of range; allowed: {expected}")
    return number


def check_integer(
    name: str,
    value,
    *,
    low: int | None = None,
    high: int | None = None,
    error: type[Exception] = ArgumentError,
    rule: str | None = None,
) -> int:
    """`value` as a Python int within ``[low, high]``; else raise `error` naming `name`.

    Floats are refused, integral ones too (the message gives the integer to write).

    Parameters
    ----------
    name, value, error
        As for :func:`check_number`.
    low, high : int, optional
        Inclusive bounds.
    rule : str, optional
        What is allowed, in words, instead of the bounds (e.g. :data:`SEED_RULE`).

    Returns
    -------
    int

    Raises
    ------
    error
        A string, a boolean, a float (even 2.0), a non-number, or a value outside the bounds.
    """
    bounds = _bounds(low, high, False, False)
    expected = rule or f"an integer{' ' + bounds if bounds else ''}"
    if isinstance(value, str):
        raise error(_string_hint(name, value, expected))
    if isinstance(value, bool | np.bool_):
        raise error(f"{name} = {value!r}: expected {expected}, got a boolean")
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        number = float(value)
        if math.isnan(number):
            raise error(f"{name} = {_shown(value)} is NaN; allowed: {expected}")
        if math.isinf(number):
            raise error(f"{name} = {_shown(value)} is infinite; allowed: {expected}")
        instead = f" (write {int(number)})" if number.is_integer() else ""
        raise error(f"{name} = {_shown(value)} is a float; allowed: {expected}{instead}")
    if not isinstance(value, numbers.Integral):
        raise error(f"{name} = {_shown(value)}: expected {expected}, got {type(value).__name__}")
    integer = int(value)
    if (low is not None and integer < low) or (high is not None and integer > high):
        raise error(f"{name} = {_shown(value)} is out of range; allowed: {expected}")
    return integer


def check_seeds(seeds, *, name: str = "seeds", error: type[Exception] = ArgumentError) -> list:
    """Seeds as a list of Python ints: integers ``0 <= seed < 2**63``, unique, at least one.

    Parameters
    ----------
    seeds : int or iterable of int
        A single seed or any iterable (list, tuple, range, NumPy array, generator).
    name : str
        The argument's name in messages (``seeds``, ``grid.seeds``, ``--seeds``).
    error : exception class
        Raised with the message.

    Returns
    -------
    list of int
        In the order given.

    Raises
    ------
    error
        A string, a non-iterable, an empty collection, an item that is not such an integer
        (floats such as 2.0 included; the message names the item's position and value), or a
        repeated seed.
    """
    if isinstance(seeds, str | bytes):
        raise error(f"{name} = {_shown(seeds)} is text; allowed: an iterable of {SEED_RULE}")
    if isinstance(seeds, numbers.Number) or (isinstance(seeds, np.ndarray) and seeds.ndim == 0):
        items = [seeds.item() if isinstance(seeds, np.ndarray) else seeds]
        names = [name]
    else:
        if isinstance(seeds, np.ndarray) and seeds.ndim != 1:
            raise error(f"{name}: a {seeds.ndim}-d array; allowed: one seed per run (1-d)")
        if not isinstance(seeds, Iterable):
            raise error(
                f"{name} = {_shown(seeds)}: expected an integer or an iterable of {SEED_RULE}, "
                f"got {type(seeds).__name__}"
            )
        items = list(seeds)
        names = [f"{name}[{index}]" for index in range(len(items))]
    if not items:
        raise error(f"{name} is empty; give at least one seed ({SEED_RULE})")
    values = [
        check_integer(item_name, item, low=0, high=SEED_LIMIT - 1, error=error, rule=SEED_RULE)
        for item_name, item in zip(names, items, strict=True)
    ]
    seen: dict[int, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            raise error(
                f"{name}: seed {value} is given twice (positions {seen[value]} and {index}); "
                "seeds must be unique: each labels one run"
            )
        seen[value] = index
    return values


def check_environment(
    environ: Mapping[str, str] | None = None, *, error: type[Exception] = ArgumentError
) -> None:
    """Check the environment variables numba reads when it is imported.

    Parameters
    ----------
    environ : mapping, optional
        Default ``os.environ``.
    error : exception class
        Raised with the message.

    Raises
    ------
    error
        ``NUMBA_NUM_THREADS`` set to anything but an integer >= 1, or ``NUMBA_THREADING_LAYER``
        not one of :data:`THREADING_LAYERS`; the message names the variable, its value and the
        fix.
    """
    environ = os.environ if environ is None else environ
    threads = environ.get("NUMBA_NUM_THREADS")
    if threads is not None and threads.strip() != "":
        if not threads.strip().isdigit() or int(threads) < 1:
            raise error(
                f"environment variable NUMBA_NUM_THREADS = {threads!r}: numba's thread count "
                "must be an integer >= 1; unset it or set e.g. NUMBA_NUM_THREADS=2"
            )
    layer = environ.get("NUMBA_THREADING_LAYER")
    if layer is not None and layer.strip() != "" and layer.strip() not in THREADING_LAYERS:
        raise error(
            f"environment variable NUMBA_THREADING_LAYER = {layer!r}: allowed "
            f"{', '.join(THREADING_LAYERS)}; unset it to let numba choose"
        )
