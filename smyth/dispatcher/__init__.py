"""Choosing a replica for each invocation, and queueing when all are busy."""
