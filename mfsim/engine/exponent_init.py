"""X_0 = varpi N_0 of a reduced system as exponent-carrying rows ``m_i 2**e_i``, at any d.

Up to d = 10^300 (:data:`mfsim.engine.initialization.MAX_LOG10_D`) the rows are those of
:func:`mfsim.engine.initialization.initial_state`, the same random stream and the same bits,
only split into mantissa and exponent (exact). Beyond, the explicit rows are
``scale * N(0, 1)`` with ``scale = varpi / sqrt(d)`` held as mantissa and exponent, and a reduced
group of multiplicity n gets the Bartlett factor with diagonal ``sqrt(chi^2_{n - i})`` replaced by
``sqrt(n - i)``: chi^2_n / n = 1 + sqrt(2 / n) Z + O(1 / n), and sqrt(2 / n) < 1e-150 there, far
below float64's rounding (the below-diagonal N(0, 1) entries are drawn as before).
"""

from __future__ import annotations

import math

import numpy as np

from mfsim.engine.initialization import (
    MAX_LOG10_D,
    EffectiveSystem,
    initial_state,
    run_seed_sequence,
)

__all__ = ["exponent_initial_state", "split_rows", "scale_of_dimension", "MAX_EXPONENT_LOG10_D"]

#: the largest d of the exponent-carrying engine (log10): exponents are int64, d is an exact
#: Python int (10^10000 has 10001 digits)
MAX_EXPONENT_LOG10_D = 10_000.0


def split_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (n, r) -> (mantissa (n, r), exponent (n,)) with x_i = m_i 2**e_i exactly and
    max |m_i| in [0.5, 1) (exponent 0 for a zero row)."""
    x = np.asarray(x, dtype=np.float64)
    mx = np.max(np.abs(x), axis=-1)
    _, expo = np.frexp(mx)
    expo = np.where(mx > 0, expo, 0).astype(np.int64)
    return np.ldexp(x, -expo[..., None]), expo


def scale_of_dimension(varpi: float, n: int, d: int) -> tuple[float, int]:
    """varpi sqrt(n / d) as (mantissa, exponent), for ints n, d of any size (n >= 1)."""

    def sqrt_pair(v: int) -> tuple[float, int]:
        # v = top 2**shift with shift even and top < 2**60: sqrt(v) = sqrt(top) 2**(shift / 2)
        shift = max(v.bit_length() - 60, 0)
        shift += shift % 2
        return math.sqrt(float(v >> shift)), shift // 2

    sn, en = sqrt_pair(n)
    sd, ed = sqrt_pair(d)
    mant, e = math.frexp(varpi * sn / sd)
    return mant, e + en - ed


def exponent_initial_state(system: EffectiveSystem, varpi: float, seed: int):
    """(mantissa (n_rows, r), exponent (n_rows,)) of X_0 for one seed, at any d.

    Raises
    ------
    ValueError
        varpi negative or not finite.
    """
    spec = system.spectrum
    d, r = spec.d, spec.r
    if varpi < 0 or not np.isfinite(varpi):
        raise ValueError(f"varpi must be finite and >= 0, got {varpi!r}")
    if math.log10(d) <= MAX_LOG10_D:
        return split_rows(initial_state(system, varpi, seed))
    rng = np.random.default_rng(run_seed_sequence(seed, d, r, "bartlett"))
    mants, expos = [], []
    for seg, n in zip(system.segments, system.multiplicity, strict=True):
        if n == seg.count:
            mant, e = scale_of_dimension(varpi, 1, d)
            block = rng.standard_normal((seg.count, r)) * mant
            m, ex = split_rows(block)
            mants.append(m)
            expos.append(ex + e)
        else:
            m, ex = _huge_bartlett(rng, n, r, varpi, d)
            mants.append(m)
            expos.append(ex)
    return np.concatenate(mants), np.concatenate(expos)


def _huge_bartlett(rng, n: int, r: int, varpi: float, d: int):
    """Exponent rows of R = (varpi / sqrt(d)) L^T, L the Bartlett factor of Wishart_r(n, I)."""
    unit, e_unit = scale_of_dimension(varpi, 1, d)
    mant = np.zeros((r, r))
    expo = np.zeros(r, dtype=np.int64)
    for i in range(r):
        diag, e_diag = scale_of_dimension(varpi, n - i, d)  # sqrt(n - i) varpi / sqrt(d)
        below = rng.standard_normal(i)  # L[i, :i]: entries R[j, i] for j < i
        # row i of R = column i of L (scaled): L[i, i] on the diagonal, L[j, i] = 0 for j < i,
        # L[j, i] for j > i drawn when row j of L is drawn: fill below after the loop
        mant[i, i] = diag
        expo[i] = e_diag
        for j, z in enumerate(below):
            # R[j, i] = scale * L[i, j]: 2**(e_unit - expo[j]) relative to row j's exponent
            mant[j, i] = math.ldexp(z * unit, e_unit - int(expo[j]))
    m, ex = split_rows(mant)
    return m, ex + expo
