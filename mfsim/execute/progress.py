"""Progress of chunks: one line per completed batch, and the state of a whole sweep directory.

A running chunk writes lines ``chunk <id>: batch i/n runs a/b (p%) <rate> runs/s ETA <s> s`` to
its log (and, in a Snakemake job, to the terminal); :func:`sweep_status` reads the plan files,
the completion markers and these lines back (``mfsim status results/<sweep>``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path

from mfsim.plan.grid import Batch, Chunk
from mfsim.plan.plan_index import INDEX_NAME, read_plan_index
from mfsim.store.atomic import is_complete
from mfsim.store.layout import chunk_store_path

__all__ = ["Progress", "format_status", "open_log", "sweep_status"]

_RUNS = re.compile(r"runs (\d+)/(\d+) .* ([0-9.eE+-]+|inf) runs/s")


class Progress:
    """One line per completed batch of a chunk: runs done / total, runs/s, ETA.

    `log` is a :class:`logging.Logger`, a file-like object or None.
    """

    def __init__(self, log, chunk: Chunk):
        self.log = log
        self.label = chunk.chunk_id
        self.total = chunk.n_runs
        self.n_batches = len(chunk.batches)
        self.done_runs = 0
        self.done_batches = 0
        self.started = time.perf_counter()
        self.compile_started = _compile_seconds()

    def _emit(self, message: str) -> None:
        if self.log is None:
            return
        if isinstance(self.log, logging.Logger):
            self.log.info(message)
        else:
            self.log.write(message + "\n")
            with contextlib.suppress(AttributeError, ValueError, OSError):
                self.log.flush()

    def start(self) -> None:
        self._emit(f"chunk {self.label}: {self.n_batches} batches, {self.total} runs")

    def batch_done(self, batch: Batch) -> None:
        self.done_runs += batch.n_runs
        self.done_batches += 1
        # kernel compilation in this process is a one-off: left out of the rate and the ETA
        compiling = _compile_seconds() - self.compile_started
        elapsed = time.perf_counter() - self.started - compiling
        rate = self.done_runs / elapsed if elapsed > 0 else float("inf")
        eta = (self.total - self.done_runs) / rate if rate > 0 else float("nan")
        self._emit(
            f"chunk {self.label}: batch {self.done_batches}/{self.n_batches} "
            f"runs {self.done_runs}/{self.total} ({100 * self.done_runs / self.total:.0f}%) "
            f"{rate:.3g} runs/s ETA {eta:.1f} s"
        )

    def finished(self, path: Path) -> None:
        elapsed = time.perf_counter() - self.started
        self._emit(f"chunk {self.label}: wrote {path} ({self.total} runs in {elapsed:.2f} s)")


def _compile_seconds() -> float:
    # imported here: `mfsim status` reads progress lines without importing numba
    from mfsim.engine.compilation import compile_seconds

    return compile_seconds()


@contextlib.contextmanager
def open_log(log):
    """Accept a Logger, a file-like object, a path or None."""
    if isinstance(log, str | os.PathLike):
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as stream:
            yield stream
    else:
        yield log


def _last_progress(log_path: Path) -> tuple[int, float] | None:
    """(runs done, runs/s) of the last progress line of a chunk log, if any."""
    if not log_path.is_file():
        return None
    last = (0, 0.0)  # a started chunk without a finished batch yet
    with open(log_path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            match = _RUNS.search(line)
            if match:
                last = (int(match.group(1)), float(match.group(3)))
    return last


def sweep_status(sweep_dir: str | os.PathLike) -> dict:
    """The state of the chunks of a sweep directory (``results/<sweep>``).

    Reads the plan files ``plan/<chunk_id>.json`` (written by the workflow), the completion
    markers of ``chunks/<chunk_id>.zarr`` and the progress lines of
    ``logs/simulate/<chunk_id>.log``.

    Returns
    -------
    dict
        ``chunks_total``, ``chunks_done``, ``chunks_running`` (a log without a store),
        ``runs_total``, ``runs_done`` (complete chunks plus the progress of running ones),
        ``chunks_stale`` (complete chunk stores of plan files not in the current plan,
        ``plan/current.json``: an earlier config of the sweep; not counted elsewhere),
        ``rate`` (runs/s summed over running chunks, NaN if unknown), ``eta_seconds`` (NaN if
        unknown), ``assembled`` (whether ``sweep.zarr`` is complete), ``report`` (whether
        ``report.html`` exists).

    Raises
    ------
    FileNotFoundError
        `sweep_dir` does not exist, or holds no plan files (not a sweep directory of the
        workflow).
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(
            f"{sweep_dir}: no such directory (a sweep's results are in results/<sweep>, "
            "e.g. results/default)"
        )
    plans = sorted(p for p in (sweep_dir / "plan").glob("*.json") if p.name != INDEX_NAME)
    current = read_plan_index(sweep_dir)
    if current is not None:
        # plan files of an earlier config of the sweep are not part of it
        stale = [p for p in plans if p.stem not in set(current)]
        plans = [p for p in plans if p.stem in set(current)]
    else:
        stale = []
    if not plans:
        raise FileNotFoundError(
            f"{sweep_dir}: no plan files (plan/<chunk_id>.json); is it a results/<sweep> "
            "directory of the workflow?"
        )
    status = {"chunks_total": 0, "chunks_done": 0, "chunks_running": 0, "runs_total": 0}
    runs_done = 0
    rate = 0.0
    for plan in plans:
        data = json.loads(plan.read_text(encoding="utf-8"))
        chunk_id = data["chunk_id"]
        n_runs = sum(len(batch["seeds"]) for batch in data["batches"])
        status["chunks_total"] += 1
        status["runs_total"] += n_runs
        if is_complete(chunk_store_path(sweep_dir, chunk_id)):
            status["chunks_done"] += 1
            runs_done += n_runs
            continue
        progress = _last_progress(sweep_dir / "logs" / "simulate" / f"{chunk_id}.log")
        if progress is not None:
            status["chunks_running"] += 1
            runs_done += min(progress[0], n_runs)
            rate += progress[1]
    status["runs_done"] = runs_done
    status["rate"] = rate if rate > 0 else float("nan")
    left = status["runs_total"] - runs_done
    status["eta_seconds"] = left / rate if rate > 0 else (0.0 if left == 0 else float("nan"))
    status["chunks_stale"] = sum(
        is_complete(chunk_store_path(sweep_dir, plan.stem)) for plan in stale
    )
    status["assembled"] = is_complete(sweep_dir / "sweep.zarr")
    status["report"] = (sweep_dir / "report.html").is_file()
    return status


def format_status(sweep_dir: str | os.PathLike, status: dict) -> str:
    """One line: chunks done/total, runs done/total (percent), ETA."""
    eta = status["eta_seconds"]
    eta_text = "unknown" if eta != eta else f"{eta:.0f} s"
    percent = 100.0 * status["runs_done"] / max(1, status["runs_total"])
    return (
        f"{sweep_dir}: chunks {status['chunks_done']}/{status['chunks_total']} complete"
        f" ({status['chunks_running']} running), runs {status['runs_done']}/"
        f"{status['runs_total']} ({percent:.0f}%), ETA {eta_text}"
        + ("; sweep.zarr assembled" if status["assembled"] else "")
        + (
            f"; {status['chunks_stale']} chunk stores of an earlier config not counted"
            if status.get("chunks_stale")
            else ""
        )
        + (f"; report: {Path(sweep_dir) / 'report.html'}" if status.get("report") else "")
    )
