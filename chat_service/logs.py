"""Logging setup: plain text by default, one JSON object per line with CHAT_LOG_FORMAT=json.

Context goes in `extra=` (`room`, `sid`, ...), never only in the message text: the JSON
formatter turns every extra into a field of its own, and every record of a node carries
its `node` id, so lines can be filtered by room, connection or node without parsing text.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Probes and scrapes that succeed say nothing an operator needs at INFO.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# Every control character (C0, DEL, C1), the separators some viewers break lines at
# (U+2028, U+2029) and the bidi controls become escapes in the text format; a backslash
# is doubled so an escape in the output always means one in the input.
_ESCAPES = {i: f"\\x{i:02x}" for i in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES |= {0x5C: "\\\\", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_ESCAPES |= {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
# Bidi controls reorder what a terminal shows ("Trojan Source"): escaped as well.
_ESCAPES |= {i: f"\\u{i:04x}" for i in [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F)]}
_ESCAPES |= {i: f"\\u{i:04x}" for i in range(0x2066, 0x206A)}


def escape(text: str) -> str:
    """One log line stays one line, and carries no terminal escape or NUL."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, every field escaped: whatever a client put in a path,
    a name or a header cannot forge a line or drive the reader's terminal.

    A traceback keeps its lines, each indented (a line of a record never starts with
    white space), with every other control character escaped.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = dict(vars(record))
        fields["message"] = escape(record.message)
        fields["name"] = escape(record.name)
        fields["levelname"] = escape(record.levelname)
        return self._style._fmt % fields

    def formatException(self, ei: Any) -> str:
        lines = super().formatException(ei).split("\n")
        return "\n".join("    " + escape(line) for line in lines)

    def formatStack(self, stack_info: str) -> str:
        return "\n".join("    " + escape(line) for line in stack_info.split("\n"))


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """Machine-readable lines: time, level, logger, message, every extra, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = _jsonable(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class NodeField(logging.Filter):
    """Stamps the node's id on every record that does not name a node itself."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "node"):
            record.node = self.node
        return True


def tag_node(node: str) -> None:
    """From now on every line this process logs carries `node`."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, NodeField)]:
            handler.removeFilter(old)
        handler.addFilter(NodeField(node))


class AccessLog(AbstractAccessLogger):
    """One compact line per request: `10.0.0.7 "GET /rooms/lobby" 200 3803B 1.2ms`.

    The path is logged without its query string (a page's query may carry a name). Health
    probes, metric scrapes and Engine.IO requests that succeed are logged at DEBUG: a node
    behind a load balancer gets them every few seconds per client.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        quiet = response.status < 400 and (
            request.path in QUIET_PATHS or request.path.startswith("/socket.io/")
        )
        level = logging.DEBUG if quiet else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        ms = round(time * 1000, 1)
        remote = request.remote or "-"
        self.logger.log(
            level,
            '%s "%s %s" %s %sB %sms',
            remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            ms,
            extra={
                "remote": remote,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "bytes": response.body_length,
                "ms": ms,
            },
        )


# A client that goes away mid-write: aiohttp's "Cannot write to closing transport"
# (ClientConnectionResetError is a ConnectionResetError), a reset, a broken pipe.
EXPECTED_DISCONNECTS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def _went_away(exc: BaseException | None) -> BaseException | None:
    """The expected disconnect behind `exc` (itself, its cause or its context), if any."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, EXPECTED_DISCONNECTS):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class ExpectedDisconnects(logging.Filter):
    """A client that disconnects while the server writes to it is normal (thousands of
    them in a reconnect storm): the libraries log it at ERROR with a traceback, from
    aiohttp's request handler or python-engineio's event handlers. Here it becomes one
    INFO line, shown only when INFO is."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.exc_info:
            return True
        gone = _went_away(record.exc_info[1])
        if gone is None:
            return True
        record.msg = f"{record.getMessage()}: client went away ({type(gone).__name__}: {gone})"
        record.args = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        return self.level <= logging.INFO


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(
        ExpectedDisconnects(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    )
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
