"""The user docs list every setting a node reads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from chat_service.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = sorted(env_name(f.name) for f in dataclasses.fields(Settings))


def table_settings(path: Path) -> set[str]:
    """The CHAT_* names in the first column of the document's tables."""
    found: set[str] = set()
    for line in path.read_text().splitlines():
        if line.startswith("| `CHAT_"):
            first = line.split("|")[1]
            found.update(re.findall(r"`(CHAT_[A-Z_]+)`", first))
    return found


@pytest.mark.parametrize("doc", ["docs/protocol.md", "README.md"])
def test_every_setting_is_in_a_settings_table(doc: str) -> None:
    """docs/protocol.md (for client writers) and README (for operators) each have a table
    row for every CHAT_* setting config.py reads."""
    assert [] == [name for name in SETTINGS if name not in table_settings(ROOT / doc)]
