# Analysis of the sweep store: scaling fits and Theorem 6 audit (in parallel), then the figures
# and the HTML report, drawn in one job from the store read once.


rule fit_scaling:
    input:
        store=rules.assemble.output.store,
    output:
        fits=directory("results/{sweep}/scaling.zarr"),
        # the fits as one tidy table, with its data dictionary (mfsim.analysis.fit_table)
        table_csv="results/{sweep}/fit_table.csv",
        table_parquet="results/{sweep}/fit_table.parquet",
        table_columns="results/{sweep}/fit_table.columns.csv",
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
        store=rules.assemble.output.store,
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


rule report:
    input:
        store=rules.assemble.output.store,
        fits=rules.fit_scaling.output.fits,
        audit=rules.audit.output.audit,
    output:
        figures=directory("results/{sweep}/figures"),
        report="results/{sweep}/report.html",
    log:
        "results/{sweep}/logs/report.log",
    benchmark:
        "results/{sweep}/benchmarks/report.tsv"
    conda:
        "../../environment.yml"
    # figure groups are drawn in parallel processes (mfsim.output.plots.plot_sweep)
    threads: 2
    params:
        # the `figures:` section: a change redraws the figures (Snakemake reruns on params)
        figures=lambda wildcards: config.get("figures", {}),
    script:
        "../scripts/report.py"
