"""Snakemake script of rule `simulate`: run one chunk and write its store (mfsim.sweep)."""

import logging


def main(smk) -> None:
    # imports inside main: Dask's spawned worker processes re-import this module
    from mfsim.sweep import cluster_client, run_chunk

    logging.basicConfig(
        filename=smk.log[0],
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    log = logging.getLogger("mfsim.simulate")
    config, chunk_id, out = smk.config, smk.wildcards.chunk, smk.output.store
    threads = int(smk.threads)
    try:
        if config["dask"]["cluster"] == "local" and threads <= 1:
            log.info("chunk %s: in-process, 1 thread", chunk_id)
            run_chunk(chunk_id, config, out, client=None, log=log, threads=1)
        else:
            with cluster_client(config["dask"], threads) as client:
                log.info("chunk %s: Dask client %s", chunk_id, client)
                run_chunk(chunk_id, config, out, client=client, log=log)
    except Exception:
        log.exception("chunk %s failed", chunk_id)
        raise


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - defined by Snakemake
