"""Tooling shipped beside the chat node: process helpers, test clients, the load
generator and `chat-service cluster`. A node imports none of it."""
