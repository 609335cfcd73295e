"""wire.message_ts: a stored message's ts read without parsing its JSON."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from chat_service.backends.wire import message_body, message_json, message_ts


class TestMessageTs:
    @given(
        name=st.text(max_size=40),
        text=st.text(max_size=200),
        ts=st.integers(min_value=0, max_value=2**53),
        client_id=st.one_of(st.none(), st.text(max_size=40)),
    )
    def test_matches_the_parsed_field(
        self, name: str, text: str, ts: int, client_id: str | None
    ) -> None:
        """Whatever the name, text or client_id hold (even ',"ts":9'), the top-level ts wins."""
        raw = message_json(7, message_body("lobby", name, text + ',"ts":9', ts, client_id), "e")
        assert orjson.loads(raw)["ts"] == message_ts(raw)

    def test_missing(self) -> None:
        """A JSON object without ts gives None."""
        assert None is message_ts('{"id":1,"room":"lobby"}')
