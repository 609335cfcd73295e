"""Hypothesis strategies and checks shared by the fuzz tests of every tier."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from chat_service.errors import ERROR_CODES

EVENTS = ["join", "leave", "send_message", "typing", "history", "members", "list_rooms"]
FIELDS = ["room", "name", "text", "since", "before", "limit", "typing"]

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
# Objects with the protocol's field names: more inputs get past the first checks.
shaped = st.fixed_dictionaries({}, optional={f: json_values | plausible_rooms for f in FIELDS})
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
