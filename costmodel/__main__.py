"""``python -m costmodel``: the command line."""

from .cli import main

main()
