"""Build ``genplug/_assets/tinytext.txt.gz``, the ``tinytext`` corpus, reproducibly.

The corpus is made up here, not downloaded: short stories drawn from a small seeded
grammar, one story per line. Nothing in it comes from elsewhere, so it is free of
copyright, ships with every install and is rebuilt byte for byte by this script on any
machine (the random numbers come from SplitMix64 written out below, not from Python's
``random``, whose methods may change between versions).

The grammar gives a character model something to learn at several scales: spelling of a
few hundred words, capitals and punctuation, sentence templates, and agreement across a
story (a name keeps its pronoun, the object of the first sentence comes back later).

Usage:
    python scripts/make_corpus.py           # rewrite the asset
    python scripts/make_corpus.py --check   # exit 1 if the asset differs from a rebuild

The test suite compares the asset's text with :func:`corpus` (the gzip bytes themselves
depend on the zlib version, the text does not).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Sequence
from pathlib import Path

ASSET = Path(__file__).resolve().parents[1] / "genplug" / "_assets" / "tinytext.txt.gz"
SEED = 20240601
STORIES = 2000

# (name, subject pronoun, object pronoun, possessive)
PEOPLE = [
    ("Tom", "he", "him", "his"), ("Ben", "he", "him", "his"), ("Sam", "he", "him", "his"),
    ("Leo", "he", "him", "his"), ("Max", "he", "him", "his"), ("Jack", "he", "him", "his"),
    ("Mia", "she", "her", "her"), ("Lily", "she", "her", "her"), ("Anna", "she", "her", "her"),
    ("Zoe", "she", "her", "her"), ("Ella", "she", "her", "her"), ("Lucy", "she", "her", "her"),
]  # fmt: skip
COLORS = ["red", "blue", "green", "yellow", "black", "white", "brown", "pink"]
SIZES = ["big", "small", "little", "tiny", "huge", "old", "new", "shiny"]
THINGS = ["ball", "kite", "box", "hat", "book", "boat", "drum", "cup", "car", "bell", "map", "sock"]
ANIMALS = ["dog", "cat", "bird", "frog", "duck", "fox", "bear", "mouse"]
PLACES = ["park", "garden", "beach", "forest", "river", "shop", "school", "hill"]
TIMES = ["the sun went down", "it was dark", "it began to rain", "lunch was ready", "the bell rang"]
FEELINGS = ["happy", "sad", "tired", "proud", "hungry", "sleepy", "glad", "cold"]
WEATHER = ["It was a sunny day.", "It was a windy day.", "The sky was grey.", "It was warm and bright."]
SAYINGS = ["I like your {thing}.", "Can I play too?", "Where did you get that {thing}?", "Let us go home."]


class SplitMix64:
    """The SplitMix64 generator (Steele, Lea and Flood, 2014): 64-bit state, exact on every platform."""

    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """An integer in ``0 .. n-1`` (the modulo bias is below 2**-58 here: n is small)."""
        return self.next() % n

    def pick(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]


def story(rng: SplitMix64) -> str:
    """One story of four to seven sentences."""
    name, he, him, his = PEOPLE[rng.below(len(PEOPLE))]
    other = PEOPLE[rng.below(len(PEOPLE))]
    while other[0] == name:
        other = PEOPLE[rng.below(len(PEOPLE))]
    friend, she = other[0], other[1]
    thing, color, size = rng.pick(THINGS), rng.pick(COLORS), rng.pick(SIZES)
    place, animal = rng.pick(PLACES), rng.pick(ANIMALS)
    sentences = []
    if rng.below(3) == 0:
        sentences.append(rng.pick(WEATHER))
    sentences.append(f"{name} had a {size} {color} {thing}.")
    sentences.append(f"{he.capitalize()} took the {thing} to the {place}.")
    event = rng.below(3)
    if event == 0:
        sentences.append(f"At the {place}, {he} met {friend}.")
        saying = rng.pick(SAYINGS).format(thing=thing)
        sentences.append(f'{friend} said, "{saying}"')
        sentences.append(f"They played with the {thing} until {rng.pick(TIMES)}.")
    elif event == 1:
        sentences.append(f"A {animal} ran to {him} and took the {thing}.")
        sentences.append(f"{name} and {friend} looked for the {animal} all day.")
        found = rng.below(2) == 0
        sentences.append(f"{she.capitalize()} found the {thing} under a tree." if found else f"The {thing} was gone.")
    else:
        sentences.append(f"{he.capitalize()} gave the {thing} to {friend}.")
        sentences.append(f"{friend} was {rng.pick(FEELINGS)} and said thank you.")
    sentences.append(
        f"Then {name} went home with {his} {rng.pick(['mom', 'dad', 'dog', 'friends'])}, {rng.pick(FEELINGS)}."
    )
    return " ".join(sentences)


def corpus(seed: int = SEED, stories: int = STORIES) -> str:
    """The whole corpus: ``stories`` stories, one per line, each line ending in a newline."""
    rng = SplitMix64(seed)
    return "".join(story(rng) + "\n" for _ in range(stories))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the asset instead of writing it")
    args = parser.parse_args(argv)
    text = corpus()
    if args.check:
        same = ASSET.exists() and gzip.decompress(ASSET.read_bytes()).decode("utf-8") == text
        print(f"{ASSET}: {'matches' if same else 'DIFFERS from'} a rebuild")
        return 0 if same else 1
    data = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    ASSET.write_bytes(data)
    print(f"wrote {ASSET}: {len(text)} characters, {len(set(text))} distinct, {len(data)} bytes gzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
