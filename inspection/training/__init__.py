"""Training recipe of the bundled defect model (needs the `train` extra: torch on CPU)."""
