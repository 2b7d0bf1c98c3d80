"""Sweep configs for tests of assemble on synthetic chunk stores (:mod:`mfsim.store.synthetic`)."""

from __future__ import annotations


def one_run_per_chunk(n_d: int, seeds: int, *, steps: int = 50, policy: str = "log") -> dict:
    """A flat-family grid of ``n_d`` d values x ``seeds`` seeds, one run per chunk; ``policy``
    ``"all"`` records every one of ``steps`` steps (large runs), ``"log"`` about 8."""
    record = {"policy": "all"} if policy == "all" else {"policy": "log", "num": 8}
    return {
        "sweep": f"synthetic{n_d}x{seeds}",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": {"start": 100, "stop": 1.0e6, "num": n_d, "spacing": "log"},
            "r": [2],
            "kappa": [8],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"count": seeds},
        },
        "run": {"steps": steps, "record": record},
        "chunking": {"target_seconds": 1e-9, "seeds_per_batch": 1, "max_jobs": 10**7},
        "limits": {"max_runs": 10**8},
    }
