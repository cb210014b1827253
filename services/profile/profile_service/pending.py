"""The redelivery sweeper: re-publishes events that stayed in the pending ledger too long.

The publisher records every event in the ledger before queueing it; the apply and park scripts
settle it atomically. An entry still pending after ``PROFILE_PENDING_REDELIVER_S`` was lost
somewhere between the broker and a worker (e.g. Redis died between a consumer's BRPOP and its
"unacked" bookkeeping), so it is published again with the same id; applying is idempotent, so a
redelivery of an event that was merely slow changes nothing.

Claiming is one Lua script (pick due entries, push their due time forward), so several workers
can sweep at once without publishing the same entry twice in one round. While the queue holds more
than ``PROFILE_PENDING_MAX_BACKLOG`` messages (default 0: any) the sweep waits: old entries are then
most likely still queued behind a backlog, and re-publishing them would only deepen it. Once the
queue is empty, an entry older than the redelivery delay is not in the broker's hands any more
(retries wait at most ``PROFILE_RETRY_BACKOFF_MAX_S``, below the visibility timeout).
"""

from __future__ import annotations

import json
import logging
import threading

import redis
from celery import Celery

from movierec_core.logs import log_fields
from movierec_profile_contract import EVENT_KWARG, ProfileKeys, send_event
from profile_service.store import now_ms

# KEYS: pending hash, due zset; ARGV: published-before (ms), new due score (ms), limit
CLAIM_LUA = r"""
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, id in ipairs(ids) do
  local payload = redis.call('HGET', KEYS[1], id)
  if payload then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    claimed[#claimed + 1] = payload
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return claimed
"""

log = logging.getLogger("movierec.profile.pending")


class PendingSweeper(threading.Thread):
    def __init__(self, app: Celery, client: redis.Redis, *, keys: ProfileKeys, queue: str, interval_s: float,
                 redeliver_after_s: float, max_backlog: int, batch: int = 500):
        super().__init__(name="pending-sweeper", daemon=True)
        self.app = app
        self.client = client
        self.queue = queue
        self.interval_s = interval_s
        self.redeliver_after_ms = int(redeliver_after_s * 1000)
        self.max_backlog = max_backlog
        self.batch = batch
        self.keys = [keys.pending, keys.pending_due]
        self._claim = client.register_script(CLAIM_LUA)
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.sweep()
            except (redis.RedisError, OSError) as error:  # Redis away: try again next round
                log.warning("pending sweep failed", extra=log_fields(error=str(error)))

    def sweep(self) -> int:
        """Re-publish due pending events; returns how many."""
        if self.client.llen(self.queue) > self.max_backlog:
            return 0
        now = now_ms()
        claimed = self._claim(keys=self.keys, args=[now - self.redeliver_after_ms, now, self.batch])
        for payload in claimed:
            entry = json.loads(payload)
            event = entry[EVENT_KWARG]
            send_event(self.app, entry["task"], event, event.get("event_id"), self.queue)
        if claimed:
            log.warning("re-published pending events", extra=log_fields(count=len(claimed)))
        return len(claimed)

