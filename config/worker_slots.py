"""How much work one worker takes on at once, per task queue: fixed slots sized to the machine.

A worker that accepts more workflow tasks than its cores can run makes each of them slower, until
they outlive their timeout, are handed out again and run twice: throughput falls as load rises.
With fixed slots the excess waits on the server (counted as schedule-to-start latency, which the
alerts watch) and every task the worker holds finishes in time: throughput stays at its peak.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from temporalio.worker import WorkerTuner

from config.settings import Settings


@dataclass(frozen=True)
class WorkerSlots:
    workflow_tasks: int
    activities: int
    local_activities: int

    def tuner(self) -> WorkerTuner:
        return WorkerTuner.create_fixed(
            workflow_slots=self.workflow_tasks,
            activity_slots=self.activities,
            local_activity_slots=self.local_activities,
        )


def worker_slots(settings: Settings, cores: int | None = None) -> WorkerSlots:
    """The settings' slots, else: 4 workflow tasks per core (a task is CPU work, but it also
    waits on its local database writes), 16 activities per core (they wait on MercadoPago and
    the database), as many local activities as workflow tasks (each task writes one at a time)."""
    cores = max(1, cores or os.cpu_count() or 1)
    workflow_tasks = settings.worker_workflow_task_slots or 4 * cores
    return WorkerSlots(
        workflow_tasks=workflow_tasks,
        activities=settings.worker_activity_slots or 16 * cores,
        local_activities=settings.worker_local_activity_slots or workflow_tasks,
    )
