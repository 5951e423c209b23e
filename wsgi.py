"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``. The only module that builds the app at import time.

``cli/runner.py`` (and the benchmark) start gunicorn with ``--preload``: this module then runs once, in the master,
and the workers fork from it. They share the master's imports and the help desk's matcher (jieba's dictionary and
the knowledge base, 80 MB or more, loaded here once instead of once per worker) copy-on-write, and take their first
push without loading anything. Nothing the master opened may be inherited: its database connections are closed
here (each worker opens its own on its first push; the SQLite writer lock file is per process already), and so are
its Redis connections (redis-py also resets a pool it finds in a forked child). ``gc.freeze()`` keeps the shared
objects out of the workers' garbage collections, which would otherwise write to (and so copy) their pages, and
glibc's ``malloc_trim`` gives back the heap that loading the dictionary used and freed (about 15 MB), so the workers
do not inherit it. Without ``--preload`` each worker runs this module itself, as before.
"""

import contextlib
import ctypes
import gc

from app import create_app, warm_up
from core.app import EXTENSION

app = create_app()
warm_up(app)
app.extensions[EXTENSION].db.engine.dispose()
app.extensions[EXTENSION].redis.connection_pool.disconnect()
gc.collect()
with contextlib.suppress(OSError, AttributeError):  # glibc only; elsewhere the freed heap just stays
    ctypes.CDLL("libc.so.6").malloc_trim(0)
gc.freeze()
