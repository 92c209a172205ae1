"""Oversized bodies, slow clients and many small requests, against real servers over raw
sockets: gunicorn as production runs it (deploy/gunicorn.conf.py, two sync workers) on a
private SQLite database and the tests' Redis, and nginx in front of it (deploy/nginx.conf),
the way clients reach it in production. Each test takes a second or two.

- A body over the limit (MODERATION_MAX_BODY_BYTES, 1 MiB) is refused with 413 in the API's
  JSON error shape before it is read in full: a client declaring a gigabyte gets the answer
  after sending a kilobyte; a chunked body (no Content-Length) gets it once past the limit,
  long before its end.
- Slow clients (each trickling its body) and a crowd of small requests do not stop a fast
  client from being served meanwhile (nginx holds the slow ones; a sync worker would not)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from conftest import free_port, skip_or_fail
from stack import render_nginx
from moderation import create_app
from moderation.db import transaction
from moderation.migrate import upgrade_database
from moderation.settings import Settings
from moderation.sites import create_site

ROOT = Path(__file__).resolve().parent.parent
LIMIT = Settings.max_body_bytes  # the default: 1 MiB
CHUNK = 64 * 1024
PROMPT = 2.0  # seconds: what "promptly" means here (each answer below takes milliseconds)
def wait_until_up(process: subprocess.Popen, port: int, name: str) -> None:
    """Until /healthz answers (gunicorn listens before its workers are ready to serve)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer on {port} within 30 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def web(redis_server, tmp_path_factory):
    """gunicorn with deploy/gunicorn.conf.py and two sync workers; its port and a site key."""
    directory = tmp_path_factory.mktemp("bodies")
    database_url = f"sqlite:///{directory / 'saring.db'}"
    upgrade_database(database_url)
    env = {"MODERATION_SECRET_KEY": "bodies-secret", "MODERATION_EMAIL_KEYS": Fernet.generate_key().decode(),
           "MODERATION_FINGERPRINT_KEY": "bodies-fingerprint", "MODERATION_DATABASE_URL": database_url,
           "MODERATION_REDIS_URL": redis_server.url, "MODERATION_ENV": "production"}
    with transaction(create_app(Settings.from_env(env)).extensions["sessions"]) as session:
        _, key = create_site(session, "poros-warta", "Poros Warta")
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with open(directory / "gunicorn.log", "w") as log:
        process = subprocess.Popen([gunicorn, "-c", str(ROOT / "deploy/gunicorn.conf.py"), "--bind",
                                    f"127.0.0.1:{port}", "--workers", "2"], cwd=ROOT, env={**os.environ, **env},
                                   stdout=log, stderr=log)
    try:
        wait_until_up(process, port, "gunicorn")
        yield {"port": port, "key": key}
    finally:
        stop(process)


@pytest.fixture(scope="module")
def proxy(web):
    """nginx with deploy/nginx.conf in front of `web`, as docker-compose.yml runs it; its port."""
    if not shutil.which("nginx"):
        skip_or_fail("nginx is not installed (apt-get install -y nginx)")
    directory = Path(tempfile.mkdtemp(prefix="saring-nginx-"))
    port = free_port()
    render_nginx(directory, f"127.0.0.1:{web['port']}", port)
    process = subprocess.Popen(["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(process, port, "nginx")
        yield port
    finally:
        stop(process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["gunicorn", "nginx"])
def server(request, web):
    """Each test against gunicorn alone and against nginx in front of it."""
    port = web["port"] if request.param == "gunicorn" else request.getfixturevalue("proxy")
    return {"port": port, "key": web["key"]}


def request_head(key: str, framing: str, path: str = "/api/v1/comments") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n").encode()


def read_response(sock: socket.socket, timeout: float = PROMPT) -> tuple[int, dict, bytes]:
    """One HTTP response off the socket: status, headers (lower-case names), body."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip()) for name, _, value in (line.partition(":")
                                                                                for line in lines[1:]))
    while len(body) < int(headers.get("content-length", 0)):
        body += receive(sock)
    return int(lines[0].split()[1]), headers, body


def receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed before a whole response")
    return chunk


def assert_json_413(status: int, headers: dict, body: bytes) -> None:
    assert status == 413, body[:300]
    assert headers["content-type"].startswith("application/json"), (headers, body[:300])
    answer = json.loads(body)
    assert set(answer) == {"error", "message", "fields"} and answer["error"] == "request_entity_too_large"


def comment(number: int) -> dict:
    return {"article_id": "bodies", "author_name": f"Pembaca {number}",
            "author_email": f"pembaca{number}-{time.monotonic_ns()}@example.co.id",
            "content": f"Komentar nomor {number}: semoga dialog membawa perdamaian ({time.monotonic_ns()})."}


def post_comment(port: int, key: str, number: int, timeout: float = PROMPT) -> tuple[int, float]:
    """A fast client's submission: its status and how long it took."""
    started = time.monotonic()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/comments", json.dumps(comment(number)).encode(),
                                     {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started


def test_a_huge_declared_body_is_refused_after_a_kilobyte(server):
    """The client declares a gigabyte and sends a kilobyte: the 413 comes at once."""
    with socket.create_connection(("127.0.0.1", server["port"])) as sock:
        started = time.monotonic()
        sock.sendall(request_head(server["key"], "Content-Length: 1073741824\r\n") + b'{"content": "' + b"x" * 1024)
        assert_json_413(*read_response(sock))
        assert time.monotonic() - started < PROMPT


def test_a_chunked_body_past_the_limit_is_refused_long_before_its_end(server):
    """No Content-Length: the server learns the size as it reads. The client sends the first
    1 MiB and 64 KiB of a 3 MiB body (a valid comment, then blanks) and waits, the rest and
    the last chunk never sent. The app used to cut such a body at 1 MiB, parse what it had
    and store the comment (202)."""
    body = json.dumps(comment(0)).encode() + b" " * (3 * LIMIT)
    with socket.create_connection(("127.0.0.1", server["port"])) as sock:
        sock.sendall(request_head(server["key"], "Transfer-Encoding: chunked\r\n"))
        started = time.monotonic()
        for start in range(0, LIMIT + CHUNK, CHUNK):
            sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, body[start:start + CHUNK]))
        assert_json_413(*read_response(sock))
        assert time.monotonic() - started < PROMPT


def test_a_chunked_body_up_to_the_limit_is_accepted(server):
    """The limit itself is allowed: a comment padded to exactly 1 MiB, chunked, is stored."""
    body = json.dumps(comment(1)).encode()
    body += b" " * (LIMIT - len(body))
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + CHUNK]), body[i:i + CHUNK]) for i in range(0, LIMIT, CHUNK))
    with socket.create_connection(("127.0.0.1", server["port"])) as sock:
        sock.sendall(request_head(server["key"], "Transfer-Encoding: chunked\r\n") + chunks + b"0\r\n\r\n")
        status, _, answer = read_response(sock, timeout=10)
    assert status == 202, answer[:300]


class SlowClient(threading.Thread):
    """A connection that sends its headers, then one byte of its body every `pause` seconds
    until stopped (a phone on a bad network, or a slowloris)."""

    def __init__(self, port: int, key: str, pause: float = 0.1):
        super().__init__(daemon=True)
        self.port, self.key, self.pause = port, key, pause
        self.stopped, self.sent = threading.Event(), 0

    def run(self):
        body = json.dumps(comment(99)).encode()
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(request_head(self.key, f"Content-Length: {len(body)}\r\n"))
            while not self.stopped.wait(self.pause) and self.sent < len(body) - 1:
                sock.sendall(body[self.sent:self.sent + 1])
                self.sent += 1


def test_slow_clients_do_not_stop_a_fast_one(web, proxy):
    """Eight clients trickle their bodies (four per gunicorn worker) while a fast client
    posts comments through nginx: each is stored at once."""
    slow = [SlowClient(proxy, web["key"]) for _ in range(8)]
    for client in slow:
        client.start()
    try:
        time.sleep(0.5)  # every slow client is connected and trickling
        answers = [post_comment(proxy, web["key"], number) for number in range(5)]
    finally:
        for client in slow:
            client.stopped.set()
    assert [status for status, _ in answers] == [202] * 5
    assert max(took for _, took in answers) < PROMPT
    assert all(client.sent > 0 for client in slow)  # they were still trickling meanwhile


def test_many_small_requests_do_not_stop_a_fast_client(web, proxy):
    """Six clients send small requests back to back (probes, empty and broken bodies) for
    two seconds; each gets its answer, and so does a fast client's comment meanwhile."""
    stop_at, answers, failures = time.monotonic() + 2, [], []

    base, auth = f"http://127.0.0.1:{proxy}", {"Authorization": f"Bearer {web['key']}"}

    def crowd():
        requests = [urllib.request.Request(f"{base}/healthz"),
                    urllib.request.Request(f"{base}/api/v1/comments", b"{",
                                           {**auth, "Content-Type": "application/json"}),
                    urllib.request.Request(f"{base}/api/v1/comments", b"", auth)]
        sent = 0
        while time.monotonic() < stop_at:
            try:
                with urllib.request.urlopen(requests[sent % 3], timeout=PROMPT) as response:
                    answers.append(response.status)
            except urllib.error.HTTPError as error:
                answers.append(error.code)
            except OSError as error:
                failures.append(f"{type(error).__name__}: {error}")
            sent += 1

    threads = [threading.Thread(target=crowd, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    fast = [post_comment(proxy, web["key"], 100 + number) for number in range(3)]
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert len(answers) > 100 and set(answers) <= {200, 400, 415}
    assert [status for status, _ in fast] == [202] * 3 and max(took for _, took in fast) < PROMPT
