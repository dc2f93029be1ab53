"""Bearer-token check on every call (`authorization: Bearer <token>` metadata).

The standard health service stays open so load balancers and orchestrators can probe a
replica without a secret; it reveals only SERVING / NOT_SERVING.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import grpc

OPEN_METHODS = ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch")


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(
        self, token: str, on_denied: Callable[[str, str, str], None] | None = None
    ) -> None:
        """`on_denied(method, reason, peer)` is told about every refused call."""
        self._expected = f"Bearer {token}".encode()
        self._on_denied = on_denied

    def intercept_service(self, continuation: Callable, details: Any) -> Any:
        handler = continuation(details)
        if handler is None or details.method in OPEN_METHODS:
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(given, bytes):
            given = given.decode("latin-1")
        if hmac.compare_digest(given.encode("utf-8", "replace"), self._expected):
            return handler
        reason = "missing" if not given else "wrong"
        message = f"{reason} token: send metadata 'authorization: Bearer <token>'"

        def abort(_request: Any, context: grpc.ServicerContext) -> Any:
            if self._on_denied is not None:
                self._on_denied(details.method, reason, context.peer())
            context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        return _same_shape(handler, abort)


def _same_shape(handler: grpc.RpcMethodHandler, abort: Callable) -> grpc.RpcMethodHandler:
    """A handler of the same kind (unary/stream) as `handler` running `abort`."""

    kwargs = {
        "request_deserializer": None,  # never parse what an unauthenticated peer sent
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort, **kwargs)
    return grpc.unary_unary_rpc_method_handler(abort, **kwargs)
