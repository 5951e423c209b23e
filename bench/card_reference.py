"""The reference for ``make bench-card``: the least a verification endpoint can do, with Flask only.

It parses the JSON body and answers ``{"result": "valid", ...}`` without checking anything: no signature, no
scanner credential, no database, no Redis, no scan log. Served by the same gunicorn configuration as the real app,
it measures the floor that the machine, gunicorn, Flask and the load generator set, so the real endpoint's numbers
can be read against it. Not an example to follow.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    app = Flask("bench_card_reference")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.post("/api/v1/card/verify")
    def verify() -> Response:
        body = request.get_json(silent=True) or {}
        return jsonify(result="valid" if body.get("token") else "forged", holder_name="校友", card_status="active")

    return app
