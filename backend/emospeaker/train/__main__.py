"""`torchrun --nproc_per_node N -m emospeaker.train CONFIG [--set k=v ...]` (or plain python)."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
