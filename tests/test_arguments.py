"""Issue 20 item 5: arguments checked at the door, by one rule for the API, the CLI and the config.

Every case gives one bad value of one argument and checks the one message: it names the
argument, shows the value as given and says what is allowed; and nothing runs before it.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import mfsim
from mfsim.arguments import (
    SEED_LIMIT,
    ArgumentError,
    check_environment,
    check_integer,
    check_number,
    check_seeds,
)
from mfsim.cli import main
from mfsim.spectra import SpectrumError

SPEC = dict(name="flat", d=40, r=2, kappa=5.0)


def _spec():
    return mfsim.spectrum("flat", 40, r=2, kappa=5.0)


# --------------------------------------------------------------------------------------------
# the rules


@pytest.mark.parametrize(
    "value, words",
    [
        (math.nan, "is NaN"),
        (-math.inf, "is infinite"),
        (np.float32("inf"), "is infinite"),
        ("0.1", "is a string; a finite number > 0: pass the number 0.1"),
        ("abc", "is a string"),
        (True, "got bool"),
        (None, "got NoneType"),
        (0.0, "is out of range; allowed: a finite number > 0"),
        ([0.1], "got list"),
    ],
)
def test_numbers(value, words):
    with pytest.raises(ArgumentError) as caught:
        check_number("eta", value, low=0, low_open=True)
    message = str(caught.value)
    assert message.startswith(f"eta = {value!r}") and words in message


@pytest.mark.parametrize(
    "value, words",
    [
        (2.0, "is a float; allowed: an integer >= 1 (write 2)"),
        (np.float64(100.0), "is a float"),
        (1.7, "is a float"),
        (math.nan, "is NaN"),
        ("100", "is a string; an integer >= 1: pass the number 100"),
        (np.bool_(True), "got a boolean"),
        (0, "is out of range; allowed: an integer >= 1"),
    ],
)
def test_integers(value, words):
    with pytest.raises(ArgumentError) as caught:
        check_integer("steps", value, low=1)
    assert str(caught.value).startswith(f"steps = {value!r}") and words in str(caught.value)


@pytest.mark.parametrize(
    "seeds",
    [[0, 1, 2], (0, 1, 2), range(3), np.arange(3), np.arange(3, dtype=np.uint64), iter([0, 1, 2])],
)
def test_seeds_take_any_iterable(seeds):
    assert check_seeds(seeds) == [0, 1, 2]
    assert check_seeds(s for s in range(3)) == [0, 1, 2]  # a generator


@pytest.mark.parametrize(
    "seeds, words",
    [
        ([1.2, 1.7], "seeds[0] = 1.2 is a float"),
        ([0.5], "seeds[0] = 0.5 is a float"),
        ([2.0], "seeds[0] = 2.0 is a float; allowed: integers with 0 <= seed < 2**63 (write 2)"),
        ([SEED_LIMIT], f"seeds[0] = {SEED_LIMIT} is out of range"),
        (np.array([2**64 - 1], dtype=np.uint64), "np.uint64(18446744073709551615) is out of range"),
        ([-1], "seeds[0] = -1 is out of range"),
        ([3, 1, 3], "seed 3 is given twice (positions 0 and 2)"),
        ([], "seeds is empty"),
        ("0-3", "seeds = '0-3' is text"),
        (np.zeros((2, 2), dtype=int), "a 2-d array"),
        (object(), "expected an integer or an iterable"),
    ],
)
def test_bad_seeds(seeds, words):
    with pytest.raises(ArgumentError) as caught:
        check_seeds(seeds)
    assert words in str(caught.value)


def test_seed_limit_is_what_the_store_and_the_streams_hold():
    """The largest allowed seed runs (SeedSequence takes it; the int64 coordinate holds it)."""
    big = SEED_LIMIT - 1
    ds = mfsim.simulate(_spec(), steps=3, seeds=[big, 0])
    assert ds.seed.dtype == np.int64 and ds.seed.values.tolist() == [big, 0]


@pytest.mark.parametrize(
    "environ, words",
    [
        ({"NUMBA_NUM_THREADS": "0"}, "NUMBA_NUM_THREADS = '0'"),
        ({"NUMBA_NUM_THREADS": "two"}, "NUMBA_NUM_THREADS = 'two'"),
        ({"NUMBA_NUM_THREADS": "-1"}, "must be an integer >= 1"),
        ({"NUMBA_THREADING_LAYER": "openmp"}, "NUMBA_THREADING_LAYER = 'openmp': allowed"),
    ],
)
def test_environment(environ, words):
    with pytest.raises(ArgumentError) as caught:
        check_environment(environ)
    assert words in str(caught.value)
    check_environment({"NUMBA_NUM_THREADS": "2", "NUMBA_THREADING_LAYER": "workqueue"})


# --------------------------------------------------------------------------------------------
# the API: mfsim.simulate and mfsim.spectrum, every argument


def _must_not_run(monkeypatch):
    from mfsim.engine import simulation

    monkeypatch.setattr(simulation, "initial_state", lambda *a, **k: pytest.fail("ran"))


@pytest.mark.parametrize(
    "argument, value, words",
    [
        ("eta", "0.1", "eta = '0.1' is a string"),
        ("eta", math.nan, "eta = nan is NaN"),
        ("eta", math.inf, "eta = inf is infinite"),
        ("eta", -0.1, "eta = -0.1 is out of range"),
        ("steps", 100.0, "steps = 100.0 is a float; allowed: an integer >= 1 (write 100)"),
        ("steps", "100", "steps = '100' is a string"),
        ("steps", 0, "steps = 0 is out of range"),
        ("varpi", math.nan, "varpi = nan is NaN"),
        ("varpi", "0.5", "varpi = '0.5' is a string"),
        ("stop_error", math.inf, "stop_error = inf is infinite"),
        ("stop_error", -1.0, "stop_error = -1.0 is out of range"),
        ("learned_tolerance", 1.0, "learned_tolerance = 1.0 is out of range"),
        ("learned_tolerance", math.nan, "learned_tolerance = nan is NaN"),
        ("epsilons", [1e-2, math.nan], "epsilons[1] = nan is NaN"),
        ("epsilons", "1e-2", "epsilons = '1e-2'"),
        ("seeds", [1.2, 1.7], "seeds[0] = 1.2 is a float"),
        ("seeds", [0.5], "seeds[0] = 0.5 is a float"),
        ("seeds", [2.0], "seeds[0] = 2.0 is a float"),
        ("seeds", [2**63], "seeds[0] = 9223372036854775808 is out of range"),
        ("seeds", [1, 1], "seed 1 is given twice"),
        ("heatmap_steps", [0, 2.5], "heatmap_steps[1] = 2.5 is a float"),
        ("r", 2.0, "r = 2.0 is a float"),
        ("dtype", "float16", "dtype = 'float16': allowed: float64 or float32"),
    ],
)
def test_simulate_checks_every_argument_before_running(argument, value, words, monkeypatch):
    _must_not_run(monkeypatch)
    with pytest.raises(ArgumentError) as caught:
        mfsim.simulate(_spec(), **{argument: value})
    assert words in str(caught.value)


def test_simulate_takes_a_generator_of_seeds():
    by_list = mfsim.simulate(_spec(), steps=5, seeds=[3, 4])
    by_generator = mfsim.simulate(_spec(), steps=5, seeds=(s for s in (3, 4)))
    assert by_generator.seed.values.tolist() == [3, 4]
    np.testing.assert_array_equal(by_list.error.values, by_generator.error.values)


@pytest.mark.parametrize(
    "family, argument, value, words",
    [
        ("flat", "kappa", math.nan, "kappa = nan is NaN"),
        ("flat", "kappa", math.inf, "kappa = inf is infinite"),
        ("flat", "kappa", "5", "kappa = '5' is a string"),
        ("linear", "lambda_1", math.nan, "lambda_1 = nan is NaN"),
        (
            "linear",
            "lambda_1",
            -1.0,
            "lambda_1 = -1.0 is out of range; allowed: a finite number > 0",
        ),
        ("linear", "bulk_bottom", math.nan, "bulk_bottom = nan is NaN"),
        ("linear", "bulk_bottom", -math.inf, "bulk_bottom = -inf is infinite"),
        ("staircase", "levels", 8.0, "levels = 8.0 is a float"),
        ("flat", "r", 2.0, "r = 2.0 is a float"),
        ("flat", "r", "2", "r = '2' is a string"),
        ("flat", "d", "4000", "d = '4000' is a string; pass the number 4000"),
        ("flat", "d", math.nan, "d = nan is NaN"),
        ("flat", "d", math.inf, "d = inf is infinite"),
    ],
)
def test_spectrum_names_the_argument_not_a_consequence(family, argument, value, words):
    """Issue 20: kappa = nan was blamed on the range (kappa >= r), lambda_1 = nan on
    bulk_bottom, a parameter the caller never set."""
    args = {"r": 2, "kappa": 5.0, "d": 4000} | {argument: value}
    d = args.pop("d")
    with pytest.raises(SpectrumError) as caught:
        mfsim.spectrum(family, d, **args)
    assert str(caught.value).startswith(words.split(" is ")[0].split(";")[0]), caught.value
    assert words in str(caught.value)


# --------------------------------------------------------------------------------------------
# the config (mfsim.sweep, mfsim plan, the Snakefile): the same rules, with key paths


def _config(section: str, key: str, value) -> dict:
    from tests.helpers import tiny

    config = tiny()
    config[section][key] = value
    return config


@pytest.mark.parametrize(
    "section, key, value, words",
    [
        ("grid", "seeds", [2.0, 3], "grid.seeds[0] = 2.0 is a float"),
        ("grid", "seeds", [2**63], "the largest seed is 9223372036854775808"),
        ("grid", "seeds", {"start": 2**63 - 1, "count": 2}, "allowed: integers with 0 <= seed"),
        ("grid", "r", [2.0], "grid.r[0] = 2.0 is a float"),
        ("grid", "kappa", [math.nan], "grid.kappa[0] = nan is NaN"),
        ("grid", "kappa", [-math.inf], "grid.kappa[0] = -inf is infinite"),
        ("grid", "eta", [0.1, math.inf], "grid.eta[1] = inf is infinite"),
        ("run", "steps", 100.0, "run.steps = 100.0 is a float; allowed: an integer >= 1"),
    ],
)
def test_sweep_refuses_the_same_values_with_the_key_path(section, key, value, words, tmp_path):
    with pytest.raises(mfsim.ConfigError) as caught:
        mfsim.sweep(_config(section, key, value), out=tmp_path / "never")
    assert words in str(caught.value)
    assert not (tmp_path / "never").exists()


def test_sweep_checks_the_environment_before_work(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "0")
    from tests.helpers import tiny

    with pytest.raises(mfsim.ConfigError, match="NUMBA_NUM_THREADS = '0'"):
        mfsim.sweep(tiny(), out=tmp_path / "never")


# --------------------------------------------------------------------------------------------
# the command line


RUN = ["run", "--family", "flat", "--kappa", "5", "--d", "40", "--steps", "5", "--quiet"]


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--steps", "100.0"], "argument --steps: value '100.0' = 100.0 is a float"),
        (["--seeds", "1,1"], "seed 1 is given twice"),
        (["--seeds", "0,9223372036854775808"], "seeds[1] = 9223372036854775808 is out of range"),
        (["--seeds", "0.5"], "give seeds as a range 0-15 or a list 1,4,9"),
        (["--r", "2.0"], "argument --r: value '2.0' = 2.0 is a float"),
        (["--kappa", "nan"], "kappa = nan is NaN"),
        (["--eta", "inf"], "eta = inf is infinite"),
        (["--varpi", "-1"], "varpi = -1.0 is out of range"),
        (["--lambda-1", "nan"], "lambda_1 = nan is NaN"),
    ],
)
def test_cli_refuses_the_same_values(flags, words, tmp_path, capsys):
    out = tmp_path / "x.zarr"
    try:
        code = main([*RUN, *flags, "--out", str(out)])
    except SystemExit as exit_:  # argparse's types refuse before the command starts
        code = exit_.code
    assert code == 2
    assert words in capsys.readouterr().err and not out.exists()


def test_cli_checks_the_environment_before_importing_numba(tmp_path):
    """Issue 20: NUMBA_NUM_THREADS=0 failed inside ``import numba`` with numba's words."""
    env = {"NUMBA_NUM_THREADS": "0", "PATH": "/usr/bin:/bin"}
    code = "import sys; from mfsim.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *RUN, "--out", str(tmp_path / "x.zarr")],
        env={**env, "PYTHONPATH": str(__import__("pathlib").Path(mfsim.__file__).parents[1])},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mfsim run: error: environment variable NUMBA_NUM_THREADS = '0': numba's thread count "
        "must be an integer >= 1; unset it or set e.g. NUMBA_NUM_THREADS=2"
    )
