"""Issue 15 item 12: ``mfsim status results/<sweep>`` reads plan files, markers and chunk logs."""

from __future__ import annotations

import math
import shutil

import pytest

from mfsim.cli import main
from mfsim.execute.progress import sweep_status
from mfsim.plan.chunk_plan import make_plan, write_chunk_plans
from mfsim.store import chunk_store_path


@pytest.fixture
def half_done(many_chunks, tmp_path):
    """A sweep directory: every plan file, 2 complete chunk stores, one running chunk whose log
    says 1 of its runs is done at 0.5 runs/s, the others not started."""
    config, _, paths, _ = many_chunks
    plan = make_plan(config)
    write_chunk_plans(plan, tmp_path)
    for path in paths[:2]:
        shutil.copytree(path, chunk_store_path(tmp_path, path.stem))
    running = plan.chunks[2]
    log = tmp_path / "logs" / "simulate" / f"{running.chunk_id}.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        f"x INFO mfsim.simulate: chunk {running.chunk_id}: 1 batches, {running.n_runs} runs\n"
        f"x INFO mfsim.simulate: chunk {running.chunk_id}: batch 1/2 runs 1/{running.n_runs} "
        "(50%) 0.5 runs/s ETA 2.0 s\n"
    )
    return plan, tmp_path


def test_status_counts_chunks_runs_and_eta(half_done):
    plan, sweep_dir = half_done
    status = sweep_status(sweep_dir)
    runs = [chunk.n_runs for chunk in plan.chunks]
    assert status["chunks_total"] == len(plan.chunks) == 16
    assert status["chunks_done"] == 2 and status["chunks_running"] == 1
    assert status["runs_total"] == sum(runs) == 24
    assert status["runs_done"] == runs[0] + runs[1] + 1
    assert status["eta_seconds"] == pytest.approx((sum(runs) - status["runs_done"]) / 0.5)
    assert not status["assembled"]


def test_status_command_prints_one_line(half_done, capsys):
    _, sweep_dir = half_done
    assert main(["status", str(sweep_dir)]) == 0
    out = capsys.readouterr().out.strip()
    assert "chunks 2/16 complete (1 running)" in out and "ETA" in out and "\n" not in out


def test_status_of_a_directory_without_plans_says_so(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "no plan files" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "results" / "typo")]) == 2
    assert "typo: no such directory" in capsys.readouterr().err


def test_status_names_the_report_once_written(half_done, capsys):
    _, sweep_dir = half_done
    assert not sweep_status(sweep_dir)["report"]
    (sweep_dir / "report.html").write_text("<html></html>")
    assert sweep_status(sweep_dir)["report"]
    assert main(["status", str(sweep_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"; report: {sweep_dir / 'report.html'}")


def test_status_without_progress_has_unknown_eta(many_chunks, tmp_path):
    write_chunk_plans(make_plan(many_chunks[0]), tmp_path)
    assert math.isnan(sweep_status(tmp_path)["eta_seconds"])


def test_progress_rate_and_eta_leave_out_compilation(monkeypatch):
    """A batch that took 30 s of which 25 s compiling kernels runs at n / 5 s, not n / 30 s."""
    from mfsim.engine import compilation
    from mfsim.execute import progress
    from mfsim.plan.grid import Batch, Chunk, GridPoint

    clock = iter([100.0, 130.0, 135.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    monkeypatch.setitem(compilation._state, "seconds", 7.0)
    point = GridPoint(d=50, r=2, kappa=5.0, varpi=0.5, varpi_exponent=0.0, eta=0.1)
    batches = tuple(Batch(point=point, seeds=(2 * i, 2 * i + 1), cost=1.0) for i in range(3))
    lines = []

    class Log:
        def write(self, text):
            lines.append(text.strip())

    tracker = progress.Progress(Log(), Chunk(chunk_id="c", batches=batches, cost=3.0))
    compilation._state["seconds"] += 25.0  # the first batch compiled for 25 of its 30 s
    tracker.batch_done(batches[0])
    tracker.batch_done(batches[1])  # 5 s later, no compilation
    assert lines[0].endswith("runs 2/6 (33%) 0.4 runs/s ETA 10.0 s"), lines
    assert lines[1].endswith("runs 4/6 (67%) 0.4 runs/s ETA 5.0 s"), lines


def test_status_counts_only_the_chunks_of_the_current_plan(half_done, capsys):
    """Issue 22 item 4: after a config change, the earlier config's plan files and complete
    chunk stores stay (for reuse) but are not counted."""
    from mfsim.plan.plan_index import read_plan_index
    from tests.helpers import store_tiny

    old_plan, sweep_dir = half_done
    old = sweep_status(sweep_dir)
    # the same sweep with fewer seeds: a new plan whose chunks are partly new
    config = store_tiny(target_seconds=1e-9)
    config["grid"]["seeds"] = [0, 1]
    from mfsim.config.model import parse

    new_plan = make_plan(parse(config))
    write_chunk_plans(new_plan, sweep_dir)
    new_ids = [chunk.chunk_id for chunk in new_plan.chunks]
    assert read_plan_index(sweep_dir) == new_ids
    stale_ids = {chunk.chunk_id for chunk in old_plan.chunks} - set(new_ids)
    assert stale_ids  # the two plans differ: the old plan files stay in plan/
    assert all((sweep_dir / "plan" / f"{chunk_id}.json").is_file() for chunk_id in stale_ids)
    # one chunk of the earlier config had completed (any complete store stands for it)
    done_old = next(c for c in old_plan.chunks if chunk_store_path(sweep_dir, c.chunk_id).exists())
    shutil.copytree(
        chunk_store_path(sweep_dir, done_old.chunk_id),
        chunk_store_path(sweep_dir, sorted(stale_ids)[0]),
    )
    status = sweep_status(sweep_dir)
    assert status["chunks_total"] == len(new_plan.chunks) < old["chunks_total"]
    assert status["runs_total"] == sum(chunk.n_runs for chunk in new_plan.chunks)
    done_new = [c for c in new_plan.chunks if chunk_store_path(sweep_dir, c.chunk_id).exists()]
    assert status["chunks_done"] == len(done_new)
    stale_done = sum(chunk_store_path(sweep_dir, i).exists() for i in stale_ids)
    assert status["chunks_stale"] == stale_done > 0
    assert main(["status", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert f"chunks {len(done_new)}/{len(new_plan.chunks)} complete" in out
    assert f"{stale_done} chunk stores of an earlier config not counted" in out
