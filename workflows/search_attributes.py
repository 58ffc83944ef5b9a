"""Search attribute keys operators filter on in the Temporal UI (registered by the worker).

Pure declarations: the API sets them when it starts a checkout, workflows upsert them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

USER_ID = SearchAttributeKey.for_int("UserId")
PLAN_ID = SearchAttributeKey.for_int("PlanId")
EXTERNAL_REFERENCE = SearchAttributeKey.for_keyword("ExternalReference")
CHECKOUT_STATUS = SearchAttributeKey.for_keyword("CheckoutStatus")

ALL = (USER_ID, PLAN_ID, EXTERNAL_REFERENCE, CHECKOUT_STATUS)


def checkout_search_attributes(
    user_id: int, plan_id: int, external_reference: str, status: str
) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(USER_ID, user_id),
            SearchAttributePair(PLAN_ID, plan_id),
            SearchAttributePair(EXTERNAL_REFERENCE, external_reference),
            SearchAttributePair(CHECKOUT_STATUS, status),
        ]
    )


def subscription_search_attributes(user_id: int) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)])
