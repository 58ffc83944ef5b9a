"""The worker's one metrics endpoint, on its own: business metrics first, the SDK's appended."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import free_port
from telemetry import business_metrics
from telemetry.worker_metrics import WorkerMetricsServer, exposition, split_address


def test_addresses():
    assert split_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert split_address("[::1]:9464") == ("::1", 9464)
    with pytest.raises(ValueError, match="WORKER_METRICS_ADDRESS"):
        split_address("9464")


def test_without_the_sdk_the_scrape_still_answers_and_says_so():
    families = {f.name: f for f in text_string_to_metric_families(exposition(f"127.0.0.1:{free_port()}").decode())}
    assert families["paysaga_worker_sdk_metrics_up"].samples[0].value == 0
    assert "paysaga_payments" in families


SDK_TEXT = b"# HELP temporal_request_total Requests\n# TYPE temporal_request_total counter\ntemporal_request_total 3\n"


class _StandInSdk(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(SDK_TEXT)))
        self.end_headers()
        self.wfile.write(SDK_TEXT)

    def log_message(self, format, *args) -> None:
        pass


def test_the_server_serves_the_sdk_text_after_ours():
    sdk = ThreadingHTTPServer(("127.0.0.1", 0), _StandInSdk)
    threading.Thread(target=sdk.serve_forever, daemon=True).start()
    public_port = free_port()
    public = WorkerMetricsServer(f"127.0.0.1:{public_port}", f"127.0.0.1:{sdk.server_address[1]}").start()
    try:
        business_metrics.mercadopago_call("refund", 502, 0.2)
        text = httpx.get(f"http://127.0.0.1:{public_port}/metrics").text
        assert text.endswith(SDK_TEXT.decode()) and "paysaga_worker_sdk_metrics_up 1" in text
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        assert {"paysaga_mercadopago_request_duration_seconds_bucket", "temporal_request_total"} <= names
        assert httpx.get(f"http://127.0.0.1:{public_port}/other").status_code == 404
    finally:
        public.stop()
        sdk.shutdown()
        sdk.server_close()


def test_mercadopago_outcomes():
    assert [business_metrics.mercadopago_outcome(s) for s in (200, 201, 404, 401, 403, 400, 409, 429, 500, None)] == [
        "ok",
        "ok",
        "not_found",
        "unauthorized",
        "unauthorized",
        "rejected",
        "server_error",
        "throttled",
        "server_error",
        "unavailable",
    ]
