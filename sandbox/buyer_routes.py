"""Checkout Pro's buyer flow: the init_point page, then pay and go back to the seller's back_url
with the query string MercadoPago appends."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .buyer_page import checkout_page, done_page, message_page
from .delivery import with_query
from .resources import MPError, preference_expired
from .runtime import sandbox

router = APIRouter()

# outcome button -> back_urls key
_BACK_URL = {"approved": "success", "rejected": "failure", "pending": "pending"}


def _payable(request: Request, pref_id: str) -> dict | HTMLResponse:
    """The preference, or the page that says why it cannot be paid."""
    try:
        pref = sandbox(request).store.preference(pref_id)
    except MPError:
        return HTMLResponse(message_page("Checkout not found", f"No preference {pref_id}."), 404)
    if preference_expired(pref):
        return HTMLResponse(message_page("Checkout expired", "This payment link is no longer valid."), 410)
    return pref


@router.get("/checkout/v1/redirect", response_class=HTMLResponse)
async def checkout(request: Request, pref_id: str = ""):
    pref = _payable(request, pref_id)
    return pref if isinstance(pref, HTMLResponse) else HTMLResponse(checkout_page(pref))


@router.post("/checkout/v1/pay")
async def pay(request: Request):
    form = dict(parse_qsl((await request.body()).decode()))
    outcome = form.get("outcome", "")
    if outcome not in _BACK_URL:
        return HTMLResponse(message_page("Bad request", "outcome must be approved, rejected or pending."), 400)
    pref = _payable(request, form.get("pref_id", ""))
    if isinstance(pref, HTMLResponse):
        return pref
    payment = sandbox(request).pay(request, pref["id"], outcome)
    values = {
        "collection_id": str(payment["id"]),
        "collection_status": payment["status"],
        "payment_id": str(payment["id"]),
        "status": payment["status"],
        "external_reference": payment["external_reference"] or "null",
        "payment_type": payment["payment_type_id"],
        "merchant_order_id": payment["order"]["id"],
        "preference_id": pref["id"],
        "site_id": sandbox(request).config.site_id,
        "processing_mode": "aggregator",
        "merchant_account_id": "null",
    }
    back_url = (pref.get("back_urls") or {}).get(_BACK_URL[outcome])
    if not back_url:
        return HTMLResponse(done_page(values))
    return RedirectResponse(with_query(back_url, list(values.items())), status_code=303)
