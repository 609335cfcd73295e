"""domain.moderation: reasons, ban lengths and targets, without I/O."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_service.domain import moderation as mod
from chat_service.errors import ChatError


def code(call: Any) -> str:
    with pytest.raises(ChatError) as refused:
        call()
    return refused.value.code


class TestReason:
    @given(st.text(max_size=260))
    def test_any_text_is_kept_or_refused_as_bad_request(self, text: str) -> None:
        """A reason is its trimmed text (None when empty) or bad_request: never anything else."""
        try:
            kept = mod.reason(text)
        except ChatError as exc:
            assert "bad_request" == exc.code
            return
        stripped = text.strip()
        assert (stripped or None) == kept and len(stripped) <= mod.MAX_REASON

    def test_limits(self) -> None:
        """200 code points pass, 201 do not; controls and non-strings are refused."""
        assert "é" * 200 == mod.reason(" " + "é" * 200 + " ")
        assert None is mod.reason(None)
        for bad in ("x" * 201, "a\nb", "a\x00", 5, ["x"]):
            assert "bad_request" == code(lambda bad=bad: mod.reason(bad))


class TestSeconds:
    @pytest.mark.parametrize("good", [1, 60, mod.MAX_BAN_SECONDS])
    def test_in_range(self, good: int) -> None:
        """1 second to one year."""
        assert good == mod.seconds(good)

    @pytest.mark.parametrize("bad", [0, -1, mod.MAX_BAN_SECONDS + 1, 1.0, "5", True])
    def test_out_of_range_or_not_an_integer(self, bad: Any) -> None:
        """Anything else is bad_request."""
        assert "bad_request" == code(lambda: mod.seconds(bad))

    def test_until(self) -> None:
        """A ban's end in ms; none without a length."""
        assert (61_000, None) == (mod.ban_until(1000, 60), mod.ban_until(1000, None))


class TestTarget:
    def test_name_or_sub(self) -> None:
        """A trimmed name, or a sub with identity on; both, neither or a sub without
        identity are bad_request."""
        assert mod.Target(name="Ann") == mod.target({"name": " Ann "}, identity_on=False)
        assert mod.Target(sub="u-1") == mod.target({"sub": "u-1"}, identity_on=True)
        for data, on in (({"name": "A", "sub": "u"}, True), ({}, True), ({"sub": "u"}, False)):
            assert "bad_request" == code(lambda d=data, o=on: mod.target(d, identity_on=o))
        assert "invalid_name" == code(lambda: mod.target({"name": " "}, identity_on=True))
        assert "bad_request" == code(lambda: mod.target({"sub": "s" * 257}, identity_on=True))

    def test_in_force(self) -> None:
        """A ban binds until its end (exclusive) or forever."""
        assert (True, True, False) == (
            mod.in_force(None, 10**15),
            mod.in_force(1001, 1000),
            mod.in_force(1000, 1000),
        )
