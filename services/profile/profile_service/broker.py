"""The worker's Redis broker transport: kombu's, with one synchronous client per channel.

kombu's Redis channel builds a brand-new ``redis.Redis`` object (connection pool shared) for every
ack, reject and publish. Building one costs more CPU than the ack itself (redis-py sets up its
response-callback table each time), and with ``acks_late`` that happens once per event: profiling a
worker draining reviews showed it at about a third of the worker's CPU per event. This transport
reuses one client per channel and pool; redis-py clients are thread-safe, and a new channel (after a
reconnect) or a new pool gets a new client. Selected with Celery's ``broker_transport`` setting
(kombu is pinned in requirements.txt; ``_create_client`` is the method this relies on).
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client = None
    _sync_client_pool = None

    def _create_client(self, asynchronous=False):
        if asynchronous:  # the BRPOP connection is kombu's own business
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._sync_client is None or self._sync_client_pool is not pool:
            self._sync_client = super()._create_client()
            self._sync_client_pool = pool
        return self._sync_client


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
