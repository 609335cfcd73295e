"""PNG plots of a comparison run, drawn from the run's own summary rows.

Each figure shows the median of every target as a bar (or a point, for node counts)
with the min-max range of the repetitions as an error bar, so a reader sees the noise
next to the difference. matplotlib is a bench dependency (the `test` extra), imported
only here and only when plots are asked for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .report import Row

# (scenario, metric) panels of the targets figure, in this order, where they ran.
TARGET_PANELS = (
    ("fanout20k", "latency p99 ms"),
    ("fanout20k", "node CPU µs/delivery"),
    ("fanout2k", "latency p99 ms"),
    ("fanout2k", "node CPU µs/delivery"),
    ("connect", "node RSS KiB/connection"),
)
IDLE_PANELS = (
    ("idle10k", "node RSS KiB/connection"),
    ("idle10k", "connections/s"),
    ("idle10k", "broadcast to all: last delivery ms"),
    ("idle10k", "broadcast to all: p99 ms"),
)
SCALE_METRICS = ("node CPU µs/delivery", "latency p99 ms", "deliveries/s")
SCALE_NAME = re.compile(r"^scale-(\d+)$")
COLORS = ("#3b6ea8", "#d9822b", "#5a9e55", "#9b59b6")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    return plt


def _errors(spreads: list[dict[str, float] | None]) -> list[list[float]]:
    low = [s["median"] - s["min"] if s else 0.0 for s in spreads]
    high = [s["max"] - s["median"] if s else 0.0 for s in spreads]
    return [low, high]


def bar_figure(
    rows: Sequence[Row],
    panels: Sequence[tuple[str, str]],
    targets: Sequence[str],
    path: Path,
    title: str,
) -> Path | None:
    """One small bar chart per (scenario, metric) that ran; None if none did."""
    by_key = {(row.scenario, row.metric): row for row in rows}
    present = [key for key in panels if key in by_key]
    if not present:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 3.4), squeeze=False)
    for ax, key in zip(axes[0], present, strict=True):
        spreads = [by_key[key].spreads.get(t) for t in targets]
        medians = [s["median"] if s else 0.0 for s in spreads]
        ax.bar(
            list(targets),
            medians,
            yerr=_errors(spreads),
            capsize=4,
            color=COLORS[: len(targets)],
        )
        ax.set_ylim(bottom=0)
        ax.set_title(f"{key[0]}\n{key[1]}", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def scale_figure(
    rows: Sequence[Row], targets: Sequence[str], path: Path, title: str
) -> Path | None:
    """Each SCALE_METRICS against the node count of the `scale-N` scenarios."""
    by_key = {(row.scenario, row.metric): row for row in rows}
    counts = sorted(
        {int(m.group(1)) for row in rows if (m := SCALE_NAME.match(row.scenario)) is not None}
    )
    if not counts:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(SCALE_METRICS), figsize=(3.6 * len(SCALE_METRICS), 3.4))
    for ax, metric in zip(axes, SCALE_METRICS, strict=True):
        for color, target in zip(COLORS, targets, strict=False):
            points = [
                (n, by_key[(f"scale-{n}", metric)].spreads.get(target))
                for n in counts
                if (f"scale-{n}", metric) in by_key
            ]
            known = [(n, s) for n, s in points if s]
            if not known:
                continue
            ax.errorbar(
                [n for n, _ in known],
                [s["median"] for _, s in known],
                yerr=_errors([s for _, s in known]),
                label=target,
                color=color,
                marker="o",
                capsize=4,
            )
        ax.set_ylim(bottom=0)
        ax.set_xticks(counts)
        ax.set_xlabel("nodes", fontsize=8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(rows: Sequence[Row], targets: Sequence[str], stem: Path) -> list[Path]:
    """The figures this run has data for, as `<stem>-targets.png`, `-idle.png`,
    `-scale.png`; returns the paths written."""
    note = "median of the repetitions, bars: min-max"
    written = [
        bar_figure(rows, TARGET_PANELS, targets, Path(f"{stem}-targets.png"), note),
        bar_figure(rows, IDLE_PANELS, targets, Path(f"{stem}-idle.png"), f"one node; {note}"),
        scale_figure(rows, targets, Path(f"{stem}-scale.png"), f"fanout20k per nodes; {note}"),
    ]
    return [path for path in written if path is not None]
