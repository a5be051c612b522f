"""The gateway: a Starlette app that routes HTTP requests to handlers' replica pools."""
