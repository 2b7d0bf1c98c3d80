"""Snakemake script of rule `assemble`: combine the chunk stores into sweep.zarr."""

import logging
import time


def main(smk) -> None:
    from mfsim.sweep import assemble

    logging.basicConfig(
        filename=smk.log[0],
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    log = logging.getLogger("mfsim.assemble")
    started = time.perf_counter()
    try:
        assemble(list(smk.input.chunks), smk.config, smk.output.store)
    except Exception:
        log.exception("assemble failed")
        raise
    log.info(
        "assembled %d chunk stores into %s in %.2f s",
        len(smk.input.chunks),
        smk.output.store,
        time.perf_counter() - started,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - defined by Snakemake
