"""`emospeaker batch MANIFEST -o OUTDIR`: animate every line of a CSV / JSON Lines manifest.

Worker processes (one per core) keep their engines warm and write one track per line into
OUTDIR (atomically), bit-identical to `emospeaker animate` on that line.
A rerun skips lines whose output was made from the same audio, transcript and options
(`--force` redoes them). A bad line is written to OUTDIR/failures.jsonl and the batch goes
on. Exit status: 0 every line written or current, 1 some lines failed, 2 the manifest or an
option is unusable, 130 interrupted (Ctrl-C; rerun to resume).

The same manifest runs on a server or several replicas (`--server h1:p,h2:p` or a DNS
name: gRPC round-robin with retries), on a Ray cluster (`--ray auto|local|ADDRESS`), or as
farm tasks (`--shard I/N`, deploy/openjd/). `--template` prints an example manifest.
docs/scale.md has the commands for each.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio import DEFAULT_MAX_SECONDS
from ..errors import InputError
from .common import add_remote_args

if TYPE_CHECKING:
    from ..batch import BadRow, Line, Summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="animate every line of a manifest (CSV or JSON Lines)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", nargs="?", help="a .csv or .jsonl manifest, one row per line")
    p.add_argument("-o", "--outdir", help="folder for the tracks and failures.jsonl")
    p.add_argument(
        "--template",
        nargs="?",
        const="csv",
        choices=("csv", "jsonl"),
        help="print an example manifest (csv or jsonl) and its columns, then exit",
    )
    p.add_argument("--shard", metavar="I/N", help="only shard I of N (1-based): rows I, I+N, …")
    p.add_argument("--force", action="store_true", help="redo lines whose output is current")
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="lines at once (default: one worker process per core, 2 per server, "
        "one Ray actor per cluster CPU)",
    )
    p.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument(
        "--ray",
        metavar="auto|local|ADDRESS",
        help="run on a Ray cluster (needs emospeaker[ray]); audio and OUTDIR on shared storage",
    )
    add_remote_args(p, "animate each line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import (
        failures_path,
        parse_shard,
        process_line,
        read_manifest,
        run_batch,
        select_shard,
    )
    from ..batch.manifest import COLUMNS, TEMPLATE_CSV, TEMPLATE_JSONL
    from ..speech.pool import worker_count

    if args.template:
        print(TEMPLATE_CSV if args.template == "csv" else TEMPLATE_JSONL, end="")
        if not args.quiet:
            width = max(map(len, COLUMNS))
            notes = "\n".join(f"  {k:<{width}}  {v}" for k, v in COLUMNS.items())
            print(f"\ncolumns (all but audio optional):\n{notes}", file=sys.stderr)
        return 0
    if not args.manifest or not args.outdir:
        raise InputError("give a MANIFEST and -o OUTDIR (or --template)", field="manifest")
    if args.server and args.ray:
        raise InputError("use --server or --ray, not both", field="ray")
    if args.jobs < 0:
        raise InputError(f"--jobs {args.jobs} must be 0 (automatic) or more", field="jobs")
    shard = parse_shard(args.shard) if args.shard else None
    rows = select_shard(read_manifest(args.manifest), shard)
    outdir = Path(args.outdir)
    failures = failures_path(outdir, shard)
    if args.ray:
        summary = _run_ray(args, rows, outdir, failures)
    elif args.server:
        summary = _run_remote(args, rows, outdir, failures)
    else:
        worker = partial(
            process_line, outdir=outdir, force=args.force, max_audio_seconds=args.max_audio_seconds
        )
        jobs = args.jobs or min(worker_count() + 1, len(rows)) or 1
        summary = run_batch(rows, worker, failures, jobs=jobs, processes=True, quiet=args.quiet)
    if not args.quiet or summary.failed or summary.interrupted:
        print(f"emospeaker batch: {summary.line()}", file=sys.stderr)
        if summary.failed:
            print(f"emospeaker batch: failed lines are listed in {failures}", file=sys.stderr)
        if summary.interrupted:
            print("emospeaker batch: interrupted; run again to resume", file=sys.stderr)
    return summary.exit_code()


def _run_remote(
    args: argparse.Namespace, rows: list[Line | BadRow], outdir: Path, failures: Path
) -> Summary:
    """Lines sent to one server or several replicas (gRPC balances and retries)."""
    from ..batch import process_line, run_batch
    from ..batch.lines import remote_producer
    from ..remote import connect

    servers = max(1, args.server.count(",") + 1)
    connection = dict(token=args.token, tls_root_cert=args.tls_ca, tls=args.tls, retry=True)
    with connect(args.server, **connection) as client:
        worker = partial(
            process_line,
            outdir=outdir,
            force=args.force,
            max_audio_seconds=args.max_audio_seconds,
            produce=remote_producer(client, args.timeout),
            need_local_engine=False,
        )
        return run_batch(rows, worker, failures, jobs=args.jobs or 2 * servers, quiet=args.quiet)


def _run_ray(
    args: argparse.Namespace, rows: list[Line | BadRow], outdir: Path, failures: Path
) -> Summary:
    from ..batch.on_ray import run_on_ray

    return run_on_ray(
        rows,
        outdir,
        failures,
        address=args.ray,
        actors=args.jobs,
        force=args.force,
        max_audio_seconds=args.max_audio_seconds,
        quiet=args.quiet,
    )
