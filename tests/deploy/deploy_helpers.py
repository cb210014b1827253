"""Shared facts for the deployment tests: rendered overlays, the processes they run, the code they run.

Rendering uses the machine's ``kubectl kustomize`` (the Debian package ``kubectl``); nothing talks to a
cluster or a Docker engine.
"""

from __future__ import annotations

import base64
import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from codescan import REPO, Closure, EnvRead, env_reads, find_module, import_closure

K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
FIRST_PARTY = {"movierec", "movierec_core", "movierec_catalog", "movierec_llm", "movierec_profile_contract",
               "embedding_service", "retrieval_service", "profile_service", "ranker_service", "gateway_service"}

# Deployment name → the module its container runs (`python -m …`), as `make up` starts it.
PROCESSES = {
    "embedding": "embedding_service",
    "retrieval": "retrieval_service",
    "profile": "profile_service",
    "ranker": "ranker_service",
    "gateway": "gateway_service",
    "worker": "profile_service.worker",
}
GRPC_TIERS = {"embedding": 50051, "retrieval": 50052, "profile": 50053, "ranker": 50054}
GATEWAY_PORT = 8080
METRICS_PORT = 9090
POD_USER = 10001

# Variables a process reads that the manifests leave unset on purpose (documented in deploy/README.md).
PORT_FILE_REASON = "a `make up` handshake for port 0; pods listen on fixed ports"
UNSET_ON_PURPOSE = {
    "embedding": {
        "MOVIEREC_PORT_FILE": PORT_FILE_REASON,
        "EMBEDDING_QUERY_PREFIX": "unset = the model's own prefix; an empty value would mean no prefix",
        "EMBEDDING_DOCUMENT_PREFIX": "unset = the model's own prefix; an empty value would mean no prefix",
    },
    "retrieval": {"MOVIEREC_PORT_FILE": PORT_FILE_REASON},
    "profile": {"MOVIEREC_PORT_FILE": PORT_FILE_REASON},
    "ranker": {"MOVIEREC_PORT_FILE": PORT_FILE_REASON,
               # chosen on data and written to served_defaults.json, which ships in the image: a literal in
               # the ConfigMap would silently override the next selection
               "RANKER_POPULARITY_PRIOR": "served_defaults.json (select_popularity)",
               "RANKER_QUALITY_PRIOR": "served_defaults.json (select_served)"},
    "gateway": {"MOVIEREC_PORT_FILE": PORT_FILE_REASON,
                # the measured search choice (search_served.json) ships in the image; set only to try another
                "GATEWAY_SEARCH_SERVED_FILE": "an operator override of the measured choice"},
    "worker": {},
}


# ---- rendering ----------------------------------------------------------------------------------

def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not on PATH: it is part of the machine image (Debian package `kubectl`, "
                    "/usr/bin/kubectl); install it to render the kustomize overlays")
    return path


@functools.cache
def render_text(target: str) -> str:
    """``kubectl kustomize`` of a folder under deploy/k8s (e.g. "overlays/prod")."""
    if target == "overlays/dev":  # its Secret's values are generated per checkout (git-ignored), as an operator would
        subprocess.run([str(REPO / "deploy" / "dev-secrets.sh")], check=True, capture_output=True, timeout=30)
    done = subprocess.run([kubectl(), "kustomize", str(K8S / target)], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize deploy/k8s/{target} failed:\n{done.stderr}")
    return done.stdout


@functools.cache
def _render(target: str) -> tuple[dict, ...]:
    return tuple(doc for doc in yaml.safe_load_all(render_text(target)) if doc)


def render(target: str) -> list[dict]:
    return list(_render(target))


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[dict], kind: str, name: str) -> dict:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def workloads(docs: list[dict]) -> list[dict]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet")]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def all_containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(deployment: dict) -> dict:
    name = deployment["metadata"]["name"]
    found = [c for c in pod_spec(deployment)["containers"] if c["name"] == name]
    assert len(found) == 1, f"Deployment {name} has no container named {name}"
    return found[0]


# ---- environment of a container -----------------------------------------------------------------

@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str
    optional: bool


def container_env(docs: list[dict], deployment_name: str) -> dict[str, str | SecretRef]:
    """Every variable the main container gets: its ConfigMaps (envFrom) overlaid by its env entries."""
    container = main_container(named(docs, "Deployment", deployment_name))
    env: dict[str, str | SecretRef] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"{deployment_name}: only ConfigMaps may feed envFrom: {source}"
        env.update(named(docs, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = SecretRef(ref["name"], ref["key"], ref.get("optional", False))
    return env


REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def referenced_names(env: dict[str, str | SecretRef]) -> set[str]:
    """Variables other entries expand with Kubernetes' ``$(NAME)`` (e.g. REDIS_PASSWORD in REDIS_URL)."""
    return {name for value in env.values() if isinstance(value, str) for name in REFERENCE.findall(value)}


def resolved_env(docs: list[dict], deployment_name: str, placeholder: str = "x" * 48) -> dict[str, str]:
    """The environment the process sees: Secret values resolved (the render's generated Secret, else
    ``placeholder`` for a required key of the operator's Secret; optional ones left out) and ``$(NAME)``
    expanded from the entries declared before, as the kubelet does."""
    env: dict[str, str] = {}
    for name, value in container_env(docs, deployment_name).items():
        if isinstance(value, SecretRef):
            resolved = secret_value(docs, value) or (None if value.optional else placeholder)
            if resolved is not None:
                env[name] = resolved
        else:
            env[name] = REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), value)
    return env


def secret_value(docs: list[dict], ref: SecretRef) -> str | None:
    """The value a SecretRef resolves to in this render (None when the Secret is not in it)."""
    secrets = [s for s in of_kind(docs, "Secret") if s["metadata"]["name"] == ref.secret]
    if not secrets:
        return None
    data = secrets[0].get("data", {})
    return base64.b64decode(data[ref.key]).decode() if ref.key in data else None


# ---- the code -----------------------------------------------------------------------------------

def entry_module(process: str) -> str:
    """The module ``python -m`` runs: a package's ``__main__``, else the module itself."""
    module = PROCESSES[process]
    path = find_module(module)
    assert path is not None, f"{process}: module {module} does not exist"
    return f"{module}.__main__" if path.name == "__init__.py" else module


@functools.cache
def closure(process: str) -> Closure:
    return import_closure(entry_module(process), FIRST_PARTY)


def settings_classes(process: str) -> list[tuple[type, str | None]]:
    """The settings classes (movierec_core.config.EnvSettings) a process loads at start-up, with the env
    prefix each is loaded under (None: the class's own)."""
    from movierec_core.config import GrpcServerEnv

    grpc = [(GrpcServerEnv, f"{process.upper()}_")] if process in GRPC_TIERS else []
    if process == "embedding":
        from embedding_service.settings import EmbeddingEnv, OpenAIEnv

        return [(EmbeddingEnv, None), (OpenAIEnv, None), *grpc]
    if process == "retrieval":
        from retrieval_service.settings import RetrievalEnv

        return [(RetrievalEnv, None), *grpc]
    if process in ("profile", "worker"):
        from profile_service.settings import ProfileEnv, StoreEnv, TasteEnv, WorkerEnv

        own = [(WorkerEnv, None)] if process == "worker" else grpc
        return [(ProfileEnv, None), (StoreEnv, None), (TasteEnv, None), *own]
    if process == "ranker":
        from ranker_service.settings import RankerEnv

        return [(RankerEnv, None), *grpc]
    from gateway_service.settings import GatewayEnv

    return [(GatewayEnv, None)]


def settings_reads(process: str) -> dict[str, list[EnvRead]]:
    """Every variable the process's settings classes declare: their fields' env names (model_fields)."""
    found: dict[str, list[EnvRead]] = {}
    for model, prefix in settings_classes(process):
        for field, names in model.env_names(prefix).items():
            for name in names:
                found.setdefault(name, []).append(EnvRead(name, f"{model.__module__}.{model.__name__}.{field}"))
    return found


@functools.cache
def reads(process: str) -> dict[str, list[EnvRead]]:
    """What the process reads: its settings classes' fields, and the few reads elsewhere in the code it runs
    (paths, log level, thread counts, the shared LLM connection: found by tests/deploy/codescan.py)."""
    found = settings_reads(process)
    for name, elsewhere in env_reads(closure(process)).items():
        found.setdefault(name, []).extend(elsewhere)
    return found


def where(read_list: list[EnvRead]) -> str:
    return ", ".join(sorted({r.where for r in read_list}))


def repo_path(path: Path) -> str:
    return str(path.relative_to(REPO))
