"""The problem axis in the plan: factorization-only configs keep their grid, keys and chunk ids;
the other problems add batches with their own keys and options.

The shipped configs' chunk ids against the ids recorded before the problem axis are checked by
tests/plan/test_shipped_chunk_ids.py.
"""

from __future__ import annotations

import json

from mfsim.config import parse
from mfsim.plan.chunk_plan import ChunkPlan, make_plan
from mfsim.plan.grid import expand_grid
from tests.helpers import tiny

MIXED = {"problem": ["factorization", "sensing", "asymmetric"], "measurements": [3, 10],
         "imbalance": [1, 2]}  # fmt: skip


def _ids(config):
    return [chunk.chunk_id for chunk in make_plan(parse(config)).chunks]


def test_explicit_factorization_axis_changes_nothing():
    plain, explicit = parse(tiny()), parse(tiny(grid={"problem": ["factorization"]}))
    assert expand_grid(plain) == expand_grid(explicit)
    assert _ids(tiny()) == _ids(tiny(grid={"problem": ["factorization"]}))


def test_factorization_batches_of_a_mixed_sweep_keep_their_keys():
    alone = expand_grid(parse(tiny()))
    mixed = expand_grid(parse(tiny(grid=MIXED)))
    fact = [b for b in mixed if b.point.problem == "factorization"]
    assert [(b.key, b.point, b.seeds) for b in fact] == [(b.key, b.point, b.seeds) for b in alone]
    # 2 sensing + 2 asymmetric variants per factorization batch, each with its own key
    assert len(mixed) == 5 * len(alone)
    assert len({b.key for b in mixed}) == len(mixed)


def test_problem_points_carry_their_options():
    mixed = expand_grid(parse(tiny(grid=MIXED, sensing={"operator": "goe"})))
    sensing = [b.point for b in mixed if b.point.problem == "sensing"]
    assert {p.measurements for p in sensing} == {3.0, 10.0}
    for p in sensing:
        m = int(p.measurements) * p.d * p.r  # integer ratios: m = ratio d r exactly
        assert p.measurement_count == m
        expected = {"problem": "sensing", "operator": "goe", "measurements": m}
        assert p.simulate_options() == expected
    asym = [b.point for b in mixed if b.point.problem == "asymmetric"]
    assert {p.simulate_options()["imbalance"] for p in asym} == {1.0, 2.0}


def test_plan_files_of_factorization_sweeps_have_no_problem_entry():
    plan = make_plan(parse(tiny()))
    text = plan.chunk_plan(plan.chunks[0]).to_json()
    assert "problems" not in json.loads(text)
    mixed = make_plan(parse(tiny(grid=MIXED)))
    for chunk in mixed.chunks:
        job = ChunkPlan.from_json(mixed.chunk_plan(chunk).to_json())
        assert job.chunk == chunk
        assert job.problem_labels == parse(tiny(grid=MIXED)).grid.problem_labels


def test_mixed_sweep_identity_differs_from_factorization_only():
    assert not set(_ids(tiny())) & set(_ids(tiny(grid=MIXED)))
