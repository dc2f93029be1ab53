"""`emospeaker train CONFIG`: train the neural engine (one process; see --help for torchrun)."""

from __future__ import annotations

import argparse
import os
import sys

EPILOG = """multi-GPU / multi-process (DDP, NCCL on GPU, Gloo on CPU):
  torchrun --nproc_per_node 8 -m emospeaker.train configs/neural_mead.toml
The batch size in the config is per process. A rerun with the same [train] out resumes from
its last.pt unless --no-resume."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the neural engine from a TOML config",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="training config, e.g. configs/neural_synthetic.toml")
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set train.steps=100; repeatable",
    )
    p.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..train.config import load_config
    from ..train.loop import train

    cfg = load_config(args.config, args.set)
    main_rank = os.environ.get("RANK", "0") == "0"
    quiet = args.quiet or not main_rank or not sys.stderr.isatty()
    with tqdm(total=cfg.train.steps, desc="train", disable=quiet, file=sys.stderr) as bar:
        final = train(
            cfg, resume=not args.no_resume, progress=lambda step, _: bar.update(step - bar.n)
        )
    if main_rank:
        print(f"wrote {final}", file=sys.stderr)
    return 0
