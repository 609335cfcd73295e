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


class Ledger:
    def __init__(self) -> None:
        self.acked: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self.views: list[View] = []
        self.latest_epoch: dict[str, str] = {}  # room -> epoch of its last acknowledged message

    def view(self, room: str) -> View:
        created = View(room)
        self.views.append(created)
        return created

    def ack(self, room: str, message: dict[str, Any]) -> None:
        self.acked[room].add((str(message["epoch"]), int(message["id"])))
        self.latest_epoch[room] = str(message["epoch"])

    def check(self, final_epochs: dict[str, str] | None = None) -> Verdict:
        """Judge every view; `final_epochs` (room -> epoch now) enables the tail check.

        Runs inside the soak's event loop, so it must stay fast as the run grows: the
        acknowledged ids are sorted once per (room, epoch), and each view looks only at
        the slice between the first and last id it showed. (Scanning every acknowledged
        id of the room for every view took 6 s after 30 minutes: long enough for the
        nodes to time out the pings of every person at once.)
        """
        verdict = Verdict(acked=sum(len(s) for s in self.acked.values()))
        by_epoch: dict[tuple[str, str], list[int]] = defaultdict(list)
        for room, pairs in self.acked.items():
            for epoch, msg_id in pairs:
                by_epoch[(room, epoch)].append(msg_id)
        for ids in by_epoch.values():
            ids.sort()
        for view in self.views:
            self._check_view(view, verdict, (final_epochs or {}).get(view.room), by_epoch)
        return verdict

    def _check_view(
        self,
        view: View,
        verdict: Verdict,
        final_epoch: str | None,
        by_epoch: dict[tuple[str, str], list[int]],
    ) -> None:
        verdict.shown += len(view.shown)
        seen: set[tuple[str, int]] = set()
        texts: dict[str, tuple[str, int]] = {}
        last: dict[str, int] = {}
        ids: dict[str, set[int]] = defaultdict(set)
        for epoch, msg_id, text in view.shown:
            if (epoch, msg_id) in seen or text in texts:
                verdict.duplicates += 1
                first = texts.get(text)
                verdict.examples.append(
                    f"duplicate {view.room} {epoch}:{msg_id} {text!r}"
                    + (f" (first shown as {first[0]}:{first[1]})" if first else "")
                )
                continue
            seen.add((epoch, msg_id))
            texts[text] = (epoch, msg_id)
            if msg_id <= last.get(epoch, 0):
                verdict.order_breaks += 1
                verdict.examples.append(f"order {view.room} {epoch}:{msg_id} after {last[epoch]}")
            last[epoch] = max(last.get(epoch, 0), msg_id)
            ids[epoch].add(msg_id)
        for epoch, shown in ids.items():
            acked = by_epoch.get((view.room, epoch), [])
            low, top = min(shown), max(shown)
            if view.open and epoch == final_epoch and acked:
                top = max(top, acked[-1])
            window = acked[bisect.bisect_left(acked, low) : bisect.bisect_right(acked, top)]
            missing = [i for i in window if i not in shown]
            if missing:
                verdict.lost += len(missing)
                verdict.examples.append(f"lost {view.room} {epoch}:{missing[:5]}")
