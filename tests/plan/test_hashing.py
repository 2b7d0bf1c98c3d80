"""Batch keys built from cached texts equal the general canonical-JSON hash."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from mfsim.config import parse
from mfsim.plan.grid import BATCH_KEY_LENGTH, expand_grid
from mfsim.plan.hashing import batch_key, content_hash


def json_key(point: dict, seeds) -> str:
    """An independent route: the canonical JSON written by json.dumps, floats made ints by hand."""

    def canonical(value):
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value

    content = {name: canonical(value) for name, value in point.items()}
    content["seeds"] = [int(seed) for seed in seeds]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:BATCH_KEY_LENGTH]


POINTS = [
    {"d": 100, "r": 2, "kappa": 5.0, "varpi": 0.5, "varpi_exponent": 0.0, "eta": 0.1},
    {"d": 10**30, "r": 3, "kappa": None, "varpi": 1e-17, "varpi_exponent": -0.25, "eta": 2.0},
    {"d": 2**53 + 1, "r": 6, "kappa": 1e16, "varpi": 3.0e20, "varpi_exponent": 0.5, "eta": 1e-3},
]


@pytest.mark.parametrize("point", POINTS)
def test_batch_key_equals_the_canonical_json_hash(point):
    seeds = (64, 65, 127)
    expected = json_key(point, seeds)
    assert batch_key(point, seeds, BATCH_KEY_LENGTH) == expected
    assert content_hash({**point, "seeds": list(seeds)}, BATCH_KEY_LENGTH) == expected


def test_numpy_values_take_the_general_route():
    point = {**POINTS[0], "eta": np.float64(0.1), "d": np.int64(100)}
    assert batch_key(point, (0,), BATCH_KEY_LENGTH) == json_key(POINTS[0], (0,))


def test_expand_grid_keys_equal_the_general_hash():
    config = parse(
        {
            "sweep": "keys",
            "spectrum": {"family": "flat"},
            "grid": {
                "d": [100, 10**20],
                "r": [2, 3],
                "kappa": [8, 12.5],
                "varpi": {"start": 0.1, "stop": 10, "num": 3, "spacing": "log"},
                "eta": [0.05, 1.0],
                "seeds": {"count": 70},
            },
        }
    )
    batches = expand_grid(config)
    assert len(batches) == 2 * 2 * 2 * 3 * 2 * 2  # two seed blocks of 64
    for batch in batches:
        assert batch.key == json_key(batch.point.as_dict(), batch.seeds)
