"""Spectra of Sigma = diag(lambda): the named families and user-supplied lists.

GD on ||Sigma - X X^T||_F^2 is rotation invariant (paper, footnote 1), so a diagonal Sigma with
decreasing eigenvalues is the general case. A spectrum is stored as arithmetic *segments*
``(first_value, increment, count)`` so that a flat bulk at d = 10^12 is three numbers, never a
length-d array.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Segment", "Spectrum", "SpectrumError", "spectrum", "FAMILIES"]

FAMILIES = ("figure1", "linear", "flat", "custom")


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
        return self.first + self.increment * (self.count - 1)


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of Sigma, decreasing, as arithmetic segments.

    Parameters
    ----------
    name : str
        Family name (``figure1``, ``linear``, ``flat``, ``custom``).
    d : int
        Dimension of Sigma.
    r : int
        Rank of the factorization; the top r + 1 eigenvalues must be strictly decreasing.
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
        if self.d > 50_000_000:
            raise SpectrumError(f"d = {self.d} is too large to materialize the eigenvalues")
        return np.concatenate([seg.values() for seg in self.segments])

    @property
    def lambda_1(self) -> float:
        return float(self.top(1)[0])

    @property
    def top_eigenvalues(self) -> np.ndarray:
        """lambda_1 .. lambda_{r+1}."""
        return self.top(self.r + 1)

    @property
    def Delta(self) -> float:  # noqa: N802 - the paper's symbol
        """Eigengap Delta = min_{i<=r} (lambda_i - lambda_{i+1}) (section 4.2)."""
        lam = self.top_eigenvalues
        return float(np.min(lam[:-1] - lam[1:]))

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
            f"Spectrum({self.name!r}, d={self.d}, r={self.r}, lambda_1={self.lambda_1:g}, "
            f"Delta={self.Delta:g}, kappa={self.kappa:g})"
        )


def _check(spec: Spectrum) -> None:
    d, r = spec.d, spec.r
    if int(r) != r or r < 1:
        raise SpectrumError(f"r must be an integer >= 1, got {r!r}")
    if int(d) != d or d <= r:
        raise SpectrumError(f"d must be an integer > r = {r}, got d = {d!r}")
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
    lam = spec.top(r + 1)
    if not np.all(lam[:-1] > lam[1:]):
        raise SpectrumError(
            f"the top r + 1 = {r + 1} eigenvalues must be strictly decreasing, got {lam.tolist()}"
        )


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


def _figure1(d: int, r: int = 2, kappa: float | None = None) -> Spectrum:
    if r != 2:
        raise SpectrumError(f"figure1 is the paper's rank-2 example: r must be 2, got {r}")
    if kappa is not None:
        raise SpectrumError("figure1 fixes kappa = 5; do not pass kappa")
    if d < 4:
        raise SpectrumError(f"figure1 needs d >= 4, got {d}")
    # e: arithmetic from 0.3 down to 0, length d - 2 (paper, section 1)
    bulk = Segment(0.3, -0.3 / (d - 3), d - 2)
    return Spectrum("figure1", d, 2, (Segment(1.0, 0.0, 1), Segment(0.5, 0.0, 1), bulk))


def _linear(d, r, kappa=None, lambda_1: float = 1.0, bulk_bottom: float = 0.0) -> Spectrum:
    top, bulk_top = _graded_top(r, kappa, lambda_1)
    if not 0 <= bulk_bottom <= bulk_top:
        raise SpectrumError(
            f"bulk_bottom must lie in [0, lambda_{{r+1}} = {bulk_top:g}], got {bulk_bottom!r}"
        )
    n = d - r
    increment = -(bulk_top - bulk_bottom) / (n - 1) if n > 1 else 0.0
    params = (("lambda_1", lambda_1), ("bulk_bottom", bulk_bottom), ("kappa", kappa))
    return Spectrum("linear", d, r, (*top, Segment(bulk_top, increment, n)), params)


def _flat(d, r, kappa=None, lambda_1: float = 1.0) -> Spectrum:
    top, bulk = _graded_top(r, kappa, lambda_1)
    params = (("lambda_1", lambda_1), ("kappa", kappa))
    return Spectrum("flat", d, r, (*top, Segment(bulk, 0.0, d - r)), params)


def _custom(d=None, r=1, kappa=None, eigenvalues=None, path=None) -> Spectrum:
    if kappa is not None:
        raise SpectrumError("custom spectra fix kappa through their eigenvalues; do not pass kappa")
    if eigenvalues is None:
        if path is None:
            raise SpectrumError("custom needs `eigenvalues` (a list) or `path` (a text file)")
        eigenvalues = read_eigenvalues(path)
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if d is not None and d != lam.size:
        raise SpectrumError(f"d = {d} but the custom list has {lam.size} eigenvalues")
    check_eigenvalues(lam)
    # Compress runs of equal values into groups (the reduced engine uses them).
    segments, start = [], 0
    for i in range(1, lam.size + 1):
        if i == lam.size or lam[i] != lam[start]:
            segments.append(Segment(float(lam[start]), 0.0, i - start))
            start = i
    return Spectrum("custom", int(lam.size), r, tuple(segments))


def read_eigenvalues(path) -> np.ndarray:
    """Read eigenvalues from a text file (whitespace or newline separated) and check them.

    Raises
    ------
    SpectrumError
        Missing file, a directory, unreadable or non-UTF-8 file, a non-numeric token (with its
        line), no values, NaN/inf, negative values, values not in decreasing order.
    """
    path = Path(path)
    if not path.exists():
        raise SpectrumError(f"{path} does not exist (relative to {Path.cwd()})")
    if not path.is_file():
        raise SpectrumError(f"{path} is not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpectrumError(f"{path} cannot be read ({error})") from error
    values = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        for token in line.split():
            try:
                values.append(float(token))
            except ValueError:
                raise SpectrumError(
                    f"{path} line {line_number}: {token!r} is not a number"
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


_FAMILY_FUNCS = {"figure1": _figure1, "linear": _linear, "flat": _flat, "custom": _custom}


def spectrum(name: str, d: int | None = None, r: int = 2, kappa: float | None = None, **params):
    """Build a spectrum of a named family.

    Parameters
    ----------
    name : {'figure1', 'linear', 'flat', 'custom'}
        ``figure1``: the paper's Figure 1, diag(1, 0.5, e), e arithmetic from 0.3 to 0 (r = 2).
        ``linear``: top r + 1 eigenvalues lambda_1 - (k-1) lambda_1/kappa, then a linear bulk
        from lambda_{r+1} down to ``bulk_bottom``.
        ``flat``: the same top, then all d - r remaining eigenvalues equal to lambda_{r+1}.
        ``custom``: ``eigenvalues=[...]`` or ``path=...``.
    d, r : int
        Dimension and rank.
    kappa : float
        Requested condition number lambda_1 / Delta (linear and flat); the realized
        ``Spectrum.kappa`` equals it up to rounding.
    **params
        Family parameters (``lambda_1``, ``bulk_bottom``, ``eigenvalues``, ``path``).

    Returns
    -------
    Spectrum
    """
    if name not in _FAMILY_FUNCS:
        raise SpectrumError(f"unknown spectrum family {name!r}; allowed: {', '.join(FAMILIES)}")
    if name != "custom":
        if d is None:
            raise SpectrumError("d is required")
        if int(d) != d or d <= r:
            raise SpectrumError(f"d must be an integer > r = {r}, got d = {d!r}")
        d = int(d)
    return _FAMILY_FUNCS[name](d, r, kappa, **params)
