"""Issue 15 item 11, in-process: a misspelt key gets a suggestion and no derived duplicate."""

from __future__ import annotations

import copy

import pytest

from mfsim.config.validate import ConfigError, load_config

LINEAR = {
    "sweep": "messages",
    "spectrum": {"family": "linear"},
    "grid": {"d": [100], "r": [2], "kappa": [5.0], "varpi": [0.5], "eta": [0.1],
             "seeds": {"count": 2}},
    "run": {"steps": 100},
}  # fmt: skip


def message_of(config) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(config, results_root=None)
    return str(error.value)


def test_misspelt_required_key_gets_a_suggestion_and_one_message():
    config = copy.deepcopy(LINEAR)
    config["grid"]["kapa"] = config["grid"].pop("kappa")
    message = message_of(config)
    assert message.startswith("grid.kapa: unknown key (did you mean 'kappa'?)")
    # the missing grid.kappa is the same mistake: not reported a second time
    assert "required key is missing" not in message
    assert message.count("\n") == 0


def test_misspelt_optional_key_gets_a_suggestion():
    config = copy.deepcopy(LINEAR)
    config["run"]["stepz"] = config["run"].pop("steps")
    assert "run.stepz: unknown key (did you mean 'steps'?)" in message_of(config)


def test_unrelated_unknown_key_keeps_the_missing_key_message():
    config = copy.deepcopy(LINEAR)
    del config["grid"]["kappa"]
    config["grid"]["colour"] = 1
    message = message_of(config)
    assert "grid.colour: unknown key; allowed keys here" in message
    assert "did you mean" not in message
    assert "grid.kappa: required key is missing" in message
