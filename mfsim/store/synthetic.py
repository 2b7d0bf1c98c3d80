"""Synthetic chunk stores: the real chunk-store write path fed with synthetic run values.

For benchmarks and tests of :func:`mfsim.store.assemble` at many chunk stores: every store is
written by :func:`mfsim.store.chunk_store.write_chunk_store` from
:func:`mfsim.store.chunk_store.batch_to_runs` of a batch Dataset that has the variables, dims,
dtypes and attributes of an engine batch (taken from one template Dataset of
:func:`mfsim.simulate`) and the grid position, seeds and spectrum coordinates of its own batch,
but values drawn at random instead of computed. The stores are thus file for file what a real
sweep writes, the data values aside.
"""

from __future__ import annotations

import json
import os
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim._version import __version__
from mfsim.config.model import SweepConfig, parse
from mfsim.datamodel import RUN_DIM
from mfsim.plan.chunk_plan import ChunkPlan, make_plan
from mfsim.plan.grid import Batch
from mfsim.store.atomic import MARKER
from mfsim.store.chunk_store import batch_to_runs, runs_dataset, write_chunk_store
from mfsim.store.layout import chunk_store_path

__all__ = ["synthetic_batch", "template_batch", "write_synthetic_chunk_stores"]


def template_batch(config: SweepConfig) -> xr.Dataset:
    """One seed of the first batch of `config`, computed by :func:`mfsim.simulate`: the
    template of every synthetic batch (variables, dims, dtypes, attributes)."""
    from mfsim.engine.advice import StepLimitWarning
    from mfsim.engine.simulation import simulate
    from mfsim.spectra import spectrum

    plan = make_plan(config)
    chunk_plan = plan.chunk_plan(plan.chunks[0])
    point = chunk_plan.chunk.batches[0].point
    spec = spectrum(
        chunk_plan.family, point.d, r=point.r, kappa=point.kappa, **chunk_plan.family_params()
    )
    with warnings.catch_warnings():
        # the values are replaced; only the structure is used
        warnings.simplefilter("ignore", StepLimitWarning)
        return simulate(
            spec,
            eta=point.eta,
            varpi=point.varpi_effective,
            seeds=[0],
            **chunk_plan.simulate_kwargs(),
        )


def synthetic_batch(
    template: xr.Dataset, batch: Batch, plan: ChunkPlan, values_seed: int | None = None
) -> xr.Dataset:
    """A batch Dataset shaped like an engine batch of `batch`: the template's variables with
    ``seed`` = the batch's seeds and random values (standard normal floats, the template's
    ints and bools), seeded by the batch key (the same batch gives the same values); the
    spectrum coordinates of the batch's grid point. `values_seed` seeds the random values
    instead of the batch key (the same values for every batch).

    Shapes: every variable as in `template` with ``seed`` of length ``batch.n_runs``.
    """
    from mfsim.spectra import spectrum

    point = batch.point
    rng = np.random.default_rng(
        zlib.crc32(batch.key.encode()) if values_seed is None else values_seed
    )
    n = len(batch.seeds)
    data_vars = {}
    for name, var in template.data_vars.items():
        if "seed" in var.dims:
            shape = (n,) + var.shape[1:]
            if var.dtype.kind == "f":
                values = rng.standard_normal(shape).astype(var.dtype)
            else:
                values = np.broadcast_to(var.values[:1], shape).copy()
        else:
            values = np.asarray(
                rng.standard_normal() if var.dtype.kind == "f" else var.values, var.dtype
            )
        data_vars[name] = xr.Variable(var.dims, values, var.attrs)
    spec = spectrum(plan.family, point.d, r=point.r, kappa=point.kappa, **plan.family_params())
    # the shared dims (step, k, eps, ...) from the template; the grid position from the batch
    # (d, which may exceed int64, is left out: the chunk store takes it from the batch)
    coords = {
        name: template[name]
        for name in template.coords
        if "seed" not in template[name].dims and name not in ("d", "log10_d")
    }
    coords.update(r=point.r, eta=point.eta, varpi=point.varpi, varpi_exponent=point.varpi_exponent)
    if point.kappa is not None:
        coords["kappa"] = point.kappa
    coords["seed"] = ("seed", np.asarray(batch.seeds, dtype=np.int64))
    coords["varpi_effective"] = point.varpi_effective
    coords["kappa_realized"] = spec.kappa
    coords["lambda_1"] = spec.lambda_1
    coords["Delta"] = spec.Delta
    coords["lambda_k"] = ("k", np.asarray(spec.top_eigenvalues[: point.r], dtype=np.float64))
    return xr.Dataset(data_vars, coords=coords, attrs=template.attrs)


def _parts(template, chunk_plan: ChunkPlan) -> list[dict]:
    return [
        batch_to_runs(synthetic_batch(template, batch, chunk_plan), batch, chunk_plan.k_max)
        for batch in chunk_plan.chunk.batches
    ]


class _Cloner:
    """Chunk stores of the same shape as a store written by :func:`write_chunk_store`,
    written as its files with every array along ``run`` re-encoded (with the array's own
    compressor) and the chunk's id and batch keys put into the metadata: the same bytes as
    :func:`write_chunk_store` writes for that chunk (tested), without its cost of about 0.2 s
    of CPU per store (xarray and zarr create every array one by one)."""

    def __init__(self, model: Path, model_plan: ChunkPlan):
        import numcodecs

        self.model_plan = model_plan
        self.files = {
            path.relative_to(model).as_posix(): path.read_bytes()
            for path in sorted(model.rglob("*"))
            if path.is_file() and path.name != MARKER
        }
        self.arrays = {}
        for name, content in self.files.items():
            if not name.endswith("/.zarray"):
                continue
            array = name[: -len("/.zarray")]
            meta = json.loads(content)
            dims = json.loads(self.files[f"{array}/.zattrs"])["_ARRAY_DIMENSIONS"]
            if RUN_DIM in dims:
                codec = numcodecs.get_codec(meta["compressor"]) if meta["compressor"] else None
                fill = meta["fill_value"]
                fill = 0 if fill is None else np.nan if fill == "NaN" else fill
                self.arrays[array] = (np.dtype(meta["dtype"]), meta["chunks"][0], codec, fill)

    def _names(self, chunk_plan: ChunkPlan) -> list[tuple[bytes, bytes]]:
        ours, theirs = self.model_plan.chunk, chunk_plan.chunk
        if ours.n_runs != theirs.n_runs or len(ours.batches) != len(theirs.batches):
            raise ValueError(
                f"chunk {theirs.chunk_id}: {theirs.n_runs} runs in {len(theirs.batches)} "
                f"batches; clones need the model's {ours.n_runs} in {len(ours.batches)}"
            )
        pairs = [(ours.chunk_id, theirs.chunk_id)]
        pairs += [(a.key, b.key) for a, b in zip(ours.batches, theirs.batches, strict=True)]
        return [(a.encode(), b.encode()) for a, b in pairs]

    def write(self, ds: xr.Dataset, chunk_plan: ChunkPlan, out: Path) -> None:
        files = dict(self.files)
        for name in (".zattrs", ".zmetadata"):
            for old, new in self._names(chunk_plan):
                files[name] = files[name].replace(old, new)
        for array, (dtype, rows, codec, fill) in self.arrays.items():
            values = np.ascontiguousarray(ds[array].values, dtype=dtype)
            if values.shape[0] % rows:
                # zarr pads a partial last storage chunk; clones do not
                raise ValueError(f"{array}: {values.shape[0]} runs in storage chunks of {rows}")
            for start in range(0, values.shape[0], rows):
                key = ".".join([str(start // rows)] + ["0"] * (values.ndim - 1))
                block = np.ascontiguousarray(values[start : start + rows])
                if np.array_equal(block, np.full_like(block, fill), equal_nan=dtype.kind == "f"):
                    # zarr writes no storage chunk that holds only the fill value
                    files.pop(f"{array}/{key}", None)
                    continue
                files[f"{array}/{key}"] = codec.encode(block) if codec else block.tobytes()
        info = {
            "kind": "chunk",
            "chunk_id": chunk_plan.chunk_id,
            "n_runs": chunk_plan.chunk.n_runs,
            "run_identity": chunk_plan.identity_hash,
            "mfsim_version": __version__,
        }
        sizes = {name: len(content) for name, content in files.items()}
        files[MARKER] = json.dumps({"complete": 1, **info, "files": sizes}, sort_keys=True)
        for name, content in files.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)


def _clone(args) -> None:
    template, config, model, chunk_ids, out_dir = args
    plan = make_plan(config)
    model_path, model_id = model
    cloner = _Cloner(Path(model_path), plan.chunk_plan(plan.by_id[model_id]))
    for chunk_id in chunk_ids:
        chunk_plan = plan.chunk_plan(plan.by_id[chunk_id])
        ds = runs_dataset(_parts(template, chunk_plan), chunk_plan)
        cloner.write(ds, chunk_plan, chunk_store_path(out_dir, chunk_id))


def _write(args) -> None:
    template, config, chunk_ids, out_dir = args
    plan = make_plan(config)
    for chunk_id in chunk_ids:
        chunk_plan = plan.chunk_plan(plan.by_id[chunk_id])
        write_chunk_store(
            _parts(template, chunk_plan), chunk_plan, chunk_store_path(out_dir, chunk_id)
        )


def write_synthetic_chunk_stores(
    config: SweepConfig | dict,
    out_dir: str | os.PathLike,
    *,
    template: xr.Dataset | None = None,
    workers: int = 1,
    chunk_ids: Sequence[str] | None = None,
    clone: bool = False,
) -> list[Path]:
    """Write the chunk store of every chunk of `config` (or of `chunk_ids`) with synthetic
    values (:func:`synthetic_batch`) under ``<out_dir>/chunks/``, in `workers` processes.

    With `clone`, the first store is written by :func:`write_chunk_store` and every other
    one as its files with the arrays along ``run`` re-encoded and the chunk's ids in the
    metadata (the same bytes; every chunk must have the first one's runs and batch count):
    about 100 times faster. Returns the store paths in chunk order.

    Raises
    ------
    ValueError
        `workers` below 1; with `clone`, a chunk of another number of runs or batches.
    """
    if int(workers) < 1:
        raise ValueError(f"workers = {workers!r}: must be an integer of at least 1")
    config = parse(config)
    if template is None:
        template = template_batch(config)
    plan = make_plan(config)
    ids = [chunk.chunk_id for chunk in plan.chunks] if chunk_ids is None else list(chunk_ids)
    task, extra = _write, ()
    if clone:
        _write((template, config, ids[:1], out_dir))
        task, extra = _clone, ((str(chunk_store_path(out_dir, ids[0])), ids[0]),)
        ids_left = ids[1:]
    else:
        ids_left = ids
    shares = [ids_left[i::workers] for i in range(workers)]
    args = [(template, config, *extra, share, out_dir) for share in shares if share]
    if workers == 1:
        for arg in args:
            task(arg)
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(task, args))
    return [chunk_store_path(out_dir, chunk_id) for chunk_id in ids]
