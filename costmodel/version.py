"""The package version: one place (pyproject reads it; `costmodel --version` prints it)."""

__version__ = "0.1.0"
