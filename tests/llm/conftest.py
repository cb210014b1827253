"""The real local model for tests: ``llm_server`` starts ``python -m movierec_llm.server`` once per session
with the packaged 0.5B GGUF (assembled from PyPI wheels and verified on first use, then cached by hash).

Reuse it from any test in tests/llm::

    async def test_something(llm_server):
        client = llm_server.client()          # a movierec_llm.LlmClient bound to the real server
        env = llm_server.env                  # LLM_BASE_URL / LLM_MODEL for a tier you start
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from movierec_core.devstack import spawn, wait_port_file
from movierec_llm import LlmClient, LlmSettings
from movierec_llm.model import ensure_model

FIXTURES = Path(__file__).with_name("fixtures")


@dataclass(frozen=True)
class LocalLlm:
    base_url: str
    model: str
    log_path: Path

    @property
    def env(self) -> dict[str, str]:
        return {"LLM_BASE_URL": self.base_url, "LLM_MODEL": self.model}

    def client(self, **timeouts_s: float) -> LlmClient:
        return LlmClient(LlmSettings(base_url=self.base_url, model=self.model, timeouts_s=timeouts_s))


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory) -> Iterator[LocalLlm]:
    """The real llama.cpp server (xllamacpp) with Qwen2.5-Coder-0.5B-Instruct Q4_K_M on a free port."""
    model_path = os.environ.get("LLM_MODEL_PATH") or str(ensure_model("0.5b"))
    root = tmp_path_factory.mktemp("llm")
    env = {**os.environ, "LLM_MODEL_PATH": model_path, "LLM_PORT": "0", "MOVIEREC_PORT_FILE": str(root / "port.json"),
           "PYTHONUNBUFFERED": "1"}
    proc = spawn("llm", [sys.executable, "-m", "movierec_llm.server"], env, root / "logs")
    try:
        info = wait_port_file(root / "port.json", proc, 180)
        yield LocalLlm(info["base_url"], info["model"], proc.log_path)
    finally:
        proc.stop()
