"""`chat-tools bench`: a load generator for any deployment of the chat protocol.

Layers, each small: `eio` (a raw Engine.IO v4 / Socket.IO v5 websocket client, far
cheaper per message than a full Socket.IO client), `stats` and `procstat` (pure
aggregation, /proc readings), `load` (what one generator process does), `pool`
(several generator processes driven over pipes), `scenarios` (fanout and connect,
merged into one JSON result), `cli` (argparse), `peer` (start the Node comparison peer),
`redisprobe`, `capacity` and `capacity_run` (`bench capacity`: coefficients and a plan).
"""
