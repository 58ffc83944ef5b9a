"""Worker slots: sized to the machine unless set, per task queue."""

from __future__ import annotations

from config.settings import Settings
from config.worker_slots import WorkerSlots, worker_slots


def test_defaults_follow_the_cores():
    assert worker_slots(Settings(), cores=2) == WorkerSlots(workflow_tasks=8, activities=32, local_activities=8)
    assert worker_slots(Settings(), cores=8) == WorkerSlots(workflow_tasks=32, activities=128, local_activities=32)


def test_settings_win():
    settings = Settings(worker_workflow_task_slots=3, worker_activity_slots=5, worker_local_activity_slots=7)
    assert worker_slots(settings, cores=16) == WorkerSlots(workflow_tasks=3, activities=5, local_activities=7)


def test_checkout_queue_is_named_after_the_main_one_unless_set():
    assert Settings(temporal_task_queue="shop").checkout_task_queue == "shop-checkout"
    assert Settings(temporal_checkout_task_queue="buyers").checkout_task_queue == "buyers"
