"""The ``Dataset.mfsim`` accessor: scaling fits and stage tables of a sweep Dataset.

Importing this module (or ``mfsim``) registers the accessor::

    import xarray as xr
    import mfsim

    ds = xr.open_zarr("results/<sweep>/sweep.zarr")
    fits = ds.mfsim.fit_scaling("escape")
    ds.mfsim.squeezed()  # the same data without the grid dims of size 1

Every method also accepts the Dataset of one batch (``mfsim.simulate``), whose grid values are
scalar coordinates: it is seen as a sweep with one value per grid dim (:func:`as_sweep`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import xarray as xr

from mfsim.analysis import fit_table, scaling
from mfsim.datamodel import AXES

__all__ = ["MfsimAccessor", "as_sweep", "squeeze_grid"]


def as_sweep(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with every grid value that is a scalar coordinate made a dim of size 1.

    A batch Dataset (``mfsim.simulate``) holds ``d``, ``kappa``, ``varpi``, ... as scalar
    coordinates; the analysis functions expect them as dims, as in ``sweep.zarr``. A sweep
    Dataset is returned unchanged.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep or batch Dataset (``docs/design.md``).

    Returns
    -------
    xarray.Dataset
        Dims ``(d, kappa, varpi, varpi_exponent, eta, r)`` (those present as coordinates) in
        front of each data variable's own dims; values unchanged.
    """
    scalar = [dim for dim in AXES if dim in ds.coords and dim not in ds.dims and ds[dim].ndim == 0]
    return ds.expand_dims(scalar) if scalar else ds


def squeeze_grid(ds: xr.Dataset, dims: Iterable[str] | None = None) -> xr.Dataset:
    """`ds` without its grid dims of size 1, each kept as a scalar coordinate.

    A sweep store has a dim for every grid axis (``mfsim.datamodel.AXES``), most of them often
    of size 1; this view drops those, so ``squeezed.t_k_star.sel(d=1000)`` needs no
    ``.squeeze()``. The store is not changed.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep Dataset.
    dims : iterable of str, optional
        Dims to drop if of size 1; default every grid axis (``seed`` included).

    Returns
    -------
    xarray.Dataset
        Lazy like `ds`; the dropped dims' values stay as scalar coordinates.

    Raises
    ------
    ValueError
        A dim of `dims` is not a dim of `ds`, or its size is not 1 (naming both).
    """
    if dims is None:
        drop = [dim for dim in AXES if ds.sizes.get(dim) == 1]
    else:
        drop = list(dims)
        for dim in drop:
            if dim not in ds.dims:
                raise ValueError(f"dims: {dim!r} is not a dim of the Dataset ({sorted(ds.dims)})")
            if ds.sizes[dim] != 1:
                raise ValueError(f"dims: {dim!r} has size {ds.sizes[dim]}, only size 1 is dropped")
    return ds.squeeze(drop) if drop else ds


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

    @property
    def _sweep(self) -> xr.Dataset:
        return as_sweep(self._ds)

    def squeezed(self, dims: Iterable[str] | None = None) -> xr.Dataset:
        """The Dataset without its grid dims of size 1; see :func:`squeeze_grid`.

        Parameters
        ----------
        dims : iterable of str, optional
            Dims to drop if of size 1; default every grid axis of size 1.

        Returns
        -------
        xarray.Dataset
            A view: the dropped dims' values stay as scalar coordinates.
        """
        return squeeze_grid(self._ds, dims)

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
        return scaling.fit_scaling(self._sweep, quantity, **kwargs)

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
        return scaling.fit_all(self._sweep, **kwargs)

    def fit_table(self, config=None, **kwargs) -> pd.DataFrame:
        """The fits as one tidy table; see :func:`mfsim.analysis.fit_table.fits_table`.

        On a scaling Dataset (``scaling.zarr``) the table of its fits; on a sweep Dataset (or
        a ``mfsim.simulate`` result) the fits are computed first (:meth:`fit_all`).

        Parameters
        ----------
        config : optional
            The sweep's config, for the theory columns (a sweep Dataset brings its own).
        **kwargs
            Keywords of :meth:`fit_all` (sweep Dataset only).

        Returns
        -------
        pandas.DataFrame
            One row per quantity x group x k (or eps).
        """
        if any(name.endswith("__verdict") for name in self._ds.data_vars):
            return fit_table.fits_table(self._ds, config)
        scaling_ds = scaling.fit_all(self._sweep, **kwargs)
        return fit_table.fits_table(scaling_ds, self._ds if config is None else config)

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
        return scaling.stage_table(self._sweep, **kwargs)
