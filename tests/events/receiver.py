"""A consumer of paysaga's events on loopback, that misbehaves on purpose.

It fails the first `fail_first` deliveries (HTTP 500), answers some slowly, can be taken down
(connection refused) and brought back on the same port, and can refuse one user's events
until told otherwise. It verifies every signature, and records what it accepted: a delivery
counts as received when the consumer processed it, even if its answer then came too late.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from devstack.processes import free_port
from events.signature import HEADER, SignatureError, verify


@dataclass
class Delivery:
    path: str
    raw: bytes
    header: str | None
    signature_ok: bool

    @property
    def event(self) -> dict:
        return json.loads(self.raw)


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0
    # (n, seconds): every n-th request answers after `seconds` (the first rule that matches)
    slow: list[tuple[int, float]] = field(default_factory=list)
    refuse_users: set[int] = field(default_factory=set)
    port: int = field(default_factory=free_port)
    requests: int = 0
    accepted: list[Delivery] = field(default_factory=list)
    refused: int = 0
    _server: asyncio.Server | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Down: nothing listens on the port (connection refused)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def received(self, path: str | None = None) -> list[dict]:
        """Events accepted (at `path`), in arrival order, each id once (first arrival kept)."""
        seen: set[str] = set()
        unique = []
        for delivery in self.accepted:
            event = delivery.event
            if (path is None or delivery.path == path) and event["id"] not in seen:
                seen.add(event["id"])
                unique.append(event)
        return unique

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status = await self._serve(reader)
            reason = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the sender gave up waiting: what it sent was processed all the same
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader) -> int:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:] if line)
        }
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests += 1
        number = self.requests
        if number <= self.fail_first:
            return 500
        header = headers.get(HEADER.lower())
        try:
            verify(self.secret, raw, header)
            signature_ok = True
        except SignatureError:
            signature_ok = False
        if not signature_ok:
            self.refused += 1
            return 500
        if json.loads(raw)["data"].get("userId") in self.refuse_users:
            return 503
        self.accepted.append(Delivery(path, raw, header, signature_ok))
        for every, seconds in self.slow:
            if number % every == 0:
                await asyncio.sleep(seconds)  # processed already: a late answer makes a duplicate
                break
        return 200
