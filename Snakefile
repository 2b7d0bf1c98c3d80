# mfsim sweep pipeline: config -> chunks (one job each) -> sweep.zarr -> analysis.
#
#   snakemake --cores 2                                # config/config.yaml, results/<sweep>/
#   snakemake --cores 2 --configfile config/figure1.yaml
#
# The config is validated (JSON schema + semantic checks + size limits) before any job runs.
import sys

from snakemake.utils import min_version

min_version("9.27")  # the version pyproject.toml declares


# A profile's job budget (profiles/slurm: `config: ["job_budget={...}"]`) is not part of the
# sweep config: it is the default of the chunking keys the sweep config leaves unset
# (mfsim.plan.budget, applied in workflow/rules/common.smk).
JOB_BUDGET = config.pop("job_budget", None)

# The default sweep, unless --configfile names another: a named sweep replaces it whole
# (merging the two would mix their grids). Without --configfile, each --config section replaces
# the default's section whole and a changed grid needs its own sweep name
# (mfsim.config.overrides; README "The sweep pipeline").
if not workflow.overwrite_configfiles:
    import sys

    from mfsim.config.errors import ConfigError
    from mfsim.config.overrides import apply_command_line_config
    from mfsim.config.validate import read_config_file

    try:
        _raw = apply_command_line_config(read_config_file("config/config.yaml"), config)
    except ConfigError as error:
        sys.stderr.write(f"mfsim: invalid config: {error}\n")
        sys.exit(1)
    config.clear()
    config.update(_raw)


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/analysis.smk"


# The default target. Snakemake only honours a default target defined in the main Snakefile
# (rules of included files never become the default), so `all` lives here and its inputs come
# from all_targets() in workflow/rules/common.smk.
rule all:
    default_target: True
    input:
        all_targets(),


# Before the first job (never in a dry run): the plan file of each chunk, read by its job.
onstart:
    write_plans()


# After success: where the results are.
onsuccess:
    report_outputs()


# After a failure or Ctrl-C: whether the same command resumes, or what to fix first (printed
# once, last; mfsim.execute.failures).
onerror:
    sys.stderr.write(stopped_line() + "\n")
