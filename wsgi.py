"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``. The only module that builds the app at import time.

gunicorn imports it in each worker, so each worker also loads the help desk's matcher here (jieba's dictionary and
the knowledge base: a second or two), before it takes its first push.
"""

from app import create_app, warm_up

app = create_app()
warm_up(app)
