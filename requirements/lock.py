"""`make lock`: resolve requirements/*.in into the hashed locks with uv.

requirements.in (every part, the .venv) → requirements.txt; then each image's list,
requirements/images/<name>.in → requirements/images/<name>.txt, constrained by requirements.txt so an
image gets exactly the versions (and hashes) the tests run with. The target is Linux x86_64, CPython 3.11
(the .venv here and the python:3.11 images). uv does not read pip's configuration, so the indexes pip is
configured with (`pip config list`: index-url, extra-index-url, find-links) are passed to it; this is how
the torch CPU wheel is found. Existing pins are kept (uv prefers the versions already in the output);
never edit a lock by hand: uv would keep its hashes for the new version. See the README's "Install".
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "requirements" / "images"
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
INDEX_OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}


def pip_index_arguments() -> list[str]:
    """uv arguments for the indexes pip uses here (environment variables win over the config files)."""
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True,
                             text=True).stdout
    values: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        key, _, raw = line.partition("=")
        scope, _, name = key.rpartition(".")
        if name in INDEX_OPTIONS and scope in (":env:", "global", "install"):
            rank = {"global": 0, "install": 1, ":env:": 2}[scope]
            if name not in values or rank >= values[name][0]:
                values[name] = (rank, shlex.split(raw)[0] if raw else "")
    arguments = []
    for name, (_, value) in sorted(values.items()):
        for item in value.split():
            arguments += [INDEX_OPTIONS[name], item]
    return arguments


def compile_lock(source: Path, output: Path, indexes: list[str], constraint: Path | None = None,
                 extra: tuple[str, ...] = ()) -> None:
    command = [str(Path(sys.executable).parent / "uv"), "pip", "compile", "--quiet", "--generate-hashes",
               "--index-strategy", "unsafe-best-match", "--custom-compile-command", "make lock", *TARGET, *indexes,
               *extra]
    if constraint is not None:
        command += ["--constraint", str(constraint.relative_to(REPO))]
    command += ["--output-file", str(output.relative_to(REPO)), str(source.relative_to(REPO))]
    print("lock:", source.relative_to(REPO), "→", output.relative_to(REPO), flush=True)
    before = (output.read_bytes(), output.stat()) if output.exists() else None
    subprocess.run(command, check=True, cwd=REPO)
    if before is not None and output.read_bytes() == before[0]:
        # Unchanged: keep the old time stamp, so `make install` stays a no-op.
        os.utime(output, ns=(before[1].st_atime_ns, before[1].st_mtime_ns))


def main() -> int:
    indexes = pip_index_arguments()
    full = REPO / "requirements.txt"
    # Extra uv arguments (make lock LOCK_ARGS=...), e.g. --upgrade-package NAME[==VERSION] to move a
    # transitive pin; the image locks then follow requirements.txt.
    compile_lock(REPO / "requirements.in", full, indexes, extra=tuple(sys.argv[1:]))
    for source in sorted(IMAGES.glob("*.in")):
        compile_lock(source, source.with_suffix(".txt"), indexes, constraint=full)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
