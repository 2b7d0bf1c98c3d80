# Analysis of the sweep store; all_targets() lists what the default rule `all` (in the
# Snakefile) requires.


def all_targets():
    """Final outputs of the workflow: the sweep store, then the analysis outputs."""
    return [
        sweep_store(),
        # ---- ANALYSIS OUTPUTS: the lead adds the fits/figures/report paths here ----------
    ]

# ---- ANALYSIS RULES: added here by the lead (read sweep_store(); write results/{sweep}/...) --
