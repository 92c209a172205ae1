"""What a worker process holds: its settings, a session factory, Redis, the loaded models.

`configure` is called once at start (by __main__, or by the tests with their settings);
`load_models` loads the artifacts once, before any work.
"""
from pathlib import Path

from models.scoring import Model, load_model
from moderation.callbacks import init_worker
from moderation.db import connect
from moderation.jobs import CheckQueues, connect_redis
from moderation.privacy import Vault
from moderation.settings import Settings

_state: dict = {}


def configure(settings: Settings, models: dict[str, Model] | None = None) -> None:
    redis = connect_redis(settings.redis_url)
    sessions = connect(settings.database_url)
    _state.clear()
    _state.update(
        settings=settings,
        sessions=sessions,
        redis=redis,
        checks=CheckQueues(redis, settings),
        callbacks=init_worker(sessions, settings, redis),  # decisions' callbacks are enqueued after commit
        vault=Vault(settings.email_keys, settings.fingerprint_key),
        models=dict(models or {}),
    )


def current(name: str):
    if not _state:
        configure(Settings.from_env())
    return _state[name]


def model(check: str) -> Model:
    """A check's model, loaded once from MODERATION_MODELS_DIR (default models/artifacts)."""
    models = current("models")
    if check not in models:
        directory = current("settings").models_dir
        models[check] = load_model(check, Path(directory) if directory else None)
    return models[check]
