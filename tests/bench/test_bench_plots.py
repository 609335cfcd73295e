"""The comparison's plots and scenario catalogue (`chat-tools bench compare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chat_tools.bench import compare
from chat_tools.bench.plots import write_plots
from chat_tools.bench.report import summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fanout(target: str, scenario: str, cpu: float, p99: float) -> dict[str, Any]:
    return {
        "target": target,
        "scenario": scenario,
        "kind": "fanout",
        "result": {
            "members": 200, "deliveries_per_s": 20_000.0, "cpu_us_per_delivery": cpu,
            "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": p99, "max": 9.0},
            "lost": 0, "duplicates": 0, "out_of_order": 0, "errors": {},
            "generator": {"cpu_frac_max": 0.3}, "deflate_negotiated": 0,
        },
    }  # fmt: skip


def idle(target: str, rss: float) -> dict[str, Any]:
    return {
        "target": target,
        "scenario": "idle10k",
        "kind": "connect",
        "result": {
            "connections": 10_000, "connections_per_s": 400.0, "rss_kb_per_connection": rss,
            "errors": {}, "deflate_negotiated": 0,
            "broadcast": {"all_delivered_ms": 90.0, "lost": 0, "duplicates": 0,
                          "latency_ms": {"p50": 40.0, "p99": 88.0}},
        },
    }  # fmt: skip


class TestPlots:
    def test_each_figure_with_data_is_a_png(self, tmp_path: Path) -> None:
        """Targets, idle and scale figures are written as PNG files from the rows."""
        runs = [fanout(t, s, 40.0, 9.0) for t in ("ours", "peer")
                for s in ("fanout20k", "fanout2k", "scale-1", "scale-2", "scale-4")]  # fmt: skip
        runs += [idle("ours", 30.0), idle("peer", 27.0)]
        written = write_plots(summarize(runs, ["ours", "peer"]), ["ours", "peer"], tmp_path / "r")
        names = [path.name for path in written]
        assert ["r-targets.png", "r-idle.png", "r-scale.png"] == names
        assert all(PNG_MAGIC == path.read_bytes()[:8] for path in written)

    def test_no_figure_without_its_scenarios(self, tmp_path: Path) -> None:
        """A run of only fanout2k draws the targets figure alone."""
        runs = [fanout("ours", "fanout2k", 80.0, 5.0), fanout("peer", "fanout2k", 90.0, 6.0)]
        written = write_plots(summarize(runs, ["ours", "peer"]), ["ours", "peer"], tmp_path / "r")
        assert ["r-targets.png"] == [path.name for path in written]

    def test_idle_broadcast_figures_are_summarized(self) -> None:
        """idle10k rows carry the one broadcast to all: last delivery and p99."""
        rows = summarize([idle("ours", 30.0), idle("peer", 27.0)], ["ours", "peer"])
        found = {row.metric: row.ratio for row in rows}
        assert (30.0 / 27.0, 1.0) == (
            found["node RSS KiB/connection"],
            found["broadcast to all: p99 ms"],
        )


class TestCatalogue:
    def test_issue_sizes(self) -> None:
        """fanout20k offers 20,000 deliveries/s on 2 nodes; fanout2k a tenth of it."""
        known = compare.catalogue(compare.parse_args([]))
        f20k, f2k = known["fanout20k"], known["fanout2k"]
        assert (2, ("fanout", "--rooms", "10", "--clients", "20", "--senders", "2",
                    "--rate", "50.0", "--duration", "10.0")) == (f20k.nodes, f20k.argv)  # fmt: skip
        assert "5.0" == f2k.argv[f2k.argv.index("--rate") + 1]
        assert (1, True) == (known["idle10k"].nodes, "--broadcast" in known["idle10k"].argv)

    def test_scale_expands_and_targets_interleave(self) -> None:
        """`scale` becomes one scenario per node count; targets alternate within a rep."""
        args = compare.parse_args(["--scenarios", "scale", "--scale-nodes", "1,4", "--reps", "2"])
        order = [(rep, target, s.name, s.nodes) for rep, target, s in compare.plan(args)]
        assert [
            (1, "ours", "scale-1", 1), (1, "ours", "scale-4", 4),
            (1, "peer", "scale-1", 1), (1, "peer", "scale-4", 4),
            (2, "ours", "scale-1", 1), (2, "ours", "scale-4", 4),
            (2, "peer", "scale-1", 1), (2, "peer", "scale-4", 4),
        ] == order  # fmt: skip

    def test_deflate_is_offered_by_default(self) -> None:
        """Clients offer deflate unless the run is given --no-deflate."""
        assert (True, False) == (
            compare.parse_args([]).deflate,
            compare.parse_args(["--no-deflate"]).deflate,
        )
