"""Every `workflow.patched` switch in the workflows: why it exists, which recorded history
(tests/replay/histories/) replays each branch, and when it may go.

A switch lives through Temporal's three stages:

1. PATCHED: `if workflow.patched(id): new else old`. Runs started before the change replay the
   old branch (their history has no marker); new runs record the marker and take the new one.
2. DEPRECATED: once no run started before the change can be open, `workflow.deprecate_patch(id)`
   replaces the `if` and the old branch is deleted. Histories recorded with the marker still
   replay; those recorded before the change no longer do: they move to histories/retired/,
   where a test asserts they fail to replay (so the step was deliberate).
3. REMOVED: once no run that recorded the marker can be open either, the call goes, and the
   switch leaves this list.

The ids are recorded in histories: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    PATCHED = "patched"
    DEPRECATED = "deprecated"


@dataclass(frozen=True)
class Patch:
    id: str  # as recorded in the histories' markers
    workflow: str
    stage: Stage
    why: str
    old_branch: tuple[str, ...]  # histories recorded before the change (retired/ once deprecated)
    new_branch: tuple[str, ...]  # histories recorded with the marker
    retire_when: str  # when the next stage is safe


RENEWAL_DUE = Patch(
    id="renewal-due",
    workflow="SubscriptionWorkflow",
    stage=Stage.PATCHED,
    why="subscription.renewal_due is sent a configured lead before the period ends: one more timer.",
    old_branch=("subscription_before_renewal_due",),
    new_branch=("subscription_with_renewal_due", "subscription_with_local_writes"),
    retire_when=(
        "A subscription never closes: only once every run started before reminders existed has"
        " continued as new (a visibility query for SubscriptionWorkflow runs started before the change)."
    ),
)

PAYMENT_SEARCH_ATTRIBUTES = Patch(
    id="payment-search-attributes",
    workflow="PaymentWorkflow",
    stage=Stage.DEPRECATED,
    why="Operators find a payment's workflow by user, plan and external reference: one more upsert.",
    old_branch=("payment_refunded",),
    new_branch=("payment_local_first", "payment_paid_after_deprecation"),
    retire_when=(
        "Removal: once no PaymentWorkflow run that recorded the marker is open (each ends"
        " PAYMENT_ROUTER_IDLE after its last notification, or continues as new)."
    ),
)

SUBSCRIPTION_WRITES_AFTER_THE_DECISION = Patch(
    id="subscription-writes-after-the-decision",
    workflow="SubscriptionWorkflow",
    stage=Stage.PATCHED,
    why=(
        "The subscription's writes are scheduled activities, so a write happens only once the step"
        " that decided it is recorded (a local activity could write a decision a rerun then changes)."
    ),
    old_branch=("subscription_with_local_writes",),
    new_branch=("subscription_activated_then_refunded",),
    retire_when="As RENEWAL_DUE: once every subscription run started before it has continued as new.",
)

READ_BACK_LOCALLY_FIRST = Patch(
    id="read-back-locally-first",
    workflow="PaymentWorkflow",
    stage=Stage.DEPRECATED,
    why="The payment is read back from MercadoPago as a local activity first (workflows/local_first.py).",
    old_branch=("payment_refunded",),
    new_branch=(
        "payment_local_first",
        "payment_local_then_activity",
        "payment_unreadable_local_first",
        "payment_paid_after_deprecation",
    ),
    retire_when="Removal: as PAYMENT_SEARCH_ATTRIBUTES (the same workflow and lifetime).",
)

CREATE_PREFERENCE_LOCALLY_FIRST = Patch(
    id="create-preference-locally-first",
    workflow="CheckoutWorkflow",
    stage=Stage.DEPRECATED,
    why="The preference is created at MercadoPago as a local activity first (workflows/local_first.py).",
    old_branch=("checkout_paid", "checkout_refunded", "checkout_expired"),
    new_branch=(
        "checkout_paid_local_first",
        "checkout_paid_fewer_tasks",
        "checkout_paid_after_deprecation",
        "checkout_refunded_after_deprecation",
        "checkout_expired_after_deprecation",
    ),
    retire_when="Removal: CHECKOUT_DEADLINE (plus its reconciliation) after the deprecation was deployed.",
)

HAND_TO_CHECKOUT_FROM_A_LOCAL_ACTIVITY = Patch(
    id="hand-to-checkout-from-a-local-activity",
    workflow="PaymentWorkflow",
    stage=Stage.PATCHED,
    why="The payment is signalled to its checkout from a local activity: no signal command, one task fewer.",
    old_branch=("payment_local_first", "payment_local_then_activity"),
    new_branch=("payment_refunded_after_checkout_closed", "payment_paid_after_deprecation"),
    retire_when=(
        "Deprecation: once no PaymentWorkflow run started before it is open (each ends"
        " PAYMENT_ROUTER_IDLE after its last notification, or continues as new)."
    ),
)

SUBSCRIPTION_AUDIT_IN_THE_SAME_WRITE = Patch(
    id="subscription-audit-in-the-same-write",
    workflow="SubscriptionWorkflow",
    stage=Stage.PATCHED,
    why="A subscription change and its audit record are one write: one activity, one transaction.",
    old_branch=("subscription_activated_then_refunded",),
    new_branch=("subscription_audit_in_the_same_write",),
    retire_when="As RENEWAL_DUE: once every subscription run started before it has continued as new.",
)

UNKNOWN_PAYMENT_BACKS_OFF = Patch(
    id="unknown-payment-backs-off",
    workflow="PaymentWorkflow",
    stage=Stage.PATCHED,
    why=(
        "An id MercadoPago does not know is not audited: the workflow absorbs its notifications for"
        " a back-off window, reads once more, and ends when idle."
    ),
    old_branch=("payment_unreadable_local_first",),
    new_branch=("payment_unknown_backs_off",),
    retire_when="Deprecation: as HAND_TO_CHECKOUT_FROM_A_LOCAL_ACTIVITY.",
)

PAYMENT_CARRIES_PENDING_NOTIFICATIONS = Patch(
    id="router-carries-pending-hints",
    workflow="PaymentWorkflow",
    stage=Stage.PATCHED,
    why="Notifications counted but not yet handled are carried over when the payment workflow continues as new.",
    # only a run that continues as new (1000 notifications) reaches the switch: none recorded
    old_branch=(),
    new_branch=(),
    retire_when=(
        "Deprecation: as HAND_TO_CHECKOUT_FROM_A_LOCAL_ACTIVITY, and only after a history of a"
        " run continuing as new on each branch is recorded."
    ),
)

RECONCILE_PAGE_BY_PAGE = Patch(
    id="reconcile-page-by-page",
    workflow="ReconciliationWorkflow",
    stage=Stage.PATCHED,
    why="The window is read page by page (bounded results), continuing as new, instead of in one result.",
    old_branch=("reconciliation",),
    # a run that continues as new carries a cursor and does not ask again (reconciliation_paged_last)
    new_branch=("reconciliation_paged_continued",),
    retire_when="Deprecation: once no ReconciliationWorkflow run started before it is open (a daily run).",
)

RETENTION_UNTIL_DONE = Patch(
    id="retention-until-done",
    workflow="RetentionWorkflow",
    stage=Stage.PATCHED,
    why="A retention run purges until nothing past its age is left, continuing as new, not at most 100 batches.",
    old_branch=("retention",),
    new_branch=("retention_continued_as_new", "retention_until_done"),
    retire_when="Deprecation: once no RetentionWorkflow run started before it is open (a scheduled run).",
)

CREATE_PREFERENCE_AS_ACTIVITY = Patch(
    id="create-preference-as-activity",
    workflow="CheckoutWorkflow",
    stage=Stage.PATCHED,
    why=(
        "The preference is created by an ordinary activity, not a local one first: under load a slow"
        " MercadoPago call held the workflow task past its timeout, and the task then ran twice."
    ),
    old_branch=(
        "checkout_paid_after_deprecation",
        "checkout_refunded_after_deprecation",
        "checkout_expired_after_deprecation",
    ),
    new_branch=("checkout_paid_as_activity",),
    retire_when="Deprecation: CHECKOUT_DEADLINE (plus its reconciliation) after the change was deployed.",
)

READ_BACK_AS_ACTIVITY = Patch(
    id="read-back-as-activity",
    workflow="PaymentWorkflow",
    stage=Stage.PATCHED,
    why=(
        "The payment is read back by an ordinary activity, not a local one first: under load a slow"
        " MercadoPago call held the workflow task past its timeout, and the task then ran twice."
    ),
    old_branch=("payment_paid_after_deprecation", "payment_unknown_backs_off"),
    new_branch=("payment_paid_as_activity", "payment_unknown_as_activity"),
    retire_when="Deprecation: as HAND_TO_CHECKOUT_FROM_A_LOCAL_ACTIVITY.",
)

ALL = (
    RENEWAL_DUE,
    PAYMENT_SEARCH_ATTRIBUTES,
    SUBSCRIPTION_WRITES_AFTER_THE_DECISION,
    READ_BACK_LOCALLY_FIRST,
    CREATE_PREFERENCE_LOCALLY_FIRST,
    HAND_TO_CHECKOUT_FROM_A_LOCAL_ACTIVITY,
    SUBSCRIPTION_AUDIT_IN_THE_SAME_WRITE,
    UNKNOWN_PAYMENT_BACKS_OFF,
    PAYMENT_CARRIES_PENDING_NOTIFICATIONS,
    RECONCILE_PAGE_BY_PAGE,
    RETENTION_UNTIL_DONE,
    CREATE_PREFERENCE_AS_ACTIVITY,
    READ_BACK_AS_ACTIVITY,
)
