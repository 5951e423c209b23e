"""The mini-program's HTTP API (``/api/v1``). Its endpoints arrive with the alumni-card issue."""
