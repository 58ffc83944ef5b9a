"""Knobs that make the sandbox misbehave the ways MercadoPago does: duplicate, late, missing,
reordered and legacy (IPN) notifications, and API calls that fail or hang."""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# API operations a `fail` knob can target.
OPERATIONS = frozenset({"create_preference", "get_preference", "get_payment", "search_payments", "refund"})


@dataclass
class Fault:
    status: int | None = 500  # None: only delay, then answer normally
    count: int = 1  # -1: until changed
    delay_ms: int = 0


@dataclass
class Knobs:
    duplicates: int = 0
    delay_ms: int = 0
    drop: bool = False
    ipn: bool = False
    merchant_order: bool = False
    reorder: bool = False
    # MercadoPago retries every 15 minutes, then at growing intervals; this is that, shortened.
    retry_delays_ms: list[int] = field(default_factory=lambda: [500, 1000, 2000, 4000, 8000])
    fail: dict[str, Fault] = field(default_factory=dict)


def _int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return value


def _fault(op: str, spec: Any) -> Fault:
    if not isinstance(spec, dict) or set(spec) - {"status", "count", "delay_ms"}:
        raise ValueError(f"fail.{op} must be an object with status, count, delay_ms")
    status = spec.get("status", 500)
    if status is not None:
        _int(status, f"fail.{op}.status", 100)
    count = _int(spec.get("count", 1), f"fail.{op}.count", -1)
    return Fault(status=status, count=count, delay_ms=_int(spec.get("delay_ms", 0), f"fail.{op}.delay_ms", 0))


class KnobBoard:
    """The current knobs, changed by the control API and read by the API and the notifier."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._knobs = Knobs()

    def reset(self) -> None:
        with self._lock:
            self._knobs = Knobs()

    def snapshot(self) -> Knobs:
        with self._lock:
            return copy.deepcopy(self._knobs)

    def as_dict(self) -> dict:
        return asdict(self.snapshot())

    def update(self, changes: Any) -> None:
        """Merge a JSON object into the knobs; raises ValueError (nothing applied) when invalid."""
        if not isinstance(changes, dict):
            raise ValueError("knobs must be a JSON object")
        unknown = set(changes) - set(Knobs.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        with self._lock:
            new = copy.deepcopy(self._knobs)
            for name, value in changes.items():
                if name in ("duplicates", "delay_ms"):
                    setattr(new, name, _int(value, name, 0))
                elif name in ("drop", "ipn", "merchant_order", "reorder"):
                    if not isinstance(value, bool):
                        raise ValueError(f"{name} must be true or false")
                    setattr(new, name, value)
                elif name == "retry_delays_ms":
                    if not isinstance(value, list):
                        raise ValueError("retry_delays_ms must be a list of integers")
                    new.retry_delays_ms = [_int(v, "retry_delays_ms[]", 0) for v in value]
                elif name == "fail":
                    if not isinstance(value, dict):
                        raise ValueError("fail must be an object keyed by operation")
                    for op, spec in value.items():
                        if op not in OPERATIONS:
                            raise ValueError(f"fail: unknown operation {op!r}; one of {sorted(OPERATIONS)}")
                        # null or count 0 switches an operation's fault off
                        fault = None if spec is None else _fault(op, spec)
                        if fault is None or fault.count == 0:
                            new.fail.pop(op, None)
                        else:
                            new.fail[op] = fault
            self._knobs = new

    def take_fault(self, op: str) -> Fault | None:
        """The fault for this call of `op`, if one is armed; counts it down."""
        with self._lock:
            fault = self._knobs.fail.get(op)
            if fault is None:
                return None
            if fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    del self._knobs.fail[op]
            return copy.copy(fault)
