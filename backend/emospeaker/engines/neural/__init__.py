"""The EmoSpeaker neural engine: model.py (the network), losses.py, checkpoint.py, engine.py.

Importing this package does not import torch; the engine loads it on first use.
"""

from .engine import NeuralEngine

__all__ = ["NeuralEngine"]
