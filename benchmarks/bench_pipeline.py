"""Where the time of a sweep goes: engine time vs each rule vs Snakemake itself (issue 14).

    python benchmarks/bench_pipeline.py                         # the default sweep, 2 cores
    python benchmarks/bench_pipeline.py --config config/figure1.yaml --cores 2

The sweep runs twice in a scratch directory: once to warm the numba cache (not timed), then again
from scratch (``--forceall``), timed. Printed side by side, from that one timed run:

* engine: the sum of ``wall_time`` over every run of the store (each run's share of its batch's
  compute, compilation excluded), and that sum divided by the cores;
* each rule: the wall time of every job of that rule, from Snakemake's ``benchmark:`` files
  (the whole job: interpreter start, imports, work), summed per rule;
* Snakemake itself: its start-up (``snakemake -n`` on the same config: parse, config check, DAG),
  and separately the import of the SLURM executor plugin, which runs SLURM's query commands at
  import (they wait for a controller when SLURM's client is installed and none runs);
* the ratio wall / (engine / cores), and the targets of issue 14: wall <= 2 x engine/cores + 10 s
  (the wall without the SLURM plugin's waiting queries, which the issue states apart),
  analysis rules together <= 15 s on the default sweep (<= 60 s on every shipped sweep).

Timings on a shared machine are noisy: the script prints the load average before and after; read
the ratios, not the seconds. The CPU column (``cpu_time`` of the benchmark files: the job's
processes, children included) moves much less with the load than the wall times.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS_RULES = ("assemble", "fit_scaling", "audit", "report")


def _snakemake(workdir: Path, config: Path, cores: int, *extra: str) -> float:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        str(cores),
        "--quiet",
        "all",
        *extra,
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")
    return elapsed


def _rule_times(sweep_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of every job per rule, from the benchmark files
    (``benchmarks/<rule>[/<wildcard>].tsv``: columns ``s`` and ``cpu_time``)."""
    times: dict[str, list[tuple[float, float]]] = {}
    bench_dir = sweep_dir / "benchmarks"
    for tsv in sorted(bench_dir.rglob("*.tsv")):
        rule = tsv.relative_to(bench_dir).parts[0].removesuffix(".tsv")
        with tsv.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        cpu = float(row["cpu_time"]) if row.get("cpu_time") not in (None, "", "NA") else math.nan
        times.setdefault(rule, []).append((float(row["s"]), cpu))
    return times


def _engine_seconds(store: Path) -> tuple[float, int]:
    import xarray as xr

    ds = xr.open_zarr(store)
    wall = ds.wall_time.values
    return float(wall[wall == wall].sum()), int((wall == wall).sum())


def _plugin_import_seconds() -> tuple[float, float] | None:
    """(wall, waiting) seconds of importing the SLURM executor plugin in a new interpreter;
    waiting = wall - the child's CPU time: the time its SLURM queries spend waiting for a
    controller (seconds when SLURM's client is installed and no controller runs)."""
    code = "import snakemake_executor_plugin_slurm"
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return None
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return elapsed, max(0.0, elapsed - cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)

    raw = yaml.safe_load(Path(args.config).read_text())
    sweep = raw["sweep"]
    scratch = Path(tempfile.mkdtemp(prefix="mfsim-bench-pipeline-"))
    config = scratch / "config.yaml"
    shutil.copy(args.config, config)
    load_before = os.getloadavg()
    try:
        print(f"warm-up run of {args.config} (numba cache, not timed) ...", flush=True)
        _snakemake(scratch, config, args.cores)
        startup = _snakemake(scratch, config, args.cores, "-n")
        shutil.rmtree(scratch / "results")
        wall = _snakemake(scratch, config, args.cores, "--forceall")
        sweep_dir = scratch / "results" / sweep
        engine, n_runs = _engine_seconds(sweep_dir / "sweep.zarr")
        rules = _rule_times(sweep_dir)
        plugin = _plugin_import_seconds()
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()

    per_core = engine / args.cores
    print(f"\nsweep {sweep!r}: {n_runs} runs, {args.cores} cores")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}\n")
    print(f"| {'part':<28} | {'jobs':>4} | {'seconds':>8} | {'CPU s':>8} | {'share of wall':>13} |")
    print(f"|{'-' * 30}|{'-' * 6}|{'-' * 10}|{'-' * 10}|{'-' * 15}|")

    def row(name, jobs, seconds, cpu=None):
        share = f"{seconds / wall:.0%}" if seconds is not None else "-"
        text = f"{seconds:8.2f}" if seconds is not None else f"{'n/a':>8}"
        cpu_text = f"{cpu:8.2f}" if cpu is not None else f"{'':>8}"
        print(f"| {name:<28} | {jobs:>4} | {text} | {cpu_text} | {share:>13} |")

    row("whole run (wall)", "", wall)
    row("engine, all runs", n_runs, engine)
    row("engine / cores", "", per_core)
    for rule in ["simulate", *ANALYSIS_RULES]:
        if rule in rules:
            jobs = rules[rule]
            row(f"rule {rule}", len(jobs), sum(w for w, _ in jobs), sum(c for _, c in jobs))
    analysis = sum(w for rule in ANALYSIS_RULES for w, _ in rules.get(rule, []))
    analysis_cpu = sum(c for rule in ANALYSIS_RULES for _, c in rules.get(rule, []))
    row("analysis rules together", "", analysis, analysis_cpu)
    row("snakemake start-up (-n)", "", startup)
    plugin_wall, plugin_wait = plugin if plugin is not None else (None, 0.0)
    row("SLURM plugin import", "", plugin_wall)
    row("  of which queries waiting", "", plugin_wait if plugin is not None else None)
    if not rules:
        print("\n(no benchmark files: the rules declare no `benchmark:`; per-rule times missing)")

    ratio = wall / per_core if per_core > 0 else float("inf")
    target_wall = 2 * per_core + 10.0
    # issue 14 states the SLURM plugin's queries apart: a machine with SLURM's client but no
    # controller (this one after .ci/run) waits for them at every snakemake start
    own_wall = wall - plugin_wait
    print(f"\nwall / (engine / cores) = {ratio:.2f}")
    print(f"wall without the SLURM plugin's waiting queries = {own_wall:.1f} s")
    print(
        f"target wall <= 2 x engine/cores + 10 s = {target_wall:.1f} s: "
        f"{'MET' if own_wall <= target_wall else 'MISSED'} ({own_wall:.1f} s; "
        f"{wall:.1f} s with the queries)"
    )
    # issue 14: <= 15 s on the default sweep, <= 60 s on every shipped sweep
    limit = 15.0 if sweep == "default" else 60.0
    print(
        f"target analysis rules <= {limit:.0f} s: "
        f"{'MET' if analysis <= limit else 'MISSED'} ({analysis:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
