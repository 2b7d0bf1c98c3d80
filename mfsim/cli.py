"""Command line: ``mfsim run`` (one configuration to Zarr/NetCDF) and ``mfsim figure1``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mfsim.engine.simulation import simulate
from mfsim.spectra import FAMILIES, SpectrumError, spectrum

FIGURE1_STEPS = (0, 37, 80, 140, 300)


def _seeds(text: str) -> list[int]:
    """'0-15' or '1,2,5' -> list of seeds."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError("seeds must be >= 0")
    return seeds


def _write(ds, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".nc":
        ds.to_netcdf(out)
    elif out.suffix == ".zarr":
        ds.to_zarr(out, mode="w", consolidated=True)
    else:
        raise SystemExit(f"--out must end in .zarr or .nc, got {out}")


def cmd_run(args) -> int:
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
        ds = simulate(
            spec,
            eta=args.eta,
            steps=args.steps,
            varpi=args.varpi,
            seeds=args.seeds,
            stop_error=args.stop_error,
            heatmap_steps=args.heatmap_steps,
            dtype=args.dtype,
            progress=not args.quiet,
        )
    except (SpectrumError, ValueError) as err:
        print(f"mfsim run: error: {err}", file=sys.stderr)
        return 2
    _write(ds, args.out)
    status = np.bincount(ds.status.values.astype(int), minlength=4)
    print(
        f"wrote {args.out}: {ds.sizes['seed']} runs, converged {status[0]}, "
        f"max_steps {status[1]}, diverged {status[2]}, nonfinite {status[3]}"
    )
    return 0


def cmd_figure1(args) -> int:
    from mfsim.output.plots import plot_figure1

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
    ds.to_netcdf(args.out / "figure1.nc")
    for path in files:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mfsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one configuration (a batch of seeds)")
    run.add_argument("--family", choices=FAMILIES, default="figure1")
    run.add_argument("--d", type=int, default=4000)
    run.add_argument("--r", type=int, default=2)
    run.add_argument("--kappa", type=float)
    run.add_argument("--lambda-1", type=float)
    run.add_argument("--eigenvalues-file", type=Path)
    run.add_argument("--varpi", type=float, default=0.5)
    run.add_argument("--eta", type=float, default=0.1)
    run.add_argument("--steps", type=int, default=1000)
    run.add_argument("--seeds", type=_seeds, default=[0], help="e.g. 0-15 or 1,4,9")
    run.add_argument("--stop-error", type=float, default=1e-10)
    run.add_argument("--heatmap-steps", type=int, nargs="*", default=list(FIGURE1_STEPS))
    run.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    run.add_argument("--out", type=Path, required=True, help="output .zarr or .nc")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
    fig = sub.add_parser("figure1", help="reproduce the paper's Figure 1 (PNG)")
    fig.add_argument("--out", type=Path, required=True, help="output directory")
    fig.add_argument("--d", type=int, default=4000)
    fig.add_argument("--steps", type=int, default=1000)
    fig.add_argument("--seed", type=int, default=0)
    fig.add_argument("--quiet", action="store_true")
    fig.set_defaults(func=cmd_figure1)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
