"""The local OpenAI-compatible LLM server: ``python -m movierec_llm.server``.

llama.cpp's own HTTP server, in-process through the prebuilt ``xllamacpp`` wheel (no compiler):
``/v1/chat/completions`` with ``response_format`` json_schema enforced by grammar, streaming, ``/health``.
It serves ``LLM_MODEL_PATH`` (any GGUF) or the packaged model ``LLM_LOCAL_MODEL`` (``0.5b`` default,
``1.5b``), assembled and verified by :mod:`movierec_llm.model`.

Configuration: ``LLM_HOST`` (127.0.0.1), ``LLM_PORT`` (0 = a free port), ``LLM_CTX`` (4096 tokens),
``LLM_THREADS``
(1: on a shared 2-core machine two threads stall each other, measured 10× slower),
``LLM_PARALLEL`` (1 slot: on 2 cores a second slot only halves both),
``LLM_ALIAS`` (the model name it announces). With ``MOVIEREC_PORT_FILE`` set it writes
``{"tier": "llm", "port", "base_url", "model", "pid"}`` there once it answers /health, as the
gRPC tiers do.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path

from movierec_core.config import ConfigError, env_int, env_optional_str, env_str
from movierec_llm.model import ModelFetchError, model_alias, resolve_model_path

log = logging.getLogger("movierec.llm.server")


class LocalLlmServer:
    """One xllamacpp server; ``base_url`` is known once constructed (the model is loaded by then)."""

    def __init__(self, model_path: Path, *, alias: str, host: str = "127.0.0.1", port: int = 0,
                 n_ctx: int = 4096, threads: int = 1, parallel: int = 1):
        import xllamacpp  # imported here: only the llm process needs the native library

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.model_alias = {alias}
        params.hostnames = [host]
        params.port = port
        params.n_ctx = n_ctx
        params.n_parallel = parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # No busy-waiting between steps: on a shared machine a spinning thread that gets descheduled
        # stalls every barrier (measured here: 0.17 tokens/s with the default poll=50, 2 threads).
        params.cpuparams.poll = 0
        params.cpuparams_batch.poll = 0
        params.warmup = False  # the first request pays ~0.3 s instead of every start-up
        self.alias = alias
        self._server = xllamacpp.Server(params)  # loads the model, then listens (port 0 → a free port)
        address = str(self._server.listening_address).rstrip("/")
        self.root_url = address if address.startswith("http") else f"http://{address}"
        self.port = int(self.root_url.rsplit(":", 1)[1])
        self.base_url = f"{self.root_url}/v1"

    def healthy(self, timeout_s: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.root_url}/health", timeout=timeout_s) as response:
                return response.status == 200 and json.loads(response.read()).get("status") == "ok"
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        server, self._server = self._server, None
        del server  # the destructor stops the HTTP loop and frees the model


def server_from_env() -> LocalLlmServer:
    path = resolve_model_path()
    host = env_str("LLM_HOST", "127.0.0.1")
    return LocalLlmServer(path, alias=env_optional_str("LLM_ALIAS") or model_alias(path), host=host,
                          port=env_int("LLM_PORT", 0, minimum=0, maximum=65535),
                          n_ctx=env_int("LLM_CTX", 4096, minimum=512, maximum=131072),
                          threads=env_int("LLM_THREADS", 1, minimum=1, maximum=256),
                          parallel=env_int("LLM_PARALLEL", 1, minimum=1, maximum=16))


def write_port_file(path: Path, server: LocalLlmServer) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"tier": "llm", "port": server.port, "base_url": server.base_url,
                               "model": server.alias, "pid": os.getpid()}))
    tmp.replace(path)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        server = server_from_env()
    except (ConfigError, ModelFetchError) as error:
        print(f"llm server: {error}", file=sys.stderr)
        return 2
    if not server.healthy(timeout_s=30):
        print(f"llm server: {server.root_url}/health did not answer ok", file=sys.stderr)
        return 1
    port_file = env_optional_str("MOVIEREC_PORT_FILE")
    if port_file:
        write_port_file(Path(port_file), server)
    log.info("serving %s at %s", server.alias, server.base_url)
    print(json.dumps({"base_url": server.base_url, "model": server.alias}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
