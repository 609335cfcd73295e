"""Pure chat rules: no I/O, no Socket.IO, no Redis. Everything here is unit-testable."""
