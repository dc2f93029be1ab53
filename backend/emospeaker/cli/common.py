"""Options and helpers shared by several subcommands (emotion, fps, progress)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from ..emotion import EMOTIONS, EmotionTimeline
from ..errors import InputError
from ..jobs import Job


def add_emotion_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--emotion",
        metavar="CATEGORY:INTENSITY",
        help=f"constant emotion, e.g. happy:0.8 or happy:0.6+surprised:0.3 "
        f"(categories: {', '.join(EMOTIONS)})",
    )
    group.add_argument(
        "--emotion-keys",
        metavar="KEYS",
        help="a keys JSON file, or inline keys such as 0s=neutral:0,2.5s=happy:1,4s=sad:0.6 "
        "(time in s or f for frames; @constant|@linear|@smooth sets interpolation)",
    )


def add_remote_args(parser: argparse.ArgumentParser, verb: str) -> None:
    """--server and its connection options: run `verb` on an `emospeaker serve` backend."""
    from .serve import TOKEN_ENV

    remote = parser.add_argument_group("remote", f"{verb} on an `emospeaker serve` backend")
    remote.add_argument("--server", metavar="HOST:PORT", help="use this server instead of local")
    remote.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"the server's token (default: ${TOKEN_ENV})",
    )
    remote.add_argument("--tls-ca", metavar="PEM", help="CA certificate: connect over TLS")
    remote.add_argument("--tls", action="store_true", help="TLS with the system's CAs")
    remote.add_argument("--timeout", type=float, help="deadline in seconds for the call")


def emotion_from_args(args: argparse.Namespace) -> EmotionTimeline:
    if args.emotion:
        return EmotionTimeline.parse(args.emotion)
    if args.emotion_keys:
        keys = args.emotion_keys
        if keys.endswith(".json") or Path(keys).is_file():
            return EmotionTimeline.load(keys)
        return EmotionTimeline.parse(keys)
    return EmotionTimeline()


def text_or_file(value: str | None, field: str) -> str | None:
    """A literal text, or the contents of the file it names."""
    if not value:
        return None
    path = Path(value)
    if path.suffix.lower() == ".txt" or (len(value) < 4096 and path.is_file()):
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise InputError(f"{value}: cannot read {field} ({exc})", field=field) from None
    return value


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    options = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"--option {pair!r} must look like NAME=VALUE", field="options")
        options[name.strip()] = value.strip()
    return options


@contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[Job]:
    """A Job whose progress drives a tqdm bar on stderr (hidden when not a terminal)."""
    disable = quiet or not sys.stderr.isatty()
    with tqdm(
        total=100,
        desc=description,
        unit="%",
        file=sys.stderr,
        disable=disable,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
    ) as bar:

        def update(stage: str, fraction: float) -> None:
            bar.set_postfix_str(stage, refresh=False)
            bar.update(round(fraction * 100) - bar.n)

        yield Job(on_progress=update)
