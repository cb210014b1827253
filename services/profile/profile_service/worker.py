"""The Celery worker that applies review events: `python -m profile_service.worker`.

The movie vectors are loaded once in the parent process, before the prefork pool forks, so every
child shares them; Redis clients and gRPC channels are created per child (see tasks.WorkerContext).
The parent also runs the pending-ledger sweeper (profile_service.pending).

If Celery stops on an "unrecoverable error" that nobody asked for (kombu can crash while tearing
down a channel whose Redis just vanished), the process re-executes itself: under Kubernetes the
pod would be restarted anyway, but `make up` has no supervisor, and a dead worker would leave the
queue unserved. A SIGTERM/SIGINT shutdown exits normally.
"""

from __future__ import annotations

from movierec_core.threads import one_blas_thread

# ruff: noqa: E402  (the imports below must follow it)
one_blas_thread()  # before numpy loads its BLAS (the prefork children inherit it)

import logging
import os
import sys
import time

from celery import Celery, signals

from movierec_core.config import ConfigError
from movierec_core.index_artifact import ArtifactError
from movierec_core.logs import log_fields, setup_logging
from movierec_profile_contract import ProfileKeys
from profile_service.broker import TRANSPORT
from profile_service.pending import PendingSweeper
from profile_service.settings import ProfileSettings, WorkerSettings
from profile_service.store import redis_client
from profile_service.tasks import WorkerContext, register_tasks
from profile_service.vectors import MovieVectors


def create_celery(settings: WorkerSettings) -> Celery:
    app = Celery("movierec-profile", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        broker_transport=TRANSPORT,  # kombu's Redis transport, minus a per-ack client construction
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=settings.prefetch,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting through a Redis restart
        broker_transport_options={
            # Unacked messages of a dead worker come back after this long (tasks take milliseconds).
            "visibility_timeout": settings.visibility_timeout_s,
            # kombu sweeps for them every interval × throttle seconds; make the interval the only knob.
            "unacked_restore_interval": settings.restore_interval_s,
            "unacked_restore_throttle": 1,
            # A worker killed while sweeping leaves the sweep mutex behind; by default it blocks
            # every other sweep for 5 minutes, so let it expire as soon as redelivery is due anyway.
            "unacked_mutex_expire": settings.visibility_timeout_s,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    return app


def build_worker() -> tuple[Celery, WorkerSettings]:
    settings = ProfileSettings.from_env(require_embedding=False)
    worker_settings = WorkerSettings.from_env()
    try:
        movies = MovieVectors.load(settings.index_dir)
    except ArtifactError as error:
        raise ConfigError(str(error)) from None
    app = create_celery(worker_settings)
    register_tasks(app, WorkerContext(settings, worker_settings, movies))
    sweeper = PendingSweeper(app, redis_client(settings.store.redis_url), keys=ProfileKeys(settings.store.key_prefix),
                             queue=worker_settings.queue, interval_s=worker_settings.pending_sweep_s,
                             redeliver_after_s=worker_settings.pending_redeliver_s,
                             max_backlog=worker_settings.pending_max_backlog)
    # Started once the pool exists, so the sweeper thread lives in the parent only.
    signals.worker_ready.connect(lambda **_: sweeper.start(), weak=False)
    signals.worker_shutdown.connect(lambda **_: sweeper.stop(), weak=False)
    signals.worker_shutting_down.connect(_note_shutdown_request, weak=False)
    return app, worker_settings


_shutdown_requested = False


def _note_shutdown_request(**_) -> None:
    global _shutdown_requested
    _shutdown_requested = True


def main() -> None:
    setup_logging("profile-worker")
    # Celery logs every task's receipt and success at INFO: at hundreds of events/s that is a real
    # share of the hot path's CPU. Retries, dead letters and failures still log (WARNING and up).
    task_log_level = os.environ.get("WORKER_TASK_LOG_LEVEL", "WARNING").upper()
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(task_log_level)
    try:
        app, settings = build_worker()
    except ConfigError as error:
        print(f"profile-worker: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    argv = ["worker", "--loglevel", os.environ.get("LOG_LEVEL", "INFO"), "--queues", settings.queue,
            "--pool", settings.pool, "--concurrency", str(settings.concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--hostname", f"profile-worker-{os.getpid()}@%h"]
    try:
        exit_code = app.start(argv)  # unlike worker_main, returns Celery's exit code
    except SystemExit as stop:
        exit_code = stop.code
    log = logging.getLogger("movierec.profile.worker")
    log.info("celery worker exited", extra=log_fields(exit_code=exit_code, shutdown_requested=_shutdown_requested))
    # Celery reports no exit code after an "unrecoverable error": only a signal means "stop".
    if not _shutdown_requested:
        log.error("worker stopped unexpectedly; restarting in 1 s")
        time.sleep(1.0)
        os.execv(sys.executable, [sys.executable, "-m", "profile_service.worker"])
    sys.exit(exit_code or 0)


if __name__ == "__main__":
    main()
