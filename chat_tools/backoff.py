"""The reconnect backoff of the tooling's simulated people: the node's own (one Backoff)."""

from chat_service.backoff import Backoff

__all__ = ["Backoff"]
