"""Sweeps of 10^5 to 10^7 runs (issue 24): the start (plan + ``snakemake -n``) and ``assemble``.

    python benchmarks/bench_scale.py                        # start at 1e5, 1e6, 1e7 runs;
                                                            # assemble at 1e3 and 1e4 chunk stores
    python benchmarks/bench_scale.py --chunk-stores 1000 10000 100000
    python benchmarks/bench_scale.py --skip-assemble        # only the start
    python benchmarks/bench_scale.py --skip-start --skip-assemble --baseline ../main
    python benchmarks/bench_scale.py --skip-start --skip-baseline-start --baseline ../main
    python benchmarks/bench_scale.py --skip-start --chunk-stores 300 1000 3000 --assemble streaming
    python benchmarks/bench_scale.py --skip-start --chunk-stores 1000 --workers 1 2 4

Start: the flat-family grid of issue 24 (31 d x r in 2..6 x 10 kappa x 10 varpi x 10 eta x 64
seeds = 9.92 x 10^6 runs) and two smaller ones (fewer d values and seeds). For each, measured in
a child process (wall time, CPU time and peak RSS from ``os.wait4``): ``mfsim plan --profile``
(parse + chunking), ``snakemake -n`` with the default (local) profile and with the SLURM
profile (workflow/profiles/slurm: job budget 5000 jobs, 600 s mean job). The targets of the
issue: plan + dry run within 60 s and 1 GB, at most 10^4 jobs on the SLURM profile.

Assemble: synthetic chunk stores of one run each, written without the engine by
``mfsim.store.synthetic.write_synthetic_chunk_stores`` (random values through the real
chunk-store writer; all but the first as byte-identical clones, in 2 processes); printed: the
files per store. ``mfsim.store.assemble`` then runs in a child process per route: streaming
(``IN_MEMORY_WRITE_BYTES = 0``, the route of stores over 64 MB) with 1 and 2 writer threads
(``--workers``), and in memory (``--assemble memory``); printed: time, peak RSS of the
assembling process, files read and written. Memory should not grow with the number of chunk
stores. 10^5 chunk stores are 1.45 x 10^7 files (``--chunk-stores 100000``; see docs/design.md
"Scale" before running it on a shared machine).

The machine is shared: the load average is printed beside every figure; CPU time moves less with
the load than wall time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm"
DEFAULT_PROFILE = ROOT / "workflow" / "profiles" / "default"
# (number of d values, seeds): 1e5, 1e6 and 1e7 runs of the issue's grid
START_SIZES = ((2, 10), (3, 64), (31, 64))


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def measure(cmd: list, cwd: Path, env: dict | None = None) -> dict:
    """Wall time, CPU time (user + sys, with waited-for descendants) and peak RSS of `cmd`."""
    start = time.perf_counter()
    before = load()
    with open(cwd / "bench.log", "ab") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (cwd / "bench.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{tail}")
    return {
        "wall": time.perf_counter() - start,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "load": f"{before} -> {load()}",
    }


def issue_config(n_d: int, seeds: int) -> dict:
    """The flat-family grid of issue 24 with `n_d` d values and `seeds` seeds."""
    return {
        "sweep": f"scale{n_d}x{seeds}",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": {"start": 100, "stop": 1.0e12, "num": n_d, "spacing": "log"},
            "r": [2, 3, 4, 5, 6],
            "kappa": {"start": 8, "stop": 100, "num": 10, "spacing": "log"},
            "varpi": {"start": 0.1, "stop": 10, "num": 10, "spacing": "log"},
            "eta": {"start": 0.01, "stop": 0.1, "num": 10, "spacing": "log"},
            "seeds": {"count": seeds},
        },
        "run": {"steps": 30000, "record": {"policy": "log", "num": 20}},
        "limits": {"max_runs": 10**8, "max_bytes": 10**15},
    }


def jobs_of(log: Path) -> str:
    """The 'N simulate jobs' figure of the last start line in `log`."""
    lines = [line for line in log.read_text().splitlines() if "simulate jobs of a budget" in line]
    return lines[-1].split("mfsim: ")[-1].split(" simulate")[0] if lines else "?"


def bench_start(workdir: Path) -> list:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows = []
    for n_d, seeds in START_SIZES:
        config = issue_config(n_d, seeds)
        runs = n_d * 5 * 1000 * seeds
        path = workdir / f"{config['sweep']}.yaml"
        path.write_text(yaml.safe_dump(config))
        plan = [sys.executable, "-m", "mfsim.cli", "plan", str(path), "--profile"]
        snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
        snakemake += ["--directory", str(workdir), "--configfile", str(path), "-n", "--quiet"]
        for profile, profile_dir in (("local", DEFAULT_PROFILE), ("slurm", SLURM_PROFILE)):
            extra = ["--workflow-profile", str(SLURM_PROFILE)] if profile == "slurm" else []
            (workdir / "bench.log").unlink(missing_ok=True)
            planned = measure(plan + [str(profile_dir)], workdir, env)
            (workdir / "bench.log").unlink(missing_ok=True)
            dry = measure(snakemake + extra + ["all"], workdir, env)
            jobs = jobs_of(workdir / "bench.log")
            rows.append((runs, profile, jobs, planned, dry))
            print(
                f"{runs:>9} runs {profile:>5}: {jobs:>5} jobs | mfsim plan "
                f"{planned['wall']:5.1f} s wall {planned['cpu']:5.1f} s CPU "
                f"{planned['rss_mb']:5.0f} MB | snakemake -n "
                f"{dry['wall']:5.1f} s wall {dry['cpu']:5.1f} s CPU {dry['rss_mb']:5.0f} MB "
                f"({dry['load']})",
                flush=True,
            )
    return rows


def bench_baseline(workdir: Path, baseline: Path) -> None:
    """`mfsim plan` and `snakemake -n` of another checkout (the code before the job budget),
    side by side with this one, on the 1e6- and 1e7-run grids (dry run at 1e6 only: at 1e7 the
    fixed 20 s chunks make ~10^5 jobs and minutes of DAG)."""
    for n_d, seeds, dry_run in ((3, 64, True), (31, 64, False)):
        config = issue_config(n_d, seeds)
        path = workdir / f"{config['sweep']}.yaml"
        path.write_text(yaml.safe_dump(config))
        runs = n_d * 5 * 1000 * seeds
        for label, root in (("before", baseline), ("after", ROOT)):
            env = {**os.environ, "PYTHONPATH": str(root)}
            (workdir / "bench.log").unlink(missing_ok=True)
            planned = measure([sys.executable, "-m", "mfsim.cli", "plan", str(path)], workdir, env)
            chunks = (workdir / "bench.log").read_text().split(" chunk")[0].rsplit(" ", 1)[-1]
            line = (
                f"{runs:>9} runs {label:>6} ({root}): {chunks:>6} chunks | mfsim plan "
                f"{planned['wall']:5.1f} s wall {planned['cpu']:5.1f} s CPU "
                f"{planned['rss_mb']:5.0f} MB"
            )
            if dry_run:
                cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile")]
                cmd += ["--directory", str(workdir), "--configfile", str(path), "-n", "--quiet"]
                dry = measure(cmd + ["all"], workdir, env)
                line += (
                    f" | snakemake -n {dry['wall']:5.1f} s wall {dry['cpu']:5.1f} s CPU "
                    f"{dry['rss_mb']:5.0f} MB"
                )
            print(f"{line} ({planned['load']})", flush=True)


# --------------------------------------------------------------------------------------------
# assemble


def synthetic_config(n_chunks: int) -> dict:
    """A flat-family grid of `n_chunks` runs, one run per chunk (100 d values when possible)."""
    n_d = min(100, n_chunks)
    return {
        "sweep": f"synthetic{n_chunks}",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": {"start": 100, "stop": 1.0e12, "num": n_d, "spacing": "log"},
            "r": [2],
            "kappa": [8],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"count": n_chunks // n_d},
        },
        "run": {"steps": 100, "record": {"policy": "log", "num": 8}},
        "chunking": {"target_seconds": 1e-9, "seeds_per_batch": 1, "max_jobs": 10**7},
        "limits": {"max_runs": 10**8},
    }


ASSEMBLE_CHILD = """
import importlib, json, sys, time
sys.path.insert(0, {root!r})
from mfsim.config import parse
module = importlib.import_module("mfsim.store.assemble")
if {stream}:
    module.IN_MEMORY_WRITE_BYTES = 0
paths = json.load(open({paths!r}))
config = parse(json.load(open({config!r})))
kwargs = {{"workers": {workers}}} if {workers} > 1 else {{}}
start = time.perf_counter()
module.assemble(paths, config, {out!r}, **kwargs)
print(time.perf_counter() - start)
"""


def count_files(path: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(path))


def bench_assemble(
    workdir: Path, sizes: list, modes: list, baseline: Path | None, workers: list
) -> list:
    """Synthetic chunk stores (:func:`mfsim.store.synthetic.write_synthetic_chunk_stores`: the
    real writer for the first, byte-identical clones for the others, in 2 processes), then
    ``assemble`` in a child process per route and writer count."""
    sys.path.insert(0, str(ROOT))  # this checkout's mfsim, as in the child processes
    from mfsim.store.synthetic import write_synthetic_chunk_stores

    rows = []
    for n_chunks in sizes:
        out = workdir / f"assemble{n_chunks}"
        out.mkdir()
        # 145 files a store: refuse to take more than half of the free inodes or disk
        free = os.statvfs(out)
        if (
            n_chunks * 145 > free.f_favail / 2
            or n_chunks * 145 * 4096 > free.f_bavail * free.f_frsize / 2
        ):
            print(
                f"{n_chunks:>7} chunk stores: skipped, {n_chunks * 145:,} files would take more "
                f"than half of the {free.f_favail:,} free inodes or of the free disk of {out}"
            )
            continue
        config = synthetic_config(n_chunks)
        start = time.perf_counter()
        before = load()
        paths = write_synthetic_chunk_stores(config, out, clone=True, workers=2)
        written = time.perf_counter() - start
        files_in = count_files(out / "chunks")
        print(
            f"{n_chunks:>7} chunk stores written in {written:.0f} s ({before} -> {load()}): "
            f"{files_in} files, {files_in / len(paths):.0f} per store",
            flush=True,
        )
        (out / "paths.json").write_text(json.dumps([str(p) for p in paths]))
        # assemble needs no chunking keys (a checkout before the job budget refuses max_jobs)
        (out / "config.json").write_text(json.dumps({**config, "chunking": {}}))
        roots = [("", ROOT)] + ([(" before", baseline)] if baseline is not None else [])
        runs = [
            (stream, label, root, n_workers)
            for stream, (label, root) in itertools.product(
                [mode == "streaming" for mode in modes], roots
            )
            for n_workers in (workers if stream and not label else [1])
        ]
        for stream, label, root, n_workers in runs:
            sweep = out / f"sweep_{'stream' if stream else 'memory'}{label.strip()}.zarr"
            code = ASSEMBLE_CHILD.format(
                root=str(root),
                stream=stream,
                workers=n_workers,
                paths=str(out / "paths.json"),
                config=str(out / "config.json"),
                out=str(sweep),
            )
            result = measure([sys.executable, "-c", code], out)
            n_out = count_files(sweep)
            rows.append((n_chunks, stream, result, n_out))
            route = f"streaming x{n_workers}" if stream else "in memory"
            print(
                f"{n_chunks:>7} chunk stores: assemble{label} {route:>12} "
                f"{result['wall']:7.1f} s wall {result['cpu']:7.1f} s CPU "
                f"{result['rss_mb']:5.0f} MB peak RSS, {files_in} files in, {n_out} files out "
                f"({result['load']})",
                flush=True,
            )
            shutil.rmtree(sweep)
        shutil.rmtree(out / "chunks")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunk-stores", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument(
        "--assemble",
        nargs="*",
        choices=["streaming", "memory"],
        default=["streaming", "memory"],
        help="routes of assemble to measure (memory: the default for stores up to 64 MB)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. the code before the job budget): its mfsim plan, "
        "snakemake -n and assemble beside this one's",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="writer threads of the streaming assemble (each a separate measurement)",
    )
    parser.add_argument("--skip-start", action="store_true")
    parser.add_argument("--skip-baseline-start", action="store_true")
    parser.add_argument("--skip-assemble", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    print(f"scratch directory {workdir}; {load()} on {os.cpu_count()} CPUs")
    try:
        if not args.skip_start:
            bench_start(workdir)
        if args.baseline is not None:
            args.baseline = args.baseline.resolve()
            if not args.skip_baseline_start:
                bench_baseline(workdir, args.baseline)
        if not args.skip_assemble:
            bench_assemble(workdir, args.chunk_stores, args.assemble, args.baseline, args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
