"""Saring: a comment-moderation service for news sites."""
from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from .settings import Settings

csrf = CSRFProtect()


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    if settings.proxy_hops:  # behind nginx: the reader's address, for flood limits and login throttling
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env not in ("development", "test"),
        PERMANENT_SESSION_LIFETIME=12 * 3600,  # a moderator's shift
        WTF_CSRF_TIME_LIMIT=12 * 3600,  # a form's token lasts as long as the session
    )

    from . import (
        api, authors_api, callbacks, callbacks_api, cli, db, errors, health, jobs, logs, metrics, moderator_api,
        openapi, ops, pages, perspective, privacy, widget, workspace,
    )
    from .articles import ArticleIdConverter

    app.url_map.converters["article"] = ArticleIdConverter  # before the blueprints' rules use it

    logs.init_app(app)
    db.init_app(app)
    privacy.init_app(app)
    jobs.init_app(app)
    callbacks.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    cli.init_app(app)
    metrics.init_app(app)

    for blueprint in (api.bp, authors_api.bp, callbacks_api.bp, moderator_api.bp, perspective.bp, widget.bp):
        csrf.exempt(blueprint)  # keys and tokens, not cookies, authenticate the APIs and the widget
        app.register_blueprint(blueprint)
    for blueprint in (health.bp, metrics.bp, openapi.bp, ops.bp, pages.bp, workspace.bp):
        app.register_blueprint(blueprint)
    return app
