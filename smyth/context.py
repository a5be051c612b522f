"""The Lambda context object, and the default generator of its per-request data.

``LambdaContext`` is built inside the handler process, so this module imports only the
standard library. Its attributes follow the Python runtime interface client (awslambdaric):
the function's identity comes from the ``AWS_LAMBDA_*`` environment variables and
``memory_limit_in_mb`` is a string, as on AWS.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


class CognitoIdentity:
    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    def __init__(self, data: dict[str, Any]) -> None:
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data: dict[str, Any]) -> None:
        self.client = Client(data["client"]) if data.get("client") else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    def __init__(
        self,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        client_context: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        env = os.environ
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity(identity)
        self.client_context = ClientContext(client_context) if client_context else None
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms
        # Data from a custom context generator overrides or extends the defaults.
        for key, value in (extra or {}).items():
            setattr(self, key, value)

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(msg)

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r}, "
            f"invoked_function_arn={self.invoked_function_arn!r})"
        )


async def generate_context_data(request: Any, handler: Any, replica: Any = None) -> dict[str, Any]:
    """Default context generator: no data beyond what the runtime sets.

    A custom generator named by ``context_data_generator_path`` has this signature and
    returns attributes to set on the handler's context object (JSON-serialisable values).
    """
    return {}
