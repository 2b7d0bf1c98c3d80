"""Loading and validation of sweep configs.

A config is checked in three steps, all before any work:

1. the JSON schema ``mfsim/config/schema/config.schema.yaml`` (package data, so that every
   install has it), with defaults injected exactly as
   ``snakemake.utils.validate(config, schema)`` does in the Snakefile (same validator class,
   same default rule);
2. semantic checks that need computation (d > r, kappa against the spectrum family, the
   eigenvalues file of the custom family, ...);
3. resource limits (run count, store size, free disk space):
   :func:`mfsim.config.limits.check_limits`.

Every problem raises :class:`ConfigError` whose message starts with the key path
(e.g. ``grid.d``) and states the allowed values.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from mfsim.arguments import check_environment
from mfsim.config.axes import grid_axes
from mfsim.config.errors import ConfigError
from mfsim.config.limits import check_limits
from mfsim.config.numbers import float_integers, non_finite_numbers, seed_range_problems
from mfsim.datamodel import stored_dimension
from mfsim.spectra import SpectrumError, check_spectrum_grid, read_eigenvalues
from mfsim.spectrum_ties import TIE_PARAMETERS, top_problem

__all__ = [
    "SCHEMA_PATH",
    "ConfigError",
    "DefaultInjectingValidator",
    "check_semantics",
    "coerce_scalars",
    "load_config",
    "load_schema",
    "read_config_file",
    "read_eigenvalues_file",
    "validate_schema",
]

#: The JSON schema of a config (package data; the workflow's too, through mfsim.config.parse).
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "config.schema.yaml"

SWEEP_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FIGURE1_RANK = 2
#: Families whose bulk runs down to ``spectrum.bulk_bottom``.
BULK_BOTTOM_FAMILIES = ("linear", "staircase")
FIGURE1_MIN_D = 4


# --------------------------------------------------------------------------------------------
# reading


def read_config_file(path: str | Path) -> dict:
    """Read a config file (JSON or YAML) without validating it.

    Parameters
    ----------
    path : str or Path
        Config file.

    Returns
    -------
    dict
        The raw config.

    Notes
    -----
    Like Snakemake, JSON is tried first, then YAML. YAML 1.1 reads ``1e-2`` and ``1.0e12`` as
    strings; :func:`validate_schema` turns them into numbers where the schema expects one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"config file {path}: cannot be read ({error.strerror})") from error
    try:
        config = json.loads(text)
    except ValueError:
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path}: not valid YAML or JSON: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path}: expected a mapping of keys at top level")
    return config


# --------------------------------------------------------------------------------------------
# schema


@cache
def _cached_schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def load_schema() -> dict:
    """Return the config schema of :data:`SCHEMA_PATH`.

    Returns
    -------
    dict
        A fresh copy of the parsed schema (callers may modify it).
    """
    return copy.deepcopy(_cached_schema())


def _set_defaults(validator, properties, instance, schema) -> Iterator:
    """``properties`` keyword that first injects each property's ``default``.

    Same rule as ``snakemake.utils.validate`` (from the jsonschema FAQ), except that the
    default is copied so that configs never share (and mutate) the schema's default objects.
    """
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if "default" in subschema and name not in instance:
                instance[name] = copy.deepcopy(subschema["default"])
    yield from _PROPERTIES(validator, properties, instance, schema)


_PROPERTIES = jsonschema.Draft202012Validator.VALIDATORS["properties"]
DefaultInjectingValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"properties": _set_defaults}
)


def _key_path(path: Any) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<config>"


def _child_path(path: str, key: str) -> str:
    return key if path == "<config>" else f"{path}.{key}"


def _dereference(schema: dict, node: dict) -> dict:
    """Follow local ``$ref`` s (``#/$defs/...``) from `node`."""
    while "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _description_at(schema: dict, path: list) -> str | None:
    """Description of the deepest property schema along `path` that has one."""
    node = schema
    description = None
    for part in path:
        if not isinstance(part, str):
            continue
        properties = _dereference(schema, node).get("properties", {})
        if part not in properties:
            break
        node = properties[part]
        description = node.get("description", description)
    return description


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NULL_TEXT = ("null", "Null", "NULL", "~")
_BOOLEAN_TEXT = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
_CLOCK_EXAMPLE = re.compile(r"[0-9]{1,2}:[0-9]{2}")


def _accepted_types(schema: dict, node: Any) -> set[str]:
    """JSON types a schema node accepts (through ``$ref`` and every oneOf/anyOf alternative)."""
    if not isinstance(node, dict):
        return set()
    node = _dereference(schema, node)
    declared = node.get("type")
    types = set([declared] if isinstance(declared, str) else declared or [])
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        types |= {"string" if isinstance(value, str) else "other" for value in values}
    for keyword in ("oneOf", "anyOf"):
        for alternative in node.get(keyword, []):
            types |= _accepted_types(schema, alternative)
    return types


def _parse_text(text: str, types: set[str]) -> Any:
    """`text` as the number, boolean or null a non-string schema node expects, else `text`."""
    word = text.strip()
    if types & {"number", "integer"} and "_" not in word:
        if _INTEGER_TEXT.fullmatch(word):
            return int(word)
        try:
            value = float(word)
        except ValueError:
            pass
        else:
            if "number" not in types and value.is_integer():
                return int(value)
            return value
    if "boolean" in types and word in _BOOLEAN_TEXT:
        return _BOOLEAN_TEXT[word]
    if "null" in types and word in _NULL_TEXT:
        return None
    return text


def coerce_scalars(instance: Any, schema: dict | None = None, node: Any = None) -> Any:
    """Turn strings into numbers (booleans, null) where the schema expects one, in place.

    YAML 1.1 (PyYAML) reads ``1e-2`` and ``1.0e12`` as strings, and Snakemake passes the values
    of a nested ``--config 'run={steps: 100}'`` as strings (``"100"``); both are meant as
    numbers. A string is converted only where no alternative of the schema accepts a string, to
    an int when it is written as one (or when only integers are allowed and the value is
    integral, ``1e3`` -> 1000), else to a float. Strings with ``_`` stay strings (Python would
    read ``1_0`` as 10). What cannot be parsed is left for the schema to reject.

    Parameters
    ----------
    instance : object
        A raw config (or part of it); dicts and lists are modified in place.
    schema : dict, optional
        The whole schema (for ``$ref``); default :func:`load_schema`'s.
    node : dict, optional
        The schema node that describes `instance`; default the whole schema.

    Returns
    -------
    object
        `instance`, or its converted value when `instance` itself is a string.
    """
    if schema is None:
        schema = _cached_schema()
    node = _dereference(schema, schema if node is None else node)
    if not isinstance(node, dict):
        return instance
    if isinstance(instance, str):
        types = _accepted_types(schema, node)
        return instance if "string" in types else _parse_text(instance, types)
    branches = [node]
    for keyword in ("oneOf", "anyOf", "allOf"):
        branches += node.get(keyword, [])
    branches += [node[key] for key in ("then", "else") if isinstance(node.get(key), dict)]
    for branch in branches[1:]:
        coerce_scalars(instance, schema, branch)
    if isinstance(instance, dict):
        for key, child in node.get("properties", {}).items():
            if key in instance:
                instance[key] = coerce_scalars(instance[key], schema, child)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(instance):
            instance[index] = coerce_scalars(item, schema, node["items"])
    return instance


def _sexagesimal(seconds: int) -> str:
    """36000 -> '10:00:00': what YAML 1.1 read as a base-60 integer."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _yaml_hint(error: jsonschema.ValidationError, description: str | None) -> str | None:
    """Hint for a value YAML read as something else than the string the schema wants."""
    instance = error.instance
    if error.validator != "type" or "string" not in _as_list(error.validator_value):
        return None
    key = next((part for part in reversed(error.absolute_path) if isinstance(part, str)), "key")
    if isinstance(instance, bool):
        return (
            f"YAML reads unquoted yes/no/on/off/true/false as a boolean: quote it: "
            f'{key}: "{"yes" if instance else "no"}"'
        )
    if isinstance(instance, int) and description and _CLOCK_EXAMPLE.search(description):
        text = _sexagesimal(instance)
        return (
            f"YAML 1.1 reads an unquoted {text} as the base-60 number {instance}: "
            f'quote it: {key}: "{text}"'
        )
    if isinstance(instance, int | float):
        return f'YAML reads {instance} as a number: quote it: {key}: "{instance}"'
    if instance is None:
        return f"YAML reads an empty value as null: write a value or remove {key}"
    return None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _with_hints(message: str, hints: list[str | None]) -> str:
    unique = [hint for index, hint in enumerate(hints) if hint and hint not in hints[:index]]
    return message + "".join(f"; {hint}" for hint in unique)


def _is_type_mismatch(error: jsonschema.ValidationError) -> bool:
    """A ``type`` error about the alternative's own instance (not a nested value)."""
    return error.validator == "type" and not error.relative_path


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """Descend into a oneOf/anyOf error when a single alternative matches the value's type.

    ``[]`` against "a list or a range" is reported as the list's problem, ``{start: 1}`` as
    the range's missing keys. When several alternatives remain, the oneOf error is kept.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    alternatives: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub_error in error.context:
        alternatives.setdefault(sub_error.relative_schema_path[0], []).append(sub_error)
    plausible = [
        sub_errors
        for sub_errors in alternatives.values()
        if not any(_is_type_mismatch(sub_error) for sub_error in sub_errors)
    ]
    if len(plausible) != 1:
        return [error]
    return [leaf for sub_error in plausible[0] for leaf in _leaf_errors(sub_error)]


def _error_messages(error: jsonschema.ValidationError, schema: dict) -> list[str]:
    """Translate one jsonschema error into messages that start with the key path."""
    messages = [message for leaf in _leaf_errors(error) for message in _leaf_messages(leaf, schema)]
    return list(dict.fromkeys(messages))


def _did_you_mean(key: Any, allowed: list[str]) -> str:
    """``" (did you mean 'kappa'?)"`` for the allowed key closest to a misspelt one, if any."""
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _misspelt_keys(config: Any, schema: dict) -> set[str]:
    """Key paths of required keys that an unknown key of the same mapping is a misspelling of:
    their "required key is missing" only repeats the unknown-key message."""
    found = set()
    validator = DefaultInjectingValidator(schema)
    for error in validator.iter_errors(copy.deepcopy(config)):
        for leaf in _leaf_errors(error):
            if leaf.validator != "additionalProperties":
                continue
            allowed = sorted(leaf.schema.get("properties", {}))
            path = _key_path(leaf.absolute_path)
            for key in set(leaf.instance) - set(allowed):
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                if close:
                    found.add(_child_path(path, close[0]))
    return found


def _leaf_messages(error: jsonschema.ValidationError, schema: dict) -> list[str]:
    path = _key_path(error.absolute_path)
    own_description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return [
            f"{_child_path(path, key)}: unknown key{_did_you_mean(key, allowed)}; "
            f"allowed keys here: {', '.join(allowed)}"
            for key in unknown
        ]
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        messages = []
        for key in missing:
            child = list(error.absolute_path) + [key]
            hints = [own_description, _description_at(schema, child)]
            messages.append(
                _with_hints(f"{_child_path(path, key)}: required key is missing", hints)
            )
        return messages
    if error.validator == "not":
        message = f"{path}: {error.instance!r} is not allowed here"
    elif error.validator == "pattern":
        message = f"{path}: {error.instance!r} is not allowed"
    elif error.validator in ("oneOf", "anyOf"):
        message = f"{path}: {error.instance!r} matches none of the allowed forms"
    else:
        message = f"{path}: {error.message}"
    description = _description_at(schema, list(error.absolute_path))
    hints = [own_description, description, _yaml_hint(error, own_description or description)]
    return [_with_hints(message, hints)]


def validate_schema(config: dict) -> dict:
    """Validate `config` against the schema and inject defaults, in place.

    Parameters
    ----------
    config : dict
        Raw config; modified in place like ``snakemake.utils.validate`` (defaults added), and
        numeric strings turned into numbers where the schema expects one
        (:func:`coerce_scalars`).

    Returns
    -------
    dict
        The same dict.

    Raises
    ------
    ConfigError
        Listing every schema violation, each with its key path.
    """
    schema = _cached_schema()
    coerce_scalars(config, schema)
    # NaN passes every minimum of the schema: name NaN and infinity first
    non_finite = list(non_finite_numbers(config))
    if non_finite:
        raise ConfigError(_join_problems(non_finite))
    validator = DefaultInjectingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=_error_path)
    messages = [message for error in errors for message in _error_messages(error, schema)]
    messages = list(dict.fromkeys(messages))
    misspelt = _misspelt_keys(config, schema) if messages else set()
    messages = [
        message
        for message in messages
        if not (": required key is missing" in message and message.split(":", 1)[0] in misspelt)
    ]
    if messages:
        raise ConfigError(_join_problems(messages))
    # JSON Schema's integer accepts 100.0; the API and the command line do not
    messages = list(float_integers(config, schema))
    if messages:
        raise ConfigError(_join_problems(messages))
    return config


def _error_path(error: jsonschema.ValidationError) -> str:
    return _key_path(error.absolute_path)


def _join_problems(messages: list[str]) -> str:
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} problems in the config:\n" + "\n".join(f"  - {m}" for m in messages)


# --------------------------------------------------------------------------------------------
# eigenvalues file (custom family)


def read_eigenvalues_file(path: str | Path) -> np.ndarray:
    """Read the eigenvalues of the ``custom`` family.

    Parameters
    ----------
    path : str or Path
        Text file: numbers separated by whitespace and/or newlines (no comments).
        Relative paths are relative to the working directory (as in Snakemake).

    Returns
    -------
    numpy.ndarray of float64
        The eigenvalues, in file order.

    Raises
    ------
    ConfigError
        Missing file, a directory, unreadable file, a non-numeric token, no values, NaN or
        infinite or negative values, values not in decreasing order. The message starts with
        ``spectrum.eigenvalues_file``.
    """
    try:
        return read_eigenvalues(path)
    except SpectrumError as error:
        raise ConfigError(f"spectrum.eigenvalues_file: {error}") from error


# --------------------------------------------------------------------------------------------
# semantic checks


def _check_sweep_name(config: dict) -> Iterator[str]:
    name = config["sweep"]
    if not SWEEP_NAME_PATTERN.fullmatch(name) or ".." in name:
        yield (
            f"sweep: {name!r} is not allowed; use letters, digits, '_', '.', '-', starting "
            "with a letter or digit, without '/' or '..'"
        )


def _check_sizes(axes: dict) -> Iterator[str]:
    if min(axes["d"]) <= max(axes["r"]):
        yield (
            f"grid.d: every d must exceed every r (d > r); got d = {min(axes['d'])} and "
            f"r = {max(axes['r'])}"
        )
    # stores hold d as float64 once a d reaches 2^53 (mfsim.store.layout.d_coordinate)
    stored = {stored_dimension(d) for d in axes["d"]}
    if max(axes["d"]) >= 2**53 and len(stored) != len(axes["d"]):
        yield (
            "grid.d: two d values round to the same float64 (the stores hold d as float64 "
            "once a d reaches 2^53); allowed: d values that differ in float64"
        )


def _check_kappa(config: dict, axes: dict) -> Iterator[str]:
    """Families linear, flat, staircase: lambda_{r+1} = lambda_1 (1 - r / kappa) >= bulk_bottom."""
    spectrum = config["spectrum"]
    family = spectrum["family"]
    lambda_1 = float(spectrum["lambda_1"])
    bulk_bottom = float(spectrum["bulk_bottom"]) if family in BULK_BOTTOM_FAMILIES else 0.0
    if bulk_bottom >= lambda_1:
        yield (f"spectrum.bulk_bottom: {bulk_bottom:g} must be < spectrum.lambda_1 = {lambda_1:g}")
        return
    kappa, r = min(axes["kappa"]), max(axes["r"])
    lambda_next = lambda_1 - r * lambda_1 / kappa
    if lambda_next < bulk_bottom:
        needed = r * lambda_1 / (lambda_1 - bulk_bottom)
        yield (
            f"grid.kappa: kappa = {kappa:g} is too small for r = {r} with family {family}: "
            f"lambda_(r+1) = lambda_1 (1 - r/kappa) = {lambda_next:g} must be >= "
            f"{bulk_bottom:g} (spectrum.bulk_bottom, 0 for flat); allowed: kappa >= {needed:g}"
        )


def _check_figure1(axes: dict) -> Iterator[str]:
    if axes["r"] != [FIGURE1_RANK]:
        yield f"grid.r: family figure1 has rank r = {FIGURE1_RANK}; allowed: [2], got {axes['r']}"
    if min(axes["d"]) < FIGURE1_MIN_D:
        yield f"grid.d: family figure1 needs d >= {FIGURE1_MIN_D}; got d = {min(axes['d'])}"


def _check_custom(config: dict, axes: dict) -> Iterator[str]:
    spectrum = config["spectrum"]
    eigenvalues = read_eigenvalues_file(spectrum["eigenvalues_file"])
    n = eigenvalues.size
    if axes["d"] != [n]:
        yield (
            f"grid.d: family custom takes d from the eigenvalues file: grid.d must be [{n}], "
            f"got {axes['d']}"
        )
    r = max(axes["r"])
    top = eigenvalues[: r + 1]
    problem = top_problem(top, float(spectrum.get("tie_tolerance", 0.0)))
    if top.size == r + 1 and problem:
        yield f"spectrum.eigenvalues_file: {problem}"
    lambda_1 = float(spectrum["lambda_1"])
    if lambda_1 not in (1.0, float(eigenvalues[0])):
        yield (
            f"spectrum.lambda_1: family custom takes lambda_1 from the eigenvalues file "
            f"({eigenvalues[0]:g}); remove spectrum.lambda_1"
        )


def _check_spectrum(config: dict, axes: dict) -> Iterator[str]:
    spectrum = config["spectrum"]
    family = spectrum["family"]
    if family not in BULK_BOTTOM_FAMILIES and float(spectrum["bulk_bottom"]) != 0.0:
        yield (
            "spectrum.bulk_bottom: only used by families linear and staircase; remove it for "
            f"family {family}"
        )
    if family in ("linear", "flat", "staircase"):
        yield from _check_kappa(config, axes)
    elif family == "figure1":
        if float(spectrum["lambda_1"]) != 1.0:
            yield "spectrum.lambda_1: family figure1 fixes lambda_1 = 1; remove spectrum.lambda_1"
        yield from _check_figure1(axes)
    elif family == "custom":
        yield from _check_custom(config, axes)


def _check_spectrum_grid(config: dict, axes: dict) -> Iterator[str]:
    """Build the spectrum of every (d, r, kappa) of the grid (O(segments) each, any d), so a
    spectrum that cannot be built (d beyond the family's largest, too few rows for the
    staircase levels, impossible kappa) is a config error before any job."""
    spectrum = config["spectrum"]
    family = spectrum["family"]
    if family == "custom":  # checked against its file by _check_custom
        return
    # the parameters mfsim.config.model.SpectrumSpec.family_params passes to the runs
    params = {} if family == "figure1" else {"lambda_1": float(spectrum["lambda_1"])}
    if family in BULK_BOTTOM_FAMILIES:
        params["bulk_bottom"] = float(spectrum["bulk_bottom"])
    if spectrum.get("levels") is not None:
        params["levels"] = int(spectrum["levels"])
    params.update({key: float(spectrum[key]) for key in TIE_PARAMETERS if key in spectrum})
    if spectrum.get("gap") is not None:
        params["gap"] = dict(spectrum["gap"])
    try:
        check_spectrum_grid(family, axes["d"], axes["r"], axes["kappa"], **params)
    except SpectrumError as error:
        yield f"grid.d, grid.r, grid.kappa and spectrum: {error}"


def _check_run(config: dict) -> Iterator[str]:
    run = config["run"]
    late = [step for step in run["heatmap_steps"] if step > run["steps"]]
    if late:
        yield (
            f"run.heatmap_steps: {late} exceed run.steps = {run['steps']}; "
            "allowed: integers in [0, run.steps]"
        )


def _check_dask(config: dict) -> Iterator[str]:
    slurm = config["dask"].get("slurm", {})
    if "minimum_jobs" in slurm and "maximum_jobs" in slurm:
        if slurm["minimum_jobs"] > slurm["maximum_jobs"]:
            yield (
                f"dask.slurm.minimum_jobs: {slurm['minimum_jobs']} exceeds "
                f"dask.slurm.maximum_jobs = {slurm['maximum_jobs']}"
            )


def check_semantics(config: dict) -> None:
    """Checks beyond the schema, on a schema-validated config.

    Parameters
    ----------
    config : dict
        Config validated by :func:`validate_schema`.

    Raises
    ------
    ConfigError
        Listing every problem: non-finite numbers, sweep name, d <= r, kappa impossible for
        the family (linear/flat need ``lambda_1 (1 - r/kappa) >= bulk_bottom``, i.e.
        ``kappa >= r`` for a zero bottom), a (d, r, kappa) of the grid whose spectrum cannot be
        built (:func:`mfsim.spectra.check_spectrum_grid`: d above the family's largest, too
        few rows for the staircase levels), d values equal in float64 beyond 2^53,
        figure1 with r != 2 or d < 4, custom family with a bad
        eigenvalues file or a d grid other than the file's length, heatmap steps beyond
        ``run.steps``, ``minimum_jobs > maximum_jobs``.
    """
    # NaN and infinity were named before the schema (validate_schema)
    problems = list(_check_sweep_name(config))
    axes = grid_axes(config)
    problems += seed_range_problems(axes["seed"])
    problems += _check_sizes(axes)
    problems += _check_spectrum(config, axes)
    if not problems:  # a spectrum of a grid already reported as impossible is not rebuilt
        problems += _check_spectrum_grid(config, axes)
    problems += _check_run(config)
    problems += _check_dask(config)
    if problems:
        raise ConfigError(_join_problems(problems))


# --------------------------------------------------------------------------------------------
# entry point


def load_config(
    path_or_dict: str | Path | Mapping, *, results_root: str | Path | None = "results"
) -> dict:
    """Load, validate and complete a sweep config, before any work is done.

    Parameters
    ----------
    path_or_dict : str, Path or mapping
        A config file (YAML or JSON) or an already loaded config (not modified; e.g. the
        Snakefile's ``config``, validated or not).
    results_root : str or Path or None, default "results"
        Where ``<sweep>/`` will be written, for the free-disk-space check; None skips it.

    Returns
    -------
    dict
        The config with schema defaults injected (the same dict the Snakefile gets from
        ``snakemake.utils.validate(config, SCHEMA_PATH)``).

    Raises
    ------
    ConfigError
        Schema violations, semantic problems (:func:`check_semantics`) or a sweep above the
        limits (:func:`mfsim.config.limits.check_limits`); the message names the key path.
        An environment variable the engine reads with a value it cannot use
        (:func:`mfsim.arguments.check_environment`); the message names the variable.
    """
    # the environment the engine will run in, before any work (numba reads these on import)
    check_environment(error=ConfigError)
    if isinstance(path_or_dict, Mapping):
        config = copy.deepcopy(dict(path_or_dict))
    else:
        config = read_config_file(path_or_dict)
    validate_schema(config)
    check_semantics(config)
    check_limits(config, results_root=results_root)
    return config
