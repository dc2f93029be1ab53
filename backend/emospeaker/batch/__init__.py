"""Batch animation: a manifest of dialogue lines -> one track file per line.

manifest.py   reading CSV / JSON Lines manifests, shards, the template
lines.py      one line: resume check, animate (locally or on a server), atomic write
runner.py     feeding lines to workers, progress, failures.jsonl, Ctrl-C
on_ray.py     the same lines on a Ray cluster (optional extra `emospeaker[ray]`)

The CLI (`emospeaker batch`) is a thin layer over these; a pipeline can call them directly.
"""

from .lines import Outcome, process_line, recorded_checksum
from .manifest import BadRow, Line, parse_shard, read_manifest, select_shard
from .runner import Summary, failures_path, run_batch

__all__ = [
    "BadRow", "Line", "Outcome", "Summary", "failures_path", "parse_shard", "process_line",
    "read_manifest", "recorded_checksum", "run_batch", "select_shard",
]  # fmt: skip
