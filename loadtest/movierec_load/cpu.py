"""CPU time of the server processes during a run (Linux /proc), and a description of the machine.

Each process that ``devstack`` starts leads its own process group, so the CPU of a tier includes
its children (the Celery worker's prefork pool). CPU milliseconds per request divide out the
noise of a shared machine better than wall-clock throughput does, which makes them the most
portable capacity figure: a pod with one core serves at most 1000 / (CPU ms per request) QPS.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds so far of every live process in each process group."""
    totals = dict.fromkeys(groups, 0.0)
    by_pgid = {pgid: name for name, pgid in groups.items()}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        name = by_pgid.get(int(fields[2]))  # field 5 of /proc/pid/stat: the process group id
        if name is not None:
            totals[name] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return totals


def process_start_time(pid: int) -> int | None:
    fields = _stat_fields(str(pid))
    return int(fields[19]) if fields else None


@dataclass
class Meter:
    """CPU and load around one run: server process groups, this client, and the machine's load average."""

    groups: dict[str, int]
    started: float = field(default_factory=time.perf_counter)
    client_cpu: float = field(default_factory=time.process_time)
    load_before: float = field(default_factory=lambda: round(os.getloadavg()[0], 2))
    server_cpu: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server_cpu = group_cpu_seconds(self.groups) if self.groups else {}

    def finish(self) -> dict:
        wall = time.perf_counter() - self.started
        after = group_cpu_seconds(self.groups) if self.groups else {}
        used = {name: round(max(0.0, after[name] - self.server_cpu.get(name, 0.0)), 3) for name in after}
        return {"cpu_s": used, "wall_s": round(wall, 3),
                "client_cpu_cores": round((time.process_time() - self.client_cpu) / wall, 3) if wall else 0.0,
                "load_avg_1m": [self.load_before, round(os.getloadavg()[0], 2)]}


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem_gb = round(kb / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    import grpc

    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": mem_gb, "platform": platform.platform(),
            "python": platform.python_version(), "grpcio": grpc.__version__,
            "load_avg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()]}
