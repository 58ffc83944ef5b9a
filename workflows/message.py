"""The base of every workflow message: a frozen pydantic model (ids, statuses, money)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
