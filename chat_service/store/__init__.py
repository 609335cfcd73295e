"""Shared chat state behind one interface: in memory for one node, Redis for a cluster."""
