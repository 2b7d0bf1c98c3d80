"""Tests of mfsim.config: schema, defaults, semantic checks, error messages."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mfsim.config.validate import (
    SCHEMA_PATH,
    ConfigError,
    load_config,
    read_config_file,
    read_eigenvalues_file,
)
from tests.helpers import run_snakemake, write_config

CONFIG_DIR = Path(__file__).parents[2] / "config"
CONFIG_FILES = sorted(CONFIG_DIR.glob("*.yaml"))


def linear_config() -> dict:
    """A small valid config of the linear family."""
    return {
        "sweep": "test",
        "spectrum": {"family": "linear"},
        "grid": {
            "d": [50, 100],
            "r": [2],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"count": 4},
        },
        "run": {"steps": 100},
    }


def custom_config(eigenvalues_file: Path, d: int) -> dict:
    return {
        "sweep": "custom",
        "spectrum": {"family": "custom", "eigenvalues_file": str(eigenvalues_file)},
        "grid": {"d": [d], "r": [2], "varpi": [0.5], "eta": [0.1], "seeds": [0, 1]},
        "run": {"steps": 100},
    }


def assert_config_error(config: dict, *fragments: str) -> str:
    """Load `config`, expect a ConfigError whose message holds every fragment."""
    with pytest.raises(ConfigError) as raised:
        load_config(config, results_root=None)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------------
# config files, defaults


def test_config_dir_has_the_documented_sweeps():
    names = {path.stem for path in CONFIG_FILES}
    assert {"config", "figure1", "logd_scan", "eta_varpi_map", "large_d_flat"} <= names


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[path.name for path in CONFIG_FILES])
def test_every_config_file_validates(path):
    config = load_config(path)
    assert config["sweep"] == read_config_file(path)["sweep"]
    assert config["run"]["dtype"] in ("float64", "float32")


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[path.name for path in CONFIG_FILES])
def test_defaults_match_what_snakemake_validate_injects(path):
    from snakemake.utils import validate

    raw = read_config_file(path)
    by_snakemake = copy.deepcopy(raw)
    validate(by_snakemake, str(SCHEMA_PATH))
    assert load_config(path) == by_snakemake


def test_defaults_are_injected():
    config = load_config(linear_config(), results_root=None)
    assert config["spectrum"]["lambda_1"] == 1.0
    assert config["spectrum"]["bulk_bottom"] == 0.0
    assert config["run"]["record"] == {"policy": "auto"}
    assert config["run"]["epsilons"] == [1e-2, 1e-4, 1e-6]
    assert config["run"]["stop_error"] == 1e-10
    assert config["run"]["learned_tolerance"] == 0.01
    assert config["run"]["heatmap_steps"] == [0]
    assert config["run"]["dtype"] == "float64"
    assert config["dask"] == {"cluster": "local", "dashboard": False}
    assert config["chunking"] == {
        "target_seconds": 20,
        "max_runs_per_chunk": 4096,
        "seeds_per_batch": 64,
        "max_jobs": 5000,
        "min_job_seconds": 0,
    }
    assert config["limits"] == {"max_runs": 1_000_000, "max_bytes": 50_000_000_000}


def test_run_steps_default():
    config = linear_config()
    del config["run"]
    assert load_config(config, results_root=None)["run"]["steps"] == 2000


def test_slurm_scheduler_host_default_only_with_a_slurm_section():
    config = linear_config()
    config["dask"] = {"cluster": "slurm", "slurm": {"cores": 4, "memory": "8GB"}}
    loaded = load_config(config, results_root=None)
    assert loaded["dask"]["slurm"]["scheduler_host"] == "127.0.0.1"
    assert "slurm" not in load_config(linear_config(), results_root=None)["dask"]


def test_load_config_does_not_modify_its_argument_and_is_idempotent():
    raw = linear_config()
    snapshot = copy.deepcopy(raw)
    loaded = load_config(raw, results_root=None)
    assert raw == snapshot
    assert load_config(loaded, results_root=None) == loaded


def test_configs_do_not_share_default_objects():
    first = load_config(linear_config(), results_root=None)
    first["run"]["epsilons"].append(1e-9)
    first["run"]["record"]["policy"] = "all"
    second = load_config(linear_config(), results_root=None)
    assert second["run"]["epsilons"] == [1e-2, 1e-4, 1e-6]
    assert second["run"]["record"] == {"policy": "auto"}


def test_yaml_file_roundtrip(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(linear_config()))
    assert load_config(path, results_root=None) == load_config(linear_config(), results_root=None)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "absent.yaml")


def test_config_file_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


# --------------------------------------------------------------------------------------------
# schema errors


def test_unknown_top_level_key():
    config = linear_config()
    config["gird"] = {}
    assert_config_error(config, "gird: unknown key", "grid")


def test_unknown_nested_key_lists_allowed_keys():
    config = linear_config()
    config["run"]["stepz"] = 10
    assert_config_error(config, "run.stepz: unknown key", "steps", "epsilons")


def test_wrong_type():
    config = linear_config()
    config["run"]["steps"] = "many"
    assert_config_error(config, "run.steps", "integer")


def load_yaml_text(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return load_config(path, results_root=None)


def test_yaml_1_1_exponents_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-2 and 1e3 as strings; the schema wants numbers there
    text = yaml.safe_dump(linear_config())
    text = text.replace("eta:\n  - 0.1", "eta:\n  - 1e-2\n  - 2.5E-1")
    text = text.replace("  - 50\n  - 100\n", "  - 5e1\n  - 1e2\n")
    text = text.replace("steps: 100", "steps: 100\n  stop_error: 1e-12")
    assert "1e-2" in text and "5e1" in text and "1e-12" in text
    raw = yaml.safe_load(text)
    assert raw["grid"]["eta"][0] == "1e-2" and raw["run"]["stop_error"] == "1e-12"
    config = load_yaml_text(tmp_path, text)
    assert config["grid"]["eta"] == [0.01, 0.25]
    assert config["grid"]["d"] == [50, 100] and all(type(d) is int for d in config["grid"]["d"])
    assert config["run"]["stop_error"] == 1.0e-12


def test_snakemake_nested_config_strings_are_numbers():
    # `snakemake --config 'run={steps: 100}'` loads nested values with YAML's BaseLoader: all
    # strings; the same for null and booleans
    config = linear_config()
    config["run"] = {"steps": "100", "stop_error": "1e-8", "heatmap_steps": ["0", "50"]}
    config["grid"]["eta"] = {"start": "0.05", "stop": "1e-1", "num": "3", "spacing": "log"}
    config["grid"]["seeds"] = {"start": "2", "count": "4"}
    config["dask"] = {"dashboard": "false"}
    config = load_config(config, results_root=None)
    run = config["run"]
    assert run["steps"] == 100 and type(run["steps"]) is int
    assert run["stop_error"] == 1.0e-8 and run["heatmap_steps"] == [0, 50]
    assert config["grid"]["eta"] == {"start": 0.05, "stop": 0.1, "num": 3, "spacing": "log"}
    assert config["grid"]["seeds"] == {"start": 2, "count": 4}
    assert config["dask"]["dashboard"] is False


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("steps", "1_000", "'1_000' is not of type 'integer'"),
        ("steps", "1e2.5", "is not of type 'integer'"),
        ("steps", "12.5", "12.5 is not of type 'integer'"),
        ("stop_error", "small", "'small' is not of type 'number'"),
    ],
)
def test_strings_that_are_not_numbers_stay_errors(key, value, fragment):
    config = linear_config()
    config["run"][key] = value
    assert_config_error(config, f"run.{key}", fragment)


def test_strings_stay_strings_where_the_schema_wants_text():
    config = linear_config()
    config["sweep"] = "2024"
    config["dask"] = {"address": "1", "cluster": "address"}
    config = load_config(config, results_root=None)
    assert config["sweep"] == "2024" and config["dask"]["address"] == "1"


SLURM_YAML = """
dask:
  cluster: slurm
  slurm:
    cores: 4
    memory: 8GB
"""


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("walltime: 10:00:00", 'as the base-60 number 36000: quote it: walltime: "10:00:00"'),
        ("walltime: 55:00", 'quote it: walltime: "55:00"'),
        ("queue: no", 'as a boolean: quote it: queue: "no"'),
        ("account: 2024", 'YAML reads 2024 as a number: quote it: account: "2024"'),
        ("account:", "YAML reads an empty value as null"),
    ],
)
def test_yaml_traps_in_string_keys_get_a_targeted_hint(tmp_path, line, fragment):
    text = yaml.safe_dump(linear_config()) + SLURM_YAML + f"    {line}\n"
    with pytest.raises(ConfigError) as raised:
        load_yaml_text(tmp_path, text)
    key = line.split(":")[0]
    message = str(raised.value)
    assert message.startswith(f"dask.slurm.{key}:"), message
    assert fragment in message, message
    assert "1.0e-2" not in message


def test_snakemake_config_override_of_a_nested_number(tmp_path):
    """The real `snakemake --config 'run={steps: N}'` path (dry run)."""
    configfile = write_config(tmp_path, linear_config())
    ok = run_snakemake(tmp_path, configfile, "-n", "--config", "run={steps: 100}", cores=1)
    assert ok.returncode == 0, ok.stderr[-3000:]
    # the override is read as the number 0, not the string "0": the schema's minimum says so
    bad = run_snakemake(tmp_path, configfile, "-n", "--config", "run={steps: 0}", cores=1)
    assert bad.returncode != 0
    output = bad.stdout + bad.stderr
    assert "run.steps: 0 is less than the minimum of 1" in output, output[-3000:]
    assert not (tmp_path / "results").exists()


def test_missing_required_section():
    config = linear_config()
    del config["grid"]
    assert_config_error(config, "grid: required key is missing")


def test_bad_enum_lists_allowed_values():
    config = linear_config()
    config["spectrum"]["family"] = "gaussian"
    assert_config_error(config, "spectrum.family", "figure1", "linear", "flat", "custom")


def test_several_problems_are_reported_together():
    config = linear_config()
    config["grid"]["eta"] = [-1.0]
    config["run"]["steps"] = 0
    message = assert_config_error(config, "grid.eta[0]", "run.steps")
    assert message.startswith("2 problems")


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("grid", "d", [0], "grid.d[0]"),
        ("grid", "d", [10.5], "grid.d[0]"),
        ("grid", "r", [0], "grid.r[0]"),
        ("grid", "eta", [0.0], "grid.eta[0]"),
        ("grid", "eta", [-0.1], "grid.eta[0]"),
        ("grid", "varpi", [-0.5], "grid.varpi[0]"),
        ("grid", "varpi", [0.0], "grid.varpi[0]"),
        ("grid", "kappa", [0.0], "grid.kappa[0]"),
        ("grid", "seeds", [-1], "grid.seeds[0]"),
        ("grid", "seeds", {"count": 0}, "grid.seeds"),
        ("run", "steps", 0, "run.steps"),
        ("run", "stop_error", -1.0, "run.stop_error"),
        ("run", "learned_tolerance", 1.5, "run.learned_tolerance"),
        ("run", "epsilons", [0.0], "run.epsilons[0]"),
        ("run", "heatmap_steps", [-1], "run.heatmap_steps[0]"),
        ("run", "dtype", "float16", "run.dtype"),
        ("chunking", "target_seconds", 0, "chunking.target_seconds"),
        ("chunking", "seeds_per_batch", 0, "chunking.seeds_per_batch"),
        ("limits", "max_runs", 0, "limits.max_runs"),
    ],
)
def test_out_of_range_values(section, key, value, fragment):
    config = linear_config()
    config.setdefault(section, {})[key] = value
    assert_config_error(config, fragment)


@pytest.mark.parametrize("axis", ["d", "r", "kappa", "varpi", "eta", "seeds"])
def test_empty_lists(axis):
    config = linear_config()
    config["grid"][axis] = []
    assert_config_error(config, f"grid.{axis}", "non-empty")


@pytest.mark.parametrize("axis", ["eta", "epsilons"])
def test_duplicate_values(axis):
    config = linear_config()
    if axis == "eta":
        config["grid"]["eta"] = [0.1, 0.1]
    else:
        config["run"]["epsilons"] = [1e-3, 1e-3]
    assert_config_error(config, axis, "non-unique")


def test_range_spec_missing_keys_are_named():
    config = linear_config()
    config["grid"]["d"] = {"start": 10, "stop": 100}
    assert_config_error(config, "grid.d.num: required key is missing", "grid.d.spacing")


def test_log_range_needs_positive_endpoints():
    config = linear_config()
    config["grid"]["varpi"] = {
        "scale": [1.0],
        "exponent": {"start": 0, "stop": 1, "num": 3, "spacing": "log"},
    }
    assert_config_error(config, "grid.varpi")


def test_record_policy_needs_its_parameter():
    config = linear_config()
    config["run"]["record"] = {"policy": "stride"}
    assert_config_error(config, "run.record.stride: required key is missing")
    config["run"]["record"] = {"policy": "log"}
    assert_config_error(config, "run.record.num: required key is missing")


def test_dask_cluster_needs_its_settings():
    config = linear_config()
    config["dask"] = {"cluster": "address"}
    assert_config_error(config, "dask.address: required key is missing")
    config["dask"] = {"cluster": "slurm"}
    assert_config_error(config, "dask.slurm: required key is missing")
    config["dask"] = {
        "cluster": "slurm",
        "slurm": {"cores": 4, "memory": "8GB", "minimum_jobs": 5, "maximum_jobs": 2},
    }
    assert_config_error(config, "dask.slurm.minimum_jobs")


def test_dask_security_needs_all_three_files():
    config = linear_config()
    config["dask"] = {"cluster": "local", "security": {"tls_ca_file": "ca.pem"}}
    assert_config_error(config, "dask.security.tls_client_cert", "dask.security.tls_client_key")


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "a..b", "/abs", ".hidden", "", "x\n"])
def test_bad_sweep_names(name):
    config = linear_config()
    config["sweep"] = name
    assert_config_error(config, "sweep")


@pytest.mark.parametrize("name", ["default", "run-1", "logd_scan.v2", "A1"])
def test_good_sweep_names(name):
    config = linear_config()
    config["sweep"] = name
    assert load_config(config, results_root=None)["sweep"] == name


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_numbers(value):
    config = linear_config()
    config["grid"]["eta"] = [0.1, value]
    assert_config_error(config, "grid.eta[1]", "finite")


# --------------------------------------------------------------------------------------------
# semantic checks


def test_d_must_exceed_r():
    config = linear_config()
    config["grid"]["r"] = [2, 50]
    config["grid"]["kappa"] = [100]
    assert_config_error(config, "grid.d", "d > r")


def test_kappa_required_for_linear_and_flat():
    for family in ("linear", "flat"):
        config = linear_config()
        config["spectrum"]["family"] = family
        del config["grid"]["kappa"]
        assert_config_error(config, "grid.kappa: required key is missing")
        config["grid"]["kappa"] = None
        assert_config_error(config, "grid.kappa")


def test_kappa_below_r_is_impossible():
    config = linear_config()
    config["grid"]["kappa"] = [1.5, 5]
    assert_config_error(config, "grid.kappa", "kappa = 1.5", "kappa >= 2")


def test_kappa_equal_to_r_is_allowed_without_bulk_bottom():
    config = linear_config()
    config["grid"]["kappa"] = [2]
    assert load_config(config, results_root=None)["grid"]["kappa"] == [2]


def test_bulk_bottom_needs_a_larger_kappa():
    config = linear_config()
    config["spectrum"]["bulk_bottom"] = 0.5
    config["grid"]["kappa"] = [2]
    assert_config_error(config, "grid.kappa", "bulk_bottom", "kappa >= 4")
    config["grid"]["kappa"] = [4]
    load_config(config, results_root=None)


def test_bulk_bottom_at_or_above_lambda_1():
    config = linear_config()
    config["spectrum"]["bulk_bottom"] = 1.0
    assert_config_error(config, "spectrum.bulk_bottom", "lambda_1")


def test_bulk_bottom_only_for_linear():
    config = linear_config()
    config["spectrum"] = {"family": "flat", "bulk_bottom": 0.1}
    assert_config_error(config, "spectrum.bulk_bottom", "linear")


def figure1_config() -> dict:
    return {
        "sweep": "fig1",
        "spectrum": {"family": "figure1"},
        "grid": {"d": [40], "r": [2], "varpi": [0.5], "eta": [0.1], "seeds": [0]},
    }


def test_figure1_with_kappa():
    config = figure1_config()
    config["grid"]["kappa"] = [5]
    assert_config_error(config, "grid.kappa", "figure1")


def test_figure1_with_null_kappa_is_fine():
    config = figure1_config()
    config["grid"]["kappa"] = None
    assert load_config(config, results_root=None)["grid"]["kappa"] is None


def test_figure1_rank_and_dimension():
    config = figure1_config()
    config["grid"]["r"] = [3]
    assert_config_error(config, "grid.r", "figure1")
    config = figure1_config()
    config["grid"]["d"] = [3]
    assert_config_error(config, "grid.d", "d >= 4")


def test_figure1_fixes_lambda_1():
    config = figure1_config()
    config["spectrum"]["lambda_1"] = 2.0
    assert_config_error(config, "spectrum.lambda_1", "figure1")


def test_heatmap_steps_beyond_steps():
    config = linear_config()
    config["run"]["heatmap_steps"] = [0, 500]
    assert_config_error(config, "run.heatmap_steps", "[500]")


def test_limits_are_checked_by_load_config():
    config = linear_config()
    config["limits"] = {"max_runs": 3}
    assert_config_error(config, "limits.max_runs", "8 runs")


# --------------------------------------------------------------------------------------------
# custom spectrum


def write_eigenvalues(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eigenvalues.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", ["3\n2\n1\n\n0.5\n0.5\n0.25\n", "  3 2 1 0.5 0.5 0.25\n\n"])
def test_custom_spectrum_valid(tmp_path, text):
    path = write_eigenvalues(tmp_path, text)
    config = load_config(custom_config(path, 6), results_root=None)
    assert config["spectrum"]["eigenvalues_file"] == str(path)
    assert read_eigenvalues_file(path).tolist() == [3, 2, 1, 0.5, 0.5, 0.25]


def test_custom_spectrum_file_with_byte_order_mark(tmp_path):
    # what Notepad and Excel write: the BOM is not part of the first number
    path = tmp_path / "eigenvalues.txt"
    path.write_bytes(b"\xef\xbb\xbf1.0\n0.5\n0.3\n0.2\n0.1\n0.0\n")
    assert read_eigenvalues_file(path).tolist() == [1.0, 0.5, 0.3, 0.2, 0.1, 0.0]
    load_config(custom_config(path, 6), results_root=None)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("1 2\n0.5 0.6\n0.3 0.4\n", ["line 1: 2 values (1 2)", "one eigenvalue per line"]),
        ("3\n2\n1 0.5\n", ["line 3: 2 values (1 0.5)", "columns"]),
        ("3\n2\n1_0\n0\n", ["line 3: '1_0' is not a number", "underscores"]),
    ],
    ids=["two-columns", "one-line-with-two", "underscore"],
)
def test_custom_spectrum_file_layout_errors_name_the_line(tmp_path, text, fragments):
    path = write_eigenvalues(tmp_path, text)
    message = assert_config_error(custom_config(path, 4), "spectrum.eigenvalues_file", *fragments)
    assert "decreasing" not in message


def test_custom_spectrum_relative_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    write_eigenvalues(tmp_path, "3\n2\n1\n0\n")
    monkeypatch.chdir(tmp_path)
    load_config(custom_config(Path("eigenvalues.txt"), 4), results_root=None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("3 2 x 1\n", "'x' is not a number"),
        ("3 2 1 1.5\n", "decreasing"),
        ("3 2 nan 1\n", "finite"),
        ("3 2 inf 1\n", "finite"),
        ("3 2 1 -1\n", ">= 0"),
        ("\n  \n", "no eigenvalues"),
    ],
    ids=["non-numeric", "not-decreasing", "nan", "inf", "negative", "empty"],
)
def test_custom_spectrum_bad_file_contents(tmp_path, text, fragment):
    path = write_eigenvalues(tmp_path, text)
    assert_config_error(custom_config(path, 4), "spectrum.eigenvalues_file", fragment)


def test_custom_spectrum_top_must_be_strictly_decreasing(tmp_path):
    path = write_eigenvalues(tmp_path, "3 2 2 1\n")
    assert_config_error(custom_config(path, 4), "spectrum.eigenvalues_file", "strictly")


def test_custom_spectrum_missing_file(tmp_path):
    assert_config_error(
        custom_config(tmp_path / "absent.txt", 4), "spectrum.eigenvalues_file", "does not exist"
    )


def test_custom_spectrum_directory_instead_of_file(tmp_path):
    assert_config_error(custom_config(tmp_path, 4), "spectrum.eigenvalues_file", "not a regular")


def test_custom_spectrum_unreadable_file(tmp_path):
    # binary content: unreadable as text whoever runs the test (chmod 000 does not stop root)
    path = tmp_path / "eigenvalues.bin"
    path.write_bytes(b"\xff\xfe\x00\x81 3 2 1 0")
    assert_config_error(custom_config(path, 4), "spectrum.eigenvalues_file", "cannot be read")


def test_custom_spectrum_d_must_be_the_file_length(tmp_path):
    path = write_eigenvalues(tmp_path, "3 2 1 0\n")
    assert_config_error(custom_config(path, 5), "grid.d", "[4]")


def test_custom_spectrum_needs_the_file_and_forbids_kappa(tmp_path):
    path = write_eigenvalues(tmp_path, "3 2 1 0\n")
    config = custom_config(path, 4)
    del config["spectrum"]["eigenvalues_file"]
    assert_config_error(config, "spectrum.eigenvalues_file: required key is missing")
    config = custom_config(path, 4)
    config["grid"]["kappa"] = [5]
    assert_config_error(config, "grid.kappa", "custom")


def test_eigenvalues_file_only_for_custom(tmp_path):
    config = linear_config()
    config["spectrum"]["eigenvalues_file"] = str(write_eigenvalues(tmp_path, "1 0\n"))
    assert_config_error(config, "spectrum", "only allowed with family custom")


def test_custom_spectrum_lambda_1_comes_from_the_file(tmp_path):
    path = write_eigenvalues(tmp_path, "3 2 1 0\n")
    config = custom_config(path, 4)
    config["spectrum"]["lambda_1"] = 3.0
    load_config(config, results_root=None)
    config["spectrum"]["lambda_1"] = 2.0
    assert_config_error(config, "spectrum.lambda_1", "custom")
