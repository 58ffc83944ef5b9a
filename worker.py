"""The worker process: hosts every workflow and activity of paysaga, on two task queues.

The checkout queue carries what a buyer waits for (checkout workflows and their preference
creation); the main queue everything else (payments, subscriptions, reconciliation, events,
retention). Each has its own slots, sized to the machine (config/worker_slots.py), so a burst of
background work never delays a buyer's checkout, and the worker never takes on more than it can
finish within a task's timeout.

Run more of them, on any host, to scale out. SIGTERM or Ctrl-C stops it cleanly: in-flight
activities finish (or are retried elsewhere), workflows simply continue on another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import mercadopago
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import Worker

from activities import reconciliation as reconciliation_activities
from activities.events import EventActivities
from activities.mercadopago import MercadoPagoActivities, mercadopago_breaker
from activities.mercadopago_http import RebasedHttpClient
from activities.retention import RetentionActivities
from activities.routing import RoutingActivities
from activities.store import StoreActivities
from activities.subscriptions import SubscriptionActivities
from config.settings import ConfigurationError, Settings, load_settings
from config.temporal import connect_temporal
from config.worker_slots import worker_slots
from domain.plans import load_catalogue
from events.dispatch import EventKicker, ensure_sweep_schedule
from store.database import create_engine, create_session_factory
from store.plans_sync import sync_plans
from telemetry.log_context import ActivityLogContext
from telemetry.logs import configure_logging
from telemetry.tracing import instrument_engine, instrument_requests, setup_tracing
from telemetry.worker_metrics import start_worker_metrics
from workflows.checkout import CheckoutWorkflow
from workflows.event_delivery import EventDeliveryWorkflow, EventSweepWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import SCHEDULE_ID as RECONCILIATION_SCHEDULE_ID
from workflows.reconciliation import ReconciliationWorkflow
from workflows.reconciliation_messages import ReconcileInput
from workflows.retention import SCHEDULE_ID as RETENTION_SCHEDULE_ID
from workflows.retention import RetentionWorkflow
from workflows.retention_messages import PurgeBatch
from workflows.search_attributes import ALL
from workflows.subscription import SubscriptionWorkflow

log = logging.getLogger("paysaga.worker")

WORKFLOWS = [
    CheckoutWorkflow,
    PaymentWorkflow,
    SubscriptionWorkflow,
    ReconciliationWorkflow,
    EventDeliveryWorkflow,
    EventSweepWorkflow,
    RetentionWorkflow,
]


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Create the custom search attributes operators search by, when missing."""
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("created search attributes %s", ", ".join(sorted(missing)))


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """The daily reconciliation against MercadoPago; created once, left alone when present."""
    try:
        await client.create_schedule(
            RECONCILIATION_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ReconciliationWorkflow.run,
                    ReconcileInput(window_hours=48),  # overlapping windows: a missed day is still covered
                    id="reconciliation",
                    task_queue=settings.temporal_task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                # a run still going when the next is due: the next is skipped (two would only
                # duplicate the work); a run that never ends is caught by ReconciliationStale
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
        log.info("created schedule %s", RECONCILIATION_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:
        pass
    # the retention purge (periods are the worker's settings, read by its activities)
    try:
        await client.create_schedule(
            RETENTION_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    RetentionWorkflow.run,
                    PurgeBatch(),
                    id="retention",
                    task_queue=settings.temporal_task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.retention_interval)]),
            ),
        )
        log.info("created schedule %s", RETENTION_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:
        pass


def build_activities(settings: Settings, client: Client, session_factory) -> list:
    sdk = mercadopago.SDK(
        settings.mercadopago_access_token,
        http_client=RebasedHttpClient(settings.mercadopago_api_base_url),
    )
    gateway = MercadoPagoActivities(
        sdk,
        timeout_seconds=settings.mercadopago_timeout_seconds,
        breaker=mercadopago_breaker(
            settings.mercadopago_breaker_failures, settings.mercadopago_breaker_cooldown_seconds
        ),
        unknown_recheck_after_seconds=settings.unknown_payment_recheck_after.total_seconds(),
        back_urls={
            "success": settings.mercadopago_success_url,
            "failure": settings.mercadopago_failure_url,
            "pending": settings.mercadopago_pending_url,
        },
    )
    kicker = EventKicker(client, settings)
    store = StoreActivities(session_factory, on_events=kicker.kick_quietly)
    subscriptions = SubscriptionActivities(
        client,
        settings.temporal_task_queue,
        settings.subscription_continue_as_new_after,
        settings.renewal_reminder_lead.total_seconds(),
    )
    events = EventActivities(
        session_factory,
        endpoints=settings.event_webhook_url_list,
        secret=settings.event_secret,
        timeout_seconds=settings.event_delivery_timeout_seconds,
        kicker=kicker,
    )
    routing = RoutingActivities(client, settings.temporal_task_queue, settings.payment_router_idle.total_seconds())
    retention = RetentionActivities(
        session_factory, inbox_days=settings.retention_days, audit_days=settings.audit_retention_days
    )
    return [
        gateway.create_preference,
        gateway.get_payment,
        gateway.search_payments,
        gateway.search_recent_payments,
        gateway.search_payments_page,
        gateway.refund_payment,
        reconciliation_activities.succeeded,
        reconciliation_activities.failed,
        *store.all(),
        subscriptions.apply_payment,
        subscriptions.reverse_payment,
        routing.hint_payment,
        routing.hint_payments,
        routing.hand_to_checkout,
        *events.all(),
        *retention.all(),
    ]


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    # Temporal SDK metrics (task latencies, schedule-to-start, failures) and business metrics,
    # together on WORKER_METRICS_ADDRESS
    runtime = start_worker_metrics(settings.worker_metrics_address)
    setup_tracing("paysaga-worker")
    instrument_requests()
    client = await connect_temporal(settings, runtime=runtime)
    await ensure_search_attributes(client, settings.temporal_namespace)
    await ensure_schedules(client, settings)
    await ensure_sweep_schedule(client, settings)
    engine = create_engine(settings.database_url)
    instrument_engine(engine)
    session_factory = create_session_factory(engine)
    await sync_plans(session_factory, load_catalogue(settings.plans_file))
    slots = worker_slots(settings)
    activities = build_activities(settings, client, session_factory)
    # a thread for every activity slot of both queues: a MercadoPago call (the SDK is blocking)
    # never waits for a thread while its timeout runs
    with ThreadPoolExecutor(max_workers=2 * slots.activities, thread_name_prefix="mercadopago") as executor:

        def worker(task_queue: str, workflows: list) -> Worker:
            return Worker(
                client,
                task_queue=task_queue,
                workflows=workflows,
                activities=activities,
                activity_executor=executor,
                tuner=slots.tuner(),
                max_cached_workflows=settings.worker_max_cached_workflows,
                graceful_shutdown_timeout=timedelta(seconds=10),
                interceptors=[ActivityLogContext()],
            )

        # checkout runs started on the main queue before it had its own still finish there
        checkout = worker(settings.checkout_task_queue, [CheckoutWorkflow])
        background = worker(settings.temporal_task_queue, WORKFLOWS)
        async with checkout, background:
            log.info(
                "worker polling task queues %r and %r at %s (slots per queue: %s)",
                settings.checkout_task_queue,
                settings.temporal_task_queue,
                settings.temporal_address,
                slots,
            )
            await stop.wait()
            log.info("stopping: letting in-flight activities finish")
    await engine.dispose()


def main() -> None:
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"paysaga worker: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
