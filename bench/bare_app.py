"""The baseline for bench/submit.py: a bare Flask app with one POST route, served by the
same gunicorn settings as the real one. It reads the body (as a real endpoint must) and
answers 202 with a small JSON, and does nothing else."""
from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/v1/comments")
    def accept():
        request.get_data()
        return jsonify(id="bare", status="pending"), 202

    return app
