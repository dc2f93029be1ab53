"""`emospeaker` command line: one module per subcommand, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import Cancelled, EmoSpeakerError

COMMANDS: tuple[str, ...] = (
    "animate", "capture", "preview", "head", "info", "train", "corpus", "evaluate",
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (Cancelled, KeyboardInterrupt):
        print("emospeaker: cancelled", file=sys.stderr)
        return 130
    except EmoSpeakerError as exc:
        print(f"emospeaker: error: {exc}", file=sys.stderr)
        return 2
