"""The activity names are what workflows call: renaming one breaks running workflows."""
from __future__ import annotations

from temporalio import activity

from activities.store import StoreActivities


def test_activity_names():
    store = StoreActivities(sessions=None)
    names = {activity._Definition.must_from_callable(method).name for method in store.all()}
    assert names == {"store.save_checkout", "store.find_checkout", "store.get_plan", "store.save_payment",
                     "store.save_subscription", "store.record_audit"}
