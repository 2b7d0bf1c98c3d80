"""``snakemake --config`` without ``--configfile``: the default sweep with sections replaced.

Rule (documented in the README):

* Without ``--configfile`` the workflow reads ``config/config.yaml`` and each top-level key given
  with ``--config`` *replaces* that section whole (no key-by-key merge, so two grids are never
  mixed: ``--config 'grid={d: [100]}'`` is a grid of its own and must be complete).
* A ``--config`` that changes what is computed (``spectrum``, ``grid``, ``run``, ``chunking``)
  must also name the sweep (``--config sweep=<name> ...``): ``results/default/`` only ever holds
  the default sweep.
* With ``--configfile`` Snakemake's own rule applies: ``--config`` values are merged key by key
  into the file's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from mfsim.config.errors import ConfigError

__all__ = ["RESULT_SECTIONS", "apply_command_line_config"]

#: Sections whose change changes the runs (and so needs a sweep name of its own).
RESULT_SECTIONS = ("spectrum", "grid", "run", "chunking")


def apply_command_line_config(default: Mapping, overrides: Mapping) -> dict:
    """The default config with the ``--config`` sections `overrides` replacing its sections.

    Parameters
    ----------
    default : mapping
        The raw default config (``config/config.yaml``).
    overrides : mapping
        The values given with ``--config`` (top-level keys).

    Returns
    -------
    dict
        A new raw config (validated later like any other).

    Raises
    ------
    ConfigError
        Sections that change the runs are overridden while ``sweep`` keeps the default's name.
    """
    config = copy.deepcopy(dict(default))
    changed = [key for key in RESULT_SECTIONS if key in overrides]
    if changed and "sweep" not in overrides:
        raise ConfigError(
            f"--config {', '.join(changed)}: changing the runs of the default sweep needs a new "
            f"sweep name, or results/{default.get('sweep', 'default')}/ would mix two grids; add "
            "--config sweep=<name> (each --config section replaces the default's section "
            "whole), or write a config file and pass it with --configfile"
        )
    _check_complete_sections(default, overrides)
    for key, value in overrides.items():
        config[key] = copy.deepcopy(value)
    return config


def _check_complete_sections(default: Mapping, overrides: Mapping) -> None:
    """A replaced section must be complete: one message naming what it lacks, not one "required
    key is missing" per key without the reason."""
    from mfsim.config.validate import load_schema

    properties = load_schema().get("properties", {})
    for key, value in overrides.items():
        if key not in default or not isinstance(default[key], Mapping):
            continue
        if not isinstance(value, Mapping):
            continue
        section = properties.get(key, {})
        required = list(section.get("required", []))
        # keys without a schema default that the default config gives (grid.kappa: required
        # by the linear family, not by the schema) are lost too when the section is replaced
        keys = section.get("properties", {})
        required += [
            name
            for name in default[key]
            if name not in required and "default" not in keys.get(name, {"default": None})
        ]
        missing = [name for name in required if name not in value]
        if missing:
            raise ConfigError(
                f"--config {key}=...: a --config section replaces the default's {key} section "
                f"whole (two grids are never mixed), so it must be complete: also give "
                f"{', '.join(missing)} (the default's: "
                + ", ".join(f"{name}={default[key].get(name)!r}" for name in missing)
                + "), or write a config file and pass it with --configfile"
            )
