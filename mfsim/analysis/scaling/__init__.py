"""Scaling of stage times with the dimension d: fits, bootstrap intervals and verdicts.

For every group of sweep grid points that differ only in ``d`` (and for every signal index
``k`` or accuracy level ``eps`` of the quantity) the seeds are replicates, and three models of a
stage time ``y`` as a function of ``d`` are fitted:

* ``const``: ``y = m``,
* ``log``:   ``y = a + b log d``,
* ``power``: ``y = c d^alpha`` (least squares of ``log y`` on ``log d``).

Intervals come from a bootstrap over seeds within each ``d``; models are compared by
leave-one-d-out cross-validated prediction error; a documented rule turns this into a verdict on
the paper's Transition Assumption ``t_k^* = O(log d)`` over the sampled range of d. See
``docs/scaling.md``.

One concept per module: :mod:`.runs` (classification of runs), :mod:`.models` (the three
models), :mod:`.bootstrap`, :mod:`.cross_validation`, :mod:`.boxcox` (the Box-Cox family),
:mod:`.power_analysis`, :mod:`.verdict` (the rule), :mod:`.wording` (cases and caveats in
words), :mod:`.group_fit` (one group), :mod:`.assembly` (the Dataset), :mod:`.fit`
(``fit_scaling``, ``fit_all``) and :mod:`.tables` (``stage_table``). This package re-exports
the public names.
"""

from __future__ import annotations

from mfsim.analysis.scaling.boxcox import CHI2_1_QUANTILES, boxcox_interval
from mfsim.analysis.scaling.fit import fit_all, fit_quantities, fit_scaling, fits_for
from mfsim.analysis.scaling.models import MODELS
from mfsim.analysis.scaling.power_analysis import DETECTION_POWER, detectable_alpha
from mfsim.analysis.scaling.runs import STAGE_QUANTITIES, classify_runs
from mfsim.analysis.scaling.tables import stage_table
from mfsim.analysis.scaling.verdict import (
    GROWTH_VERDICTS,
    VERDICT_BOUND,
    VERDICT_DECREASING,
    VERDICT_FASTER,
    VERDICT_FLAT,
    VERDICT_INCONCLUSIVE,
    VERDICT_LOG_DECISIVE,
    VERDICT_LOG_OR_POWER,
    VERDICT_NO_RUNS,
    VERDICT_NOT_ENOUGH,
    VERDICT_NOT_REACHED,
    VERDICT_RULE,
    VERDICT_UNDEFINED,
    VERDICTS,
    decide_verdict,
    verdict_rule_text,
)
from mfsim.analysis.scaling.wording import NONPOSITIVE_POLICY

__all__ = [
    "CHI2_1_QUANTILES",
    "DETECTION_POWER",
    "GROWTH_VERDICTS",
    "MODELS",
    "NONPOSITIVE_POLICY",
    "STAGE_QUANTITIES",
    "VERDICTS",
    "VERDICT_BOUND",
    "VERDICT_DECREASING",
    "VERDICT_FASTER",
    "VERDICT_FLAT",
    "VERDICT_INCONCLUSIVE",
    "VERDICT_LOG_DECISIVE",
    "VERDICT_LOG_OR_POWER",
    "VERDICT_NO_RUNS",
    "VERDICT_NOT_ENOUGH",
    "VERDICT_NOT_REACHED",
    "VERDICT_RULE",
    "VERDICT_UNDEFINED",
    "boxcox_interval",
    "classify_runs",
    "decide_verdict",
    "detectable_alpha",
    "fit_all",
    "fit_quantities",
    "fit_scaling",
    "fits_for",
    "stage_table",
    "verdict_rule_text",
]
