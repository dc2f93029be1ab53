"""Regenerate backend/emospeaker/face/data/expression_model.npz from the built-in head.

Renders the neutral head, lets MediaPipe find its 478 landmarks, embeds them in the head and
samples the head's 52 shape deltas there (emospeaker.face.embedding). Run it after changing
the head or its shapes; tests/test_face_fit.py::test_stored_model_matches_the_head fails
while the stored model is stale.

    PYTHONPATH=backend python scripts/make_face_model.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from emospeaker.face.embedding import detect_on_head, embed_mediapipe  # noqa: E402
from emospeaker.face.expression import MODEL_FILE, ExpressionModel  # noqa: E402
from emospeaker.face.head import build_head  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    head = build_head()
    detected = detect_on_head(head)
    ids, weights = embed_mediapipe(head, detected)
    model = ExpressionModel.from_head(head, ids, weights, detected)
    MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    model.save(MODEL_FILE)
    print(f"wrote {MODEL_FILE} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
