"""The Celery worker that applies review events to profiles (`python -m profile_service.worker`).

Tasks are thin wrappers around domain functions and are idempotent (keyed by event_id), which
is what makes ``acks_late`` safe: a task whose worker dies mid-flight is redelivered, and
re-applying it changes nothing.
"""

from __future__ import annotations

import os
import sys

from celery import Celery

from movierec_core.config import ConfigError, env_int, env_str


def create_celery() -> Celery:
    broker = env_str("REDIS_URL")
    app = Celery("movierec", broker=broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=env_int("CELERY_PREFETCH", 4, minimum=1),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Redelivery of unacked tasks after a worker dies; tasks take milliseconds, so keep it short.
        broker_transport_options={"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 60, minimum=1)},
        worker_hijack_root_logger=False,
    )
    return app


def main() -> None:
    try:
        app = create_celery()
        concurrency = env_int("WORKER_CONCURRENCY", 1, minimum=1)
    except ConfigError as error:
        print(f"worker: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    app.worker_main(["worker", "--loglevel", os.environ.get("LOG_LEVEL", "INFO"),
                     "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
                     "--hostname", f"profile-worker-{os.getpid()}@%h"])


if __name__ == "__main__":
    main()
