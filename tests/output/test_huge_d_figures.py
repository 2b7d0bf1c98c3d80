"""Figures and report of a sweep whose d reach beyond float64 (10^400, 10^1000, stored as
-log10 d): the axes and labels read log10_d, never the stored negative value."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mfsim.analysis.scaling import fit_scaling
from mfsim.output.error_curves import error_curves_figures
from mfsim.output.report import write_report
from mfsim.output.scaling_plots import scaling_figures
from tests.helpers import in_process_sweep
from tests.store.test_huge_d_sweep import CONFIG, LOG10_D


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    ds = in_process_sweep(CONFIG, tmp_path_factory.mktemp("huge_figures"))
    return ds, fit_scaling(ds, "rise", n_boot=20)


def test_scaling_figure_axis_is_log10_d(huge):
    ds, fit = huge
    ((_, fig),) = scaling_figures(ds, fit, "rise")
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        (median,) = [line for line in ax.get_lines() if line.get_label() == "median"]
        assert median.get_xdata().tolist() == [float(x) for x in LOG10_D]
        assert "log_{10} d" in ax.get_xlabel()
        for line in ax.get_lines():  # fits and theory drawn within [2, 1000] in log10 d
            x = np.asarray(line.get_xdata(), dtype=float)
            assert np.all((x >= 2 - 1e-9) & (x <= 1000 + 1e-9)), line.get_label()
    plt.close(fig)


def test_error_curves_label_d_beyond_float64_by_its_power_of_ten(huge):
    ds, _ = huge
    ((_, fig),) = error_curves_figures(ds)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "d = 100: median of 2 seeds" in labels
    assert "d = 1e+1000: median of 2 seeds" in labels
    assert not any("-1000" in label or "-1e+03" in label for label in labels)
    plt.close(fig)


def test_report_states_the_fitted_d_range_as_powers_of_ten(huge, tmp_path):
    ds, fit = huge
    text = write_report(ds, fit, [], tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<msup><mn>10</mn><mn>1000</mn></msup>" in text
    assert "d in [100, 1e+1000] (3 values)" in text
    assert "<mo>\u2212</mo><mn>1000</mn>" not in text  # the stored -log10 d never shows
