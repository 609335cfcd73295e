"""Log lines: context as JSON fields, the node on every line, a compact access log."""

from __future__ import annotations

import json
import logging
import sys
import unicodedata

import pytest
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st

from chat_service.logs import (
    AccessLog,
    ExpectedDisconnects,
    JsonFormatter,
    NodeField,
    TextFormatter,
    escape,
    setup_logging,
    tag_node,
)


def _record(msg: str = "joined", **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "chat_service.service", "msg": msg, "levelno": 20})
    record.levelname = "INFO"
    for key, value in extra.items():
        setattr(record, key, value)
    return record


class TestJsonFormatter:
    def test_extras_are_fields_of_their_own(self) -> None:
        """room, sid and node given with extra= are separate JSON fields."""
        line = json.loads(JsonFormatter().format(_record(room="lobby", sid="s1", node="n1")))
        assert ("joined", "lobby", "s1", "n1") == (
            line["message"],
            line["room"],
            line["sid"],
            line["node"],
        )

    def test_values_keep_their_json_types(self) -> None:
        """Numbers, booleans, None and lists stay JSON values; other objects become text."""
        line = json.loads(
            JsonFormatter().format(
                _record(port=5000, new_user=True, since=None, rooms=("a", "b"), where=object)
            )
        )
        assert (5000, True, None, ["a", "b"], str(object)) == (
            line["port"],
            line["new_user"],
            line["since"],
            line["rooms"],
            line["where"],
        )


class TestNodeField:
    def test_stamps_records_without_a_node(self) -> None:
        """A record with no node gets the node's id."""
        record = _record()
        NodeField("n1").filter(record)
        assert "n1" == record.node

    def test_keeps_a_node_named_by_the_record(self) -> None:
        """A record about another node (the dead-node sweep) keeps the node it names."""
        record = _record(node="dead-node")
        NodeField("n1").filter(record)
        assert "dead-node" == record.node

    def test_tag_node_replaces_an_earlier_tag(self) -> None:
        """Tagging twice (tests run several nodes in one process) leaves one filter."""
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            setup_logging("INFO", "json")
            tag_node("a")
            tag_node("b")
            (handler,) = root.handlers
            assert ["b"] == [f.node for f in handler.filters if isinstance(f, NodeField)]
        finally:
            root.handlers[:], level = saved
            root.setLevel(level)


def _failure(exc: BaseException) -> logging.LogRecord:
    """An ERROR with a traceback, as aiohttp logs a request handler's exception."""
    try:
        raise exc
    except BaseException as raised:
        info = (type(raised), raised, raised.__traceback__)
    return logging.makeLogRecord({
        "name": "aiohttp.server", "msg": "Error handling request from %s",
        "args": ("10.0.0.7",), "levelno": logging.ERROR, "levelname": "ERROR", "exc_info": info,
    })  # fmt: skip


class TestExpectedDisconnects:
    def test_a_client_gone_mid_write_is_one_info_line(self) -> None:
        """ "Cannot write to closing transport" becomes INFO, without a traceback."""
        record = _failure(ClientConnectionResetError("Cannot write to closing transport"))
        kept = ExpectedDisconnects(logging.INFO).filter(record)
        line = "Error handling request from 10.0.0.7: client went away"
        assert (True, logging.INFO, None) == (kept, record.levelno, record.exc_info)
        assert record.getMessage().startswith(line)

    def test_hidden_when_info_is_not_shown(self) -> None:
        """At CHAT_LOG_LEVEL=WARNING the expected disconnect is not shown at all."""
        record = _failure(BrokenPipeError())
        assert False is ExpectedDisconnects(logging.WARNING).filter(record)

    def test_a_disconnect_behind_another_error_counts(self) -> None:
        """A reset that caused the logged exception is found through its cause."""
        try:
            try:
                raise ConnectionResetError("reset by peer")
            except ConnectionResetError as inner:
                raise RuntimeError("send failed") from inner
        except RuntimeError as outer:
            record = _failure(outer)
        ExpectedDisconnects(logging.INFO).filter(record)
        assert logging.INFO == record.levelno

    def test_other_errors_keep_their_traceback(self) -> None:
        """A real bug is still an ERROR with its traceback."""
        record = _failure(KeyError("room"))
        kept = ExpectedDisconnects(logging.INFO).filter(record)
        assert (True, logging.ERROR) == (kept, record.levelno)
        assert record.exc_info is not None


class _Sent(web.Response):
    """A response that has written ten bytes, as aiohttp reports it once sent."""

    @property
    def body_length(self) -> int:
        return 10


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access() -> tuple[AccessLog, _Capture]:
    logger = logging.getLogger("test.access")
    logger.setLevel(logging.DEBUG)
    capture = _Capture()
    logger.handlers[:] = [capture]
    logger.propagate = False
    return AccessLog(logger, ""), capture


class TestAccessLog:
    def test_one_compact_line_without_the_query(self, access: tuple[AccessLog, _Capture]) -> None:
        """Remote, method, path (no query), status, bytes, milliseconds; also as fields."""
        log, capture = access
        request = make_mocked_request("GET", "/rooms/lobby?name=ann")
        log.log(request, _Sent(text="x" * 10), 0.0012)
        (record,) = capture.records
        fields = {k: getattr(record, k) for k in ("method", "path", "status", "bytes", "ms")}
        assert (logging.INFO, '- "GET /rooms/lobby" 200 10B 1.2ms') == (
            record.levelno,
            record.getMessage(),
        )
        assert {"method": "GET", "path": "/rooms/lobby", "status": 200, "bytes": 10, "ms": 1.2} == (
            fields
        )

    @pytest.mark.parametrize(
        ("path", "status", "level"),
        [
            ("/healthz", 200, logging.DEBUG),
            ("/readyz", 503, logging.INFO),
            ("/metrics", 200, logging.DEBUG),
            ("/socket.io/", 200, logging.DEBUG),
            ("/socket.io/", 400, logging.INFO),
            ("/", 200, logging.INFO),
        ],
    )
    def test_probes_and_polls_that_succeed_are_debug(
        self, access: tuple[AccessLog, _Capture], path: str, status: int, level: int
    ) -> None:
        """Health probes, scrapes and Engine.IO requests are DEBUG unless they fail."""
        log, capture = access
        log.log(make_mocked_request("GET", path), web.Response(status=status), 0.001)
        assert [level] == [r.levelno for r in capture.records]


class TestTextFormatter:
    @pytest.mark.parametrize(
        ("raw_path", "shown"),
        [
            ("/rooms/x%0A2026-01-01 INFO forged: admin logged in", "/rooms/x\\n2026-01-01 INFO"),
            ("/rooms/%1b[31mred", "/rooms/\\x1b[31mred"),
            ("/rooms/a%00b", "/rooms/a\\x00b"),
            ("/rooms/a%0Db", "/rooms/a\\rb"),
            ("/rooms/%E2%80%AEevil", "/rooms/\\u202eevil"),
            ("/rooms/back%5Cslash", "/rooms/back\\\\slash"),
        ],
    )
    def test_access_line_from_a_hostile_path_stays_one_line(
        self, access: tuple[AccessLog, _Capture], raw_path: str, shown: str
    ) -> None:
        """A decoded path with a newline, an ESC, a NUL or a bidi override is escaped:
        one line, no control character, the escape visible."""
        log, capture = access
        log.log(make_mocked_request("GET", raw_path), _Sent(), 0.001)
        line = TextFormatter().format(capture.records[0])
        assert 1 == len(line.splitlines())
        assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in line)
        assert shown in line

    def test_json_format_is_unaffected(self, access: tuple[AccessLog, _Capture]) -> None:
        """The JSON format keeps the path as it was (JSON escapes it by itself)."""
        log, capture = access
        log.log(make_mocked_request("GET", "/rooms/x%0Ay%1b"), _Sent(), 0.001)
        line = JsonFormatter().format(capture.records[0])
        assert (1, "/rooms/x\ny\x1b") == (len(line.splitlines()), json.loads(line)["path"])

    def test_traceback_lines_are_indented(self) -> None:
        """An exception whose message holds a newline cannot start a line of its own."""
        try:
            raise ValueError("bad\n2026-01-01 00:00:00 INFO forged: x\x1b[2J")
        except ValueError:
            record = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", None, sys.exc_info())
        lines = TextFormatter().format(record).splitlines()
        assert all(line.startswith("    ") for line in lines[1:])
        assert "\x1b" not in "".join(lines)

    @given(st.text())
    def test_escape_leaves_no_control_character(self, text: str) -> None:
        """Whatever the text, its escape has no C0/C1 control, separator or bidi control."""
        escaped = escape(text)
        assert not any(unicodedata.category(ch) == "Cc" for ch in escaped)
        assert not set(escaped) & {"\u2028", "\u2029", "\u202e", "\u2066"}
