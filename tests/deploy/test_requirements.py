"""The requirement files (README "Install"): requirements/*.in are the parts people edit, requirements.txt
and requirements/images/*.txt the hashed locks `make lock` compiles from them. Checked here: the locks
are current, every package has hashes, torch is the CPU build, `make install` and every Dockerfile
install only from a hashed lock, and every third-party import is declared in the part it belongs to."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

import pytest
from locks import IMAGES, LOCK, PARTS, REPO, ROOT_IN, image_sources, normalize, read_in, read_lock

DOCKERFILES = sorted((REPO / "deploy" / "docker").glob("*.Dockerfile"))
# Where code lives → the parts that may provide its imports (README "Install").
CODE_PARTS = {
    "libs": ("runtime",),
    "services": ("runtime",),
    "loadtest": ("runtime", "eval"),
    "eval": ("runtime", "eval"),
    "bench": ("runtime", "eval"),
    "tests": ("runtime", "build", "test", "ui-test", "deploy", "eval", "dev"),
}

# Offline jobs inside the serving folders that draw a report figure (matplotlib, requirements/eval.in).
OFFLINE_FILES = {"libs/movierec_catalog/maturity.py": ("runtime", "eval")}


def _locks():
    return [LOCK, *sorted(IMAGES.glob("*.txt"))]


def test_requirements_in_includes_every_part():
    included = {line.split(None, 1)[1] for line in ROOT_IN.read_text().splitlines() if line.startswith("-r ")}
    parts = {f"requirements/{p.name}" for p in PARTS.glob("*.in")}
    assert included == parts, f"requirements.in includes {sorted(included)}, the parts are {sorted(parts)}"
    assert {p.removeprefix("requirements/").removesuffix(".in") for p in parts} >= {
        "runtime", "test", "ui-test", "deploy", "eval"}


def test_the_lock_pins_every_top_level_requirement_at_its_version():
    lock = read_lock(LOCK)
    for name, version in read_in(ROOT_IN).items():
        assert name in lock, f"{name} is required but not locked: run `make lock`"
        if version:
            assert lock[name].version == version, (
                f"{name}=={version} in requirements/*.in, {lock[name].version} in requirements.txt: run `make lock`")


@pytest.mark.parametrize("path", _locks(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_locked_package_has_its_hashes(path):
    pins = read_lock(path)
    assert pins, f"{path.name} pins nothing"
    for name, pin in pins.items():
        assert pin.hashes, f"{path.name}: {name} has no hash (pip --require-hashes would refuse it)"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), f"{path.name}: {name}"


def test_every_image_lock_is_compiled_from_its_list_at_the_project_pins():
    project = read_lock(LOCK)
    sources = image_sources()
    assert {p.stem for p in IMAGES.glob("*.txt")} == set(sources), "one .txt per requirements/images/*.in"
    for image, source in sources.items():
        lock = read_lock(source.with_suffix(".txt"))
        missing = sorted(set(read_in(source)) - set(lock))
        assert not missing, f"requirements/images/{image}.in names {missing}, its lock does not: `make lock`"
        for name, pin in lock.items():
            assert name in project, f"{image}: {name} is not in requirements.txt"
            assert pin.version == project[name].version, f"{image}: {name}=={pin.version}, the project's is " \
                                                         f"{project[name].version}: `make lock`"
            assert pin.hashes <= project[name].hashes, f"{image}: {name}'s hashes are not the project's"


@pytest.mark.parametrize("path", _locks(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_torch_is_the_cpu_build_and_no_cuda_package_is_locked(path):
    pins = read_lock(path)
    if "torch" in pins:
        assert pins["torch"].version.endswith("+cpu"), f"{path.name}: torch=={pins['torch'].version}"
    gpu = sorted(n for n in pins if n.startswith(("nvidia-", "triton", "cuda")))
    assert not gpu, f"{path.name} locks CUDA packages: {gpu}"


def test_the_environment_is_the_lock():
    """What `make install` installed is what requirements.txt says (run `make install` after `make lock`)."""
    wrong = {}
    for name, pin in read_lock(LOCK).items():
        if not pin.applies():
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            wrong[name] = (pin.version, installed)
    assert not wrong, f"locked vs installed: {wrong}"
    assert importlib.metadata.version("torch").endswith("+cpu")
    cuda = sorted(d.metadata["Name"] for d in importlib.metadata.distributions()
                  if normalize(d.metadata["Name"]).startswith(("nvidia-", "triton")))
    assert not cuda, f"CUDA packages installed: {cuda}"


def test_make_install_installs_the_hashed_lock():
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\): (.*)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and recipe[1].split() == ["requirements.txt"], "the stamp is renewed when the lock changes"
    assert "pip install" in recipe[2] and "--require-hashes -r requirements.txt" in recipe[2]
    assert re.search(r"^lock: .*\n\t\$\(PY\) requirements/lock\.py \$\(LOCK_ARGS\)$", makefile, re.MULTILINE)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_dockerfile_installs_only_from_a_hashed_lock(path):
    text = re.sub(r"\\\n", " ", path.read_text())
    installs = [line for line in text.splitlines() if not line.lstrip().startswith("#") and "pip install" in line]
    assert installs, f"{path.name} installs nothing"
    for line in installs:
        for command in re.findall(r"pip install ([^&;]*)", line):
            words = command.split()
            assert "--require-hashes" in words, f"{path.name}: `pip install {command.strip()}` without hashes"
            locks = [words[i + 1] for i, w in enumerate(words) if w == "-r"]
            positional = [w for i, w in enumerate(words) if not w.startswith("-")
                          and words[i - 1] not in ("-r", "--prefix", "--extra-index-url")]
            assert locks and not positional, f"{path.name}: `pip install {command.strip()}` names packages"
            for lock in locks:
                name = lock.replace("${TIER}", "embedding")
                assert re.fullmatch(r"requirements/images/[\w-]+\.txt", name), f"{path.name}: {lock}"
                assert (REPO / name).is_file(), f"{path.name}: {lock} does not exist"


def _first_party() -> set[str]:
    names = {"gen", "conftest"}
    for path in REPO.rglob("*.py"):
        if ".venv" not in path.parts:
            names.update(part.removesuffix(".py") for part in path.relative_to(REPO).parts)
    return names


def _optional(tree: ast.Module) -> set[ast.AST]:
    """Imports inside ``try: … except ImportError`` (optional: the code works without them)."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            guarded.update(n for statement in node.body for n in ast.walk(statement))
    return guarded


def _imports(path) -> set[str]:
    """Top-level modules a file imports, optional imports left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found, optional = set(), _optional(tree)
    for node in ast.walk(tree):
        if node in optional:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("folder", sorted(CODE_PARTS))
def test_every_third_party_import_is_declared_in_its_part(folder):
    """A package the code imports is named in requirements/<part>.in, not left to be some other package's
    dependency (issue #18: starlette, googleapis-common-protos, PyYAML, hypothesis, packaging were)."""
    def declared(path) -> set[str]:
        parts = OFFLINE_FILES.get(path.relative_to(REPO).as_posix(), CODE_PARTS[folder])
        return {name for part in parts for name in read_in(PARTS / f"{part}.in")}

    providers = importlib.metadata.packages_distributions()
    first_party, stdlib = _first_party(), set(sys.stdlib_module_names) | {"__future__"}
    undeclared: dict[str, set[str]] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        for top in _imports(path) - stdlib - first_party:
            dists = {normalize(d) for d in providers.get(top, [])}
            assert dists, f"{path.relative_to(REPO)} imports {top}, which no installed package provides"
            if not dists & declared(path):
                undeclared.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    assert not undeclared, (f"{folder}/ imports packages not declared in requirements/"
                            f"{{{','.join(CODE_PARTS[folder])}}}.in: {undeclared}")
