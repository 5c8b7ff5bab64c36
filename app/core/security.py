"""Password hashing (argon2) and our own JWTs.

A token carries only the user id, its type and the user's token version; roles
are read from the database on every request so a revoked role bites at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core import clock
from app.core.errors import INT64_MAX, Unauthorized
from app.core.settings import Settings

_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so a login for an
# unknown username costs the same time as one with a wrong password.
_DUMMY_HASH = _hasher.hash("ejiaren-dummy-password")

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"
ISSUER = "ejiaren"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    version: int
    type: TokenType
    # Each token's own id and expiry: a refresh token is used once (rotation).
    jti: str = ""
    expires_at: int = 0


def issue_token(settings: Settings, *, user_id: int, version: int, type: TokenType) -> str:
    ttl = (
        settings.access_token_ttl_seconds
        if type == "access"
        else settings.refresh_token_ttl_seconds
    )
    issued = clock.now()
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(user_id),
        "ver": version,
        "typ": type,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


@lru_cache(maxsize=4096)
def _verified_payload(secret: str, token: str) -> Mapping[str, Any]:
    """The claims of a token whose signature and issuer check out. Remembered:
    a client sends the same access token with every request, and checking it
    is a tenth of an authenticated request's CPU. Expiry, type and the token
    version are checked on every use, by the caller and against the database."""
    payload = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        # Expiry is checked by the caller against our clock, which tests can move.
        options={
            "require": ["exp", "sub", "typ", "ver"],
            "verify_exp": False,
            "verify_iat": False,
        },
    )
    return MappingProxyType(payload)


def decode_token(settings: Settings, token: str, *, expected: TokenType) -> TokenClaims:
    try:
        payload = _verified_payload(settings.jwt_secret.get_secret_value(), token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("auth.invalid_token", "登录凭证无效，请重新登录") from exc
    if payload.get("typ") != expected:
        raise Unauthorized("auth.invalid_token", "登录凭证类型不符，请重新登录")
    try:
        claims = TokenClaims(
            user_id=int(payload["sub"]),
            version=int(payload["ver"]),
            type=expected,
            jti=str(payload.get("jti") or ""),
            expires_at=int(payload["exp"]),
        )
    except (TypeError, ValueError, OverflowError) as exc:
        # Only a token signed with our secret gets here: one we never issued.
        raise Unauthorized("auth.invalid_token", "登录凭证无效，请重新登录") from exc
    if not 0 < claims.user_id <= INT64_MAX:
        raise Unauthorized("auth.invalid_token", "登录凭证无效，请重新登录")
    if claims.expires_at <= int(clock.now().timestamp()):
        raise Unauthorized("auth.token_expired", "登录已过期，请重新登录")
    return claims
