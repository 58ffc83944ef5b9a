"""An incompatible edit of CheckoutWorkflow (a new timer before anything else), for the replay test.

Its own module: the workflow sandbox re-imports it, so it imports nothing but temporalio.
"""

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="CheckoutWorkflow")
class CheckoutWorkflowThatSleepsFirst:
    @workflow.run
    async def run(self, input: dict) -> None:
        await workflow.sleep(timedelta(seconds=1))
