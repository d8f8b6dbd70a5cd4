"""A real ``cnnkit serve`` app on 127.0.0.1, on a free port, in a thread (for the serve tests)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request


class Running:
    """Start ``app`` under uvicorn on 127.0.0.1:0; ``url`` is its address; ``stop()`` ends it.

    The socket listens before the thread starts, so the first request simply queues.
    """

    def __init__(self, app):
        import uvicorn

        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def request(self, path: str, body: bytes | dict | None = None, headers=None):
        """(status, headers, body bytes) of a GET (no body) or POST."""
        data, extra = body, dict(headers or {})
        if isinstance(body, dict):
            data = json.dumps(body).encode()
            extra.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path.lstrip("/"), data=data, headers=extra,
                                         method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def json(self, path: str, body=None, headers=None):
        status, _, payload = self.request(path, body, headers)
        return status, json.loads(payload)
