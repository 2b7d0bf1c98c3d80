"""The GD engine: initialization, kernels, stage detection, the Dataset of a batch."""

from mfsim.arguments import check_environment

# numba reads NUMBA_NUM_THREADS and NUMBA_THREADING_LAYER when it is imported (by the modules of
# this package) and fails with its own message: name the variable and the fix first
check_environment()

# numba reads NUMBA_CACHE_DIR when it is imported: point it at mfsim's per-version kernel cache
# before any module of this package imports numba (mfsim.engine.compilation)
from mfsim.engine.compilation import direct_numba_cache  # noqa: E402

direct_numba_cache()
