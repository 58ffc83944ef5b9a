"""OpenTelemetry traces: one trace from the API request through the workflow, its activities,
the SDK's HTTP calls to MercadoPago and the SQL they run.

Spans are always created (log lines carry their trace id); they leave the process only when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, over OTLP/HTTP protobuf.
Every other standard `OTEL_*` variable (sampler, headers, batch delays) is read by the SDK.
"""

from __future__ import annotations

import logging
import os
import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = logging.getLogger("paysaga.telemetry")

# Probes and scrapes are not worth a trace each.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"

_lock = threading.Lock()
_provider: TracerProvider | None = None


def exporting() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup_tracing(default_service_name: str) -> TracerProvider:
    """Install the process's tracer provider once; later calls return the same one."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        service_name = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
        resource = Resource.create({"service.name": service_name}).merge(OTELResourceDetector().detect())
        # OTEL_RESOURCE_ATTRIBUTES may not rename us unless OTEL_SERVICE_NAME says so
        resource = resource.merge(Resource({"service.name": service_name}))
        # shutdown_on_exit (the default): what is still buffered is flushed when the process exits
        provider = TracerProvider(resource=resource)
        if exporting():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            log.info("exporting traces over OTLP/HTTP as %s", service_name)
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def instrument_requests() -> None:
    """The official MercadoPago SDK speaks `requests`: one client span per call."""
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    instrumentor = RequestsInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument_engine(engine) -> None:
    """One span per SQL statement of an AsyncEngine (events fire on its sync engine)."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return  # a process has one engine; a second app in one process (tests) goes untraced
    instrumentor.instrument(engine=engine.sync_engine)


def instrument_fastapi(app) -> None:
    """Server spans for every request but the probes; the tracer provider may come later."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # the ASGI send/receive sub-spans say nothing the request span does not
    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"])
