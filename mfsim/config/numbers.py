"""Numbers of a config checked by the rules the API and the command line use (mfsim.arguments).

* NaN and infinity are named as such, with their key path, before the schema's range checks
  (a NaN passes every ``minimum``) and before any derived check.
* Integer keys (``run.steps``, seed lists, ``grid.r``, ...) refuse floats, integral ones such as
  100.0 too, as :func:`mfsim.arguments.check_integer` does (JSON Schema's ``integer`` accepts
  100.0). ``grid.d`` is the exception, everywhere: d accepts integer-valued floats (1.0e+12)
  in the API, on the command line and here.
* Seeds lie in ``0 <= seed < 2**63`` (:data:`mfsim.arguments.SEED_LIMIT`), whichever form the
  seed axis takes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from mfsim.arguments import SEED_LIMIT, SEED_RULE, check_integer
from mfsim.config.errors import ConfigError

__all__ = ["non_finite_numbers", "float_integers", "seed_range_problems"]

#: Integer keys that take integer-valued floats (d = 1.0e+12 is written as a float).
FLOAT_INTEGER_KEYS = ("grid.d",)


def _key_path(path: list) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def non_finite_numbers(value: Any, path: list | None = None) -> Iterator[str]:
    """One message per NaN or infinite number in `value` (a raw config), with its key path."""
    path = [] if path is None else path
    if isinstance(value, float) and not math.isfinite(value):
        kind = "NaN" if math.isnan(value) else "infinite"
        yield f"{_key_path(path)} = {value} is {kind}; allowed: finite numbers"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from non_finite_numbers(item, path + [key])
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from non_finite_numbers(item, path + [index])


def _resolve(schema: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _branch(schema: dict, node: dict, instance: Any) -> dict | None:
    """The oneOf/anyOf alternative of `node` that `instance` satisfies (schema-valid input)."""
    for alternative in node.get("oneOf", node.get("anyOf", [])):
        candidate = {**_resolve(schema, alternative), "$defs": schema.get("$defs", {})}
        if jsonschema.Draft202012Validator(candidate).is_valid(instance):
            return _resolve(schema, alternative)
    return None


def float_integers(instance: Any, schema: dict, node: dict | None = None, path=None):
    """One message per float where the schema wants an integer (a schema-valid config).

    Yields
    ------
    str
        ``run.steps = 100.0 is a float; allowed: an integer >= 1 (write 100)``; keys of
        :data:`FLOAT_INTEGER_KEYS` are left out.
    """
    path = [] if path is None else path
    node = _resolve(schema, schema if node is None else node)
    where = _key_path(path)
    if any(where == key or where.startswith((f"{key}[", f"{key}.")) for key in FLOAT_INTEGER_KEYS):
        return
    if "oneOf" in node or "anyOf" in node:
        branch = _branch(schema, node, instance)
        if branch is not None:
            yield from float_integers(instance, schema, branch, path)
        return
    if node.get("type") == "integer" and isinstance(instance, float):
        try:
            check_integer(_key_path(path), instance, low=node.get("minimum"), error=ConfigError)
        except ConfigError as error:
            yield str(error)
    elif isinstance(instance, Mapping):
        for key, child in node.get("properties", {}).items():
            if key in instance:
                yield from float_integers(instance[key], schema, child, path + [key])
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(instance):
            yield from float_integers(item, schema, node["items"], path + [index])


def seed_range_problems(seeds: list[int], key: str = "grid.seeds") -> Iterator[str]:
    """A message if the expanded seed axis leaves ``0 <= seed < 2**63``."""
    if seeds and max(seeds) >= SEED_LIMIT:
        yield f"{key}: the largest seed is {max(seeds)}; allowed: {SEED_RULE}"
