"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``. The only module that builds the app at import time."""

from app import create_app

app = create_app()
