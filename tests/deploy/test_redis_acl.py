"""Redis ACL users per tier (issue #15 item 8), proven with real processes.

The ACL file comes from the script the redis pod's init container runs (bases/redis/render-acl.sh),
fed exactly what the dev overlay feeds it (its generated Secret, the worker ConfigMap's prefix and
queue); redis-server starts from the overlay's own redis.conf, only port, bind, dir and the aclfile's
path replaced. Each tier connects with the REDIS_URL its Deployment builds from the Secret (the host
replaced by this machine's). Then: a real Celery worker (user ``profile``) applies and dead-letters
what a real publisher (user ``gateway``) sends, the worker's own liveness probe passes, and no command
of any of them was refused (ACL LOG stays empty); every key the code builds is covered by its user's
patterns and by no other's; outside them, and for @dangerous commands, each user gets NOPERM; a
connection without a user's password runs nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from deploy_helpers import (
    K8S,
    REPO,
    SecretRef,
    container_env,
    main_container,
    named,
    pod_spec,
    render,
    resolved_env,
    secret_value,
)
from test_deploy_worker_probe import local_env, run_probe, tiny_index

from movierec_core.devstack import Managed, free_port, spawn
from movierec_profile_contract import ProfileKeys

SCRIPT = K8S / "bases" / "redis" / "render-acl.sh"
POD_AUTH_DIR = "/run/redis-auth"
WORKER_START_S = 90


def _init_container_env(docs: list[dict]) -> dict[str, str]:
    """What the kubelet gives the redis pod's init container: Secret keys and ConfigMap keys resolved."""
    (init,) = pod_spec(named(docs, "StatefulSet", "redis"))["initContainers"]
    env = {}
    for entry in init["env"]:
        source = entry["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secret_value(docs, SecretRef(ref["name"], ref["key"], ref.get("optional", False)))
            assert value is not None or ref.get("optional"), f"the dev Secret has no {ref['key']}"
        else:
            ref = source["configMapKeyRef"]
            value = named(docs, "ConfigMap", ref["name"])["data"][ref["key"]]
        if value is not None:
            env[entry["name"]] = value
    return env


def run_script(out_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    out_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["sh", str(SCRIPT), str(out_dir)], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30)


def _answers(port: int) -> bool:
    """redis-server is up: a PING without AUTH gets NOAUTH (the default user is off)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"-NOAUTH", b"+PONG"))
    except OSError:
        return False


@dataclass
class AclRedis:
    port: int
    auth_dir: Path
    env: dict[str, str]  # the init container's environment (passwords, prefix, queue)
    proc: Managed
    docs: list[dict]

    def url(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def pod_url(self, process: str) -> str:
        """The REDIS_URL the Deployment builds ($(REDIS_PASSWORD) from the Secret), pointed at this server."""
        url = resolved_env(self.docs, process)["REDIS_URL"]
        assert "$(" not in url and "@redis:6379/0" in url, url
        return url.replace("@redis:6379/", f"@127.0.0.1:{self.port}/")

    def client(self, process: str) -> redis.Redis:
        return redis.Redis.from_url(self.pod_url(process), socket_timeout=5)

    @property
    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(self.url("admin", self.env["REDIS_ADMIN_PASSWORD"]), socket_timeout=5)

    @property
    def monitor(self) -> redis.Redis:
        return redis.Redis.from_url(self.url("monitor", (self.auth_dir / "monitor.password").read_text()),
                                    socket_timeout=5)

    def dryrun(self, user: str, *command: str) -> bool:
        """ACL DRYRUN: would ``user`` be allowed to run ``command``? (nothing is executed)"""
        return self.admin.execute_command("ACL", "DRYRUN", user, *command) in (b"OK", "OK")

    def refusals(self) -> list[dict]:
        return [{k: entry.get(k) for k in ("username", "reason", "object", "context")}
                for entry in self.admin.acl_log()]


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory) -> Iterator[AclRedis]:
    if shutil.which("redis-server") is None or shutil.which("sha256sum") is None:
        pytest.fail("redis-server and sha256sum are part of the machine image (apt-get install redis-server coreutils)")
    docs = render("overlays/dev")
    root = tmp_path_factory.mktemp("acl-redis")
    env = _init_container_env(docs)
    done = run_script(root / "auth", env)
    assert done.returncode == 0, done.stderr
    conf = named(docs, "ConfigMap", next(v["configMap"]["name"] for v in pod_spec(named(docs, "StatefulSet", "redis"))
                                         ["volumes"] if v["name"] == "config"))["data"]["redis.conf"]
    assert f"aclfile {POD_AUTH_DIR}/users.acl" in conf and "protected-mode yes" in conf
    (root / "data").mkdir()
    # The pod's paths become this machine's (redis reads `dir` as it parses, so it is replaced in the file).
    local = re.sub(r"^dir /data$", f"dir {root / 'data'}", conf, count=1, flags=re.M)
    (root / "redis.conf").write_text(local.replace(f"aclfile {POD_AUTH_DIR}/", f"aclfile {root / 'auth'}/"))
    port = free_port()
    proc = spawn("acl-redis", ["redis-server", str(root / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1",
                               "--daemonize", "no"], {"PATH": "/usr/bin:/bin"}, root / "logs")
    deadline = time.monotonic() + 10
    while not _answers(port):
        assert proc.alive() and time.monotonic() < deadline, f"redis-server did not start:\n{proc.log_tail()}"
        time.sleep(0.05)
    server = AclRedis(port, root / "auth", env, proc, docs)
    try:
        yield server
    finally:
        proc.stop()


@pytest.fixture
def acl(acl_redis: AclRedis) -> AclRedis:
    acl_redis.admin.flushdb()
    acl_redis.admin.acl_log_reset()
    return acl_redis


# ---- no password, no access -------------------------------------------------------------------------

def test_a_connection_without_its_users_password_runs_nothing(acl):
    with socket.create_connection(("127.0.0.1", acl.port), timeout=2) as sock:
        sock.sendall(b"PING\r\nGET movierec:gw:user:alice\r\n")
        time.sleep(0.2)
        replies = sock.recv(256)
    assert replies.count(b"-NOAUTH") == 2, replies
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl.port).get("movierec:gw:user:alice")
    gateway, profile = acl.env["REDIS_GATEWAY_PASSWORD"], acl.env["REDIS_PROFILE_PASSWORD"]
    for user, password in (("default", ""), ("default", gateway), ("gateway", profile), ("profile", gateway),
                           ("monitor", acl.env["REDIS_ADMIN_PASSWORD"])):
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(acl.url(user, password)).ping()
    assert acl.admin.config_get("protected-mode") == {"protected-mode": "yes"}
    # The ACL file holds no password, only SHA-256 digests.
    text = (acl.auth_dir / "users.acl").read_text()
    assert not any(acl.env[name] in text for name in acl.env if name.endswith("_PASSWORD"))


# ---- the event bus under the ACL users --------------------------------------------------------------

def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_the_worker_applies_what_the_gateway_publishes_and_answers_its_liveness_probe(acl, tmp_path):
    from gateway_service.events import ReviewPublisher
    from profile_service.domain import Profiles
    from profile_service.settings import StoreSettings, TasteConstants
    from profile_service.store import ProfileStore
    from profile_service.vectors import MovieVectors

    artifacts = tmp_path / "artifacts"
    tiny_index(artifacts)
    worker_url, gateway_url = acl.pod_url("worker"), acl.pod_url("gateway")
    assert worker_url.startswith("redis://profile:") and gateway_url.startswith("redis://gateway:")
    assert acl.pod_url("profile") == worker_url
    # The profile tier's own code onboards, as the profile server does.
    store = ProfileStore(StoreSettings(acl.pod_url("profile")))
    profiles = Profiles(store, MovieVectors.load(artifacts / "index" / "current"), TasteConstants(), embedder=None)
    profiles.onboard("u1", [1, 2], [], "")

    container = main_container(named(acl.docs, "Deployment", "worker"))
    env = local_env(worker_url, artifacts)
    # Sweeper and kombu's unacked restore every second, so both run (and would be refused) within the test.
    env.update(WORKER_CONCURRENCY="1", PROFILE_PENDING_SWEEP_S="1", CELERY_RESTORE_INTERVAL_S="1")
    probe = container["livenessProbe"]["exec"]["command"]
    worker = spawn("acl-worker", [sys.executable, "-m", *container["command"][2:]], env, tmp_path / "logs")
    try:
        deadline = time.monotonic() + WORKER_START_S
        while (result := run_probe(probe, env, container["livenessProbe"]["timeoutSeconds"])).returncode != 0:
            assert worker.alive(), f"the worker exited:\n{worker.log_tail()}"
            assert time.monotonic() < deadline, f"no passing probe:\n{result.stderr}\n{worker.log_tail()}"

        # No review text: text would be embedded by the embedding tier, which this test does not run.
        async def publish() -> list[str]:
            publisher = ReviewPublisher(gateway_url)
            try:
                return [await publisher.publish_review(user_id="u1", movie_id=3, rating=5.0),
                        await publisher.publish_review(user_id="u1", movie_id=424242, rating=4.0)]
            finally:
                publisher.close()

        applied, unknown = asyncio.run(publish())
        try:
            _wait(lambda: store.load("u1").version == 2 and len(store.deadletters()) == 1, 30,
                  "the review applied and the unknown movie dead-lettered")
        except AssertionError as error:
            raise AssertionError(f"{error}: version {store.load('u1').version}, dead letters {store.deadletters()}, "
                                 f"refused {acl.refusals()}\n{worker.log_tail(40)}") from None
        assert store.load("u1").ratings[3]["event_id"] == applied
        assert [entry["event"]["event_id"] for entry in store.deadletters()] == [unknown]
        _wait(lambda: acl.admin.hlen(store.pending_key) == 0, 30, "the pending ledger to be settled")
        time.sleep(2.5)  # two more sweeps and unacked restores
        assert worker.alive(), worker.log_tail()
        assert "NoPermission" not in worker.log_tail(200) and "NOPERM" not in worker.log_tail(200)
        assert acl.refusals() == [], "a command of the worker, the publisher or the probe was refused"
    finally:
        worker.stop()
    after = run_probe(probe, env, container["livenessProbe"]["timeoutSeconds"])
    assert after.returncode == 1, "the probe must fail without a worker (it is not just a Redis ping)"


# ---- what each user may touch -----------------------------------------------------------------------

def _gateway_key_templates() -> dict[str, str]:
    """Every module-level Redis key constant of the gateway (``NAME = "movierec:…"``), by name."""
    found = {}
    for path in sorted((REPO / "services" / "gateway" / "gateway_service").rglob("*.py")):
        for name, value in re.findall(r'^([A-Z][A-Z0-9_]*) = "(movierec:[^"]*)"', path.read_text(), re.M):
            found[f"{path.stem}.{name}"] = re.sub(r"\{[^}]*\}", "x", value)
    return found


def _profile_keys(keys: ProfileKeys) -> set[str]:
    """Every key the profile tier's contract builds (per-user ones for a sample user), and its replay target's."""
    built = set()
    for name, member in inspect.getmembers(type(keys)):
        if name.startswith("_") or name in ("names", "from_env", "replay"):
            continue
        if isinstance(member, property):
            built.add(getattr(keys, name))
        elif inspect.isfunction(member) and len(inspect.signature(member).parameters) == 2:
            built.add(getattr(keys, name)("u1"))
    return built


def test_every_key_the_code_builds_is_its_users_and_no_one_elses(acl):
    keys = ProfileKeys(acl.env["PROFILE_KEY_PREFIX"])
    assert keys.prefix == container_env(acl.docs, "profile")["PROFILE_KEY_PREFIX"]
    profile_keys = _profile_keys(keys) | _profile_keys(keys.replay())
    assert len(profile_keys) >= 2 * 12, sorted(profile_keys)
    ledger = {keys.pending, keys.pending_due}
    gateway_keys = _gateway_key_templates()
    assert len(gateway_keys) >= 6 and "auth.USER_KEY" in gateway_keys, gateway_keys
    # What the gateway writes outside its own movierec:gw: space is the profile tier's: the turn stream.
    shared = {key for key in gateway_keys.values() if not key.startswith("movierec:gw:")}
    assert shared <= profile_keys, f"gateway keys outside movierec:gw: that the profile tier does not own: {shared}"
    for key in profile_keys:
        assert acl.dryrun("profile", "EXISTS", key), f"profile may not touch its own key {key}"
        assert acl.dryrun("gateway", "EXISTS", key) == (key in (ledger | shared)), f"gateway and {key}"
    for where, key in gateway_keys.items():
        assert acl.dryrun("gateway", "SET", key, "v"), f"gateway may not write {where} ({key})"
        if key not in shared:  # accounts (password hashes), sessions, rate limits, idempotency keys
            assert not acl.dryrun("profile", "GET", key), f"profile may read the gateway's {where} ({key})"
    queue = acl.env["PROFILE_EVENTS_QUEUE"]
    assert queue == container_env(acl.docs, "gateway")["PROFILE_EVENTS_QUEUE"]
    for user in ("gateway", "profile"):
        assert acl.dryrun(user, "LPUSH", queue, "m") and acl.dryrun(user, "SADD", f"_kombu.binding.{queue}", "b")
    assert not acl.dryrun("gateway", "HGETALL", "unacked") and not acl.dryrun("gateway", "LPUSH", "other-queue", "m")


def test_the_exporter_and_the_readiness_probe_work_as_the_monitor_user(acl, tmp_path):
    redis_pod = pod_spec(named(acl.docs, "StatefulSet", "redis"))
    containers = {c["name"]: c for c in redis_pod["containers"]}
    watched = [item.split("=", 1)[1] for arg in containers["exporter"]["args"]
               if arg.startswith("--check-single-keys=") for item in arg.split("=", 1)[1].split(",")]
    assert acl.env["PROFILE_EVENTS_QUEUE"] in watched
    for key in watched:  # what redis_exporter v1.66 runs per single key (exporter/keys.go)
        for command in (("TYPE", key), ("LLEN", key), ("HLEN", key), ("GET", key), ("STRLEN", key)):
            assert acl.dryrun("monitor", *command), f"monitor: {command}"
        assert not acl.dryrun("monitor", "DEL", key)
    for command in (("INFO", "ALL"), ("CONFIG", "GET", "*"), ("SLOWLOG", "GET", "1"), ("LATENCY", "LATEST"),
                    ("CLIENT", "SETNAME", "redis_exporter"), ("PING",), ("SELECT", "0")):
        assert acl.dryrun("monitor", *command), f"monitor: {command}"
    assert "redis_version" in acl.monitor.info("server")
    assert not acl.dryrun("monitor", "GET", "movierec:gw:user:alice") and not acl.dryrun("monitor", "CONFIG", "SET",
                                                                                         "maxmemory", "1")
    exporter_file = (acl.auth_dir / "exporter-passwords.json").read_text()
    addr = next(a.split("=", 1)[1] for a in containers["exporter"]["args"] if a.startswith("--redis.addr="))
    assert exporter_file.strip() == f'{{"{addr}": "{(acl.auth_dir / "monitor.password").read_text()}"}}'
    # The redis container's readiness probe, run for real (the pod's auth path and port replaced).
    command = containers["redis"]["readinessProbe"]["exec"]["command"]

    def probe(auth_dir: Path) -> int:
        script = command[2].replace(POD_AUTH_DIR, str(auth_dir)).replace("redis-cli ", f"redis-cli -p {acl.port} ")
        return subprocess.run([command[0], command[1], script], capture_output=True, timeout=10).returncode

    assert probe(acl.auth_dir) == 0
    (tmp_path / "monitor.password").write_text("not-the-password")
    assert probe(tmp_path) == 1, "a refused AUTH must fail the probe (redis-cli itself exits 0 on NOAUTH)"


NOPERM = (redis.exceptions.NoPermissionError, redis.exceptions.ResponseError)


@pytest.mark.parametrize(("process", "command"), [
    ("gateway", ("GET", "movierec:profile:u1")),  # a taste vector
    ("gateway", ("HSET", "movierec:applied:u1", "e", "1")),
    ("gateway", ("LRANGE", "movierec:deadletter", "0", "-1")),
    ("gateway", ("XADD", "movierec:turns", "*", "turn", "x")),  # the turn log is the profile tier's (LogTurn)
    ("gateway", ("HGETALL", "unacked")),  # messages delivered to the workers
    ("gateway", ("SCAN", "0")),  # would list key names beyond its patterns
    ("gateway", ("PUBLISH", "/0.celery.pidbox", "x")),  # remote control of the workers
    ("gateway", ("FLUSHALL",)),
    ("gateway", ("KEYS", "*")),
    ("gateway", ("CONFIG", "SET", "appendonly", "no")),
    ("gateway", ("ACL", "LIST")),
    ("profile", ("GET", "movierec:gw:user:alice")),  # a password hash
    ("profile", ("SET", "movierec:gw:ratelimit:x", "0")),
    ("profile", ("FLUSHDB",)),
    ("profile", ("CONFIG", "GET", "*")),
    ("profile", ("CLIENT", "LIST")),
    ("profile", ("SHUTDOWN",)),
    ("worker", ("SWAPDB", "0", "1")),
    ("worker", ("BGREWRITEAOF",)),
])
def test_outside_its_keys_and_for_dangerous_commands_a_user_gets_noperm(acl, process, command):
    acl.admin.set("movierec:gw:user:alice", "x")
    with pytest.raises(NOPERM, match=r"(?i)no permissions|NOPERM"):
        acl.client(process).execute_command(*command)
    assert acl.refusals()[0]["username"] == ("gateway" if process == "gateway" else "profile")
    assert acl.admin.dbsize() == 1, "nothing was flushed or swapped"


def test_the_gateways_own_redis_code_works_as_its_user(acl):
    """Accounts, per-user budgets and the chat turn stream: the gateway's code, over its pod URL."""
    import redis.asyncio as aioredis

    from gateway_service.auth import PasswordHashing, RateLimiter, UserStore
    from gateway_service.errors import ApiError

    async def run() -> None:
        client = aioredis.Redis.from_url(acl.pod_url("gateway"))
        hashing = PasswordHashing(memory_kib=1024, time_cost=1, concurrency=1)
        try:
            users = UserStore(client, hashing)
            created = await users.create("Alice", "long enough password")
            assert created and await users.create("alice", "another one") is None
            assert (await users.authenticate("alice", "long enough password")).user_id == created.user_id
            assert (await users.get_by_id(created.user_id)).username == "alice"
            limiter = RateLimiter(client, limit=2, window_s=60)
            await limiter.hit_subject("reviews", created.user_id)
            await limiter.hit_subject("reviews", created.user_id)
            with pytest.raises(ApiError):
                await limiter.hit_subject("reviews", created.user_id)
            assert await client.ping()
        finally:
            hashing.close()
            await client.aclose()

    asyncio.run(run())
    assert acl.refusals() == []


# ---- the script's refusals ------------------------------------------------------------------------

GOOD = "a" * 40


@pytest.mark.parametrize(("change", "message"), [
    ({"REDIS_GATEWAY_PASSWORD": ""}, "REDIS_GATEWAY_PASSWORD is empty: set the Secret key redis-gateway-password"),
    ({"REDIS_PROFILE_PASSWORD": "short"}, "redis-profile-password) must be at least 32 characters"),
    ({"REDIS_GATEWAY_PASSWORD": "a/b+c=" * 8}, "may contain only A-Z a-z 0-9 . _ ~ -"),
    ({"REDIS_GATEWAY_PASSWORD": "x" * 40 + "@redis"}, "may contain only A-Z a-z 0-9 . _ ~ -"),
    ({"REDIS_PROFILE_PASSWORD": GOOD}, "must differ"),
    ({"REDIS_ADMIN_PASSWORD": "tiny"}, "redis-admin-password) must be at least 32 characters"),
    ({"PROFILE_KEY_PREFIX": "movierec:*"}, "PROFILE_KEY_PREFIX='movierec:*' may contain only"),
    ({"PROFILE_KEY_PREFIX": "movierec:gw:x:"}, "lies inside the gateway's own keys"),
    ({"PROFILE_EVENTS_QUEUE": "a queue"}, "PROFILE_EVENTS_QUEUE='a queue' may contain only"),
])
def test_the_script_refuses_bad_input_with_one_line(tmp_path, change, message):
    env = {"REDIS_GATEWAY_PASSWORD": GOOD, "REDIS_PROFILE_PASSWORD": "b" * 40, "PROFILE_KEY_PREFIX": "movierec:",
           "PROFILE_EVENTS_QUEUE": "profile-events", **change}
    done = run_script(tmp_path, env)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("render-acl: "), done.stderr
    assert message in done.stderr, done.stderr
    assert not list(tmp_path.iterdir()), "nothing is written when the input is refused"


def test_without_an_admin_password_there_is_no_admin_user(tmp_path):
    env = {"REDIS_GATEWAY_PASSWORD": GOOD, "REDIS_PROFILE_PASSWORD": "b" * 40, "PROFILE_KEY_PREFIX": "movierec:",
           "PROFILE_EVENTS_QUEUE": "profile-events"}
    assert run_script(tmp_path, env).returncode == 0
    users = [line.split()[1] for line in (tmp_path / "users.acl").read_text().splitlines()]
    assert users == ["default", "gateway", "profile", "monitor"]
    assert (tmp_path / "users.acl").read_text().splitlines()[0].startswith("user default off ")
    first = (tmp_path / "monitor.password").read_text()
    assert run_script(tmp_path, env).returncode == 0
    assert len(first) == 64 and (tmp_path / "monitor.password").read_text() != first, "a fresh password per start"
