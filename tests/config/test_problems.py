"""The problem keys of a config: grid.problem, grid.measurements, grid.imbalance, sensing."""

from __future__ import annotations

import pytest

from mfsim.config import parse
from mfsim.config.errors import ConfigError
from mfsim.config.problems import PROBLEMS
from mfsim.engine.problem_common import PROBLEMS as ENGINE_PROBLEMS
from tests.helpers import tiny


def _grid(**extra):
    return tiny(grid=extra)


def test_config_problems_are_the_engines_problems():
    assert set(PROBLEMS) == set(ENGINE_PROBLEMS)


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        (
            _grid(problem=["sensin"]),
            ["grid.problem[0]", "'sensin'", "'factorization'", "'sensing'"],
        ),
        (_grid(problem=["sensing"]), ["grid.measurements is missing", "m / (d r)"]),
        (_grid(imbalance=[2]), ["grid.imbalance", "[2]", "'asymmetric'"]),
        (_grid(measurements=[3]), ["grid.measurements", "[3]", "'sensing'"]),
        (_grid(problem=["sensing", "sensing"], measurements=[3]), ["grid.problem", "at most once"]),
        (_grid(problem=[]), ["grid.problem"]),
        (
            tiny(grid={"problem": ["sensing"], "measurements": [3]}, sensing={"operator": "dense"}),
            ["sensing.operator", "'dense'", "rank_one", "goe"],
        ),
        (
            tiny(
                grid={"problem": ["sensing"], "measurements": [2.5]},
                sensing={"measurements_unit": "count"},
            ),  # fmt: skip
            ["grid.measurements", "2.5", "integers", "count"],
        ),
        (tiny(sensing={"operator": "goe"}), ["sensing", "only when grid.problem includes"]),
    ],
)
def test_bad_problem_keys_name_key_value_and_allowed(config, needles):
    with pytest.raises(ConfigError) as info:
        parse(config)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_variants_one_per_option_value_not_crossed():
    config = parse(_grid(problem=["asymmetric", "sensing", "factorization"],
                         measurements=[10, 3], imbalance=[2, 1]))  # fmt: skip
    assert config.grid.problem_labels == [
        "factorization",
        "sensing m/(dr)=3",
        "sensing m/(dr)=10",
        "asymmetric imbalance=1",
        "asymmetric imbalance=2",
    ]
    # runs: 2 d x 3 seeds x 5 variants
    assert config.grid.n_runs == 2 * 3 * 5


def test_asymmetric_imbalance_defaults_to_one():
    config = parse(_grid(problem=["asymmetric"]))
    assert [v.imbalance for v in config.grid.problems] == [1.0]
    assert not parse(tiny()).grid.has_problems
    assert config.grid.has_problems


def test_factorization_only_identity_is_unchanged():
    """Run identity (and so chunk ids) of a factorization-only config: spectrum and run only,
    whether grid.problem is left out or written as [factorization]."""
    plain = parse(tiny())
    explicit = parse(_grid(problem=["factorization"]))
    assert set(plain.identity) == {"spectrum", "run"}
    assert explicit.identity == plain.identity
    mixed = parse(_grid(problem=["factorization", "sensing"], measurements=[3]))
    assert mixed.identity["sensing"] == {"operator": "rank_one", "measurements_unit": "ratio"}


@pytest.mark.parametrize(
    ("ratio", "d", "r", "m"), [(3, 100, 2, 600), (0.5, 7, 3, 11), (30, 16, 2, 960)]
)
def test_measurement_count_from_ratio(ratio, d, r, m):
    config = parse(_grid(problem=["sensing"], measurements=[ratio]))
    (variant,) = config.grid.problems
    # m = ceil(ratio d r): 0.5 * 7 * 3 = 10.5 -> 11
    assert variant.measurement_count(d, r, "ratio") == m
    assert variant.measurement_count(d, r, "count") == int(ratio)
