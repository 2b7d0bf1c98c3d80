"""Issue 8.7: disk and memory. The estimated size of ``sweep.zarr`` is checked against the free
disk space before anything is written; each chunk job asks the scheduler for the memory that
:func:`mfsim.plan.grid.estimate_resources` estimates (``mem_mb``).

The size limits (``limits.max_runs``, ``limits.max_bytes``) are in ``test_bad_input.py``
(workflow level), ``tests/config/test_validate.py`` and ``tests/plan/test_grid.py``.
"""

from __future__ import annotations

import re
import shutil
from collections import namedtuple

import pytest

import mfsim
from mfsim.config.model import parse
from mfsim.config.validate import ConfigError, load_config
from mfsim.plan.chunk_plan import make_plan
from mfsim.plan.grid import estimate_resources, estimate_store_bytes, make_chunks
from mfsim.store.footprint import sweep_footprint
from tests.helpers import run_snakemake, tiny, write_config
from tests.tmpfs import mounted_tmpfs

DiskUsage = namedtuple("DiskUsage", "total used free")
FREE = 4096


@pytest.fixture
def little_free_space(monkeypatch):
    """Every file system reports FREE bytes free."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10**12, 10**12 - FREE, FREE))


def expected_message(config) -> str:
    estimate = estimate_store_bytes(load_config(config, results_root=None))
    assert estimate > FREE
    return rf"limits.max_bytes: .*estimated {estimate:,} bytes .* only {FREE:,} bytes .* free"


def test_load_config_refuses_a_store_larger_than_the_free_space(tmp_path, little_free_space):
    # what the Snakefile does first (workflow/rules/common.smk), before any job
    results = tmp_path / "results"
    with pytest.raises(ConfigError, match=expected_message(tiny())):
        load_config(tiny(), results_root=results)
    assert not results.exists()


def test_sweep_refuses_a_store_larger_than_the_free_space(tmp_path, little_free_space):
    # mfsim.sweep writes without Snakemake: it checks the space of its output directory for
    # the chunk stores and sweep.zarr, in file-system blocks (mfsim.store.footprint)
    out = tmp_path / "out"
    plan = make_plan(parse(tiny()))
    need = sweep_footprint(plan, analysis=False).total
    assert need > 1e6  # about 60 files of 4 KiB per store
    with pytest.raises(
        ConfigError, match=rf"needs an estimated {need:,} bytes .* in {out} .* only {FREE:,} bytes"
    ):
        mfsim.sweep(tiny(), out=out)
    assert not out.exists()


def test_workflow_refuses_a_sweep_larger_than_a_real_small_disk(tmp_path):
    # a 1 MB tmpfs: the tiny sweep's stores, analysis stores and figures need about 8 MB
    with mounted_tmpfs(tmp_path / "disk", "1m") as disk:
        configfile = write_config(disk, tiny())
        result = run_snakemake(disk, configfile, "--dry-run")
        assert result.returncode == 1
        need = sweep_footprint(make_plan(parse(tiny()))).total
        lines = [line for line in result.stderr.splitlines() if "disk space" in line]
        assert len(lines) == 1, result.stderr[-2000:]
        assert f"needs an estimated {need:,} bytes" in lines[0]
        assert "in results/tiny" in lines[0] and "are free on the file system of" in lines[0]
        assert not (disk / "results").exists()


#: Chunks of very different sizes: d = 1000 and d = 100000 (iterates of 100000 x 2 x 8 seeds).
BIG = tiny(
    sweep="memory",
    grid={"d": [1000, 100000], "seeds": {"start": 0, "count": 8}},
    run={"steps": 100},
    chunking={"target_seconds": 1.0e-9, "seeds_per_batch": 4},
)


@pytest.mark.slow
def test_chunk_jobs_request_the_estimated_memory(tmp_path):
    config = load_config(BIG, results_root=None)
    expected = {chunk.chunk_id: estimate_resources(chunk, config) for chunk in make_chunks(config)}
    assert len(expected) == 4
    assert len({resources["mem_mb"] for resources in expected.values()}) == 2
    assert max(resources["mem_mb"] for resources in expected.values()) > 500 + 20
    configfile = write_config(tmp_path, BIG)
    result = run_snakemake(tmp_path, configfile, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(
        r"rule simulate:\n(?:    .*\n)*?    wildcards: sweep=memory, chunk=([0-9a-f]{16})\n"
        r"    resources: (.*)\n",
        result.stdout,
    )
    assert {chunk_id for chunk_id, _ in jobs} == set(expected)
    for chunk_id, resources in jobs:
        requested = dict(item.split("=", 1) for item in resources.split(", "))
        assert int(requested["mem_mb"]) == expected[chunk_id]["mem_mb"], chunk_id
        assert int(requested["runtime"]) == expected[chunk_id]["runtime"], chunk_id
    assert not (tmp_path / "results").exists()  # a dry run writes nothing
