"""Operator commands (``python -m cli …``): configuration, migrations, the development runner and the chat client.

Edges only: each command parses its arguments, calls a service or a runner, and prints. No business rule lives here.
"""
