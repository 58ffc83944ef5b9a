"""Every workflow replays the histories recorded from earlier code: a change that would break
running workflows fails here (and must go behind workflow.patched instead)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.replay.incompatible_checkout import CheckoutWorkflowThatSleepsFirst
from worker import WORKFLOWS

HISTORIES = sorted(Path(__file__).with_name("histories").glob("*.json"))
# recorded before a switch that is now deprecated (workflows/patches.py): kept to prove they fail
RETIRED = sorted(Path(__file__).with_name("histories").joinpath("retired").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def test_every_workflow_type_has_a_recorded_history():
    recorded = {
        load(path).events[0].workflow_execution_started_event_attributes.workflow_type.name for path in HISTORIES
    }
    assert recorded >= {workflow._Definition.must_from_class(w).name for w in WORKFLOWS}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))


@pytest.mark.parametrize("path", RETIRED, ids=lambda p: p.stem)
async def test_a_history_from_before_a_deprecated_switch_no_longer_replays(path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(path))


async def test_an_incompatible_change_is_caught():
    replayer = Replayer(workflows=[CheckoutWorkflowThatSleepsFirst], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(Path(__file__).with_name("histories") / "checkout_paid_local_first.json"))
