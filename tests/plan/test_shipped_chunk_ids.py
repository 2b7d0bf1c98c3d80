"""Chunk ids of every shipped config (config/*.yaml) are those of the code before the typed plan.

``chunk_ids_of_shipped_configs.json`` was written with ``make_chunks(load_config(path))`` of
the dict-based plan (commit aae1fe4); a changed id would make every existing chunk store of
that sweep look foreign and rerun it. A deliberate change re-records the entries it changes
(config.yaml: runs stop at convergence; then every config: cheap (d, r) groups are packed
together and chunks are packed by the cost model's estimate, mfsim.plan.grid.make_chunks).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfsim.config import parse
from mfsim.plan.chunk_plan import ChunkPlan, make_plan

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((Path(__file__).parent / "chunk_ids_of_shipped_configs.json").read_text())


def test_every_shipped_config_is_recorded():
    assert sorted(RECORDED) == sorted(path.name for path in (ROOT / "config").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_chunk_ids_unchanged(name):
    plan = make_plan(parse(ROOT / "config" / name))
    assert [chunk.chunk_id for chunk in plan.chunks] == RECORDED[name]


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_chunk_plan_round_trips_through_json(name):
    """What a simulate job reads back is the chunk the workflow planned, value for value."""
    plan = make_plan(parse(ROOT / "config" / name))
    for chunk in plan.chunks[:3]:
        job = ChunkPlan.from_json(plan.chunk_plan(chunk).to_json())
        assert job.chunk == chunk  # batches, points, seeds, costs, keys
        kwargs, expected = job.simulate_kwargs(), plan.config.run.simulate_kwargs()
        assert kwargs.keys() == expected.keys()
        assert kwargs["record"].tolist() == expected["record"].tolist()
        assert kwargs["record"].dtype == expected["record"].dtype
        assert {k: v for k, v in kwargs.items() if k != "record"} == {
            k: v for k, v in expected.items() if k != "record"
        }
        assert job.identity_hash == plan.identity_hash and job.k_max == plan.config.grid.k_max
