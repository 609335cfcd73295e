"""What people were shown against what the service acknowledged: losses, duplicates,
order breaks. Messages are named by (epoch, id): an empty Redis starts a new epoch, and
ids count from 1 again in it.

A view is one person's continuous membership of one room (it survives reconnects and
tab reloads, which resume with `since` / `epoch`). Within a view and an epoch, ids must
rise; no (epoch, id) and no sender's text may be shown twice; every acknowledged message
between the first and last id the view showed in an epoch must be among them, and at
the end every open view must have reached the last acknowledged id of its room's epoch.
"""

from __future__ import annotations

import bisect
import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class View:
    room: str
    shown: list[tuple[str, int, str]] = field(default_factory=list)  # (epoch, id, text)
    open: bool = True


@dataclass
class Verdict:
    acked: int = 0
    shown: int = 0
    lost: int = 0
    duplicates: int = 0
    order_breaks: int = 0
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "acked": self.acked,
            "shown": self.shown,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "order_breaks": self.order_breaks,
            "examples": self.examples[:20],
        }


MAX_EXAMPLES = 50


def _example(verdict: Verdict, text: str) -> None:
    if len(verdict.examples) < MAX_EXAMPLES:  # a bad run must not grow without bound
        verdict.examples.append(text)


@dataclass
class _Span:
    """What one view showed of one epoch so far: the ids, and the window they span."""

    ids: set[int] = field(default_factory=set)
    low: int = 0
    top: int = 0
    missing: set[int] = field(default_factory=set)  # acknowledged, in the window, not shown


@dataclass
class _Progress:
    """How far a view has been judged: entries of `shown` read, and per-epoch state."""

    read: int = 0
    seen: set[tuple[str, int]] = field(default_factory=set)
    texts: dict[str, tuple[str, int]] = field(default_factory=dict)
    spans: dict[str, _Span] = field(default_factory=dict)


class Ledger:
    """Judged incrementally: each `check` reads only what was shown and acknowledged
    since the last one, so a checkpoint costs what happened in its minute, not in the
    whole run (the full rescan took about 1 s per check at 30 minutes, inside the soak's
    event loop, and grew with every hour)."""

    def __init__(self) -> None:
        self.acked: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self.views: list[View] = []
        self.latest_epoch: dict[str, str] = {}  # room -> epoch of its last acknowledged message
        self._sorted: dict[tuple[str, str], list[int]] = defaultdict(list)  # acked ids
        self._fresh: list[tuple[str, str, int]] = []  # acked since the last check
        self._progress: dict[int, _Progress] = {}  # id(view) -> its progress
        self._by_room: dict[str, list[View]] = defaultdict(list)
        self._verdict = Verdict()

    def view(self, room: str) -> View:
        created = View(room)
        self.views.append(created)
        self._by_room[room].append(created)
        self._progress[id(created)] = _Progress()
        return created

    def ack(self, room: str, message: dict[str, Any]) -> None:
        pair = (str(message["epoch"]), int(message["id"]))
        self.latest_epoch[room] = pair[0]
        if pair in self.acked[room]:
            return  # a retry answered from the first attempt
        self.acked[room].add(pair)
        bisect.insort(self._sorted[(room, pair[0])], pair[1])  # nearly always an append
        self._fresh.append((room, *pair))

    def top_acked(self, room: str, epoch: str) -> int:
        ids = self._sorted.get((room, epoch))
        return ids[-1] if ids else 0

    def check(self, final_epochs: dict[str, str] | None = None) -> Verdict:
        """Everything so far; `final_epochs` (room -> epoch now) adds the tail check:
        every open view must have reached its room's last acknowledged id."""
        verdict = self._verdict
        verdict.acked = sum(len(s) for s in self.acked.values())
        fresh, self._fresh = self._fresh, []
        for room, epoch, msg_id in fresh:  # against each view's window before it grows
            for view in self._by_room.get(room, ()):
                span = self._progress[id(view)].spans.get(epoch)
                in_window = span is not None and span.low <= msg_id <= span.top
                if in_window and span is not None and msg_id not in span.ids:
                    span.missing.add(msg_id)
        for view in self.views:
            self._read(view, verdict)
        result = copy.deepcopy(verdict)
        result.lost = sum(
            len(span.missing) for p in self._progress.values() for span in p.spans.values()
        )
        for view in self.views:
            self._tail(view, (final_epochs or {}).get(view.room), result)
        return result

    def _read(self, view: View, verdict: Verdict) -> None:
        progress = self._progress[id(view)]
        new = view.shown[progress.read :]
        progress.read = len(view.shown)
        verdict.shown += len(new)
        grown: dict[str, int] = {}  # epoch -> its window's top before this check
        for epoch, msg_id, text in new:
            if (epoch, msg_id) in progress.seen or text in progress.texts:
                verdict.duplicates += 1
                first = progress.texts.get(text)
                _example(
                    verdict,
                    f"duplicate {view.room} {epoch}:{msg_id} {text!r}"
                    + (f" (first shown as {first[0]}:{first[1]})" if first else ""),
                )
                continue
            progress.seen.add((epoch, msg_id))
            progress.texts[text] = (epoch, msg_id)
            span = progress.spans.get(epoch)
            if span is None:
                span = progress.spans[epoch] = _Span(low=msg_id, top=msg_id - 1)
            if msg_id <= span.top:
                verdict.order_breaks += 1
                _example(verdict, f"order {view.room} {epoch}:{msg_id} after {span.top}")
            grown.setdefault(epoch, span.top)
            span.ids.add(msg_id)
            span.missing.discard(msg_id)
            if msg_id < span.low:  # after an order break the window reaches down too
                acked = self._sorted.get((view.room, epoch), [])
                below = acked[
                    bisect.bisect_right(acked, msg_id) : bisect.bisect_left(acked, span.low)
                ]
                span.missing.update(i for i in below if i not in span.ids)
                span.low = msg_id
            span.top = max(span.top, msg_id)
        for epoch, before in grown.items():
            span = progress.spans[epoch]
            acked = self._sorted.get((view.room, epoch), [])
            start = max(before, span.low - 1)
            window = acked[bisect.bisect_right(acked, start) : bisect.bisect_right(acked, span.top)]
            missing = [i for i in window if i not in span.ids]
            if missing:
                span.missing.update(missing)
                _example(verdict, f"lost {view.room} {epoch}:{missing[:5]}")

    def _tail(self, view: View, final_epoch: str | None, result: Verdict) -> None:
        if not view.open or final_epoch is None:
            return
        span = self._progress[id(view)].spans.get(final_epoch)
        acked = self._sorted.get((view.room, final_epoch), [])
        if span is None or not acked or acked[-1] <= span.top:
            return
        tail = acked[bisect.bisect_right(acked, span.top) :]
        result.lost += len(tail)
        result.examples.append(f"lost {view.room} {final_epoch}:{tail[:5]} (tail)")
