"""Tests of mfsim.report: the self-contained HTML report."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from mfsim.analysis.scaling import (
    VERDICT_BOUND,
    VERDICT_FASTER,
    VERDICT_FLAT,
    VERDICT_LOG_DECISIVE,
    VERDICT_NOT_REACHED,
    fit_all,
    fit_scaling,
)
from mfsim.output import plots
from mfsim.output.report import opening_sentences, theory_rows, verdict_rows, write_report
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


def test_report_leads_with_its_answer(report):
    """First the finding, the headline table and the key figure; then, collapsible, the
    detail tables, the method, the other figures and the provenance."""
    path, text, _ = report
    assert path.exists() and path.stat().st_size > 0
    assert text.startswith("<!DOCTYPE html>")
    first = [text.index(marker) for marker in ('<p id="finding">', '<table id="headline">',
                                               '<figure id="key-figure">', "<details")]  # fmt: skip
    assert first == sorted(first)
    assert text.index('<details id="verdicts"') < text.index('<details id="method">')
    assert text.index('<details id="method">') < text.index('<details id="figures"')
    assert text.index('<details id="figures"') < text.index('<details id="provenance">')
    verdict_section = text[
        text.index('<details id="verdicts"') : text.index('<details id="method">')
    ]
    for verdict in ("decisive against power laws", "grows faster than", VERDICT_FLAT):
        assert verdict in verdict_section
    assert "<script" not in text  # no script: the page works offline as it is


def test_figures_are_embedded(report):
    _, text, figures = report
    n_png = sum(p.suffix == ".png" for p in figures)
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+"', text))
    assert text.count("data:image/png;base64,") == n_png
    key = text[text.index('<figure id="key-figure">') :]
    assert key.index("escape_kappa-1.png") < key.index("</figure>")  # escape: the key figure
    assert "escape_kappa-1.pdf" in text  # PDFs listed, not embedded
    assert "file://" not in text and "http://" not in text and "https://" not in text


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
    # literal t_k^* and proxies in separate tables, in that order
    literal = text[text.index('<h3 id="literal">') : text.index('<h3 id="proxies">')]
    proxies = text[text.index('<h3 id="proxies">') : text.index('<details id="theory">')]
    assert literal.count('<td class="verdict">') == len(t_k_star)
    assert proxies.count('<td class="verdict">') == len(rows) - len(t_k_star)
    assert "<msubsup><mi>t</mi><mi>k</mi><mo>*</mo></msubsup>" not in proxies.split("</h3>", 1)[1]
    # the headline: at most 12 rows, the literal t_k^* first
    headline = text[text.index('<table id="headline">') : text.index("</table>")]
    assert headline.count("<tr class=") == 12
    assert headline.index("<msubsup><mi>t</mi><mi>k</mi><mo>*</mo>") < headline.index("rise")
    assert f"{len(rows) - 12} more rows in the detail tables below" in text


def test_single_fit_and_not_enough_data(sweep, tmp_path):
    ds = sweep.copy(deep=True)
    ds["rise"].loc[{"d": list(D_VALUES[:4])}] = np.nan
    fit = fit_scaling(ds, "rise", n_boot=50)
    path = write_report(ds, fit, [], tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert VERDICT_NOT_REACHED in text
    assert "No figures." in text


def test_opening_sentences_one_per_quantity_with_the_case(sweep, fits, report):
    _, text, _ = report
    rows, _, _ = verdict_rows(fits)
    sentences = opening_sentences(rows)
    assert len(sentences) == len({row["quantity"] for row in rows})
    assert sentences[0].startswith("literal t_k^* (eq. 15): ")
    assert all("measured (fitted) at" in s for s in sentences)
    # the per-quantity findings are one collapsible section below the headline
    assert text.index('<table id="headline">') < text.index('<ul id="opening">')
    assert text.index('<details id="findings">') < text.index('<ul id="opening">')


def test_opening_says_bound_dominated_and_why(sweep):
    ds = sweep.copy(deep=True)
    ds["t_k_star_bound_dominated"][:] = True
    ds["t_sharp"] = ((), 1104.8)
    fit = fit_scaling(ds, "t_k_star", n_boot=50)
    rows, _, _ = verdict_rows(fit)
    assert {row["verdict"] for row in rows} == {VERDICT_BOUND}
    (sentence,) = opening_sentences(rows)
    assert "bound-dominated at every d" in sentence and "ceil(t^sharp) = 1105" in sentence
    assert "config/transition.yaml" in sentence  # where the literal t_k^* is measured


def test_opening_says_not_reached_and_when_the_runs_stopped(sweep):
    ds = sweep.copy(deep=True)
    ds["t_k_star"][:] = np.nan
    ds["t_k"] = xr.full_like(ds["t_k_star"], 2909.0)
    ds["stop_step"] = xr.full_like(ds["status"], 1500.0, dtype=float)
    fit = fit_scaling(ds, "t_k_star", n_boot=50)
    (sentence,) = opening_sentences(verdict_rows(fit)[0])
    assert "not reached" in sentence
    assert "stopped at step 1500 or earlier" in sentence and "t_k = 2909 to 2909" in sentence


def test_empty_audit_is_flagged(fits, tmp_path):
    """The paper's eta = 0.1 breaks Theorem 6's step-size condition: the audit covers no run."""
    import mfsim
    from mfsim.analysis.audit import audit_theorem6
    from mfsim.engine.simulation import simulate

    run = simulate(mfsim.spectrum("flat", d=200, r=2, kappa=5), eta=0.1, steps=300, seeds=[0])
    audit = audit_theorem6(run)
    text = write_report(run, fits, [], tmp_path / "a.html", audit=audit).read_text()
    assert '<p class="warning">The Theorem 6 audit covered no run' in text
    # within the conditions (eta <= Delta / 100, small start) the audit checks steps
    run = simulate(
        mfsim.spectrum("flat", d=200, r=2, kappa=5), eta=0.001, steps=300, seeds=[0], varpi=0.5
    )
    text = write_report(run, fits, [], tmp_path / "b.html", audit=audit_theorem6(run)).read_text()
    assert "covered no run" not in text and "The Theorem 6 audit checked" in text


def test_audit_section_shows_the_bracket_count(fits, tmp_path):
    """The rule `audit` stores the t_k^* bracket beside Theorem 6 (attach_bracket): the report
    says how many (run, k) entries were checked and how many violate it, a violation as a
    warning."""
    from mfsim.analysis.audit import audit_theorem6
    from mfsim.analysis.bracket import attach_bracket, audit_t_k_star_bracket
    from mfsim.engine.simulation import simulate
    from mfsim.spectra import spectrum

    run = simulate(spectrum("flat", d=200, r=2, kappa=5), eta=0.1, steps=4000, seeds=[0, 1])
    n_values = int(run.t_k_star.sel(k=1).notnull().sum())
    assert n_values == 2  # both runs reach t_1^* within 4000 steps
    audit = attach_bracket(audit_theorem6(run), audit_t_k_star_bracket(run))
    text = write_report(run, fits, [], tmp_path / "a.html", audit=audit).read_text()
    assert '<p id="bracket" class="note">' in text
    assert f"held on {n_values} of {n_values} (run, k) entries" in text and "0 violate it" in text
    # a t_k^* moved past the upper end of its bracket is reported as a warning
    broken = run.copy(deep=True)
    broken["t_k_star"].loc[{"k": 1, "seed": 0}] = broken.t_k_star.sel(k=1, seed=0) + 5000
    audit = attach_bracket(audit_theorem6(broken), audit_t_k_star_bracket(broken))
    text = write_report(broken, fits, [], tmp_path / "b.html", audit=audit).read_text()
    assert '<p id="bracket" class="warning">' in text and "1 violate it" in text
    # an audit store written before the bracket was wired in has no bracket line
    text = write_report(run, fits, [], tmp_path / "c.html", audit=audit_theorem6(run)).read_text()
    assert 'id="bracket"' not in text


def test_theory_table_for_a_flat_sweep_of_real_runs(tmp_path):
    """Rise slopes of mfsim.simulate runs (flat family) against the small-signal prediction."""
    import math

    import mfsim
    from mfsim.engine.simulation import simulate

    parts = []
    for e in (3, 5, 7, 9, 11):
        spec = mfsim.spectrum("flat", d=10**e, r=2, kappa=5)
        ds = simulate(spec, eta=0.1, steps=900, varpi=0.5, seeds=range(24), epsilons=(1e-2,))
        parts.append(ds[["rise", "status"]].expand_dims(d=[float(10**e)]))
    sweep = xr.concat(parts, "d").drop_vars(["lambda_k", "Delta", "lambda_1"], errors="ignore")
    for name, value in (("kappa", 5.0), ("r", 2), ("eta", 0.1), ("varpi", 0.5)):
        sweep = sweep.drop_vars(name, errors="ignore").expand_dims({name: [value]})
    sweep.attrs["config"] = "sweep: t\nspectrum: {family: flat, lambda_1: 1.0}\n"
    fits = fit_all(sweep, quantities=["rise"], n_boot=200)
    rows = theory_rows(sweep, fits)
    assert [row["k"] for row in rows] == [1, 2]
    # 1 / (2 ln(1 + eta (lambda_k - lambda_3))) with lambda = 1, 0.8, bulk 0.6
    expected = [1 / (2 * math.log(1.04)), 1 / (2 * math.log(1.02))]
    assert [row["asymptotic"] for row in rows] == pytest.approx(expected)
    # the flat bulk saturates within ~50 steps: over d = 1e3..1e11 the slope is the asymptote
    assert [row["predicted"] for row in rows] == pytest.approx(expected, rel=0.01)
    assert all(row["inside"] for row in rows), rows
    figures = plots.plot_scaling(sweep, fits, "rise", tmp_path / "rise")
    text = write_report(sweep, fits, figures, tmp_path / "r.html").read_text()
    assert "Small-signal theory beside the fits" in text and "12.7" in text


#: ASCII math that must not reach the reader: x^y, x_(...), Greek letters spelled out.
ASCII_MATH = re.compile(
    r"[A-Za-z0-9)]\^[A-Za-z0-9({*]|[A-Za-z]_\(|\b(alpha|eta|kappa|varpi|sigma|lambda|Delta)\b"
)


def _reader_text(html_text: str) -> str:
    """What a reader sees outside MathML, before the provenance (which quotes the config)."""
    body = html_text[html_text.index("<body>") : html_text.index('<details id="provenance">')]
    body = re.sub(r"<math>.*?</math>", " ", body, flags=re.S)
    body = re.sub(r"<figcaption>.*?</figcaption>|<code>.*?</code>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_math_is_mathml_never_ascii(report, small_report):
    for _, text, _ in (report, small_report):
        seen = _reader_text(text)
        assert not ASCII_MATH.search(seen), ASCII_MATH.search(seen)[0]
        assert text.count("<math>") > 20
        # MathML of the literal quantity and of O(log d)
        assert "<msubsup><mi>t</mi><mi>k</mi><mo>*</mo></msubsup>" in text
        assert '<mi>O</mi><mo>(</mo><mi mathvariant="normal">log</mi>' in text


def test_verdict_preferred_model_and_wording_agree_on_every_row(small_sweep):
    """Issue 22: a row read "O(log d) and d^alpha both consistent" beside "preferred model:
    log (decisive)". On every row of a real sweep's fits, the wording names as decisively
    beaten exactly the models whose bootstrap interval of the CV RMSE difference lies above
    0 (read here from the fit variables), and agrees with the verdict."""
    from mfsim.analysis.scaling import VERDICT_LOG_OR_POWER, fits_for

    _, fits = small_sweep
    rows, _, _ = verdict_rows(fits)
    assert len(rows) >= 10
    for row in rows:
        fit = fits_for(fits, row["quantity"])
        selection = dict(item.split("=") for item in (row["group"], row["index"]) if item)
        g = fit.sel({dim: type(fit[dim].values[0].item())(v) for dim, v in selection.items()})
        g = g.squeeze()
        preferred = str(g["preferred_model"].values)
        beaten = [
            m for m in ("const", "log", "power")
            if m != preferred and float(g["cv_excess_lo"].sel(model=m)) > 0
        ]  # fmt: skip
        words = row["models_text"]
        names = {"const": "the constant", "log": "the log law", "power": "the power law"}
        if beaten:
            assert "decisively below " + " and ".join(names[m] for m in beaten) in words, row
        else:
            assert "decisively" not in words, row
        if row["verdict"] == VERDICT_LOG_DECISIVE:
            assert preferred == "log" and {"const", "power"} <= set(beaten), row
        if row["verdict"] == VERDICT_LOG_OR_POWER:
            assert "not ruled out" in words and not {"log", "power"} <= {preferred, *beaten}
        if row["verdict"] == VERDICT_FASTER:
            assert "Box-Cox exponent" in words
        if preferred.lower() in ("none", ""):
            assert words == "no model fitted"


def test_the_finding_states_the_literal_result_first(small_report, small_sweep):
    _, text, _ = small_report
    finding = text[text.index('<p id="finding">') : text.index("</p>", text.index('id="finding"'))]
    rows, _, _ = verdict_rows(small_sweep[1])
    literal = [row for row in rows if row["quantity"] == "t_k_star"]
    assert literal
    assert finding.index("the literal") < finding.index("the proxy")
    for row in literal:  # each verdict of the literal t_k^* is stated
        assert row["verdict"].split(":")[0] in finding
    assert "sampled range of d only" in finding
