"""Overlay figures: the fitted log slopes against a grid axis other than d, with the
small-signal prediction, in steps or in gradient-flow time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfsim.analysis.scaling import fits_for
from mfsim.output import plots
from mfsim.output.overlays import overlay_axes


def _figure(figures, quantity, axis):
    (fig,) = [fig for key, fig in figures if key == {"quantity": quantity, "axis": axis}]
    return fig


def test_rise_slopes_against_eta_with_the_closed_form_prediction(small_sweep):
    ds, fits = small_sweep
    assert overlay_axes(fits) == ["eta"]
    figures = plots.overlay_figures(ds, fits)
    fig = _figure(figures, "rise", "eta")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2  # k = 1, 2
    rise = fits_for(fits, "rise").squeeze()
    eta = ds["eta"].values.astype(float)
    # flat family, kappa = 5, r = 2: lambda = 1, 0.8 and the bulk at 0.6 (docs/transition.md,
    # eq. R: 1 / (2 ln(1 + eta (lambda_k - lambda_3))))
    gaps = (0.4, 0.2)
    for k, (ax, gap) in enumerate(zip(panels, gaps, strict=True), start=1):
        (container,) = ax.containers
        x, y = container.lines[0].get_data()
        np.testing.assert_array_equal(x, eta)
        np.testing.assert_allclose(y, rise.sel(k=k)["log_slope"].values, rtol=1e-12)
        (theory,) = [line for line in ax.lines if line.get_linestyle() == "--"]
        expected = [1 / (2 * math.log1p(e * gap)) for e in eta]
        np.testing.assert_allclose(theory.get_ydata(), expected, rtol=1e-9)
        assert ax.get_xlabel() == r"step size $\eta$"


def test_in_gradient_flow_time_the_slopes_are_multiplied_by_eta(small_sweep):
    """eta x b: the small-signal slope 1/(2 ln(1 + eta gap)) ~ 1/(2 eta gap) collapses."""
    ds, fits = small_sweep
    steps = _figure(plots.overlay_figures(ds, fits), "rise", "eta")
    flow = _figure(plots.overlay_figures(ds, fits, options={"time_units": "eta_t"}), "rise", "eta")
    eta = ds["eta"].values.astype(float)
    for ax_steps, ax_flow in zip(steps.axes[:2], flow.axes[:2], strict=True):
        y_steps = ax_steps.containers[0].lines[0].get_ydata()
        y_flow = ax_flow.containers[0].lines[0].get_ydata()
        np.testing.assert_allclose(y_flow, eta * y_steps, rtol=1e-12)
        (theory,) = [line for line in ax_flow.lines if line.get_linestyle() == "--"]
        # eta / (2 ln(1 + eta gap)) varies by less than eta gap / 2 (a few percent) over eta
        assert np.ptp(theory.get_ydata()) < 0.05 * theory.get_ydata().mean()
    assert r"$\eta t$" in flow.axes[0].get_ylabel()


def test_overlays_are_written_by_plot_sweep(small_report):
    _, _, files = small_report
    names = {path.name for path in files}
    assert {"overlay_rise_eta.png", "overlay_rise_eta.pdf"} <= names
    assert not any(name.startswith("overlay_") and "_d." in name for name in names)


def test_no_overlay_without_a_second_axis():
    from mfsim.analysis.scaling import fit_all
    from tests.analysis.synthetic import make_synthetic_sweep

    ds = make_synthetic_sweep(("log",), n_seeds=4)
    fits = fit_all(ds, quantities=("rise",), n_boot=20)
    assert overlay_axes(fits) == []
    assert plots.overlay_figures(ds, fits) == []


@pytest.mark.parametrize("axis", ["kappa"])
def test_synthetic_overlay_across_kappa_draws_every_finite_slope(axis):
    from mfsim.analysis.scaling import fit_all
    from tests.analysis.synthetic import make_synthetic_sweep

    ds = make_synthetic_sweep(("log", "power"), n_seeds=4)
    fits = fit_all(ds, quantities=("escape",), n_boot=20)
    fig = _figure(plots.overlay_figures(ds, fits), "escape", axis)
    ax = fig.axes[0]
    x, y = ax.containers[0].lines[0].get_data()
    slope = fits_for(fits, "escape").sel(k=1).squeeze()["log_slope"].values
    np.testing.assert_allclose(y, slope, rtol=1e-12)
    np.testing.assert_array_equal(x, ds[axis].values)
