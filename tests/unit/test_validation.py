"""Room, name, text and paging rules."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_service.domain import validation as v
from chat_service.errors import ChatError


def code_of(fn: Any, *args: Any) -> str:
    with pytest.raises(ChatError) as info:
        fn(*args)
    return info.value.code


class TestRoom:
    @pytest.mark.parametrize("raw", ["a", "Lobby", "A-b_9", "x" * 32, "-", "_"])
    def test_valid_rooms_are_lower_cased(self, raw: str) -> None:
        """Valid names come back in lower case."""
        assert raw.lower() == v.room_name(raw)

    @pytest.mark.parametrize("raw", ["", "x" * 33, "a b", "café", "a/b", "ｌｏｂｂｙ", "a\n", "☃"])
    def test_invalid_rooms(self, raw: str) -> None:
        """Anything outside 1-32 of [A-Za-z0-9_-] is invalid_room."""
        assert "invalid_room" == code_of(v.room_name, raw)

    @pytest.mark.parametrize("raw", [None, 1, [], {}, True])
    def test_non_strings_are_bad_requests(self, raw: Any) -> None:
        """A room of the wrong type is a bad_request."""
        assert "bad_request" == code_of(v.room_name, raw)


class TestName:
    def test_trimmed(self) -> None:
        """Names are trimmed of surrounding whitespace."""
        assert "Ann Lee" == v.display_name("  Ann Lee \t")

    def test_unicode_letters_allowed(self) -> None:
        """Any printable unicode is fine, counted in characters."""
        assert "Zoë 😀" == v.display_name("Zoë 😀")
        assert "é" * 32 == v.display_name("é" * 32)

    @pytest.mark.parametrize(
        "raw", ["", "   ", "x" * 33, "a\x00b", "a\nb", "bell\x07", "\ud800x", "a\x7f"]
    )
    def test_invalid_names(self, raw: str) -> None:
        """Empty, too long, control characters and lone surrogates are invalid_name."""
        assert "invalid_name" == code_of(v.display_name, raw)

    def test_exactly_32_after_trim(self) -> None:
        """The limit applies after trimming."""
        assert "x" * 32 == v.display_name("  " + "x" * 32 + "  ")

    @pytest.mark.parametrize(
        "raw",
        [
            "Ali\u200bce",  # zero-width space
            "Alice\u2060",  # word joiner
            "\ufeffAlice",  # BOM
            "Alice\u3164",  # Hangul filler
            "\u115fAlice",
            "Al\u1160ice",
            "Alice\uffa0",
            "\u202eecilA",  # right-to-left override
            "Alice\u2066",  # bidi isolate
            "Al\u00adice",  # soft hyphen
            "Alice\U000e0041",  # tag character
        ],
    )
    def test_invisible_and_format_characters(self, raw: str) -> None:
        """Format characters (Cf), bidi controls and fillers are invalid_name (v3)."""
        assert "invalid_name" == code_of(v.display_name, raw)

    @given(st.text(min_size=1, max_size=8).filter(lambda t: t.strip() == t))
    def test_names_with_hidden_characters_are_refused(self, text: str) -> None:
        """Any name holding a Cc, Cf, Cs or filler character is refused; any other
        of 1-32 code points is accepted as it is."""
        hidden = any(
            unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in v.NAME_FILLERS for ch in text
        )
        if hidden:
            assert "invalid_name" == code_of(v.display_name, text)
        else:
            assert text == v.display_name(text)


class TestNameKey:
    def test_case_insensitive(self) -> None:
        """Case variants share one identity."""
        assert v.name_key("ALICE") == v.name_key("alice") == v.name_key("Alice")
        assert v.name_key("STRASSE") == v.name_key("straße")

    @pytest.mark.parametrize(
        "lookalike",
        [
            "\u0410lice",  # Cyrillic A
            "\u0430lice",  # Cyrillic a
            "Al\u0456ce",  # Cyrillic i
            "\uff21lice",  # fullwidth A (NFKC)
            "\U0001d400lice",  # mathematical bold A (NFKC)
            "A\u217cice",  # Roman numeral fifty (l)
        ],
    )
    def test_confusables_clash(self, lookalike: str) -> None:
        """Names that look like Alice share Alice's key (TR39 skeleton of NFKC + case fold)."""
        assert v.name_key("Alice") == v.name_key(lookalike)

    @pytest.mark.parametrize(("a", "b"), [("Alice", "Alicia"), ("Bob", "Rob"), ("Zoë", "Zoe")])
    def test_different_names_stay_apart(self, a: str, b: str) -> None:
        """Names that only share letters do not clash."""
        assert v.name_key(a) != v.name_key(b)

    @given(st.text(min_size=1, max_size=16))
    def test_key_ignores_case_and_compatibility_forms(self, text: str) -> None:
        """A name, its case fold, its upper case and its NFKC form share one key."""
        key = v.name_key(text)
        assert key == v.name_key(text.casefold()) == v.name_key(text.upper())
        assert key == v.name_key(unicodedata.normalize("NFKC", text))

    @given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=16))
    def test_plain_lower_case_latin_is_its_own_key(self, text: str) -> None:
        """Plain lower-case ASCII letters need no mapping (except "rn" that looks like "m")."""
        assert text.replace("m", "rn") == v.name_key(text).replace("m", "rn")


class TestText:
    def test_trimmed_and_multiline(self) -> None:
        """Text is trimmed; inner newlines and tabs stay."""
        assert "a\n\tb" == v.message_text("  a\n\tb \n", 2000)

    @pytest.mark.parametrize("raw", ["", "   ", "\n\t "])
    def test_empty_after_trim(self, raw: str) -> None:
        """Whitespace only is invalid_text."""
        assert "invalid_text" == code_of(v.message_text, raw, 2000)

    @pytest.mark.parametrize("raw", ["a\x00", "a\x1bb", "x\ud83d", "y\x85z"])
    def test_forbidden_characters(self, raw: str) -> None:
        """Control characters other than newline and tab, and lone surrogates, are refused."""
        assert "invalid_text" == code_of(v.message_text, raw, 2000)

    def test_length_limit_is_exact(self) -> None:
        """max_len characters pass; one more is message_too_long."""
        assert 10 == len(v.message_text("é" * 10, 10))
        assert "message_too_long" == code_of(v.message_text, "é" * 11, 10)

    def test_limit_counts_after_trimming(self) -> None:
        """Surrounding whitespace does not count."""
        assert "x" * 5 == v.message_text("   " + "x" * 5 + "   ", 5)

    def test_markup_is_just_text(self) -> None:
        """HTML is data; it is stored exactly as given."""
        raw = '<img src=x onerror="alert(1)">'
        assert raw == v.message_text(raw, 2000)


class TestNumbers:
    def test_limit_default_and_bounds(self) -> None:
        """limit defaults to 50 and accepts 1-100."""
        assert 50 == v.history_limit(None)
        assert 1 == v.history_limit(1)
        assert 100 == v.history_limit(100)

    @pytest.mark.parametrize("raw", [0, 101, -1, 1.5, "5", True])
    def test_bad_limits(self, raw: Any) -> None:
        """Out-of-range or non-integer limits are bad_request."""
        assert "bad_request" == code_of(v.history_limit, raw)

    @pytest.mark.parametrize("raw", [-1, 2.0, "3", False, [], {}])
    def test_bad_ids(self, raw: Any) -> None:
        """since/before must be non-negative integers."""
        assert "bad_request" == code_of(v.optional_id, {"since": raw}, "since")

    def test_absent_id(self) -> None:
        """A missing id is None."""
        assert v.optional_id({}, "since") is None
        assert 0 == v.optional_id({"since": 0}, "since")

    @pytest.mark.parametrize("raw", [1, 0, "true", None])
    def test_typing_must_be_bool(self, raw: Any) -> None:
        """typing is a real boolean."""
        assert "bad_request" == code_of(v.typing_flag, raw)

    @pytest.mark.parametrize("raw", [None, [], "x", 1, [1]])
    def test_payload_must_be_object(self, raw: Any) -> None:
        """Every payload is an object."""
        assert "bad_request" == code_of(v.require_object, raw)


class TestChangeFields:
    @given(st.text(min_size=1, max_size=16))
    def test_emoji_rule(self, raw: str) -> None:
        """1-16 code points without white space, control characters or lone surrogates
        is an emoji; anything else is bad_request."""
        bad = any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs") for ch in raw)
        if bad:
            assert "bad_request" == code_of(v.emoji, raw)
        else:
            assert raw == v.emoji(raw)

    @pytest.mark.parametrize("raw", ["👍", "👍🏽", "👩\u200d💻", "🇫🇷", "❤\ufe0f", "+1", "x" * 16])
    def test_real_emoji(self, raw: str) -> None:
        """Sequences with modifiers, joiners, flags and variation selectors are one reaction."""
        assert raw == v.emoji(raw)

    @pytest.mark.parametrize("raw", ["", "x" * 17, "a b", "\u3000", "\t", None, 1, ["👍"]])
    def test_bad_emoji(self, raw: Any) -> None:
        """Empty, long, spaced and non-string emoji are bad_request."""
        assert "bad_request" == code_of(v.emoji, raw)

    @given(st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=3), st.floats()))
    def test_message_ids(self, raw: Any) -> None:
        """An id is a non-negative integer (not a boolean); reply_to is a positive one."""
        valid = isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0
        if valid:
            assert raw == v.message_id({"id": raw})
        else:
            assert "bad_request" == code_of(v.message_id, {"id": raw})
        if raw is None:
            assert v.reply_to(raw) is None
        elif valid and raw > 0:
            assert raw == v.reply_to(raw)
        else:
            assert "bad_request" == code_of(v.reply_to, raw)

    @pytest.mark.parametrize("raw", [0, 1, "true", None])
    def test_on_is_a_boolean(self, raw: Any) -> None:
        """`on` must be true or false."""
        assert "bad_request" == code_of(v.reaction_on, raw)
