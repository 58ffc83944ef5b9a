"""The buyer's side of Checkout Pro, reduced to one page and three outcomes. Plain HTML with
inline CSS and stable element ids, so a browser test can click through it offline."""

from __future__ import annotations

from html import escape

from .jsonio import number
from .resources import preference_total

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f2f4f7;margin:0;color:#1f2933}
main{max-width:420px;margin:48px auto;background:#fff;border-radius:8px;padding:28px;
     box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:18px;margin:0 0 4px}.sub{color:#6b7785;font-size:13px;margin:0 0 20px}
.item{display:flex;justify-content:space-between;padding:6px 0;border-bottom:1px solid #eef0f3;font-size:14px}
.total{display:flex;justify-content:space-between;font-weight:600;font-size:20px;margin:16px 0 24px}
form{margin:0 0 10px}button{width:100%;padding:12px;border:0;border-radius:6px;font-size:15px;cursor:pointer}
#approve{background:#009ee3;color:#fff}#reject{background:#e8eaed;color:#b3261e}#pending{background:#e8eaed;color:#1f2933}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 12px;font-size:14px}dt{color:#6b7785}dd{margin:0}
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def checkout_page(pref: dict) -> str:
    """Item lines, the total, and the three outcomes, each a form POST to /checkout/v1/pay."""
    currency = escape(pref["items"][0]["currency_id"])
    lines = "".join(
        f'<div class="item"><span class="title">{escape(i["title"])} &times; {i["quantity"]}</span>'
        f"<span>{currency} {number(i['unit_price'] * i['quantity'])}</span></div>"
        for i in pref["items"]
    )
    buttons = "".join(
        f'<form method="post" action="/checkout/v1/pay">'
        f'<input type="hidden" name="pref_id" value="{escape(pref["id"])}">'
        f'<input type="hidden" name="outcome" value="{outcome}">'
        f'<button type="submit" id="{element_id}">{label}</button></form>'
        for outcome, element_id, label in (
            ("approved", "approve", "Approve"),
            ("rejected", "reject", "Reject"),
            ("pending", "pending", "Leave pending"),
        )
    )
    body = (
        f'<h1 id="title">{escape(pref["items"][0]["title"])}</h1>'
        f'<p class="sub">MercadoPago sandbox &middot; test payment, no money moves</p>{lines}'
        f'<div class="total"><span>Total</span><span id="amount" data-currency="{currency}">'
        f"{currency} {number(preference_total(pref))}</span></div>{buttons}"
    )
    return _page("Pay with MercadoPago (sandbox)", body)


def done_page(values: dict[str, str]) -> str:
    """Shown instead of a redirect when the preference has no back_url for the outcome."""
    rows = "".join(f'<dt>{escape(k)}</dt><dd id="{escape(k)}">{escape(str(v))}</dd>' for k, v in values.items())
    return _page(
        "Payment done",
        f'<h1 id="result">Payment {escape(values.get("status", ""))}</h1>'
        f'<p class="sub">No return URL was given.</p><dl>{rows}</dl>',
    )


def message_page(title: str, text: str) -> str:
    return _page(title, f'<h1 id="message">{escape(title)}</h1><p class="sub">{escape(text)}</p>')
