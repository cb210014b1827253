"""The requirement files, read: requirements/*.in (top-level names, what people edit) and the locks
`make lock` compiles from them (requirements.txt and requirements/images/*.txt: every package pinned
with its sha256 hashes). README "Install" says which file is for what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.txt"
ROOT_IN = REPO / "requirements.in"
PARTS = REPO / "requirements"
IMAGES = PARTS / "images"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]
    marker: Marker | None

    def applies(self) -> bool:
        """Installed on this interpreter (a marker such as ``python_full_version < '3.11.3'``)."""
        return self.marker is None or self.marker.evaluate()


def read_in(path: Path) -> dict[str, str]:
    """Top-level requirements of an .in file, ``-r`` includes followed: normalized name → version
    spec ('' when the version comes from the lock it is compiled against)."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found.update(read_in(path.parent / line.split(None, 1)[1]))
            continue
        if line.startswith("-"):
            raise AssertionError(f"{path.relative_to(REPO)}: option {line!r}: indexes belong in pip's configuration")
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==\s*\S+)?", line)
        assert match, f"{path.relative_to(REPO)}: {line!r} is not a name or a name==version"
        found[normalize(match[1])] = (match[2] or "").replace(" ", "").removeprefix("==")
    return found


def read_lock(path: Path) -> dict[str, Pin]:
    """A compiled lock: normalized name → its pin (version, hashes, marker)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())  # join continuation lines
    pins: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split(" --hash=")
        spec, _, marker = requirement.partition(";")
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", spec.strip())
        assert match, f"{path.relative_to(REPO)}: {requirement!r} is not pinned with =="
        hashes = frozenset(o.strip() for o in options)
        pins[normalize(match[1])] = Pin(match[2], hashes, Marker(marker.strip()) if marker.strip() else None)
    return pins


def image_sources() -> dict[str, Path]:
    """Image name → its list of packages (requirements/images/<name>.in)."""
    return {p.stem: p for p in sorted(IMAGES.glob("*.in"))}
