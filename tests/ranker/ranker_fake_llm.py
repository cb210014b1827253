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
    explanation: str = "A tense pick you will enjoy."
    theme_names: list[str] = field(default_factory=list)  # answered in order to "theme" requests
    requests: list[dict] = field(default_factory=list)


def _schema(body: dict) -> dict:
    return body["response_format"]["json_schema"]["schema"]


def _reply_content(script: Script, body: dict) -> str:
    if script.mode == "malformed":
        return '{"picks": [{"movie_id": 12, "kind": [ }'  # truncated JSON
    name = body["response_format"]["json_schema"]["name"]
    if name == "taste":
        return json.dumps({"taste": script.taste})
    if name == "theme":
        return json.dumps({"name": script.theme_names.pop(0)})
    if name == "explain":
        ids = _schema(body)["properties"]["explanations"]["items"]["properties"]["movie_id"]["enum"]
        return json.dumps({"explanations": [{"movie_id": i, "text": script.explanation} for i in ids]})
    picks_schema = _schema(body)["properties"]["picks"]
    ids = picks_schema["items"]["properties"]["id"]["enum"]
    top_n = picks_schema["minItems"]
    if script.mode == "unknown_id":
        picks = [999_999_999, *ids[: top_n - 1]]
    elif script.mode == "duplicate":
        picks = [ids[-1], ids[-1], *ids[1: top_n - 1]]
    else:  # a valid answer in reverse numeric order, so the test can tell the LLM's order was used
        picks = list(reversed(ids))[:top_n]
    reason = script.planted_factor or {"kind": "genre", "value": "Drama"}
    return json.dumps({"picks": [{"id": movie_id, **reason} for movie_id in picks]})


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
