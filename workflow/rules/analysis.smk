# Analysis of the sweep store: scaling fits, Theorem 6 audit, figures, HTML report.


rule fit_scaling:
    input:
        store="results/{sweep}/sweep.zarr",
    output:
        fits=directory("results/{sweep}/scaling.zarr"),
    log:
        "results/{sweep}/logs/fit_scaling.log",
    benchmark:
        "results/{sweep}/benchmarks/fit_scaling.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_scaling.py"


rule audit:
    input:
        store="results/{sweep}/sweep.zarr",
    output:
        audit=directory("results/{sweep}/audit.zarr"),
    log:
        "results/{sweep}/logs/audit.log",
    benchmark:
        "results/{sweep}/benchmarks/audit.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/audit.py"


rule figures:
    input:
        store="results/{sweep}/sweep.zarr",
        fits="results/{sweep}/scaling.zarr",
    output:
        figures=directory("results/{sweep}/figures"),
    log:
        "results/{sweep}/logs/figures.log",
    # figure groups are drawn in parallel processes (mfsim.output.plots.plot_sweep)
    threads: 2
    benchmark:
        "results/{sweep}/benchmarks/figures.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/figures.py"


rule report:
    input:
        store="results/{sweep}/sweep.zarr",
        fits="results/{sweep}/scaling.zarr",
        audit="results/{sweep}/audit.zarr",
        figures="results/{sweep}/figures",
    output:
        report="results/{sweep}/report.html",
    log:
        "results/{sweep}/logs/report.log",
    benchmark:
        "results/{sweep}/benchmarks/report.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/report.py"
