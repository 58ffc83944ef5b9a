"""Integer ids as the database stores them (64-bit): a larger number is a 422, not a crash."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
