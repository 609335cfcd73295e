"""Hypothesis strategies and checks shared by the fuzz tests of every tier."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from chat_service.errors import ERROR_CODES

EVENTS = [
    "join",
    "leave",
    "send_message",
    "typing",
    "history",
    "members",
    "list_rooms",
    "edit_message",
    "delete_message",
    "react",
    "mark_read",
    "kick",
    "ban",
    "unban",
    "bans",
]
FIELDS = ["room", "name", "text", "since", "before", "limit", "typing"]
V3_FIELDS = ["id", "emoji", "on", "reply_to", "sub", "seconds", "reason"]
V2_FIELDS = ["key", "epoch", "client_id"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=16,
)
plausible_rooms = st.sampled_from(["lobby", "LOBBY", "a-b_c", "x" * 32, "x" * 33, "", " lobby"])
# Version 2's identifiers, near and past their limits.
plausible_ids = st.sampled_from(
    ["k" * 16, "k" * 15, "k" * 128, "k" * 129, "c-1", "x" * 64, "x" * 65, "a b", "é" * 20]
) | st.from_regex(r"[A-Za-z0-9_-]{1,130}", fullmatch=True)
# Version 3's message ids, flags, emoji, ban lengths and reasons, near and past their limits.
plausible_changes = st.sampled_from(
    [0, 1, 2, -1, 2**63, True, False, "👍", "👍🏽", "x" * 16, "x" * 17, "a b", "\ud800"]
) | st.sampled_from([31_536_000, 31_536_001, "x" * 200, "x" * 201, "u-ann", ""])
# Objects with the protocol's field names: more inputs get past the first checks.
shaped = st.fixed_dictionaries(
    {},
    optional={
        **{f: json_values | plausible_rooms for f in FIELDS},
        **{f: json_values | plausible_ids for f in V2_FIELDS},
        **{f: json_values | plausible_changes for f in V3_FIELDS},
    },
)
payloads = json_values | shaped


def assert_ack(reply: Any) -> None:
    """One well-formed acknowledgement: ok, or a protocol error that is not `internal`."""
    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool), reply
    if reply["ok"]:
        return
    assert set(reply) == {"ok", "error"}, reply
    assert reply["error"]["code"] in ERROR_CODES, reply
    assert reply["error"]["code"] != "internal", reply
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"], reply
