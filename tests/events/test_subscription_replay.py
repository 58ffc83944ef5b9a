"""SubscriptionWorkflow runs started before renewal reminders existed replay unchanged.

The history was recorded from the workflow as it was before `subscription.renewal_due`: two
payments (one redelivered), expiry on the timer, a new period, a refund, another payment and a
cancel. The `renewal-due` patch must keep such runs on their recorded commands.
"""
from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.subscription import SubscriptionWorkflow

HISTORIES = Path(__file__).with_name("histories")


async def test_a_history_from_before_renewal_reminders_replays():
    history = WorkflowHistory.from_json(
        "subscription-user-7", (HISTORIES / "subscription_before_renewal_due.json").read_text())
    replayer = Replayer(workflows=[SubscriptionWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
