"""Hypothesis against a real node process: JSON payloads and raw packet text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzzing import EVENTS, assert_ack, payloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_tools.clients import RawSocket
from chat_tools.procs import Node

FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "figures.json"
TRIED = {"payloads": 0, "raw_packets": 0}

FUZZ = settings(
    max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@FUZZ
@given(event=st.sampled_from([*EVENTS, "nope", ""]), payload=payloads)
async def test_json_payloads(shared_node: Node, event: str, payload: Any) -> None:
    """Any JSON value at any event: exactly one well-formed ack."""
    sock = await RawSocket(shared_node.url).open()  # hypothesis runs each example in a new loop
    try:
        assert_ack(await sock.call(event, payload))
    finally:
        await sock.close()
    TRIED["payloads"] += 1


@FUZZ
@given(body=st.text(max_size=200))
async def test_raw_packet_text(shared_node: Node, body: str) -> None:
    """Arbitrary text after an event packet's ack id: an ack (or a drop), never a crash."""
    sock = await RawSocket(shared_node.url).open()
    try:
        await sock.send("4299" + body)
        probe = await sock.call("list_rooms", {})  # the connection and the node still answer
    finally:
        await sock.close()
    assert probe["ok"] is True
    TRIED["raw_packets"] += 1


async def test_zz_record_counts(shared_node: Node) -> None:
    """The node is alive after fuzzing; how many inputs were tried is recorded."""
    sock = await RawSocket(shared_node.url).open()
    assert (await sock.call("list_rooms", {}))["ok"] is True
    await sock.close()
    assert TRIED["payloads"] > 0 and TRIED["raw_packets"] > 0
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data["fuzz_inputs_against_node_process"] = dict(TRIED)
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True))
