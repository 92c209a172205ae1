"""Saring's processes, run for real by tests: each service's command from docker-compose.yml
(gunicorn, `python -m workers ...`, `flask --app moderation ...`) as a process of its own
against a private PostgreSQL database and the tests' redis-server, and the few HTTP and SQL
reads that tests make of them. Used by test_compose, test_production, test_faults and
test_outages.

    with private_postgres("saring_x") as url, Processes(tmp_path) as processes:
        env = compose_env(MODERATION_DATABASE_URL=url, MODERATION_REDIS_URL=redis_server.url)
        key = create_site(processes, env)               # migrate, then `flask create-site`
        base = start_web(processes, env, tmp_path)      # gunicorn, 2 workers, a free port
        for name in ("spam", "toxicity", "callbacks", "scheduler"):
            processes.start(name, service_argv(name), env)
        processes.wait_until_ready(base, timeout=120)   # /readyz: 200
        status, answer = submit(base, key, 1, "Semoga dialog membawa damai.")
        wait_for(lambda: tally(url, [answer["id"]]).decided == 1, 30, "not decided")
        processes.kill("spam")                          # SIGKILL, the whole process group

Every process still running when the `with` block ends is killed (its whole group), and the
database is dropped.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import NamedTuple

import yaml
from cryptography.fernet import Fernet
from sqlalchemy import bindparam, create_engine, text

from conftest import free_port, private_postgres  # noqa: F401 (private_postgres: re-exported for the process tests)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
EXAMPLES = {"deploy/production.env": ROOT / "deploy/production.env.example",
            "deploy/postgres.env": ROOT / "deploy/postgres.env.example"}
SITE = "poros-warta"
ARTICLE = {"article_id": "dialog-rusia-as", "article_title": "Rusia dan Amerika Serikat: Upaya Memulihkan Dialog",
           "article_url": "https://poroswarta.example/dialog-rusia-as"}
BENIGN = [  # comments every check approves, Indonesian and English
    "Semoga dialog kedua negara membawa perdamaian yang nyata.",
    "Terima kasih atas liputannya, sangat membantu memahami konteks.",
    "Artikel yang bagus. Apakah ada data pembanding dari tahun lalu?",
    "Thanks for the balanced reporting, both sides are quoted.",
    "Could you link the original report? I would like the full numbers.",
    "Harga beras di pasar dekat rumah naik lagi minggu ini.",
]


# -- commands and their environment -----------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines, as compose reads an env_file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def host_argv(command: list[str]) -> list[str]:
    """A compose command as this machine runs it: the venv's python, gunicorn and flask."""
    tools = {"python": sys.executable, "gunicorn": str(Path(sys.executable).with_name("gunicorn")),
             "flask": str(Path(sys.executable).with_name("flask"))}
    return [tools.get(command[0], command[0]), *command[1:]]


def service_argv(name: str) -> list[str]:
    """The compose service's command (web, migrate, spam, toxicity, callbacks, scheduler)."""
    return host_argv(SERVICES[name]["command"])


def flask_argv(*arguments: str) -> list[str]:
    """`flask --app moderation <arguments>`."""
    return [*service_argv("migrate")[:3], *arguments]


def compose_env(**overrides) -> dict[str, str]:
    """This machine's environment without MODERATION_* variables, plus the production
    example's variables filled in with fresh test secrets, plus `overrides`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MODERATION_")}
    filled = {
        "MODERATION_SECRET_KEY": uuid.uuid4().hex,
        "MODERATION_EMAIL_KEYS": Fernet.generate_key().decode(),
        "MODERATION_FINGERPRINT_KEY": uuid.uuid4().hex,
        "MODERATION_DATABASE_URL": "postgresql+psycopg://saring@127.0.0.1:1/unused",
    }
    for name in read_env_file(EXAMPLES["deploy/production.env"]):
        env[name] = filled[name]
    return {**env, "PYTHONPATH": str(ROOT), **overrides}


def service_env(name: str, env: dict, tmp_path: Path) -> dict[str, str]:
    """`env` plus the service's own `environment`, with compose's host names and container
    paths pointed at this machine's."""
    own = dict(SERVICES[name].get("environment") or {})
    own.pop("MODERATION_REDIS_URL", None)  # redis://redis:6379/0: here, the tests' redis-server
    if "PROMETHEUS_MULTIPROC_DIR" in own:
        own["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / f"{name}-metrics")
    return {**env, **{key: str(value) for key, value in own.items()}}


# -- databases and processes -----------------------------------------------------------------


class Processes:
    """Real processes, each in its own process group with its output in <dir>/<name>.log
    (appended to when a name is started again); leaving the `with` block kills every group
    still running."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.running: dict[str, subprocess.Popen] = {}
        self.retired: list[subprocess.Popen] = []  # earlier processes of a name started again

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *_exc) -> None:
        for process in [*self.retired, *self.running.values()]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # also what a dead leader left (an RQ scheduler)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        if name in self.running:
            self.retired.append(self.running[name])
        with open(self.directory / f"{name}.log", "ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.running[name] = process
        return process

    def run(self, name: str, argv: list[str], env: dict, timeout: float = 120) -> subprocess.Popen:
        """Start and wait for the exit (check `.returncode`)."""
        process = self.start(name, argv, env)
        process.wait(timeout)
        return process

    def names(self) -> list[str]:
        """The names whose process is still running, in start order."""
        return [name for name, process in self.running.items() if process.poll() is None]

    def stop(self, name: str, timeout: float = 30) -> int:
        """SIGTERM, as `docker compose stop` sends; the exit status."""
        process = self.running[name]
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (its group), as `docker kill` kills a
        container: an RQ worker's scheduler process too, gunicorn's workers too."""
        process = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.directory / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def logs(self) -> str:
        """The tail of every process's log, for an assertion message."""
        return "\n".join(f"--- {name}\n{self.tail(name)}" for name in self.running)

    def check_alive(self) -> None:
        """Fail with its log if a process exited that was not stopped or killed by the test."""
        for name, process in self.running.items():
            if process.returncode is None and process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def wait_until_ready(self, base: str, timeout: float) -> dict:
        """/readyz's JSON once it answers 200; fails with the last answer and the logs."""
        deadline, answer = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                status, body = fetch(base + "/readyz")
                answer = json.loads(body)
                if status == 200:
                    return answer
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"/readyz never answered 200; last: {answer}\n{self.logs()}")


def create_site(processes: Processes, env: dict, slug: str = SITE) -> str:
    """Run the migration and `flask create-site <slug>`; the site's API key."""
    assert processes.run("migrate", service_argv("migrate"), env).returncode == 0, processes.tail("migrate")
    assert processes.run("site", flask_argv("create-site", slug), env).returncode == 0, processes.tail("site")
    return processes.tail("site").splitlines()[-1].strip()


def start_web(processes: Processes, env: dict, tmp_path: Path, workers: int = 2, port: int | None = None,
              name: str = "web") -> str:
    """gunicorn as compose runs it (deploy/gunicorn.conf.py) with `workers` workers on
    `port` (a free one by default); its base URL. Start it again on the same port to restart."""
    port = port or free_port()
    processes.start(name, service_argv("web"), {**service_env("web", env, tmp_path),
                                                "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers {workers}"})
    return f"http://127.0.0.1:{port}"


# -- reading what the processes do -----------------------------------------------------------


def fetch(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """GET: the status and body, also of an error answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call(base: str, method: str, path: str, key: str, body: dict | None = None,
         timeout: float = 10, headers: dict | None = None) -> tuple[int, dict]:
    """A JSON API call with a bearer key: the status and the decoded JSON answer. Raises
    OSError when nothing answers (refused, reset, timed out)."""
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def submit(base: str, key: str, number: int, content: str, **fields) -> tuple[int, dict]:
    """POST a comment by reader `number` (its own name, email and IP) to the test article."""
    return call(base, "POST", "/api/v1/comments", key, {
        **ARTICLE, "author_name": f"Pembaca {number}", "author_email": f"pembaca{number}@example.co.id",
        "content": content, "user_ip": f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}", **fields})


def wait_for(condition, timeout: float, message):
    """`condition()`'s first truthy value, polled every 0.2 s; AssertionError(message) after
    `timeout` seconds (`message` may be a function, called then, to tell the state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(message() if callable(message) else message)


class Tally(NamedTuple):
    """What a fault test asserts: accepted == decided and duplicates == 0."""
    accepted: int  # the comments given (those that got a 202)
    stored: int  # of them, rows in the database
    decided: int  # of them, not pending
    duplicates: int  # of them, comments moved out of `pending` more than once (audit events)


def tally(database_url: str, ids: list[str]) -> Tally:
    """Count, in the database (PostgreSQL or SQLite), what became of the comments with these
    public ids."""
    ids = list(ids)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored, decided = connection.execute(text(
                "select count(*), coalesce(sum(case when status != 'pending' then 1 else 0 end), 0) from comments "
                "where public_id in :ids").bindparams(bindparam("ids", expanding=True)), {"ids": ids}).one()
            duplicates = connection.scalar(text(
                "select count(*) from (select e.comment_id from audit_events e join comments c on c.id = e.comment_id "
                "where e.action = 'transition' and e.from_status = 'pending' and c.public_id in :ids "
                "group by e.comment_id having count(*) > 1) as twice").bindparams(bindparam("ids", expanding=True)),
                {"ids": ids})
    finally:
        engine.dispose()
    return Tally(len(ids), stored, decided, duplicates)


# -- nginx as docker-compose.yml runs it -----------------------------------------------------

NGINX_MAIN = """worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
daemon off;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""


def render_nginx(directory: Path, upstream: str, port: int) -> Path:
    """deploy/nginx.conf inside a minimal main config, `web:8000` and `listen 80` pointed here."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # nginx's workers (nobody) keep request bodies here
    site = (ROOT / "deploy/nginx.conf").read_text()
    assert "server web:8000;" in site and "listen 80;" in site
    site = site.replace("server web:8000;", f"server {upstream};").replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("/var/log/nginx/access.log", str(directory / "nginx-access.log"))
    (directory / "site.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text(NGINX_MAIN.format(dir=directory))
    return main
