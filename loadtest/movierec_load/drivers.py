"""The two ways of offering load: a closed loop at fixed concurrency and an open loop at a fixed rate.

* **Closed loop**: ``concurrency`` workers each send a request, wait for its answer, and send the
  next one. It measures the throughput a pool of callers gets; its latency is the service time.
* **Open loop**: requests are due at a constant rate whether or not earlier ones have answered
  (the arrival pattern of many independent users). Latency is measured from each request's
  *intended* send time, not from when the client managed to send it, so a stall on either side
  shows up in the figures instead of silently thinning the load ("coordinated omission").
  Requests that were due but could not be sent before the run ended count as ``CLIENT_BACKLOG``
  errors.

Both stop by themselves at the first of: the run's duration, its request cap, and a hard stop a
grace period after the duration (each call also carries its own deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from movierec_load.stats import OpStats

# One call of a single-operation scenario: returns "OK" or a status code, and never raises.
Call = Callable[[int], Awaitable[str]]
# One iteration of a multi-step scenario (e.g. a user journey) that records its own timings.
Body = Callable[[int], Awaitable[None]]

CLIENT_BACKLOG = "CLIENT_BACKLOG"
HARD_STOP = "HARD_STOP"


@dataclass
class RunTiming:
    elapsed_s: float
    hard_stopped: bool = False


def safe(call: Call) -> Call:
    """A call whose unexpected exceptions become an error code (a client bug must not end the run)."""

    async def wrapped(i: int) -> str:
        try:
            return await call(i)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return f"CLIENT_{type(error).__name__}"

    return wrapped


def timed(call: Call, stats: OpStats) -> Body:
    """A loop body that times ``call`` and records its status in ``stats``."""
    call = safe(call)

    async def body(i: int) -> None:
        started = time.perf_counter()
        code = await call(i)
        stats.record(time.perf_counter() - started, code)

    return body


async def closed_loop(body: Body, *, concurrency: int, duration_s: float, max_iterations: int,
                      grace_s: float) -> RunTiming:
    """``concurrency`` workers run ``body`` back to back until ``duration_s`` or ``max_iterations``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    end = started + duration_s
    numbers = itertools.count()

    async def worker() -> None:
        while loop.time() < end:
            number = next(numbers)
            if number >= max_iterations:
                return
            await body(number)

    hard_stopped = False
    try:
        async with asyncio.timeout(duration_s + grace_s):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    except TimeoutError:
        hard_stopped = True
    return RunTiming(loop.time() - started, hard_stopped)


async def open_loop(call: Call, stats: OpStats, *, rate_rps: float, duration_s: float, max_requests: int,
                    max_in_flight: int, grace_s: float) -> RunTiming:
    """Send ``rate_rps`` requests per second on a fixed schedule for ``duration_s``.

    At most ``max_in_flight`` requests are outstanding; when that many are, the scheduler waits,
    and the wait counts in the latency of the requests it delays (measured from the schedule).
    """
    loop = asyncio.get_running_loop()
    call = safe(call)
    total = min(round(rate_rps * duration_s), max_requests)
    slots = asyncio.Semaphore(max_in_flight)
    in_flight: set[asyncio.Task] = set()
    start = loop.time() + 0.005
    stop_sending = start + duration_s

    async def one(number: int, intended: float) -> None:
        try:
            code = await call(number)
        finally:
            slots.release()
        stats.record(loop.time() - intended, code)

    sent = 0
    for number in range(total):
        intended = start + number / rate_rps
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        if loop.time() > stop_sending:
            slots.release()
            break
        stats.send_lags_s.append(max(0.0, loop.time() - intended))
        task = asyncio.create_task(one(number, intended))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        sent += 1
    if total > sent:
        stats.codes[CLIENT_BACKLOG] += total - sent
    hard_stopped = False
    if in_flight:
        _done, pending = await asyncio.wait(set(in_flight), timeout=grace_s)
        if pending:
            hard_stopped = True
            stats.codes[HARD_STOP] += len(pending)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
    return RunTiming(loop.time() - start, hard_stopped)
