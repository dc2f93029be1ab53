"""The few exception types every layer (CLI, server, add-on) knows how to report.

Each error names what was wrong (a file, a field, the allowed values) so a user can fix it
without reading a traceback; the server maps them to gRPC status codes.
"""


class EmoSpeakerError(Exception):
    """Base for errors that are the user's input or environment, not a bug."""


class InputError(EmoSpeakerError, ValueError):
    """A request field or file is invalid. `field` names it for the CLI and the server."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class LimitError(InputError):
    """A request exceeds a configured limit (too long, too large)."""


class Cancelled(EmoSpeakerError):
    """The caller cancelled a long-running job."""
