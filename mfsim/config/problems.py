"""The ``problem`` grid axis and its options: which optimization problem each run solves.

A run solves one of :data:`PROBLEMS` (``mfsim.simulate(problem=...)``). The config's
``grid.problem`` lists them (default ``[factorization]``); ``grid.measurements`` (sensing only)
and ``grid.imbalance`` (asymmetric only) are the problems' own axes. They are not crossed with
each other: the grid holds one *problem variant* per factorization, per sensing measurement
value and per asymmetric imbalance value (:func:`problem_variants`), crossed with the other
axes. The ``sensing`` section chooses the operator family and how ``grid.measurements`` is read
(``ratio``: m = ceil(value d r), the paper's m / (d r); ``count``: m itself).

Every check raises :class:`~mfsim.config.errors.ConfigError` naming the key, the value as given
and what is allowed, before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mfsim.config.axes import expand_values
from mfsim.config.errors import ConfigError

__all__ = [
    "FACTORIZATION",
    "MEASUREMENT_UNITS",
    "OPERATORS",
    "PROBLEM_LABEL_LENGTH",
    "PROBLEMS",
    "ProblemVariant",
    "check_problem_keys",
    "problem_identity",
    "problem_variants",
    "sensing_options",
]

FACTORIZATION = "factorization"
#: The problems a run can solve (``mfsim.simulate(problem=...)``), in canonical order.
PROBLEMS = (FACTORIZATION, "sensing", "asymmetric")
#: Generated sensing operator families (``mfsim.simulate(operator=...)``).
OPERATORS = ("rank_one", "goe")
#: How ``grid.measurements`` is read: m / (d r) or m.
MEASUREMENT_UNITS = ("ratio", "count")
#: Characters of the fixed-width ``problem`` coordinate of the stores (labels are shorter).
PROBLEM_LABEL_LENGTH = 48
_SENSING_DEFAULTS = {"operator": "rank_one", "measurements_unit": "ratio"}


@dataclass(frozen=True, order=True)
class ProblemVariant:
    """One value of the store's ``problem`` dim: a problem and its option value.

    Attributes
    ----------
    rank : int
        Position of `problem` in :data:`PROBLEMS` (sort key).
    problem : str
        One of :data:`PROBLEMS`.
    measurements : float or None
        Sensing: the ``grid.measurements`` value (m / (d r) or m, by ``sensing.measurements_unit``).
    imbalance : float or None
        Asymmetric: varpi' / varpi, Y_0 = imbalance varpi N_0'.
    """

    rank: int
    problem: str
    measurements: float | None = None
    imbalance: float | None = None

    def label(self, unit: str = "ratio") -> str:
        """The store's ``problem`` coordinate value, e.g. ``sensing m/(dr)=3``."""
        if self.problem == "sensing":
            name = "m/(dr)" if unit == "ratio" else "m"
            return f"sensing {name}={self.measurements:g}"
        if self.problem == "asymmetric":
            return f"asymmetric imbalance={self.imbalance:g}"
        return self.problem

    def measurement_count(self, d: int, r: int, unit: str) -> int | None:
        """m for dimension d and rank r: ceil(value d r) (``ratio``) or the value (``count``)."""
        if self.measurements is None:
            return None
        if unit == "count":
            return int(self.measurements)
        # the product rounded first: 3 * 100 * 2 is 600, not 600.0000000000001 -> 601
        return int(math.ceil(round(self.measurements * d * r, 9)))


def _problem_list(grid: dict) -> list[str]:
    value = grid.get("problem", [FACTORIZATION])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"grid.problem = {value!r}: allowed a non-empty list of {', '.join(PROBLEMS)}"
        )
    for i, name in enumerate(value):
        if name not in PROBLEMS:
            raise ConfigError(
                f"grid.problem[{i}] = {name!r}: allowed {', '.join(map(repr, PROBLEMS))}"
            )
    if len(set(value)) != len(value):
        raise ConfigError(f"grid.problem = {value!r}: allowed each problem at most once")
    return sorted(value, key=PROBLEMS.index)


def sensing_options(config: dict) -> dict:
    """The ``sensing`` section with its defaults (``operator``, ``measurements_unit``)."""
    section = config.get("sensing") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"sensing = {section!r}: allowed a mapping with keys operator, "
                          "measurements_unit")  # fmt: skip
    options = {**_SENSING_DEFAULTS, **section}
    for key, allowed in (("operator", OPERATORS), ("measurements_unit", MEASUREMENT_UNITS)):
        if options[key] not in allowed:
            raise ConfigError(
                f"sensing.{key} = {options[key]!r}: allowed {', '.join(map(repr, allowed))}"
            )
    unknown = sorted(set(options) - set(_SENSING_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"sensing.{unknown[0]} = {options[unknown[0]]!r}: not a key of sensing "
            f"(allowed {', '.join(_SENSING_DEFAULTS)})"
        )
    return options


def check_problem_keys(config: dict) -> list[str]:
    """Check ``grid.problem``, ``grid.measurements``, ``grid.imbalance`` and ``sensing``
    together; return the problems (canonical order).

    Raises
    ------
    mfsim.config.errors.ConfigError
        An unknown problem; ``grid.measurements`` without sensing or sensing without it;
        ``grid.imbalance`` or a ``sensing`` section for a problem list that does not use it;
        a ``count`` measurement that is not an integer.
    """
    grid = config["grid"]
    problems = _problem_list(grid)
    options = sensing_options(config)
    if "sensing" in problems and grid.get("measurements") is None:
        raise ConfigError(
            "grid.measurements is missing: allowed a list or range of numbers > 0 "
            "(m / (d r), or m with sensing.measurements_unit: count), needed by grid.problem "
            "'sensing'"
        )
    for key, problem in (("measurements", "sensing"), ("imbalance", "asymmetric")):
        if grid.get(key) is not None and problem not in problems:
            raise ConfigError(
                f"grid.{key} = {grid[key]!r}: allowed only when grid.problem includes "
                f"{problem!r} (grid.problem = {problems!r})"
            )
    if config.get("sensing") is not None and "sensing" not in problems:
        raise ConfigError(
            f"sensing = {config['sensing']!r}: allowed only when grid.problem includes 'sensing'"
        )
    if "sensing" in problems and options["measurements_unit"] == "count":
        for value in expand_values(grid["measurements"], key="grid.measurements"):
            if value != int(value):
                raise ConfigError(
                    f"grid.measurements value {value!r}: allowed integers m >= 1 with "
                    "sensing.measurements_unit: count"
                )
    return problems


def problem_variants(config: dict) -> tuple[ProblemVariant, ...]:
    """The values of the ``problem`` dim of a validated config, sorted.

    ``factorization`` once, ``sensing`` once per ``grid.measurements`` value, ``asymmetric``
    once per ``grid.imbalance`` value (default ``[1]``).
    """
    problems = check_problem_keys(config)
    grid = config["grid"]
    variants = []
    for problem in problems:
        rank = PROBLEMS.index(problem)
        if problem == "sensing":
            values = expand_values(grid["measurements"], key="grid.measurements")
            variants += [ProblemVariant(rank, problem, measurements=v) for v in values]
        elif problem == "asymmetric":
            values = expand_values(grid.get("imbalance") or [1.0], key="grid.imbalance")
            variants += [ProblemVariant(rank, problem, imbalance=v) for v in values]
        else:
            variants.append(ProblemVariant(rank, problem))
    return tuple(sorted(variants))


def problem_identity(config: dict) -> dict:
    """What the problem settings add to the run identity: nothing for a factorization-only
    config (its chunk ids are those of configs written before the problem axis), else the
    ``sensing`` options when sensing runs."""
    problems = check_problem_keys(config)
    if problems == [FACTORIZATION]:
        return {}
    identity = {"problems": problems}
    if "sensing" in problems:
        identity["sensing"] = sensing_options(config)
    return identity
