"""The figures' own style: a user matplotlibrc cannot break them; fonts, palette, widths, the
``figures:`` options (time units, step axis)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mfsim.analysis.scaling import classify_runs
from mfsim.output import plots, style
from tests.analysis.synthetic import make_synthetic_sweep
from tests.helpers import ROOT

#: A user's matplotlibrc that breaks every figure drawn under it without LaTeX installed.
HOSTILE_RC = """
text.usetex: True
font.family: cursive
font.size: 30
axes.prop_cycle: cycler('color', ['ff00ff'])
savefig.bbox: tight
"""

_UNDER_HOSTILE_RC = """
import sys
from pathlib import Path
import matplotlib
from matplotlib.figure import Figure
out = Path(sys.argv[1])
assert matplotlib.rcParams["text.usetex"] is True  # the user's rc was read
if sys.argv[2] == "no-latex":  # control: a figure drawn with the user's rc fails
    fig = Figure()
    fig.subplots().set_title("t_k")
    try:
        fig.savefig(out / "control.png")
    except Exception as error:
        print("control failed:", type(error).__name__)
from mfsim.analysis.scaling import fit_all
from mfsim.output import plots
from mfsim.output.report import write_report
from tests.analysis.synthetic import make_synthetic_sweep
ds = make_synthetic_sweep(("log",), n_seeds=4)
fits = fit_all(ds, quantities=("rise",), n_boot=30)
files = plots.plot_sweep(ds, fits, out / "figures")
write_report(ds, fits, files, out / "report.html")
assert matplotlib.rcParams["text.usetex"] is True  # the user's settings are back afterwards
print("figures", len(files))
"""


def test_a_user_matplotlibrc_with_usetex_and_no_latex_does_not_break_the_report(tmp_path):
    """Issue 20: a matplotlibrc with text.usetex: True (no LaTeX installed) broke the report
    rule; the figures are drawn in the project's own style context instead."""
    rc_dir = tmp_path / "rc"
    rc_dir.mkdir()
    (rc_dir / "matplotlibrc").write_text(HOSTILE_RC)
    no_latex = shutil.which("latex") is None
    env = {**os.environ, "MATPLOTLIBRC": str(rc_dir), "PYTHONPATH": str(ROOT)}
    env["MPLCONFIGDIR"] = str(tmp_path / "mplconfig")
    result = subprocess.run(
        [sys.executable, "-c", _UNDER_HOSTILE_RC, str(tmp_path), "no-latex" if no_latex else ""],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if no_latex:  # the rc does break a figure drawn without the project's style
        assert "control failed: RuntimeError" in result.stdout
    assert "figures" in result.stdout
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_figures_use_dejavu_no_tex_the_palette_and_column_widths():
    ds = make_synthetic_sweep(("log",), n_seeds=4)
    with style.style_context():
        pass  # the context restores everything it set
    ((_, fig),) = plots.error_curves_figures(ds)
    width, _ = fig.get_size_inches()
    assert width == pytest.approx(style.COLUMN_WIDTH * 1.35)
    fig.canvas.draw()
    texts = [t for ax in fig.axes for t in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label]]
    assert texts and all(not t.get_usetex() for t in texts)
    assert all(t.get_fontfamily() == ["sans-serif"] for t in texts)
    colors = {line.get_color() for line in fig.axes[0].lines}
    assert colors <= set(style.PALETTE), colors
    figures = plots.heatmap_figures(ds)
    assert all(
        f.get_size_inches()[0] == pytest.approx(style.DOUBLE_COLUMN_WIDTH) for _, f in figures
    )


def test_figure_options_name_the_key_and_the_allowed_values():
    assert style.figure_options(None) == style.FigureOptions("paper", "steps", "log")
    with pytest.raises(ValueError, match=r"figures.time_units: got 'hours'; allowed: 'steps'"):
        style.figure_options({"time_units": "hours"})
    with pytest.raises(ValueError, match=r"figures.colour: unknown key \(allowed: style, "):
        style.figure_options({"colour": "red"})


def test_linear_step_axis_for_error_curves():
    ds = make_synthetic_sweep(("log",), n_seeds=4)
    ((_, fig),) = plots.error_curves_figures(ds, options={"step_axis": "linear"})
    assert fig.axes[0].get_xscale() == "linear"
    ((_, fig),) = plots.error_curves_figures(ds)
    assert fig.axes[0].get_xscale() == "symlog"


def test_stage_times_in_gradient_flow_time_are_eta_times_the_steps():
    """time_units eta_t: the medians drawn are eta x the medians of the reached runs."""
    ds = make_synthetic_sweep(("log",), n_seeds=5)
    from mfsim.analysis.scaling import fit_all

    fits = fit_all(ds, quantities=("rise",), n_boot=30)
    eta = float(ds["eta"].values[0])
    ((_, steps_fig),) = plots.scaling_figures(ds, fits, "rise")
    ((_, flow_fig),) = plots.scaling_figures(ds, fits, "rise", options={"time_units": "eta_t"})
    runs = classify_runs(ds, "rise").sortby("d").squeeze()
    for k, (ax_steps, ax_flow) in enumerate(zip(steps_fig.axes, flow_fig.axes, strict=True)):
        value = runs["value"].isel(k=k).transpose("d", "seed").values
        reached = runs["reached"].isel(k=k).transpose("d", "seed").values
        expected = [np.median(v[r]) for v, r in zip(value, reached, strict=True)]
        (medians,) = [line for line in ax_flow.lines if line.get_label() == "median"]
        np.testing.assert_allclose(medians.get_ydata(), eta * np.array(expected), rtol=1e-12)
        (medians,) = [line for line in ax_steps.lines if line.get_label() == "median"]
        np.testing.assert_allclose(medians.get_ydata(), expected, rtol=1e-12)
    assert r"\eta t" in flow_fig.axes[0].get_ylabel()
    assert "steps $t$" in steps_fig.axes[0].get_ylabel()


def test_heat_maps_write_values_only_in_small_figures():
    small = make_synthetic_sweep(("log",), d_values=(1e2, 1e4), n_seeds=2, heatmap_steps=(0,))
    ((_, fig),) = plots.heatmap_figures(small)  # 2 x 9 cells: values written
    assert sum(len(ax.texts) for ax in fig.axes) == 18
    large = make_synthetic_sweep(("log",), n_seeds=2)  # 6 d x 5 steps x 9 cells
    ((_, fig),) = plots.heatmap_figures(large)
    assert sum(len(ax.texts) for ax in fig.axes) == 0


def test_the_figures_section_of_a_config_has_defaults_and_checked_values():
    from mfsim.config.validate import ConfigError, load_config
    from tests.helpers import tiny

    config = load_config(tiny(), results_root=None)
    assert config["figures"] == {"style": "paper", "time_units": "steps", "step_axis": "log"}
    assert style.figure_options(config["figures"]) == style.FigureOptions()
    bad = {**tiny(), "figures": {"time_units": "hours"}}
    with pytest.raises(ConfigError, match="time_units"):
        load_config(bad, results_root=None)


def test_the_report_template_ships_as_package_data():
    """A wheel holds only the package data pyproject declares: every template must match."""
    import fnmatch
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["mfsim.output"]
    templates = sorted((ROOT / "mfsim" / "output" / "templates").iterdir())
    assert templates
    for path in templates:
        relative = f"templates/{path.name}"
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in declared), relative
