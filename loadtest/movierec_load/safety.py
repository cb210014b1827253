"""What keeps a load test harmless: only this machine's addresses, and hard limits on every run.

A load generator pointed at the wrong address is a denial-of-service tool, so every target is
checked before the first request: its host must be ``localhost``, an address in 127.0.0.0/8 or
``::1`` (host names other than ``localhost`` are refused rather than resolved, because a name can
resolve anywhere). The limits bound each run by time *and* by request count, so the generator
stops by itself even if a clock or a server misbehaves.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
LOOPBACK_V6 = ipaddress.ip_address("::1")

# Hard ceilings: a plan asking for more is refused before anything is sent.
MAX_CONCURRENCY = 256
MAX_RATE_RPS = 5000.0
MAX_RUN_DURATION_S = 120.0
MAX_REQUESTS_PER_RUN = 500_000
MAX_TOTAL_S = 1800.0


class UnsafeTargetError(ValueError):
    """A target that is not on this machine, or that cannot be checked."""


class PlanLimitError(ValueError):
    """A plan that would exceed the generator's hard limits."""


def target_host(target: str) -> str:
    """The host of a gRPC target (``host:port``, ``[::1]:port``, ``dns:///host:port``, ``ipv4:host:port``)
    or of an HTTP URL (``http://host:port``)."""
    target = target.strip()
    if not target:
        raise UnsafeTargetError("empty target address")
    lowered = target.lower()
    if lowered.startswith("unix:") or lowered.startswith("unix-abstract:"):
        raise UnsafeTargetError(f"unix socket targets are not supported: {target!r}")
    if lowered.startswith(("ipv4:", "ipv6:")):
        target = target.split(":", 1)[1]
    elif lowered.startswith("dns:"):
        target = target[4:].lstrip("/")
        if "/" in target:  # dns://authority/host:port: the authority is a DNS server, the host follows
            target = target.split("/", 1)[1]
    if "://" in target:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https"):
            raise UnsafeTargetError(f"unsupported scheme {parts.scheme!r} in {target!r}")
        if not parts.hostname:
            raise UnsafeTargetError(f"no host in {target!r}")
        return parts.hostname
    return _host_of_host_port(target)


def _host_of_host_port(target: str) -> str:
    if target.startswith("["):
        host, bracket, rest = target[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise UnsafeTargetError(f"malformed IPv6 target {target!r} (expected [addr]:port)")
        return host
    if target.count(":") > 1:
        raise UnsafeTargetError(f"ambiguous target {target!r}: write IPv6 addresses as [addr]:port")
    host, _, port = target.partition(":")
    if port and not port.isdigit():
        raise UnsafeTargetError(f"bad port in {target!r}")
    return host


def is_local_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return address in LOOPBACK_V4
    return address == LOOPBACK_V6


def require_local_target(name: str, target: str) -> str:
    """Return ``target`` unchanged when it is on this machine; raise UnsafeTargetError otherwise."""
    host = target_host(target)
    if not is_local_host(host):
        raise UnsafeTargetError(
            f"refusing to load-test {name} at {target!r}: host {host!r} is not on this machine "
            "(only localhost, 127.0.0.0/8 and ::1 are allowed)")
    return target


def check_run_limits(*, duration_s: float, concurrency: int | None = None, rate_rps: float | None = None,
                     max_requests: int) -> None:
    """Refuse a run that would not be bounded by the hard ceilings above."""
    if not 0 < duration_s <= MAX_RUN_DURATION_S:
        raise PlanLimitError(f"run duration must be in (0, {MAX_RUN_DURATION_S:.0f}] s, got {duration_s}")
    if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
        raise PlanLimitError(f"concurrency must be in [1, {MAX_CONCURRENCY}], got {concurrency}")
    if rate_rps is not None and not 0 < rate_rps <= MAX_RATE_RPS:
        raise PlanLimitError(f"request rate must be in (0, {MAX_RATE_RPS:.0f}] rps, got {rate_rps}")
    if not 1 <= max_requests <= MAX_REQUESTS_PER_RUN:
        raise PlanLimitError(f"max requests per run must be in [1, {MAX_REQUESTS_PER_RUN}], got {max_requests}")
