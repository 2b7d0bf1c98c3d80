"""Tests of mfsim.plots: files written, figure layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from mfsim.analysis.scaling import fit_all
from mfsim.output import plots, style
from mfsim.output.selection import nanpercentile_columns
from tests.analysis.synthetic import D_VALUES, make_single_run, make_synthetic_sweep
from tests.helpers import in_process_sweep

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
        assert ax.get_yscale() == "log" and ax.get_xscale() == "symlog"
        # 6 seeds for each of the smallest and the largest d, plus 2 medians (lines without
        # markers); the stage markers are separate points
        curves = [
            line
            for line in ax.lines
            if line.get_marker() in ("None", "", None) and line.get_linestyle() != ":"
        ]
        assert len(curves) == 2 * 6 + 2
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[0] == "d = 100: median of 6 seeds"
        assert labels[1] == "d = 1e+06: median of 6 seeds"
    assert_files(plots.plot_error_curves(sweep, tmp_path / "error"), 2)


def converging_sweep(n_steps: int = 10_000, rate: float = 0.1) -> xr.Dataset:
    """error = max(exp(-rate t), 1e-16) for every run: reaches its float64-like floor."""
    steps = np.arange(n_steps + 1)
    error = np.maximum(np.exp(-rate * steps), 1e-16)
    return xr.Dataset(
        {"error": (("d", "seed", "step"), np.broadcast_to(error, (2, 3, steps.size)).copy())},
        coords={"d": [100, 1000], "seed": [0, 1, 2], "step": steps},
    )


def test_error_curve_axis_stops_after_convergence_and_summarizes_the_tail():
    ((_, fig),) = plots.error_curves_figures(converging_sweep())
    (ax,) = fig.axes
    # closed form: within 10x of the floor 1e-16 from exp(-t/10) <= 1e-15, t >= 150 ln 10 /
    # 4.5... i.e. the first integer t >= 15 ln(10) / 0.1 = 345.4: t = 346; the axis ends 1.5x later
    first = int(np.ceil(15 * np.log(10) / 0.1))
    assert first == 346
    assert ax.get_xlim() == pytest.approx((0, 1.5 * first))
    assert "not shown: t = 519 to 10000" in ax.get_title()
    assert "1.0e-16" in ax.get_title()


def test_error_curve_axis_is_not_clipped_before_convergence():
    ds = converging_sweep(n_steps=300)  # exp(-30) = 9e-14: never at the floor
    ((_, fig),) = plots.error_curves_figures(ds)
    assert fig.axes[0].get_xlim() == pytest.approx((0, 300))
    assert "not shown" not in fig.axes[0].get_title()


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


def test_heatmap_cells_show_small_values_in_scientific_notation_and_titles_fit():
    sweep = make_synthetic_sweep(("log",), d_values=(1e2, 1e4), n_seeds=2, heatmap_steps=(0,))
    block = np.array([[5.2e-5, -3.0e-3, 0.5], [-3.0e-3, 1.0e-7, 0.0], [0.5, 0.0, 0.25]])
    sweep["top_gram"].values[...] = block
    ((_, fig),) = plots.heatmap_figures(sweep)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["5.2e-5", "-3.0e-3", "0.50", "-3.0e-3", "1.0e-7", "0", "0.50", "0", "0.25"]
    # the title (long grid coordinates) is wrapped inside the figure, not clipped
    fig.canvas.draw()
    (title,) = [text for text in fig.texts if text.get_text() == fig.get_suptitle()]
    box = title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1


def test_figure1(tmp_path):
    run = make_single_run(d=200, n_steps=320)
    fig = plots.figure1_figure(run)
    n_h = run.sizes["heatmap_step"]
    assert len(fig.axes) == 1 + n_h + 1
    error_ax = fig.axes[0]
    assert error_ax.get_yscale() == "log"
    red = [line for line in error_ax.lines if line.get_color() == style.VERMILLION]
    assert len(red) == 1 and len(red[0].get_xdata()) == n_h
    np.testing.assert_array_equal(red[0].get_xdata(), run["heatmap_step"].values)
    assert_files(plots.plot_figure1(run, tmp_path / "figure1"), 1)


def test_figure1_needs_a_single_run(sweep):
    with pytest.raises(ValueError, match="single run"):
        plots.figure1_figure(sweep)


def test_scaling_legend_entries_are_in_full(sweep, fits):
    (_, fig), _ = plots.scaling_figures(sweep, fits, "escape")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "fit constant" in labels
    assert "fit m" not in labels, labels


# --------------------------------------------------------------------------------------------
# map sweeps: eta x varpi at one d


MAP_CONFIG = {
    "sweep": "map",
    "spectrum": {"family": "flat", "lambda_1": 1.0},
    "grid": {
        "d": [200],
        "r": [2],
        "kappa": [5],
        "eta": [0.002, 0.05, 0.3],
        "varpi": [0.3, 1.0, 4.0],
        "seeds": {"count": 4},
    },
    "run": {"steps": 3000, "heatmap_steps": [0, 100, 1000]},
}


@pytest.fixture(scope="module")
def map_sweep(tmp_path_factory):
    return in_process_sweep(MAP_CONFIG, tmp_path_factory.mktemp("map"))


def test_map_sweep_gets_maps_instead_of_one_figure_per_cell(map_sweep, tmp_path):
    assert plots.map_axes(map_sweep) == ["varpi", "eta"]
    files = plots.plot_sweep(map_sweep, None, tmp_path)
    assert sorted(p.name for p in files) == sorted(
        f"{name}.{suffix}" for name in ("maps", "error_curves", "heatmaps")
        for suffix in ("png", "pdf")
    )  # fmt: skip
    ((_, fig),) = plots.error_curves_figures(map_sweep)
    assert len([ax for ax in fig.axes if ax.get_visible() and ax.lines]) == 3  # one per eta


def test_map_values_and_boundaries(map_sweep):
    ((selection, fig),) = plots.map_figures(map_sweep)
    assert selection["d"] == 200
    panels = [ax for ax in fig.axes if ax.collections and ax.get_title()]
    titles = [ax.get_title() for ax in panels]
    assert titles[:2] == [
        "fraction of runs diverged",
        r"median time to accuracy $\varepsilon = 10^{-6}$",
    ]
    assert "median saddle-escape time, $k = 1$" in titles
    cell = map_sweep.squeeze()  # dims (varpi, eta, seed, ...)
    status = cell["status"].transpose("varpi", "eta", "seed").values
    # independent count: diverged or non-finite among the runs
    expected = ((status == 2) | (status == 3)).sum(axis=-1) / (status >= 0).sum(axis=-1)
    assert expected.max() == 1 and expected.min() == 0  # the grid crosses the divergence limit
    shown = panels[0].collections[0].get_array()
    np.testing.assert_array_equal(np.asarray(shown).reshape(3, 3), expected)
    # median t_eps: where every run reached eps, the plain median; else "not reached" counts
    t_eps = cell["t_eps"].sel(eps=1e-6).transpose("varpi", "eta", "seed").values
    shown = np.ma.filled(panels[1].collections[0].get_array(), np.nan).reshape(3, 3)
    for i, j in np.ndindex(3, 3):
        runs = t_eps[i, j]
        reached = np.isfinite(runs)
        if reached.all():
            assert shown[i, j] == np.median(runs)
        elif reached.sum() < 2:  # 4 seeds: fewer than 2 reached -> the median is not reached
            assert np.isnan(shown[i, j])
    # Theorem 6: eta <= Delta / (100 lambda_1^2) with Delta = lambda_1 / kappa = 0.2
    ax = panels[0]
    vertical = [line for line in ax.lines if line.get_linestyle() == "-."]
    assert vertical[0].get_xdata()[0] == pytest.approx(0.2 / 100)
    # divergence limit sigma_1(X_0) = varpi sigma_1(N_0) = 1 / sqrt(3 eta); sigma_1(N_0) from
    # the stored sigma_1^2(X_0) of the runs
    s = np.median(
        np.sqrt(cell["sigma1_sq_X"].sel(step=0).values) / cell["varpi"].values[:, None, None]
    )
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"][0]
    eta, varpi = dashed.get_xdata(), dashed.get_ydata()
    np.testing.assert_allclose(varpi, 1 / (s * np.sqrt(3 * eta)), rtol=1e-12)
    assert 1.0 < s < 1.0 + 2 * np.sqrt(2 / 200)  # sigma_1 of a 200 x 2 N(0, 1/200) matrix
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("Theorem 6" in label and r"\Delta/(100 \lambda_1^2)" in label for label in labels)
    assert any(r"1/\sqrt{3\eta}" in label for label in labels)


@pytest.fixture(scope="module")
def tiny_real_sweep(tmp_path_factory):
    from tests.helpers import TINY

    config = {**TINY, "run": {"steps": 400, "stop_error": 0.0}}
    return in_process_sweep(config, tmp_path_factory.mktemp("noise"))


def test_noise_figure_draws_the_median_and_the_floor_and_decays_geometrically(tiny_real_sweep):
    """Issue 13: the noise plot shows the median noise_k of the smallest and largest d beside
    its rounding floor; on a log axis its decay is a straight line (geometric)."""
    ds = tiny_real_sweep
    ((_, fig),) = plots.noise_figures(ds)
    (ax,) = fig.axes  # r = 2: one panel, k = 1
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(solid) == 2 and len(dashed) == 2  # d = 50 and d = 200
    sel = {name: ds[name].values[0] for name in ("kappa", "varpi", "varpi_exponent", "eta", "r")}
    for line, d in zip(solid, (50, 200), strict=True):
        noise = ds.noise.sel(sel).sel(d=d, k=1).transpose("seed", "step").values
        np.testing.assert_allclose(line.get_ydata(), np.median(noise, axis=0), rtol=1e-12)
    # the median of d = 200 decays geometrically once the signals are learned: the log of the
    # noise is a straight line between step 200 and the step where it meets its floor
    median = solid[1].get_ydata()
    floor = dashed[1].get_ydata()
    steps = ds.step.values
    window = (steps >= 200) & (median > 100 * floor)
    assert window.sum() > 20
    slope, intercept = np.polyfit(steps[window], np.log(median[window]), 1)
    residual = np.log(median[window]) - (slope * steps[window] + intercept)
    assert slope < 0 and np.abs(residual).max() < 0.05 * abs(slope) * np.ptp(steps[window])


def test_noise_figures_skip_map_sweeps(map_sweep):
    assert plots.noise_figures(map_sweep) == []


def test_fit_curves_stay_within_the_fitted_d(sweep):
    """A fit speaks for the d it was fitted on: with the two smallest d not reached by any seed,
    no fitted curve is drawn below the third d (the bound-dominated plateau of t_k^* at small d
    would otherwise carry a log line far below zero)."""
    ds = sweep.copy(deep=True)
    ds["rise"].loc[{"d": list(D_VALUES[:2])}] = np.nan
    figures = plots.scaling_figures(ds, fit_all(ds, quantities=("rise",), n_boot=50), "rise")
    labels = (
        r"fit $a + b \ln d$ (95% band)",
        r"fit $c\, d^{\alpha}$ (95% band)",
        "fit constant",
    )
    for _, fig in figures:
        for ax in fig.axes:
            fitted = [line for line in ax.lines if line.get_label() in labels]
            assert fitted
            for line in fitted:
                x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
                assert np.isfinite(y).any()
                assert x[np.isfinite(y)].min() >= D_VALUES[2] * (1 - 1e-9)


def _without_creation_date(data: bytes) -> bytes:
    import re

    return re.sub(rb"/CreationDate \(.*?\)", b"", data)


def test_plot_sweep_in_parallel_processes_writes_the_same_files(tmp_path):
    """workers=2 draws the figure groups in forked processes: same files, same order, same
    bytes (PDFs up to their creation date) as drawing them in this process."""
    # every figure kind of one group and one fitted quantity (six tasks, ~20 files): the
    # module's sweep (two groups, every quantity) took 4 times as long (issue 22 item 7)
    sweep = make_synthetic_sweep(("log",), n_seeds=4)
    fits = fit_all(sweep, quantities=("rise",), n_boot=30)
    serial = plots.plot_sweep(sweep, fits, tmp_path / "serial")
    parallel = plots.plot_sweep(sweep, fits, tmp_path / "parallel", workers=2)
    assert [p.name for p in parallel] == [p.name for p in serial]
    assert len(serial) > 4
    for a, b in zip(serial, parallel, strict=True):
        assert _without_creation_date(a.read_bytes()) == _without_creation_date(b.read_bytes())


def test_percentile_bands_equal_numpys_nanpercentile():
    """The noise figure's quartile band: numpy.percentile on columns without NaN, nanpercentile
    on the others; the same doubles as numpy.nanpercentile over the whole array."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        rows, columns = int(rng.integers(1, 20)), int(rng.integers(1, 30))
        curves = rng.lognormal(size=(rows, columns)) * 10.0 ** rng.integers(-300, 300)
        curves[rng.random((rows, columns)) < rng.uniform(0, 0.7)] = np.nan
        if trial % 5 == 0:
            curves[rng.random((rows, columns)) < 0.1] = np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            expected = np.nanpercentile(curves, [25, 75], axis=0)
            got = nanpercentile_columns(curves, [25, 75])
        np.testing.assert_array_equal(got, expected)
