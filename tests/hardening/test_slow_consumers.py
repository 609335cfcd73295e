"""Clients that stop reading cannot grow a node without bound."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path

from chat_tools.clients import RawSocket, http_get
from chat_tools.procs import Node, node_rss_kib

FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "figures.json"


async def metric(node: Node, name: str) -> float:
    _, text = await http_get(node.url + "/metrics")
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def record(name: str, value: float) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = round(value, 3)
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True))


async def read_messages(sock: RawSocket, count: int, timeout: float, ids: list[int]) -> list[int]:
    """Collect the ids of the next `count` message events on a raw socket into `ids`."""
    while len(ids) < count:
        frame = await sock.receive(timeout)
        if frame.startswith('42["message",'):
            ids.append(json.loads(frame[2:])[1]["id"])
    return ids


async def test_slow_consumers_are_cut_off(start_node: Callable[..., Node]) -> None:
    """Readers that stall are disconnected past the backlog limit; everyone else gets all."""
    node = start_node(rate_limit=0, max_queue_bytes=256 * 1024, presence_grace=0)
    sender = await RawSocket(node.url).open()
    reader = await RawSocket(node.url).open()
    await sender.call("join", {"room": "flood", "name": "sender"})
    await reader.call("join", {"room": "flood", "name": "reader"})
    stalled = []
    for i in range(5):
        raw = await RawSocket(node.url, read_buffer=4096).open()
        assert (await raw.call("join", {"room": "flood", "name": f"slow{i}"}))["ok"]
        stalled.append(raw)  # from now on nobody reads these sockets
    baseline = node_rss_kib(node.process.pid)
    total = 3000
    frame = '42["send_message",{"room":"flood","text":"' + "x" * 2000 + '"}]'
    ids: list[int] = []
    reading = asyncio.create_task(read_messages(reader, total, 30, ids))
    echoes: list[int] = []  # the sender reads its own copies too, as a healthy client does
    echoing = asyncio.create_task(read_messages(sender, total, 30, echoes))
    peak = baseline
    for k in range(total):
        await sender.send(frame)
        if k % 10 == 0:  # a healthy reader keeps up; only the stalled ones fall behind
            while len(ids) < k - 20 and not reading.done():
                await asyncio.sleep(0.001)
        if k % 100 == 0:
            peak = max(peak, node_rss_kib(node.process.pid))
    received = await asyncio.wait_for(reading, 60)
    await asyncio.wait_for(echoing, 60)
    peak = max(peak, node_rss_kib(node.process.pid))
    assert list(range(1, total + 1)) == received == echoes
    assert 5 == await metric(node, "chat_slow_consumer_disconnects_total")
    members = (await sender.call("members", {"room": "flood"}, timeout=10))["members"]
    assert ["reader", "sender"] == members  # the cut-off clients left the room
    record("slow_consumer_node_rss_baseline_mib", baseline / 1024)
    record("slow_consumer_node_rss_peak_mib", peak / 1024)
    record("slow_consumer_bytes_offered_per_client_mib", total * 2100 / 2**20)
    assert peak - baseline < 64 * 1024, (baseline, peak)  # bounded: well under what was sent
    for sock in [*stalled, sender, reader]:
        await sock.close()
