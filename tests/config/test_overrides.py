"""Issue 15 item 3: ``--config`` without ``--configfile`` applies on top of the default config,
section by section, and never mixes two grids under one sweep name."""

from __future__ import annotations

import pytest

from mfsim.config.errors import ConfigError
from mfsim.config.overrides import apply_command_line_config

DEFAULT = {
    "sweep": "default",
    "spectrum": {"family": "linear", "lambda_1": 1.0},
    "grid": {"d": [100, 200], "r": [2], "kappa": [5], "varpi": [0.5], "eta": [0.1],
             "seeds": {"count": 4}},
    "run": {"steps": 5000, "stop_error": 0.0},
}  # fmt: skip


def test_a_new_name_alone_runs_the_default_sweep_under_it():
    config = apply_command_line_config(DEFAULT, {"sweep": "trial"})
    assert config == {**DEFAULT, "sweep": "trial"}
    assert DEFAULT["sweep"] == "default"  # the default is not modified


def test_a_section_replaces_the_default_section_whole():
    config = apply_command_line_config(DEFAULT, {"sweep": "short", "run": {"steps": 100}})
    assert config["run"] == {"steps": 100}  # not merged with stop_error of the default
    assert config["grid"] == DEFAULT["grid"]


def test_changing_the_runs_without_a_name_stops_and_says_how():
    with pytest.raises(ConfigError) as error:
        apply_command_line_config(DEFAULT, {"grid": {"d": [300]}})
    message = str(error.value)
    assert message.startswith("--config grid:")
    assert "--config sweep=<name>" in message and "--configfile" in message


def test_settings_that_do_not_change_runs_need_no_name():
    config = apply_command_line_config(DEFAULT, {"dask": {"cluster": "local"}})
    assert config["sweep"] == "default" and config["dask"] == {"cluster": "local"}


def test_an_incomplete_replaced_section_names_what_it_lacks_once():
    """A --config grid with one key replaces the default grid whole: one message that says so
    and names the missing keys with the default's values, not one bare "required key is
    missing" per key."""
    import pytest

    from mfsim.config.errors import ConfigError
    from mfsim.config.overrides import apply_command_line_config

    default = {
        "sweep": "default",
        "grid": {
            "d": [100],
            "r": [2],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"start": 0, "count": 2},
            "kappa": [5],
        },
    }
    with pytest.raises(ConfigError) as info:
        apply_command_line_config(default, {"sweep": "x", "grid": {"kappa": [5]}})
    message = str(info.value)
    assert "replaces the default's grid section whole" in message
    assert "also give d, r, varpi, eta, seeds" in message and "d=[100]" in message
    # a key the schema does not require but the default gives (kappa, for the linear family) is
    # named in the same message, not in a second error once the others are given
    with pytest.raises(ConfigError) as info:
        apply_command_line_config(default, {"sweep": "x", "grid": {"d": [10], "r": [2]}})
    assert "also give varpi, eta, seeds, kappa " in str(info.value)
    complete = {key: value for key, value in default["grid"].items()}
    assert apply_command_line_config(default, {"sweep": "x", "grid": complete})["grid"] == complete
