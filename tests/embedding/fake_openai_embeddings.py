"""A tiny local HTTP server speaking OpenAI's ``POST /v1/embeddings`` protocol.

It stands in for api.openai.com, which tests cannot reach. Vectors are deterministic per text and
deliberately *not* normalized, and the ``data`` items come back in reverse order, so the tests prove
that the backend sorts by ``index`` and normalizes. A text equal to ``FAIL_TEXT`` makes it answer 500.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

FAIL_TEXT = "__please fail__"
DEFAULT_DIM = 3072  # text-embedding-3-large


def fake_vector(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return (np.random.default_rng(seed).normal(size=dim) * 3.0).astype(np.float32)


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                if FAIL_TEXT in inputs:
                    return self._send(500, {"error": {"message": "simulated outage", "type": "server_error"}})
                dim = int(body.get("dimensions") or DEFAULT_DIM)
                data = [{"object": "embedding", "index": i,
                         "embedding": self._encode(fake_vector(text, dim), body.get("encoding_format"))}
                        for i, text in enumerate(inputs)]
                self._send(200, {"object": "list", "data": list(reversed(data)), "model": body["model"],
                                 "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})

            @staticmethod
            def _encode(vector: np.ndarray, encoding_format: str | None):
                if encoding_format == "base64":
                    return base64.b64encode(vector.astype("<f4").tobytes()).decode()
                return vector.tolist()

            def _send(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler
