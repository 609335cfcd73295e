"""The test suite's own layout: what pytest's default import mode needs to collect it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_modules_have_unique_basenames() -> None:
    """Tiers have no __init__.py, so two test files with one name would collide on import
    (CI once stopped at collection on two test_cli.py)."""
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)
    assert {} == {name: n for name, n in names.items() if n > 1}
