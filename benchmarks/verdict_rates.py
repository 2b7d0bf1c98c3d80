"""Measured rates of each verdict of mfsim.analysis.scaling on synthetic laws.

Usage: python benchmarks/verdict_rates.py [n_sets_small] [n_sets_wide] [n_boot] [laws]

Two designs: "small" = 6 d values from 1e2 to 1e6 with 16 seeds (the default sweep's scale),
"wide" = 31 d values from 1e2 to 1e300 with 64 seeds (config/transition.yaml). ``laws`` is
``all`` (default: every law of tests.analysis.synthetic.LAWS on both designs) or ``skewed``
(the asymptotic study of docs/scaling.md: the laws with -S ln chi^2_1 seed scatter on the wide
design only). Every data set goes through fit_scaling (the same code as the analysis rule).
The tables are pasted into docs/scaling.md; the load average is printed beside them.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from tests.analysis.synthetic import LAWS, SKEWED_LAWS, verdict_rates

DESIGNS = {
    "small": (np.geomspace(1e2, 1e6, 6), 16),
    "wide": (np.geomspace(1e2, 1e300, 31), 64),
}


def main() -> None:
    n_small = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    n_wide = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    n_boot = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    which = sys.argv[4] if len(sys.argv) > 4 else "all"
    if which not in ("all", "skewed"):
        raise SystemExit(f"laws must be 'all' or 'skewed', got {which!r}")
    studies = (
        [("small", n_small, LAWS), ("wide", n_wide, LAWS)]
        if which == "all"
        else [("wide", n_wide, SKEWED_LAWS)]
    )
    for design, n_sets, laws in studies:
        if n_sets <= 0:
            continue
        d_values, n_seeds = DESIGNS[design]
        print(
            f"\n{design}: {d_values.size} d values {d_values[0]:.0e}..{d_values[-1]:.0e}, "
            f"{n_seeds} seeds, {n_sets} data sets per law, n_boot = {n_boot}"
        )
        print("| truth | verdicts |\n| --- | --- |")
        for law in laws:
            start = time.perf_counter()
            rates = verdict_rates(
                law, n_sets=n_sets, n_boot=n_boot, seed=11, d_values=d_values, n_seeds=n_seeds
            )
            text = ", ".join(
                f'{100 * share:.1f}% "{verdict}"'
                for verdict, share in sorted(rates.items(), key=lambda item: -item[1])
            )
            load = os.getloadavg()[0]
            elapsed = time.perf_counter() - start
            print(f"| {law} | {text} |  <!-- {elapsed:.0f} s, load {load:.1f} -->", flush=True)


if __name__ == "__main__":
    main()
