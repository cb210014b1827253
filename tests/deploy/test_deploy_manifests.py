"""What every rendered overlay must guarantee: hardened pods, resources, probes, exposure, network
edges, autoscaling and disruption budgets. Each check reads the rendered YAML, never the sources."""

from __future__ import annotations

import re

import pytest
from deploy_helpers import (
    GATEWAY_PORT,
    GRPC_TIERS,
    K8S,
    METRICS_PORT,
    OVERLAYS,
    POD_USER,
    PROCESSES,
    all_containers,
    container_env,
    main_container,
    named,
    of_kind,
    pod_spec,
    reads,
    render,
    workloads,
)

ADDRESS = re.compile(r"^dns:///(?P<service>[a-z0-9-]+):(?P<port>\d+)$")
REDIS_URL = re.compile(r"^redis://(?:[a-z]+:\$\([A-Z_]+\)@)?(?P<service>[a-z0-9-]+):(?P<port>\d+)/\d+$")
# An in-cluster HTTP endpoint (a bare Service name), e.g. LLM_BASE_URL=http://llm:8000/v1 with components/llm.
HTTP_URL = re.compile(r"^https?://(?P<service>[a-z0-9-]+):(?P<port>\d+)(?:/.*)?$")
NAME = "app.kubernetes.io/name"


def docs_of(overlay: str) -> list[dict]:
    return render(f"overlays/{overlay}")


# ---- pods -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay):
    for workload in workloads(docs_of(overlay)):
        for container in all_containers(workload):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert set(resources.get(kind, {})) >= {"cpu", "memory"}, (
                    f"{workload['metadata']['name']}/{container['name']}: {kind} need cpu and memory")


def _quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_requests_never_exceed_limits(overlay):
    for workload in workloads(docs_of(overlay)):
        for container in all_containers(workload):
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            for resource in ("cpu", "memory"):
                assert _quantity(requests[resource]) <= _quantity(limits[resource]), (
                    f"{workload['metadata']['name']}/{container['name']}: {resource} request above its limit")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_the_restricted_pod_security_standard(overlay):
    for workload in workloads(docs_of(overlay)):
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        pod = spec.get("securityContext", {})
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, f"{name}: no API token in pods that never use it"
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for container in all_containers(workload):
            ctx = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot"
            assert ctx.get("runAsUser", pod.get("runAsUser", 0)) != 0, f"{where}: a non-root uid"
            assert ctx.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            assert ctx.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drop ALL capabilities"
            assert not ctx.get("capabilities", {}).get("add"), f"{where}: adds capabilities"
            assert not ctx.get("privileged"), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_movierec_pods_run_as_the_images_user_with_writable_tmp(overlay):
    for deployment in of_kind(docs_of(overlay), "Deployment"):
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsUser"] == POD_USER, "the uid the Dockerfiles create (USER 10001)"
        assert spec["serviceAccountName"] == deployment["metadata"]["name"]
        mounts = {m["mountPath"]: m["name"] for m in main_container(deployment).get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], "a read-only root needs an emptyDir /tmp"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_has_its_own_service_account(overlay):
    docs = docs_of(overlay)
    accounts = {a["metadata"]["name"]: a for a in of_kind(docs, "ServiceAccount")}
    for deployment in of_kind(docs, "Deployment"):
        account = accounts[pod_spec(deployment)["serviceAccountName"]]
        assert account.get("automountServiceAccountToken") is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_artifacts_come_from_the_artifacts_image_into_a_read_only_mount(overlay):
    docs = docs_of(overlay)
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        env = container_env(docs, name)
        paths = [v for k, v in env.items() if isinstance(v, str) and v.startswith("/artifacts")]
        init = [c for c in pod_spec(deployment).get("initContainers", []) if c["name"] == "artifacts"]
        if not paths:
            assert not init, f"{name} copies artifacts it never reads"
            continue
        assert init and init[0]["image"].split(":")[0] == "movierec/artifacts", f"{name} reads {paths} but has none"
        copy_target = init[0]["volumeMounts"][0]
        mount = next(m for m in main_container(deployment)["volumeMounts"] if m["mountPath"] == "/artifacts")
        assert mount["name"] == copy_target["name"] and mount.get("readOnly") is True
        assert init[0]["command"][-1].rstrip("/") == copy_target["mountPath"]


# ---- probes and ports -------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("tier", sorted(GRPC_TIERS))
def test_grpc_tiers_use_native_grpc_probes_on_their_port(overlay, tier):
    docs = docs_of(overlay)
    deployment = named(docs, "Deployment", tier)
    container = main_container(deployment)
    port = GRPC_TIERS[tier]
    env = container_env(docs, tier)
    assert env[f"{tier.upper()}_PORT"] == str(port) and env[f"{tier.upper()}_HOST"] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": port, "http-metrics": METRICS_PORT}
    assert env[f"{tier.upper()}_METRICS_PORT"] == str(METRICS_PORT)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(METRICS_PORT)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        # No `service`: the runtime's overall status "" (SERVING once the model/index is loaded).
        assert container[probe]["grpc"] == {"port": port}, f"{tier}: {probe} must be a native gRPC probe"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_probes_an_http_route_on_its_port(overlay):
    docs = docs_of(overlay)
    container = main_container(named(docs, "Deployment", "gateway"))
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": GATEWAY_PORT,
                                                                          "http-metrics": METRICS_PORT}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_gateway_probe_paths_are_real_routes_that_need_no_other_tier(monkeypatch):
    """Liveness/startup: /livez answers with nothing loaded. Readiness: /readyz is a real route that
    answers 503 until the gateway's own start-up (catalog, Redis) has run — never a 404."""
    from fastapi.testclient import TestClient

    from gateway_service.app import create_app
    from gateway_service.settings import GatewaySettings

    docs = docs_of("prod")
    for name, value in container_env(docs, "gateway").items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "x" * 48)
    client = TestClient(create_app(GatewaySettings.from_env()))  # no `with`: start-up does not run
    paths = {main_container(named(docs, "Deployment", "gateway"))[probe]["httpGet"]["path"]
             for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"/livez", "/readyz"}
    assert client.get("/livez").status_code == 200
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json(), "readyz must say why it is not ready"
    assert client.get("/definitely-not-a-route").status_code == 404


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_liveness_is_a_celery_ping_of_this_pod(overlay):
    container = main_container(named(docs_of(overlay), "Deployment", "worker"))
    command = container["livenessProbe"]["exec"]["command"]
    assert command[:2] == ["python", "-c"] and "control.ping" in command[2] and "gethostname" in command[2]
    assert container["startupProbe"]["exec"]["command"] == command
    # The ping waits up to 3 s for the reply, after importing celery.
    assert container["livenessProbe"]["timeoutSeconds"] >= 8
    assert "ports" not in container, "the worker serves nothing"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollouts_never_drop_below_the_desired_replicas(overlay):
    for deployment in of_kind(docs_of(overlay), "Deployment"):
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


# ---- exposure -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_has_a_routable_service_or_ingress(overlay):
    docs = docs_of(overlay)
    for service in of_kind(docs, "Service"):
        name, spec = service["metadata"]["name"], service["spec"]
        if name == "gateway":
            assert spec.get("type", "ClusterIP") == "ClusterIP", "the gateway is exposed through the Ingress"
            assert [p["targetPort"] for p in spec["ports"]] == ["http"]
        else:
            assert spec.get("clusterIP") == "None", f"Service {name} must be headless (gRPC round_robin over pods)"
            assert spec.get("type", "ClusterIP") == "ClusterIP"
    for ingress in of_kind(docs, "Ingress"):
        backends = [path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
                    for path in rule["http"]["paths"]]
        assert set(backends) == {"gateway"}, f"Ingress {ingress['metadata']['name']} routes to {backends}"
        assert "defaultBackend" not in ingress["spec"]


def test_prod_ingress_serves_the_gateway_over_tls():
    ingress = named(docs_of("prod"), "Ingress", "gateway")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts and hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grpc_services_select_their_tier_and_name_their_protocol(overlay):
    docs = docs_of(overlay)
    for tier, port in GRPC_TIERS.items():
        service = named(docs, "Service", tier)
        assert service["spec"]["selector"] == {NAME: tier}
        grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert (grpc["port"], grpc["targetPort"], grpc.get("appProtocol")) == (port, "grpc", "grpc")


# ---- network policies ------------------------------------------------------------------------------

def _required_edges(docs: list[dict]) -> set[tuple[str, str, int]]:
    """(client, server, port) for every address a process is configured with (gRPC, Redis, in-cluster LLM)."""
    edges = set()
    for process in PROCESSES:
        for name, value in container_env(docs, process).items():
            match = ADDRESS.match(str(value)) if name.endswith("_ADDR") else (
                REDIS_URL.match(str(value)) if name in ("REDIS_URL", "CELERY_BROKER_URL") else (
                    HTTP_URL.match(str(value)) if name == "LLM_BASE_URL" else None))
            if match:
                edges.add((process, match["service"], int(match["port"])))
    return edges


def _allowed(docs: list[dict]) -> tuple[set[tuple[str, str, int]], list[tuple[str, dict, list[int]]]]:
    """Pod-to-pod edges the policies allow, and every other (non-pod) source they admit."""
    pod_edges, other_sources = set(), []
    for policy in of_kind(docs, "NetworkPolicy"):
        target = policy["spec"]["podSelector"].get("matchLabels", {})
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            assert ports, f"{policy['metadata']['name']}: a rule without ports opens every port"
            sources = rule.get("from")
            if not sources:
                other_sources.append((policy["metadata"]["name"], {"anywhere": True, "target": target}, ports))
                continue
            for source in sources:
                if set(source) == {"podSelector"} and NAME in source["podSelector"].get("matchLabels", {}):
                    for port in ports:
                        pod_edges.add((source["podSelector"]["matchLabels"][NAME], target[NAME], port))
                else:
                    other_sources.append((policy["metadata"]["name"], {**source, "target": target}, ports))
    return pod_edges, other_sources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_default_deny_and_allow_exactly_the_configured_edges(overlay):
    docs = docs_of(overlay)
    deny = [p for p in of_kind(docs, "NetworkPolicy") if p["spec"]["podSelector"] == {}
            and p["spec"]["policyTypes"] == ["Ingress"]]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"]
    pod_edges, others = _allowed(docs)
    assert pod_edges == _required_edges(docs), (
        f"allowed but unused: {sorted(pod_edges - _required_edges(docs))}; "
        f"used but blocked: {sorted(_required_edges(docs) - pod_edges)}")
    anywhere = [(name, src["target"], ports) for name, src, ports in others if src.get("anywhere")]
    assert anywhere == [("gateway-from-anywhere", {NAME: "gateway"}, [GATEWAY_PORT])], "only the gateway is exposed"
    namespaces = {(src["target"].get(NAME, "all"), tuple(ports), tuple(src["namespaceSelector"]["matchLabels"]))
                  for _, src, ports in others if "namespaceSelector" in src}
    assert namespaces == {("retrieval", (50052,), ("movierec.io/retrieval-client",)),
                          ("all", (METRICS_PORT, GATEWAY_PORT, 9121), ("movierec.io/monitoring",))}
    assert len(others) == 3, f"unexpected sources: {others}"


# The in-cluster LLM server (deploy/k8s/components/llm) that the gateway and the ranker may call.
LLM_EDGES = {("gateway", "llm", 8000), ("ranker", "llm", 8000)}


def _egress(docs: list[dict]) -> tuple[list[dict], set[tuple[str, str, int]], list[dict]]:
    """(policies selecting every pod, pod-to-pod egress edges of the per-tier policies, every other rule)."""
    everyone, edges, others = [], set(), []
    for policy in of_kind(docs, "NetworkPolicy"):
        if "Egress" not in policy["spec"]["policyTypes"]:
            continue
        target = policy["spec"]["podSelector"].get("matchLabels", {})
        if not target:
            everyone.append(policy)
            continue
        for rule in policy["spec"].get("egress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            assert ports and rule.get("to"), f"{policy['metadata']['name']}: an egress rule open to every port or peer"
            for peer in rule["to"]:
                if set(peer) == {"podSelector"}:
                    edges.update((target[NAME], peer["podSelector"]["matchLabels"][NAME], port) for port in ports)
                else:
                    others.append({"from": target[NAME], "to": peer, "ports": ports})
    return everyone, edges, others


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_is_default_deny_with_dns_and_exactly_the_configured_edges(overlay):
    docs = docs_of(overlay)
    everyone, edges, others = _egress(docs)
    by_name = {p["metadata"]["name"]: p["spec"] for p in everyone}
    assert set(by_name) == {"default-deny-egress", "dns-egress"}
    assert "egress" not in by_name["default-deny-egress"]
    (dns,) = by_name["dns-egress"]["egress"]
    assert dns["to"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]
    assert edges - LLM_EDGES == _required_edges(docs), (
        f"allowed but unused: {sorted(edges - LLM_EDGES - _required_edges(docs))}; "
        f"used but blocked: {sorted(_required_edges(docs) - edges)}")
    assert edges >= LLM_EDGES, edges
    # Only the dev LLM server leaves the cluster (HTTPS to the package index for its model's wheels).
    assert others == [{"from": "llm", "ports": [443], "to": {"ipBlock": {
        "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}}], others


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_labelled_for_the_policies(overlay):
    for workload in workloads(docs_of(overlay)):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels[NAME] == workload["metadata"]["name"]
        assert labels["app.kubernetes.io/part-of"] == "movierec"


# ---- scaling and availability -------------------------------------------------------------------------

def test_prod_autoscales_every_deployment_above_the_base_ceiling():
    docs = docs_of("prod")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler")}
    assert set(hpas) == {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        base = named(render(f"bases/{name}"), "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["maxReplicas"] > base["spec"]["maxReplicas"], f"{name}: prod ceiling not raised"
        assert hpa["spec"]["minReplicas"] >= 2, f"{name}: one replica cannot survive a node loss"
        deployment = named(docs, "Deployment", name)
        assert deployment["spec"]["replicas"] == hpa["spec"]["minReplicas"]


def test_worker_scales_on_queue_length():
    hpa = named(docs_of("prod"), "HorizontalPodAutoscaler", "worker")
    external = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert [e["metric"]["name"] for e in external] == ["movierec_review_queue_length"]
    exporter = next(c for c in named(docs_of("prod"), "StatefulSet", "redis")["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "exporter")
    queue = container_env(docs_of("prod"), "worker")["PROFILE_EVENTS_QUEUE"]
    assert any(f"db0={queue}" in arg for arg in exporter["args"]), "the exporter must export the queue's length"


def test_dev_runs_one_replica_of_everything_without_autoscaling():
    docs = docs_of("dev")
    assert {w["spec"]["replicas"] for w in workloads(docs)} == {1}
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    prod = docs_of("prod")
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        dev_cpu = _quantity(main_container(deployment)["resources"]["requests"]["cpu"])
        prod_cpu = _quantity(main_container(named(prod, "Deployment", name))["resources"]["requests"]["cpu"])
        assert dev_cpu < prod_cpu, f"{name}: dev requests should be lower"


def test_prod_budgets_disruptions_and_spreads_pods():
    docs = docs_of("prod")
    budgets = {b["spec"]["selector"]["matchLabels"][NAME]: b for b in of_kind(docs, "PodDisruptionBudget")}
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        assert budgets[name]["spec"].get("maxUnavailable") == 1, f"{name}: PDB lets one pod go at a time"
        constraints = pod_spec(deployment)["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in constraints}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name
        assert all(c["labelSelector"]["matchLabels"] == {NAME: name} for c in constraints), name
    assert "redis" not in budgets, "a one-replica budget would block every node drain"


# ---- images, namespaces, Redis ------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlay):
    expected_tag = {"dev": "dev", "prod": "0.1.0"}[overlay]
    for workload in workloads(docs_of(overlay)):
        for container in all_containers(workload):
            name, _, tag = container["image"].rpartition(":")
            assert name and tag and tag != "latest", f"{container['image']} is not pinned"
            if name.startswith("movierec/"):
                assert tag == expected_tag, f"{overlay}: {container['image']}"
            else:
                assert re.search(r"\d+\.\d+", tag), f"third-party image {container['image']} needs a version tag"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_one_restricted_namespace(overlay):
    docs = docs_of(overlay)
    namespaces = of_kind(docs, "Namespace")
    assert len(namespaces) == 1
    namespace = namespaces[0]["metadata"]
    assert namespace["name"] == {"dev": "movierec-dev", "prod": "movierec"}[overlay]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace["name"], f"{doc['kind']} {doc['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_persists_with_aof_and_fits_its_memory_limit(overlay):
    docs = docs_of(overlay)
    redis = named(docs, "StatefulSet", "redis")
    conf_map = pod_spec(redis)["volumes"][0]["configMap"]["name"]
    conf = dict(line.split(None, 1) for line in named(docs, "ConfigMap", conf_map)["data"]["redis.conf"].splitlines()
                if line and not line.startswith("#"))
    assert conf["appendonly"] == "yes" and conf["dir"] == "/data" and conf["maxmemory-policy"] == "noeviction"
    # Prod fsyncs the AOF once a second (at most ~1 s of acknowledged writes lost if Redis's node dies; the
    # bus throughput target is measured with it); the base (dev) fsyncs every write.
    assert conf["appendfsync"] == ("everysec" if overlay == "prod" else "always")
    container = next(c for c in pod_spec(redis)["containers"] if c["name"] == "redis")
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/data"] == "data"
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    maxmemory = _quantity(conf["maxmemory"].replace("gb", "Gi").replace("mb", "Mi"))
    limit = _quantity(container["resources"]["limits"]["memory"])
    assert maxmemory <= 0.8 * limit, "maxmemory must leave room for the AOF rewrite's fork below the limit"


# ---- Redis ACL users (issue #15 item 8; the ACLs themselves are proven in test_redis_acl.py) ------------

# The ACL user each process connects as, and the Secret key of its password (bases/redis/render-acl.sh).
REDIS_USERS = {"gateway": ("gateway", "redis-gateway-password"), "profile": ("profile", "redis-profile-password"),
               "worker": ("profile", "redis-profile-password")}


def _secret_name(docs: list[dict]) -> str:
    """movierec-secrets: the operator's (prod), or the dev overlay's generated one with its hash suffix."""
    generated = [s["metadata"]["name"] for s in of_kind(docs, "Secret")]
    assert len(generated) <= 1 and all(name.startswith("movierec-secrets-") for name in generated), generated
    return generated[0] if generated else "movierec-secrets"


def _redis_conf(docs: list[dict]) -> dict[str, str]:
    redis = named(docs, "StatefulSet", "redis")
    conf_map = next(v for v in pod_spec(redis)["volumes"] if v["name"] == "config")["configMap"]["name"]
    return dict(line.split(None, 1) for line in named(docs, "ConfigMap", conf_map)["data"]["redis.conf"].splitlines()
                if line and not line.startswith("#"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_configmap_carries_a_redis_url_or_a_credential(overlay):
    for config_map in of_kind(docs_of(overlay), "ConfigMap"):
        data = config_map.get("data", {})
        name = config_map["metadata"]["name"]
        assert "REDIS_URL" not in data, f"ConfigMap {name}: REDIS_URL belongs in the Deployments' env (Secret)"
        for key, value in data.items():
            assert not re.search(r"redis://[^/\s]*@", value), f"ConfigMap {name}: {key} holds Redis credentials"
            assert "requirepass" not in value and "masterauth" not in value, f"ConfigMap {name}: {key} holds a password"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_that_talks_to_redis_builds_its_url_from_the_secret(overlay):
    docs = docs_of(overlay)
    talking = {process for process in PROCESSES if "REDIS_URL" in reads(process)}
    assert talking == set(REDIS_USERS), f"processes reading REDIS_URL: {sorted(talking)}"
    for process, (user, key) in REDIS_USERS.items():
        entries = main_container(named(docs, "Deployment", process))["env"]
        names = [entry["name"] for entry in entries]
        assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL"), (
            f"{process}: REDIS_PASSWORD must be declared before the REDIS_URL that expands it")
        password = entries[names.index("REDIS_PASSWORD")]["valueFrom"]["secretKeyRef"]
        assert password == {"name": _secret_name(docs), "key": key}, f"{process}: {password}"
        url = entries[names.index("REDIS_URL")]["value"]
        assert url == f"redis://{user}:$(REDIS_PASSWORD)@redis:6379/0", f"{process}: REDIS_URL={url}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_runs_protected_with_the_acl_file_its_init_container_renders(overlay):
    docs = docs_of(overlay)
    conf = _redis_conf(docs)
    assert conf["protected-mode"] == "yes" and conf["aclfile"] == "/run/redis-auth/users.acl"
    assert "requirepass" not in conf, "passwords live in the ACL users, not in redis.conf"
    redis = named(docs, "StatefulSet", "redis")
    spec = pod_spec(redis)
    volumes = {v["name"]: v for v in spec["volumes"]}
    (init,) = spec["initContainers"]
    assert init["command"] == ["sh", "/opt/redis-acl/render-acl.sh", "/run/redis-auth"]
    mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    script_map = named(docs, "ConfigMap", volumes[mounts["/opt/redis-acl"]["name"]]["configMap"]["name"])
    script = (K8S / "bases" / "redis" / "render-acl.sh").read_text()
    assert script_map["data"]["render-acl.sh"] == script, "the pod must run the script the ACL test runs"
    auth = volumes[mounts["/run/redis-auth"]["name"]]
    assert auth["emptyDir"]["medium"] == "Memory", "the rendered ACL file and monitor password stay in memory"
    env = {e["name"]: e["valueFrom"] for e in init["env"]}
    secret = _secret_name(docs)
    assert env["REDIS_GATEWAY_PASSWORD"]["secretKeyRef"] == {"name": secret, "key": "redis-gateway-password"}
    assert env["REDIS_PROFILE_PASSWORD"]["secretKeyRef"] == {"name": secret, "key": "redis-profile-password"}
    admin = {"name": secret, "key": "redis-admin-password", "optional": True}
    assert env["REDIS_ADMIN_PASSWORD"]["secretKeyRef"] == admin
    # The key patterns follow the worker's prefix and queue — the values the gateway and profile share.
    worker = container_env(docs, "worker")
    for name in ("PROFILE_KEY_PREFIX", "PROFILE_EVENTS_QUEUE"):
        ref = env[name]["configMapKeyRef"]
        assert named(docs, "ConfigMap", ref["name"])["data"][ref["key"]] == worker[name] == container_env(
            docs, "gateway")[name]
    containers = {c["name"]: c for c in spec["containers"]}
    for name in ("redis", "exporter"):
        mount = next(m for m in containers[name]["volumeMounts"] if m["name"] == auth["name"])
        assert mount["mountPath"] == "/run/redis-auth" and mount.get("readOnly") is True, name
    probe = " ".join(containers["redis"]["readinessProbe"]["exec"]["command"])
    assert "--user monitor" in probe and "grep -qx PONG" in probe, "NOAUTH would exit 0: the probe must see PONG"
    args = containers["exporter"]["args"]
    assert "--redis.user=monitor" in args and "--redis.password-file=/run/redis-auth/exporter-passwords.json" in args


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_python_process_runs_one_blas_thread(overlay, process):
    """Scale with replicas, not threads: under a CPU limit, OpenBLAS's default of one thread per node core
    made the ranker's MMR step ~10x slower (services/ranker/README.md)."""
    env = container_env(docs_of(overlay), process)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env.get(name) == "1", f"{overlay}/{process}: {name}={env.get(name)!r}, expected 1"
