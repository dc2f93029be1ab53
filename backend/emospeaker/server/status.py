"""Exceptions -> gRPC status codes, messages and trailing metadata.

Input problems name their field (`emospeaker-field`) so a UI can point at it; an unexpected
failure gets an id that appears in the server log next to the traceback, and nothing more.
"""

from __future__ import annotations

import uuid

import grpc

from ..errors import Cancelled, EmoSpeakerError, InputError, LimitError
from .limits import Busy, ShuttingDown
from .plans import Unavailable, Unimplemented

Metadata = tuple[tuple[str, str], ...]
NO_RETRY = ("grpc-retry-pushback-ms", "-1")  # gRPC clients' retry policy: retrying won't help


def status_of(
    exc: BaseException, context: grpc.ServicerContext
) -> tuple[grpc.StatusCode, str, Metadata]:
    field = getattr(exc, "field", None)
    metadata: Metadata = (("emospeaker-field", _ascii(field)),) if field else ()
    if isinstance(exc, Busy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), (("emospeaker-busy", "1"),)
    if isinstance(exc, ShuttingDown):
        return grpc.StatusCode.UNAVAILABLE, str(exc), ()
    if isinstance(exc, LimitError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), (*metadata, NO_RETRY)
    if isinstance(exc, InputError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), metadata
    if isinstance(exc, Unimplemented):
        return grpc.StatusCode.UNIMPLEMENTED, str(exc), ()
    if isinstance(exc, Unavailable):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc), ()
    if isinstance(exc, Cancelled):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded; work stopped", ()
        return grpc.StatusCode.CANCELLED, "cancelled; work stopped", ()
    if isinstance(exc, EmoSpeakerError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc), ()
    incident = uuid.uuid4().hex[:12]
    return (
        grpc.StatusCode.INTERNAL,
        f"internal error (incident {incident}); the server log has the details",
        (("emospeaker-incident", incident),),
    )


def forget_traceback(exc: BaseException) -> None:
    """Drop the frames a handled exception holds, with those of its causes and contexts.

    A failed call's exception references its traceback, whose frames reference the request,
    the plan and often the Future that holds the exception: a cycle only the cyclic GC frees,
    so a failed big request would keep its memory until some later collection.
    """
    pending, seen = [exc], set()
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        item.__traceback__ = None
        pending += [item.__cause__, item.__context__]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode()
