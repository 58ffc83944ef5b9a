"""Bearer tokens: HS256 JWTs whose `sub` is the user id and whose `roles` may hold "admin"."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import jwt

from config.settings import Settings

ALGORITHM = "HS256"
# clocks of the token issuer and of this API may disagree a little
LEEWAY_SECONDS = 30
ADMIN_ROLE = "admin"
# a user id as its one canonical spelling: no sign, no padding, no leading zeros, never 0
USER_ID = re.compile(r"[1-9][0-9]*")


class InvalidToken(Exception):
    """The token is missing, malformed, expired or signed with another key or algorithm."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user id and their roles."""

    user_id: int
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def subject(self) -> str:
        return str(self.user_id)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def may_access(self, owner_id: int | None) -> bool:
        """A user sees their own data; an admin sees everyone's."""
        return self.is_admin or (owner_id is not None and owner_id == self.user_id)


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],  # pinned: no "none", no RS/HS confusion
            options={"require": ["exp", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    expires = claims["exp"]
    if type(expires) is not int:  # PyJWT also takes floats, numeric strings and booleans
        raise InvalidToken("exp must be an integer")
    # a stolen long-lived token stays useful for as long as it claims: cap what we honour
    if expires > time.time() + settings.auth_max_token_lifetime.total_seconds() + LEEWAY_SECONDS:
        raise InvalidToken("exp is further ahead than AUTH_MAX_TOKEN_LIFETIME")
    subject = claims["sub"]
    if not isinstance(subject, str) or not USER_ID.fullmatch(subject):
        raise InvalidToken("sub must be the user id: a positive integer without sign or leading zeros")
    if int(subject) > 2**63 - 1:  # ids are 64-bit in the database
        raise InvalidToken("sub is out of range")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken("roles must be a list of strings")
    return Principal(user_id=int(subject), roles=frozenset(roles))


def issue_token(
    settings: Settings,
    user_id: int,
    roles: Iterable[str] = (),
    ttl: timedelta = timedelta(hours=1),
) -> str:
    """A token for the dev CLI and tests (production tokens come from the identity provider)."""
    now = int(time.time())
    claims: dict = {"sub": str(user_id), "iat": now, "exp": now + int(ttl.total_seconds())}
    roles = list(roles)
    if roles:
        claims["roles"] = roles
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
