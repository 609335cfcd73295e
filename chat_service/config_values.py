"""How a setting's text (a CHAT_* variable or a flag) becomes its value.

Each parser takes the settings field's name (for the error sentence) and the raw text,
and returns the value or raises SettingsError naming the variable. `config.py` pairs
each setting with its parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# (field name, raw text) -> the value; the name is for the error message.
Parser = Callable[[str, str], Any]


class SettingsError(ValueError):
    """A setting has a value the node cannot start with; the text names it."""


@dataclass(frozen=True)
class RateLimit:
    """`count` messages per `seconds` per connection."""

    count: int
    seconds: float


def env_name(name: str) -> str:
    """CHAT_ variable for a settings field."""
    return "CHAT_" + name.upper()


def flag_name(name: str) -> str:
    """Command-line flag for a settings field."""
    return "--" + name.replace("_", "-")


# --- parsers of a setting's text, each raising SettingsError with a sentence ------------


def _int(name: str, raw: str, *, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{env_name(name)} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise SettingsError(f"{env_name(name)} must be at least {minimum}{upper}, got {value}")
    return value


def _float(name: str, raw: str, *, minimum: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{env_name(name)} must be a number, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{env_name(name)} must be a finite number >= {minimum}, got {raw!r}")
    return value


def whole(minimum: int, maximum: int | None = None) -> Parser:
    """A whole number within bounds."""
    return lambda name, raw: _int(name, raw, minimum=minimum, maximum=maximum)


def number(minimum: float, maximum: float | None = None) -> Parser:
    """A finite number within bounds."""

    def parse(name: str, raw: str) -> float:
        value = _float(name, raw, minimum=minimum)
        if maximum is not None and value > maximum:
            raise SettingsError(f"{env_name(name)} must be at most {maximum:g}, got {raw!r}")
        return value

    return parse


def yes_no(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{env_name(name)} must be true or false, got {raw!r}")


def text_or_unset(_name: str, raw: str) -> str | None:
    """Surrounding blanks dropped; empty means unset."""
    return raw.strip() or None


def secret_or_unset(_name: str, raw: str) -> str | None:
    """Kept exactly as given (a blank may be part of a secret); empty means unset."""
    return raw or None


def parse_rate_limit(name: str, raw: str) -> RateLimit | None:
    """'20/10' -> 20 per 10 s; '0' -> off."""
    text = raw.strip()
    if text == "0":
        return None
    count_text, sep, seconds_text = text.partition("/")
    if not sep:
        raise SettingsError(f"{env_name(name)} must be COUNT/SECONDS or 0, got {raw!r}")
    count = _int(name, count_text, minimum=1)
    seconds = _float(name, seconds_text, minimum=0.001)
    return RateLimit(count, seconds)


def parse_origins(name: str, raw: str) -> tuple[str, ...] | Literal["*"] | None:
    """'*' opens to all; a comma list allows those; empty means same origin only."""
    text = raw.strip()
    if not text:
        return None
    if text == "*":
        return "*"
    origins = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError(
                f"{env_name(name)} entries must look like https://host[:port], got {origin!r}"
            )
    return origins


def host(_name: str, raw: str) -> str:
    return raw.strip() or "0.0.0.0"


def redis_prefix(name: str, raw: str) -> str:
    """Braces would become the Cluster hash tag instead of the room: refused."""
    if "{" in raw or "}" in raw:
        raise SettingsError(f"{env_name(name)} must not contain braces, got {raw!r}")
    return raw


def metrics_token(name: str, raw: str) -> str | None:
    """Unset or at least 16 characters: a short token is guessable over the network."""
    token = raw.strip()
    if not token:
        return None
    if len(token) < 16:
        raise SettingsError(f"{env_name(name)} must be at least 16 characters")
    return token


def token_url(name: str, raw: str) -> str | None:
    """An absolute http(s) URL: the page fetches it and the CSP allows its origin."""
    url = raw.strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"{env_name(name)} must be an absolute http(s) URL, got {raw!r}")
    return url


def log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{env_name(name)} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


def log_format(name: str, raw: str) -> str:
    fmt = raw.strip().lower()
    if fmt not in ("text", "json"):
        raise SettingsError(f"{env_name(name)} must be text or json, got {raw!r}")
    return fmt


def redact_url(url: str) -> str:
    """A URL with the password of its user part replaced (for repr and logs)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _password = userinfo.partition(":")
    hidden = f"{user}:***" if colon else "***"
    return f"{scheme}://{hidden}@{hosts}"
