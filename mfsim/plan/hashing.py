"""Content hashes of the plan: canonical JSON of settings, and the key of a batch.

A batch key (:func:`batch_key`) is computed for every batch of a sweep (1.6 x 10^5 batches for
10^7 runs), so it builds the canonical JSON text directly; :func:`content_hash` is the general
route and both give the same digest (``tests/plan/test_hashing.py``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from typing import Any

import numpy as np

__all__ = ["batch_key", "batch_key_of_texts", "content_hash", "number_text", "seeds_text"]


def _canonical(value: Any) -> Any:
    """Normalize a JSON-like value so that equal settings hash equally.

    Floats with an integral value become ints (``5.0`` and ``5`` hash the same), tuples become
    lists; dict key order is handled by ``json.dumps(sort_keys=True)``.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    raise TypeError(f"cannot hash a value of type {type(value).__name__}: {value!r}")


def content_hash(value: Any, length: int) -> str:
    """Return the first `length` hex digits of the sha1 of the canonical JSON of `value`.

    Parameters
    ----------
    value : JSON-like
        Dicts, lists, tuples, strings, numbers, booleans, None.
    length : int
        Number of hex digits kept.

    Returns
    -------
    str
        Hex digest prefix; independent of dict ordering and of ``5`` vs ``5.0``.
    """
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def number_text(value: Any) -> str | None:
    """Canonical JSON of one grid value: a Python int, a finite float or None (else None:
    use the general route, :func:`content_hash`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)  # what json.dumps writes for a finite float
    return None


@functools.lru_cache(maxsize=1024)
def seeds_text(seeds: tuple) -> str:
    """Canonical JSON of a tuple of seeds (Python ints)."""
    return "[" + ",".join(str(int(seed)) for seed in seeds) + "]"


def batch_key(point: dict, seeds: tuple, length: int) -> str:
    """:func:`content_hash` of ``{**point, "seeds": list(seeds)}``, built without json.

    Parameters
    ----------
    point : dict
        ``d, r, kappa, varpi, varpi_exponent, eta`` of a grid point.
    seeds : tuple of int
        The batch's seeds.
    length : int
        Number of hex digits kept.

    Returns
    -------
    str
        The same digest as ``content_hash({**point, "seeds": list(seeds)}, length)``.
    """
    if set(point) != {"d", "r", "kappa", "varpi", "varpi_exponent", "eta"}:
        return content_hash({**point, "seeds": list(seeds)}, length)
    texts = {name: number_text(value) for name, value in point.items()}
    if None in texts.values() or not all(isinstance(seed, int) for seed in seeds):
        return content_hash({**point, "seeds": list(seeds)}, length)
    return batch_key_of_texts(texts, seeds_text(tuple(seeds)), length)


def batch_key_of_texts(texts: dict, seeds: str, length: int) -> str:
    """:func:`batch_key` from the canonical texts of the point's values (:func:`number_text`)
    and of its seeds (:func:`seeds_text`): the canonical JSON with keys in sorted order."""
    text = (
        f'{{"d":{texts["d"]},"eta":{texts["eta"]},"kappa":{texts["kappa"]},"r":{texts["r"]},'
        f'"seeds":{seeds},"varpi":{texts["varpi"]},"varpi_exponent":{texts["varpi_exponent"]}}}'
    )
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]
