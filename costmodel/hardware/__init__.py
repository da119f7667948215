"""Hardware profiles for the roofline latency model (see :mod:`costmodel.hardware.profile`)."""

from costmodel.errors import HardwareError
from costmodel.hardware.profile import (
    DTYPES,
    UNITS,
    Caches,
    Efficiency,
    HardwareProfile,
    Memory,
    OpEfficiency,
    Peak,
    efficiency_for,
    list_profiles,
    load_profile,
    load_profile_file,
    peak_tflops,
    profile_summary,
    ridge_point,
    search_dirs,
)

__all__ = [
    "DTYPES",
    "UNITS",
    "Caches",
    "Efficiency",
    "HardwareError",
    "HardwareProfile",
    "Memory",
    "OpEfficiency",
    "Peak",
    "efficiency_for",
    "list_profiles",
    "load_profile",
    "load_profile_file",
    "peak_tflops",
    "profile_summary",
    "ridge_point",
    "search_dirs",
]
