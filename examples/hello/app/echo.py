"""Echoes the event it received, to show what API Gateway would send."""

import os


def handler(event, context):
    print(f"echo {event['requestContext']['http']['method']} {event['rawPath']}")
    return {"event": event, "greeting": os.environ.get("GREETING"),
            "remaining_ms": context.get_remaining_time_in_millis()}
