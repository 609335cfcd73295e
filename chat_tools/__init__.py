"""Tooling shipped beside the chat node: process helpers, test clients, the load
generator, `chat-tools cluster` and `chat-tools soak`. A node imports none of it."""
