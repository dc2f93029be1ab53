"""The default engine: phones -> visemes -> ARKit curves, FACS emotion, prosody head, eyes.

Needs no downloaded weights and runs faster than real time on a laptop CPU.
"""

from .engine import DefaultEngine

__all__ = ["DefaultEngine"]
