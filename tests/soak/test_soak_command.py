"""`chat-tools soak` arguments and summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_tools.soak.cli import parse_args, summary


def test_arguments_become_the_config() -> None:
    """Flags map onto SoakConfig, the fault list split on commas."""
    cfg = parse_args(
        ["--out", "x", "--duration", "90", "--warmup", "30", "--faults", "kill9,storm"]
    )
    assert (Path("x"), 90.0, ("kill9", "storm"), 30.0) == (
        cfg.out, cfg.duration, cfg.faults, cfg.warmup,
    )  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["--faults", "kill9,meteor"],
        ["--duration", "10", "--warmup", "20"],
        ["--jitter", "2"],
        ["--blackhole-share", "0.5", "--lossy-share", "0.6"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    """Unknown faults, a run shorter than its warm-up, jitter outside 0-1, more than
    everyone behind a proxy: usage error."""
    with pytest.raises(SystemExit) as raised:
        parse_args(argv)
    assert 2 == raised.value.code


def test_summary_names_leaks_and_faults() -> None:
    """The summary gives the verdict, one line per fault and the leaking series."""
    results = {
        "verdict": {"acked": 5, "shown": 9, "lost": 0, "duplicates": 0, "order_breaks": 0},
        "latency": {"p50_ms": 1.0, "p99_ms": 2.0, "quiet_p50_ms": 1.0, "quiet_p99_ms": 1.5},
        "faults": [
            {
                "fault": {"at": 30.0, "kind": "kill9", "node": 1},
                "can_send_s": 1.2,
                "members_agree_s": 3.0,
                "all_back_s": 2.5,
                "user_left": 0,
                "user_joined": 0,
                "error": None,
            },
        ],
        "leak": ["node1 rss_mib"],
    }
    lines = summary(results)
    assert "lost 0, duplicates 0, order breaks 0" in lines[0]
    assert "kill9" in lines[2] and "node2" in lines[2]
    assert "leak: node1 rss_mib" == lines[-1]
