"""Check each sentence of an answer against the passages it cites, by meaning and by content.

A sentence is supported by a passage when both hold:
- content: every number and every name of the sentence, and most of its other content words,
  occur in the passage;
- meaning: its embedding is close to the passage or to one of the passage's sentences.
A sentence its cited passage does not support is moved to another shown passage that does; a
sentence no shown passage supports is withheld.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ragapp.embedder import Embedder
from ragapp.splitter import split_sentences
from ragapp.text import content_words, letter_words, names, numbers

_CLAIM = re.compile(r"\s*(.+?)((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)\.?(?=\s|$)", re.DOTALL)
MIN_WORD_SHARE = 0.6


@dataclass(frozen=True)
class Verdict:
    """One sentence of an answer and what the verifier made of it."""

    sentence: str  # without its citation marker
    cited: tuple[int, ...]  # passage numbers it cites after checking (moved if need be)
    supported: bool
    moved: bool = False  # the model cited a passage that does not support it; another one does

    def render(self) -> str:
        return f"{self.sentence} [{', '.join(map(str, self.cited))}]"


def split_claims(text: str) -> list[tuple[str, list[int]]]:
    """(sentence, cited numbers) for each sentence of an answer; uncited text gets no numbers."""
    claims: list[tuple[str, list[int]]] = []
    position = 0
    for match in _CLAIM.finditer(text):
        if match.start() < position:
            continue
        cited = [int(n) for n in re.findall(r"\d+", match.group(2))]
        claims.append((match.group(1).strip(), cited))
        position = match.end()
    rest = text[position:].strip()
    if rest:
        claims.append((rest, []))
    return claims


def content_supported(sentence: str, passage: str) -> bool:
    """Every number and name of the sentence, and most of its content words, occur in the passage."""
    if not numbers(sentence) <= numbers(passage):
        return False
    if not names(sentence) <= letter_words(passage):
        return False
    evidence = content_words(passage)
    words = content_words(sentence)
    if not words:
        return bool(numbers(sentence))
    return len(words & evidence) / len(words) >= MIN_WORD_SHARE


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


class Verifier:
    """Checks sentences against a fixed list of passages (the ones shown to the model)."""

    def __init__(self, embedder: Embedder, passages: Sequence[str], min_similarity: float) -> None:
        self.embedder = embedder
        self.passages = list(passages)
        self.min_similarity = min_similarity
        self._units: list[list[list[float]]] | None = None  # per passage: its vector and its sentences'

    def _passage_units(self) -> list[list[list[float]]]:
        # Embedded once per answer, on the first sentence to check.
        if self._units is None:
            texts, owners = [], []
            for i, passage in enumerate(self.passages):
                for unit in [passage, *split_sentences(passage)]:
                    texts.append(unit)
                    owners.append(i)
            vectors = self.embedder.embed_batch(texts)
            self._units = [[] for _ in self.passages]
            for owner, vector in zip(owners, vectors):
                self._units[owner].append(vector)
        return self._units

    def similarities(self, sentence: str) -> list[float]:
        """For each passage: how close the sentence is to it or to its closest sentence."""
        vector = self.embedder.embed_batch([sentence])[0]
        return [max(_dot(vector, unit) for unit in units) for units in self._passage_units()]

    def check(self, sentence: str, cited: Sequence[int]) -> Verdict:
        """Keep the cited passages that support the sentence; else move it to one that does."""
        similarity = self.similarities(sentence)

        def supports(n: int) -> bool:
            return (
                1 <= n <= len(self.passages)
                and similarity[n - 1] >= self.min_similarity
                and content_supported(sentence, self.passages[n - 1])
            )

        kept = tuple(n for n in cited if supports(n))
        if kept:
            return Verdict(sentence, kept, supported=True)
        others = sorted(range(1, len(self.passages) + 1), key=lambda n: -similarity[n - 1])
        for n in others:
            if n not in cited and supports(n):
                return Verdict(sentence, (n,), supported=True, moved=True)
        return Verdict(sentence, tuple(cited), supported=False)

    def verify(self, text: str) -> list[Verdict]:
        """A verdict for every sentence of an answer; a sentence without a citation is unsupported."""
        verdicts = []
        for sentence, cited in split_claims(text):
            if not cited:
                verdicts.append(Verdict(sentence, (), supported=False))
            else:
                verdicts.append(self.check(sentence, cited))
        return verdicts
