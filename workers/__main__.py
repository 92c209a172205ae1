"""python -m workers spam|toxicity|all [--burst]  — a check worker (models loaded first)
python -m workers callbacks [--burst]          — a callback delivery worker (no models)
python -m workers sweeper                      — the periodic sweeper"""
import argparse
import logging
import os
import signal
import socket
import threading

from rq import Queue, SimpleWorker
from sqlalchemy.exc import OperationalError

from moderation.callbacks import QUEUE as CALLBACKS
from moderation.jobs import REDIS_DOWN
from moderation.settings import Settings
from moderation.retention import purge_when_due
from moderation.sweep import sweep_pending
from moderation.tables import CHECKS

from .runtime import configure, current, model

log = logging.getLogger("workers")


def run_worker(queues: list[str], burst: bool) -> None:
    """Work the named queues; a check worker loads its models first. The scheduler moves
    jobs whose retry interval has passed back to their queue."""
    for queue in queues:
        if queue in CHECKS:
            log.info("loaded %s model %s", queue, model(queue).version)
    redis = current("redis")
    name = f"{'+'.join(queues)}.{socket.gethostname()}.{os.getpid()}"
    worker = SimpleWorker([Queue(queue, connection=redis) for queue in queues], connection=redis, name=name)
    worker.work(burst=burst, with_scheduler=True)


def run_sweeper() -> None:
    """Sweep every few seconds until SIGTERM or SIGINT; a Redis or database outage is
    logged and waited out, never fatal."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = current("settings")
    while not stop.is_set():
        try:
            report = sweep_pending(current("sessions"), current("checks"), settings)
            if report.enqueued or report.failed or report.callbacks or report.callbacks_failed:
                log.info("sweep: %s", report)
            purged = purge_when_due(current("sessions"), settings, current("redis"))  # hourly, one sweeper
            if purged:
                log.info("purge: %s", purged)
        except (*REDIS_DOWN, OperationalError) as error:
            log.warning("sweep skipped: %s", type(error).__name__)
        stop.wait(settings.sweep_interval)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("role", choices=[*CHECKS, "all", CALLBACKS, "sweeper"])
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    args = parser.parse_args()
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    configure(settings)
    if args.role == "sweeper":
        run_sweeper()
    else:
        run_worker(list(CHECKS) if args.role == "all" else [args.role], args.burst)


if __name__ == "__main__":
    main()
