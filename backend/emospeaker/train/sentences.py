"""Seeded random English sentences for the synthetic corpus (our own small grammar).

Short, speakable sentences with plenty of bilabials (p b m), labiodentals (f v), rounded
vowels and open vowels, so the lips see every shape; a seed gives the same list every time.
"""

from __future__ import annotations

import numpy as np

SUBJECTS = (
    "my brother", "the farmer", "a baby", "the mayor", "your mother", "the pilot", "our boss",
    "the woman", "a very old man", "the police", "my friend Bob", "the movie star", "we",
    "they", "you", "the family", "a famous poet", "the fisherman", "Mabel", "Victor", "Paula",
    "the neighbours", "the doctor", "a tall boy", "the whole village", "Martha and Phil",
)  # fmt: skip
VERBS = (
    "bought", "found", "moved", "painted", "opened", "fixed", "brought", "broke", "carried",
    "watched", "forgot", "loved", "picked up", "borrowed", "pushed", "folded", "measured",
    "threw away", "baked", "washed", "visited", "remembered", "wrapped", "polished", "sold",
    "filled", "covered", "peeled", "followed", "admired",
)  # fmt: skip
OBJECTS = (
    "a blue umbrella", "the purple box", "five warm muffins", "a bowl of soup", "the map",
    "some fresh fruit", "the heavy piano", "a pair of boots", "my phone", "the big balloon",
    "a few photos", "the moon", "two pumpkins", "the broken window", "a paper boat",
    "the yellow van", "some maple syrup", "a bottle of milk", "the old oven", "the bamboo fence",
    "a woolly jumper", "the empty bucket", "a loaf of bread", "the puppy", "a golden ball",
    "the movie tickets", "a mop", "the rubber boots", "a bunch of flowers", "the fabric",
)  # fmt: skip
PLACES = (
    "at the market", "by the river", "on Monday", "in the morning", "before breakfast",
    "near the bridge", "after the movie", "in the basement", "at the beach", "by the pool",
    "on the bus", "behind the barn", "every Friday", "in the pouring rain", "at midnight",
    "above the fireplace", "over the wall", "in the museum", "up the mountain", "for my mum",
)  # fmt: skip
OPENERS = (
    "", "", "", "Oh, ", "Well, ", "Look, ", "Maybe ", "Honestly, ", "Believe me, ", "Wow, ",
    "Hmm, ", "Please remember, ",
)  # fmt: skip
QUESTIONS = (
    "Why did {s} move {o} {p}?", "Who {v} {o} {p}?", "Would you bring {o} {p}?",
    "Have you seen {o}?", "Did {s} really buy {o}?", "Where are {o} now?",
)  # fmt: skip
STATEMENTS = (
    "{O}{s} {v} {o} {p}.", "{O}{s} {v} {o}.", "{O}{s} {v} {o}, and then {v2} {o2}.",
    "{O}{o} {p} made {s} very happy.", "{O}I think {s} {v} {o} {p}.",
    "{O}maybe we should move {o} {p}.", "{O}{s} never {v} {o} {p}!",
)  # fmt: skip


def sentences(count: int, seed: int) -> list[str]:
    """`count` distinct sentences (if the grammar allows), the same for the same seed."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < count and tries < count * 50:
        tries += 1
        pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
        template = pick(QUESTIONS) if rng.random() < 0.2 else pick(STATEMENTS)
        text = template.format(
            O=pick(OPENERS), s=pick(SUBJECTS), v=pick(VERBS), o=pick(OBJECTS), p=pick(PLACES),
            v2=pick(VERBS), o2=pick(OBJECTS),
        )  # fmt: skip
        text = text[0].upper() + text[1:]
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out
