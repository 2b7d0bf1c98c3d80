"""Tests of mfsim.grid: value expansion, batches, chunking, estimates, limits."""

from __future__ import annotations

import copy
import math
from collections import Counter, namedtuple
from operator import attrgetter

import numpy as np
import pytest

from mfsim import spectrum as mfsim_spectrum
from mfsim.config import limits
from mfsim.config.axes import expand_values, grid_axes
from mfsim.config.limits import check_limits, count_runs, estimate_store_bytes
from mfsim.config.limits import run_recorded_steps as recorded_steps
from mfsim.config.validate import ConfigError, load_config
from mfsim.plan import grid
from mfsim.plan.grid import (
    MIN_RUNTIME_MINUTES,
    Batch,
    Chunk,
    GridPoint,
    estimate_resources,
    expand_grid,
    make_chunks,
    plan_chunks,
    seed_blocks,
)


def sweep_config(**grid_overrides) -> dict:
    """A validated linear-family config with many small batches (target 1 s)."""
    raw = {
        "sweep": "test",
        "spectrum": {"family": "linear"},
        "grid": {
            "d": [1000, 3000],
            "r": [2, 3],
            "kappa": [5, 10],
            "varpi": {"start": 0.1, "stop": 1.0, "num": 10, "spacing": "log"},
            "eta": [0.01, 0.02, 0.05, 0.1],
            "seeds": {"count": 32},
        },
        "run": {"steps": 2000},
        "chunking": {"target_seconds": 1, "seeds_per_batch": 16},
    }
    raw["grid"].update(grid_overrides)
    return load_config(raw, results_root=None)


def chunk_ids(config: dict) -> set[str]:
    return {chunk.chunk_id for chunk in make_chunks(config)}


def runs_of(chunks) -> Counter:
    return Counter(
        (batch.point, seed) for chunk in chunks for batch in chunk.batches for seed in batch.seeds
    )


# --------------------------------------------------------------------------------------------
# expand_values


def test_list_values_are_sorted_floats():
    assert expand_values([0.5, 0.1, 2]) == [0.1, 0.5, 2.0]
    assert all(isinstance(value, float) for value in expand_values([1, 2]))


def test_integer_list():
    assert expand_values([100, 10.0], integer=True) == [10, 100]
    assert all(isinstance(value, int) for value in expand_values([100, 10.0], integer=True))
    with pytest.raises(ConfigError, match="grid.d: 10.5 is not an integer"):
        expand_values([10.5], integer=True, key="grid.d")


def test_empty_and_duplicate_lists():
    with pytest.raises(ConfigError, match="grid.eta: the list is empty"):
        expand_values([], key="grid.eta")
    with pytest.raises(ConfigError, match="grid.eta: duplicate"):
        expand_values([0.1, 0.1], key="grid.eta")


def test_linear_range_inclusive():
    assert expand_values({"start": 0.0, "stop": 1.0, "num": 5, "spacing": "linear"}) == [
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
    ]


def test_log_range_inclusive_and_rounded():
    values = expand_values({"start": 0.1, "stop": 1000.0, "num": 5, "spacing": "log"})
    assert values == [0.1, 1.0, 10.0, 100.0, 1000.0]


def test_integer_log_range_rounds():
    values = expand_values({"start": 100, "stop": 20000, "num": 5, "spacing": "log"}, integer=True)
    assert values == [100, 376, 1414, 5318, 20000]
    decades = expand_values({"start": 100, "stop": 1e12, "num": 11, "spacing": "log"}, integer=True)
    assert decades == [10**k for k in range(2, 13)]


def test_integer_range_rounding_collapse_is_an_error():
    spec = {"start": 1, "stop": 5, "num": 9, "spacing": "linear"}
    with pytest.raises(ConfigError, match=r"grid.r: rounding .* collapses 9 values to 5"):
        expand_values(spec, integer=True, key="grid.r")


def test_single_point_range():
    assert expand_values({"start": 3.0, "stop": 3.0, "num": 1, "spacing": "log"}) == [3.0]
    with pytest.raises(ConfigError, match="num = 1"):
        expand_values({"start": 1.0, "stop": 3.0, "num": 1, "spacing": "log"})


def test_seed_count_spec():
    assert expand_values({"start": 5, "count": 3}, integer=True) == [5, 6, 7]
    assert expand_values({"count": 2}, integer=True) == [0, 1]


def test_varpi_plain_list_means_exponent_zero():
    axes = grid_axes(sweep_config(varpi=[0.5, 1.0]))
    assert axes["varpi"] == [0.5, 1.0]
    assert axes["varpi_exponent"] == [0.0]


def test_varpi_power_of_d():
    config = sweep_config(
        d=[100, 10000],
        varpi={
            "scale": [2.0],
            "exponent": {"start": 0.0, "stop": 0.5, "num": 3, "spacing": "linear"},
        },
    )
    axes = grid_axes(config)
    assert axes["varpi"] == [2.0]
    assert axes["varpi_exponent"] == [0.0, 0.25, 0.5]
    effective = {
        (batch.point.d, batch.point.varpi_exponent): batch.point.varpi_effective
        for batch in expand_grid(config)
    }
    assert effective[(100, 0.0)] == pytest.approx(2.0)
    assert effective[(100, 0.5)] == pytest.approx(0.2)
    assert effective[(10000, 0.25)] == pytest.approx(0.2)
    assert effective[(10000, 0.5)] == pytest.approx(0.02)


def test_grid_axes_kappa_none_for_figure1():
    config = load_config(
        {
            "sweep": "f",
            "spectrum": {"family": "figure1"},
            "grid": {"d": [10], "r": [2], "varpi": [0.5], "eta": [0.1], "seeds": [0]},
        },
        results_root=None,
    )
    assert grid_axes(config)["kappa"] == [None]
    assert expand_grid(config)[0].point.kappa is None


def test_count_runs_is_the_product_of_axis_lengths():
    config = sweep_config()
    assert count_runs(config) == 2 * 2 * 2 * 10 * 1 * 4 * 32
    assert sum(batch.n_runs for batch in expand_grid(config)) == count_runs(config)


# --------------------------------------------------------------------------------------------
# batches


def test_seed_blocks_are_fixed():
    assert seed_blocks([0, 1, 2, 3, 4], 2) == [(0, 1), (2, 3), (4,)]
    assert seed_blocks([3, 4, 9], 4) == [(3,), (4,), (9,)]


def test_batches_respect_seeds_per_batch_and_cover_every_run_once():
    config = sweep_config(seeds={"count": 40})
    batches = expand_grid(config)
    assert max(batch.n_runs for batch in batches) == 16
    runs = Counter((batch.point, seed) for batch in batches for seed in batch.seeds)
    assert set(runs.values()) == {1}
    assert len(runs) == count_runs(config)


def test_adding_seeds_keeps_full_batches():
    before = {batch.key for batch in expand_grid(sweep_config(seeds={"count": 32}))}
    after = {batch.key for batch in expand_grid(sweep_config(seeds={"count": 48}))}
    assert before <= after


def test_batch_key_is_a_stable_content_hash():
    point = GridPoint(d=100, r=2, kappa=5.0, varpi=0.5, varpi_exponent=0.0, eta=0.1)
    same_point = GridPoint(d=100, r=2, kappa=5, varpi=0.5, varpi_exponent=0, eta=0.1)
    batch = Batch(point=point, seeds=(0, 1), cost=1.0)
    assert len(batch.key) == 12
    assert batch.key == Batch(point=same_point, seeds=(0, 1), cost=2.0).key
    assert batch.key != Batch(point=point, seeds=(0, 2), cost=1.0).key
    assert batch.key != Batch(point=point, seeds=(0, 1, 2), cost=1.0).key


def test_batch_cost_is_the_engine_estimate_of_its_runs():
    """Runs to the step limit (stop_error = 0): n * steps * (rows r^2 a + r^2 (r + 2) b)."""
    config = sweep_config()
    config["run"]["stop_error"] = 0.0
    config = load_config(config, results_root=None)
    a, b = grid.ENGINE_SECONDS_PER_ROW_STEP, grid.ENGINE_SECONDS_PER_DIAGNOSTIC_STEP
    for batch in expand_grid(config)[::37]:
        d, r = batch.point.d, batch.point.r  # linear family: every row iterated
        expected = batch.n_runs * 2000 * (d * r**2 * a + r**2 * (r + 2) * b)
        assert batch.cost == pytest.approx(expected, rel=1e-12)


def test_batch_cost_counts_runs_to_their_estimated_stop():
    """With stop_error > 0 a run is counted to rise + decay steps (closed form on the top
    eigenvalues of the dense spectrum)."""
    config = sweep_config(d=[1000], r=[2], kappa=[5], varpi=[0.5], eta=[0.1])
    (batch, *_) = expand_grid(config)
    lam = np.sort(np.asarray(mfsim_spectrum("linear", 1000, r=2, kappa=5.0).eigenvalues()))[::-1]
    growth = math.log1p(0.1 * lam[1]) - math.log1p(0.1 * lam[2])
    rise = (math.log(1000) - 2 * math.log(0.5)) / (2 * growth)
    decay = math.log(1e10) / (0.1 * (lam[1] - lam[2]))
    steps = min(2000, math.ceil(rise + decay))
    assert steps < 2000  # the estimate stops before the step limit
    a, b = grid.ENGINE_SECONDS_PER_ROW_STEP, grid.ENGINE_SECONDS_PER_DIAGNOSTIC_STEP
    expected = batch.n_runs * steps * (1000 * 4 * a + 4 * 4 * b)
    assert batch.cost == pytest.approx(expected, rel=1e-12)


def test_flat_cost_does_not_grow_with_d_to_the_step_limit():
    raw = {
        "sweep": "flat",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": [100, 10**6, 10**12],
            "r": [2],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": [0],
        },
        "run": {"steps": 1000, "stop_error": 0.0},
    }
    costs = {
        batch.point.d: batch.cost for batch in expand_grid(load_config(raw, results_root=None))
    }
    a, b = grid.ENGINE_SECONDS_PER_ROW_STEP, grid.ENGINE_SECONDS_PER_DIAGNOSTIC_STEP
    # the engine's rows whatever d is: lambda_1, lambda_2 and the flat bulk reduced to r = 2 rows
    expected = 1000 * (4 * 4 * a + 4 * 4 * b)
    assert costs[100] == costs[10**6] == costs[10**12] == pytest.approx(expected, rel=1e-12)
    assert grid.engine_rows(5, 2, "flat") == 5


# --------------------------------------------------------------------------------------------
# chunking


def test_every_run_in_exactly_one_chunk():
    config = sweep_config()
    chunks = make_chunks(config)
    runs = runs_of(chunks)
    assert set(runs.values()) == {1}
    assert len(runs) == count_runs(config)
    assert len({chunk.chunk_id for chunk in chunks}) == len(chunks)


def test_chunk_cost_at_most_target_unless_a_single_batch_exceeds_it():
    config = sweep_config(d=[1000, 3000, 300000])
    # the effective target: the job budget (5000 jobs) doubles the 1 s of the config once
    chunks, target = plan_chunks(config)
    assert target == 2 * config["chunking"]["target_seconds"]
    single = [chunk for chunk in chunks if chunk.cost > target]
    assert single, "the d = 300000 batches exceed the target"
    assert all(len(chunk.batches) == 1 for chunk in single)
    assert all(chunk.cost == pytest.approx(sum(b.cost for b in chunk.batches)) for chunk in chunks)
    for chunk in chunks:
        assert chunk.cost <= target or len(chunk.batches) == 1


def test_chunks_of_large_groups_hold_many_batches_of_one_d_and_r():
    config = sweep_config()
    target = config["chunking"]["target_seconds"]
    chunks = make_chunks(config)
    group_cost = Counter()
    for batch in expand_grid(config):
        group_cost[batch.point.d, batch.point.r] += batch.cost
    assert min(group_cost.values()) > target  # every group is large
    assert max(len(chunk.batches) for chunk in chunks) > 1
    for chunk in chunks:
        assert len({(batch.point.d, batch.point.r) for batch in chunk.batches}) == 1


def flat_config(d_values) -> dict:
    """Many cheap (d, r) groups: the flat family's cost does not grow with d."""
    raw = {
        "sweep": "flat",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": d_values,
            "r": [2, 3],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"count": 64},
        },
        "run": {"steps": 3000},
        "chunking": {"target_seconds": 5},
    }
    return load_config(raw, results_root=None)


FLAT_D = [10**exponent for exponent in range(2, 301, 10)]  # 30 values, 60 (d, r) groups


def test_small_groups_share_chunks_within_the_target():
    config = flat_config(FLAT_D)
    target = config["chunking"]["target_seconds"]
    chunks = make_chunks(config)
    assert max(batch.cost for batch in expand_grid(config)) < target / 4  # one batch per group
    assert 1 < len(chunks) < 60 / 4
    assert any(len({batch.point.d for batch in chunk.batches}) > 1 for chunk in chunks)
    assert all(chunk.cost <= target for chunk in chunks)
    runs = runs_of(chunks)
    assert set(runs.values()) == {1} and len(runs) == count_runs(config)
    # whole groups: no (d, r) group is split over two chunks
    chunk_of_group = {}
    for chunk in chunks:
        for batch in chunk.batches:
            group = (batch.point.d, batch.point.r)
            assert chunk_of_group.setdefault(group, chunk.chunk_id) == chunk.chunk_id


def test_a_new_small_group_changes_about_one_neighbouring_chunk():
    old = make_chunks(flat_config(FLAT_D))
    for exponent in (7, 155, 299):
        new_ids = chunk_ids(flat_config(sorted(FLAT_D + [10**exponent])))
        lost = [chunk for chunk in old if chunk.chunk_id not in new_ids]
        assert len(lost) <= 2, exponent  # 0 when the new group ends up in a chunk of its own


def test_max_runs_per_chunk():
    raw = copy.deepcopy(sweep_config())
    raw["chunking"].update(max_runs_per_chunk=32, target_seconds=1000)
    chunks = make_chunks(load_config(raw, results_root=None))
    assert max(chunk.n_runs for chunk in chunks) == 32


def test_big_d_chunks_hold_fewer_runs():
    chunks = make_chunks(sweep_config(d=[1000, 30000], r=[2]))
    runs_by_d = {}
    for chunk in chunks:
        runs_by_d.setdefault(chunk.batches[0].point.d, []).append(chunk.n_runs)
    assert np.mean(runs_by_d[30000]) < np.mean(runs_by_d[1000])
    assert max(runs_by_d[30000]) < max(runs_by_d[1000])


def test_chunk_ids_stable_across_calls():
    config = sweep_config()
    first = [(chunk.chunk_id, chunk.batches) for chunk in make_chunks(config)]
    second = [(chunk.chunk_id, chunk.batches) for chunk in make_chunks(copy.deepcopy(config))]
    assert first == second
    assert all(len(chunk_id) == 16 for chunk_id, _ in first)


def reversed_dicts(value):
    if isinstance(value, dict):
        return {key: reversed_dicts(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_dicts(item) for item in value]
    return value


def test_chunk_ids_independent_of_dict_order():
    config = sweep_config()
    reordered = load_config(reversed_dicts(config), results_root=None)
    assert list(reordered) != list(config)
    assert [c.chunk_id for c in make_chunks(reordered)] == [c.chunk_id for c in make_chunks(config)]


def test_chunk_ids_independent_of_int_versus_float_spelling():
    assert chunk_ids(sweep_config(kappa=[5, 10])) == chunk_ids(sweep_config(kappa=[5.0, 10.0]))


def test_chunk_ids_change_with_run_settings_and_spectrum():
    config = sweep_config()
    base = chunk_ids(config)
    for section, key, value in [
        ("run", "steps", 2001),
        ("run", "stop_error", 0.0),
        ("run", "dtype", "float32"),
        ("run", "epsilons", [1e-3]),
        ("spectrum", "lambda_1", 2.0),
    ]:
        changed = copy.deepcopy(config)
        changed[section][key] = value
        assert chunk_ids(changed).isdisjoint(base), (section, key)


def test_chunk_ids_ignore_settings_that_do_not_change_results():
    config = sweep_config()
    changed = copy.deepcopy(config)
    changed["dask"]["cluster"] = "address"
    changed["dask"]["address"] = "tcp://host:8786"
    changed["limits"]["max_runs"] = 10**5
    changed["run"]["record"] = {"policy": "all"}  # steps = 2000: the same as auto
    assert chunk_ids(changed) == chunk_ids(config)


def test_custom_chunk_ids_follow_the_file_contents(tmp_path):
    path = tmp_path / "eigenvalues.txt"
    path.write_text("3 2 1 0\n")
    raw = {
        "sweep": "custom",
        "spectrum": {"family": "custom", "eigenvalues_file": str(path)},
        "grid": {"d": [4], "r": [2], "varpi": [0.5], "eta": [0.1], "seeds": [0]},
    }
    before = chunk_ids(load_config(raw, results_root=None))
    moved = tmp_path / "moved.txt"
    path.rename(moved)
    raw["spectrum"]["eigenvalues_file"] = str(moved)
    assert chunk_ids(load_config(raw, results_root=None)) == before
    moved.write_text("3 2 1 0.5\n")
    assert chunk_ids(load_config(raw, results_root=None)).isdisjoint(before)


def chunks_by_group(config: dict) -> dict[tuple[int, int], set[str]]:
    groups: dict[tuple[int, int], set[str]] = {}
    for chunk in make_chunks(config):
        point = chunk.batches[0].point
        groups.setdefault((point.d, point.r), set()).add(chunk.chunk_id)
    return groups


@pytest.mark.parametrize(
    ("axis", "before", "after"),
    [
        ("d", [1000, 3000], [1000, 2000, 3000]),
        ("r", [2, 3], [2, 3, 4]),
        ("d", [1000, 3000], [1000, 5000]),
    ],
)
def test_changing_d_or_r_leaves_other_chunks_unchanged(axis, before, after):
    old = chunks_by_group(sweep_config(**{axis: before}))
    new = chunks_by_group(sweep_config(**{axis: after}))
    unaffected = set(old) & set(new)
    assert unaffected
    for group in unaffected:
        assert old[group] == new[group]


def test_adding_seeds_changes_at_most_the_last_chunk_of_each_group():
    old = chunks_by_group(sweep_config(seeds={"count": 32}))
    new = chunks_by_group(sweep_config(seeds={"count": 64}))
    for group, ids in old.items():
        assert len(ids - new[group]) <= 1
    assert sum(len(ids) for ids in old.values()) > 4 * len(old)


@pytest.mark.parametrize("kappa", [[5, 10, 20], [5, 7, 10]])
def test_adding_a_kappa_value_leaves_most_chunks_unchanged(kappa):
    old = chunk_ids(sweep_config())
    new = chunk_ids(sweep_config(kappa=kappa))
    assert len(old & new) >= 0.8 * len(old)


@pytest.mark.parametrize(
    ("axis", "old_value", "new_values"),
    [("kappa", 5.0, [4, 10]), ("eta", 0.02, [0.01, 0.025, 0.05, 0.1])],
)
def test_changing_a_value_keeps_most_chunks_of_unaffected_grid_points(axis, old_value, new_values):
    """Only chunks holding the changed value, and a few neighbours, change."""
    old_chunks = make_chunks(sweep_config())
    new_ids = chunk_ids(sweep_config(**{axis: new_values}))
    unaffected = [
        chunk
        for chunk in old_chunks
        if all(getattr(batch.point, axis) != old_value for batch in chunk.batches)
    ]
    kept = [chunk for chunk in unaffected if chunk.chunk_id in new_ids]
    assert len(unaffected) > 20
    assert len(kept) >= 0.75 * len(unaffected)
    affected = [chunk for chunk in old_chunks if chunk not in unaffected]
    assert not any(chunk.chunk_id in new_ids for chunk in affected)


def test_content_boundaries_limit_the_damage_of_an_insertion():
    """Inserting batches at the front of each seed block does not shift every later boundary."""
    old = chunk_ids(sweep_config(kappa=[5, 10], r=[3], d=[3000]))
    new = chunk_ids(sweep_config(kappa=[4, 5, 10], r=[3], d=[3000]))
    assert len(old) > 50
    n_seed_blocks = 2
    assert len(old - new) <= 2 * n_seed_blocks


# --------------------------------------------------------------------------------------------
# recorded steps


@pytest.mark.parametrize(
    ("steps", "record", "expected_size"),
    [
        (100, {"policy": "all"}, 101),
        (100, {"policy": "auto"}, 101),
        (10, {"policy": "stride", "stride": 3}, 5),  # 0 3 6 9 10
    ],
)
def test_recorded_steps_policies(steps, record, expected_size):
    recorded = recorded_steps({"steps": steps, "record": record})
    assert recorded.dtype == np.int64
    assert recorded.size == expected_size
    assert recorded[0] == 0 and recorded[-1] == steps
    assert np.all(np.diff(recorded) > 0)


def test_recorded_steps_stride_and_log():
    assert recorded_steps({"steps": 10, "record": {"policy": "stride", "stride": 3}}).tolist() == [
        0,
        3,
        6,
        9,
        10,
    ]
    logged = recorded_steps({"steps": 10**6, "record": {"policy": "log", "num": 200}})
    assert logged[0] == 0 and logged[-1] == 10**6
    assert 50 <= logged.size <= 201
    gaps = np.diff(logged)
    assert gaps[-1] > gaps[len(gaps) // 2] > gaps[0]


def test_recorded_steps_auto_is_log_beyond_10000():
    recorded = recorded_steps({"steps": 20000, "record": {"policy": "auto"}})
    assert 100 < recorded.size <= 1001
    assert recorded[0] == 0 and recorded[-1] == 20000


# --------------------------------------------------------------------------------------------
# estimates and limits


def single_batch_chunk(d: int, config: dict) -> Chunk:
    point = GridPoint(d=d, r=2, kappa=5.0, varpi=0.5, varpi_exponent=0.0, eta=0.1)
    cost = grid.estimate_engine_seconds(point, 16, config)
    batch = Batch(point=point, seeds=tuple(range(16)), cost=cost)
    return Chunk(chunk_id="test", batches=(batch,), cost=batch.cost)


def test_resources_grow_with_d():
    config = sweep_config()
    resources = [
        estimate_resources(single_batch_chunk(d, config), config) for d in (10**3, 10**7, 4 * 10**7)
    ]
    assert all(set(entry) == {"mem_mb", "runtime"} for entry in resources)
    assert all(isinstance(value, int) for entry in resources for value in entry.values())
    mem = [entry["mem_mb"] for entry in resources]
    runtime = [entry["runtime"] for entry in resources]
    assert 500 < mem[0] < mem[1] < mem[2]
    assert MIN_RUNTIME_MINUTES == runtime[0] < runtime[1] < runtime[2]


def test_memory_includes_iterates_and_diagnostics():
    config = sweep_config()
    chunk = single_batch_chunk(10**7, config)
    iterates = 16 * 10**7 * 2 * 8 * 4
    diagnostics = 16 * ((6 + 3 * 2) * 2001 + 9 * 2 + 6 + 3 + 9) * 8
    expected = 500 + math.ceil((iterates + diagnostics) / 1e6)
    assert estimate_resources(chunk, config)["mem_mb"] == expected


def test_runtime_is_three_times_the_estimate_to_the_step_limit():
    """Runtime counts every run to run.steps (a run may not converge), not the packing cost."""
    config = sweep_config(d=[3000000], r=[3], kappa=[5], eta=[0.1])
    chunk = max(make_chunks(config), key=attrgetter("cost"))
    a, b = grid.ENGINE_SECONDS_PER_ROW_STEP, grid.ENGINE_SECONDS_PER_DIAGNOSTIC_STEP
    to_limit = sum(batch.n_runs * 2000 * (3000000 * 9 * a + 9 * 5 * b) for batch in chunk.batches)
    assert to_limit * 3 / 60 > MIN_RUNTIME_MINUTES and to_limit > chunk.cost
    assert estimate_resources(chunk, config)["runtime"] == math.ceil(to_limit * 3 / 60)


def test_store_bytes_estimate():
    config = sweep_config()
    n_steps = recorded_steps(config["run"]).size
    per_step = (6 + 4 * 3) * 8 * n_steps  # max r = 3
    stages = (9 * 3 + 6 + 3 + 9 * 1) * 8
    assert estimate_store_bytes(config) == count_runs(config) * (per_step + stages)


def test_per_step_variable_counts_are_the_engines():
    """The store-size model counts the per-step variables a batch Dataset really has."""
    from mfsim.config.limits import PER_STEP_VARIABLES, PER_STEP_VARIABLES_PER_K
    from mfsim.engine.simulation import simulate
    from mfsim.spectra import spectrum

    ds = simulate(spectrum("flat", 100, r=2, kappa=5.0), steps=5, seeds=[0])
    per_step = [var for var in ds.data_vars.values() if "step" in var.dims]
    assert sum("k" not in var.dims for var in per_step) == PER_STEP_VARIABLES
    assert sum("k" in var.dims for var in per_step) == PER_STEP_VARIABLES_PER_K


def test_limits_refuse_too_many_runs_and_state_the_estimate():
    config = sweep_config()
    config["limits"]["max_runs"] = 1000
    with pytest.raises(ConfigError, match=r"limits.max_runs: .*10,240 runs.*1,000"):
        check_limits(config, results_root=None)


def test_limits_refuse_a_big_store_and_state_the_estimate():
    config = sweep_config()
    config["limits"]["max_bytes"] = 10**6
    estimate = estimate_store_bytes(config)
    with pytest.raises(ConfigError, match=f"limits.max_bytes: .*{estimate:,} bytes"):
        check_limits(config, results_root=None)


DiskUsage = namedtuple("DiskUsage", "total used free")


def almost_full_disk(path):
    return DiskUsage(total=100, used=90, free=10)


def test_disk_space_check(tmp_path, monkeypatch):
    config = sweep_config()
    check_limits(config, results_root=tmp_path / "results")
    monkeypatch.setattr(limits.shutil, "disk_usage", almost_full_disk)
    estimate = estimate_store_bytes(config)
    with pytest.raises(ConfigError, match=f"{estimate:,} bytes .* only 10 bytes"):
        check_limits(config, results_root=tmp_path / "results")


def test_oversized_grid_is_refused_by_load_config_before_expansion():
    raw = {
        "sweep": "huge",
        "spectrum": {"family": "flat"},
        "grid": {
            "d": {"start": 100, "stop": 10**6, "num": 100, "spacing": "log"},
            "r": [2],
            "kappa": [5],
            "varpi": [0.5],
            "eta": [0.1],
            "seeds": {"count": 10**6},
        },
    }
    with pytest.raises(ConfigError, match="limits.max_runs: .* runs"):
        load_config(raw, results_root=None)
