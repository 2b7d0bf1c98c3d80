"""Spectra of Sigma = diag(lambda): the named families and user-supplied lists.

GD on ||Sigma - X X^T||_F^2 is rotation invariant (paper, footnote 1), so a diagonal Sigma with
decreasing eigenvalues is the general case. A spectrum is stored as arithmetic *segments*
``(first_value, increment, count)`` so that a flat bulk at d = 10^300 is three numbers, never a
length-d array. A custom list is compressed into such segments exactly
(:func:`compress_eigenvalues`): the named families given as lists become their own few segments
again and run through the same fused pass, bit for bit.

Dimensions
----------
d is an exact Python ``int`` of any size up to 10^10000 (:data:`MAX_LOG10_D`). It may be given
as an ``int``, an integer-valued ``float`` (``1e300``) or ``{"log10": x}`` (d = the integer
nearest to 10^x, x taken as its exact binary value; ``{"log10": 300}`` is exactly 10^300). Families
whose bulk is a few flat levels (``flat``, ``staircase``) cost the same at every d through the
exact Gram reduction (:mod:`mfsim.engine.initialization`); families that need about d explicit
rows (``figure1``, ``linear``) accept d up to :data:`MAX_EXPLICIT_ROWS` and name that limit in
their error.

Exactness
---------
A linear bulk from ``a`` down to ``b`` is stored as the arithmetic segment of its first n - 1
values followed by a one-row segment holding ``b`` itself, so its last value is exactly its end
point and no value is below it (a single segment ``a + ((b - a)/(n - 1)) j`` can land an ulp
below ``b``: ``-5.6e-17`` for ``b = 0``).
"""

from __future__ import annotations

import decimal
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from mfsim import bulk_levels, spectrum_compression, spectrum_ties
from mfsim.arguments import check_integer, check_number
from mfsim.gap_laws import gap_scaled_spectrum

__all__ = [
    "Segment",
    "Spectrum",
    "SpectrumError",
    "spectrum",
    "FAMILIES",
    "as_dimension",
    "max_dimension",
    "check_spectrum_grid",
    "compress_eigenvalues",
    "MAX_EXPLICIT_ROWS",
    "MAX_LOG10_D",
]

FAMILIES = ("figure1", "linear", "flat", "staircase", "continuous", "custom")

# Families whose engine rows number about d (no repeated eigenvalue blocks to reduce). The limit
# is the one of the unreduced engine (mfsim.engine.initialization.effective_system).
MAX_EXPLICIT_ROWS = 50_000_000
_EXPLICIT_FAMILIES = ("figure1", "linear")
# d up to 10^10000 for the families whose bulk reduces to a few flat levels: the reduced engine
# carries a power-of-two exponent per row (mfsim.engine.reduced), so varpi / sqrt(d) ~ 10^-5000
# neither under- nor overflows; the plain engine stops at 10^300 (float64's normal range).
MAX_LOG10_D = 10_000
MAX_D = 10**MAX_LOG10_D


class SpectrumError(ValueError):
    """An impossible spectrum request (the message names the parameter and what is allowed)."""


@dataclass(frozen=True)
class Segment:
    """Eigenvalues ``first + increment * j`` for ``j = 0 .. count-1``.

    The kernels evaluate exactly this expression row by row, so ``Spectrum.eigenvalues()`` and the
    engine agree to the last bit.
    """

    first: float
    increment: float
    count: int

    def values(self) -> np.ndarray:
        return self.first + self.increment * np.arange(self.count, dtype=np.float64)

    @property
    def last(self) -> float:
        if self.increment == 0.0 or self.count == 1:
            return self.first  # exact, also when count is too large for a float
        return self.first + self.increment * float(self.count - 1)


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of Sigma, decreasing, as arithmetic segments.

    Parameters
    ----------
    name : str
        Family name (``figure1``, ``linear``, ``flat``, ``staircase``, ``custom``).
    d : int
        Dimension of Sigma, an exact Python int (up to 10^10000; see ``log10_d``).
    r : int
        Rank; lambda_r > lambda_{r+1} (ties among the top r: :mod:`mfsim.spectrum_ties`).
    segments : tuple of Segment
        The eigenvalues, in order; their counts sum to d.
    params : dict
        The family parameters, for provenance.

    Notes
    -----
    Derived quantities follow section 4.2 of the paper: the eigengap
    ``Delta = min_{i <= r} (lambda_i - lambda_{i+1})`` and the condition number
    ``kappa = lambda_1 / Delta`` (section 4.1).
    """

    name: str
    d: int
    r: int
    segments: tuple[Segment, ...]
    params: tuple = ()

    def __post_init__(self):
        _check(self)

    def top(self, n: int) -> np.ndarray:
        """The leading n eigenvalues (n small), evaluated exactly as the kernels do."""
        out = []
        for seg in self.segments:
            take = min(seg.count, n - len(out))
            out.extend(seg.first + seg.increment * np.arange(take, dtype=np.float64))
            if len(out) >= n:
                break
        return np.asarray(out, dtype=np.float64)

    def eigenvalues(self) -> np.ndarray:
        """All d eigenvalues as an array (only for moderate d)."""
        if self.d > MAX_EXPLICIT_ROWS:
            raise SpectrumError(
                f"d = {_format_d(self.d)} is too large to materialize the eigenvalues "
                f"(at most {MAX_EXPLICIT_ROWS})"
            )
        return np.concatenate([seg.values() for seg in self.segments])

    @property
    def log10_d(self) -> float:
        """log10(d) as a float, exact to rounding at any d (``math.log10`` of the int)."""
        return math.log10(self.d)

    @property
    def lambda_1(self) -> float:
        return float(self.top(1)[0])

    @property
    def top_eigenvalues(self) -> np.ndarray:
        """lambda_1 .. lambda_{r+1}."""
        return self.top(self.r + 1)

    @property
    def Delta(self) -> float:  # noqa: N802 - the paper's symbol
        """Eigengap Delta = min_{i<=r} (lambda_i - lambda_{i+1}) (section 4.2); at ties over the
        distinct gaps (:func:`mfsim.spectrum_ties.spectrum_gap`)."""
        return spectrum_ties.spectrum_gap(self)

    @property
    def kappa(self) -> float:
        """Condition number kappa = lambda_1 / Delta (section 4.1)."""
        return self.lambda_1 / self.Delta

    @property
    def sigma_r_norm(self) -> float:
        """||Sigma_r||_F, the error at X = 0."""
        return float(np.sqrt(np.sum(self.top(self.r) ** 2)))

    def groups(self) -> list[tuple[float, int]]:
        """(eigenvalue, multiplicity) of the constant segments with more than one row."""
        return [(s.first, s.count) for s in self.segments if s.increment == 0 and s.count > 1]

    def with_rank(self, r: int) -> Spectrum:
        return Spectrum(self.name, self.d, r, self.segments, self.params)

    def __repr__(self) -> str:
        return (
            f"Spectrum({self.name!r}, d={_format_d(self.d)}, r={self.r}, "
            f"lambda_1={self.lambda_1:g}, "
            f"Delta={self.Delta:g}, kappa={self.kappa:g})"
        )


def _format_d(d: int) -> str:
    """d in full up to 15 digits, else as 10^x (a 301-digit integer helps nobody)."""
    if d < 10**15:
        return str(d)
    if d < 10**308:
        return f"{d:.6e} (10^{math.log10(d):.6g})"
    return f"10^{math.log10(d):.10g}"  # beyond float64: no float conversion


def _check(spec: Spectrum) -> None:
    d, r = spec.d, spec.r
    if isinstance(r, bool) or int(r) != r or r < 1:
        raise SpectrumError(f"r must be an integer >= 1, got {r!r}")
    if type(d) is not int:
        raise SpectrumError(f"Spectrum.d must be a Python int, got {type(d).__name__}")
    if d <= r:
        raise SpectrumError(f"d must be an integer > r = {r}, got d = {d!r}")
    if d > MAX_D:
        raise SpectrumError(f"d = {_format_d(d)} exceeds the largest supported d, 10^{MAX_LOG10_D}")
    if sum(s.count for s in spec.segments) != d:
        held = sum(s.count for s in spec.segments)
        raise SpectrumError(f"the segments hold {held} values, d = {d}")
    for seg in spec.segments:
        if seg.count < 1:
            raise SpectrumError("every segment needs count >= 1")
        ends = (seg.first, seg.last)
        if not all(np.isfinite(ends)):
            raise SpectrumError("eigenvalues must be finite")
        if min(ends) < 0:
            raise SpectrumError(f"eigenvalues must be >= 0 (Sigma is PSD), got {min(ends):g}")
        if seg.increment > 0:
            raise SpectrumError("eigenvalues must be decreasing")
    lasts = [s.last for s in spec.segments[:-1]]
    firsts = [s.first for s in spec.segments[1:]]
    if any(b > a for a, b in zip(lasts, firsts, strict=True)):
        raise SpectrumError("eigenvalues must be decreasing")
    if problem := spectrum_ties.spectrum_problem(spec):
        raise SpectrumError(problem)


def _graded_top(r: int, kappa: float, lambda_1: float) -> tuple[list[Segment], float]:
    """lambda_k = lambda_1 - (k-1) Delta, k = 1..r+1, with Delta = lambda_1 / kappa."""
    if kappa is None:
        raise SpectrumError("kappa is required for this family")
    if not np.isfinite(kappa) or kappa < r:
        raise SpectrumError(
            f"kappa = {kappa!r} is impossible for r = {r}: lambda_{{r+1}} = lambda_1 (1 - r/kappa) "
            f"must be >= 0, so kappa >= r = {r} is required"
        )
    if lambda_1 <= 0:
        raise SpectrumError(f"lambda_1 must be > 0, got {lambda_1!r}")
    gap = lambda_1 / kappa
    top = [Segment(lambda_1 - k * gap, 0.0, 1) for k in range(r)]
    return top, lambda_1 - r * gap


def _linear_bulk(first: float, last: float, n: int) -> list[Segment]:
    """n values decreasing linearly from ``first`` to ``last``, both ends exact.

    The first n - 1 values are the kernels' ``first + increment * j``; the last is ``last`` itself
    (a one-row segment). Rounding of the arithmetic part never goes below ``last``: the exact
    values exceed it by at least (first - last)/(n - 1), far above the rounding for n <= 5e7.
    """
    if n == 1:
        return [Segment(first, 0.0, 1)]
    if first == last:
        return [Segment(first, 0.0, n)]
    increment = -(first - last) / (n - 1)
    head = Segment(first, increment, n - 1)
    while head.count > 1 and head.last < last:  # not reached for n <= MAX_EXPLICIT_ROWS
        increment = float(np.nextafter(increment, 0.0))
        head = Segment(first, increment, n - 1)
    return [head, Segment(last, 0.0, 1)]


def _check_explicit(family: str, d: int) -> None:
    if d > MAX_EXPLICIT_ROWS:
        raise SpectrumError(
            f"family {family!r} needs about d explicit rows (no repeated eigenvalues to reduce): "
            f"d = {_format_d(d)} exceeds the largest d this family supports, {MAX_EXPLICIT_ROWS}; "
            "for larger d use 'flat' or 'staircase'"
        )


def _figure1(d: int, r: int = 2, kappa: float | None = None) -> Spectrum:
    if r != 2:
        raise SpectrumError(f"figure1 is the paper's rank-2 example: r must be 2, got {r}")
    if kappa is not None:
        raise SpectrumError("figure1 fixes kappa = 5; do not pass kappa")
    if d < 4:
        raise SpectrumError(f"figure1 needs d >= 4, got {d}")
    _check_explicit("figure1", d)
    # e: arithmetic from 0.3 down to 0, length d - 2 (paper, section 1)
    bulk = _linear_bulk(0.3, 0.0, d - 2)
    return Spectrum("figure1", d, 2, (Segment(1.0, 0.0, 1), Segment(0.5, 0.0, 1), *bulk))


def _linear(d, r, kappa=None, lambda_1: float = 1.0, bulk_bottom: float = 0.0) -> Spectrum:
    top, bulk_top = _graded_top(r, kappa, lambda_1)
    _check_bottom(bulk_bottom, bulk_top)
    _check_explicit("linear", d)
    params = (("lambda_1", lambda_1), ("bulk_bottom", bulk_bottom), ("kappa", kappa))
    bulk = _linear_bulk(bulk_top, float(bulk_bottom), d - r)
    return Spectrum("linear", d, r, (*top, *bulk), params)


def _check_bottom(bulk_bottom, bulk_top):
    if not 0 <= bulk_bottom <= bulk_top:
        raise SpectrumError(
            f"bulk_bottom must lie in [0, lambda_{{r+1}} = {bulk_top:g}], got {bulk_bottom!r}"
        )


def _flat(d, r, kappa=None, lambda_1: float = 1.0) -> Spectrum:
    top, bulk = _graded_top(r, kappa, lambda_1)
    params = (("lambda_1", lambda_1), ("kappa", kappa))
    return Spectrum("flat", d, r, (*top, Segment(bulk, 0.0, d - r)), params)


STAIRCASE_LEVELS = 32


def _staircase(
    d,
    r,
    kappa=None,
    lambda_1: float = 1.0,
    bulk_bottom: float = 0.0,
    levels: int = STAIRCASE_LEVELS,
) -> Spectrum:
    """The linear family with its bulk below lambda_{r+1} quantized into flat levels.

    lambda_1 .. lambda_{r+1} (hence Delta and kappa, for every r) equal the linear family's. The
    remaining m = d - r - 1 linear values lambda_{r+1} - s j / (n - 1), j = 1..n-1
    (n = d - r, s = lambda_{r+1} - bulk_bottom), are split into G = ``levels`` consecutive blocks
    of equal multiplicity (block g: j - 1 in [floor(g m / G), floor((g + 1) m / G))), and each
    block is replaced by its mean, lambda_{r+1} - s (a_g + b_g + 1) / (2 (n - 1)), evaluated from
    the exact fraction (the trace of each block is kept). Each level is one repeated eigenvalue:
    the Gram reduction replaces it by r rows, so a run costs O((r + 1 + G r) r) per step at any d.

    Faithfulness, measured with two-sample Kolmogorov-Smirnov tests (scipy ks_2samp) of stage
    times against the linear family at kappa = 5, eta = 0.1, varpi = 0.5, stop_error = 1e-10,
    independent seeds, G = 32 (the default):

    * d = 10^4, 128 seeds each (tests/test_staircase.py): r = 2: rise_1 0.09, rise_2 0.73,
      learned_1 0.53, learned_2 0.34, escape_1 0.09; r = 3: rise_1..3 0.91, 0.63, 0.63,
      learned_1..3 0.97, 0.34, 0.53, escape_1..2 0.99, 0.83. None is below the Bonferroni 1%
      level (0.01/13); the flat bulk is rejected at p < 1e-6.
    * d = 10^4, r = 2, 1024 seeds each: G = 32 p >= 0.66 for all five (mean differences within
      1.1 standard errors), G = 128 likewise (p >= 0.63); G = 8 is rejected (learned_2,
      p < 0.001, 16 steps early): 32 levels are needed, not 8.
    * d = 10^5, r = 2, 1024 seeds each: G = 32 p = 0.59, 0.97, 0.59, 0.59, 0.87 (rise_1,
      rise_2, learned_1, learned_2, escape_1), mean differences within 0.9 standard errors.

    Not the linear bulk at large d: its top level stays 0.0094 below the edge, so at
    d = 10^300 its rise slopes are 1-4 % and its t_k^* slopes 3.5-6 % low; the ``continuous``
    family (:mod:`mfsim.bulk_levels`) reduces the linear bulk with a stated error at any d.
    """
    top, bulk_top = _graded_top(r, kappa, lambda_1)
    _check_bottom(bulk_bottom, bulk_top)
    if isinstance(levels, bool) or int(levels) != levels or levels < 1:
        raise SpectrumError(f"staircase: levels must be an integer >= 1, got {levels!r}")
    levels = int(levels)
    n = d - r
    m = n - 1
    if m < levels:
        raise SpectrumError(
            f"staircase: d - r - 1 = {m} bulk rows below lambda_{{r+1}} cannot form "
            f"levels = {levels} levels; use d >= r + 1 + levels = {r + 1 + levels} or fewer levels"
        )
    span = bulk_top - float(bulk_bottom)
    bulk = [Segment(bulk_top, 0.0, 1)]
    for g in range(levels):
        a, b = g * m // levels, (g + 1) * m // levels
        value = max(bulk_top - span * float(Fraction(a + b + 1, 2 * (n - 1))), float(bulk_bottom))
        bulk.append(Segment(value, 0.0, b - a))
    params = (
        ("lambda_1", lambda_1),
        ("bulk_bottom", bulk_bottom),
        ("kappa", kappa),
        ("levels", levels),
    )
    return Spectrum("staircase", d, r, (*top, *bulk), params)


def _custom(d=None, r=1, kappa=None, eigenvalues=None, path=None) -> Spectrum:
    if kappa is not None:
        raise SpectrumError("custom spectra fix kappa through their eigenvalues; do not pass kappa")
    if eigenvalues is None:
        if path is None:
            raise SpectrumError("custom needs `eigenvalues` (a list) or `path` (a text file)")
        eigenvalues = read_eigenvalues(path)
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if d is not None and as_dimension(d) != lam.size:
        raise SpectrumError(f"d = {d} but the custom list has {lam.size} eigenvalues")
    check_eigenvalues(lam)
    return Spectrum("custom", int(lam.size), r, tuple(compress_eigenvalues(lam)))


def compress_eigenvalues(lam: np.ndarray) -> list[Segment]:
    """The segments that reproduce ``lam`` bit for bit, found greedily
    (:func:`mfsim.spectrum_compression.compress`).

    Runs of equal values become constant segments (the exact Gram reduction groups them,
    :mod:`mfsim.engine.initialization`); stretches of distinct values become arithmetic segments
    wherever ``first + increment * j`` reproduces every value exactly (the named families' bulk
    given as a list, ``numpy.linspace``); everything else stays single rows, which the kernels
    read as a stream of eigenvalues beside X.

    Parameters
    ----------
    lam : numpy.ndarray of float64, shape (d,)
        Finite, non-negative, non-increasing (:func:`check_eigenvalues`).

    Returns
    -------
    list of Segment
        Their values, concatenated, equal ``lam`` exactly (checked before returning).
    """
    first, increment, count = spectrum_compression.compress(lam)
    return [
        Segment(f, i, c)
        for f, i, c in zip(first.tolist(), increment.tolist(), count.tolist(), strict=True)
    ]


def read_eigenvalues(path) -> np.ndarray:
    """Read eigenvalues from a text file and check them.

    Parameters
    ----------
    path : str or Path
        UTF-8 text file (a byte-order mark is allowed): one eigenvalue per line, or all of them
        on one line separated by whitespace. Blank lines are ignored.

    Returns
    -------
    numpy.ndarray of float64, shape (d,)
        The eigenvalues in file order.

    Raises
    ------
    SpectrumError
        Missing file, a directory, unreadable or non-UTF-8 file, a non-numeric token or one with
        an underscore (``1_0``, which Python's ``float`` would read as 10), several values on more
        than one line (a table with columns is not a list of eigenvalues), no values, NaN/inf,
        negative values, values not in decreasing order. Messages about the file's content
        name the line.
    """
    path = Path(path)
    if not path.exists():
        raise SpectrumError(f"{path} does not exist (relative to {Path.cwd()})")
    if not path.is_file():
        raise SpectrumError(f"{path} is not a regular file")
    try:
        # utf-8-sig: editors on Windows save a byte-order mark that utf-8 would keep as text
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SpectrumError(f"{path} cannot be read ({error})") from error
    lines = [(number, line.split()) for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, tokens) for number, tokens in lines if tokens]
    if len(lines) > 1:
        for line_number, tokens in lines:
            if len(tokens) > 1:
                raise SpectrumError(
                    f"{path} line {line_number}: {len(tokens)} values "
                    f"({' '.join(tokens[:4])}{' ...' if len(tokens) > 4 else ''}); write one "
                    "eigenvalue per line, or all of them on a single line (a file with several "
                    "columns is not a list of eigenvalues)"
                )
    values = []
    for line_number, tokens in lines:
        for token in tokens:
            try:
                if "_" in token:
                    raise ValueError(token)
                values.append(float(token))
            except ValueError:
                raise SpectrumError(
                    f"{path} line {line_number}: {token!r} is not a number"
                    + (" (underscores are not allowed in numbers)" if "_" in token else "")
                ) from None
    eigenvalues = np.array(values, dtype=np.float64)
    if eigenvalues.size == 0:
        raise SpectrumError(f"{path} holds no eigenvalues")
    check_eigenvalues(eigenvalues, str(path))
    return eigenvalues


def check_eigenvalues(eigenvalues: np.ndarray, where: str = "custom eigenvalues") -> None:
    """Finite, non-negative, decreasing; the message names the first offending index."""
    bad = np.flatnonzero(~np.isfinite(eigenvalues))
    if bad.size:
        raise SpectrumError(
            f"{where}: eigenvalue {bad[0] + 1} is {eigenvalues[bad[0]]}; all must be finite"
        )
    negative = np.flatnonzero(eigenvalues < 0)
    if negative.size:
        raise SpectrumError(
            f"{where}: eigenvalue {negative[0] + 1} is {eigenvalues[negative[0]]:g}; "
            "all must be >= 0"
        )
    rising = np.flatnonzero(np.diff(eigenvalues) > 0)
    if rising.size:
        k = rising[0] + 1
        raise SpectrumError(
            f"{where}: eigenvalues must be in decreasing order, but lambda_{k} = "
            f"{eigenvalues[k - 1]:g} < lambda_{k + 1} = {eigenvalues[k]:g}"
        )


def _continuous(d, r, kappa=None, lambda_1: float = 1.0, **params) -> Spectrum:
    """Continuous bulks reduced to levels graded toward the edge (:mod:`mfsim.bulk_levels`)."""
    top_values = bulk_levels.fixed_top(params.get("bulk", "linear"), r, kappa, SpectrumError)
    if top_values is None:
        top, a = _graded_top(r, kappa, lambda_1)
        top_values = [seg.first for seg in top] + [a]
    levels, bulk = bulk_levels.continuous_levels(d, top_values, error=SpectrumError, **params)
    segments = [Segment(v, 0.0, 1) for v in top_values] + [Segment(v, 0.0, c) for v, c in levels]
    params = (("lambda_1", top_values[0]), ("kappa", kappa), *bulk)
    return Spectrum("continuous", d, r, tuple(segments), params)


_FAMILY_FUNCS = {
    "continuous": _continuous,
    "figure1": _figure1,
    "linear": _linear,
    "flat": _flat,
    "staircase": _staircase,
    "custom": _custom,
}


def as_dimension(d) -> int:
    """d as an exact Python int, from an int, an integer-valued float or ``{"log10": x}``.

    Parameters
    ----------
    d : int, float or dict
        ``{"log10": x}`` means the integer nearest to 10^x (x as its exact binary value;
        integral x gives exactly 10^x).

    Returns
    -------
    int
        1 <= d <= 10^10000 (:data:`MAX_LOG10_D`).

    Raises
    ------
    SpectrumError
        A bool, a non-integer or non-finite float, a negative value, d above 10^10000, a dict
        other than ``{"log10": x}``, any other type.
    """
    if isinstance(d, dict):
        if set(d) != {"log10"}:
            raise SpectrumError(f"d: a mapping must be {{'log10': x}}, got keys {sorted(d)}")
        x = d["log10"]
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
            raise SpectrumError(f"d: log10 must be a finite number, got {x!r}")
        if not 0 <= x <= MAX_LOG10_D:
            raise SpectrumError(f"d: log10 must lie in [0, {MAX_LOG10_D}], got {x!r}")
        if float(x).is_integer():
            return 10 ** int(x)
        with decimal.localcontext() as context:
            context.prec = int(x) + 30
            value = decimal.Decimal(10) ** decimal.Decimal(float(x))
            return int(value.to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    if isinstance(d, str):
        try:
            float(d)
        except ValueError:
            pass
        else:
            raise SpectrumError(
                f"d = {d!r} is a string; pass the number {d} (an integer, an integer-valued "
                "float or {'log10': x}), not text"
            )
    if isinstance(d, bool) or not isinstance(d, numbers.Real):
        raise SpectrumError(
            f"d must be an integer, an integer-valued float or {{'log10': x}}, got {d!r}"
        )
    if isinstance(d, numbers.Integral):
        value = int(d)
    else:
        if math.isnan(d) or math.isinf(d):
            kind = "NaN" if math.isnan(d) else "infinite"
            raise SpectrumError(
                f"d = {d!r} is {kind}; allowed: an integer 1 <= d <= 10^{MAX_LOG10_D}"
            )
        if not float(d).is_integer():
            raise SpectrumError(f"d must be an integer, got {d!r}")
        value = int(d)
    if value < 1:
        raise SpectrumError(f"d must be >= 1, got {d!r}")
    if value > MAX_D:
        raise SpectrumError(
            f"d = {_format_d(value)} exceeds the largest supported d, 10^{MAX_LOG10_D}"
        )
    return value


def max_dimension(name: str) -> int:
    """The largest d family ``name`` supports: 10^10000, or :data:`MAX_EXPLICIT_ROWS` for the
    families that need about d explicit rows (figure1, linear)."""
    if name not in _FAMILY_FUNCS:
        raise SpectrumError(f"unknown spectrum family {name!r}; allowed: {', '.join(FAMILIES)}")
    return MAX_EXPLICIT_ROWS if name in _EXPLICIT_FAMILIES else MAX_D


def check_spectrum_grid(family: str, d_values, r_values, kappa_values=(None,), **params) -> int:
    """Build every (d, r, kappa) spectrum of a grid; raise on the first one that is invalid.

    Cost: O(number of segments) per point, independent of d (no eigenvalue array is formed).

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    d_values, r_values, kappa_values : sequences
        The grid axes (``kappa_values = [None]`` for families that fix kappa).
    **params
        Family parameters, as for :func:`spectrum`.

    Returns
    -------
    int
        The number of spectra built.

    Raises
    ------
    SpectrumError
        Naming the failing (d, r, kappa) and the reason.
    """
    count = 0
    for d in d_values:
        for r in r_values:
            for kappa in kappa_values:
                try:
                    spectrum(family, d, r=r, kappa=kappa, **params)
                except SpectrumError as error:
                    shown = _format_d(as_dimension(d)) if _is_dimension(d) else repr(d)
                    raise SpectrumError(
                        f"spectrum {family!r} at d = {shown}, r = {r}, kappa = {kappa}: {error}"
                    ) from None
                count += 1
    return count


def _is_dimension(d) -> bool:
    try:
        as_dimension(d)
    except SpectrumError:
        return False
    return True


def _check_family_params(params: dict) -> None:
    """Numbers among the family parameters: finite and in range, named (not their consequences)."""
    if "lambda_1" in params:
        params["lambda_1"] = check_number(
            "lambda_1", params["lambda_1"], low=0, low_open=True, error=SpectrumError
        )
    if "bulk_bottom" in params:
        params["bulk_bottom"] = check_number(
            "bulk_bottom", params["bulk_bottom"], low=0, error=SpectrumError
        )
    if "levels" in params:
        params["levels"] = check_integer("levels", params["levels"], low=1, error=SpectrumError)


def spectrum(name: str, d: int | None = None, r: int = 2, kappa: float | None = None, **params):
    """Build a spectrum of a named family.

    Parameters
    ----------
    name : {'figure1', 'linear', 'flat', 'staircase', 'continuous', 'custom'}
        ``figure1``: the paper's Figure 1, diag(1, 0.5, e), e arithmetic from 0.3 to 0 (r = 2).
        ``linear``: top r + 1 eigenvalues lambda_1 - (k-1) lambda_1/kappa, then a linear bulk
        from lambda_{r+1} down to ``bulk_bottom`` (both ends exact).
        ``flat``: the same top, then all d - r remaining eigenvalues equal to lambda_{r+1}.
        ``staircase``: the same top r, then the linear bulk quantized into ``levels`` flat
        levels of equal multiplicity (default :data:`STAIRCASE_LEVELS`), each the mean of the
        linear values it replaces; exact at any d through the Gram reduction.
        ``continuous``: a continuous bulk (``bulk`` = ``linear``, ``figure1`` or
        ``marchenko_pastur``) in levels graded toward its top edge, the level count from
        ``bulk_tolerance`` (:func:`mfsim.bulk_levels.continuous_levels`), d up to 10^10000.
        ``custom``: ``eigenvalues=[...]`` or ``path=...``.
    d : int, float or {'log10': x}
        Dimension (see :func:`as_dimension`), up to 10^10000 for flat and staircase, up to
        :data:`MAX_EXPLICIT_ROWS` for figure1 and linear.
    r : int
        Rank.
    kappa : float
        Requested condition number lambda_1 / Delta (linear and flat); the realized
        ``Spectrum.kappa`` equals it up to rounding.
    **params
        Family parameters (``lambda_1``, ``bulk_bottom``, ``levels``, ``eigenvalues``, ``path``;
        ``continuous``: also ``bulk``, ``mp_ratio``, ``bulk_tolerance``);
        ``top_gap`` = lambda_1 - lambda_2 >= 0 for linear, flat, staircase with r >= 2;
        ``tie_tolerance``: gaps up to it form clusters, :mod:`mfsim.spectrum_ties`;
        ``gap``: an eigengap that shrinks with d, :mod:`mfsim.gap_laws`).

    Returns
    -------
    Spectrum

    Raises
    ------
    SpectrumError
        Unknown family, bad d (see :func:`as_dimension`), d <= r, d above the family's largest
        supported d (:func:`max_dimension`, checked before any work), impossible kappa or
        family parameters, eigenvalues that are not finite, non-negative and decreasing.
    """
    if name not in _FAMILY_FUNCS:
        raise SpectrumError(f"unknown spectrum family {name!r}; allowed: {', '.join(FAMILIES)}")
    # the arguments themselves (type, NaN, infinity) before any check derived from them
    r = check_integer("r", r, low=1, error=SpectrumError)
    if kappa is not None:
        # its range depends on r (kappa >= r): checked with the family
        kappa = check_number("kappa", kappa, error=SpectrumError)
    gap = params.pop("gap", None)  # a d-dependent eigengap: mfsim.gap_laws
    _check_family_params(params)
    ties = {key: params.pop(key) for key in spectrum_ties.TIE_PARAMETERS if key in params}
    if name != "custom":
        if d is None:
            raise SpectrumError("d is required")
        d = as_dimension(d)
        if d <= r:
            raise SpectrumError(f"d must be an integer > r = {r}, got d = {d!r}")
    if gap is not None:
        spec = gap_scaled_spectrum(spectrum, name, d, r, kappa, gap, params, SpectrumError)
    else:
        spec = _FAMILY_FUNCS[name](d, r, kappa, **params)
    return spectrum_ties.with_ties(spec, **ties, error=SpectrumError) if ties else spec
