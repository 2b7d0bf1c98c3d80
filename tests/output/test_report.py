"""Tests of mfsim.report: the self-contained HTML report."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mfsim.analysis.scaling import (
    VERDICT_FASTER,
    VERDICT_FLAT,
    VERDICT_LOG,
    VERDICT_NOT_ENOUGH,
    fit_all,
    fit_scaling,
)
from mfsim.output import plots
from mfsim.output.report import verdict_rows, write_report
from tests.analysis.synthetic import D_VALUES, make_synthetic_sweep


@pytest.fixture(scope="module")
def sweep():
    ds = make_synthetic_sweep(("log", "power", "const"), n_seeds=8)
    ds["escape"].loc[{"d": D_VALUES[5], "seed": [0, 1]}] = np.nan
    ds["t_k_star_bound_dominated"].loc[{"d": D_VALUES[2], "seed": [3]}] = True
    return ds


@pytest.fixture(scope="module")
def fits(sweep):
    return fit_all(sweep, n_boot=200)


@pytest.fixture(scope="module")
def report(sweep, fits, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    figures = plots.plot_scaling(sweep, fits, "escape", out / "escape")
    figures += plots.plot_error_curves(sweep.sel(kappa=[1.0]), out / "error")
    path = write_report(sweep, fits, figures, out / "sub" / "report.html")
    return path, path.read_text(encoding="utf-8"), figures


def test_report_is_written_with_verdicts_first(report):
    path, text, _ = report
    assert path.exists() and path.stat().st_size > 0
    assert text.startswith("<!DOCTYPE html>")
    table = text.index("<table")
    assert table < text.index("<img")
    assert table < text.index('<h2 id="method">') < text.index('<h2 id="figures">')
    assert text.index('<h2 id="figures">') < text.index('<h2 id="provenance">')
    verdict_section = text[table : text.index('<h2 id="method">')]
    for verdict in (VERDICT_LOG, VERDICT_FASTER, VERDICT_FLAT):
        assert verdict in verdict_section


def test_figures_are_embedded(report):
    _, text, figures = report
    n_png = sum(p.suffix == ".png" for p in figures)
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+"', text))
    assert text.count("data:image/png;base64,") == n_png
    assert "escape_kappa-1.pdf" in text  # PDFs listed, not embedded
    assert "file://" not in text


def test_html_is_escaped(report):
    _, text, _ = report
    assert "<script>" not in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text  # from the sweep's config attr


def test_table_rows_and_counts(sweep, fits, report):
    _, text, _ = report
    rows, n_omitted, fixed = verdict_rows(fits)
    # escape, plateau, t_k_star: k = 1, 2; rise, learned: k = 1..3; t_eps: 2 eps; 3 kappas
    assert len(rows) == 3 * (3 * 2 + 2 * 3 + 2)
    assert n_omitted == 3 * 3  # k = r for escape, plateau, t_k_star
    assert fixed == "varpi=0.5, varpi_exponent=0, eta=0.1, r=3"
    escape = [r for r in rows if r["quantity"] == "escape" and r["index"] == "k=1"]
    assert [r["group"] for r in escape] == ["kappa=1", "kappa=2", "kappa=3"]
    assert all(r["n_not_reached"] == 2 and r["n_reached"] == 46 for r in escape)
    t_k_star = [r for r in rows if r["quantity"] == "t_k_star"]
    assert all(r["n_bound_dominated"] == 1 for r in t_k_star)
    assert "9 (quantity, group, k) combinations omitted" in text
    assert text.count('<td class="verdict">') == len(rows)


def test_single_fit_and_not_enough_data(sweep, tmp_path):
    ds = sweep.copy(deep=True)
    ds["rise"].loc[{"d": list(D_VALUES[:4])}] = np.nan
    fit = fit_scaling(ds, "rise", n_boot=50)
    path = write_report(ds, fit, [], tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert VERDICT_NOT_ENOUGH in text
    assert "No figures." in text
