"""python -m workers spam|toxicity|all [--burst]  — a check worker (models loaded first)
python -m workers callbacks [--burst]          — a callback delivery worker (no models)
python -m workers scheduler                    — the periodic jobs: sweeper and purge (alias: sweeper)"""
import argparse
import dataclasses
import logging
import os
import signal
import socket
import threading

from rq import Queue
from sqlalchemy.exc import OperationalError

from moderation import fleet
from moderation.callbacks import QUEUE as CALLBACKS
from moderation.counters import record
from moderation.jobs import REDIS_DOWN
from moderation.logs import configure_logging
from moderation.retention import purge_when_due
from moderation.settings import Settings
from moderation.sweep import SweepReport, sweep_pending
from moderation.tables import CHECKS

from .runtime import Worker, configure, current, model

log = logging.getLogger("workers")
PERIODIC = ("scheduler", "sweeper")
# RQ's default is 10 minutes: a worker killed while it held its queue's RQ scheduler lock would
# leave every scheduled retry waiting that long, until a live worker's maintenance takes the lock
MAINTENANCE_INTERVAL = 30


def run_worker(queues: list[str], burst: bool) -> bool:
    """Work the named queues; a check worker loads its models first and reports their
    versions once RQ has registered it. The scheduler moves jobs whose retry interval has
    passed back to their queue. True if any job was worked."""
    settings, redis = current("settings"), current("redis")
    models = {queue: model(queue).version for queue in queues if queue in CHECKS}
    name = f"{'+'.join(queues)}.{socket.gethostname()}.{os.getpid()}"
    worker = Worker([Queue(queue, connection=redis) for queue in queues], connection=redis, name=name,
                    worker_ttl=fleet.worker_ttl(settings.worker_heartbeat),
                    maintenance_interval=MAINTENANCE_INTERVAL)
    worker.models = models
    log.info("worker %s starting on %s", name, ", ".join(queues), extra={"worker": name, "models": models})
    worked = worker.work(burst=burst, with_scheduler=True)
    log.info("worker %s stopped", name, extra={"worker": name})
    return worked


def run_sweeper() -> None:
    """Sweep every few seconds until SIGTERM or SIGINT; a Redis or database outage is
    logged and waited out, never fatal."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = current("settings")
    while not stop.is_set():
        try:
            sweep_once()
            purged = purge_when_due(current("sessions"), settings, current("redis"))  # hourly, one sweeper
            if purged:
                log.info("purge: %s", purged)
        except (*REDIS_DOWN, OperationalError) as error:
            log.warning("sweep skipped: %s", type(error).__name__)
        stop.wait(settings.sweep_interval)


def sweep_once() -> SweepReport:
    """One sweep, recorded for the ops page (its report) and /metrics (what it re-enqueued)."""
    redis = current("redis")
    report = sweep_pending(current("sessions"), current("checks"), current("settings"))
    if report.enqueued or report.failed or report.callbacks or report.callbacks_failed or report.abandoned:
        log.info("sweep: %s", report, extra=dataclasses.asdict(report))
    fleet.record_sweep(redis, dataclasses.asdict(report))
    record(redis, *(("add", name, (kind,), count) for name, kind, count in (
        ("sweeper_reenqueued", "check", report.enqueued), ("sweeper_reenqueued", "callback", report.callbacks),
        ("sweeper_failed", "check", report.failed), ("sweeper_failed", "callback", report.callbacks_failed),
    ) if count))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=[*CHECKS, "all", CALLBACKS, *PERIODIC])
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    args = parser.parse_args()
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    configure(settings)
    if args.role in PERIODIC:
        run_sweeper()
    else:
        run_worker(list(CHECKS) if args.role == "all" else [args.role], args.burst)


if __name__ == "__main__":
    main()
