"""Per-step diagnostics of clusters of equal top eigenvalues (``docs/stages.md``, section 6).

Inside a cluster C = {a+1..b} of equal (or, with ``tie_tolerance``, nearly equal) top
eigenvalues, Sigma's eigenvectors are defined only up to a rotation Q of the cluster's
eigenspace, and X's rows in that eigenbasis become Q U_C (U_C the b - a rows of the cluster).
The per-k diagnostics of those rows are replaced by rotation-invariant ones:

* ``signal_k`` for k = a+1..b: the squared singular values of U_C in decreasing order; the last,
  sigma_min^2(U_C), is the *signal of the cluster*. For a one-row cluster it is ||u_k||^2.
* ``noise_k`` for k in C: the noise of the cluster, ||U_C K_C^T||_F with K_C the rows after the
  cluster (for one row, ||u_k K_k^T|| = the paper's noise).
* ``s1k`` (sigma_1^2(K_k), eq. 13) for k in C: sigma_1^2(K_C), the rows after the cluster.

All three come from the kernels' outputs (the per-row noise and the Gram ``top`` = U U^T of the
first three rows, computed at every step), so the tie-free path runs the kernels unchanged and
this module is called only when the spectrum has ties. Clusters must lie in the first three rows
(every tie pattern for r <= 3). Accuracy: the squared singular values are eigenvalues of the
c x c Gram (``numpy.linalg.eigvalsh``), absolute error about c eps ||U_C||^2, relative error
about c eps cond(U_C)^2; when the cluster is the whole top block, sigma_min^2 is the kernels'
one-sided Jacobi ``sru``, relative accuracy about r eps. The cluster noise subtracts the
within-cluster products from the per-row sums: absolute error about c eps sum_k noise_k^2 in the
square, floor of the noise about sqrt(c eps) max_k noise_k.
"""

from __future__ import annotations

import numpy as np

from mfsim.spectra import Spectrum
from mfsim.spectrum_ties import tie_tolerance_of, top_clusters

__all__ = ["MAX_CLUSTER_ROW", "tie_clusters", "cluster_outputs"]

#: the kernels record the Gram of the first three rows of X at every step (``Outputs.top``)
MAX_CLUSTER_ROW = 3


def tie_clusters(spec: Spectrum) -> tuple[tuple[int, int], ...] | None:
    """The clusters of lambda_1..lambda_r as 0-based half-open row ranges, None without ties.

    Raises
    ------
    ValueError
        When a cluster of two or more rows reaches beyond row 3 (``MAX_CLUSTER_ROW``).
    """
    clusters = top_clusters(spec.top(spec.r), tie_tolerance_of(spec.params))
    if all(b - a == 1 for a, b in clusters):
        return None
    for a, b in clusters:
        if b - a > 1 and b > MAX_CLUSTER_ROW:
            raise ValueError(
                f"spectrum: the tied eigenvalues lambda_{a + 1}..lambda_{b} = "
                f"{spec.top(b)[a:].tolist()} reach beyond lambda_{MAX_CLUSTER_ROW}; clusters of "
                f"equal top eigenvalues are supported within lambda_1..lambda_{MAX_CLUSTER_ROW}"
            )
    return clusters


def cluster_outputs(out, clusters):
    """The kernels' :class:`mfsim.engine.kernels.Outputs` with the cluster diagnostics.

    Parameters
    ----------
    out : Outputs
        One block of steps: ``signal``, ``noise``, ``s1k`` of shape (runs, steps, r), ``sru``
        (runs, steps), ``top`` (runs, steps, 3, 3); NaN at steps after a run stopped.
    clusters : tuple of (int, int) or None
        From :func:`tie_clusters`; None returns ``out`` itself.

    Returns
    -------
    Outputs
        ``signal``, ``noise`` and ``s1k`` replaced on the rows of every cluster of two or more
        rows (module notes); every other array is ``out``'s own.
    """
    if clusters is None:
        return out
    signal, noise, s1k = out.signal.copy(), out.noise.copy(), out.s1k.copy()
    r = signal.shape[-1]
    for a, b in clusters:
        if b - a == 1:
            continue
        gram = out.top[:, :, a:b, a:b]
        ok = np.isfinite(gram).all(axis=(-2, -1))
        values = np.full(gram.shape[:-1], np.nan)
        values[ok] = np.linalg.eigvalsh(gram[ok])[:, ::-1]
        if b - a == r:
            values[..., -1] = out.sru  # one-sided Jacobi: relative to sigma_min itself
        signal[:, :, a:b] = values
        within = np.zeros(gram.shape[:-2])
        for k in range(b - a):
            for i in range(k + 1, b - a):
                within += gram[..., i, k] ** 2
        squares = np.sum(out.noise[:, :, a:b] ** 2, axis=-1) - within
        noise[:, :, a:b] = np.sqrt(np.maximum(squares, 0.0))[..., None]
        s1k[:, :, a:b] = out.s1k[:, :, b - 1 : b]
    return out._replace(signal=signal, noise=noise, s1k=s1k)
