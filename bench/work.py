"""What one operation asks of the Temporal server, counted from the histories it left."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


@dataclass(frozen=True)
class TemporalWork:
    workflows: int = 0
    workflow_tasks: int = 0
    activity_tasks: int = 0
    local_activities: int = 0

    def __add__(self, other: TemporalWork) -> TemporalWork:
        return TemporalWork(
            self.workflows + other.workflows,
            self.workflow_tasks + other.workflow_tasks,
            self.activity_tasks + other.activity_tasks,
            self.local_activities + other.local_activities,
        )

    def cells(self) -> list[str]:
        return [str(n) for n in (self.workflows, self.workflow_tasks, self.activity_tasks, self.local_activities)]


async def work_of(client: Client, workflow_ids: list[str]) -> TemporalWork:
    """The workflows' histories so far (their first runs), counted."""
    total = TemporalWork()
    for workflow_id in workflow_ids:
        tasks = activities = local = 0
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                tasks += 1
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activities += 1
            elif (
                event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
            ):
                local += 1
        total += TemporalWork(1, tasks, activities, local)
    return total
