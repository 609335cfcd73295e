"""PNG plots of a soak's JSON results (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

DPI = 70


def _faults(ax: Axes, results: dict[str, Any]) -> None:
    for record in results["faults"]:
        at = record["fault"]["at"]
        ax.axvline(at, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(record["fault"]["kind"], (at, 1.0), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=6, va="top", ha="right", color="grey")  # fmt: skip


def _own_fds(n: dict[str, Any]) -> float | None:
    """The fd series the leak verdict judges (chat_tools/soak/leak.py)."""
    if n.get("connections") is None or n.get("redis_sockets") is None:
        return None
    return float(n["fds"] - n["connections"] - n["redis_sockets"])


def _node_series(
    samples: list[dict[str, Any]], value: Callable[[dict[str, Any]], float | None]
) -> dict[str, tuple[list[float], list[float]]]:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for s in samples:
        for n in s["nodes"]:
            y = value(n)
            if y is not None:
                xs, ys = series.setdefault(n["name"], ([], []))
                xs.append(s["t"])
                ys.append(y)
    return series


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    samples = results["samples"]
    t = [s["t"] for s in samples]
    written: list[Path] = []

    fig, (lat, tabs) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    lat.plot(t, [s["p50_ms"] for s in samples], label="p50", linewidth=0.8)
    lat.plot(t, [s["p99_ms"] for s in samples], label="p99", linewidth=0.8)
    lat.set_yscale("log")
    lat.set_ylabel("send ack (ms)")
    lat.legend(fontsize=7)
    _faults(lat, results)
    tabs.plot(t, [s["tabs"] for s in samples], label="tabs open", linewidth=0.8)
    tabs.plot(t, [s["ready_tabs"] for s in samples], label="tabs joined", linewidth=0.8)
    tabs.set_ylabel("tabs")
    tabs.set_xlabel("seconds")
    tabs.legend(fontsize=7)
    _faults(tabs, results)
    written.append(_save(fig, out / "latency.png"))

    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    values: list[Callable[[dict[str, Any]], float | None]] = [
        lambda n: n.get("rss_mib"), lambda n: n.get("fds"), _own_fds, lambda n: n.get("tasks"),
    ]  # fmt: skip
    labels = ("RSS (MiB)", "open fds", "fds beyond\nclients, Redis", "asyncio tasks")
    for ax, value, label in zip(axes, values, labels, strict=True):
        for name, (xs, ys) in sorted(_node_series(samples, value).items()):
            ax.plot(xs, ys, ".", markersize=2, label=name)
        ax.set_ylabel(label)
        _faults(ax, results)
    axes[0].legend(fontsize=7)
    axes[-1].set_xlabel("seconds")
    written.append(_save(fig, out / "nodes.png"))

    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    rows = [s for s in samples if "keys" in s["redis"]]
    rt = [s["t"] for s in rows]
    axes[0].plot(rt, [s["redis"]["used_memory_mib"] for s in rows], linewidth=0.8)
    axes[0].set_ylabel("used memory (MiB)")
    axes[1].plot(rt, [s["redis"]["keys"] for s in rows], label="all keys", linewidth=0.8)
    axes[1].plot(rt, [s["redis"]["live_keys"] for s in rows], label="live keys", linewidth=0.8)
    axes[1].legend(fontsize=7)
    axes[1].set_ylabel("keys")
    axes[2].plot(rt, [s["redis"]["channels"] for s in rows], label="channels", linewidth=0.8)
    axes[2].plot(rt, [s["redis"]["clients"] for s in rows], label="clients", linewidth=0.8)
    axes[2].legend(fontsize=7)
    axes[2].set_xlabel("seconds")
    for ax in axes:
        _faults(ax, results)
    written.append(_save(fig, out / "redis.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
