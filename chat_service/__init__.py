"""A real-time multi-room chat service that scales out through Redis."""

__version__ = "1.0.0"
