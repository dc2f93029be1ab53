"""Synthesise the bundled sample clip samples/hello.flac with Debian's festival (HTS voice).

python scripts/make_sample.py    # needs: apt install festival festvox-us-slt-hts sox
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (
    "Hello! My name is EmoSpeaker. Please bring me a big bowl of warm soup, "
    "and five very fresh muffins."
)
VOICE = "voice_cmu_us_slt_arctic_hts"
# the transcript spells the made-up name as it sounds, so that its words are in the aligner's
# dictionary and the sample aligns out of the box
TRANSCRIPT = TEXT.replace("EmoSpeaker", "Emo Speaker")


def main() -> None:
    out = ROOT / "samples" / "hello.flac"
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "hello.wav"
        script = f'({VOICE})(set! u (utt.synth (Utterance Text "{TEXT}")))(utt.save.wave u "{wav}")'
        subprocess.run(["festival", "--pipe"], input=script, text=True, check=True)
        subprocess.run(["sox", str(wav), "-r", "16000", "-c", "1", str(out)], check=True)
    (ROOT / "samples" / "hello.txt").write_text(TRANSCRIPT + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
