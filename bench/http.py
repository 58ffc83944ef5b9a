"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

The load generator shares the machine with what it measures, so it must cost as little CPU as
possible per request: no pool logic, no header objects, one connection per request in flight.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


class Connection:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname, parts.port or 80
        self._host_header = f"{self._host}:{self._port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body). A connection the server closed is reopened once."""
        for attempt in (1, 2):
            fresh = self._writer is None
            if fresh:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            try:
                return await self._exchange(method, target, body, headers or {})
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        assert self._writer is not None and self._reader is not None  # connected by request()
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        answer_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer_headers[name.lower()] = value.strip()
        if "transfer-encoding" in answer_headers:
            raise HttpError("chunked answers are not supported by this client")
        length = int(answer_headers.get("content-length", 0))
        payload = await self._reader.readexactly(length) if length else b""
        if "close" in answer_headers.get("connection", "").lower():
            self.close()
        return status, answer_headers, payload

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class ConnectionPool:
    """Connections handed out one per request in flight, reused afterwards."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._idle: list[Connection] = []

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body)."""
        status, _, payload = await self.exchange(method, target, body, headers)
        return status, payload

    async def exchange(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body)."""
        connection = self._idle.pop() if self._idle else Connection(self._base_url)
        try:
            answer = await connection.request(method, target, body, headers)
        except BaseException:
            connection.close()
            raise
        self._idle.append(connection)
        return answer

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
