"""The gateway: routes HTTP requests to the replica pools of the handlers."""
