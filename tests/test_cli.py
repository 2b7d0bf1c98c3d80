"""The command line: help and defaults, --version, output formats, no overwrite, no warnings."""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mfsim import cli

ROOT = Path(__file__).parents[1]
#: a flat bulk at d = 10^12 runs in well under a second (exact reduction of the bulk)
HUGE = ["--family", "flat", "--kappa", "5", "--d", str(10**12), "--steps", "30", "--quiet"]


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", ["run", "figure1"])
def test_every_flag_has_a_description_and_its_default(command):
    parser = subparsers()[command]
    text = flat(parser.format_help())
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(flags) >= 5
    for action in flags:
        assert action.help and len(action.help) > 8, action.dest
        assert flat(action.help) in text
        default = action.default
        if default is not None and default is not False:
            shown = default if isinstance(default, str) else repr(default)
            assert f"(default: {shown})" in text, (action.dest, text)


def test_run_defaults_are_documented():
    # the complaint: family figure1, 1000 steps, one seed were documented nowhere
    text = flat(subparsers()["run"].format_help())
    for fragment in ["(default: figure1)", "step limit (default: 1000)", "(default: 0)"]:
        assert fragment in text


def test_version_matches_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["--version"])
    assert raised.value.code == 0
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out.strip() == f"mfsim {declared}"


def test_existing_output_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    out = tmp_path / "one.zarr"
    out.mkdir()
    (out / "keep").write_text("mine")

    def must_not_run(*args, **kwargs):
        raise AssertionError("simulate called although the output exists")

    monkeypatch.setattr(cli, "simulate", must_not_run)
    assert cli.main(["run", *HUGE, "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "keep").read_text() == "mine"


def test_overwrite_replaces_the_output(tmp_path):
    out = tmp_path / "one.zarr"
    assert cli.main(["run", *HUGE, "--seeds", "0-1", "--out", str(out)]) == 0
    assert cli.main(["run", *HUGE, "--seeds", "3", "--out", str(out), "--overwrite"]) == 0
    assert xr.open_zarr(out)["seed"].values.tolist() == [3]


def test_run_writes_int64_coordinates_beyond_int32_without_warnings(tmp_path):
    out = tmp_path / "huge.zarr"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["run", *HUGE, "--out", str(out)]) == 0
    assert [str(w.message) for w in caught] == []
    back = xr.open_zarr(out)
    assert back["d"].dtype == np.int64 and int(back["d"].values.ravel()[0]) == 10**12


def test_netcdf_output_holds_d_1e12(tmp_path):
    """The netcdf extra is part of the test extra: h5netcdf and h5py are installed."""
    out = tmp_path / "huge.nc"
    assert cli.main(["run", *HUGE, "--out", str(out)]) == 0
    with xr.open_dataset(out, engine=cli.NETCDF_ENGINE) as back:
        assert back["d"].dtype == np.int64 and int(back["d"].values.ravel()[0]) == 10**12


@pytest.mark.parametrize("missing", ["h5netcdf", "h5py"])
def test_netcdf_without_its_packages_is_refused_before_computing(
    tmp_path, capsys, monkeypatch, missing
):
    """Issue 20 item 4: h5netcdf without h5py failed after the run ("backend not available")."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util, "find_spec", lambda name: None if name == missing else find_spec(name)
    )
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: pytest.fail("computed before refusing"))
    out = tmp_path / "huge.nc"
    assert cli.main(["run", *HUGE, "--out", str(out)]) == 2 and not out.exists()
    err = capsys.readouterr().err
    assert f"missing: {missing}" in err and "'.[netcdf]'" in err and ".zarr" in err


def test_unknown_suffix_is_refused(tmp_path, capsys):
    assert cli.main(["run", *HUGE, "--out", str(tmp_path / "x.csv")]) == 2
    assert "must end in .zarr or .nc" in capsys.readouterr().err


def test_terminal_shows_no_library_warnings(tmp_path):
    """The installed command as a user runs it: stdout is the summary, stderr is empty."""
    out = tmp_path / "one.zarr"
    result = subprocess.run(
        [sys.executable, "-m", "mfsim.cli", "run", "--d", "200", "--steps", "50", "--quiet"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # the summary, then (50 steps leave t_1^* undetermined) one note saying so
    assert re.fullmatch(
        r"wrote .*one\.zarr: 1 runs, .*\nnote: t_k_star is undetermined .* About steps=\d+ .*\n",
        result.stdout,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4000", 4000), ("1e12", 10**12), ("log10:300", 10**300), ("log10:2", 100)],
)
def test_d_is_given_in_every_form_the_api_accepts(text, expected):
    """The README's d forms (integer, float, log10) work on the command line, exactly."""
    args = cli.build_parser().parse_args(["run", "--d", text, "--out", "x.zarr"])
    assert args.d == expected and isinstance(args.d, int)


@pytest.mark.parametrize("text", ["abc", "1e309", "log10:10001", "log10:x", "-5", "2.5"])
def test_bad_d_is_refused_with_the_allowed_forms(text, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--d", text, "--out", "x.zarr"])
    assert "give d as an integer, a float such as 1e12, or log10:x" in capsys.readouterr().err


SMALL = ["--family", "linear", "--kappa", "4", "--d", "20", "--r", "2", "--eta", "0.1",
         "--steps", "30", "--seeds", "0-1", "--quiet"]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "options"),
    [
        (
            ["--problem", "sensing", "--measurements", "200"],
            {"problem": "sensing", "measurements": 200},
        ),
        (
            ["--problem", "asymmetric", "--imbalance", "2"],
            {"problem": "asymmetric", "imbalance": 2.0},
        ),
    ],
)
def test_run_problem_writes_what_simulate_returns(tmp_path, flags, options):
    import mfsim

    out = tmp_path / "run.zarr"
    assert cli.main(["run", *SMALL, *flags, "--out", str(out)]) == 0
    stored = xr.open_zarr(out).load()
    spec = mfsim.spectrum("linear", 20, r=2, kappa=4)
    direct = mfsim.simulate(spec, eta=0.1, steps=30, seeds=[0, 1], **options)
    assert str(stored["problem"].values) == options["problem"]
    for name in ("error", "signal", "distance"):
        np.testing.assert_array_equal(stored[name].values, direct[name].values)


def test_run_problem_option_of_another_problem_is_refused_by_name(tmp_path, capsys):
    out = tmp_path / "run.zarr"
    assert cli.main(["run", *SMALL, "--problem", "asymmetric", "--measurements", "5",
                     "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "measurements = 5" in err and "'sensing'" in err and not out.exists()
