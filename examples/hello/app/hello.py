"""Greets by name from the path."""


def handler(event, context):
    name = event["pathParameters"]["name"]
    return {"statusCode": 200, "body": f"Hello, {name}!", "headers": {"content-type": "text/plain"}}
