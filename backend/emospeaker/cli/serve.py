"""`emospeaker serve`: the gRPC backend for the Blender add-on, the CLI and studio tools.

Prints exactly one line, `emospeaker serving on HOST:PORT`, to stdout once it accepts calls
(with `--port 0` the port is the one picked); logs one JSON line per request to stderr.
SIGTERM or Ctrl-C drains: running calls get --grace-seconds to finish; a second signal stops
at once. With --exit-with-parent (for a server an application starts for itself) it also
drains when that application ends, crash included.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from ..audio import DEFAULT_MAX_SECONDS
from ..errors import InputError

TOKEN_ENV = "EMOSPEAKER_TOKEN"


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
        help="allow a non-loopback --host without --token or TLS",
    )
    p.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=0,
        help="calls that run at once; more get RESOURCE_EXHAUSTED (default: one per CPU core)",
    )
    p.add_argument(
        "--max-message-mb", type=float, default=64, help="largest request in MiB (default 64)"
    )
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
    from ..server import Limits, Server, ServerConfig, is_loopback, log

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} must be 0..65535", field="port")
    if args.max_audio_seconds <= 0 or args.max_message_mb <= 0 or args.max_concurrent < 0:
        raise InputError("--max-* limits must be positive", field="limits")
    log.configure()
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=args.token,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        insecure=args.insecure,
        limits=Limits(
            max_audio_seconds=args.max_audio_seconds,
            max_message_bytes=int(args.max_message_mb * 1024 * 1024),
            max_concurrent=args.max_concurrent,
        ),
    )
    server = Server(config)
    if not config.token and not is_loopback(config.host):
        print(
            f"emospeaker: warning: anyone who can reach {config.host} can use this server "
            "(no --token)",
            file=sys.stderr,
        )
    signals = threading.Event()
    received = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        signals.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
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
