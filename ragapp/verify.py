"""Check each sentence of an answer against the passages it cites, by meaning and by content.

A sentence is supported by a passage when all three hold:
- content: every number and every name of the sentence, and most of its other content words,
  occur in the passage;
- binding: each number and name is attached in the passage to what the sentence attaches it to
  ("150 euros a night in Paris" is not backed by "150 euros a night, or 220 in London, Paris and
  Amsterdam", though every word of it is there; see `bound`);
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
from ragapp.text import content_words, letter_words, names, numbers, stem

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


# Where a sentence of the model's turns to another statement: every comma, semicolon, colon or dash.
_SENTENCE_CLAUSE = re.compile(r"\s*(?:[,;:\u2013\u2014]|\s-\s|\(|\))\s*")
# Where a passage turns to another statement: not at plain commas, which also separate the items of
# one list ("London, Paris and Amsterdam"), but where an alternative, an exception or a contrast begins.
_PASSAGE_CLAUSE = re.compile(
    r"\s*(?:[;:.!?](?:\s|$)|\s\u2013\s|\s\u2014\s|,?\s+(?:or|but|whereas|while|unless|except|otherwise|although|though)\s+|"
    r",\s+and\s+|\s+and\s+(?=[A-Z0-9]))\s*"
)
# Small words that change what a number is attached to ("400 euros in the first year and after
# that"): counted with the key words when binding is checked.
RELATION_WORDS = frozenset(
    stem(w) for w in "after before not no only under over than more less least most each every until within without except".split()
)
# Number words ("two weeks", "the first year") are bound like numbers where the passage writes them.
NUMBER_WORDS = frozenset(
    stem(w) for w in """one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty
    forty fifty hundred thousand million half twice double first second third fourth fifth last""".split()
)
# A number's or name's neighbours in the sentence that must stand near it in the passage too.
MIN_BOUND_SHARE = 0.4


def _clauses(text: str, pattern: re.Pattern) -> list[str]:
    pieces = [p for p in pattern.split(text) if p and p.strip()]
    merged: list[str] = []
    for piece in pieces:
        # A piece that is only names continues the list before it ("..., Paris and Amsterdam").
        if merged and _ONLY_NAMES.fullmatch(piece.strip(" .,;")):
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    return merged


_ONLY_NAMES = re.compile(r"[A-Z][\w-]*(?:,?\s+(?:(?:and|or)\s+)?[A-Z][\w-]*)*")


@dataclass(frozen=True)
class _Clause:
    held: set[str]  # its numbers and every word
    words: set[str]  # its key words
    numbers: set[str]
    sentence: int  # which sentence of the passage
    opens: bool  # the first clause of its sentence


def _passage_clauses(passage: str) -> list[_Clause]:
    found = []
    for n, sentence in enumerate(split_sentences(passage)):
        for i, clause in enumerate(_clauses(sentence, _PASSAGE_CLAUSE)):
            found.append(_Clause(numbers(clause) | letter_words(clause), _binding_words(clause), numbers(clause), n, i == 0))
    return found


def _binding_words(text: str) -> set[str]:
    return content_words(text) | (letter_words(text) & RELATION_WORDS)


def bound(sentence: str, passage: str) -> bool:
    """Whether each number and name of the sentence stands in the passage with what it stands
    with in the sentence.

    For each clause of the sentence that holds numbers or names, some clause of the passage must
    hold all of them, with at least MIN_BOUND_SHARE of the sentence clause's other key words that
    the passage holds; and no such key word may come only from a later clause of a passage sentence
    or from another sentence, that belongs to another number ("300 euros as secondary" against "300
    euros as primary; as secondary, 150 euros"). The opening clause of a passage sentence names what
    all its clauses speak of ("Hotels may cost ..."), so its words may go with any of them."""
    clauses = _passage_clauses(passage)
    evidence = _binding_words(passage)
    named = names(sentence) | (NUMBER_WORDS & letter_words(passage))
    for clause in _clauses(sentence, _SENTENCE_CLAUSE):
        anchors = numbers(clause) | (letter_words(clause) & named)
        if not anchors:
            continue
        words = (_binding_words(clause) - anchors) & evidence
        homes = [c for c in clauses if anchors <= c.held]
        if not any(not words or len(words & c.words) / len(words) >= MIN_BOUND_SHARE for c in homes):
            return False
        own_numbers, home_sentences = numbers(clause), {c.sentence for c in homes}
        for word in words:
            if any(word in c.words for c in homes):
                continue
            elsewhere = [c for c in clauses if word in c.words]
            if elsewhere and all(
                (c.numbers - own_numbers) and (not c.opens or c.sentence not in home_sentences) for c in elsewhere
            ):
                return False
    return True


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
                and bound(sentence, self.passages[n - 1])
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
