"""A card gateway on 127.0.0.1 that speaks the API in services/gateways.py, plus helpers
shared by the payment tests (services and CLI). No tests here.

The gateway behaves like a real one where it matters: a request whose Idempotency-Key it
has completed before gets the first answer again and is not performed twice; requests
with the same key are served one at a time; a slow answer is still performed (the client
gave up, the gateway did not).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

KEY = "sk_test_packline"


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class Step:
    """How the gateway answers one request.

    kind: approve | decline | status (answer `code` with `body` and perform nothing) |
    garbage (200 with a body that is not JSON) | slow (hold the answer until the test sets
    `FakeGateway.release`, at most `seconds`, then approve: the client's timeout is what
    ends its wait, however busy the machine is) | drip (approve, sending the answer a
    byte every 0.05 s until released: each byte comes well inside a read timeout).
    """

    kind: str = "approve"
    reason: str = ""
    code: int = 200
    body: bytes = b""
    seconds: float = 10.0


@dataclass
class FakeGateway:
    port: int = 0
    script: list[Step] = field(default_factory=list)  # consumed in order; then approve
    calls: list[Call] = field(default_factory=list)
    performed: list[Call] = field(default_factory=list)  # operations that moved money
    results: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    replays: int = 0
    release: threading.Event = field(default_factory=threading.Event)  # ends a "slow" step

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *steps: Step) -> FakeGateway:
        self.script.extend(steps)
        return self

    def keys(self) -> list[str]:
        return [c.headers.get("Idempotency-Key", "") for c in self.calls]


_ids = itertools.count(1)


@contextmanager
def fake_gateway() -> Iterator[FakeGateway]:
    state = FakeGateway()
    lock = threading.Lock()
    key_locks: dict[str, threading.Lock] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            call = Call(self.path, dict(self.headers.items()), body)
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                state.calls.append(call)
                key_lock = key_locks.setdefault(key, threading.Lock())
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                self._answer(401, {"error": "invalid API key"})
                return
            with key_lock:
                with lock:
                    stored = state.results.get(key)
                    if stored is not None:
                        state.replays += 1
                    step = None if stored else (state.script.pop(0) if state.script else Step())
                if stored is not None:
                    self._send(*stored)
                    return
                assert step is not None
                if step.kind == "status":
                    self._send(step.code, step.body)
                    return
                if step.kind == "garbage":
                    self._send(200, b"<html>502 Bad Gateway</html>")
                    return
                if step.kind == "slow":
                    state.release.wait(step.seconds)
                if step.kind == "drip":
                    # ~12 s of bytes (JSON may carry spaces) unless released.
                    self._drip(b'{"status": "approved", "id": "ch_drip"' + b" " * 200 + b"}")
                    return
                prefix = {"/refunds": "re", "/voids": "vo", "/authorizations": "au"}
                ref = f"{prefix.get(self.path, 'ch')}_{next(_ids):05d}"
                if step.kind == "decline":
                    answer = {"status": "declined", "id": ref, "reason": step.reason}
                    code = 402
                else:
                    answer = {"status": "approved", "id": ref}
                    code = 200
                    with lock:
                        state.performed.append(call)
                data = json.dumps(answer).encode()
                with lock:
                    state.results[key] = (code, data)
            self._send(code, data)

        def _drip(self, data: bytes) -> None:
            with contextlib.suppress(OSError):  # the client may have given up
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    state.release.wait(0.05)

        def _answer(self, code: int, payload: dict[str, Any]) -> None:
            self._send(code, json.dumps(payload).encode())

        def _send(self, code: int, data: bytes) -> None:
            with contextlib.suppress(OSError):  # a client that timed out has left
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()  # a slow answer still held finishes now
        server.shutdown()
        server.server_close()
