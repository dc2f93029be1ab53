"""Training the EmoSpeaker neural engine: corpora, the DDP loop, evaluation.

`python -m emospeaker.train CONFIG` (or under `torchrun`) and `emospeaker train CONFIG` are the
same entry point; see loop.py.
"""
