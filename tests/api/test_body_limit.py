"""Request bodies are limited before anything reads, parses or authenticates them: a declared
Content-Length over the limit is refused unread, a streamed body is cut off at the limit."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import uvicorn

from api.main import create_app
from api.routers.webhooks import MAX_BODY_BYTES as WEBHOOK_LIMIT
from tests.api.helpers import bearer, serve, signed_webhook
from tests.api.test_api_checkout import _checkout, live_settings, stand_ins  # noqa: F401 (a fixture)
from tests.support.waiting import eventually

CHECKOUT = "/api/payments/checkout"
HUGE = 200 * 1024 * 1024
CHUNK = 64 * 1024


class Upload:
    """A 200 MiB body produced as it is sent (never allocated), counting what was taken of it."""

    def __init__(self, size: int = HUGE) -> None:
        self.size = size
        self.yielded = 0

    async def __aiter__(self):
        chunk = b"x" * CHUNK
        while self.yielded < self.size:
            self.yielded += CHUNK
            yield chunk


def _refused(response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {"error": "payload_too_large", "message": f"the request body exceeds {limit} bytes"}
    assert response.headers["connection"] == "close"


async def test_a_huge_streamed_body_without_token_is_refused_at_the_limit(make_settings):
    settings = make_settings()
    upload = Upload()
    async with serve(settings) as client:  # chunked: no Content-Length to refuse it up front
        response = await client.post(CHECKOUT, content=upload, headers={"content-type": "application/json"})
    _refused(response, settings.max_request_body_bytes)
    assert upload.yielded <= settings.max_request_body_bytes + CHUNK, upload.yielded


async def test_a_declared_length_over_the_limit_is_refused_unread(make_settings):
    settings = make_settings()
    upload = Upload()
    async with serve(settings) as client:
        response = await client.post(
            CHECKOUT, content=upload, headers={"content-length": str(HUGE), "content-type": "application/json"}
        )
    _refused(response, settings.max_request_body_bytes)
    assert upload.yielded <= CHUNK  # nothing, or the one chunk the client had in hand


async def test_a_lying_content_length_does_not_lift_the_limit(make_settings):
    settings = make_settings()
    upload = Upload()
    async with serve(settings) as client:
        response = await client.post(
            CHECKOUT, content=upload, headers={"content-length": "20", "content-type": "application/json"}
        )
    _refused(response, settings.max_request_body_bytes)
    assert upload.yielded <= settings.max_request_body_bytes + CHUNK, upload.yielded


async def test_the_limit_is_a_setting(make_settings):
    settings = make_settings(max_request_body_bytes=4096)
    async with serve(settings) as client:
        small = await client.post(CHECKOUT, json={"userId": 1, "planId": 1, "pad": "x" * 3000})
        large = await client.post(CHECKOUT, json={"userId": 1, "planId": 1, "pad": "x" * 5000})
    assert small.status_code == 401  # read, then refused for want of a token
    _refused(large, 4096)


async def test_the_codec_takes_larger_bodies_and_is_limited_too(make_settings):
    settings = make_settings(max_codec_body_bytes=256 * 1024)
    admin = bearer(settings, 99, roles=["admin"])
    payload = {"payloads": [{"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "eA==" * 40_000}]}  # 160 KB
    async with serve(settings) as client:
        fits = await client.post("/codec/decode", json=payload, headers=admin)
        upload = Upload()
        too_large = await client.post("/codec/decode", content=upload, headers=admin)
    assert fits.status_code == 200, fits.text
    _refused(too_large, 256 * 1024)
    assert upload.yielded <= 256 * 1024 + CHUNK


async def test_the_webhook_keeps_its_own_limit(make_settings):
    settings = make_settings(max_request_body_bytes=1024)  # smaller than a webhook's: the webhook's holds
    webhook = signed_webhook("5300000001")
    async with serve(settings) as client:
        fits = await client.post(webhook.url, headers=webhook.headers, content=b" " * (WEBHOOK_LIMIT - 10))
        upload = Upload()
        too_large = await client.post(webhook.url, headers=webhook.headers, content=upload)
    assert fits.status_code == 503  # verified and relayed; Temporal is down in these tests
    assert too_large.status_code == 413 and too_large.json()["error"] == "payload_too_large"
    assert upload.yielded <= WEBHOOK_LIMIT + CHUNK


async def test_a_normal_checkout_still_works(live_settings, temporal_env, db):  # noqa: F811
    settings = live_settings()
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        response = await client.post(CHECKOUT, **_checkout(settings, plan_id=2))
    assert response.status_code == 201, response.text


# --- over a real socket ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def uvicorn_serving(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: _started(server), timeout=20, interval=0.05, what="uvicorn started")
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_uvicorn_stops_reading_a_huge_upload(make_settings, framing):
    settings = make_settings()
    async with uvicorn_serving(create_app(settings)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        length = "Transfer-Encoding: chunked" if framing == "chunked" else f"Content-Length: {HUGE}"
        writer.write(
            f"POST {CHECKOUT} HTTP/1.1\r\nHost: paysaga.test\r\nContent-Type: application/json\r\n"
            f"{length}\r\n\r\n".encode()
        )
        chunk = b"x" * CHUNK
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if framing == "chunked" else chunk

        async def upload() -> int:
            sent = 0
            with contextlib.suppress(ConnectionError):
                while sent < HUGE:
                    writer.write(framed)
                    await writer.drain()
                    sent += CHUNK
            return sent

        uploading = asyncio.create_task(upload())
        answer = await asyncio.wait_for(_read_until_closed(reader), 30)
        # the server closes the connection after its answer: the upload stops short
        sent = await asyncio.wait_for(uploading, 30)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert sent < 32 * 1024 * 1024, sent  # at most what the kernel's socket buffers held, not 200 MiB


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the server answered before it closed (a reset, as the upload was cut: whatever arrived)."""
    answer = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            answer += chunk
    return answer
