"""A local OpenAI-compatible chat server for the LLM path's protocol and failure tests.

It is a real HTTP server (http.server on port 0, in a thread) speaking the chat-completions
protocol; only its *behaviour* is scripted, because a remote LLM's faults (timeouts, HTTP 500,
malformed JSON) cannot be produced on demand by a real model.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    """What the server does next: ``mode`` and the requests it received."""

    mode: str = "valid"
    delay_s: float = 0.0
    planted_factor: dict | None = None
    taste: str = "slow-burn crime thrillers from the 1990s with heists"
    requests: list[dict] = field(default_factory=list)


def _candidates(body: dict) -> list[int]:
    payload = json.loads(body["messages"][-1]["content"])
    return [c["movie_id"] for c in payload["CANDIDATES"]]


def _top_n(body: dict) -> int:
    system = body["messages"][0]["content"]
    return int(system.split("choose exactly ")[1].split()[0])


def _reply_content(script: Script, body: dict) -> str:
    if script.mode == "malformed":
        return '{"recommendations": [{"movie_id": 12, "factors": [ }'  # truncated JSON
    if "CANDIDATES" not in body["messages"][-1]["content"]:  # the taste normalizer
        return json.dumps({"taste": script.taste})
    ids = _candidates(body)
    top_n = _top_n(body)
    if script.mode == "unknown_id":
        picks = [999_999_999, *ids[: top_n - 1]]
    elif script.mode == "duplicate":
        picks = [ids[0], ids[0], *ids[1: top_n - 1]]
    else:  # a valid answer in reverse numeric order, so the test can tell the LLM's order was used
        picks = list(reversed(ids))[:top_n]
    recommendations = []
    for movie_id in picks:
        factors = [script.planted_factor] if script.planted_factor else []
        recommendations.append({"movie_id": movie_id, "explanation": "fits", "factors": factors})
    text = json.dumps({"recommendations": recommendations})
    return f"```json\n{text}\n```" if script.mode == "fenced" else text


class FakeChatServer:
    def __init__(self):
        self.script = Script()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                server.script.requests.append(body)
                if server.script.delay_s:
                    time.sleep(server.script.delay_s)
                if server.script.mode == "http_500":
                    self._send(500, {"error": {"message": "model crashed", "type": "server_error"}})
                    return
                content = _reply_content(server.script, body)
                message = {"role": "assistant", "content": content}
                finish = "stop"
                if server.script.mode == "refusal":
                    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
                self._send(200, {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                                 "model": body.get("model", "fake"),
                                 "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
