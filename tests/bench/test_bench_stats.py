"""The bench's pure parts: percentiles and aggregation, the comparison table."""

from __future__ import annotations

import pytest

from chat_tools.bench.report import markdown_table, number, summarize
from chat_tools.bench.stats import (
    expected_deliveries,
    latency_summary_ms,
    merge_counts,
    percentile,
    rate,
    ratio,
    spread,
)


class TestPercentile:
    def test_ends(self) -> None:
        """p0 is the smallest value and p100 the largest."""
        ordered = [1.0, 2.0, 3.0, 10.0]
        assert (1.0, 10.0) == (percentile(ordered, 0), percentile(ordered, 100))

    def test_median_of_odd_count_is_the_middle(self) -> None:
        """The median of an odd number of values is the middle one."""
        assert 3.0 == percentile([1, 2, 3, 4, 100], 50)

    def test_interpolates_between_ranks(self) -> None:
        """Between two ranks the value is interpolated linearly."""
        assert 2.5 == percentile([1, 2, 3, 4], 50)
        assert 95.05 == pytest.approx(percentile(list(range(1, 101)), 95))

    def test_single_value(self) -> None:
        """Every percentile of one value is that value."""
        assert [7.0, 7.0, 7.0] == [percentile([7], q) for q in (0, 50, 99)]

    def test_no_values_is_an_error(self) -> None:
        """There is no percentile of nothing."""
        with pytest.raises(ValueError):
            percentile([], 50)

    def test_out_of_range_is_an_error(self) -> None:
        """q must lie in 0-100."""
        with pytest.raises(ValueError):
            percentile([1], 101)


class TestLatencySummary:
    def test_nanoseconds_become_milliseconds(self) -> None:
        """Percentiles, max and mean come out in milliseconds, whatever the input order."""
        summary = latency_summary_ms([3_000_000, 1_000_000, 2_000_000])
        assert {"p50": 2.0, "p95": 2.9, "p99": 2.98, "max": 3.0, "mean": 2.0} == summary

    def test_no_latencies(self) -> None:
        """Without deliveries every figure is None."""
        assert {None} == set(latency_summary_ms([]).values())


class TestCounters:
    def test_merge_counts_sums_per_key(self) -> None:
        """Counters from several processes add up key by key."""
        merged = merge_counts([{"b": 1, "a": 2}, {}, {"a": 3, "c": 1}])
        assert {"a": 5, "b": 1, "c": 1} == merged

    def test_expected_deliveries(self) -> None:
        """Each acked message reaches every member of its room, sender included."""
        assert 3 * 50 + 2 * 10 == expected_deliveries({"r1": 3, "r2": 2}, {"r1": 50, "r2": 10})

    def test_room_without_members_expects_nothing(self) -> None:
        """A room nobody joined expects no deliveries."""
        assert 0 == expected_deliveries({"r1": 5}, {})

    def test_rate(self) -> None:
        """A rate needs elapsed time."""
        assert (50.0, None) == (rate(100, 2.0), rate(100, 0.0))


class TestSpreadAndRatio:
    def test_spread_skips_unknown_values(self) -> None:
        """min, median and max ignore values that were not measured."""
        assert {"min": 1.0, "median": 2.0, "max": 5.0} == spread([5.0, None, 1.0, 2.0])

    def test_spread_of_nothing_known(self) -> None:
        """With no known value there is no spread."""
        assert spread([None]) is None

    def test_ratio(self) -> None:
        """ours/theirs, unknown when either side is unknown or theirs is zero."""
        assert (2.0, None, None) == (ratio(4.0, 2.0), ratio(None, 2.0), ratio(1.0, 0.0))


class TestReport:
    def run(self, target: str, per_delivery: float) -> dict[str, object]:
        return {
            "target": target,
            "scenario": "broadcast",
            "result": {
                "cpu_us_per_delivery": per_delivery,
                "deliveries_per_s": 1000.0,
                "latency_ms": {"p50": 1.0, "p99": 2.0},
                "lost": 0,
                "members": 500,
                "errors": {},
                "generator": {"cpu_frac_max": 0.1},
            },
        }

    def test_summarize_gives_spread_and_median_ratio(self) -> None:
        """Each metric gets min/median/max per target and the ratio of the medians."""
        runs = [self.run("ours", 30.0), self.run("peer", 10.0), self.run("ours", 20.0),
                self.run("peer", 12.0), self.run("ours", 25.0), self.run("peer", 14.0)]  # fmt: skip
        rows = {row.metric: row for row in summarize(runs, ["ours", "peer"])}
        cpu = rows["node CPU µs/delivery"]
        assert {"min": 20.0, "median": 25.0, "max": 30.0} == cpu.spreads["ours"]
        assert 25.0 / 12.0 == cpu.ratio
        assert {"broadcast"} == {row.scenario for row in rows.values()}

    def test_markdown_table(self) -> None:
        """The table has a header, a rule and one line per metric."""
        runs = [self.run("ours", 30.0), self.run("peer", 10.0)]
        table = markdown_table(summarize(runs, ["ours", "peer"]), ["ours", "peer"])
        lines = table.splitlines()
        expected_header = (
            "| scenario | metric | ours min / median / max | peer min / median / max "
            "| ours/peer (medians) |"
        )
        assert expected_header == lines[0]
        assert "| broadcast | node CPU µs/delivery | 30 / 30 / 30 | 10 / 10 / 10 | 3.00 |" in lines

    def test_number_keeps_few_digits(self) -> None:
        """Large values lose decimals, small ones keep some; unknown is a dash."""
        assert ["24,998", "12.3", "1.23", "0.012", "0", "-"] == [
            number(v) for v in (24998.2, 12.34, 1.234, 0.0123, 0.0, None)
        ]
