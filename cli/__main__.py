"""``python -m cli``: the command-line entry point."""

from cli.commands import main

main()
