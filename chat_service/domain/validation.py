"""Validation of everything a client sends: room, name, text and paging numbers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import icu

from ..errors import ChatError

ROOM_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
EPOCH_MAX = 64
MAX_NAME = 32
HISTORY_LIMIT_MAX = 100
HISTORY_LIMIT_DEFAULT = 50
MAX_EMOJI = 16  # code points of one reaction
MAX_REACTIONS = 20  # distinct reactions under one message
REACTION_NAMES = 20  # names shown per reaction (the count says how many in all)
# Tabs and line breaks are ordinary in chat text; every other control character is not.
_TEXT_ALLOWED_CONTROLS = frozenset("\n\t\r")


def require_object(payload: Any) -> dict[str, Any]:
    """The payload of every event is a JSON object."""
    if not isinstance(payload, dict):
        raise ChatError("bad_request", "The payload must be a JSON object.")
    return payload


def room_name(value: Any) -> str:
    """Room rule: 1-32 of A-Z a-z 0-9 _ -, compared and stored in lower case."""
    if not isinstance(value, str):
        raise ChatError("bad_request", "Field 'room' must be a string.")
    if not ROOM_RE.fullmatch(value):
        raise ChatError("invalid_room", "Room names are 1-32 letters, digits, '_' or '-'.")
    return value.lower()


def _bad_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    # Cc: control characters; Cs: lone surrogates (not encodable as UTF-8).
    return category in ("Cc", "Cs")


# Hangul fillers: letters (Lo) that draw nothing, so "Alice\u3164" looks like "Alice".
NAME_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


def _bad_name_char(ch: str) -> bool:
    """Controls and lone surrogates, and what hides in a name: format characters (Cf:
    zero-width, bidi controls, BOM) and fillers."""
    return ch in NAME_FILLERS or unicodedata.category(ch) in ("Cc", "Cs", "Cf")


def display_name(value: Any) -> str:
    """Name rule: 1-32 characters after trimming; no control, format or filler characters."""
    if not isinstance(value, str):
        raise ChatError("bad_request", "Field 'name' must be a string.")
    name = value.strip()
    if not name or len(name) > MAX_NAME:
        raise ChatError("invalid_name", f"Names are 1-{MAX_NAME} characters.")
    if any(_bad_name_char(ch) for ch in name):
        raise ChatError("invalid_name", "Names cannot contain control or invisible characters.")
    return name


# ICU's spoof checker: the TR39 skeleton with ICU's confusables data (ICU_VERSION in
# the lock). Stateless for getSkeleton, so one instance serves every call.
_SPOOF = icu.SpoofChecker()


def name_key(name: str) -> str:
    """THE comparison key of a display name: every match of names (seats in the store,
    the token's name, moderation, mentions) compares these.

    Unicode TR39's confusable skeleton of the NFKC, case-folded name, so `Bob`/`BOB`
    and `Alice`/`\u0410lice` (Cyrillic A) clash. A skeleton is for comparing only: it is
    never shown.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return str(_SPOOF.getSkeleton(0, folded))


def message_text(value: Any, max_len: int) -> str:
    """Text rule: 1-max_len characters after trimming; no control characters but \\n, \\t."""
    if not isinstance(value, str):
        raise ChatError("bad_request", "Field 'text' must be a string.")
    text = value.strip()
    if not text:
        raise ChatError("invalid_text", "The message is empty.")
    if any(_bad_char(ch) and ch not in _TEXT_ALLOWED_CONTROLS for ch in text):
        raise ChatError("invalid_text", "The message contains forbidden characters.")
    if len(text) > max_len:
        raise ChatError("message_too_long", f"Messages are at most {max_len} characters.")
    return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def optional_id(payload: dict[str, Any], field: str) -> int | None:
    """An optional non-negative message id such as `since` or `before`."""
    value = payload.get(field)
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        raise ChatError("bad_request", f"Field '{field}' must be a non-negative integer.")
    return int(value)


def history_limit(value: Any) -> int:
    """`limit` of a history request: 1-100, default 50."""
    if value is None:
        return HISTORY_LIMIT_DEFAULT
    if not _is_int(value) or not 1 <= value <= HISTORY_LIMIT_MAX:
        raise ChatError("bad_request", f"Field 'limit' must be an integer 1-{HISTORY_LIMIT_MAX}.")
    return int(value)


def typing_flag(value: Any) -> bool:
    """`typing` must be a real boolean."""
    if not isinstance(value, bool):
        raise ChatError("bad_request", "Field 'typing' must be true or false.")
    return value


def client_id(value: Any) -> str | None:
    """The optional `client_id` of a send: 1-64 of A-Z a-z 0-9 _ -."""
    if value is None:
        return None
    if not isinstance(value, str) or not CLIENT_ID_RE.fullmatch(value):
        raise ChatError(
            "bad_request", "Field 'client_id' must be 1-64 letters, digits, '_' or '-'."
        )
    return value


def epoch(value: Any) -> str | None:
    """The optional `epoch` a rejoining client saw; any short string (compared only)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= EPOCH_MAX:
        raise ChatError("bad_request", f"Field 'epoch' must be 1-{EPOCH_MAX} characters.")
    return value


def message_id(payload: dict[str, Any], field: str = "id") -> int:
    """A required message id (or read position): a non-negative integer."""
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ChatError("bad_request", f"Field '{field}' must be a non-negative integer.")
    return value


def reply_to(value: Any) -> int | None:
    """The optional `reply_to` of a send: the id of a message of the room."""
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise ChatError("bad_request", "Field 'reply_to' must be a message id.")
    return int(value)


def emoji(value: Any) -> str:
    """A reaction: 1-16 code points, no white space, control characters or lone surrogates."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EMOJI:
        raise ChatError("bad_request", f"Field 'emoji' must be 1-{MAX_EMOJI} characters.")
    if any(ch.isspace() or _bad_char(ch) for ch in value):
        raise ChatError("bad_request", "Field 'emoji' cannot hold spaces or control characters.")
    return value


def reaction_on(value: Any) -> bool:
    """`on` of a reaction must be a real boolean."""
    if not isinstance(value, bool):
        raise ChatError("bad_request", "Field 'on' must be true or false.")
    return value
