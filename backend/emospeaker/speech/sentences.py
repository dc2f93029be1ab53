"""English sentences written for this project, for synthetic lip-sync data.

Phonetically varied, with many bilabials (p, b, m), labiodentals (f, v) and rounded vowels,
so closures and lip shapes are well exercised. Used by the lip-sync benchmark, the tests and
the neural engine's synthetic corpus.
"""

from __future__ import annotations

SENTENCES: tuple[str, ...] = (
    "Please bring me a big bowl of warm soup, and five very fresh muffins.",
    "My brother bought a blue boat in the summer market.",
    "Five foxes jumped over the fence before the village woke up.",
    "Would you move the map off the table, please?",
    "The bright moon appeared above the misty valley at midnight.",
    "Maybe we should wait for the rain to stop before we leave.",
    "Peter put the paper bag behind the old brown barrel.",
    "Few people ever visit the museum on a Monday morning.",
    "She loves the smell of baked bread in the early evening.",
    "Bob moved to a farm with seven sheep and a very lazy pony.",
    "Of all the boats in the harbour, the blue one floats best.",
    "The new phone was far more expensive than we hoped.",
    "Wave to your mother from the window of the bus.",
    "A warm breeze moved through the open windows of the room.",
    "We often forget how much time we spend on simple problems.",
    "The puppy was happy to play with the purple ball.",
    "Victor found a map of the forest in his father's old box.",
    "Move the boxes before the movers arrive at five.",
    "Thank you for the lovely flowers, they made my whole week.",
    "Both of them stood by the bridge and watched the boats pass.",
    "I will meet you by the fountain at about a quarter past nine.",
    "Mumble the numbers slowly so that everybody can follow.",
    "Fresh fruit is the best food for a bright summer morning.",
    "The view from the top of the mountain was beautiful.",
    "Pour the milk into the bowl, then mix the butter and the flour.",
    "Our plan is simple: we pack the van, drive home, and sleep.",
    "Who would believe that a bumblebee could move so fast?",
    "The boy threw a pebble into the pool and watched it vanish.",
    "Famous painters often paint the same face many times.",
    "Remember to bring umbrellas, the forecast promised heavy rain.",
    "Every morning the baker opens the shop at seven.",
    "Prove to me that you were home before ten.",
)
