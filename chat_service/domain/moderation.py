"""Moderation rules without I/O: who is targeted, for how long, and why."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from ..errors import ChatError
from .validation import display_name

MAX_REASON = 200
MAX_BAN_SECONDS = 31_536_000  # one year
MAX_SUB = 256
API_BY = "api"  # `by` of an action taken through the server API


@dataclass(frozen=True, slots=True)
class Target:
    """Whom an action names: the user holding `name` in the room, or a token `sub`."""

    name: str | None = None
    sub: str | None = None


def reason(value: Any) -> str | None:
    """Optional `reason`: at most 200 code points after trimming, no control characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ChatError("bad_request", "Field 'reason' must be a string.")
    text = value.strip()
    if len(text) > MAX_REASON:
        raise ChatError("bad_request", f"A reason is at most {MAX_REASON} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise ChatError("bad_request", "A reason cannot contain control characters.")
    return text or None


def seconds(value: Any) -> int | None:
    """Optional ban length `seconds`: 1-31,536,000; absent means until unban."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChatError("bad_request", "Field 'seconds' must be an integer.")
    if not 1 <= value <= MAX_BAN_SECONDS:
        raise ChatError("bad_request", f"Field 'seconds' must be 1-{MAX_BAN_SECONDS}.")
    return value


def ban_until(now_ms: int, length: int | None) -> int | None:
    """When a ban of `length` seconds issued at `now_ms` ends (None: never by itself)."""
    return None if length is None else now_ms + length * 1000


def subject(value: Any) -> str:
    """A token `sub` named by a moderator or the server API."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SUB:
        raise ChatError("bad_request", f"Field 'sub' must be 1-{MAX_SUB} characters.")
    return value


def target(data: dict[str, Any], *, identity_on: bool) -> Target:
    """`name`, or (identity on) `sub`: exactly one of them."""
    has_name, has_sub = data.get("name") is not None, data.get("sub") is not None
    if has_name and has_sub:
        raise ChatError("bad_request", "Give 'name' or 'sub', not both.")
    if has_sub:
        if not identity_on:
            raise ChatError("bad_request", "Field 'sub' needs identity to be on.")
        return Target(sub=subject(data["sub"]))
    if not has_name:
        raise ChatError("bad_request", "Field 'name' is required.")
    return Target(name=display_name(data["name"]))


def in_force(until: int | None, now_ms: int) -> bool:
    """A ban binds until `until` (ms); None binds until it is lifted."""
    return until is None or until > now_ms
