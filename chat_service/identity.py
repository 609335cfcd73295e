"""Identity (optional): signed tokens say who a connection is and which rooms it may use.

Off unless CHAT_AUTH_SECRET (HS256) or CHAT_AUTH_PUBLIC_KEY (a PEM file: RS256 or
ES256) is set. The accepted algorithms follow from the kind of key, never from the
token's header, so `alg: none` and HS/RS confusion (an HS256 token "signed" with the
public key) are refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .domain.validation import ROOM_RE, display_name
from .errors import ChatError

MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key of at least 256 bits
MAX_LEEWAY = 30.0
MODERATOR = "moderator"


class AuthConfigError(ValueError):
    """The configured secret or key cannot verify anything; the text says why."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a verified token says about its holder."""

    sub: str
    name: str
    rooms: frozenset[str] | None  # None: every room
    exp: float
    roles: frozenset[str] = frozenset()

    @property
    def moderator(self) -> bool:
        """A moderator of every room the token allows (the `roles` claim)."""
        return MODERATOR in self.roles

    def may_use(self, room: str) -> bool:
        return self.rooms is None or room in self.rooms


class Unauthorized(Exception):
    """A token that does not verify; the message is safe to show the client."""


@dataclass(frozen=True)
class TokenVerifier:
    """Checks tokens against one key; `algorithms` follow from the key's kind."""

    key: Any
    algorithms: tuple[str, ...]
    audience: str | None = None
    issuer: str | None = None
    leeway: float = 10.0

    @classmethod
    def from_secret(cls, secret: str, **options: Any) -> TokenVerifier:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise AuthConfigError(
                f"CHAT_AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes for HS256"
            )
        return cls(secret, ("HS256",), **options)

    @classmethod
    def from_public_key(cls, path: str, **options: Any) -> TokenVerifier:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise AuthConfigError(f"CHAT_AUTH_PUBLIC_KEY {path!r} cannot be read: {exc}") from None
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise AuthConfigError(
                f"CHAT_AUTH_PUBLIC_KEY {path!r} is not a PEM public key"
            ) from None
        if isinstance(key, rsa.RSAPublicKey):
            return cls(key, ("RS256",), **options)
        if isinstance(key, ec.EllipticCurvePublicKey):
            return cls(key, ("ES256",), **options)
        raise AuthConfigError(f"CHAT_AUTH_PUBLIC_KEY {path!r} is neither an RSA nor an EC key")

    def verify(self, token: Any) -> Identity:
        """The identity a token proves, or Unauthorized with a short reason."""
        if not isinstance(token, str) or not token or len(token) > 8192:
            raise Unauthorized("A signed token is required.")
        options: dict[str, Any] = {"require": ["exp", "sub", "name"]}
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is not valid.") from None
        return _identity(claims)


def _identity(claims: dict[str, Any]) -> Identity:
    sub, raw_name, exp = claims.get("sub"), claims.get("name"), claims.get("exp")
    if not isinstance(sub, str) or not sub or not isinstance(exp, int | float):
        raise Unauthorized("The token is not valid.")
    try:
        name = display_name(raw_name)
    except ChatError:
        raise Unauthorized("The token's name is not a valid display name.") from None
    rooms = claims.get("rooms")
    allowed: frozenset[str] | None = None
    if rooms is not None:
        if not isinstance(rooms, list) or not all(
            isinstance(r, str) and ROOM_RE.fullmatch(r) for r in rooms
        ):
            raise Unauthorized("The token's rooms are not a list of room names.")
        allowed = frozenset(r.lower() for r in rooms)
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("The token's roles are not a list of strings.")
    return Identity(sub=sub, name=name, rooms=allowed, exp=float(exp), roles=frozenset(roles))


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def seconds_left(identity: Identity, leeway: float) -> float:
    """How long the connection may stay open on this token."""
    return identity.exp + leeway - time.time()


def make_verifier(
    secret: str | None,
    public_key: str | None,
    *,
    audience: str | None = None,
    issuer: str | None = None,
    leeway: float = 10.0,
) -> TokenVerifier | None:
    """The verifier the settings ask for; None when identity is off."""
    options: dict[str, Any] = {"audience": audience, "issuer": issuer, "leeway": leeway}
    if secret and public_key:
        raise AuthConfigError("set CHAT_AUTH_SECRET or CHAT_AUTH_PUBLIC_KEY, not both")
    if secret:
        return TokenVerifier.from_secret(secret, **options)
    if public_key:
        return TokenVerifier.from_public_key(public_key, **options)
    return None
