# Simulation: one job per chunk of batches, then one job assembling the sweep store.


rule simulate:
    params:
        plan=chunk_plan,
    output:
        store=directory("results/{sweep}/chunks/{chunk}.zarr"),
    log:
        "results/{sweep}/logs/simulate/{chunk}.log",
    benchmark:
        "results/{sweep}/benchmarks/simulate/{chunk}.tsv"
    conda:
        "../../environment.yml"
    threads: simulate_threads
    resources:
        mem_mb=simulate_mem_mb,
        runtime=simulate_runtime,
    script:
        "../scripts/simulate.py"


rule assemble:
    input:
        chunks=chunk_stores,
    output:
        store=directory("results/{sweep}/sweep.zarr"),
    log:
        "results/{sweep}/logs/assemble.log",
    benchmark:
        "results/{sweep}/benchmarks/assemble.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/assemble.py"
