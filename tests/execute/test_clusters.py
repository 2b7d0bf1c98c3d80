"""mfsim.execute.clusters: local workers pinned to one thread, SLURM settings."""

from __future__ import annotations

import os

from mfsim.execute.clusters import slurm_cluster_kwargs


def test_local_workers_are_pinned_to_one_thread(local_client):
    from mfsim.execute.runner import pin_numba_threads

    def threads():
        import numba

        pin_numba_threads(None)
        return {
            "env": {
                name: os.environ.get(name)
                for name in (
                    "NUMBA_NUM_THREADS",
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                )
            },
            "numba": numba.get_num_threads(),
        }

    info = local_client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
    assert len(info) == 2 and set(info.values()) == {"1"}
    result = local_client.submit(threads, pure=False).result()
    assert result["numba"] == 1
    assert set(result["env"].values()) == {"1"}
    # scheduler on loopback only
    assert local_client.scheduler.address.startswith("tcp://127.0.0.1:")


def test_slurm_cluster_settings():
    dask_config = {
        "cluster": "slurm",
        "slurm": {
            "cores": 4,
            "memory": "8GB",
            "walltime": "01:00:00",
            "queue": "short",
            "account": "proj",
            "job_extra_directives": ["--exclusive"],
            "lifetime": "55m",
            "lifetime_stagger": "4m",
            "minimum_jobs": 0,
            "maximum_jobs": 3,
            "scheduler_host": "127.0.0.1",
        },
    }
    kwargs = slurm_cluster_kwargs(dask_config)
    assert kwargs["cores"] == 4 and kwargs["processes"] == 4 and kwargs["memory"] == "8GB"
    assert kwargs["scheduler_options"]["host"] == "127.0.0.1"
    assert kwargs["scheduler_options"]["dashboard_address"].startswith("127.0.0.1:")
    assert kwargs["worker_extra_args"] == [
        "--lifetime",
        "55m",
        "--lifetime-stagger",
        "4m",
        "--lifetime-restart",
    ]
    assert kwargs["job_extra_directives"] == ["--exclusive"]
    assert "export NUMBA_NUM_THREADS=1" in kwargs["job_script_prologue"]
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(**kwargs) as cluster:
        script = cluster.job_script()
    assert "#SBATCH -p short" in script and "#SBATCH -A proj" in script
    assert "--lifetime 55m" in script and "export NUMBA_NUM_THREADS=1" in script
