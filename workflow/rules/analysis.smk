# Analysis of the sweep store: scaling fits, Theorem 6 audit, figures, HTML report.
# all_targets() lists what the default rule `all` (in the Snakefile) requires.


def all_targets():
    """Final outputs of the workflow: the sweep store and the analysis outputs."""
    return [
        sweep_store(),
        f"{sweep_dir()}/scaling.nc",
        f"{sweep_dir()}/audit.nc",
        f"{sweep_dir()}/report.html",
    ]


rule fit_scaling:
    input:
        store="results/{sweep}/sweep.zarr",
    output:
        fits="results/{sweep}/scaling.nc",
    log:
        "results/{sweep}/logs/fit_scaling.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/fit_scaling.py"


rule audit:
    input:
        store="results/{sweep}/sweep.zarr",
    output:
        audit="results/{sweep}/audit.nc",
    log:
        "results/{sweep}/logs/audit.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/audit.py"


rule figures:
    input:
        store="results/{sweep}/sweep.zarr",
        fits="results/{sweep}/scaling.nc",
    output:
        figures=directory("results/{sweep}/figures"),
    log:
        "results/{sweep}/logs/figures.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/figures.py"


rule report:
    input:
        store="results/{sweep}/sweep.zarr",
        fits="results/{sweep}/scaling.nc",
        audit="results/{sweep}/audit.nc",
        figures="results/{sweep}/figures",
    output:
        report="results/{sweep}/report.html",
    log:
        "results/{sweep}/logs/report.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/report.py"
