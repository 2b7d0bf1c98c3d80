"""The ``Dataset.mfsim`` accessor: scaling fits and stage tables of a sweep Dataset.

Importing this module registers the accessor::

    import xarray as xr
    import mfsim.analysis.accessor  # noqa: F401

    ds = xr.open_zarr("results/<sweep>/sweep.zarr")
    fits = ds.mfsim.fit_scaling("escape")
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from mfsim.analysis import scaling

__all__ = ["MfsimAccessor"]


@xr.register_dataset_accessor("mfsim")
class MfsimAccessor:
    """Analysis methods of a sweep Dataset (``docs/design.md``), as ``ds.mfsim.<method>``.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep Dataset the accessor is attached to.
    """

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def fit_scaling(self, quantity: str, **kwargs) -> xr.Dataset:
        """Fit ``quantity`` versus d; see :func:`mfsim.analysis.scaling.fit_scaling`.

        Parameters
        ----------
        quantity : str
            Stage variable, e.g. ``"escape"``.
        **kwargs
            ``n_boot``, ``seed``, ``min_d``, ``min_seeds``, ``confidence``, ``n_curve``.

        Returns
        -------
        xarray.Dataset
            Fits, intervals, model comparison, verdicts and counts per group.
        """
        return scaling.fit_scaling(self._ds, quantity, **kwargs)

    def fit_all(self, **kwargs) -> xr.Dataset:
        """Fit all stage quantities; see :func:`mfsim.analysis.scaling.fit_all`.

        Parameters
        ----------
        **kwargs
            ``quantities`` and the keywords of :func:`mfsim.analysis.scaling.fit_scaling`.

        Returns
        -------
        xarray.Dataset
            Variables ``"<quantity>__<name>"``; :func:`mfsim.analysis.scaling.fits_for` splits them.
        """
        return scaling.fit_all(self._ds, **kwargs)

    def stage_table(self, **kwargs) -> pd.DataFrame:
        """Median and IQR over seeds per grid point and k; see ``scaling.stage_table``.

        Parameters
        ----------
        **kwargs
            ``quantities``.

        Returns
        -------
        pandas.DataFrame
            Long-format table with reached counts.
        """
        return scaling.stage_table(self._ds, **kwargs)
