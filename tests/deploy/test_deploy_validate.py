"""Every overlay renders with kustomize and passes kubernetes-validate --strict (bundled schemas, no cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import K8S, OVERLAYS, render, render_text

VALIDATOR = Path(sys.executable).with_name("kubernetes-validate")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_strict_schema_validation(overlay):
    if not VALIDATOR.exists():
        pytest.fail(f"{VALIDATOR} not found: `make install` (kubernetes-validate, requirements/deploy.in)")
    manifest = render_text(f"overlays/{overlay}")
    done = subprocess.run([str(VALIDATOR), "--strict", "-"], input=manifest, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, (f"kubernetes-validate --strict rejected overlays/{overlay}:\n"
                                  f"{done.stdout}{done.stderr}")
    # It must have looked at every resource, not at an empty stream.
    passed = [line for line in done.stdout.splitlines() if "passed for resource" in line]
    assert len(passed) == len(render(f"overlays/{overlay}")) > 30


@pytest.mark.parametrize("base", sorted(p.name for p in (K8S / "bases").iterdir()))
def test_every_base_renders_on_its_own(base):
    docs = render(f"bases/{base}")
    assert docs, f"bases/{base} renders nothing"


def test_overlays_use_every_base():
    bases = {p.name for p in (K8S / "bases").iterdir()}
    for overlay in OVERLAYS:
        text = (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        missing = sorted(b for b in bases if f"../../bases/{b}\n" not in text)
        assert not missing, f"overlays/{overlay} leaves out bases {missing}"
