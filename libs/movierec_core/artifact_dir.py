"""What every versioned artifact directory shares: a ``manifest.json`` with sha256 checksums of its data
files, validated on load, and an atomic write (temp dir + rename) so a reader never sees half a version.

The index (:mod:`movierec_core.index_artifact`) and the keyphrases
(:mod:`movierec_core.keyphrase_artifact`) add their own files and shape checks on top.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from movierec_core.hashing import sha256_file

MANIFEST = "manifest.json"


class ArtifactError(Exception):
    """An artifact is missing, corrupted or inconsistent."""


def read_manifest(path: Path, kind: str, build_command: str) -> dict:
    """``path/manifest.json`` parsed; ``kind`` ("index", "keyphrase") names the artifact in errors."""
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise ArtifactError(f"no {kind} artifact at {path} (missing {MANIFEST}); run `{build_command}`")
    try:
        return json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{manifest_path} is not valid JSON: {error}") from None


def verify_files(path: Path, manifest: dict, names: Iterable[str], kind: str, *, verify_checksums: bool) -> None:
    """Every data file exists and (unless ``verify_checksums`` is off) matches its manifest checksum."""
    for name in names:
        file = path / name
        if not file.exists():
            raise ArtifactError(f"{kind} artifact {path} is missing {name}")
        expected = manifest.get("files", {}).get(name)
        if verify_checksums and expected and sha256_file(file) != expected:
            raise ArtifactError(f"{kind} artifact {path}: {name} does not match its manifest checksum")


def write_version_dir(root: Path, version: str, data_files: Iterable[str],
                      write_files: Callable[[Path], dict]) -> Path:
    """Write ``root/version`` atomically and return it.

    ``write_files(tmp)`` writes the data files into ``tmp`` and returns the manifest without checksums;
    the checksums of ``data_files`` are added here, then the directory is renamed into place.
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root))
    tmp.chmod(0o755)  # mkdtemp is private; an artifact is read by other users' processes too
    try:
        manifest = write_files(tmp)
        manifest = {**manifest, "files": {name: sha256_file(tmp / name) for name in data_files}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
