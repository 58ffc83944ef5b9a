"""Test and demo controls under /sandbox (no auth): pay without a browser, move payments the way
MercadoPago would, (re)notify, read the delivery log, and turn the fault knobs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .jsonio import MPJSONResponse
from .resources import bad_request, to_amount
from .runtime import idempotent_response, json_body, sandbox

router = APIRouter(prefix="/sandbox", default_response_class=MPJSONResponse)

_ACTIONS = ("payment.created", "payment.updated")


async def _object(request: Request) -> dict:
    body = await json_body(request, {})
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


@router.post("/payments")
async def create_payment(request: Request):
    """Pay a preference as the buyer page does; `amount`/`currency` override what is charged."""
    sb, body = sandbox(request), await _object(request)
    if not body.get("preference_id"):
        raise bad_request("preference_id is required")
    amount = None if body.get("amount") is None else to_amount(body["amount"], "amount", strings=True)
    if amount is not None and amount <= 0:
        raise bad_request("amount must be positive")
    return idempotent_response(
        request,
        lambda: (
            201,
            sb.pay(
                request,
                str(body["preference_id"]),
                body.get("status", "approved"),
                status_detail=body.get("status_detail"),
                amount=amount,
                currency=body.get("currency"),
                notify=body.get("notify", True) is not False,
            ),
        ),
    )


@router.post("/payments/{payment_id}/status")
async def change_status(payment_id: str, request: Request):
    sb, body = sandbox(request), await _object(request)
    if not body.get("status"):
        raise bad_request("status is required")
    payment = sb.store.set_payment_status(payment_id, body["status"], body.get("status_detail"))
    if body.get("notify", True) is not False:
        sb.notifier.payment_event(payment["id"], ["payment.updated"], sb.base_url(request))
    return MPJSONResponse(payment)


@router.post("/payments/{payment_id}/notify")
async def notify(payment_id: str, request: Request):
    """One signed webhook now (retried on failure), whatever drop/delay/duplicates say.
    `"wait": true` answers after the first attempt, with this payment's delivery log."""
    sb, body = sandbox(request), await _object(request)
    action = body.get("action", "payment.updated")
    if action not in _ACTIONS:
        raise bad_request(f"action must be one of {_ACTIONS}")
    pid = sb.store.payment(payment_id)["id"]  # 404 when unknown
    task = sb.notifier.payment_event(pid, [action], sb.base_url(request), plain=True)
    answer = {"payment_id": pid, "action": action, "scheduled": task is not None}
    if task is not None and body.get("wait"):
        await task
        answer["deliveries"] = sb.store.deliveries(pid)
    return MPJSONResponse(answer, status_code=202)


@router.get("/deliveries")
async def deliveries(request: Request, payment_id: int | None = None, kind: str | None = None):
    return MPJSONResponse(sandbox(request).store.deliveries(payment_id, kind))


@router.get("/calls")
async def calls(request: Request):
    """How many API calls arrived per operation (`create_preference`, `get_payment`, ...)."""
    return MPJSONResponse(dict(sandbox(request).calls))


@router.get("/payments/{payment_id}/reads")
async def payment_reads(payment_id: str, request: Request):
    """How many times GET /v1/payments/{payment_id} was called, whether the id exists or not."""
    return MPJSONResponse({"payment_id": payment_id, "reads": sandbox(request).payment_reads[payment_id]})


@router.post("/payments/bulk")
async def seed_payments(request: Request):
    """Many payments at once, without notifications, as a busy seller's account holds them:
    `{"count": 3000, "status": "approved", "spread_hours": 24, "external_reference": "..."}`;
    their creation times are spread evenly over the last `spread_hours`. Answers their ids."""
    sb, body = sandbox(request), await _object(request)
    count, spread = body.get("count"), body.get("spread_hours", 24)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 20000:
        raise bad_request("count must be an integer 1..20000")
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not 0 <= spread <= 24 * 30:
        raise bad_request("spread_hours must be a number 0..720")
    ids = sb.store.seed_payments(
        count, str(body.get("status", "approved")), float(spread), body.get("external_reference")
    )
    return MPJSONResponse({"ids": ids}, status_code=201)


@router.get("/knobs")
async def get_knobs(request: Request):
    return MPJSONResponse(sandbox(request).knobs.as_dict())


@router.post("/knobs")
async def set_knobs(request: Request):
    sb = sandbox(request)
    try:
        sb.knobs.update(await _object(request))
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return MPJSONResponse(sb.knobs.as_dict())


@router.post("/reset")
async def reset(request: Request):
    """Knobs back to defaults. `{"all": true}` also forgets every object and delivery and cancels
    pending deliveries and retries."""
    sb, body = sandbox(request), await _object(request)
    sb.knobs.reset()
    if body.get("all"):
        await sb.notifier.cancel_pending()
        sb.store.clear()
        sb.calls.clear()
        sb.payment_reads.clear()
    return MPJSONResponse({"knobs": sb.knobs.as_dict(), "cleared": bool(body.get("all"))})
