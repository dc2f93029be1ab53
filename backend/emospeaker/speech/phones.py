"""One phone set for the whole project: the ARPAbet phones of pocketsphinx's en-us model.

Recognition (pocketsphinx) already speaks it; the synthesisers' own sets (festival's radio
phones, espeak-ng's mnemonics) are mapped onto it here, so a phone means the same thing to the
recogniser, the synthetic corpus, the viseme tables and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

SILENCE = "SIL"
VOWELS: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
)  # fmt: skip
CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
    "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
PHONES: tuple[str, ...] = (SILENCE,) + VOWELS + CONSONANTS
BILABIALS = frozenset({"P", "B", "M"})
STOPS = frozenset({"P", "B", "T", "D", "K", "G", "CH", "JH"})


@dataclass(frozen=True)
class PhoneSegment:
    """One phone from `start` to `end` seconds of its audio."""

    phone: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    """One word from `start` to `end` seconds of its audio."""

    text: str
    start: float
    end: float


# festival's radio / cmu phone sets (lower-case ARPAbet plus a few extras)
FESTIVAL_TO_ARPABET: dict[str, str] = {
    **{p.lower(): p for p in PHONES if p != SILENCE},
    "pau": SILENCE, "h#": SILENCE, "brth": SILENCE, "#": SILENCE,
    "ax": "AH", "axr": "ER", "ix": "IH", "ux": "UW",
    "el": "L", "em": "M", "en": "N", "nx": "N", "dx": "D", "hv": "HH",
}  # fmt: skip

# espeak-ng's English phoneme mnemonics (all en-* voices); decorations such as a trailing
# "#", "2", "3" or "-" mark allophones and are stripped before a second look-up.
ESPEAK_TO_ARPABET: dict[str, str] = {
    "_": SILENCE, "_:": SILENCE, "_!": SILENCE, "_^_": SILENCE,
    "0": "AA", "3": "ER", "3:": "ER", "@": "AH", "@L": "L", "A:": "AA", "A@": "AA", "E": "EH",
    "I": "IH", "IR": "ER", "O": "AO", "O:": "AO", "O@": "AO", "OI": "OY", "U": "UH", "U@": "UH",
    "V": "AH", "VR": "ER", "a": "AE", "a#": "AH", "aI": "AY", "aI@": "AY", "aU": "AW",
    "aU@": "AW", "aa": "AE", "e": "EH", "e@": "EH", "eI": "EY", "i": "IY", "i:": "IY",
    "i@": "IY", "o@": "AO", "oU": "OW", "u:": "UW", "y": "UW",
    "D": "DH", "N": "NG", "S": "SH", "T": "TH", "Z": "ZH", "b": "B", "d": "D", "dZ": "JH",
    "f": "F", "g": "G", "h": "HH", "j": "Y", "k": "K", "l": "L", "m": "M", "n": "N", "p": "P",
    "r": "R", "s": "S", "t": "T", "tS": "CH", "v": "V", "w": "W", "x": "HH", "z": "Z",
    "?": "T",  # glottal stop (as in "button"): the tongue and lips of a T
}  # fmt: skip
_ESPEAK_DECORATIONS = "#23-[/;"


def festival_phone(name: str) -> str | None:
    """ARPAbet for a festival segment name; None for names outside its phone sets."""
    return FESTIVAL_TO_ARPABET.get(name.lower())


def espeak_phone(name: str) -> str | None:
    """ARPAbet for an espeak-ng phoneme mnemonic; None for markers without a sound of their
    own (such as ";"), which belong to the phone before them."""
    if name in ESPEAK_TO_ARPABET:
        return ESPEAK_TO_ARPABET[name]
    stripped = name.rstrip(_ESPEAK_DECORATIONS)
    return ESPEAK_TO_ARPABET.get(stripped) if stripped else None


def merge_silences(phones: list[PhoneSegment]) -> list[PhoneSegment]:
    """Join neighbouring silences and drop empty segments (two equal speech phones in a row,
    as in "big game", stay two phones)."""
    out: list[PhoneSegment] = []
    for seg in phones:
        if seg.end <= seg.start:
            continue
        if out and seg.phone == SILENCE and out[-1].phone == SILENCE:
            out[-1] = PhoneSegment(seg.phone, out[-1].start, seg.end)
        else:
            out.append(seg)
    return out


_Key = TypeVar("_Key")


def group_words(
    phones: Sequence[PhoneSegment], owners: Sequence[_Key | None], text_of: Callable[[_Key], str]
) -> list[Word]:
    """Words from phones and the word each phone belongs to (`owners`, a synthesiser's own
    key; None for no word, as for silence): a word spans its run of phones, and its text is
    `text_of(key)`."""
    words: list[Word] = []
    current: _Key | None = None
    for seg, owner in zip(phones, owners, strict=True):
        if owner is None:
            current = None
            continue
        if owner != current:
            words.append(Word(text_of(owner), seg.start, seg.end))
            current = owner
        else:
            words[-1] = Word(words[-1].text, words[-1].start, seg.end)
    return words
