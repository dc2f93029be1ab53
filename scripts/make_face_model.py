"""Regenerate backend/emospeaker/face/data/expression_model.npz from the face model (ICT FaceKit).

Renders the mean ICT face from several angles (pyrender, OSMesa), lets MediaPipe find its 478
landmarks in each view, embeds them in ICT's surface (emospeaker.face.embedding) and samples
ICT's shapes and identity components there; on the lips' and lids' contours the shapes' motion
is measured instead, by rendering ICT performing each channel and casting MediaPipe's landmarks
onto the deformed surface (emospeaker.face.expression). A few minutes on two cores. Run it after
changing the face asset; tests/test_face_fit.py::test_stored_model_matches_the_face_model fails
while the stored model is stale.

    PYTHONPATH=backend python scripts/make_face_model.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

import numpy as np  # noqa: E402

from emospeaker.face.embedding import embed, observed_deltas  # noqa: E402
from emospeaker.face.expression import MODEL_FILE, ExpressionModel  # noqa: E402
from emospeaker.face.model import load_face_model  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    face = load_face_model()
    embedding = embed(face)
    observed = observed_deltas(face)
    model = ExpressionModel.from_face_model(
        face,
        embedding.vertex_ids,
        embedding.barycentric,
        embedding.detected,
        embedding.spread_mm,
        observed,
    )
    MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    model.save(MODEL_FILE)
    spread = embedding.spread_mm
    depth = (embedding.detected[:, 2] - model.neutral[:, 2]) * 1000
    print(
        f"views agree on each landmark within {np.median(spread):.2f} mm (median; 95th "
        f"percentile {np.percentile(spread, 95):.2f} mm); MediaPipe's frontal depth differs "
        f"from the surface by {np.sqrt(np.mean(depth**2)):.1f} mm RMS"
    )
    size = MODEL_FILE.stat().st_size / 1e6
    print(f"wrote {MODEL_FILE} ({size:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
