"""Who holds a name: users, named by a join `key`, a token's `sub`, or one connection.

A name in a room belongs to a user, not to a connection, so tabs and reconnects share
it. The user id is what the backends store: a key is a secret the client keeps, so only
its digest is ever stored or logged; a connection without a key is a user of its own.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..errors import ChatError

KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
CONNECTION_USER = "c"


def join_key(value: Any) -> str | None:
    """The optional `key` of a join: 16-128 of A-Z a-z 0-9 _ -."""
    if value is None:
        return None
    if not isinstance(value, str) or not KEY_RE.fullmatch(value):
        raise ChatError("bad_request", "Field 'key' must be 16-128 letters, digits, '_' or '-'.")
    return value


def _digest(kind: str, secret: str) -> str:
    return kind + hashlib.sha256(secret.encode()).hexdigest()[:40]


def user_for_key(key: str) -> str:
    """The user a join key names (its digest: the key itself is never stored)."""
    return _digest("k", key)


def user_for_subject(sub: str) -> str:
    """The user a verified token's `sub` names (digested: `sub` may hold any text)."""
    return _digest("s", sub)


def user_for_connection(sid: str) -> str:
    """A connection that joined without a key is a user of its own (protocol v1).

    The `c` prefix is what the stores look for to forget such a user's read position
    when it leaves (lua/presence.lua `remove_user`, memory.py).
    """
    return CONNECTION_USER + sid


def user_for_api(name_key: str) -> str:
    """The server API posting under a name (the name's comparison key): the user its
    `client_id` retries are matched by."""
    return _digest("a", name_key)


def is_connection_user(user: str) -> bool:
    return user.startswith(CONNECTION_USER)
