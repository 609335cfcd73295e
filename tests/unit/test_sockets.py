"""The default origin rule: the page's own origin, forwarded headers only when trusted."""

from __future__ import annotations

from typing import Any

import pytest

from chat_service.sockets import same_origin

ENVIRON = {"wsgi.url_scheme": "http", "HTTP_HOST": "chat.example:5000"}
FORWARDED = {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "https"}


class TestSameOrigin:
    @pytest.mark.parametrize(
        ("origin", "environ", "trusted", "expected"),
        [
            (None, ENVIRON, False, True),
            ("http://chat.example:5000", ENVIRON, False, True),
            ("http://other.example", ENVIRON, False, False),
            ("https://evil.example", ENVIRON | FORWARDED, False, False),
            ("http://chat.example:5000", ENVIRON | FORWARDED, False, True),
            ("https://evil.example", ENVIRON | FORWARDED, True, True),
            ("http://chat.example:5000", ENVIRON | FORWARDED, True, False),
            ("http://", {"wsgi.url_scheme": "http"}, False, False),
        ],
    )
    def test_rule(
        self, origin: str | None, environ: dict[str, Any], trusted: bool, expected: bool
    ) -> None:
        """X-Forwarded-Host/Proto name the origin only behind a trusted proxy."""
        assert expected == same_origin(origin, environ, trust_forwarded=trusted)
