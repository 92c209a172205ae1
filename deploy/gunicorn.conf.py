"""gunicorn settings for Saring's web process: `gunicorn -c deploy/gunicorn.conf.py`.

Tuned for a 2-core host, behind nginx (deploy/nginx.conf, the `nginx` service of
docker-compose.yml). Sync workers must not face slow clients directly: a sync worker serves
one connection at a time and blocks while a client trickles its headers or body, so a few
slow or idle connections stop the whole web process. Two ways out were measured by
bench/servers.py (README: Running in production has the table):

- gthread workers take a slow client off the worker, but not off a thread: a client
  trickling its headers holds one of the few threads for as long as it likes, and a
  connection that sends nothing holds one for 5 s each time it connects. With 64 slow
  clients (2 workers x 4 threads), fast clients got no answer at all, as with sync workers.
- nginx reads each request completely before passing it to gunicorn over a local
  connection, and holds thousands of slow connections for a few kilobytes each: behind it,
  sync workers served the fast clients at 98-104% of their rate without slow clients.
  Without slow clients the three shapes were within 3% of each other.

So: plain sync workers (the simplest, and as fast as gthread here), and nginx in front.
Every value can be overridden on the command line or in GUNICORN_CMD_ARGS (gunicorn's own
precedence: command line > GUNICORN_CMD_ARGS > this file).
"""
import glob
import os
import shutil
import tempfile

wsgi_app = "moderation:create_app()"

# Where to listen: PORT (gunicorn's and most platforms' convention) on all interfaces, for
# nginx in another container; `--bind` overrides it. Never publish this port: clients
# reach gunicorn only through nginx.
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]

# A submission costs about 3.5 ms of CPU in the worker (bench/submit.py) and waits little
# on PostgreSQL and Redis: two sync workers keep two cores busy, and more only contend for
# them. WEB_CONCURRENCY (gunicorn's own variable) sets another count on a bigger host.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"  # and no `threads`: above 1, gunicorn would switch to gthread

# A request is a few database and Redis round trips: a worker silent for 30 s is stuck and
# gets replaced. On SIGTERM a worker has 20 s to finish the request it is serving (a
# container stop waits 30 s before SIGKILL: docker-compose.yml's stop_grace_period).
timeout = 30
graceful_timeout = 20

# No control socket (gunicorn 25+ opens one in $HOME by default, shared by every gunicorn of
# that user on the host): workers are scaled by WEB_CONCURRENCY and more replicas.
control_socket_disable = True

# No max_requests: nothing in the app is known to leak, and every restarted worker would
# leave its counter files in the metrics directory, which each scrape of /metrics reads.

# Logs: JSON lines on stderr through the app's formatter. The app logs one line per request
# itself, with its request id, so gunicorn's access log stays off.
accesslog = None
loglevel = os.environ.get("MODERATION_LOG_LEVEL", "INFO").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "moderation.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": loglevel.upper(), "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}

# /metrics adds up the workers' figures through prometheus_client's multiprocess mode,
# which needs one directory shared by the workers and empty at start. The variable must be
# set before a worker imports prometheus_client, hence here (this file runs in the master);
# unset, it is a directory of this master's own, removed when it exits.
_own_metrics_dir = os.path.join(tempfile.gettempdir(), f"saring-metrics-{os.getpid()}")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _own_metrics_dir)


def on_starting(server):
    """Start with no metrics files: an earlier run's would be added in. Only prometheus_client's
    own files (*.db) are removed, whatever directory the variable names."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """A worker exited: drop its live gauges from the metrics directory."""
    from moderation.metrics import forget_process

    forget_process(worker.pid)


def on_exit(server):
    if os.environ["PROMETHEUS_MULTIPROC_DIR"] == _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
