"""Calibration settings the CLI shows as option defaults (kept apart from fit.py, which imports numpy)."""

DEFAULT_PRIOR_WEIGHT = 0.1  # pull of each fitted factor toward the base profile's value (see docs/calibration.md)
CPU_PRIOR_WEIGHT = 0.3  # on a CPU profile's relative scales (docs/calibration.md, "Few-shot calibration")
