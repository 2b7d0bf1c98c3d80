"""What one chunk job needs, and nothing more: the plan of a chunk, written once as JSON.

``common.smk`` parses the config once and writes ``results/<sweep>/plan/<chunk_id>.json`` per
chunk (:func:`write_chunk_plans`); the ``simulate`` job reads only its own file
(:func:`read_chunk_plan`) and never re-derives the sweep.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mfsim.config.model import SweepConfig, as_sweep_config
from mfsim.plan.grid import Batch, Chunk, GridPoint, identity_hash, plan_chunks
from mfsim.plan.plan_index import write_plan_index

__all__ = ["ChunkPlan", "SweepPlan", "make_plan", "read_chunk_plan", "write_chunk_plans"]

PLAN_FORMAT = 1


@dataclass(frozen=True)
class ChunkPlan:
    """The batches of one chunk with the run settings they need.

    Attributes
    ----------
    sweep : str
        Sweep name.
    chunk : Chunk
        The chunk (batches in canonical order).
    family : str
        Spectrum family.
    family_params_json : str
        JSON of the family's keyword parameters (:meth:`family_params`).
    simulate_json : str
        JSON of the keyword arguments of :func:`mfsim.simulate` (:meth:`simulate_kwargs`).
    k_max : int
        Length of the ``k`` dim of the chunk store (largest r of the sweep).
    identity_hash : str
        Hash of the run settings, stored in the chunk store and checked at assembly.
    cluster_json : str
        JSON of the config's ``dask`` section.
    problem_labels_json : str
        JSON list of the sweep's ``problem`` dim values
        (:attr:`mfsim.config.model.GridSpec.problem_labels`) when it runs problems besides
        factorization; empty otherwise (and then absent from the plan file, which stays as
        it was before the problem axis).
    """

    sweep: str
    chunk: Chunk
    family: str
    family_params_json: str
    simulate_json: str
    k_max: int
    identity_hash: str
    cluster_json: str
    problem_labels_json: str = ""

    @property
    def problem_labels(self) -> list[str] | None:
        """The sweep's ``problem`` dim values, or None for a factorization-only sweep."""
        return json.loads(self.problem_labels_json) if self.problem_labels_json else None

    @property
    def chunk_id(self) -> str:
        return self.chunk.chunk_id

    def family_params(self) -> dict:
        """Keyword parameters of :func:`mfsim.spectrum` (eigenvalues as float64 arrays)."""
        params = json.loads(self.family_params_json)
        if "eigenvalues" in params:
            params["eigenvalues"] = np.asarray(params["eigenvalues"], dtype=np.float64)
        return params

    def simulate_kwargs(self) -> dict:
        """Keyword arguments of :func:`mfsim.simulate` (recorded steps as int64 array)."""
        kwargs = json.loads(self.simulate_json)
        kwargs["record"] = np.asarray(kwargs["record"], dtype=np.int64)
        kwargs["epsilons"] = tuple(kwargs["epsilons"])
        kwargs["heatmap_steps"] = tuple(kwargs["heatmap_steps"])
        return kwargs

    def cluster(self) -> dict:
        """The ``dask`` section."""
        return json.loads(self.cluster_json)

    def to_json(self) -> str:
        """Canonical JSON (floats written exactly)."""
        batches = [
            {"point": batch.point.as_dict(), "seeds": list(batch.seeds), "cost": batch.cost}
            for batch in self.chunk.batches
        ]
        problems = {"problems": self.problem_labels} if self.problem_labels_json else {}
        return json.dumps(
            {
                **problems,
                "format": PLAN_FORMAT,
                "sweep": self.sweep,
                "chunk_id": self.chunk.chunk_id,
                "cost": self.chunk.cost,
                "batches": batches,
                "family": self.family,
                "family_params": json.loads(self.family_params_json),
                "simulate": json.loads(self.simulate_json),
                "k_max": self.k_max,
                "identity_hash": self.identity_hash,
                "cluster": json.loads(self.cluster_json),
            },
            sort_keys=True,
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ChunkPlan:
        data = json.loads(text)
        batches = tuple(
            Batch(point=GridPoint(**item["point"]), seeds=tuple(item["seeds"]), cost=item["cost"])
            for item in data["batches"]
        )
        chunk = Chunk(chunk_id=data["chunk_id"], batches=batches, cost=data["cost"])
        return cls(
            sweep=data["sweep"],
            chunk=chunk,
            family=data["family"],
            family_params_json=json.dumps(data["family_params"]),
            simulate_json=json.dumps(data["simulate"]),
            k_max=int(data["k_max"]),
            identity_hash=data["identity_hash"],
            cluster_json=json.dumps(data["cluster"]),
            problem_labels_json=json.dumps(data["problems"]) if "problems" in data else "",
        )


@dataclass(frozen=True)
class SweepPlan:
    """A parsed config and its chunks, each computed once."""

    config: SweepConfig
    chunks: tuple[Chunk, ...]
    identity_hash: str
    #: The effective chunk target (estimated engine seconds) the chunks were packed at: the
    #: job budget's rung ``chunking.target_seconds * 2^k`` (:mod:`mfsim.plan.budget`).
    target_seconds: float = float("nan")

    @property
    def by_id(self) -> dict[str, Chunk]:
        return {chunk.chunk_id: chunk for chunk in self.chunks}

    def chunk_plan(self, chunk: Chunk | str) -> ChunkPlan:
        """The plan of one chunk (by object or id)."""
        if isinstance(chunk, str):
            chunk = self.by_id[chunk]
        params = self.config.spectrum.family_params()
        if "eigenvalues" in params:
            params["eigenvalues"] = [float(v) for v in params["eigenvalues"]]
        kwargs = self.config.run.simulate_kwargs()
        kwargs["record"] = [int(s) for s in kwargs["record"]]
        kwargs["epsilons"] = list(kwargs["epsilons"])
        kwargs["heatmap_steps"] = list(kwargs["heatmap_steps"])
        return ChunkPlan(
            sweep=self.config.sweep,
            chunk=chunk,
            family=self.config.spectrum.family,
            family_params_json=json.dumps(params),
            simulate_json=json.dumps(kwargs),
            k_max=self.config.grid.k_max,
            identity_hash=self.identity_hash,
            cluster_json=self.config.cluster.section_json,
            problem_labels_json=(
                json.dumps(self.config.grid.problem_labels) if self.config.grid.has_problems else ""
            ),
        )


def make_plan(config: SweepConfig | dict) -> SweepPlan:
    """The chunks of a parsed config (:func:`mfsim.plan.grid.make_chunks`) and its identity.

    Raises
    ------
    ValueError
        The job budget ``chunking.max_jobs`` cannot be met (:func:`mfsim.plan.grid.plan_chunks`).
    """
    config = as_sweep_config(config)
    chunks, target = plan_chunks(config)
    return SweepPlan(
        config=config,
        chunks=tuple(chunks),
        identity_hash=identity_hash(config),
        target_seconds=target,
    )


def chunk_plan_path(sweep_dir: str | os.PathLike, chunk_id: str) -> Path:
    """``<sweep_dir>/plan/<chunk_id>.json``."""
    return Path(sweep_dir) / "plan" / f"{chunk_id}.json"


def write_chunk_plans(plan: SweepPlan, sweep_dir: str | os.PathLike) -> list[Path]:
    """Write the plan file of every chunk; files whose content is unchanged are not touched."""
    paths = []
    for chunk in plan.chunks:
        path = chunk_plan_path(sweep_dir, chunk.chunk_id)
        text = plan.chunk_plan(chunk).to_json() + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        paths.append(path)
    # which plan files are current (older configs' files stay, for reuse)
    write_plan_index([chunk.chunk_id for chunk in plan.chunks], sweep_dir)
    return paths


def read_chunk_plan(path: str | os.PathLike) -> ChunkPlan:
    """The plan of one chunk from its file."""
    return ChunkPlan.from_json(Path(path).read_text(encoding="utf-8"))
