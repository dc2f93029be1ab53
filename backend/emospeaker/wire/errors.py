"""Client-side exceptions: one per gRPC status a caller may want to handle differently."""

from __future__ import annotations

import grpc


class ClientError(Exception):
    """A call failed. `code` is the gRPC status name, `details` the server's message and
    `field` the request field at fault (when the server named one)."""

    def __init__(self, code: str, details: str, *, field: str | None = None, address: str = ""):
        self.code, self.details, self.field, self.address = code, details, field, address
        where = f" ({address})" if address else ""
        super().__init__(f"{details}{where} [{code}]")


class InvalidRequest(ClientError):
    """INVALID_ARGUMENT: fix the named field."""


class LimitExceeded(ClientError):
    """RESOURCE_EXHAUSTED: the input is over one of the server's limits."""


class ServerBusy(LimitExceeded):
    """RESOURCE_EXHAUSTED because every worker is busy: retry later."""


class AuthenticationFailed(ClientError):
    """UNAUTHENTICATED / PERMISSION_DENIED: wrong or missing token."""


class ServerUnavailable(ClientError):
    """UNAVAILABLE: no server at the address, TLS mismatch, or it is shutting down."""


class DeadlineExceeded(ClientError, TimeoutError):
    """The call's deadline passed before it finished."""


class CallCancelled(ClientError):
    """The call was cancelled (by this client, or the server went away)."""


class NotSupported(ClientError):
    """UNIMPLEMENTED: the server lacks this feature (e.g. a renderer not built yet)."""


class EngineUnavailable(ClientError):
    """FAILED_PRECONDITION: e.g. the engine's dependencies are not installed on the server."""


_ERRORS: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequest,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationFailed,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationFailed,
    grpc.StatusCode.UNAVAILABLE: ServerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: CallCancelled,
    grpc.StatusCode.UNIMPLEMENTED: NotSupported,
    grpc.StatusCode.FAILED_PRECONDITION: EngineUnavailable,
}


def from_rpc_error(exc: grpc.RpcError, address: str) -> ClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    trailing = dict(exc.trailing_metadata() or ()) if hasattr(exc, "trailing_metadata") else {}
    cls = _ERRORS.get(code, ClientError)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if trailing.get("emospeaker-busy"):
            cls = ServerBusy
        elif "larger than max" in details:
            details += (
                "; the request is over the server's message size limit: send compressed "
                "audio (flac, ogg) or raise the server's --max-message-mb"
            )
    elif code == grpc.StatusCode.UNAVAILABLE:
        details = f"cannot reach the EmoSpeaker server: {details}"
    elif code == grpc.StatusCode.UNAUTHENTICATED and not details:
        details = "the server needs a token (authorization: Bearer)"
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    return cls(name, details, field=trailing.get("emospeaker-field"), address=address)
