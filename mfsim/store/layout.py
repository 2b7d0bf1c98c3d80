"""Where stores live and how their arrays are laid out on disk (Zarr storage chunks).

"Storage chunk" is Zarr's chunking of an array; "chunk" alone means the Snakemake unit of work.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from mfsim.datamodel import COORD_ATTRS, GRID_DIMS, stored_dimension

__all__ = [
    "MAX_STORAGE_CHUNK_BYTES",
    "TARGET_STORAGE_CHUNK_BYTES",
    "IN_MEMORY_WRITE_BYTES",
    "ZARR_FORMAT",
    "EXACT_D_LIMIT",
    "BLOCK_BYTES",
    "chunk_store_path",
    "dataset_disk_bytes",
    "file_disk_bytes",
    "files_disk_bytes",
    "metadata_disk_bytes",
    "d_coordinate",
    "log10_d_coordinate",
    "plain_encoding",
    "set_coord_attrs",
    "store_disk_bytes",
    "sweep_storage_chunks",
    "to_zarr",
]

#: Zarr format of both stores (format 2: stable consolidated metadata, read by every zarr).
ZARR_FORMAT = 2
#: Target size of a storage chunk of the sweep store (bytes); storage chunks hold whole
#: seeds x steps blocks of grid points.
TARGET_STORAGE_CHUNK_BYTES = 2**20
#: Stores of up to this many bytes are encoded in memory, then written file by file (to_zarr).
IN_MEMORY_WRITE_BYTES = 64 * 2**20
#: A grid point larger than this is split along ``seed`` into storage chunks of about half of it.
MAX_STORAGE_CHUNK_BYTES = 64 * 2**20
#: File-system allocation unit assumed by the disk estimates (ext4, XFS and tmpfs: 4 KiB):
#: every file occupies a whole number of blocks.
BLOCK_BYTES = 4096
#: Metadata files of a Zarr format-2 array (``.zarray``, ``.zattrs``) and of its group
#: (``.zgroup``, ``.zattrs``, ``.zmetadata``) plus the completion marker.
ARRAY_METADATA_FILES = 2
GROUP_METADATA_FILES = 4
#: Bytes of consolidated metadata (``.zmetadata``) and marker per array, measured (about
#: 0.7 KB in ``.zmetadata`` and 0.1 KB in the marker).
METADATA_BYTES_PER_ARRAY = 1024
#: Every integer below this is exact in float64; a sweep whose d are all below it stores ``d``
#: as int64 (the exact integers), else as float64 with the exact ``log10_d`` beside it.
EXACT_D_LIMIT = 2**53


def d_coordinate(d_values: Sequence[int]) -> np.ndarray:
    """The stored ``d`` of the values `d_values` (Python ints of any size, up to 10^10000).

    Returns int64 (exact) when every value is below :data:`EXACT_D_LIMIT`, else float64: the
    nearest double of each integer below 10^308 and -log10(d) beyond
    (:func:`mfsim.datamodel.stored_dimension`; ``log10_d`` keeps the exact order of
    magnitude). Shape ``(len(d_values),)``.
    """
    values = [int(d) for d in d_values]
    if all(d < EXACT_D_LIMIT for d in values):
        return np.asarray(values, dtype=np.int64)
    return np.asarray([stored_dimension(d) for d in values], dtype=np.float64)


def log10_d_coordinate(d_values: Sequence[int]) -> np.ndarray:
    """``log10(d)`` of each value, float64, shape ``(len(d_values),)``: ``math.log10`` of the
    Python int, which works from the exact integer at any size (within an ulp of the exact
    value; not the log of its float64 rounding)."""
    return np.asarray([math.log10(int(d)) for d in d_values], dtype=np.float64)


def chunk_store_path(sweep_dir: str | os.PathLike, chunk) -> Path:
    """``<sweep_dir>/chunks/<chunk_id>.zarr`` (the layout of the Snakemake workflow).

    `chunk` is a :class:`mfsim.plan.grid.Chunk` or its id.
    """
    chunk_id = chunk if isinstance(chunk, str) else chunk.chunk_id
    return Path(sweep_dir) / "chunks" / f"{chunk_id}.zarr"


def to_zarr(ds: xr.Dataset, path: Path, mode: str = "w-", **kwargs) -> None:
    """Write a store (consolidated metadata, :data:`ZARR_FORMAT`): new (``mode="w-"``, the
    default) or replacing `path` (``mode="w"``).

    A dataset of at most :data:`IN_MEMORY_WRITE_BYTES` is encoded by Zarr into a memory store
    and its keys are then written as files: the same files, byte for byte, as Zarr's local
    store writes, without its cost of about 2 ms of CPU per array operation (an analysis store
    of ~300 small arrays took 1.5 s to write, 0.4 s this way). Larger datasets, and
    ``compute=False``, go to Zarr directly.

    Raises
    ------
    FileExistsError
        ``mode="w-"`` and `path` exists.
    """
    path = Path(path)
    if kwargs.get("compute", True) is False or ds.nbytes > IN_MEMORY_WRITE_BYTES:
        ds.to_zarr(path, mode=mode, zarr_format=ZARR_FORMAT, consolidated=True, **kwargs)
        return
    from zarr.storage import MemoryStore

    if mode == "w-" and path.exists():
        raise FileExistsError(f"{path}: a store exists already")
    contents: dict = {}
    ds.to_zarr(
        MemoryStore(contents), mode="w", zarr_format=ZARR_FORMAT, consolidated=True, **kwargs
    )
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    for key in sorted(contents):
        target = path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(contents[key].to_bytes())


def file_disk_bytes(n_bytes: int, block: int = BLOCK_BYTES) -> int:
    """Bytes a file of `n_bytes` occupies on disk: whole blocks, at least one."""
    return max(1, math.ceil(n_bytes / block)) * block


def dataset_disk_bytes(
    ds: xr.Dataset, encoding: dict | None = None, block: int = BLOCK_BYTES
) -> int:
    """Estimated bytes on disk of `ds` written as a Zarr format-2 store (with the storage
    chunks of `encoding`, else one storage chunk per array), completion marker included.

    Every storage chunk is a file of the chunk's uncompressed size (an upper bound: the
    compressor may shrink it), rounded up to whole blocks; each array adds its two metadata
    files; the group its metadata files and the consolidated metadata
    (:data:`METADATA_BYTES_PER_ARRAY` per array). Measured against the allocated size (``du``)
    of real stores in ``tests/store/test_layout.py``.
    """
    encoding = encoding or {}
    arrays = [
        (var.shape, encoding.get(name, {}).get("chunks") or var.shape, var.dtype.itemsize)
        for name, var in ds.variables.items()
    ]
    return store_disk_bytes(arrays, block)


def store_disk_bytes(arrays, block: int = BLOCK_BYTES) -> int:
    """Estimated bytes on disk of a Zarr format-2 store of `arrays`, an iterable of
    ``(shape, storage chunks, itemsize)``, completion marker included (see
    :func:`dataset_disk_bytes`)."""
    total = 0
    n_arrays = 0
    for shape, chunks, itemsize in arrays:
        n_arrays += 1
        n_files = math.prod(
            math.ceil(size / max(1, chunk)) for size, chunk in zip(shape, chunks, strict=True)
        )
        total += n_files * file_disk_bytes(itemsize * math.prod(chunks), block)
    return total + metadata_disk_bytes(n_arrays, block)


def metadata_disk_bytes(n_arrays: int, block: int = BLOCK_BYTES) -> int:
    """Bytes on disk of the metadata files of a store of `n_arrays` arrays (each array's
    ``.zarray`` and ``.zattrs``, the group's files, ``.zmetadata`` and the marker)."""
    metadata = file_disk_bytes(METADATA_BYTES_PER_ARRAY * n_arrays, block)
    return n_arrays * ARRAY_METADATA_FILES * block + GROUP_METADATA_FILES * block + 2 * metadata


def files_disk_bytes(n_files: int, data_bytes: float, block: int = BLOCK_BYTES) -> int:
    """Bytes on disk of `n_files` files holding `data_bytes` together: at least a block each,
    and on average half a block more than their data."""
    if n_files == 0:
        return 0
    return int(max(n_files * block, data_bytes + n_files * block / 2))


def plain_encoding(ds: xr.Dataset) -> dict:
    """No ``_FillValue`` masking for ints and bools (their -1/False are data, not missing)."""
    return {
        name: {"_FillValue": None} for name, var in ds.variables.items() if var.dtype.kind in "iub"
    }


def set_coord_attrs(ds: xr.Dataset) -> None:
    """Attach :data:`mfsim.datamodel.COORD_ATTRS` to the coordinates present, in place."""
    for name, (long_name, units, description) in COORD_ATTRS.items():
        if name in ds.variables:
            ds[name].attrs.update(
                {"long_name": long_name, "units": units, "description": description}
            )


def sweep_storage_chunks(dims: tuple, sizes: dict, itemsize: int) -> tuple[int, ...]:
    """Storage chunks of a sweep-store variable: one d, all seeds and trailing dims of a grid
    point, grown along the inner grid dims until about :data:`TARGET_STORAGE_CHUNK_BYTES`."""
    chunks = {dim: sizes[dim] for dim in dims}
    grid_dims = [dim for dim in dims if dim in GRID_DIMS]
    for dim in grid_dims:
        chunks[dim] = 1
    point_bytes = itemsize * math.prod(chunks[dim] for dim in dims)
    if "seed" in chunks and point_bytes > MAX_STORAGE_CHUNK_BYTES:
        per_seed = point_bytes // max(1, chunks["seed"])
        chunks["seed"] = max(1, (MAX_STORAGE_CHUNK_BYTES // 2) // max(1, per_seed))
        return tuple(chunks[dim] for dim in dims)
    current = point_bytes
    for dim in reversed(grid_dims):
        if dim == "d" or current >= TARGET_STORAGE_CHUNK_BYTES:
            break
        grow = min(sizes[dim], math.ceil(TARGET_STORAGE_CHUNK_BYTES / current))
        chunks[dim] = grow
        current *= grow
    return tuple(chunks[dim] for dim in dims)
