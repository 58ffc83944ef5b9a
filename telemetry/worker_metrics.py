"""One Prometheus endpoint at WORKER_METRICS_ADDRESS for the Temporal SDK's metrics and ours.

The SDK (its Rust core) serves its own Prometheus endpoint; we bind it to a private loopback
port and serve, at the public address, our business metrics followed by the SDK's text as
it is. Both are text exposition format 0.0.4 with disjoint names (`paysaga_*`, `temporal_*`),
so concatenating them is a valid scrape, and the SDK's histograms and names reach Prometheus
untouched (no translation to get wrong). If the SDK's endpoint does not answer, the scrape
still succeeds and `paysaga_worker_sdk_metrics_up` says 0.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from telemetry import business_metrics

log = logging.getLogger("paysaga.telemetry")

SDK_SCRAPE_TIMEOUT_SECONDS = 2.0

# The SDK's default buckets jump 0.1, 0.5, 1, 5, 10 s: too coarse to tell a task that waited
# 50 ms from one that waited 2 s (the alerts' threshold, and a buyer's patience at checkout)
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS = {
    name: _SECONDS
    for name in (
        "workflow_task_schedule_to_start_latency",
        "activity_schedule_to_start_latency",
        "workflow_task_execution_latency",
        "activity_execution_latency",
    )
}


def split_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port`."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"WORKER_METRICS_ADDRESS must be host:port, not {address!r}")
    return host.strip("[]"), int(port)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sdk_runtime(attempts: int = 5) -> tuple[Runtime, str]:
    """A Temporal runtime whose SDK metrics are served on a private loopback port."""
    for attempt in range(attempts):
        address = f"127.0.0.1:{_free_loopback_port()}"
        try:
            config = PrometheusConfig(
                bind_address=address,
                # Prometheus conventions: counters end in _total, durations are _seconds
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides=LATENCY_BUCKETS,
            )
            # the SDK core's own log lines go through Python logging, so they come out as JSON too
            core_logs = LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            )
            return Runtime(telemetry=TelemetryConfig(metrics=config, logging=core_logs)), address
        except Exception:  # the port was taken between choosing and binding it
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def exposition(sdk_address: str | None) -> bytes:
    parts = [generate_latest(business_metrics.REGISTRY), generate_latest(prometheus_client.REGISTRY)]
    sdk_up = 0
    if sdk_address:
        try:
            with urllib.request.urlopen(f"http://{sdk_address}/metrics", timeout=SDK_SCRAPE_TIMEOUT_SECONDS) as answer:
                sdk_text = answer.read()
            sdk_up = 1
        except OSError as exc:
            log.warning("Temporal SDK metrics unavailable: %s", exc)
            sdk_text = b""
    else:
        sdk_text = b""
    parts.append(
        b"# HELP paysaga_worker_sdk_metrics_up Whether the Temporal SDK's metrics were read for this scrape\n"
        b"# TYPE paysaga_worker_sdk_metrics_up gauge\n" + f"paysaga_worker_sdk_metrics_up {sdk_up}\n".encode()
    )
    if sdk_text and not sdk_text.endswith(b"\n"):
        sdk_text += b"\n"
    parts.append(sdk_text)
    return b"".join(parts)


class WorkerMetricsServer:
    """Serves `GET /metrics` at the public address on a daemon thread."""

    def __init__(self, address: str, sdk_address: str | None) -> None:
        host, port = split_address(address)
        sdk = sdk_address

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = exposition(sdk)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass  # one line per scrape is noise

        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
        if ":" in host:
            server_class = type("ThreadingHTTPServerV6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="worker-metrics", daemon=True)

    def start(self) -> WorkerMetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_worker_metrics(address: str) -> Runtime:
    """Bind the public metrics endpoint now (it doubles as the worker's liveness port) and
    return the Temporal runtime that feeds it."""
    # `*_created` timestamp series double the output and no dashboard or alert reads them
    prometheus_client.disable_created_metrics()
    runtime, sdk_address = sdk_runtime()
    WorkerMetricsServer(address, sdk_address).start()
    return runtime
