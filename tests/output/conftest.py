"""A real small sweep with its scaling store, figures and report, shared by tests/output."""

from __future__ import annotations

import pytest

from tests.helpers import in_process_sweep

#: flat family, four d, two step sizes (an axis other than d: overlay figures), 6 seeds.
SMALL_SWEEP = {
    "sweep": "small",
    "spectrum": {"family": "flat", "lambda_1": 1.0},
    "grid": {
        "d": [100, 400, 1600, 6400],
        "r": [2],
        "kappa": [5],
        "varpi": [0.5],
        "eta": [0.05, 0.1],
        "seeds": {"count": 6},
    },
    "run": {"steps": 1500},
}


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory):
    """(sweep Dataset, fits) of :data:`SMALL_SWEEP`, computed in this process."""
    from mfsim.analysis.scaling import fit_all

    ds = in_process_sweep(SMALL_SWEEP, tmp_path_factory.mktemp("small"))
    return ds, fit_all(ds, n_boot=200)


@pytest.fixture(scope="session")
def small_report(small_sweep, tmp_path_factory):
    """The report of :data:`SMALL_SWEEP` with all its figures: (path, text, figure paths)."""
    from mfsim.output import plots
    from mfsim.output.report import write_report

    ds, fits = small_sweep
    out = tmp_path_factory.mktemp("small_report")
    # two processes: the same files as one (tests/output/test_plots.py), in about half the time
    # on two cores
    files = plots.plot_sweep(ds, fits, out / "figures", workers=2)
    path = write_report(ds, fits, sorted((out / "figures").glob("*.png")), out / "report.html")
    return path, path.read_text(encoding="utf-8"), files
