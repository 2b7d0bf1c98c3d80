"""Measurement operators of matrix sensing: A_i, i = 1..m, symmetric d x d, batched over runs.

Every family is normalized so that E[<A, M> A] = M for symmetric M; then the expected sensing
gradient (1/m) sum_i <A_i, X X^T - Sigma> A_i X is the factorization gradient (X X^T - Sigma) X
(paper, eq. 9 with the step's sign). Families:

- ``rank_one``: A_i = (a_i a_i^T - b_i b_i^T) / 2, a_i, b_i ~ N(0, I_d) independent. For
  Gaussian a, E[(a^T M a) a a^T] = 2M + tr(M) I and E[(a^T M a) b b^T] = tr(M) I, so
  E[<A, M> A] = (1/4)(2 (2M + tr(M) I) - 2 tr(M) I) = M. Held as the vectors a_i, b_i:
  O(m d) memory, O(m d r) per step, never a d x d matrix.
- ``goe``: A_i = (G_i + G_i^T) / 2, G_i with i.i.d. N(0, 1) entries: diagonal entries N(0, 1),
  off-diagonal N(0, 1/2), hence E[<A, M> A_kl] = M_kl. Dense (m, d, d) per run: small d only.
- explicit: an array of m symmetric d x d matrices, used as given (no rescaling).

Generated operators depend on (seed, d, m) only: measurement block j (``BLOCK`` measurements) is
drawn from SeedSequence([seed, d, m, tag], spawn_key=(j,)), the j-th child of the run's
sequence, so any split of the measurements draws the same numbers.
"""

from __future__ import annotations

import numpy as np

from mfsim.arguments import ArgumentError

__all__ = ["BLOCK", "GOE_MAX_BYTES", "RankOne", "Dense", "make_operator"]

BLOCK = 256
#: the largest dense operator tensor (all runs) the ``goe`` family builds
GOE_MAX_BYTES = 2**28
_TAGS = {"rank_one": 11, "goe": 12}
RANK_ONE_SCALE = 0.5


def _block_rng(family: str, seed: int, d: int, m: int, j: int) -> np.random.Generator:
    ss = np.random.SeedSequence([int(seed), int(d), int(m), _TAGS[family]], spawn_key=(j,))
    return np.random.default_rng(ss)


def _draw(family: str, seed: int, d: int, m: int, shape_of_one: tuple) -> np.ndarray:
    """m draws of N(0, 1) arrays of ``shape_of_one``, block by block (layout-independent)."""
    out = np.empty((m, *shape_of_one))
    for j, start in enumerate(range(0, m, BLOCK)):
        n = min(BLOCK, m - start)
        _block_rng(family, seed, d, m, j).standard_normal(out=out[start : start + n])
    return out


class RankOne:
    """A_i = (a_i a_i^T - b_i b_i^T) / 2 per run: a, b of shape (n_runs, m, d)."""

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a, self.b = a, b
        self.m = a.shape[1]

    @classmethod
    def generate(cls, seeds, d: int, m: int):
        ab = [_draw("rank_one", s, d, m, (2, d)) for s in seeds]
        return cls(np.stack([v[:, 0] for v in ab]), np.stack([v[:, 1] for v in ab]))

    def measure_sigma(self, lam: np.ndarray) -> np.ndarray:
        """y_i = <A_i, diag(lam)>, (n_runs, m)."""
        return RANK_ONE_SCALE * ((self.a**2) @ lam - (self.b**2) @ lam)

    def measure(self, x: np.ndarray):
        """(<A_i, X X^T>, A-side products) for X (n_runs, d, r): values (n_runs, m)."""
        pa, pb = self.a @ x, self.b @ x  # (n_runs, m, r)
        values = RANK_ONE_SCALE * (np.sum(pa**2, axis=2) - np.sum(pb**2, axis=2))
        return values, (pa, pb)

    def weighted_apply(self, weights: np.ndarray, products) -> np.ndarray:
        """sum_i w_i A_i X, (n_runs, d, r), from ``measure``'s products: O(m d r)."""
        pa, pb = products
        wa = np.swapaxes(self.a, 1, 2) @ (weights[..., None] * pa)
        wb = np.swapaxes(self.b, 1, 2) @ (weights[..., None] * pb)
        return RANK_ONE_SCALE * (wa - wb)


class Dense:
    """A_i as dense symmetric matrices: (m, d, d) shared by every run, or (n_runs, m, d, d)."""

    def __init__(self, mats: np.ndarray):
        self.mats = mats
        self.m = mats.shape[-3]

    @classmethod
    def generate_goe(cls, seeds, d: int, m: int):
        g = np.stack([_draw("goe", s, d, m, (d, d)) for s in seeds])
        return cls((g + np.swapaxes(g, -1, -2)) / 2.0)

    def measure_sigma(self, lam: np.ndarray) -> np.ndarray:
        diag = np.diagonal(self.mats, axis1=-2, axis2=-1)  # (..., m, d)
        return diag @ lam

    def measure(self, x: np.ndarray):
        spec = "mij,bjr->bmir" if self.mats.ndim == 3 else "bmij,bjr->bmir"
        ax = np.einsum(spec, self.mats, x)  # (n_runs, m, d, r)
        return np.einsum("bmir,bir->bm", ax, x), ax

    def weighted_apply(self, weights: np.ndarray, products) -> np.ndarray:
        return np.einsum("bm,bmir->bir", weights, products)


def make_operator(operator, measurements, seeds, d: int):
    """The operator of a sensing run from the ``simulate`` arguments; errors name the argument."""
    if isinstance(operator, str):
        if operator not in _TAGS:
            raise ArgumentError(
                f"operator = {operator!r}: allowed 'rank_one', 'goe' or an array (m, d, d)"
            )
        if measurements is None:
            raise ArgumentError(
                f"measurements = None: operator={operator!r} needs the number m of measurements"
            )
        if isinstance(measurements, bool) or not isinstance(measurements, int | np.integer):
            raise ArgumentError(f"measurements = {measurements!r}: allowed an integer m >= 1")
        m = int(measurements)
        if m < 1:
            raise ArgumentError(f"measurements = {m}: allowed an integer m >= 1")
        if operator == "rank_one":
            return RankOne.generate(seeds, d, m)
        size = len(seeds) * m * d * d * 8
        if size > GOE_MAX_BYTES:
            raise ArgumentError(
                f"operator='goe' with measurements = {m}, d = {d} and {len(seeds)} runs needs "
                f"{size / 2**20:.0f} MiB of dense matrices (at most {GOE_MAX_BYTES / 2**20:.0f}); "
                "use operator='rank_one' (O(m d) memory) or fewer measurements"
            )
        return Dense.generate_goe(seeds, d, m)
    mats = np.asarray(operator, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[1:] != (d, d) or mats.shape[0] < 1:
        raise ArgumentError(
            f"operator has shape {np.shape(operator)}: allowed (m, d, d) = (m, {d}, {d}), m >= 1"
        )
    if not np.all(np.isfinite(mats)):
        raise ArgumentError("operator has NaN or infinite entries: allowed finite numbers")
    if not np.array_equal(mats, np.swapaxes(mats, 1, 2)):
        raise ArgumentError("operator: the matrices must be symmetric (A_i == A_i^T exactly)")
    if measurements is not None and measurements != mats.shape[0]:
        raise ArgumentError(
            f"measurements = {measurements!r} but operator holds {mats.shape[0]} matrices"
        )
    return Dense(mats)
