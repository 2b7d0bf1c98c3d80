"""Tests of mfsim.plots: files written, figure layout."""

from __future__ import annotations

import numpy as np
import pytest

from mfsim.analysis.scaling import fit_all
from mfsim.output import plots
from tests.analysis.synthetic import D_VALUES, make_single_run, make_synthetic_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep():
    ds = make_synthetic_sweep(("log", "power"), n_seeds=6)
    ds["t_k_star_bound_dominated"].loc[{"d": D_VALUES[1], "seed": [0, 1]}] = True
    ds["escape"].loc[{"d": D_VALUES[5], "seed": [0, 1, 2]}] = np.nan
    return ds


@pytest.fixture(scope="module")
def fits(sweep):
    return fit_all(sweep, n_boot=100)


def assert_files(paths, n_figures):
    assert len(paths) == 2 * n_figures
    assert sorted(p.suffix for p in paths) == [".pdf"] * n_figures + [".png"] * n_figures
    for path in paths:
        data = path.read_bytes()
        assert len(data) > 1000
        assert data.startswith(PNG_MAGIC if path.suffix == ".png" else b"%PDF")


@pytest.mark.parametrize(
    ("quantity", "n_panels"), [("escape", 2), ("t_k_star", 2), ("rise", 3), ("t_eps", 2)]
)
def test_scaling_figures_one_panel_per_defined_index(sweep, fits, quantity, n_panels):
    figures = plots.scaling_figures(sweep, fits, quantity)
    assert len(figures) == 2  # one per kappa
    for selection, fig in figures:
        assert set(selection) == {"kappa", "varpi", "varpi_exponent", "eta", "r"}
        assert len(fig.axes) == n_panels
        for ax in fig.axes:
            assert ax.get_xscale() == "log"
            # log and power fits drawn with their bands
            assert len(ax.collections) >= 3


def test_plot_scaling_writes_png_and_pdf(sweep, fits, tmp_path):
    paths = plots.plot_scaling(sweep, fits, "escape", tmp_path / "fig" / "escape")
    assert_files(paths, 2)
    assert {p.name for p in paths} >= {"escape_kappa-1.png", "escape_kappa-2.pdf"}


def test_single_group_uses_the_stem_as_is(tmp_path):
    ds = make_synthetic_sweep(("log",), n_seeds=4)
    fits = fit_all(ds, quantities=("rise",), n_boot=50)
    paths = plots.plot_scaling(ds, fits, "rise", tmp_path / "rise")
    assert [p.name for p in paths] == ["rise.png", "rise.pdf"]


def test_error_curves(sweep, tmp_path):
    figures = plots.error_curves_figures(sweep)
    assert len(figures) == 2
    for _, fig in figures:
        (ax,) = fig.axes
        assert ax.get_yscale() == "log"
        # 6 seeds for each of the smallest and the largest d, plus 2 medians
        assert len(ax.lines) == 2 * 6 + 2
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[0].startswith("d = 100:") and labels[1].startswith("d = 1e+06:")
    assert_files(plots.plot_error_curves(sweep, tmp_path / "error"), 2)


def test_heatmaps(tmp_path):
    sweep = make_synthetic_sweep(
        ("log", "power"), d_values=(1e2, 1e4, 1e6), n_seeds=2, heatmap_steps=(0, 80, 300)
    )
    sweep["status"].loc[{"d": 1e4, "seed": 0}] = -1  # first existing seed is used
    figures = plots.heatmap_figures(sweep)
    assert len(figures) == 2
    n_d, n_h = sweep.sizes["d"], sweep.sizes["heatmap_step"]
    for _, fig in figures:
        images = [ax for ax in fig.axes if ax.images]
        assert len(images) == n_d * n_h
        assert len(fig.axes) == n_d * n_h + 1  # + colorbar
        limits = {im.get_clim() for ax in images for im in ax.images}
        assert len(limits) == 1  # shared color scale
        assert [ax.get_title() for ax in fig.axes[:n_h]] == ["t = 0", "t = 80", "t = 300"]
        labels = [ax.get_ylabel() for ax in fig.axes[: n_d * n_h : n_h]]
        assert labels == ["d = 100\n(seed 0)", "d = 10000\n(seed 1)", "d = 1e+06\n(seed 0)"]
    assert_files(plots.plot_heatmaps(sweep, tmp_path / "heat"), 2)


def test_figure1(tmp_path):
    run = make_single_run(d=200, n_steps=320)
    fig = plots.figure1_figure(run)
    n_h = run.sizes["heatmap_step"]
    assert len(fig.axes) == 1 + n_h + 1
    error_ax = fig.axes[0]
    assert error_ax.get_yscale() == "log"
    red = [line for line in error_ax.lines if line.get_color() == "red"]
    assert len(red) == 1 and len(red[0].get_xdata()) == n_h
    np.testing.assert_array_equal(red[0].get_xdata(), run["heatmap_step"].values)
    assert_files(plots.plot_figure1(run, tmp_path / "figure1"), 1)


def test_figure1_needs_a_single_run(sweep):
    with pytest.raises(ValueError, match="single run"):
        plots.figure1_figure(sweep)
