"""The manifests configure exactly what the code reads, with values the code accepts.

The code side is the fields of each process's settings classes (``model_fields`` of its
``movierec_core.config.EnvSettings`` subclasses, their env names and aliases) plus the few variables read
outside them, found by a static scan (tests/deploy/codescan.py) of the modules the process imports; the
manifest side is the rendered overlay: the container's ConfigMaps plus its env entries.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from deploy_helpers import (
    GATEWAY_PORT,
    GRPC_TIERS,
    OVERLAYS,
    PROCESSES,
    REPO,
    UNSET_ON_PURPOSE,
    SecretRef,
    closure,
    container_env,
    main_container,
    named,
    of_kind,
    reads,
    referenced_names,
    render,
    resolved_env,
    secret_value,
    settings_classes,
    where,
)


def test_the_scan_follows_each_process_into_its_settings():
    for process, module in PROCESSES.items():
        package = module.split(".")[0]
        assert f"{package}.settings" in closure(process).modules, f"{process}: the scan missed {package}.settings"
        assert len(reads(process)) >= 10


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}


def test_every_settings_class_is_listed_for_the_processes_that_load_it():
    from movierec_core.config import EnvSettings

    listed = {model for process in PROCESSES for model, _ in settings_classes(process)}
    defined = {cls for cls in _subclasses(EnvSettings) if cls.__module__.split(".")[0] in
               {module.split(".")[0] for module in PROCESSES.values()} | {"movierec_core"}}
    assert defined <= listed, (f"settings classes no process lists in deploy_helpers.settings_classes: "
                               f"{sorted(c.__name__ for c in defined - listed)}")


CASES = [(overlay, process) for overlay in OVERLAYS for process in PROCESSES]
ADDRESS = re.compile(r"^dns:///(?P<service>[a-z0-9-]+):(?P<port>\d+)$")
# In a cluster: redis://<ACL user>:$(REDIS_PASSWORD)@<service>:<port>/<db> (the password from the Secret).
REDIS = re.compile(r"^redis://(?:(?P<user>[a-z]+):\$\((?P<password>[A-Z_]+)\)@)?(?P<service>[a-z0-9-]+):(?P<port>\d+)/\d+$")


@pytest.mark.parametrize(("overlay", "process"), CASES)
def test_every_variable_the_code_reads_is_set(overlay, process):
    env = container_env(render(f"overlays/{overlay}"), process)
    unset = {name: where(found) for name, found in reads(process).items()
             if name not in env and name not in UNSET_ON_PURPOSE[process]}
    assert not unset, (f"{process} reads variables its manifest does not set (add them to "
                       f"deploy/k8s/bases/{process}/configmap.yaml, or to UNSET_ON_PURPOSE with a reason): {unset}")


@pytest.mark.parametrize(("overlay", "process"), CASES)
def test_every_variable_set_is_read_by_the_code(overlay, process):
    env = container_env(render(f"overlays/{overlay}"), process)
    # A variable only expanded into another one ($(REDIS_PASSWORD) in REDIS_URL) is read through it.
    unread = sorted(set(env) - set(reads(process)) - referenced_names(env))
    assert not unread, f"{process}'s manifest sets variables its code never reads: {unread}"


@pytest.mark.parametrize("process", PROCESSES)
def test_variables_left_unset_on_purpose_are_really_read(process):
    stale = sorted(set(UNSET_ON_PURPOSE[process]) - set(reads(process)))
    assert not stale, f"UNSET_ON_PURPOSE[{process!r}] lists variables the code no longer reads: {stale}"


def _settings_loaders(process: str):
    """The start-up configuration parsers of each process (what runs before it serves)."""
    if process == "embedding":
        from embedding_service.settings import EmbeddingSettings
        from movierec_core.config import GrpcServerSettings

        return [EmbeddingSettings.from_env, lambda: GrpcServerSettings.from_env("embedding", 0)]
    if process == "retrieval":
        from movierec_core.config import GrpcServerSettings
        from retrieval_service.settings import RetrievalSettings

        return [RetrievalSettings.from_env, lambda: GrpcServerSettings.from_env("retrieval", 0)]
    if process == "profile":
        from movierec_core.config import GrpcServerSettings
        from profile_service.settings import ProfileSettings

        return [lambda: ProfileSettings.from_env(require_embedding=True),
                lambda: GrpcServerSettings.from_env("profile", 0)]
    if process == "worker":
        from profile_service.settings import ProfileSettings, WorkerSettings

        return [lambda: ProfileSettings.from_env(require_embedding=False), WorkerSettings.from_env]
    if process == "ranker":
        from movierec_core.config import GrpcServerSettings
        from ranker_service.settings import RankerSettings

        return [RankerSettings.from_env, lambda: GrpcServerSettings.from_env("ranker", 0)]
    from gateway_service.settings import GatewaySettings

    return [GatewaySettings.from_env]


@pytest.mark.parametrize(("overlay", "process"), CASES)
def test_the_code_accepts_the_manifest_values(overlay, process, monkeypatch):
    docs = render(f"overlays/{overlay}")
    env = container_env(docs, process)
    for name in {n for p in PROCESSES for n in reads(p)} | set(env):
        monkeypatch.delenv(name, raising=False)
    # prod: the operator's Secret (not in the render) — any value the docs allow; $(NAME) expanded.
    for name, value in resolved_env(docs, process).items():
        monkeypatch.setenv(name, value)
    parsed = [load() for load in _settings_loaders(process)]
    assert all(parsed)
    if process in GRPC_TIERS:
        server = parsed[-1]
        assert (server.host, server.port, server.port_file) == ("0.0.0.0", GRPC_TIERS[process], None)
        assert server.grace_s + 5 < named(docs, "Deployment", process)["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"], "preStop (5 s) + grace must end before the kubelet's SIGKILL"
    if process == "gateway":
        assert (parsed[0].host, parsed[0].port, parsed[0].dev_mode) == ("0.0.0.0", GATEWAY_PORT, False)
    if overlay == "prod" and process in GRPC_TIERS:
        assert parsed[-1].max_connection_age_s == 300, "prod bounds connection age so new pods get traffic"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_variable_set_in_several_processes_has_one_value(overlay):
    """Profile and worker share taste constants and key layout; gateway and worker the queue: one value each."""
    docs = render(f"overlays/{overlay}")
    values: dict[str, dict[str, object]] = {}
    for process in PROCESSES:
        env = container_env(docs, process)
        for name, value in env.items():
            if name in referenced_names(env):
                continue  # a tier's own credential (REDIS_PASSWORD), expanded into a shared address
            if name == "REDIS_URL":  # one Redis for all; the ACL user differs per tier
                value = re.sub(r"^redis://[^@/]*@", "redis://", str(value))
            values.setdefault(name, {})[process] = value
    differing = {name: by_process for name, by_process in values.items() if len(set(map(str, by_process.values()))) > 1}
    assert not differing, f"variables with different values in different processes: {differing}"


def _service_port(docs, service_name: str, port: int) -> dict:
    service = named(docs, "Service", service_name)
    matching = [p for p in service["spec"]["ports"] if p["port"] == port]
    assert matching, f"Service {service_name} has no port {port}"
    return service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_addresses_name_headless_services_on_the_tiers_ports(overlay):
    docs = render(f"overlays/{overlay}")
    for process in PROCESSES:
        for name, value in container_env(docs, process).items():
            if name.endswith("_ADDR"):
                match = ADDRESS.match(str(value))
                assert match, f"{process}: {name}={value!r} must be dns:///<service>:<port> (round_robin over pods)"
                tier, port = match["service"], int(match["port"])
                assert name == f"{tier.upper()}_ADDR" and port == GRPC_TIERS[tier], f"{process}: {name}={value}"
                service = _service_port(docs, tier, port)
                assert service["spec"].get("clusterIP") == "None", f"Service {tier} must be headless"
                assert service["spec"]["selector"] == {"app.kubernetes.io/name": tier}
                assert container_env(docs, tier)[f"{tier.upper()}_PORT"] == str(port)
            if name in ("REDIS_URL", "CELERY_BROKER_URL"):
                match = REDIS.match(str(value))
                assert match, f"{process}: {name}={value!r} is not redis://<user>:$(REDIS_PASSWORD)@<service>:<port>/<db>"
                _service_port(docs, match["service"], int(match["port"]))


def test_prod_expects_an_operator_secret_and_dev_generates_one():
    prod, dev = render("overlays/prod"), render("overlays/dev")
    assert not of_kind(prod, "Secret"), "production secrets are created by the operator, never rendered from git"
    refs = {(process, name): value for process in PROCESSES
            for name, value in container_env(prod, process).items() if isinstance(value, SecretRef)}
    assert set(refs) == {("gateway", "GATEWAY_JWT_SECRET"), ("ranker", "RANKER_LLM_API_KEY"),
                         ("ranker", "LLM_API_KEY"), ("gateway", "LLM_API_KEY"), ("embedding", "OPENAI_API_KEY"),
                         ("retrieval", "RETRIEVAL_ADMIN_TOKEN"),
                         *((process, "MOVIEREC_INTERNAL_TOKEN") for process in PROCESSES),
                         *((process, "REDIS_PASSWORD") for process in ("gateway", "profile", "worker"))}
    assert {ref.secret for ref in refs.values()} == {"movierec-secrets"}
    assert not refs[("gateway", "GATEWAY_JWT_SECRET")].optional, "the gateway must not start without its JWT secret"
    admin = refs[("retrieval", "RETRIEVAL_ADMIN_TOKEN")]
    assert admin.optional and admin.key != "internal-token", "the admin role is its own, optional secret"
    for process in PROCESSES:
        token = refs[(process, "MOVIEREC_INTERNAL_TOKEN")]
        assert token.key == "internal-token" and not token.optional, f"{process} must not start without the token"
    for process, key in (("gateway", "redis-gateway-password"), ("profile", "redis-profile-password"),
                         ("worker", "redis-profile-password")):
        assert refs[(process, "REDIS_PASSWORD")] == SecretRef("movierec-secrets", key, False), process
    readme = (REPO / "deploy" / "README.md").read_text()
    for ref in refs.values():
        assert f"{ref.key}=" in readme, f"deploy/README.md does not show how to set the Secret key {ref.key}"
    # dev: the values are generated per checkout (deploy/dev-secrets.sh, git-ignored), never committed literals.
    generators = yaml.safe_load((REPO / "deploy/k8s/overlays/dev/kustomization.yaml").read_text())["secretGenerator"]
    assert [g.get("envs") for g in generators] == [["dev-secrets.env"]] and not any("literals" in g for g in generators)
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/k8s/overlays/dev/dev-secrets.env"], cwd=REPO)
    assert ignored.returncode == 0, "the generated dev secrets must be git-ignored"
    # dev: every required key resolves to the generated Secret, and its values say they are for dev.
    for process in PROCESSES:
        for name, value in container_env(dev, process).items():
            if isinstance(value, SecretRef) and not value.optional:
                resolved = secret_value(dev, value)
                assert resolved and "dev" in resolved, f"dev {process}: {name} has no obviously-dev value"


def test_worker_probe_and_worker_read_the_broker_from_the_same_variable():
    for overlay in OVERLAYS:
        docs = render(f"overlays/{overlay}")
        probe = " ".join(main_container(named(docs, "Deployment", "worker"))["livenessProbe"]["exec"]["command"])
        assert 'os.environ["REDIS_URL"]' in probe
        assert "REDIS_URL" in container_env(docs, "worker")

