"""python -m workers spam|toxicity|all [--burst]  — a check worker (models loaded first)
python -m workers sweeper                      — the periodic sweeper"""
import argparse
import logging
import os
import signal
import socket
import threading

from rq import Queue, SimpleWorker
from sqlalchemy.exc import OperationalError

from moderation.jobs import REDIS_DOWN
from moderation.settings import Settings
from moderation.sweep import sweep_pending
from moderation.tables import CHECKS

from .runtime import configure, current, model

log = logging.getLogger("workers")


def run_worker(checks: list[str], burst: bool) -> None:
    for check in checks:
        log.info("loaded %s model %s", check, model(check).version)
    redis = current("redis")
    name = f"{'+'.join(checks)}.{socket.gethostname()}.{os.getpid()}"
    worker = SimpleWorker([Queue(check, connection=redis) for check in checks], connection=redis, name=name)
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
            if report.enqueued or report.failed:
                log.info("sweep: %s", report)
        except (*REDIS_DOWN, OperationalError) as error:
            log.warning("sweep skipped: %s", type(error).__name__)
        stop.wait(settings.sweep_interval)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("role", choices=[*CHECKS, "all", "sweeper"])
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
