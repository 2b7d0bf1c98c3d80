"""`snakemake --cores 2` on the default config ends with the fits, figures, audit and report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mfsim.analysis.scaling import fit_quantities, fits_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.scenario]


def test_default_sweep_produces_every_output(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
         "--directory", str(tmp_path), "--cores", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "results" / "default"
    ds = xr.open_zarr(out / "sweep.zarr")
    assert ds.sizes["d"] >= 3 and np.log10(ds.d.max() / ds.d.min()) >= 2  # two decades of d
    fits = xr.open_dataset(out / "scaling.zarr")
    quantities = fit_quantities(fits)
    assert {"escape", "rise", "learned", "plateau", "t_eps", "t_k_star"} <= set(quantities)
    escape = fits_for(fits, "escape").sel(k=1).squeeze()
    assert str(escape["verdict"].values) != "not enough data"
    figures = out / "figures"
    for quantity in quantities:
        for suffix in (".png", ".pdf"):
            assert (figures / f"scaling_{quantity}{suffix}").stat().st_size > 1000
    for name in ("error_curves", "heatmaps"):
        assert (figures / f"{name}.png").stat().st_size > 1000
    audit = xr.open_dataset(out / "audit.zarr")
    assert "violations_noise_decay" in audit
    # the t_k^* bracket is checked on every run with a literal t_k^* (k < r)
    with_value = int((ds.t_k_star.notnull() & (ds.k < ds.r)).sum())
    assert audit.attrs["bracket_runs_checked"] == with_value > 0
    assert audit.attrs["bracket_violating_entries"] == 0
    html = (out / "report.html").read_text()
    # the answer first: the finding and the headline table come before any figure
    assert html.index('id="finding"') < html.index('id="headline"') < html.index("<img")
    assert html.count("<img") >= len(quantities) + 2
    assert "Theorem 6 audit" in html and str(escape["verdict"].values) in html
    assert f"held on {with_value} of {with_value} (run, k) entries" in html
