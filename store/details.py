"""Descriptive fields of a row that observations of one object keep filling in.

The observation that wins the status merge overwrites them (never with null); a stale one only
fills the gaps, so a late notification can add what was missing but never undo what is newer.
"""

from __future__ import annotations

from collections.abc import Mapping


def merge_details(row: object, observed: Mapping[str, object], *, stale: bool) -> None:
    for field, value in observed.items():
        if value is not None and (not stale or getattr(row, field) is None):
            setattr(row, field, value)
