"""The floor: the least a workflow can cost on this Temporal server.

A workflow that waits for one signal, runs one no-op activity and ends, on a worker of its
own (`python -m bench.floor`, default SDK settings) and a task queue of its own. What it
reaches (start rate, signal latency, completed workflows per second, raw signal-with-start)
is the limit paysaga is measured against, on the same server in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

TASK_QUEUE = "bench-floor"


@activity.defn(name="bench.noop")
async def noop() -> None:
    return None


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    def __init__(self) -> None:
        self._signalled = False

    @workflow.signal
    def go(self) -> None:
        self._signalled = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._signalled)
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))


class Floor:
    """The client side of the floor's measurements; ids are unique per `run_id`."""

    def __init__(self, client: Client, run_id: str, task_queue: str = TASK_QUEUE) -> None:
        self._client = client
        self._run_id = run_id
        self._task_queue = task_queue
        self.started: list[str] = []
        self.last_completed: str | None = None  # for its history

    def _id(self, kind: str, index: int) -> str:
        return f"bench-floor-{self._run_id}-{kind}-{index}"

    async def start(self, index: int) -> None:
        """Start a workflow that then waits for its signal."""
        workflow_id = self._id("start", index)
        await self._client.start_workflow(FloorWorkflow.run, id=workflow_id, task_queue=self._task_queue)
        self.started.append(workflow_id)

    async def signal(self, index: int) -> None:
        """Signal the index-th started workflow (which then runs its activity and ends)."""
        await self._client.get_workflow_handle(self.started[index]).signal(FloorWorkflow.go)

    async def signal_with_start(self, index: int, kind: str = "sws") -> WorkflowHandle:
        return await self._client.start_workflow(
            FloorWorkflow.run,
            id=self._id(kind, index),
            task_queue=self._task_queue,
            start_signal="go",
        )

    async def complete(self, index: int) -> None:
        """A whole workflow: signal-with-start, then wait until it has run its activity and ended."""
        handle = await self.signal_with_start(index, "complete")
        await handle.result()
        self.last_completed = handle.id


async def serve(address: str, task_queue: str, ready_file: Path | None) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[noop]):
        if ready_file is not None:
            ready_file.write_text("ready")
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description="the floor's worker")
    parser.add_argument("--address", default="localhost:7233")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--ready-file", type=Path, default=None, help="written once the worker polls")
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue, args.ready_file))


if __name__ == "__main__":
    main()
