"""Benchmarks of Xiaoyou against bare references. ``python -m bench.webhook`` (``make bench-webhook``) is the entry.

Nothing in the application imports this package; it imports the application (to build, migrate and serve it) and
never changes it. Results are recorded in ``bench/RESULTS.md``.
"""
