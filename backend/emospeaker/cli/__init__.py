"""`emospeaker` command line: one module per subcommand, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .. import __version__
from ..errors import Cancelled, EmoSpeakerError

COMMANDS: tuple[str, ...] = (
    "animate", "batch", "capture", "preview", "render", "head", "serve", "info", "train", "corpus",
    "evaluate",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emospeaker",
        description="Speech + emotion keys -> lip-synced emotional facial animation.",
    )
    parser.add_argument("--version", action="version", version=f"emospeaker {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Warnings (e.g. a transcript that could not be aligned) as one line for the user."""
    print(f"emospeaker: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return int(args.run(args) or 0)
    except (Cancelled, KeyboardInterrupt):
        print("emospeaker: cancelled", file=sys.stderr)
        return 130
    except EmoSpeakerError as exc:
        print(f"emospeaker: error: {exc}", file=sys.stderr)
        return 2
