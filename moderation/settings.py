"""One settings reader: a frozen dataclass built from MODERATION_* environment variables.

The web process and the workers read the same settings. Secrets have no default: a missing
one fails fast. Only the run command (``moderation.devstack``) writes development secrets,
into ``instance/dev.env``, clearly labelled as such.
"""
import os
from dataclasses import dataclass, fields

SECRETS = ("secret_key", "email_keys", "fingerprint_key")


class MissingSetting(RuntimeError):
    """A required MODERATION_* variable is not set."""


@dataclass(frozen=True)
class Settings:
    secret_key: str
    email_keys: tuple[str, ...]  # Fernet keys, newest first: the first encrypts, all decrypt
    fingerprint_key: str  # keyed HMAC for email and IP fingerprints
    database_url: str = "sqlite:///instance/saring.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    env: str = "production"
    sweep_after: float = 5.0  # seconds a pending comment waits before the sweeper re-enqueues it
    sweep_interval: float = 5.0
    check_timeout: int = 30  # seconds one check may run before RQ kills it
    check_retries: tuple[int, ...] = (1, 5, 15)  # RQ retry intervals; their count is the retry count
    site_cache_seconds: float = 10.0  # how long a web process trusts a looked-up API key
    max_body_bytes: int = 1024 * 1024
    user_agent_days: int = 30  # user agents are purged from comments older than this
    rejected_spam_days: int = 30  # comments rejected as spam are deleted after this
    callback_timeout: float = 10.0  # seconds a site's callback receiver may take
    callback_retries: tuple[int, ...] = (10, 60, 300, 1800, 7200)  # backoff between delivery attempts
    models_dir: str = ""  # the workers' model artifacts; empty: the committed models/artifacts
    log_level: str = "INFO"
    worker_heartbeat: float = 10.0  # seconds between an idle worker's heartbeats; two missed: dead
    stuck_after: float = 60.0  # a comment pending longer than this is listed as stuck on the ops page
    metrics_token: str = ""  # when set, /metrics asks for "Authorization: Bearer <token>"
    proxy_hops: int = 0  # trusted reverse proxies in front (nginx: 1), whose X-Forwarded-For/-Proto are believed

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        """Read MODERATION_<FIELD> for every field; fail on a missing secret."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f"MODERATION_{f.name.upper()}")
            if raw is None or not raw.strip():  # set but empty: as if unset (a default, or a missing secret)
                continue
            values[f.name] = _parse(f.type, raw)
        missing = [name for name in SECRETS if not values.get(name)]
        if missing:
            names = ", ".join(f"MODERATION_{name.upper()}" for name in missing)
            raise MissingSetting(f"set {names} (see README: Configuration)")
        return cls(**values)


def _parse(kind, raw: str):
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if kind == tuple[int, ...]:
        return tuple(int(part) for part in raw.split(",") if part.strip())
    return kind(raw)
