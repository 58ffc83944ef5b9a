"""The MercadoPago REST subset the project calls through the official SDK. Bearer token required;
`fail` knobs are consulted first so a test can make any of these calls fail or hang."""

from __future__ import annotations

import asyncio
import hmac
from http import HTTPStatus

from fastapi import APIRouter, Depends, Request

from .jsonio import MPJSONResponse
from .resources import MPError, bad_request, build_preference, to_amount
from .runtime import idempotent_response, json_body, sandbox


async def require_token(request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = sandbox(request).config.access_token
    token = token.strip()
    if scheme.lower() != "bearer" or not token or (expected and not hmac.compare_digest(token, expected)):
        raise MPError(401, "unauthorized", "invalid access token")


# Routes return MPJSONResponse themselves: FastAPI's own encoder would turn Decimal into float.
router = APIRouter(dependencies=[Depends(require_token)], default_response_class=MPJSONResponse)


async def injected_fault(request: Request, operation: str) -> None:
    """Apply an armed `fail` knob: wait its delay (a timeout, seen from the SDK), then fail."""
    sandbox(request).calls[operation] += 1
    fault = sandbox(request).knobs.take_fault(operation)
    if fault is None:
        return
    if fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    if fault.status:
        try:
            error = HTTPStatus(fault.status).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            error = "error"
        raise MPError(fault.status, error, f"sandbox fault injected into {operation}")


@router.post("/checkout/preferences")
async def create_preference(request: Request):
    await injected_fault(request, "create_preference")
    sb, body = sandbox(request), await json_body(request)
    return idempotent_response(
        request,
        lambda: (
            201,
            sb.store.add_preference(
                build_preference(body, sb.config.collector_id, sb.base_url(request), sb.config.site_id)
            ),
        ),
    )


@router.get("/checkout/preferences/{pref_id}")
async def get_preference(pref_id: str, request: Request):
    await injected_fault(request, "get_preference")
    return MPJSONResponse(sandbox(request).store.preference(pref_id))


# declared before /v1/payments/{payment_id} so "search" is not taken for an id
@router.get("/v1/payments/search")
async def search_payments(request: Request):
    await injected_fault(request, "search_payments")
    return MPJSONResponse(sandbox(request).store.search_payments(dict(request.query_params)))


@router.get("/v1/payments/{payment_id}")
async def get_payment(payment_id: str, request: Request):
    sandbox(request).payment_reads[payment_id] += 1
    await injected_fault(request, "get_payment")
    return MPJSONResponse(sandbox(request).store.payment(payment_id))


@router.put("/v1/payments/{payment_id}")
async def update_payment(payment_id: str, request: Request):
    """Only what a Checkout Pro seller does: cancel a payment that is not approved yet."""
    body = await json_body(request, {})
    if not isinstance(body, dict) or body.get("status") != "cancelled" or set(body) - {"status"}:
        raise bad_request('the sandbox supports only {"status": "cancelled"} here')
    sb = sandbox(request)
    payment = sb.store.cancel_payment(payment_id)
    sb.notifier.payment_event(payment["id"], ["payment.updated"], sb.base_url(request))
    return MPJSONResponse(payment)


@router.post("/v1/payments/{payment_id}/refunds")
async def create_refund(payment_id: str, request: Request):
    """Empty body: refund what is left. {"amount": x}: partial. Either way a payment.updated follows."""
    await injected_fault(request, "refund")
    sb, body = sandbox(request), await json_body(request, {})
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    amount = None if body.get("amount") is None else to_amount(body["amount"], "amount")

    def produce():
        refund = sb.store.refund(payment_id, amount)
        sb.notifier.payment_event(refund["payment_id"], ["payment.updated"], sb.base_url(request))
        return 201, refund

    return idempotent_response(request, produce)


@router.get("/v1/payments/{payment_id}/refunds")
async def list_refunds(payment_id: str, request: Request):
    return MPJSONResponse(sandbox(request).store.refunds(payment_id))


@router.get("/v1/payments/{payment_id}/refunds/{refund_id}")
async def get_refund(payment_id: str, refund_id: str, request: Request):
    for refund in sandbox(request).store.refunds(payment_id):
        if str(refund["id"]) == refund_id:
            return MPJSONResponse(refund)
    raise MPError(404, "not_found", "Refund not found")


@router.get("/merchant_orders/{order_id}")
async def get_merchant_order(order_id: str, request: Request):
    return MPJSONResponse(sandbox(request).store.merchant_order(order_id))
