"""Counts invocations in module state: warm processes keep it between requests."""

import os

COUNT = 0


def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid(), "request_id": context.aws_request_id}
