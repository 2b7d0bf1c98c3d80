"""The batch runner: one ``mfsim.simulate`` call per batch, in-process or as Dask tasks.

Determinism: every run is computed by exactly one :func:`mfsim.simulate` call whatever the
chunking and the number of workers, and the stores only copy values, so all data variables
except ``wall_time`` are bit-identical across chunk sizes, worker counts and reruns.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from mfsim.config.model import SweepConfig, parse
from mfsim.execute.progress import Progress, open_log
from mfsim.plan.chunk_plan import ChunkPlan, make_plan
from mfsim.plan.grid import Batch, Chunk
from mfsim.store.chunk_store import batch_to_runs, write_chunk_store

__all__ = ["pin_numba_threads", "run_batch", "run_chunk", "run_chunk_plan"]


def pin_numba_threads(threads: int | None) -> None:
    """Use at most `threads` numba threads in the calling thread (``set_num_threads`` is
    thread-local). Before numba's pool starts, re-read ``NUMBA_NUM_THREADS`` from the environment
    (a Dask nanny sets it after the worker process may already have imported numba)."""
    import numba

    try:
        numba.threading_layer()  # public: raises ValueError until the thread pool has started
    except ValueError:
        numba.core.config.reload_config()
    if threads is None:
        try:
            from distributed import get_worker

            threads = get_worker().state.nthreads
        except ValueError:  # not in a worker
            return
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def run_batch(batch: Batch, plan: ChunkPlan, threads: int | None = None) -> dict:
    """Run one batch; return its runs in chunk-store layout
    (:func:`mfsim.store.chunk_store.batch_to_runs`)."""
    from mfsim.engine.advice import StepLimitWarning
    from mfsim.engine.simulation import simulate
    from mfsim.spectra import spectrum

    pin_numba_threads(threads)
    point = batch.point
    spec = spectrum(plan.family, point.d, r=point.r, kappa=point.kappa, **plan.family_params())
    kwargs = plan.simulate_kwargs()
    if point.problem != "factorization":
        return _run_problem_batch(spec, batch, plan, kwargs)
    with warnings.catch_warnings():
        # a sweep's step limit is checked per group before the run (mfsim.plan.guidance)
        warnings.simplefilter("ignore", StepLimitWarning)
        ds = simulate(
            spec, eta=point.eta, varpi=point.varpi_effective, seeds=batch.seeds, **kwargs,
        )  # fmt: skip
    with_problem = plan.problem_labels is not None
    if with_problem:
        from mfsim.engine.problem_layout import add_missing_problem_variables

        ds = add_missing_problem_variables(ds)
    return batch_to_runs(ds, batch, plan.k_max, with_problem=with_problem)


def _run_problem_batch(spec, batch: Batch, plan: ChunkPlan, kwargs: dict) -> dict:
    """A batch of sensing or asymmetric runs: the same ``simulate`` call with the point's
    problem options (every step recorded), then the sweep layout
    (:func:`mfsim.engine.problem_layout.to_sweep_layout`)."""
    from mfsim.engine.problem_layout import to_sweep_layout
    from mfsim.engine.simulation import simulate

    point = batch.point
    ds = simulate(
        spec, eta=point.eta, steps=kwargs["steps"], varpi=point.varpi_effective,
        seeds=batch.seeds, **point.simulate_options(),
    )  # fmt: skip
    ds = to_sweep_layout(
        ds, recorded_steps=kwargs["record"], epsilons=kwargs["epsilons"],
        learned_tolerance=kwargs["learned_tolerance"], heatmap_steps=kwargs["heatmap_steps"],
        varpi_exponent=point.varpi_exponent, varpi_scale=point.varpi,
    )  # fmt: skip
    return batch_to_runs(ds, batch, plan.k_max, with_problem=True)


def submit(plan: ChunkPlan, client):
    """Start the batches of a chunk; return ``(batch, handle)`` pairs in canonical order.

    With a client the handles are Dask futures with deterministic keys (batch key + chunk id,
    the latter covering the run settings); without one they are ``None`` (run on collect).
    """
    chunk = plan.chunk
    if client is None:
        return [(batch, None) for batch in chunk.batches]
    futures = [
        client.submit(run_batch, batch, plan, key=f"mfsim-batch-{batch.key}-{chunk.chunk_id}")
        for batch in chunk.batches
    ]
    return list(zip(chunk.batches, futures, strict=True))


def _collect(pending, plan: ChunkPlan, client, threads, progress: Progress) -> list[dict]:
    """Results in canonical order; progress is reported in completion order."""
    if client is None:
        results = []
        for batch, _ in pending:
            results.append(run_batch(batch, plan, threads=threads))
            progress.batch_done(batch)
        return results
    from distributed import as_completed

    futures = [future for _, future in pending]
    by_key = {future.key: batch for batch, future in pending}
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's exception
            progress.batch_done(by_key[future.key])
        return client.gather(futures)
    finally:
        client.cancel([future for future in futures if not future.done()])


def write_when_done(plan: ChunkPlan, out_path, pending, client, threads, log) -> Path:
    """Collect the batches of `pending` and write the chunk store atomically."""
    with open_log(log) as stream:
        progress = Progress(stream, plan.chunk)
        progress.start()
        results = _collect(pending, plan, client, threads, progress)
        write_chunk_store(results, plan, out_path)
        progress.finished(Path(out_path))
    return Path(out_path)


def run_chunk_plan(
    plan: ChunkPlan, out_path, client=None, log=None, *, threads: int | None = None
) -> Path:
    """Run the batches of one chunk plan (:mod:`mfsim.plan.chunk_plan`) and write its store."""
    return write_when_done(plan, out_path, submit(plan, client), client, threads, log)


def run_chunk(
    chunk: Chunk | str,
    config: SweepConfig | Mapping | str | os.PathLike,
    out_path: str | os.PathLike,
    client=None,
    log=None,
    *,
    threads: int | None = None,
) -> Path:
    """Run the batches of one chunk and write its chunk store atomically.

    Parameters
    ----------
    chunk : mfsim.plan.grid.Chunk or str
        The chunk, or its ``chunk_id`` (looked up in the sweep's chunks).
    config : SweepConfig, mapping or path
        Sweep config (parsed here unless already a :class:`~mfsim.config.SweepConfig`).
    out_path : path
        The chunk store to write (``results/<sweep>/chunks/<chunk_id>.zarr``).
    client : distributed.Client, optional
        Run every batch as a Dask task on this client (``client.submit`` with the deterministic
        key ``mfsim-batch-<batch key>-<chunk id>``). Without a client the batches run
        in-process, one after the other, on `threads` numba threads.
    log : logging.Logger, file-like or path, optional
        Receives a progress line per completed batch (runs done / total, runs/s, ETA).
    threads : int, optional
        Numba threads for in-process runs (default: numba's setting). Workers use their own
        thread count.

    Returns
    -------
    pathlib.Path
        `out_path`, a complete store (completion marker present).

    Raises
    ------
    KeyError
        A chunk id that is not a chunk of the sweep.

    Notes
    -----
    Diverged runs are data (``status``), never failed tasks; an exception of a batch (a bug or
    an impossible spectrum) fails the chunk and leaves no store at `out_path`.
    """
    sweep_plan = make_plan(parse(config))
    if isinstance(chunk, str) and chunk not in sweep_plan.by_id:
        raise KeyError(f"chunk {chunk!r} is not a chunk of sweep {sweep_plan.config.sweep!r}")
    return run_chunk_plan(sweep_plan.chunk_plan(chunk), out_path, client, log, threads=threads)
