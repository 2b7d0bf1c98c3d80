"""Command line: ``mfsim run`` (one configuration to Zarr/netCDF-4) and ``mfsim figure1``."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np

import mfsim
from mfsim.arguments import (
    SEED_RULE,
    ArgumentError,
    check_environment,
    check_integer,
    check_seeds,
)
from mfsim.spectra import FAMILIES, SpectrumError, as_dimension, spectrum

FIGURE1_STEPS = (0, 37, 80, 140, 300)
OUTPUT_SUFFIXES = (".zarr", ".nc")
#: netCDF-4 (HDF5) holds int64 and float64 coordinates such as d = 10^12; scipy's netCDF-3
#: writer, xarray's fallback, cannot, so .nc is only written through this engine.
NETCDF_ENGINE = "h5netcdf"
#: h5netcdf installs without an HDF5 backend: h5py is the one the ``netcdf`` extra installs.
NETCDF_PACKAGES = (NETCDF_ENGINE, "h5py")


def simulate(*args, **kwargs):
    """:func:`mfsim.engine.simulation.simulate`, imported when a command runs (after the
    environment check of :func:`main`: importing the engine imports numba)."""
    from mfsim.engine.simulation import simulate as engine_simulate

    return engine_simulate(*args, **kwargs)


def _dimension(text: str) -> int:
    """d from the command line: ``4000``, ``1e12`` or ``log10:138`` (exact integer)."""
    text = text.strip()
    try:
        if text.lower().startswith("log10:"):
            return as_dimension({"log10": float(text.split(":", 1)[1])})
        return as_dimension(int(text) if text.isdigit() else float(text))
    except (ValueError, SpectrumError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give d as an integer, a float such as 1e12, or log10:x ({error})"
        ) from None


def _seeds(text: str) -> list[int]:
    """'0-15' or '1,2,5' -> list of seeds (mfsim.arguments.check_seeds: 0 <= seed < 2**63,
    unique)."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give seeds as a range 0-15 or a list 1,4,9 of {SEED_RULE}"
            ) from None
    try:
        return check_seeds(seeds, name="seeds")
    except ArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _integer(low: int | None = None):
    """An argparse type: an integer (not 100.0) >= `low`, by mfsim.arguments.check_integer."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        try:
            return check_integer(f"value {text!r}", value, low=low)
        except ArgumentError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _number(text: str) -> float:
    """An argparse type: a number; NaN and infinity are named by the API's checks."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


DESCRIPTION = (
    "Gradient descent for matrix factorization from large initialization: run one "
    "configuration (a batch of seeds) or the paper's Figure 1. Grids of configurations are run "
    "by Snakemake: snakemake --cores 2 (see the README)."
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: ...)" to a flag's help, except for flags without a default value."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _check_out(out: Path, overwrite: bool) -> str | None:
    """Why `out` cannot be written (checked before any computation), or None."""
    if out.suffix not in OUTPUT_SUFFIXES:
        return f"--out must end in .zarr or .nc, got {out}"
    missing = [name for name in NETCDF_PACKAGES if importlib.util.find_spec(name) is None]
    if out.suffix == ".nc" and missing:
        return (
            f"--out {out}: writing netCDF-4 needs the packages {' and '.join(NETCDF_PACKAGES)} "
            f"(missing: {', '.join(missing)}; python3 -m pip install -e '.[netcdf]' in the "
            f"project, or pip install {' '.join(missing)}); or write a .zarr store"
        )
    if out.exists() and not overwrite:
        return f"--out {out} exists; pass --overwrite to replace it"
    return None


def _write(ds, out: Path) -> None:
    """Write `ds` to a Zarr store or a netCDF-4 file at `out`, atomically: the whole output is
    written and flushed under a temporary name, then renamed onto `out`; an existing `out`
    (--overwrite) is replaced only then, and kept unchanged if the write fails
    (:mod:`mfsim.store.atomic`)."""
    from mfsim.store.atomic import atomic_file, atomic_store
    from mfsim.store.layout import ZARR_FORMAT, dataset_disk_bytes

    estimate = dataset_disk_bytes(ds)
    if out.suffix == ".nc":
        with atomic_file(out, estimate_bytes=estimate) as tmp:
            ds.to_netcdf(tmp, engine=NETCDF_ENGINE)
        return
    info = {"kind": "run", "n_runs": int(ds.sizes["seed"]), "mfsim_version": mfsim.__version__}
    with atomic_store(out, info, estimate_bytes=estimate) as tmp:
        # the sweep store's Zarr format: consolidated metadata is part of format 2 (format 3
        # warns that it is not in its specification)
        ds.to_zarr(tmp, mode="w-", zarr_format=ZARR_FORMAT, consolidated=True)


def _check_space(ds, out: Path) -> str | None:
    """Why `ds` cannot be written at `out` for lack of space, or None. The previous `out`
    stays until the new one is complete, so its space does not count."""
    import shutil

    from mfsim.store.atomic import format_bytes
    from mfsim.store.layout import dataset_disk_bytes

    estimate = dataset_disk_bytes(ds)
    out.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out.parent).free
    if estimate <= free:
        return None
    kept = " (the previous one stays until the new one is complete)" if out.exists() else ""
    return (
        f"--out {out}: the output needs an estimated {format_bytes(estimate)}{kept} but only "
        f"{format_bytes(free)} are free in {out.parent}; free some space there or write "
        "elsewhere, then run again"
    )


def cmd_run(args) -> int:
    from mfsim.store.atomic import DiskFullError
    from mfsim.store.lock import WriterLockedError, writer_lock

    problem = _check_out(args.out, args.overwrite)
    if problem:
        print(f"mfsim run: error: {problem}", file=sys.stderr)
        return 2
    try:
        # one writer per output, from the start of the computation
        with writer_lock(args.out, "this output"):
            return _run(args)
    except (WriterLockedError, DiskFullError) as error:
        print(f"mfsim run: error: {error}", file=sys.stderr)
        return 1


def _run(args) -> int:
    params = {}
    if args.lambda_1 is not None:
        params["lambda_1"] = args.lambda_1
    if args.eigenvalues_file:
        params["path"] = args.eigenvalues_file
    try:
        spec = spectrum(
            args.family,
            None if args.family == "custom" else args.d,
            r=args.r,
            kappa=args.kappa,
            **params,
        )
        # imported here: importing the engine imports numba (after the environment check)
        from mfsim.engine.advice import StepLimitWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StepLimitWarning)
            ds = simulate(
                spec,
                eta=args.eta,
                steps=args.steps,
                varpi=args.varpi,
                seeds=args.seeds,
                progress=not args.quiet,
                **_run_options(args),
            )
    except (SpectrumError, ValueError) as err:
        print(f"mfsim run: error: {err}", file=sys.stderr)
        return 2
    problem = _check_space(ds, args.out)
    if problem:
        print(f"mfsim run: error: {problem}", file=sys.stderr)
        return 1
    _write(ds, args.out)
    if "status" not in ds:  # the problems other than factorization run every step
        print(f"wrote {args.out}: {ds.sizes['seed']} runs of problem {args.problem}")
        return 0
    status = np.bincount(ds.status.values.astype(int), minlength=4)
    print(
        f"wrote {args.out}: {ds.sizes['seed']} runs, converged {status[0]}, "
        f"max_steps {status[1]}, diverged {status[2]}, nonfinite {status[3]}"
    )
    for warning in caught:
        if issubclass(warning.category, StepLimitWarning):
            # part of the run's summary: the step limit left stages undetermined
            print(f"note: {warning.message}")
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return 0


def _run_options(args) -> dict:
    """The keyword arguments of ``simulate`` that depend on ``--problem``: the recording and
    stop options of factorization, or the options of sensing (``--measurements``,
    ``--operator``) and asymmetric (``--imbalance``). An option of another problem is passed
    on, so that ``simulate`` refuses it by name."""
    options = {"problem": args.problem}
    for name in ("measurements", "operator", "imbalance"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.problem == "factorization":
        options.update(
            stop_error=args.stop_error, heatmap_steps=args.heatmap_steps, dtype=args.dtype
        )
    elif args.dtype != "float64":
        options["dtype"] = args.dtype  # refused by name: the other problems run in float64
    return options


def cmd_figure1(args) -> int:
    from mfsim.output.plots import plot_figure1

    if (args.out / "figure1.nc").exists() and not args.overwrite:
        print(
            f"mfsim figure1: error: {args.out} already holds figure1.nc; pass --overwrite to "
            "replace it",
            file=sys.stderr,
        )
        return 2
    spec = spectrum("figure1", args.d)
    ds = simulate(
        spec,
        eta=0.1,
        steps=args.steps,
        varpi=0.5,
        seeds=[args.seed],
        heatmap_steps=FIGURE1_STEPS,
        progress=not args.quiet,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    files = plot_figure1(ds, args.out / "figure1")
    from mfsim.store.atomic import atomic_file

    with atomic_file(args.out / "figure1.nc") as tmp:
        ds.to_netcdf(tmp)
    for path in files:
        print(f"wrote {path}")
    return 0


def cmd_status(args) -> int:
    from mfsim.execute.progress import format_status, sweep_status

    try:
        status = sweep_status(args.sweep_dir)
    except FileNotFoundError as error:
        print(f"mfsim status: {error}", file=sys.stderr)
        return 2
    print(format_status(args.sweep_dir, status))
    return 0


def cmd_plan(args) -> int:
    from mfsim.config.errors import ConfigError
    from mfsim.config.model import parse
    from mfsim.config.validate import read_config_file
    from mfsim.plan.budget import apply_job_budget, format_budget, read_profile
    from mfsim.plan.chunk_plan import make_plan
    from mfsim.plan.grid import estimate_sweep, format_estimate
    from mfsim.plan.guidance import format_warnings, plan_warnings

    profile = None
    try:
        if args.profile is not None:
            profile = read_profile(args.profile)
            raw = apply_job_budget(read_config_file(args.config), profile["job_budget"])
            config = parse(raw)
        else:
            config = parse(args.config)
        plan = make_plan(config)
    except (ConfigError, OSError, ValueError) as error:
        print(f"mfsim plan: invalid config {args.config}: {error}", file=sys.stderr)
        return 2
    estimate = estimate_sweep(config, args.cores, list(plan.chunks))
    print(f"{args.config} (sweep {config.sweep!r}): {format_estimate(estimate, args.cores)}")
    chunking = config.chunking
    print(f"jobs: {format_budget(list(plan.chunks), chunking, plan.target_seconds, profile)}")
    for line in format_warnings(plan_warnings(config)):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    formatter = _HelpFormatter
    parser = argparse.ArgumentParser(
        prog="mfsim", description=DESCRIPTION, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"mfsim {mfsim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,figure1,status,plan}")
    run = sub.add_parser(
        "run",
        help="run one configuration (a batch of seeds) and write a .zarr or .nc dataset",
        description="Run GD from X_0 = varpi N_0 for one (spectrum, d, r, varpi, eta) and a "
        "batch of seeds; write every diagnostic and stage time as an xarray Dataset.",
        formatter_class=formatter,
    )
    run.add_argument(
        "--family", choices=FAMILIES, default="figure1", help="spectrum family of Sigma"
    )
    run.add_argument(
        "--d",
        type=_dimension,
        default=4000,
        help="dimension d: an integer, 1e12, or log10:138 (up to log10:10000 for flat and "
        "staircase; "
        "ignored by family custom)",
    )
    run.add_argument("--r", type=_integer(1), default=2, help="rank r of X (figure1 needs 2)")
    run.add_argument(
        "--kappa",
        type=_number,
        help="condition number kappa = lambda_1 / Delta (required by families linear, flat)",
    )
    run.add_argument("--lambda-1", type=_number, help="top eigenvalue lambda_1 (default: 1)")
    run.add_argument(
        "--eigenvalues-file",
        type=Path,
        help="family custom: text file, one eigenvalue per line, decreasing",
    )
    run.add_argument("--varpi", type=_number, default=0.5, help="initialization scale varpi")
    run.add_argument("--eta", type=_number, default=0.1, help="step size eta")
    run.add_argument("--steps", type=_integer(1), default=1000, help="step limit")
    run.add_argument(
        "--seeds",
        type=_seeds,
        default="0",
        help="seeds of the batch: a range 0-15 or a list 1,4,9",
    )
    run.add_argument(
        "--stop-error",
        type=_number,
        default=1e-10,
        help="a run stops once its error is <= this (0: never stops early)",
    )
    run.add_argument(
        "--heatmap-steps",
        type=_integer(0),
        nargs="*",
        default=list(FIGURE1_STEPS),
        help="steps at which the top 3x3 block of X X^T is stored",
    )
    run.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64", help="type of the iterates"
    )
    run.add_argument(
        "--out",
        type=Path,
        required=True,
        help=f"output: a .zarr store, or a .nc netCDF-4 file (needs {NETCDF_ENGINE})",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--problem",
        choices=("factorization", "sensing", "asymmetric"),
        default="factorization",
        help="factorization ||Sigma - X X^T||_F^2, sensing (needs --measurements) or "
        "asymmetric ||Sigma - X Y^T||_F^2 (--imbalance); the last two record every step and "
        "ignore --stop-error and --heatmap-steps",
    )
    run.add_argument(
        "--measurements", type=_integer(1), help="sensing: the number m of measurements"
    )
    run.add_argument(
        "--operator",
        choices=("rank_one", "goe"),
        help="sensing: operator family (default rank_one: (a a^T - b b^T)/2, O(m d r) per step)",
    )
    run.add_argument(
        "--imbalance", type=_number, help="asymmetric: varpi' / varpi of Y_0 (default 1)"
    )
    run.set_defaults(func=cmd_run)
    fig = sub.add_parser(
        "figure1",
        help="reproduce the paper's Figure 1 (PNG and PDF)",
        description="The paper's Figure 1: family figure1, eta = 0.1, varpi = 0.5, heat maps "
        f"at steps {', '.join(map(str, FIGURE1_STEPS))}.",
        formatter_class=formatter,
    )
    fig.add_argument("--out", type=Path, required=True, help="output directory")
    fig.add_argument("--d", type=_dimension, default=4000, help="dimension d")
    fig.add_argument("--steps", type=_integer(1), default=1000, help="step limit")
    fig.add_argument("--seed", type=_integer(0), default=0, help="seed of the run")
    fig.add_argument("--overwrite", action="store_true", help="replace existing output files")
    fig.add_argument("--quiet", action="store_true", help="no progress bar")
    fig.set_defaults(func=cmd_figure1)
    status = sub.add_parser(
        "status", help="chunks and runs done, ETA, of a sweep directory (while it runs, too)"
    )
    status.add_argument("sweep_dir", type=Path, help="the sweep directory, e.g. results/default")
    status.set_defaults(func=cmd_status)
    plan = sub.add_parser(
        "plan",
        help="chunks, runs and estimated compute and wall time of a sweep config (runs nothing)",
        description="Parse and check a sweep config, pack its chunks and print the cost model's "
        "estimate (mfsim.plan.grid.estimate_sweep): engine compute and simulate wall time on "
        "--cores cores, warm numba cache, analysis rules not included. Then one warning line "
        "per problem the small-signal theory predicts for a group of the grid "
        "(mfsim.plan.guidance): too few run.steps, a literal t_k^* bound-dominated at every d, "
        "runs that diverge.",
        formatter_class=formatter,
    )
    plan.add_argument("config", type=Path, help="sweep config, e.g. config/config.yaml")
    plan.add_argument("--cores", type=_integer(1), default=2, help="cores (one simulate job each)")
    plan.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="the Snakemake profile the sweep runs with (e.g. profiles/slurm): its job budget "
        "(chunking.max_jobs, min_job_seconds) applies and the queue load is printed",
    )
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # before numba is imported (mfsim.engine): it reads these and fails with its own words
        check_environment()
    except ArgumentError as error:
        print(f"mfsim {args.command}: error: {error}", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
