"""`emospeaker evaluate --corpus DIR`: lip sync, emotion-AU agreement and decoupling figures."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate an engine (neural or default) on a corpus split",
        description=__doc__,
    )
    p.add_argument("--corpus", required=True, help="corpus folder (see `emospeaker corpus`)")
    p.add_argument("--split", default="val", choices=("val", "train", "all"))
    p.add_argument("--engine", default="neural", help="engine to evaluate (default neural)")
    p.add_argument("--checkpoint", default="", help="neural checkpoint (default: shipped)")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N clips")
    p.add_argument("--json", dest="json_out", help="also write the figures to this file")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..engines import get_engine
    from ..train.corpus import Corpus
    from ..train.evaluate import (
        INTENSITY_GRID,
        decoupling,
        evaluate_engine,
        intensity_response,
    )
    from .common import progress_bar

    corpus = Corpus(args.corpus)
    clips = corpus.load(None if args.split == "all" else args.split)
    if args.limit > 0:
        clips = clips[: args.limit]
    options = {"checkpoint": args.checkpoint} if args.engine == "neural" else {}
    with progress_bar("evaluate", args.quiet) as job:
        figures = {
            "engine": args.engine,
            "corpus": str(corpus.root),
            "split": args.split,
            **evaluate_engine(clips, corpus.au_names, args.engine, options, job),
        }
        if args.engine == "neural":
            model, payload = get_engine("neural").model(args.checkpoint)
            figures["model_sha256"] = payload["checksum"]
            figures.update(decoupling(model, clips))
            figures["intensity_grid"] = list(INTENSITY_GRID)
            figures["intensity_response"] = intensity_response(model, clips[0])
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            fh.write(text + "\n")
    return 0
