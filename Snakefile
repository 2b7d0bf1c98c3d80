# mfsim sweep pipeline: config -> chunks (one job each) -> sweep.zarr -> analysis.
#
#   snakemake --cores 2                                # config/config.yaml, results/<sweep>/
#   snakemake --cores 2 --configfile config/figure1.yaml
#
# The config is validated (JSON schema + semantic checks + size limits) before any job runs.
from snakemake.utils import min_version

min_version("8.0")


# The default sweep, unless --configfile names another: a named sweep replaces it whole
# (merging the two would mix their grids).
if not config:

    configfile: "config/config.yaml"


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
