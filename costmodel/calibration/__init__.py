"""Measured latency: measurement files, calibration of a profile's efficiency factors, fidelity metrics.

See docs/calibration.md.
"""
