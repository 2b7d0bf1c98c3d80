"""The transition sweeps through mfsim.simulate directly: fits, figures, report, timings.

Usage: python benchmarks/transition_direct.py [family ...] [--seeds N] [--out DIR]

Runs the grid of config/transition.yaml (d = 1e2..1e300, 31 log-spaced values, r = 2 and 3,
kappa = 5, eta = 0.1, varpi = 0.5, 64 seeds, 22000 steps, stop at convergence) for each family
(default: flat staircase) in one process, builds a Dataset with the sweep store's stage
variables and grid dims, and writes fits.nc, the rise / t_k_star figures and report.html under
DIR/<family>/. It prints the engine time per (d, r) and in total, so the cost of the Snakemake
sweep can be estimated from it (the engine is most of it). A stand-in until the pipeline
stores d beyond int64; the numbers are the engine's, the assembly is this script's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

import mfsim
from mfsim.analysis.scaling import fit_all
from mfsim.engine.simulation import simulate
from mfsim.output import plots, report

STAGES = (
    "t_k_star",
    "t_k_star_bound_dominated",
    "t_k",
    "rise",
    "learned",
    "escape",
    "plateau",
    "t_eps",
)


def run_family(family: str, n_seeds: int, out: Path) -> xr.Dataset:
    config = yaml.safe_load(Path("config/transition.yaml").read_text())
    grid, run = config["grid"], config["run"]
    log10_d = np.linspace(
        np.log10(float(grid["d"]["start"])), np.log10(float(grid["d"]["stop"])), grid["d"]["num"]
    )
    parts, total = [], 0.0
    for r in grid["r"]:
        per_d = []
        for x in log10_d:
            spec = mfsim.spectrum(family, d={"log10": float(x)}, r=r, kappa=grid["kappa"][0])
            start = time.perf_counter()
            ds = simulate(
                spec,
                eta=grid["eta"][0],
                steps=run["steps"],
                varpi=grid["varpi"][0],
                seeds=range(n_seeds),
                record="log",
                record_num=200,
            )
            elapsed = time.perf_counter() - start
            total += elapsed
            steps = float(ds["stop_step"].sum())
            print(
                f"{family} r={r} log10 d={x:6.1f}: {elapsed:6.2f} s, "
                f"{1e6 * elapsed / steps:.2f} us per run-step",
                flush=True,
            )
            keep = ds[[*STAGES, "status", "stop_step"]]
            keep = keep.assign(t_sharp=ds["t_sharp"]).reset_coords(drop=True)
            keep = keep.reindex(k=np.arange(1, 4))
            per_d.append(keep.expand_dims(d=[10.0**x]))
        parts.append(xr.concat(per_d, "d").expand_dims(r=[r]))
    sweep = xr.concat(parts, "r")
    for name in ("kappa", "varpi", "varpi_exponent", "eta"):
        value = {"kappa": grid["kappa"][0], "varpi": grid["varpi"][0], "eta": grid["eta"][0]}
        sweep = sweep.expand_dims({name: [float(value.get(name, 0.0))]})
    config["spectrum"]["family"] = family
    sweep.attrs["config"] = yaml.safe_dump(config, sort_keys=False)
    print(f"{family}: engine {total:.1f} s in total", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fits = fit_all(sweep)
    fit_time = time.perf_counter() - start
    fits.to_netcdf(out / "fits.nc")
    start = time.perf_counter()
    files = []
    for quantity in ("rise", "t_k_star", "escape"):
        files += plots.plot_scaling(sweep, fits, quantity, out / f"scaling_{quantity}")
    plot_time = time.perf_counter() - start
    report.write_report(sweep, fits, files, out / "report.html", title=f"transition: {family}")
    print(f"{family}: fit_all {fit_time:.1f} s, figures {plot_time:.1f} s", flush=True)
    for sentence in report.opening_sentences(report.verdict_rows(fits)[0]):
        print("-", sentence)
    for row in report.theory_rows(sweep, fits):
        print(row)
    return sweep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="*", default=["flat", "staircase"])
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--out", default="results/transition_direct")
    args = parser.parse_args()
    for family in args.families:
        run_family(family, args.seeds, Path(args.out) / family)


if __name__ == "__main__":
    main()
