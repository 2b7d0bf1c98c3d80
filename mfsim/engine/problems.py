"""Dispatch of ``mfsim.simulate(problem=...)`` to the asymmetric and sensing engines.

Arguments are checked here, before any work; the errors name the argument.
"""

from __future__ import annotations

import numpy as np

from mfsim.arguments import ArgumentError, check_number
from mfsim.engine.problem_common import PROBLEMS, eigenvalue_vector, explicit_points

__all__ = ["check_problem", "simulate_problem"]

_FACTORIZATION_ONLY = {
    "record": "auto",
    "record_stride": None,
    "record_num": None,
    "dtype": "float64",
    "reduce": "auto",
    "kernel": "auto",
}
_OPTIONS = {
    "asymmetric": ("imbalance", "Y0"),
    "sensing": ("measurements", "operator"),
}


def check_problem(problem, options: dict) -> None:
    """Refuse an unknown problem, or options given to a problem that does not take them."""
    if not isinstance(problem, str) or problem not in PROBLEMS:
        raise ArgumentError(f"problem = {problem!r}: allowed {', '.join(map(repr, PROBLEMS))}")
    for name, value in options.items():
        if value is not None and name not in _OPTIONS.get(problem, ()):
            raise ArgumentError(
                f"{name} = {value!r} applies to problem="
                f"{[p for p, names in _OPTIONS.items() if name in names][0]!r}, "
                f"not to problem={problem!r}"
            )


def simulate_problem(problem, spec, *, eta, steps, varpi, seeds, X0, options, unused, attrs):  # noqa: N803
    """Run ``problem`` ('asymmetric' or 'sensing'); see :func:`mfsim.simulate`."""
    for name, value in unused.items():
        if value != _FACTORIZATION_ONLY[name]:
            raise ArgumentError(
                f"{name} = {value!r}: only problem='factorization' takes it "
                f"(problem={problem!r} records every step in float64)"
            )
    lam = eigenvalue_vector(spec)
    d, r = int(spec.d), spec.r
    x0 = None if X0 is None else explicit_points("X0", X0, d, r)
    seeds = np.asarray(seeds, dtype=np.int64)
    if x0 is not None and len(seeds) != len(x0):
        seeds = np.arange(len(x0), dtype=np.int64)
    if problem == "asymmetric":
        from mfsim.engine.asymmetric import simulate_asymmetric

        imbalance = options["imbalance"]
        imbalance = 1.0 if imbalance is None else imbalance
        imbalance = check_number("imbalance", imbalance, low=0, low_open=True)
        y0 = options["Y0"]
        if (x0 is None) != (y0 is None):
            raise ArgumentError("X0 and Y0: give both starting factors or neither")
        if y0 is not None:
            y0 = explicit_points("Y0", y0, d, r)
            if y0.shape != x0.shape:
                raise ArgumentError(f"Y0 has shape {y0.shape}: allowed X0's shape {x0.shape}")
        return simulate_asymmetric(
            spec, lam, eta=eta, steps=steps, varpi=varpi, imbalance=imbalance,
            seeds=seeds, X0=x0, Y0=y0, attrs=attrs,
        )  # fmt: skip
    from mfsim.engine.sensing import simulate_sensing
    from mfsim.engine.sensing_operators import make_operator

    operator = options["operator"]
    operator = "rank_one" if operator is None else operator
    op = make_operator(operator, options["measurements"], seeds, d)
    return simulate_sensing(
        spec, lam, op, eta=eta, steps=steps, varpi=varpi, seeds=seeds, X0=x0, attrs=attrs
    )
