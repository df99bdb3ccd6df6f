"""Check answer sentences against the passages they cite (content: numbers and key words)."""

from __future__ import annotations

import re

from ragapp.documents import Answer

_CLAIM = re.compile(r"\s*(.+?)((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)\.?(?=\s|$)", re.DOTALL)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z]+")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yes answer question passage passages document
    documents per""".split()
)
MIN_WORD_SHARE = 0.6


def split_claims(text: str) -> list[tuple[str, list[int]]]:
    """(sentence, cited numbers) for each sentence of an answer; uncited text gets no numbers."""
    claims: list[tuple[str, list[int]]] = []
    position = 0
    for match in _CLAIM.finditer(text):
        if match.start() < position:
            continue
        numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
        claims.append((match.group(1).strip(), numbers))
        position = match.end()
    rest = text[position:].strip()
    if rest:
        claims.append((rest, []))
    return claims


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS}


def supported(sentence: str, passages: list[str]) -> bool:
    """Every number of the sentence, and most of its content words, occur in the passages."""
    evidence = " ".join(passages)
    if not _numbers(sentence) <= _numbers(evidence):
        return False
    words = _words(sentence)
    if not words:
        return bool(_numbers(sentence))
    return len(words & _words(evidence)) / len(words) >= MIN_WORD_SHARE


def unsupported_sentences(answer: Answer) -> tuple[int, int]:
    """(sentences, sentences not supported by the passages they cite) of an answer."""
    shown = [h.passage.text for h in answer.hits]
    total = bad = 0
    for sentence, numbers in split_claims(answer.text):
        total += 1
        cited = [shown[n - 1] for n in numbers if 1 <= n <= len(shown)]
        if not cited or not supported(sentence, cited):
            bad += 1
    return total, bad
