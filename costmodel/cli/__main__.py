"""``python -m costmodel.cli``."""

from . import main

main()
