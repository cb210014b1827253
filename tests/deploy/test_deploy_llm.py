"""The optional llm component (deploy/k8s/components/llm) rendered on top of each overlay, as an operator
enables it (an overlay of their own: the overlay as a resource + the component), and the shared LLM
connection of the LLM-using tiers (bases/llm-client). Checks read the rendered YAML and the code."""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from codescan import env_reads, import_closure
from deploy_helpers import (
    FIRST_PARTY,
    K8S,
    OVERLAYS,
    POD_USER,
    REPO,
    SecretRef,
    all_containers,
    container_env,
    kubectl,
    main_container,
    named,
    of_kind,
    pod_spec,
    render,
    render_text,
)
from locks import IMAGES, LOCK, normalize, read_in, read_lock
from test_deploy_images import _dependency_closure, devstack_modules, env_names, parse_dockerfile
from test_deploy_manifests import _allowed, _quantity, _required_edges

SERVER_MODULE = "movierec_llm.server"
DOCKERFILE = REPO / "deploy" / "docker" / "llm.Dockerfile"
LLM_TIERS = ("gateway", "ranker")  # the processes that call a model (libs/movierec_llm/README.md)
# Resident memory of the server measured on this project's machine with each packaged model (issue #13).
MEASURED_RSS_GB = {"0.5b": 0.7, "1.5b": 1.5}
# The server's own settings: what server.py, model.py and movierec_core.paths read. The package's
# client settings (LLM_BASE_URL, LLM_TIMEOUT_*…) are imported with it but never used by the server.
SERVER_SOURCES = ("libs/movierec_llm/server.py", "libs/movierec_llm/model.py", "libs/movierec_core/paths.py")
UNSET_ON_PURPOSE = {
    "MOVIEREC_PORT_FILE": "a `make up` handshake for port 0; the pod listens on a fixed port",
    "LLM_MODEL_PATH": "unset = the packaged LLM_LOCAL_MODEL; set it to serve a GGUF of your own",
}
TAGS = {"dev": "dev", "prod": "0.1.0"}


@functools.cache
def _render_with_component(overlay: str) -> tuple[dict, ...]:
    render_text(f"overlays/{overlay}")  # whatever the overlay needs before it renders (its dev Secret)
    with tempfile.TemporaryDirectory(prefix="llm-overlay-") as tmp:
        relative = os.path.relpath(K8S, tmp)
        namespace = named(render(f"overlays/{overlay}"), "Namespace", {"dev": "movierec-dev", "prod": "movierec"}[
            overlay])["metadata"]["name"]
        # The overlay's own tag for the llm image, as when `components:` is added to the overlay itself.
        images = [i for i in yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())["images"]
                  if i["name"] == "movierec/llm"]
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": namespace,
            "resources": [f"{relative}/overlays/{overlay}"], "components": [f"{relative}/components/llm"],
            "images": images}))
        done = subprocess.run([kubectl(), "kustomize", tmp], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"overlays/{overlay} + components/llm does not render:\n{done.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def with_llm(overlay: str) -> list[dict]:
    return list(_render_with_component(overlay))


def server_env(docs: list[dict]) -> dict[str, str]:
    container = main_container(named(docs, "Deployment", "llm"))
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env.update(named(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    return env


@functools.cache
def server_reads() -> dict[str, list]:
    reads = env_reads(import_closure(SERVER_MODULE, FIRST_PARTY))
    return {name: found for name, found in reads.items()
            if any(r.where.startswith(SERVER_SOURCES) for r in found)}


# ---- renders, validates, hardened ------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_component_renders_on_each_overlay_and_passes_strict_validation(overlay):
    validator = Path(sys.executable).with_name("kubernetes-validate")
    docs = with_llm(overlay)
    manifest = yaml.safe_dump_all(docs)
    done = subprocess.run([str(validator), "--strict", "-"], input=manifest, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"kubernetes-validate --strict:\n{done.stdout}{done.stderr}"
    added = {(d["kind"], d["metadata"]["name"]) for d in docs} - {(d["kind"], d["metadata"]["name"])
                                                                   for d in render(f"overlays/{overlay}")}
    assert added == {("Deployment", "llm"), ("Service", "llm"), ("ConfigMap", "llm-server"),
                     ("ServiceAccount", "llm"), ("NetworkPolicy", "llm-ingress")}
    assert all(d["metadata"].get("namespace") == of_kind(docs, "Namespace")[0]["metadata"]["name"]
               for d in docs if d["kind"] != "Namespace")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_llm_pod_is_hardened_and_pinned(overlay):
    deployment = named(with_llm(overlay), "Deployment", "llm")
    spec = pod_spec(deployment)
    assert spec["securityContext"]["runAsUser"] == POD_USER and spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "llm"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    for container in all_containers(deployment):
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert container["image"] == f"movierec/llm:{TAGS[overlay]}", container["image"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind])
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/name": "llm", "app.kubernetes.io/part-of": "movierec"}


# ---- the server process ------------------------------------------------------------------------------------

def test_the_image_runs_what_make_up_starts():
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert len(stages) == 2 and stages[0].name
    for stage in stages:
        assert re.match(r"[\w./-]+:\d+\.\d+\.\d+", stage.base), f"FROM {stage.base} is not pinned"
    runtime = stages[-1]
    assert ast.literal_eval(runtime.all("ENTRYPOINT")[-1]) == ["python", "-m", SERVER_MODULE]
    assert SERVER_MODULE in devstack_modules()
    assert int(runtime.all("USER")[-1].split(":")[0]) == POD_USER
    assert any(f"--uid {POD_USER}" in r for r in runtime.all("RUN"))
    assert not any("pip install" in r for r in runtime.all("RUN")), "packages are installed in the build stage"
    for overlay in OVERLAYS:
        assert "command" not in main_container(named(with_llm(overlay), "Deployment", "llm"))


def test_the_image_installs_every_package_the_server_imports_at_the_project_pins():
    build = parse_dockerfile(DOCKERFILE.read_text())[0]
    install = next(r for r in build.all("RUN") if "--prefix=/install" in r)
    assert "--require-hashes -r requirements/images/llm.txt" in install, "the image's hashed lock, nothing else"
    assert any("requirements/images/llm.txt" in c for c in build.all("COPY"))
    packages = sorted(read_in(IMAGES / "llm.in"))
    project, image = read_lock(LOCK), read_lock(IMAGES / "llm.txt")
    for name, pin in image.items():
        assert name in project and pin.version == project[name].version, f"{name}: not the project's pin"
        assert pin.hashes and pin.hashes <= project[name].hashes, f"{name}: not the project's hashes"
    installed = {name for name, pin in image.items() if pin.applies()}
    assert _dependency_closure(packages) <= installed, "llm.txt misses dependencies (`make lock`)"
    import importlib.metadata

    providers = importlib.metadata.packages_distributions()
    closure = import_closure(SERVER_MODULE, FIRST_PARTY)
    missing = {top for top in closure.third_party
               if not {normalize(d) for d in providers.get(top, [])} & set(packages)}
    assert not missing, f"requirements/images/llm.in does not declare {missing}"
    copied = {args.split()[-1].rstrip("/") for args in parse_dockerfile(DOCKERFILE.read_text())[-1].all("COPY")}
    for module in closure.modules.values():
        assert module.path.relative_to(REPO).as_posix().startswith("libs/") and "/app/libs" in copied


def test_the_build_script_builds_the_llm_image():
    script = (REPO / "deploy" / "build-images.sh").read_text()
    assert 'docker build -f deploy/docker/llm.Dockerfile -t "${registry}movierec/llm:${tag}"' in script


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_the_server_reads_is_set_and_every_one_set_is_read(overlay):
    env = server_env(with_llm(overlay))
    unset = sorted(set(server_reads()) - set(env) - set(UNSET_ON_PURPOSE))
    assert not unset, f"the llm server reads variables components/llm/configmap.yaml does not set: {unset}"
    unread = sorted(set(env) - set(server_reads()))
    assert not unread, f"components/llm/configmap.yaml sets variables the server never reads: {unread}"
    assert set(UNSET_ON_PURPOSE) <= set(server_reads()) and not set(UNSET_ON_PURPOSE) & set(env)
    image_env = env_names(parse_dockerfile(DOCKERFILE.read_text())[-1])
    assert {k: image_env[k] for k in ("LLM_HOST", "LLM_PORT")} == {k: env[k] for k in ("LLM_HOST", "LLM_PORT")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_server_accepts_the_manifest_values_and_fits_its_container(overlay, monkeypatch):
    from movierec_llm import server

    docs = with_llm(overlay)
    env = server_env(docs)
    for name in set(server_reads()) | set(env):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(server, "resolve_model_path", lambda: Path("/models/llm/model.gguf"))
    monkeypatch.setattr(server, "LocalLlmServer", lambda path, **kwargs: kwargs)  # no model is loaded here
    params = server.server_from_env()
    container = main_container(named(docs, "Deployment", "llm"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert params["host"] == "0.0.0.0" and ports == {"http": params["port"]}
    resources = container["resources"]
    assert _quantity(resources["requests"]["cpu"]) == _quantity(resources["limits"]["cpu"]) == params["threads"], (
        "one thread per guaranteed CPU: more threads than cores stall each other")
    rss = MEASURED_RSS_GB[env["LLM_LOCAL_MODEL"]] * 1e9
    assert _quantity(resources["requests"]["memory"]) >= rss, "the request must hold the measured RSS"
    assert _quantity(resources["limits"]["memory"]) >= 1.5 * rss, "headroom over the measured RSS"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_the_servers_health_endpoint(overlay):
    container = main_container(named(with_llm(overlay), "Deployment", "llm"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert container["livenessProbe"]["timeoutSeconds"] >= 5, "a generation in progress slows the answer"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_init_container_puts_the_model_where_the_server_looks(overlay):
    deployment = named(with_llm(overlay), "Deployment", "llm")
    (init,) = pod_spec(deployment)["initContainers"]
    assert init["command"][:2] == ["python", "-c"] and "resolve_model_path()" in init["command"][2]
    assert init["envFrom"] == main_container(deployment)["envFrom"], "both resolve the same model"
    cache = server_env(with_llm(overlay))["MOVIEREC_CACHE_DIR"]
    mounts = {c["name"]: {m["mountPath"]: m for m in c["volumeMounts"]} for c in all_containers(deployment)}
    assert mounts["model"][cache]["name"] == mounts["llm"][cache]["name"]
    assert mounts["llm"][cache].get("readOnly") is True and not mounts["model"][cache].get("readOnly")
    assert "/tmp" in mounts["model"] and "/tmp" in mounts["llm"], "read-only roots need a writable /tmp"


# ---- the clients ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_llm_using_tiers_read_one_connection_which_the_component_points_at_the_server(overlay):
    plain, docs = render(f"overlays/{overlay}"), with_llm(overlay)
    for tier in LLM_TIERS:
        sources = [s["configMapRef"]["name"] for s in main_container(named(docs, "Deployment", tier))["envFrom"]]
        assert "llm-client" in sources, f"{tier} does not read the shared LLM connection"
        tier_map = named(docs, "ConfigMap", tier)["data"]
        assert not [k for k in tier_map if k.startswith("LLM_")], f"{tier}'s own ConfigMap repeats LLM_* settings"
        assert container_env(plain, tier)["LLM_BASE_URL"] == "", "without the component there is no shared LLM"
        env = container_env(docs, tier)
        service = named(docs, "Service", "llm")
        port = service["spec"]["ports"][0]
        assert env["LLM_BASE_URL"] == f"http://llm:{port['port']}/v1"
        assert service["spec"]["clusterIP"] == "None" and service["spec"]["selector"] == {
            "app.kubernetes.io/name": "llm"}
        assert port["targetPort"] == "http"
        assert env["LLM_MODEL"] == server_env(docs)["LLM_ALIAS"], "clients name the model the server announces"
        key = env["LLM_API_KEY"]  # the one Secret of the overlay (dev: its generated, hash-suffixed name)
        assert isinstance(key, SecretRef) and (key.key, key.optional) == ("llm-api-key", True)
        assert key == container_env(plain, tier)["LLM_API_KEY"] and key.secret.startswith("movierec-secrets")
        assert float(env["LLM_TIMEOUT_RERANK_S"]) >= 20, "a CPU model needs the local rerank budget"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_llm_using_tiers_may_reach_the_server(overlay):
    docs = with_llm(overlay)
    pod_edges, others = _allowed(docs)
    required = _required_edges(docs)
    assert {(tier, "llm", 8000) for tier in LLM_TIERS} <= required
    assert pod_edges == required, (f"allowed but unused: {sorted(pod_edges - required)}; "
                                   f"used but blocked: {sorted(required - pod_edges)}")
    assert not [o for o in others if o[1].get("target", {}).get("app.kubernetes.io/name") == "llm"]
