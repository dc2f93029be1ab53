"""Speech as phones: synthesis with exact phone labels, and the project's phone set."""

from .phones import PHONES, PhoneSegment, Word
from .synth import VOICES, Utterance, Voice, available_voices, synthesize

__all__ = [
    "PHONES",
    "PhoneSegment",
    "Word",
    "VOICES",
    "Utterance",
    "Voice",
    "available_voices",
    "synthesize",
]
