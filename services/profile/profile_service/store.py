"""Profile state in Redis, updated only by Lua scripts: one atomic, idempotent script per event.

Key layout: :class:`movierec_profile_contract.ProfileKeys` builds every key (``P`` =
``PROFILE_KEY_PREFIX``); services/profile/README.md has the table and the bounds of each key.

Each script checks the user's applied-event index, reads the vector, does the float math in Lua
(double precision on float32 inputs, like :mod:`profile_service.taste`), writes the state, adds the
event id (the index trimmed to its retention and cap) and appends the log entry — all in one atomic
step, so a duplicate changes nothing (except the ``duplicates`` counter) and concurrent updates of one
user serialize without loss.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import redis

from movierec_profile_contract import (
    APPLIED_MAX_IDS,
    APPLIED_RETENTION_S,
    DAY_MS,
    TASTE_HISTORY_MAX,
    WATCHED_MAX,
    ProfileKeys,
)
from profile_service.interactions import Interaction
from profile_service.settings import StoreSettings
from profile_service.steps import event_spec, ordered_steps, resolve, step_record
from profile_service.taste import apply_ops, fold, fuse_onboarding, pack, unpack
from profile_service.vectors import MovieVectors

NEEDS_REFOLD, BLOCKED, STALE = -4, -5, -6
MAX_REFOLD_ATTEMPTS = 50

# Shared Lua helpers: float32 vectors are packed little-endian; struct/cjson are built into Redis Lua.
# The bounds of the applied-event index come from the contract (movierec_profile_contract).
_LUA_PRELUDE = f"""
local APPLIED_RETENTION_MS = {APPLIED_RETENTION_S * 1000}
local APPLIED_MAX_IDS = {APPLIED_MAX_IDS}
local WATCHED_MAX = {WATCHED_MAX}
local TASTE_HISTORY_MAX = {TASTE_HISTORY_MAX}
local DAY_MS = {DAY_MS}
""" + r"""
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
-- The applied-event index is a sorted set (event id → applied at, ms), trimmed on every insert to
-- the retention and the count cap. A user's index from before it was time-trimmed (a plain set) is
-- converted in place the first time it is touched: its ids count as applied now.
local function applied_index(applied_key, at)
  if redis.call('TYPE', applied_key)['ok'] == 'set' then
    local ids = redis.call('SMEMBERS', applied_key)
    redis.call('DEL', applied_key)
    for i = 1, #ids do redis.call('ZADD', applied_key, at, ids[i]) end
  end
end
local function mark_applied(applied_key, event_id, at)
  redis.call('ZADD', applied_key, at, event_id)
  redis.call('ZREMRANGEBYSCORE', applied_key, '-inf', '(' .. string.format('%d', tonumber(at) - APPLIED_RETENTION_MS))
  local count = redis.call('ZCARD', applied_key)
  if count > APPLIED_MAX_IDS then redis.call('ZREMRANGEBYRANK', applied_key, 0, count - APPLIED_MAX_IDS - 1) end
end
local function already_applied(applied_key, stats_key, profile_key, event_id)
  applied_index(applied_key, ARGV[2])
  if redis.call('ZSCORE', applied_key, event_id) then
    settle(event_id)
    redis.call('HINCRBY', stats_key, 'duplicates', 1)
    return tonumber(redis.call('HGET', profile_key, 'version') or '0')
  end
  return nil
end
-- The taste history: one snapshot per UTC day of event time, written by the script that changed the
-- vector (a duplicate never gets here, so it adds nothing). The day's last state wins; an event older
-- than the newest snapshot's day updates that snapshot (the history never goes back in time); the
-- newest TASTE_HISTORY_MAX days are kept. Member: "<version> <event time ms> " .. float32 vector bytes.
local function snapshot(history_key, version, event_time, vec)
  local day = math.floor(tonumber(event_time) / DAY_MS)
  local last = redis.call('ZREVRANGE', history_key, 0, 0, 'WITHSCORES')
  if #last == 2 and tonumber(last[2]) > day then day = tonumber(last[2]) end
  redis.call('ZREMRANGEBYSCORE', history_key, day, day)
  redis.call('ZADD', history_key, day, string.format('%d %d ', version, tonumber(event_time)) .. vec)
  local count = redis.call('ZCARD', history_key)
  if count > TASTE_HISTORY_MAX then
    redis.call('ZREMRANGEBYRANK', history_key, 0, count - TASTE_HISTORY_MAX - 1)
  end
end
-- A capped stream: at most ``max_entries`` (approximately) and ``max_bytes`` of Redis memory (the
-- estimate of MEMORY USAGE); over the byte budget the oldest entries go, down to 95 % of it, so a
-- trim happens once per 5 % of growth, not on every append.
local function trim_stream(key, max_bytes)
  if max_bytes <= 0 then return end
  local used = redis.call('MEMORY', 'USAGE', key)
  if used and used > max_bytes then
    local keep = math.floor(redis.call('XLEN', key) * max_bytes / used * 0.95)
    redis.call('XTRIM', key, 'MAXLEN', keep)
  end
end
-- cap: "<max entries> <max bytes>" (StoreSettings.log_cap)
local function append_log(log_key, cap, version, first, last)
  local max_entries, max_bytes = string.match(cap, '^(%d+) (%d+)$')
  local fields = {'version', tostring(version)}
  for i = first, last do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', log_key, 'MAXLEN', '~', max_entries, '*', unpack(fields))
  trim_stream(log_key, tonumber(max_bytes))
end
"""

# A batch (apply_many, replay) pipelines many scripts: once one event of a user must take the slow
# (recompute) path, every later event of that user in the batch is refused (-5) and re-applied in order
# after it. KEYS[block] is that batch's set of blocked users; outside a batch it is never touched.
_LUA_BATCH = r"""
local function blocked(block_key, batch, profile_key)
  return batch == '1' and redis.call('SISMEMBER', block_key, profile_key) == 1
end
local function block(block_key, batch, profile_key)
  if batch == '1' then
    redis.call('SADD', block_key, profile_key)
    redis.call('EXPIRE', block_key, 600)
  end
end
"""

# KEYS: profile, applied, log, stats, steps, block, taste history, pending, pending due
# ARGV: event_id, applied_at, vec, liked_json, log(0/1), log cap, batch(0/1), event time, log fields...
ONBOARD_LUA = _LUA_PRELUDE + _LUA_BATCH + r"""
local seen = already_applied(KEYS[2], KEYS[4], KEYS[1], ARGV[1])
if seen then return {0, seen} end
if blocked(KEYS[6], ARGV[7], KEYS[1]) then return {-5, 0} end
local vec = ARGV[3]
local recent = redis.call('HGET', KEYS[1], 'recent')
if recent and #recent ~= #vec then
  -- the movie index changed dimension: old recent interests cannot be blended any more
  redis.call('HDEL', KEYS[1], 'recent', 'recent_w', 'recent_t')
end
-- onboarding (re)starts the taste fold: the new vector is its base, earlier steps are dropped
redis.call('HSET', KEYS[1], 'vec', vec, 'base', vec, 'liked', ARGV[4], 'onboarded_at', ARGV[2],
           'updated_at', ARGV[2])
redis.call('DEL', KEYS[5])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
snapshot(KEYS[7], version, ARGV[8], vec)
mark_applied(KEYS[2], ARGV[1], ARGV[2])
settle(ARGV[1])
if ARGV[5] == '1' then append_log(KEYS[3], ARGV[6], version, 9, #ARGV) end
return {1, version}
"""

# KEYS: 1 profile, 2 applied, 3 ratings, 4 log, 5 stats, 6 steps, 7 block, 8 watched, 9 taste history,
#       10 pending, 11 pending due
# ARGV: 1 event_id, 2 applied_at, 3 event_time, 4 target vec (recent interests), 5 ops "pull 0.8;push 0.2"|'',
#       6 the ops' vectors (concatenated float32), 7 recent weight|'', 8 decay per day, 9 counter field,
#       10 rating movie id|'', 11 rating JSON, 12 step field ('r:<movie>', 'c' = a new chat step, or ''),
#       13 step record|'', 14 mode ('fast', or the version the recomputed vector was computed from),
#       15 recomputed vec|'' (keep), 16 keep the previous rating's recent contribution (0/1),
#       17 batch (0/1), 18 log (0/1), 19 log cap, 20 watched movie id|'' (a watch), 21.. log fields
APPLY_LUA = _LUA_PRELUDE + _LUA_BATCH + r"""
local seen = already_applied(KEYS[2], KEYS[5], KEYS[1], ARGV[1])
if seen then return {0, seen} end
if blocked(KEYS[7], ARGV[17], KEYS[1]) then return {-5, 0} end
if ARGV[20] ~= '' then
  -- a watch marks the movie watched, with or without a profile (a chat-first user's "seen it")
  redis.call('ZADD', KEYS[8], ARGV[2], ARGV[20])
  local count = redis.call('ZCARD', KEYS[8])
  if count > WATCHED_MAX then redis.call('ZREMRANGEBYRANK', KEYS[8], 0, count - WATCHED_MAX - 1) end
end
local vec = redis.call('HGET', KEYS[1], 'vec')
if not vec then return {-1, 0} end
local target = ARGV[4]
if #target ~= #vec then return {-2, #vec / 4} end
local dim = #vec / 4
local t = unpack_vec(target, dim)
local event_time = tonumber(ARGV[3])
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local fast = ARGV[14] == 'fast'

-- a review older than the stored one for the movie is logged and counted, and changes nothing else
local previous = nil
if ARGV[10] ~= '' then
  local raw = redis.call('HGET', KEYS[3], ARGV[10])
  if raw then previous = cjson.decode(raw) end
end
local superseded = previous ~= nil and tonumber(previous['at']) > event_time
local new_vec = nil  -- set when this event moves the taste vector (then it is snapshotted)

if not superseded then
  if fast and string.sub(ARGV[12], 1, 2) == 'r:' and redis.call('HEXISTS', KEYS[6], ARGV[12]) == 1 then
    -- re-rating a movie that is part of the fold: the caller recomputes the fold without its old step
    block(KEYS[7], ARGV[17], KEYS[1])
    return {-4, version}
  end
  if not fast and tonumber(ARGV[14]) ~= version then return {-6, version} end
  if redis.call('HEXISTS', KEYS[1], 'base') == 0 then
    -- a profile from before the fold was kept: its current vector becomes the base
    redis.call('HSET', KEYS[1], 'base', vec)
  end

  if fast and ARGV[5] ~= '' then
    local u = unpack_vec(vec, dim)
    local i = 0
    for op, coef in string.gmatch(ARGV[5], '(%a+) ([^;]+)') do
      local c = tonumber(coef)
      local v = unpack_vec(string.sub(ARGV[6], i * dim * 4 + 1, (i + 1) * dim * 4), dim)
      i = i + 1
      local sum = 0
      if op == 'pull' then
        for k = 1, dim do local x = c * u[k] + (1 - c) * v[k]; u[k] = x; sum = sum + x * x end
      else
        for k = 1, dim do local x = u[k] - c * v[k]; u[k] = x; sum = sum + x * x end
      end
      local norm = math.sqrt(sum)
      if norm == 0 or norm ~= norm then return {-3, 0} end
      for k = 1, dim do u[k] = u[k] / norm end
    end
    new_vec = pack_vec(u, dim)
    redis.call('HSET', KEYS[1], 'vec', new_vec)
  elseif not fast and ARGV[15] ~= '' then
    new_vec = ARGV[15]
    redis.call('HSET', KEYS[1], 'vec', new_vec)
  end

  if ARGV[12] ~= '' then
    if ARGV[13] == '' then
      redis.call('HDEL', KEYS[6], ARGV[12])
    else
      local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
      local field = ARGV[12]
      if field == 'c' then field = 'c:' .. seq end
      redis.call('HSET', KEYS[6], field, seq .. '|' .. ARGV[13])
    end
  end

  local acc = redis.call('HGET', KEYS[1], 'recent')
  local acc_ok = acc and #acc == #vec
  if previous and ARGV[16] ~= '1' and tonumber(previous['w'] or 0) > 0 and acc_ok then
    -- the replaced rating's recent-interest contribution leaves the accumulator with it
    local acc_t = tonumber(redis.call('HGET', KEYS[1], 'recent_t'))
    local acc_w = tonumber(redis.call('HGET', KEYS[1], 'recent_w'))
    local gone = tonumber(previous['w']) * tonumber(ARGV[8]) ^ ((acc_t - tonumber(previous['at'])) / 86400000)
    local a = unpack_vec(acc, dim)
    for i = 1, dim do a[i] = a[i] - gone * t[i] end
    acc = pack_vec(a, dim)
    redis.call('HSET', KEYS[1], 'recent', acc, 'recent_w', string.format('%.17g', acc_w - gone))
  end

  if ARGV[7] ~= '' then
    -- recent-interest accumulator referenced to the latest event time T: Σ wᵢ·decay^((T−tᵢ)/day)·mᵢ
    local w, decay = tonumber(ARGV[7]), tonumber(ARGV[8])
    local out, total, ref = {}, w, event_time
    if acc_ok then
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

  if ARGV[10] ~= '' then redis.call('HSET', KEYS[3], ARGV[10], ARGV[11]) end
end

redis.call('HINCRBY', KEYS[1], ARGV[9], 1)
version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
if new_vec then snapshot(KEYS[9], version, event_time, new_vec) end
mark_applied(KEYS[2], ARGV[1], ARGV[2])
settle(ARGV[1])
if ARGV[18] == '1' then append_log(KEYS[4], ARGV[19], version, 21, #ARGV) end
return {1, version}
"""

# KEYS: turn stream; ARGV: cap ("<max entries> <max bytes>"), then field, value, … → the entry id
TURN_LUA = _LUA_PRELUDE + r"""
local max_entries, max_bytes = string.match(ARGV[1], '^(%d+) (%d+)$')
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', max_entries, '*', unpack(ARGV, 2))
trim_stream(KEYS[1], tonumber(max_bytes))
return id
"""

# KEYS: deadletter list, deadletter ids (zset: id → parked at), pending, pending due, deadletter count
# ARGV: id, entry JSON, cap, now ms. The list and the id index hold the newest ``cap`` entries; the
# counter only grows (the alert takes its rate). An id index from before it was trimmed (a plain
# set) is converted in place.
PARK_LUA = r"""
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('TYPE', KEYS[2])['ok'] == 'set' then
  local ids = redis.call('SMEMBERS', KEYS[2])
  redis.call('DEL', KEYS[2])
  for i = 1, #ids do redis.call('ZADD', KEYS[2], ARGV[4], ids[i]) end
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local cap = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, cap - 1)
local count = redis.call('ZCARD', KEYS[2])
if count > cap then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, count - cap - 1) end
redis.call('INCR', KEYS[5])
return 1
"""

# KEYS: deadletter list, deadletter ids, pending, pending due; ARGV: the entry as stored, event id,
# ledger entry, now ms. Takes one parked entry out (searching from the oldest end) and puts its event
# back in the pending ledger, atomically: 0 when the entry is gone (redriven by someone else).
REDRIVE_LUA = r"""
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
return 1
"""

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
    base: np.ndarray | None = None  # where the taste fold starts (the onboarding vector)


@dataclass(frozen=True)
class TasteSnapshot:
    """The taste vector as it stood at the end of one UTC day (``day`` = days since the epoch)."""

    day: int
    version: int
    at_ms: int  # event time of the event that left it so
    vector: np.ndarray = field(compare=False)

    @property
    def day_start_ms(self) -> int:
        return self.day * DAY_MS


def now_ms() -> int:
    return int(time.time() * 1000)


def redis_client(url: str) -> redis.Redis:
    """A client with bounded socket waits, so a dead Redis surfaces as a (transient) error, not a hang."""
    return redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=15)


class ProfileStore:
    def __init__(self, settings: StoreSettings, *, client: redis.Redis | None = None, prefix: str | None = None):
        self.settings = settings
        self.prefix = settings.key_prefix if prefix is None else prefix
        self.keys = ProfileKeys(self.prefix)
        self.client = client or redis_client(settings.redis_url)
        self._onboard = self.client.register_script(ONBOARD_LUA)
        self._apply = self.client.register_script(APPLY_LUA)
        self._park = self.client.register_script(PARK_LUA)
        self._redrive = self.client.register_script(REDRIVE_LUA)
        self._turn = self.client.register_script(TURN_LUA)

    # ---- keys (built by the contract's ProfileKeys) -------------------------------------------
    def profile_key(self, user_id: str) -> str:
        return self.keys.profile(user_id)

    def applied_key(self, user_id: str) -> str:
        return self.keys.applied(user_id)

    def ratings_key(self, user_id: str) -> str:
        return self.keys.ratings(user_id)

    def steps_key(self, user_id: str) -> str:
        return self.keys.steps(user_id)

    def watchlist_key(self, user_id: str) -> str:
        return self.keys.watchlist(user_id)

    def watched_key(self, user_id: str) -> str:
        return self.keys.watched(user_id)

    def taste_history_key(self, user_id: str) -> str:
        return self.keys.taste_history(user_id)

    def block_key(self, batch_id: str) -> str:
        return self.keys.batch_block(batch_id)

    @property
    def interactions_key(self) -> str:
        return self.keys.interactions

    @property
    def turns_key(self) -> str:
        return self.keys.turns

    @property
    def deadletter_key(self) -> str:
        return self.keys.deadletter

    @property
    def stats_key(self) -> str:
        return self.keys.stats

    @property
    def pending_key(self) -> str:
        return self.keys.pending

    @property
    def pending_due_key(self) -> str:
        return self.keys.pending_due

    # ---- writes ---------------------------------------------------------------------------
    def apply(self, interaction: Interaction, movies: MovieVectors, *, log: bool = True) -> ApplyResult:
        """Apply one interaction atomically; ``log=False`` when replaying into another key prefix.

        Raises ProfileNotFound (no profile for a non-onboarding event), InvalidUpdate, KeyError for a
        movie id the index does not hold.
        """
        script, keys, args = self._plan(interaction, movies, log)
        status, detail = script(keys=keys, args=args)
        if status == NEEDS_REFOLD:
            return self._refold(interaction, movies, log)
        return _result(interaction, status, detail)

    def apply_many(self, interactions: list[Interaction], movies: MovieVectors, *,
                   log: bool = True) -> list[ApplyResult | Exception]:
        """Apply interactions in order in pipelined round trips (each script is still atomic).

        An event that needs the fold recomputed (a re-rating) blocks its user's later events in the
        batch; they are applied one by one, in order, after it. Returns, per interaction, its result or
        the exception :meth:`apply` would have raised.
        """
        batch_id = uuid.uuid4().hex
        pipe = self.client.pipeline(transaction=False)
        planned: list[int] = []
        results: list[ApplyResult | Exception | None] = [None] * len(interactions)
        for position, interaction in enumerate(interactions):
            try:
                script, keys, args = self._plan(interaction, movies, log, batch_id=batch_id)
            except (KeyError, InvalidUpdate, ValueError) as error:
                results[position] = error
                continue
            script(keys=keys, args=args, client=pipe)
            planned.append(position)
        try:
            replies = pipe.execute()
        finally:
            self.client.delete(self.block_key(batch_id))
        deferred = []
        for position, (status, detail) in zip(planned, replies, strict=True):
            if status in (NEEDS_REFOLD, BLOCKED):
                deferred.append(position)
                continue
            try:
                results[position] = _result(interactions[position], status, detail)
            except (ProfileNotFound, InvalidUpdate) as error:
                results[position] = error
        for position in deferred:  # in batch order: a blocked user's events keep their order
            try:
                results[position] = self.apply(interactions[position], movies, log=log)
            except (ProfileNotFound, InvalidUpdate, KeyError) as error:
                results[position] = error
        return results

    def _plan(self, event: Interaction, movies: MovieVectors, log: bool, *, batch_id: str = ""):
        """(script, keys, args) that apply ``event`` (the fast path: its step appended to the fold)."""
        user = event.user_id
        batch = "1" if batch_id else "0"
        if event.kind == "onboard":
            movie_vectors = movies.stack(list(event.movie_ids)) if event.movie_ids else None
            weight = event.weight if event.weight is not None else 1.0
            vector = fuse_onboarding(movie_vectors, event.embedding, weight)
            return self._onboard, \
                [self.profile_key(user), self.applied_key(user), self.interactions_key, self.stats_key,
                 self.steps_key(user), self.block_key(batch_id), self.taste_history_key(user), self.pending_key,
                 self.pending_due_key], \
                [event.event_id, event.applied_at_ms, pack(vector), json.dumps(list(event.movie_ids)),
                 "1" if log else "0", self.settings.log_cap, batch, event.created_at_ms, *event.to_fields()]
        if event.kind == "message":
            if event.embedding is None:
                raise InvalidUpdate(f"message event {event.event_id} has no embedding")
            target = event.embedding
        else:
            target = movies.vector(event.movie_ids[0])
        spec, extra = event_spec(event)
        ops = resolve(spec, extra, target if event.kind != "message" else None)
        fields = self._rating_fields(event)
        step_field = f"r:{event.movie_ids[0]}" if event.kind == "rate" else ("c" if ops else "")
        return self._apply, self._apply_keys(user, batch_id), \
            [event.event_id, event.applied_at_ms, event.created_at_ms, pack(target),
             ";".join(f"{op} {coef!r}" for op, coef, _ in ops), b"".join(pack(v) for _, _, v in ops),
             _optional(event.weight), _optional(event.decay_per_day) or "1", COUNTERS[event.kind], *fields,
             step_field, step_record(event), "fast", "", "0", batch, "1" if log else "0",
             self.settings.log_cap, str(event.movie_ids[0]) if event.kind == "watch" else "", *event.to_fields()]

    def _apply_keys(self, user: str, batch_id: str) -> list[str]:
        return [self.profile_key(user), self.applied_key(user), self.ratings_key(user), self.interactions_key,
                self.stats_key, self.steps_key(user), self.block_key(batch_id), self.watched_key(user),
                self.taste_history_key(user), self.pending_key, self.pending_due_key]

    @staticmethod
    def _rating_fields(event: Interaction, recent_weight: float | None = None) -> tuple[str, str]:
        if event.kind != "rate":
            return "", ""
        weight = event.weight if recent_weight is None else recent_weight
        return str(event.movie_ids[0]), json.dumps(
            {"rating": event.rating, "at": event.created_at_ms, "event_id": event.event_id, "text": event.text,
             "w": weight or 0.0}, ensure_ascii=False)

    def _refold(self, event: Interaction, movies: MovieVectors, log: bool) -> ApplyResult:
        """A re-rating: recompute the fold without the movie's earlier step, then commit if nothing moved.

        Optimistic: the vector is computed from a consistent snapshot and written by the script only if
        the profile's version is still the snapshot's (else read again). Rating a movie exactly as
        before (same stars and text) keeps its step where it is: the vector does not change.
        """
        user, movie = event.user_id, event.movie_ids[0]
        field = f"r:{movie}"
        target = movies.vector(movie)
        for _ in range(MAX_REFOLD_ATTEMPTS):
            pipe = self.client.pipeline(transaction=True)
            pipe.hmget(self.profile_key(user), ["version", "base", "vec"])
            pipe.hgetall(self.steps_key(user))
            pipe.hget(self.ratings_key(user), str(movie))
            (version, base, vec), raw_steps, previous_json = pipe.execute()
            if vec is None:
                raise ProfileNotFound(user)
            previous = raw_steps.get(field.encode())
            same = previous is not None and ordered_steps({field.encode(): previous})[0].same_review(event)
            if same:
                recomputed, record, keep_recent = b"", b"", "1"
                step_field = ""
                weight = json.loads(previous_json).get("w") if previous_json else event.weight
                fields = self._rating_fields(event, weight)
                recent = ""  # the earlier, identical rating's recent interest stays as it was
            else:
                steps = [step.ops(movies) for step in ordered_steps(raw_steps, without=field)]
                spec, extra = event_spec(event)
                new_ops = resolve(spec, extra, target)
                u = fold(unpack(base if base is not None else vec), steps)
                recomputed = pack(apply_ops(u, new_ops) if new_ops else u)
                record, keep_recent, step_field = step_record(event), "0", field
                fields = self._rating_fields(event)
                recent = _optional(event.weight)
            status, detail = self._apply(keys=self._apply_keys(user, ""), args=[
                event.event_id, event.applied_at_ms, event.created_at_ms, pack(target), "", b"", recent,
                _optional(event.decay_per_day) or "1", COUNTERS[event.kind], *fields, step_field, record,
                int(version or 0), recomputed, keep_recent, "0", "1" if log else "0", self.settings.log_cap, "",
                *event.to_fields()])
            if status != STALE:
                return _result(event, status, detail)
        raise InvalidUpdate(f"event {event.event_id}: the profile kept changing during {MAX_REFOLD_ATTEMPTS} "
                            "recompute attempts")

    def park(self, dead_id: str, entry: dict) -> bool:
        """Record a rejected event in the dead-letter list once; False when it was already parked."""
        keys = self.keys
        return bool(self._park(keys=[keys.deadletter, keys.deadletter_ids, keys.pending, keys.pending_due,
                                     keys.deadletter_count],
                               args=[dead_id, json.dumps(entry, ensure_ascii=False, default=str),
                                     self.settings.deadletter_maxlen, now_ms()]))

    def take_for_redrive(self, raw_entry: bytes | str, event_id: str, ledger_value: str) -> bool:
        """Move one parked entry (as stored) back into the pending ledger; False when it is gone."""
        keys = self.keys
        return bool(self._redrive(keys=[keys.deadletter, keys.deadletter_ids, keys.pending, keys.pending_due],
                                  args=[raw_entry, event_id, ledger_value, now_ms()]))

    def deadletters_parked(self) -> int:
        """How many events were ever parked (the counter the dead-letter alert takes the rate of)."""
        return int(self.client.get(self.keys.deadletter_count) or 0)

    def log_turn(self, fields: dict[str, str]) -> str:
        flat = [item for pair in fields.items() for item in pair]
        entry_id = self._turn(keys=[self.turns_key], args=[self.settings.turns_cap, *flat])
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

    def taste_history(self, user_id: str) -> list[TasteSnapshot]:
        """The taste vector's daily snapshots, oldest first (empty for a user without any)."""
        rows = self.client.zrange(self.taste_history_key(user_id), 0, -1, withscores=True)
        out = []
        for member, day in rows:
            version, at, vec = member.split(b" ", 2)
            out.append(TasteSnapshot(day=int(day), version=int(version), at_ms=int(at), vector=unpack(vec)))
        return out

    def watched_ids(self, user_id: str) -> list[int]:
        """Movies marked watched (by watch interactions), newest first."""
        return [int(m) for m in self.client.zrevrange(self.watched_key(user_id), 0, -1)]

    def deadletters(self, limit: int = 100) -> list[dict]:
        return [json.loads(item) for item in self.client.lrange(self.deadletter_key, 0, limit - 1)]

    def duplicates_seen(self) -> int:
        return int(self.client.hget(self.stats_key, "duplicates") or 0)

    def user_ids(self) -> list[str]:
        marker = self.keys.profile("")
        return sorted(key.decode()[len(marker):]
                      for key in self.client.scan_iter(match=self.keys.profile_scan, count=1000))

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
    if status < 0:
        raise InvalidUpdate(f"event {event.event_id}: unexpected script status {status}")
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
        base=unpack(raw[b"base"]) if b"base" in raw else None,
    )
