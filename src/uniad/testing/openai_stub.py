"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests and the benchmark.

It answers ``POST .../chat/completions`` from a list of replies (then ``SKIP``) and keeps
every request, so a caller can check what the ``openai:`` describer sends (frames as data
URLs, cast, previous ADs, budget) without a model or the network. A real server (vLLM,
llama.cpp, Ollama) takes its place in use. ``hold_after=N`` answers N requests and holds
the next ones unanswered (until :meth:`StubChatServer.release`), so a test can stop a
client in the middle of a request, as a crash would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubChatServer:
    """``with StubChatServer(["Anna waits.", "SKIP"]) as server: ... server.url ...``"""

    def __init__(self, answers: Iterable[str] = (), hold_after: int | None = None) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []  # every request received
        self.answered: list[dict[str, Any]] = []  # the requests that got their answer
        self.hold_after = hold_after
        self._open = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = {"path": self.path, "body": body,
                           "auth": self.headers.get("Authorization")}
                with stub._lock:
                    stub.requests.append(request)
                    held = stub.hold_after is not None and len(stub.answered) >= stub.hold_after
                if held:
                    stub._open.wait()
                    return  # released at the end: the client is gone, nothing to answer
                with stub._lock:
                    answer = stub.answers.pop(0) if stub.answers else "SKIP"
                    stub.answered.append(request)
                data = json.dumps({"object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test and bench output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to pass as ``--describer openai:URL``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> StubChatServer:
        self.thread.start()
        return self

    def release(self) -> None:
        """Let the held requests go (unanswered) and answer every later one."""
        with self._lock:
            self.hold_after = None
        self._open.set()

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
