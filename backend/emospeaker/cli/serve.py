"""`emospeaker serve`: the gRPC backend for the Blender add-on, the CLI and studio tools.

Prints exactly one line, `emospeaker serving on HOST:PORT`, to stdout once it accepts calls
(with `--port 0` the port is the one picked); logs one JSON line per request to stderr.
SIGTERM or Ctrl-C drains: health turns NOT_SERVING and new calls are refused at once, running
calls get --grace-seconds to finish; a second signal stops at once. Every --max-* limit is
shown in GetCapabilities; docs/security.md explains them, TLS and token rules included.
With --exit-with-parent (for a server an application starts for itself) it also drains when
that application ends, crash included.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from ..errors import InputError

TOKEN_ENV = "EMOSPEAKER_TOKEN"
# Limits fields with a flag of the same name (--max-audio-seconds, ...): the work budget
LIMIT_FLAGS = {
    "max_audio_seconds": (float, "longest audio, and sent track, in seconds (default 900)"),
    "max_track_values": (int, "frames x channels x layers of a track (default 32,000,000)"),
    "max_render_pixels": (int, "frames x output pixels of a render (default 8e9)"),
    "max_emotion_keys": (int, "emotion keys in one request (default 10,000)"),
    "max_portrait_pixels": (int, "width x height of a portrait (default 50,000,000)"),
    "max_layers": (int, "layers of a sent track (default 16)"),
    "max_frames_per_chunk": (int, "largest frames_per_chunk a client may ask (default 8192)"),
    "max_transcript_chars": (int, "longest transcript (default 100,000)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the gRPC backend", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=50051, help="port; 0 picks a free one")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"require 'authorization: Bearer TOKEN' on every call (default: ${TOKEN_ENV}, "
        "which keeps it out of process listings)",
    )
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve over TLS")
    p.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without TLS (the token, if any, travels in clear "
        "text); warns on stderr",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="neural checkpoints (.pt) that clients may choose by name (option checkpoint=NAME)",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=0,
        help="calls that run at once; more get RESOURCE_EXHAUSTED (default: one per CPU core)",
    )
    p.add_argument(
        "--max-message-mb", type=float, default=64, help="largest request in MiB (default 64)"
    )
    for name, (kind, help_text) in LIMIT_FLAGS.items():  # defaults: server/limits.py
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=help_text)
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=30,
        help="on SIGTERM, how long running calls may finish (default 30)",
    )
    p.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="drain and exit when the process that started this one ends, e.g. Blender (POSIX)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..server import Limits, Server, ServerConfig, log
    from ..server.app import exposure_warning

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} must be 0..65535", field="port")
    limits = {name: getattr(args, name) for name in LIMIT_FLAGS}
    limits = {name: value for name, value in limits.items() if value is not None}
    bad = [name for name, value in limits.items() if not value > 0]
    if bad or args.max_message_mb <= 0 or args.max_concurrent < 0:
        flag = f"--{(bad or ['max_message_mb'])[0].replace('_', '-')}"
        raise InputError(f"{flag}: --max-* limits must be positive", field="limits")
    if args.checkpoint_dir is not None and not args.checkpoint_dir.is_dir():
        raise InputError(
            f"--checkpoint-dir {args.checkpoint_dir}: no such folder", field="checkpoint_dir"
        )
    log.configure()
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=args.token,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        insecure=args.insecure,
        checkpoint_dir=args.checkpoint_dir,
        limits=Limits(
            max_message_bytes=int(args.max_message_mb * 1024 * 1024),
            max_concurrent=args.max_concurrent,
            **limits,
        ),
    )
    server = Server(config)
    warning = exposure_warning(config)
    if warning:
        print(f"emospeaker: warning: {warning}", file=sys.stderr)
    signals = threading.Event()
    received = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        signals.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        # this server's temp files (renders, decoders) go to its own folder, swept if killed
        tempfile.tempdir = os.environ["TMPDIR"] = str(server.workdir)
        print(f"emospeaker serving on {server.address}", flush=True)
        parent = os.getppid()
        while not signals.wait(0.5):
            if args.exit_with_parent and os.getppid() != parent:  # orphaned: re-parented
                break
        done = server.stop(args.grace_seconds)
        while not done.wait(0.1):
            if len(received) > 1:  # asked twice: stop now
                server.stop(0).wait()
                break
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
