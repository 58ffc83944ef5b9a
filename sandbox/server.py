"""Run the sandbox with uvicorn on a background thread, for tests and the embedded stack.
The socket is bound before the app is built, so a free port (0) still yields a known public URL."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .config import SandboxConfig


class SandboxServer:
    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        config = config or SandboxConfig()
        self.config = config if config.public_url else dataclasses.replace(config, public_url=self.url)
        self.app: FastAPI = create_app(self.config)
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level=log_level, lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="mercadopago-sandbox", daemon=True
        )

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the MercadoPago sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
