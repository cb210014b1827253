"""Profile state in Redis, updated only by Lua scripts: one atomic, idempotent script per event.

Key layout (``P`` = ``PROFILE_KEY_PREFIX``, default ``movierec:``)::

    P profile:<user>   hash  vec (float32 LE bytes), version, onboarded_at, updated_at, liked (JSON ids),
                             message_count, review_count, watch_count, click_count,
                             recent (float32 bytes), recent_w, recent_t   (recent-interest accumulator)
    P ratings:<user>   hash  movie_id → JSON {rating, at, event_id, text}  (latest review per movie)
    P applied:<user>   set   event ids already applied to this user
    P interactions     stream  the interaction log: one entry per applied event (capped, ~MAXLEN)
    P turns            stream  recommendation/chat turns (capped, ~MAXLEN)
    P deadletter       list  rejected events, newest first, JSON {event, reason, task, at}
    P deadletter:ids   set   ids already parked (parking twice changes nothing)
    P stats            hash  duplicates (events seen again after being applied)
    P pending          hash  event id → JSON {task, event}: published, not yet applied or parked
    P pending:due      zset  event id → when the sweeper re-publishes it if it is still pending

Each script checks the applied set, reads the vector, does the float math in Lua (double precision
on float32 inputs, like :mod:`profile_service.taste`), writes the state, adds the event id and appends
the log entry — all in one atomic step, so a duplicate changes nothing (except the ``duplicates``
counter) and concurrent updates of one user serialize without loss.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import redis

from profile_service.interactions import Interaction
from profile_service.settings import StoreSettings
from profile_service.taste import fuse_onboarding, pack, unpack
from profile_service.vectors import MovieVectors

# Shared Lua helpers: float32 vectors are packed little-endian; struct/cjson are built into Redis Lua.
_LUA_PRELUDE = r"""
local function unpack_vec(bytes, dim)
  local v = {struct.unpack('<' .. string.rep('f', dim), bytes)}
  v[dim + 1] = nil  -- struct.unpack also returns the next read position
  return v
end
local function pack_vec(v, dim)
  return struct.pack('<' .. string.rep('f', dim), unpack(v, 1, dim))
end
-- The last two KEYS are always the pending ledger (hash + due zset): an event applied (now or
-- before) or parked is settled, so the redelivery sweeper forgets it.
local function settle(event_id)
  redis.call('HDEL', KEYS[#KEYS - 1], event_id)
  redis.call('ZREM', KEYS[#KEYS], event_id)
end
local function already_applied(applied_key, stats_key, profile_key, event_id)
  if redis.call('SISMEMBER', applied_key, event_id) == 1 then
    settle(event_id)
    redis.call('HINCRBY', stats_key, 'duplicates', 1)
    return tonumber(redis.call('HGET', profile_key, 'version') or '0')
  end
  return nil
end
local function append_log(log_key, maxlen, version, first, last)
  local fields = {'version', tostring(version)}
  for i = first, last do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', log_key, 'MAXLEN', '~', maxlen, '*', unpack(fields))
end
"""

# KEYS: profile, applied, log, stats, pending, pending due
# ARGV: event_id, applied_at, vec, liked_json, log(0/1), maxlen, log fields...
ONBOARD_LUA = _LUA_PRELUDE + r"""
local seen = already_applied(KEYS[2], KEYS[4], KEYS[1], ARGV[1])
if seen then return {0, seen} end
local vec = ARGV[3]
local recent = redis.call('HGET', KEYS[1], 'recent')
if recent and #recent ~= #vec then
  -- the movie index changed dimension: old recent interests cannot be blended any more
  redis.call('HDEL', KEYS[1], 'recent', 'recent_w', 'recent_t')
end
redis.call('HSET', KEYS[1], 'vec', vec, 'liked', ARGV[4], 'onboarded_at', ARGV[2], 'updated_at', ARGV[2])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('SADD', KEYS[2], ARGV[1])
settle(ARGV[1])
if ARGV[5] == '1' then append_log(KEYS[3], ARGV[6], version, 7, #ARGV) end
return {1, version}
"""

# KEYS: profile, applied, ratings, log, stats, pending, pending due
# ARGV: 1 event_id, 2 applied_at, 3 event_time, 4 target vec, 5 ema alpha|'', 6 recent weight|'',
#       7 decay per day, 8 counter field, 9 rating movie id|'', 10 rating JSON, 11 log(0/1), 12 maxlen,
#       13.. log fields
APPLY_LUA = _LUA_PRELUDE + r"""
local seen = already_applied(KEYS[2], KEYS[5], KEYS[1], ARGV[1])
if seen then return {0, seen} end
local vec = redis.call('HGET', KEYS[1], 'vec')
if not vec then return {-1, 0} end
local target = ARGV[4]
if #target ~= #vec then return {-2, #vec / 4} end
local dim = #vec / 4
local t = unpack_vec(target, dim)
local event_time = tonumber(ARGV[3])

if ARGV[5] ~= '' then
  local a = tonumber(ARGV[5])
  local u = unpack_vec(vec, dim)
  local out, sum = {}, 0
  for i = 1, dim do
    local x = a * u[i] + (1 - a) * t[i]
    out[i] = x
    sum = sum + x * x
  end
  local norm = math.sqrt(sum)
  if norm == 0 or norm ~= norm then return {-3, 0} end
  for i = 1, dim do out[i] = out[i] / norm end
  redis.call('HSET', KEYS[1], 'vec', pack_vec(out, dim))
end

if ARGV[6] ~= '' then
  -- recent-interest accumulator referenced to the latest event time T: Σ wᵢ·decay^((T−tᵢ)/day)·mᵢ
  local w, decay = tonumber(ARGV[6]), tonumber(ARGV[7])
  local acc = redis.call('HGET', KEYS[1], 'recent')
  local out, total, ref = {}, w, event_time
  if acc and #acc == #vec then
    local a = unpack_vec(acc, dim)
    local acc_w = tonumber(redis.call('HGET', KEYS[1], 'recent_w'))
    local acc_t = tonumber(redis.call('HGET', KEYS[1], 'recent_t'))
    if event_time >= acc_t then
      local f = decay ^ ((event_time - acc_t) / 86400000)
      for i = 1, dim do out[i] = a[i] * f + w * t[i] end
      total = acc_w * f + w
    else
      local late = w * decay ^ ((acc_t - event_time) / 86400000)
      for i = 1, dim do out[i] = a[i] + late * t[i] end
      total, ref = acc_w + late, acc_t
    end
  else
    for i = 1, dim do out[i] = w * t[i] end
  end
  redis.call('HSET', KEYS[1], 'recent', pack_vec(out, dim), 'recent_w', string.format('%.17g', total),
             'recent_t', string.format('%d', ref))
end

if ARGV[9] ~= '' then
  -- keep the latest review per movie by event time (a late-arriving older review is still logged)
  local previous = redis.call('HGET', KEYS[3], ARGV[9])
  if not previous or tonumber(cjson.decode(previous)['at']) <= event_time then
    redis.call('HSET', KEYS[3], ARGV[9], ARGV[10])
  end
end

redis.call('HINCRBY', KEYS[1], ARGV[8], 1)
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
settle(ARGV[1])
if ARGV[11] == '1' then append_log(KEYS[4], ARGV[12], version, 13, #ARGV) end
return {1, version}
"""

# KEYS: deadletter list, deadletter ids, pending, pending due; ARGV: id, entry JSON, maxlen
PARK_LUA = r"""
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
return 1
"""

def pending_keys(prefix: str) -> tuple[str, str]:
    """The pending ledger: written by the publisher before the broker, settled by the scripts."""
    return f"{prefix}pending", f"{prefix}pending:due"


COUNTERS = {"rate": "review_count", "message": "message_count", "watch": "watch_count", "click": "click_count"}


class ProfileNotFound(Exception):
    """The user has no profile (never onboarded)."""

    def __init__(self, user_id: str):
        super().__init__(f"user {user_id!r} has no profile (onboard first)")
        self.user_id = user_id


class InvalidUpdate(Exception):
    """An event that can never be applied (e.g. its vector does not match the profile's dimension)."""


@dataclass(frozen=True)
class ApplyResult:
    applied: bool
    version: int


@dataclass
class ProfileState:
    user_id: str
    vector: np.ndarray
    version: int
    onboarded_at_ms: int
    updated_at_ms: int
    liked_movie_ids: list[int]
    counters: dict[str, int]
    recent: np.ndarray | None
    recent_weight: float
    recent_time_ms: int | None
    ratings: dict[int, dict] = field(default_factory=dict)


def now_ms() -> int:
    return int(time.time() * 1000)


def redis_client(url: str) -> redis.Redis:
    """A client with bounded socket waits, so a dead Redis surfaces as a (transient) error, not a hang."""
    return redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=15)


class ProfileStore:
    def __init__(self, settings: StoreSettings, *, client: redis.Redis | None = None, prefix: str | None = None):
        self.settings = settings
        self.prefix = settings.key_prefix if prefix is None else prefix
        self.client = client or redis_client(settings.redis_url)
        self._onboard = self.client.register_script(ONBOARD_LUA)
        self._apply = self.client.register_script(APPLY_LUA)
        self._park = self.client.register_script(PARK_LUA)

    # ---- keys -----------------------------------------------------------------------------
    def profile_key(self, user_id: str) -> str:
        return f"{self.prefix}profile:{user_id}"

    def applied_key(self, user_id: str) -> str:
        return f"{self.prefix}applied:{user_id}"

    def ratings_key(self, user_id: str) -> str:
        return f"{self.prefix}ratings:{user_id}"

    @property
    def interactions_key(self) -> str:
        return f"{self.prefix}interactions"

    @property
    def turns_key(self) -> str:
        return f"{self.prefix}turns"

    @property
    def deadletter_key(self) -> str:
        return f"{self.prefix}deadletter"

    @property
    def stats_key(self) -> str:
        return f"{self.prefix}stats"

    @property
    def pending_key(self) -> str:
        return pending_keys(self.prefix)[0]

    @property
    def pending_due_key(self) -> str:
        return pending_keys(self.prefix)[1]

    # ---- writes ---------------------------------------------------------------------------
    def apply(self, interaction: Interaction, movies: MovieVectors, *, log: bool = True) -> ApplyResult:
        """Apply one interaction atomically; ``log=False`` when replaying into another key prefix.

        Raises ProfileNotFound (no profile for a non-onboarding event), InvalidUpdate, KeyError for a
        movie id the index does not hold.
        """
        script, keys, args = self._plan(interaction, movies, log)
        status, detail = script(keys=keys, args=args)
        return _result(interaction, status, detail)

    def apply_many(self, interactions: list[Interaction], movies: MovieVectors, *,
                   log: bool = True) -> list[ApplyResult | Exception]:
        """Apply interactions in order in one pipelined round trip (each script is still atomic).

        Returns, per interaction, its result or the exception :meth:`apply` would have raised.
        """
        pipe = self.client.pipeline(transaction=False)
        planned: list[Interaction] = []
        outcomes: list[ApplyResult | Exception | None] = []
        for interaction in interactions:
            try:
                script, keys, args = self._plan(interaction, movies, log)
            except (KeyError, InvalidUpdate, ValueError) as error:
                outcomes.append(error)
                continue
            script(keys=keys, args=args, client=pipe)
            planned.append(interaction)
            outcomes.append(None)
        replies = iter(zip(planned, pipe.execute(), strict=True))
        results: list[ApplyResult | Exception] = []
        for outcome in outcomes:
            if outcome is not None:
                results.append(outcome)
                continue
            interaction, (status, detail) = next(replies)
            try:
                results.append(_result(interaction, status, detail))
            except (ProfileNotFound, InvalidUpdate) as error:
                results.append(error)
        return results

    def _plan(self, event: Interaction, movies: MovieVectors, log: bool):
        """(script, keys, args) that apply ``event``."""
        user = event.user_id
        if event.kind == "onboard":
            movie_vectors = movies.stack(list(event.movie_ids)) if event.movie_ids else None
            weight = event.weight if event.weight is not None else 1.0
            vector = fuse_onboarding(movie_vectors, event.embedding, weight)
            return self._onboard, \
                [self.profile_key(user), self.applied_key(user), self.interactions_key, self.stats_key,
                 self.pending_key, self.pending_due_key], \
                [event.event_id, event.applied_at_ms, pack(vector), json.dumps(list(event.movie_ids)),
                 "1" if log else "0", self.settings.log_maxlen, *event.to_fields()]
        if event.kind == "message":
            if event.embedding is None:
                raise InvalidUpdate(f"message event {event.event_id} has no embedding")
            target = event.embedding
        else:
            target = movies.vector(event.movie_ids[0])
        rating_movie, rating_json = "", ""
        if event.kind == "rate":
            rating_movie = str(event.movie_ids[0])
            rating_json = json.dumps({"rating": event.rating, "at": event.created_at_ms,
                                      "event_id": event.event_id, "text": event.text}, ensure_ascii=False)
        return self._apply, \
            [self.profile_key(user), self.applied_key(user), self.ratings_key(user), self.interactions_key,
             self.stats_key, self.pending_key, self.pending_due_key], \
            [event.event_id, event.applied_at_ms, event.created_at_ms, pack(target), _optional(event.alpha),
             _optional(event.weight), _optional(event.decay_per_day) or "1", COUNTERS[event.kind], rating_movie,
             rating_json, "1" if log else "0", self.settings.log_maxlen, *event.to_fields()]

    def park(self, dead_id: str, entry: dict) -> bool:
        """Record a rejected event in the dead-letter list once; False when it was already parked."""
        return bool(self._park(keys=[self.deadletter_key, f"{self.deadletter_key}:ids", self.pending_key,
                                     self.pending_due_key],
                               args=[dead_id, json.dumps(entry, ensure_ascii=False, default=str),
                                     self.settings.deadletter_maxlen]))

    def log_turn(self, fields: dict[str, str]) -> str:
        entry_id = self.client.xadd(self.turns_key, fields, maxlen=self.settings.turns_maxlen, approximate=True)
        return entry_id.decode()

    # ---- reads ----------------------------------------------------------------------------
    def load(self, user_id: str) -> ProfileState | None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.profile_key(user_id))
        pipe.hgetall(self.ratings_key(user_id))
        raw, ratings = pipe.execute()
        if not raw or b"vec" not in raw:
            return None
        return _state_from_hash(user_id, raw, ratings)

    def deadletters(self, limit: int = 100) -> list[dict]:
        return [json.loads(item) for item in self.client.lrange(self.deadletter_key, 0, limit - 1)]

    def duplicates_seen(self) -> int:
        return int(self.client.hget(self.stats_key, "duplicates") or 0)

    def user_ids(self) -> list[str]:
        marker = f"{self.prefix}profile:"
        return sorted(key.decode()[len(marker):] for key in self.client.scan_iter(match=f"{marker}*", count=1000))

    def read_stream(self, key: str, *, batch: int = 1000, last_id: str = "+"):
        """Yield (entry id, fields) of a stream from its start up to ``last_id``, in order."""
        start = "-"
        while True:
            chunk = self.client.xrange(key, min=start, max=last_id, count=batch)
            if not chunk:
                return
            yield from chunk
            if len(chunk) < batch:
                return
            start = "(" + chunk[-1][0].decode()

    def delete_prefix(self) -> int:
        """Delete every key under this store's prefix (replay targets only)."""
        deleted = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += self.client.delete(*batch)
                batch.clear()
        if batch:
            deleted += self.client.delete(*batch)
        return deleted


def _result(event: Interaction, status: int, detail: int) -> ApplyResult:
    """Interpret a script's reply ``{status, version-or-detail}``."""
    if status == -1:
        raise ProfileNotFound(event.user_id)
    if status == -2:
        raise InvalidUpdate(f"event {event.event_id}: vector dimension does not match the profile's {detail}")
    if status == -3:
        raise InvalidUpdate(f"event {event.event_id} would make the taste vector zero")
    return ApplyResult(status == 1, int(detail))


def _optional(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _state_from_hash(user_id: str, raw: dict[bytes, bytes], ratings: dict[bytes, bytes]) -> ProfileState:
    def integer(name: str) -> int:
        return int(raw.get(name.encode(), b"0"))

    recent = raw.get(b"recent")
    return ProfileState(
        user_id=user_id,
        vector=unpack(raw[b"vec"]),
        version=integer("version"),
        onboarded_at_ms=integer("onboarded_at"),
        updated_at_ms=integer("updated_at"),
        liked_movie_ids=[int(m) for m in json.loads(raw.get(b"liked", b"[]"))],
        counters={name: integer(name) for name in COUNTERS.values()},
        recent=unpack(recent) if recent is not None else None,
        recent_weight=float(raw.get(b"recent_w", b"0")),
        recent_time_ms=int(raw[b"recent_t"]) if b"recent_t" in raw else None,
        ratings={int(movie): json.loads(record) for movie, record in ratings.items()},
    )
