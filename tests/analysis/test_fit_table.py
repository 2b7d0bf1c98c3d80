"""mfsim.analysis.fit_table: the tidy fit table, its files and its data dictionary."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

import mfsim
from mfsim.analysis.fit_table import column_descriptions, fits_table, write_fit_table
from tests.helpers import in_process_sweep, tiny

ETAS = (0.05, 0.1)


@pytest.fixture(scope="module")
def flat_sweep(tmp_path_factory) -> xr.Dataset:
    """Flat bulk (lambda = 1, 0.8, bulk 0.6), three decades of d, two step sizes, 4 seeds."""
    config = tiny(
        spectrum={"family": "flat"},
        grid={"d": [100, 1000, 10000], "eta": list(ETAS), "seeds": {"start": 0, "count": 4}},
        run={"steps": 4000},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return in_process_sweep(config, tmp_path_factory.mktemp("flat"))


@pytest.fixture(scope="module")
def scaling(flat_sweep) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfsim.fit_all(flat_sweep, n_boot=40)


@pytest.fixture(scope="module")
def table(scaling, flat_sweep) -> pd.DataFrame:
    return mfsim.fits_table(scaling, flat_sweep)


def test_one_row_per_defined_quantity_group_and_k(scaling, table):
    expected = 0
    for quantity in mfsim.analysis.scaling.fit_quantities(scaling):
        verdict = scaling[f"{quantity}__verdict"].values
        expected += int((verdict != "not defined").sum())
    assert len(table) == expected
    assert not table.duplicated(["quantity", "eta", "k", "eps"]).any()
    # every group coordinate is a column; t_eps rows have eps, the others k
    assert {"kappa", "varpi", "varpi_exponent", "eta", "r"} <= set(table.columns)
    t_eps = table[table["quantity"] == "t_eps"]
    assert t_eps["k"].isna().all() and t_eps["eps"].notna().all()
    assert table.loc[table["quantity"] != "t_eps", "k"].notna().all()


def test_values_equal_the_scaling_dataset_by_selection(scaling, table):
    """Each row read back by coordinate selection from scaling.zarr (a second route)."""
    for _, row in table.iterrows():
        q = row["quantity"]
        where = {dim: row[dim] for dim in ("kappa", "varpi", "varpi_exponent", "eta", "r")}
        where.update({"eps": row["eps"]} if q == "t_eps" else {"k": int(row["k"])})
        point = scaling.sel(where)
        assert row["verdict"] == str(point[f"{q}__verdict"].values)
        np.testing.assert_equal(row["log_slope"], float(point[f"{q}__log_slope"]))
        np.testing.assert_equal(row["log_slope_lo"], float(point[f"{q}__log_slope_lo"]))
        np.testing.assert_equal(row["cv_rmse_log"], float(point[f"{q}__cv_rmse"].sel(model="log")))
        assert row["n_runs"] == int(point[f"{q}__n_runs"].sum())
        used = point[f"{q}__used_in_fit"].values.astype(bool)
        if used.any():
            assert row["d_max"] == float(point["d"].values[used].max())
        np.testing.assert_equal(row["eta_log_slope"], row["eta"] * row["log_slope"])


def test_theory_column_is_the_small_signal_slope_written_out(table):
    rise = table[table["quantity"] == "rise"]
    for _, row in rise.iterrows():
        lam_k = (1.0, 0.8)[int(row["k"]) - 1]
        expected = 1.0 / (2.0 * math.log(1.0 + row["eta"] * (lam_k - 0.6)))
        assert row["theory_log_slope"] == pytest.approx(expected, rel=1e-12)
    star = table[table["quantity"] == "t_k_star"]
    # flat bulk at d <= 1e4: bound-dominated, slope 0 by construction
    assert (star["case"] == "bound-dominated").all() and (star["theory_log_slope"] == 0).all()
    others = table[~table["quantity"].isin(["rise", "t_k_star"])]
    assert others["theory_log_slope"].isna().all()
    assert others["theory_note"].str.startswith("no small-signal prediction").all()


def test_without_a_config_the_theory_says_why(scaling):
    table = fits_table(scaling)
    rise = table[table["quantity"] == "rise"]
    assert rise["theory_log_slope"].isna().all()
    assert (rise["theory_note"] == "the sweep's spectrum is unknown (no config given)").all()


def test_csv_and_parquet_hold_the_same_table_and_every_column_is_described(
    scaling, flat_sweep, table, tmp_path
):
    csv, parquet, columns = write_fit_table(scaling, tmp_path, config=flat_sweep)
    from_csv = pd.read_csv(csv, keep_default_na=True)
    from_parquet = pq.read_table(parquet).to_pandas()
    assert list(from_csv.columns) == list(from_parquet.columns) == list(table.columns)
    for column in table.columns:
        a, b = from_csv[column], from_parquet[column]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            np.testing.assert_allclose(
                a.astype(float), b.astype(float), rtol=1e-15, equal_nan=True, err_msg=column
            )
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), column
    dictionary = pd.read_csv(columns, keep_default_na=False)
    assert dictionary["column"].tolist() == list(table.columns)
    assert (dictionary["description"].str.len() > 10).all()
    schema = pq.read_schema(parquet)
    for field in schema:
        assert field.metadata[b"description"].decode(), field.name


def test_column_descriptions_refuse_an_undescribed_column(scaling, table):
    bare = table.assign(mystery=1.0)
    with pytest.raises(ValueError, match="'mystery' has no description"):
        column_descriptions(scaling, bare)


def test_accessor_on_a_sweep_and_on_a_scaling_dataset(scaling, flat_sweep, table):
    from_scaling = scaling.mfsim.fit_table(config=flat_sweep)
    pd.testing.assert_frame_equal(from_scaling, table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_sweep = flat_sweep.mfsim.fit_table(n_boot=40)
    pd.testing.assert_frame_equal(from_sweep, table)


def test_a_dataset_without_fits_is_refused(flat_sweep):
    with pytest.raises(ValueError, match="no fitted quantity"):
        fits_table(flat_sweep)


def test_the_fit_scaling_job_writes_the_table_beside_scaling_zarr(many_chunks, tmp_path):
    from mfsim.jobs import fit_job

    _, _, _, store = many_chunks
    out = tmp_path / "scaling.zarr"
    fit_job(store, out, tmp_path / "fit.log", table_dir=tmp_path)
    written = pd.read_csv(tmp_path / "fit_table.csv")
    expected = fits_table(xr.open_zarr(out), xr.open_zarr(store))
    assert list(written.columns) == list(expected.columns)
    np.testing.assert_allclose(written["log_slope"], expected["log_slope"], rtol=1e-15)
    assert (tmp_path / "fit_table.parquet").is_file()
    assert "fit_table.columns.csv" in (tmp_path / "fit.log").read_text()
