"""Recorded histories replay against the code: changes to these workflows stay deterministic.

- subscription_before_renewal_due: a SubscriptionWorkflow run recorded before renewal reminders
  existed (two payments, one redelivered, expiry on the timer, a new period, a refund, another
  payment, a cancel). The `renewal-due` patch keeps such runs on their recorded commands.
- subscription_with_renewal_due: a run with the patch (activated, renewal_due, expired, then
  continued as new), recorded on the real stack.
- event_delivery_parked_then_redelivered: a user's EventDeliveryWorkflow whose first event was
  refused past the retry window (parked), then redelivered with the event that waited behind it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.event_delivery import EventDeliveryWorkflow, EventSweepWorkflow
from workflows.subscription import SubscriptionWorkflow

HISTORIES = Path(__file__).with_name("histories")


@pytest.mark.parametrize("name, workflow_id", [
    ("subscription_before_renewal_due", "subscription-user-7"),
    ("subscription_with_renewal_due", "subscription-user-73"),
    ("event_delivery_parked_then_redelivered", "events-user-75"),
])
async def test_recorded_histories_replay(name, workflow_id):
    history = WorkflowHistory.from_json(workflow_id, (HISTORIES / f"{name}.json").read_text())
    replayer = Replayer(workflows=[SubscriptionWorkflow, EventDeliveryWorkflow, EventSweepWorkflow],
                        data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
