"""Saring: a comment-moderation service for news sites."""
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from .settings import Settings

csrf = CSRFProtect()


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )

    from . import api, cli, db, errors, jobs, openapi, pages, privacy

    db.init_app(app)
    privacy.init_app(app)
    jobs.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    cli.init_app(app)

    csrf.exempt(api.bp)  # site API keys, not cookies, authenticate the API
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    return app
