"""The protocol's error codes in one place, so every layer raises the same thing."""

from __future__ import annotations

from typing import Any, Literal

ErrorCode = Literal[
    "bad_request",
    "invalid_room",
    "invalid_name",
    "name_taken",
    "forbidden",
    "unauthorized",
    "not_in_room",
    "invalid_text",
    "message_too_long",
    "rate_limited",
    "not_found",
    "banned",
    "unavailable",
    "internal",
]

ERROR_CODES: tuple[ErrorCode, ...] = (
    "bad_request",
    "invalid_room",
    "invalid_name",
    "name_taken",
    "forbidden",
    "unauthorized",
    "not_in_room",
    "invalid_text",
    "message_too_long",
    "rate_limited",
    "not_found",
    "banned",
    "unavailable",
    "internal",
)


class ChatError(Exception):
    """A failure the client is told about: a protocol code and a short sentence."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message

    def to_ack(self) -> dict[str, Any]:
        """The failure envelope every acknowledgement uses."""
        return {"ok": False, "error": {"code": self.code, "message": self.message}}


class BackendUnavailable(ChatError):
    """Redis (or another backend) cannot be reached; nothing was stored or sent."""

    def __init__(
        self, message: str = "The chat backend is unavailable; try again shortly."
    ) -> None:
        super().__init__("unavailable", message)


class Banned(ChatError):
    """The user is banned from the room; the error object says until when (null: unban)."""

    def __init__(self, until: int | None) -> None:
        super().__init__("banned", "You are banned from this room.")
        self.until = until

    def to_ack(self) -> dict[str, Any]:
        ack = super().to_ack()
        ack["error"]["until"] = self.until
        return ack
