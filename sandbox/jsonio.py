"""JSON in and out without floats: amounts are Decimal inside the sandbox and plain JSON numbers
on the wire, written digit for digit (19.99 stays 19.99, never 19.990000000000002)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.responses import Response


def loads(raw: bytes | str) -> Any:
    """Parse a request body; fractional numbers become Decimal, as the project parses them."""
    return json.loads(raw, parse_float=Decimal)


def number(value: Decimal) -> str:
    """A Decimal as a JSON number: no exponent, no trailing zeros (6000.00 -> 6000, like MercadoPago)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def dumps(value: Any) -> str:
    """json.dumps that writes Decimal as an exact number (the stdlib can only write floats)."""
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


class MPJSONResponse(Response):
    """FastAPI response class rendering with `dumps`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")
