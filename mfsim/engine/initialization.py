"""Random initialization X_0 = varpi N_0 and the exact Gram reduction of repeated eigenvalues.

Seeds
-----
The random stream of a run is ``SeedSequence([seed, d, r, sampler])``: it depends on the run's seed
and on the parameters that fix the shape of N_0, never on the batch, chunk, worker or machine that
computes it. varpi, eta and kappa do not enter, on purpose: the same seed gives the same N_0 across
those axes (common random numbers), which makes comparisons along them less noisy.

Reduction (used for spectra with repeated eigenvalues)
------------------------------------------------------
Rows of X sharing an eigenvalue lambda evolve as B_{t+1} = B_t ((1 + eta lambda) I - eta G_t), the
same right multiplication for every row of the group, and every diagnostic depends on the group
only through B^T B. A group of n > r rows is therefore replaced by an r x r factor R with
R^T R = B^T B; at initialization B^T B ~ Wishart_r(n, (varpi^2 / d) I), sampled by the Bartlett
decomposition without drawing n x r Gaussians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfsim.spectra import Segment, Spectrum

__all__ = [
    "run_seed_sequence",
    "initial_state",
    "EffectiveSystem",
    "effective_system",
    "MAX_LOG10_D",
    "MAX_EXPLICIT_ROWS",
]

#: the largest d: the top rows of X_0 start near varpi / sqrt(d), and their squares (the signals)
#: must stay in float64's normal range (2.2e-308) with room for varpi and the random factors
MAX_LOG10_D = 300.0
#: the most rows the engine iterates explicitly (memory)
MAX_EXPLICIT_ROWS = 50_000_000

_SAMPLER_TAGS = {"gaussian": 0, "bartlett": 1}
# the heat maps of Figure 1 need rows 1..3 individually, so they are never reduced
EXPLICIT_ROWS = 3


def run_seed_sequence(seed: int, d: int, r: int, sampler: str = "gaussian"):
    """The SeedSequence of one run.

    Parameters
    ----------
    seed : int
        The run's seed (>= 0).
    d, r : int
        Shape of N_0.
    sampler : {'gaussian', 'bartlett'}
        Which sampler draws from the stream (they consume it differently).
    """
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.SeedSequence([int(seed), int(d), int(r), _SAMPLER_TAGS[sampler]])


@dataclass(frozen=True)
class EffectiveSystem:
    """The rows the engine iterates: explicit rows plus r x r factors of reduced groups.

    ``segments`` give the eigenvalue of every effective row; ``reduced`` lists, for each segment,
    the true multiplicity it stands for (equal to its count when not reduced).
    """

    spectrum: Spectrum
    segments: tuple[Segment, ...]
    multiplicity: tuple[int, ...]

    @property
    def n_rows(self) -> int:
        return sum(s.count for s in self.segments)

    @property
    def is_reduced(self) -> bool:
        return any(m != s.count for s, m in zip(self.segments, self.multiplicity, strict=True))


def effective_system(spec: Spectrum, reduce: bool | str = "auto") -> EffectiveSystem:
    """Split off the explicit rows and replace large equal-eigenvalue groups by r rows.

    Parameters
    ----------
    spec : Spectrum
    reduce : {'auto', True, False}
        ``auto`` reduces when it at least halves the number of rows.
    """
    r = spec.r
    keep = max(r, EXPLICIT_ROWS)
    segments, mult, row = [], [], 0
    for seg in spec.segments:
        if row < keep < row + seg.count and seg.increment == 0.0:
            head = keep - row  # split: the first rows stay explicit
            segments.append(Segment(seg.first, 0.0, head))
            mult.append(head)
            seg = Segment(seg.first, 0.0, seg.count - head)
            row += head
        if seg.increment == 0.0 and seg.count > r and row >= keep:
            segments.append(Segment(seg.first, 0.0, r))
            mult.append(seg.count)
        else:
            segments.append(seg)
            mult.append(seg.count)
        row += seg.count
    reduced = EffectiveSystem(spec, tuple(segments), tuple(mult))
    if reduce == "auto":
        reduce = reduced.n_rows * 2 <= spec.d
    if reduce is True:
        return reduced
    if reduce is False:
        if spec.d > MAX_EXPLICIT_ROWS:
            if reduced.n_rows <= MAX_EXPLICIT_ROWS:
                raise ValueError(f"d = {spec.d} needs the reduced engine (reduce=True or 'auto')")
            raise ValueError(
                f"d = {_show_d(spec.d)}: the {spec.name!r} spectrum leaves "
                f"{_show_d(reduced.n_rows)} rows after the exact reduction of its flat segments; "
                f"the engine holds at most "
                f"{MAX_EXPLICIT_ROWS:,} rows, so this family supports d <= about "
                f"{MAX_EXPLICIT_ROWS:,} (families whose bulk is flat reduce exactly at any d up to "
                f"10^{MAX_LOG10_D:g})"
            )
        return EffectiveSystem(spec, spec.segments, tuple(s.count for s in spec.segments))
    raise ValueError(f"reduce must be 'auto', True or False, got {reduce!r}")


def check_dimension(d) -> None:
    """Raise ValueError unless 1 <= d <= 10^MAX_LOG10_D (d: int of any size, or float)."""
    if not (d >= 1 and math.log10(d) <= MAX_LOG10_D):
        raise ValueError(
            f"d = {_show_d(d)} is out of range: the engine supports d <= 10^{MAX_LOG10_D:g} "
            f"(the top rows of X_0 start near varpi / sqrt(d), their squares near varpi^2 / d, "
            f"which must stay in float64's normal range)"
        )


def _show_d(d) -> str:
    return f"{d}" if d < 10**15 else f"10^{math.log10(d):.6g}"


def bartlett_factor(rng, n: int, r: int, scale: float) -> np.ndarray:
    """Upper-triangular R (r x r) with R^T R ~ Wishart_r(n, scale^2 I), for n >= r.

    Bartlett: W = L L^T with L lower triangular, L_ii = sqrt(chi^2_{n-i+1}), L_ij ~ N(0,1), i > j.
    """
    lower = np.zeros((r, r))
    for i in range(r):
        # float(): n may be an int of any size (exact below 2^53, as numpy's own conversion)
        lower[i, i] = np.sqrt(rng.chisquare(float(n - i)))
        lower[i, :i] = rng.standard_normal(i)
    return scale * lower.T


def initial_state(system: EffectiveSystem, varpi: float, seed: int, dtype=np.float64, out=None):
    """X_0 = varpi N_0 (effective rows) for one seed.

    Returns an array of shape (n_rows, r) (``out`` if given: written in place, float64 without
    reduction drawn straight into it, no temporary of X_0's size). Without reduction the rows
    are the true rows of X_0, N_0 ~ N(0, 1/d) i.i.d.; reduced groups get Bartlett factors of the
    same Gram distribution.
    """
    spec = system.spectrum
    d, r = spec.d, spec.r
    if varpi < 0 or not np.isfinite(varpi):
        raise ValueError(f"varpi must be finite and >= 0, got {varpi!r}")
    check_dimension(d)
    scale = varpi / math.sqrt(d)  # math: d may be an int beyond int64
    if out is not None and (system.is_reduced or np.dtype(dtype) != np.float64):
        out[...] = initial_state(system, varpi, seed, dtype)
        return out
    if not system.is_reduced:
        rng = np.random.default_rng(run_seed_sequence(seed, d, r, "gaussian"))
        if out is not None:  # the same numbers as below: the same stream, the same products
            rng.standard_normal(out=out)
            out *= scale
            return out
        return (rng.standard_normal((d, r)) * scale).astype(dtype, copy=False)
    rng = np.random.default_rng(run_seed_sequence(seed, d, r, "bartlett"))
    blocks = []
    for seg, n in zip(system.segments, system.multiplicity, strict=True):
        if n == seg.count:
            blocks.append(rng.standard_normal((seg.count, r)) * scale)
        else:
            blocks.append(bartlett_factor(rng, n, r, scale))
    return np.concatenate(blocks).astype(dtype, copy=False)


def reduce_explicit(system: EffectiveSystem, x0: np.ndarray) -> np.ndarray:
    """Map a full X_0 (d x r) to the effective rows: each reduced group B -> R of its QR."""
    if not system.is_reduced:
        return np.array(x0, dtype=np.float64, copy=True)
    rows, start = [], 0
    for seg, n in zip(system.segments, system.multiplicity, strict=True):
        block = np.asarray(x0[start : start + n], dtype=np.float64)
        rows.append(block if n == seg.count else np.linalg.qr(block, mode="r"))
        start += n
    return np.concatenate(rows)
