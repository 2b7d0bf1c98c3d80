"""Stores: atomic writes, the chunk-store layout, assembly of the sweep store, provenance.

Layout (``results/<sweep>/``)
    ``chunks/<chunk_id>.zarr``
        A *chunk store*: the runs of one chunk (one Snakemake job) along the dim ``run``, in
        canonical batch order (:mod:`mfsim.store.chunk_store`).
    ``sweep.zarr``
        The *sweep store*: dense over the grid dims :data:`mfsim.datamodel.AXES`
        (:mod:`mfsim.store.assemble`).

Both are written atomically (:mod:`mfsim.store.atomic`): a store without the completion marker
is never read. "Storage chunks" are Zarr's own chunking of an array on disk
(:mod:`mfsim.store.layout`); "chunk" alone always means the Snakemake unit of work.
"""

from mfsim.store.assemble import assemble
from mfsim.store.atomic import MARKER, IncompleteStoreError, is_complete
from mfsim.store.layout import chunk_store_path

__all__ = ["MARKER", "IncompleteStoreError", "assemble", "chunk_store_path", "is_complete"]
