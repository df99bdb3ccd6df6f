"""A small OpenAI-compatible chat server of our own, for tests of what ragapp does with servers that
misbehave: it ignores the answer's constraint, cites passages that were not shown, sends garbage,
answers 5xx, or stalls. Its behaviour is `FakeServer.mode` (changed by the test between questions);
every request body is kept in `FakeServer.requests`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class FakeServer:
    def __init__(
        self, reply: str | Callable[[dict], str] = "", mode: str = "ok", props: dict | None = None, pages: dict | None = None
    ) -> None:
        self.reply = reply
        self.pages = pages or {}  # other GET routes and their JSON (/version for vLLM, /api/version for Ollama)
        self.mode = mode  # ok | garbage | error500 | stall | stall_mid
        self.props = props  # served at /props (a llama.cpp server says what it is there)
        self.stall_s = 5.0
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "fake-7b", "object": "model"}]}).encode())
                elif self.path == "/props" and fake.props is not None:
                    self._send(200, json.dumps(fake.props).encode())
                elif self.path in fake.pages:
                    self._send(200, json.dumps(fake.pages[self.path]).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path == "/tokenize" and fake.props is not None:  # llama-server's tokenizer: a word a token
                    self._send(200, json.dumps({"tokens": list(range(len(body["content"].split())))}).encode())
                    return
                fake.requests.append(body)
                if fake.mode == "error500":
                    self._send(500, b'{"error": {"message": "CUDA out of memory"}}')
                    return
                if fake.mode == "stall":
                    time.sleep(fake.stall_s)
                    self._send(200, b"")
                    return
                if fake.mode == "garbage":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(b"data: <html>Bad Gateway</html>\n\n")
                    return
                text = fake.reply(body) if callable(fake.reply) else fake.reply
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i in range(0, len(text), 8):
                    chunk = {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text[i:i + 8]}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    if fake.mode == "stall_mid" and i >= 8:
                        time.sleep(fake.stall_s)
                        return
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler
